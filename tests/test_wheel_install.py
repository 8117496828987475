"""The package as users install it: a wheel built from the repo, installed non-editable outside
it, runs consent add, generate (tiny weights) and verify from another directory, on its own
package data.

- `reused`: the wheel alone, next to the dependencies already installed (nothing downloaded);
- `latest` (SONIC_TEST_LATEST_DEPS=1, its own stage in setup/test.sh): a fresh venv where pip
  resolves our requirements with no constraints file, i.e. the newest versions our bounds allow
  (only torch is the machine's, installed first: pip's newest is a multi-GB CUDA build), and
  /health must report every capability.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.evidence import write_release_pdf

pytestmark = pytest.mark.host_independent

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "fixtures" / "faces"
# what a wheel is built from; a copy, so the build leaves nothing in the working tree
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "style.css", "policy", "javascript",
                "demo", "sonic_ext")
PIP = ["-m", "pip", "--disable-pip-version-check", "-q"]
LATEST = os.environ.get("SONIC_TEST_LATEST_DEPS") == "1"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in BUILD_INPUTS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    subprocess.run([sys.executable, *PIP, "wheel", "--no-deps", "--no-build-isolation", "-w",
                    str(work / "dist"), str(source)], check=True, cwd=work, timeout=300)
    [built] = (work / "dist").glob("sd_webui_sonic-*.whl")
    return built


def run_the_flow(python: str, env: dict[str, str], models: Path, home: Path) -> dict:
    """consent add -> generate -> verify with `python`, from a folder that is not the repo."""
    elsewhere = home.parent / "elsewhere"
    elsewhere.mkdir()
    env = {**env, "SONIC_HOME": str(home)}
    env.pop("SONIC_POLICY", None)

    def sonic(*args: str) -> dict:
        done = subprocess.run([python, "-m", "sonic_ext", *args, "--json"], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    assert sonic("consent", "list") == {"consents": []}  # starts: its policy file is found
    added = sonic("consent", "add", "--name", "Barack Obama", "--portrait",
                  str(FACES / "obama.jpg"), "--evidence",
                  str(write_release_pdf(home.parent / "release.pdf")), "--purpose", "education",
                  "--grantee", "any")
    sonic("dev", "sample-audio", "speech.wav")
    made = sonic("--models-dir", str(models), "generate", "--image",
                 str(FACES / "obama2.jpg"), "--audio", "speech.wav", "--out", "talking.mp4",
                 "--purpose", "education", "--consent", added["id"], "--steps", "1",
                 "--min-resolution", "256")
    assert (elsewhere / "talking.mp4").is_file() and made["consent_id"] == added["id"]
    report = sonic("verify", "talking.mp4")
    assert report["verdict"] == "authentic"
    assert report["consent_check"]["verdict"] == "in-force"
    return json.loads(subprocess.run(
        [python, "-c", "import json, sonic_ext.package_data as d, sonic_ext as s; "
                       "from sonic_ext import Settings, SonicService; "
                       "h = SonicService(Settings.from_environment()).health(); "
                       "print(json.dumps({'file': s.__file__, 'data': str(d.data_path('policy')),"
                       " 'demo': str(d.data_path('demo/portrait.jpg')),"
                       " 'capabilities': h['capabilities']}))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout)


@pytest.mark.timeout(900)
def test_the_wheel_next_to_installed_dependencies_runs_from_elsewhere(
        wheel: Path, tiny_models: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, *PIP, "install", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    found = run_the_flow(sys.executable, {**os.environ, "PYTHONPATH": str(site)}, tiny_models,
                         tmp_path / "home")
    assert Path(found["file"]).is_relative_to(site)  # not the repo's sources
    assert Path(found["data"]) == site / "sonic_ext" / "data" / "policy"
    assert Path(found["demo"]) == site / "sonic_ext" / "data" / "demo" / "portrait.jpg"
    assert Path(found["demo"]).is_file()  # `sonic-ext demo` works from the wheel


@pytest.mark.timeout(1800)  # installs ~100 packages, then generates
@pytest.mark.skipif(not LATEST, reason="downloads the newest allowed dependencies: its own "
                                       "stage (SONIC_TEST_LATEST_DEPS=1, setup/test.sh)")
def test_the_newest_allowed_dependencies_work_together(
        wheel: Path, tiny_models: Path, tmp_path: Path) -> None:
    import torch

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    torch_version = torch.__version__.split("+")[0]
    subprocess.run([python, *PIP, "install", f"torch=={torch_version}"], check=True,
                   timeout=900)
    subprocess.run([python, *PIP, "install", f"{wheel}[app,ml,identity,provenance]"],
                   check=True, timeout=1800)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PIP_CONSTRAINT", "VIRTUAL_ENV")}
    found = run_the_flow(python, env, tiny_models, tmp_path / "home")
    assert Path(found["file"]).is_relative_to(env_dir)
    assert all(found["capabilities"].values()), found["capabilities"]
