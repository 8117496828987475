"""Consent evidence (a signed release, a recording) copied into the registry's private folder.

Files are named by their sha256, so the stored copy proves itself and two consents backed by the
same document share one file. The copy is hashed while it is written: the recorded hash is that
of the bytes kept, whatever happens to the original afterwards.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredEvidence:
    path: Path
    sha256: str
    created: bool  # False when an identical file was stored already

    def discard(self) -> None:
        """Undo `store_evidence` (the transaction that needed it did not commit)."""
        if self.created:
            self.path.unlink(missing_ok=True)


def check_evidence_file(path: Path, field: str = "evidence") -> Path:
    path = Path(path)
    hint = "consent needs evidence: a signed release or a recording of the person agreeing"
    if not path.exists():
        raise InputError(field, f"file not found: {path}", hint=hint)
    if not path.is_file():
        raise InputError(field, f"not a regular file: {path}", hint=hint)
    if path.stat().st_size == 0:
        raise InputError(field, f"file is empty: {path}", hint=hint)
    return path


def store_evidence(source: Path, evidence_dir: Path, field: str = "evidence") -> StoredEvidence:
    check_evidence_file(source, field)
    evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(dir=evidence_dir, prefix=".incoming-")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out, Path(source).open("rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if temp.stat().st_size == 0:
            raise InputError(field, f"file is empty: {source}")
        sha256 = digest.hexdigest()
        target = evidence_dir / f"{sha256}{Path(source).suffix.lower()[:16]}"
        if target.exists():
            return StoredEvidence(target, sha256, created=False)
        temp.chmod(0o600)
        os.replace(temp, target)
        return StoredEvidence(target, sha256, created=True)
    finally:
        temp.unlink(missing_ok=True)
