"""kill -9 at each stage of a generation leaves no file and a consistent registry (issue 15).

Each case runs the real CLI in a child process that stops, as if frozen, on entering one step
(`freeze_at`), then kills it with SIGKILL there: nothing of ours runs afterwards, as with a
crash or the OOM killer. The next service to start on the same home must leave no trace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from sonic_ext import SonicService
from sonic_ext.consent.models import Generation
from sonic_ext.provenance.staging import STAGING_DIR
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"

# stage -> the function whose entry the child freezes on (module, qualified name)
STAGES = {
    "denoise": ("sonic_ext.sonic.stage", "SonicStage.denoise"),
    "encode": ("sonic_ext.media.encode", "_mux_audio"),  # video encoded, audio being muxed
    "sign": ("sonic_ext.manifest_store", "GenerationLog.published"),  # signed, not recorded
    "record": ("sonic_ext.provenance.publish", "Publication.publish"),  # recorded, not moved
}

CHILD = textwrap.dedent("""
    import importlib, pathlib, sys, time
    module_name, qualname, marker = sys.argv[1:4]
    module = importlib.import_module(module_name)
    owner_name, _, attr = qualname.rpartition(".")
    owner = getattr(module, owner_name) if owner_name else module
    def frozen(*args, **kwargs):
        pathlib.Path(marker).write_text("here")
        time.sleep(600)
    setattr(owner, attr, frozen)
    from sonic_ext.adapters import cli
    sys.exit(cli.main(sys.argv[4:]))
""")


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_9_at_each_stage_leaves_no_file_and_a_consistent_registry(
        obama_consented: SonicService, tmp_path: Path, stage: str) -> None:
    settings = obama_consented.settings
    outputs = settings.outputs_dir
    out = outputs / "talking.mp4"
    marker = tmp_path / "frozen"
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    module, qualname = STAGES[stage]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, module, qualname, str(marker),
         "--home", str(settings.home), "--models-dir", str(settings.models_dir), "generate",
         "--image", str(FACES / "obama2.jpg"), "--audio", str(speech), "--out", str(out),
         "--purpose", "education", "--steps", "1", "--min-resolution", "256",
         "--consent", consent_ids(obama_consented)[0]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, f"the child never reached {stage}"
            time.sleep(0.2)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    staged = list((outputs / STAGING_DIR).glob("*")) if (outputs / STAGING_DIR).exists() else []
    if stage in ("sign", "record"):
        assert any("signed" in p.name for p in staged)  # the crash did leave a signed temp

    restarted = SonicService(settings)  # start-up sweeps the staging folder
    assert not out.exists()
    assert sorted(p.name for p in outputs.iterdir()) == []  # no temp, no empty staging folder
    with restarted.registry.database.read() as session:
        statuses = list(session.scalars(select(Generation.status)))
    assert "published" not in statuses, statuses  # nothing claims a file that is not there
    assert restarted.verify_audit_chain().ok
