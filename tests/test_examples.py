"""Each example in examples/ runs as its docstring says, against tiny weights: from Python with
the service, as an HTTP client of a served app, and as a batch of curl calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sonic_ext import SonicService
from tests.conftest import consent_ids, write_tone_wav
from tests.servers import serve_in_thread

pytest.importorskip("gradio", minversion="4.0", reason="the standalone app is gradio 4")

pytestmark = pytest.mark.host_independent

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PORTRAIT = REPO / "tests" / "fixtures" / "faces" / "obama2.jpg"
FAST = '{"steps": 1, "min_resolution": 256}'


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "speech.wav", seconds=1.5)


@pytest.fixture
def served(obama_consented: SonicService) -> Iterator[str]:
    from sonic_ext.adapters.api.auth import ApiAuth
    from sonic_ext.adapters.app import create_app

    with serve_in_thread(create_app(obama_consented, ApiAuth(users={"alice": "s3cret"}))) as url:
        yield url


def run(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_generate_and_verify_from_python(obama_consented: SonicService, speech: Path,
                                         tmp_path: Path) -> None:
    settings = obama_consented.settings
    out = run(sys.executable, str(EXAMPLES / "generate_and_verify.py"), "--image", str(PORTRAIT),
              "--audio", str(speech), "--consent", consent_ids(obama_consented)[0], "--out",
              str(tmp_path / "talking.mp4"), "--home", str(settings.home), "--models-dir",
              str(settings.models_dir), "--steps", "1", "--min-resolution", "256")
    assert "verify: authentic; consent: in-force" in out
    assert (tmp_path / "talking.mp4").is_file()


def test_the_http_client(served: str, obama_consented: SonicService, speech: Path,
                         tmp_path: Path) -> None:
    out = run(sys.executable, str(EXAMPLES / "api_client.py"), "--url", served, "--user",
              "alice:s3cret", "--image", str(PORTRAIT), "--audio", str(speech), "--consent",
              consent_ids(obama_consented)[0], "--out", str(tmp_path / "talking.mp4"),
              "--params", FAST)
    assert "verify: authentic; consent: in-force" in out
    followed = [line for line in out.splitlines() if line.startswith("  ") and "/" in line]
    assert followed, out  # it printed the job's progress while it ran


def test_the_curl_batch(served: str, obama_consented: SonicService, speech: Path,
                        tmp_path: Path) -> None:
    assert shutil.which("jq"), "jq is missing (setup/test.sh installs it from Debian)"
    out = run("bash", str(EXAMPLES / "curl.sh"), str(PORTRAIT), str(speech),
              consent_ids(obama_consented)[0], str(tmp_path / "talking.mp4"),
              env={"SONIC_URL": served, "SONIC_USER": "alice:s3cret", "SONIC_PARAMS": FAST})
    assert '"capabilities"' in out
    assert '{"verdict":"authentic","consent":"in-force"}' in out
    assert (tmp_path / "talking.mp4").is_file()
