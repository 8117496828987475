"""sha256 of files, read in blocks: inputs, evidence, outputs and checkpoints of many GB."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 8 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
