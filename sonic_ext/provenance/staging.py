"""Where an output waits before it is published: a private folder beside the output.

Temp files of a `Publication` live in `<output folder>/.sonic-publishing/` (0700, the same
filesystem, so the final rename is atomic), named after the machine and process that made them
(`<host tag>_<pid>-<kind>-<random>.mp4`). A process killed with SIGKILL cannot clean up, so
whoever starts next sweeps the files of processes that are gone (`leftovers`); files of a process
still running are left alone, so a CLI generation and a server sharing one home never delete
each other's work. On a shared output folder (queue mode's workers on several machines) a pid
says nothing about another machine's processes: their files are swept only once a day old, far
longer than any publication keeps them. Standard library only: the sweep runs at start-up,
before anything heavy is imported.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

STAGING_DIR = ".sonic-publishing"
OTHER_HOST_STALE_S = 24 * 3600


def host_tag() -> str:
    """This machine, in a file name: no '-' or '_' whatever the host name holds."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]


def staged_file(folder: Path, kind: str) -> Path:
    """A new empty private file in `folder`'s staging folder (made 0700 on first use)."""
    staging = folder / STAGING_DIR
    while True:
        staging.mkdir(mode=0o700, exist_ok=True)
        try:
            staging.chmod(0o700)  # a folder made by an older version or another umask
            fd, name = tempfile.mkstemp(prefix=f"{host_tag()}_{os.getpid()}-{kind}-",
                                        suffix=".mp4", dir=staging)
        except FileNotFoundError:  # another publication removed it the moment it was empty
            continue
        os.close(fd)
        return Path(name)


def kind_of(path: Path) -> str:
    """What a staged file held: "unsigned" or "signed"."""
    return path.name.split("-")[1] if path.name.count("-") >= 2 else "unknown"


def leftovers(folder: Path) -> list[Path]:
    """Staged files in `folder` whose process is gone (killed mid-publication)."""
    staging = folder / STAGING_DIR
    if not staging.is_dir() or staging.is_symlink():
        return []
    return sorted(path for path in staging.iterdir()
                  if path.is_file() and not path.is_symlink() and _abandoned(path))


def _abandoned(path: Path) -> bool:
    """Made by a process of this machine that is gone, or by another machine a day ago."""
    tag, _, pid = path.name.split("-", 1)[0].rpartition("_")
    if tag and tag != host_tag():
        return time.time() - path.stat().st_mtime > OTHER_HOST_STALE_S
    return not (pid.isdigit() and _alive(int(pid)))


def remove_staging_if_empty(folder: Path) -> None:
    """Leave no empty staging folder behind (another publication may still be using it)."""
    try:
        (folder / STAGING_DIR).rmdir()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True
