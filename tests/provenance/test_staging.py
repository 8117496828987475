"""The staging sweep on an output folder several machines share (queue mode): a pid names a
process of one machine only, so another machine's files are not judged by it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sonic_ext.provenance.staging import (
    OTHER_HOST_STALE_S,
    STAGING_DIR,
    host_tag,
    leftovers,
    staged_file,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_files_of_gone_processes_of_this_machine_are_swept(tmp_path: Path) -> None:
    mine = staged_file(tmp_path, "unsigned")
    assert mine.name.startswith(f"{host_tag()}_{os.getpid()}-unsigned-")
    staging = tmp_path / STAGING_DIR
    dead = _dead_pid()
    orphan = staging / f"{host_tag()}_{dead}-signed-x.mp4"
    older_version = staging / f"{dead}-unsigned-y.mp4"  # named before the host tag
    other_machine = staging / f"0123456789ab_{dead}-signed-z.mp4"  # its pid means nothing here
    for path in (orphan, older_version, other_machine):
        path.write_bytes(b"x")
    assert leftovers(tmp_path) == sorted([orphan, older_version])


def test_another_machines_file_is_swept_once_a_day_old(tmp_path: Path) -> None:
    staged_file(tmp_path, "unsigned").unlink()
    stale = tmp_path / STAGING_DIR / f"0123456789ab_{os.getpid()}-unsigned-z.mp4"
    stale.write_bytes(b"x")
    assert leftovers(tmp_path) == []
    day_ago = time.time() - OTHER_HOST_STALE_S - 60
    os.utime(stale, (day_ago, day_ago))
    assert leftovers(tmp_path) == [stale]
