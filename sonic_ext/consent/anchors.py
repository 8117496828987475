"""Checkpoints kept outside the database: read them back as anchors, and export them.

An anchor is any signed checkpoint the database cannot take back: a file `consent audit-export`
wrote, or the manifest of one of our outputs (its consent assertion carries the checkpoint of
its gate decision). `audit-verify --anchor` checks the log against each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .integrity import Anchor
from .signing import NOTE_ORIGIN_PREFIX

if TYPE_CHECKING:
    from ..provenance.trust import TrustPolicy
    from .registry import ConsentRegistry

LATEST_FILE = "checkpoint.txt"
ALL_FILE = "checkpoints.jsonl"
PUBLIC_KEY_FILE = "consent-key.pub.pem"


def read_anchor(path: Path, trust: TrustPolicy | None) -> Anchor:
    """The checkpoint in `path`: a signed note as exported, or an output's manifest."""
    if not path.is_file():
        raise InputError("anchor", f"{path} does not exist")
    with path.open("rb") as handle:
        head = handle.read(len(NOTE_ORIGIN_PREFIX))
    if head == NOTE_ORIGIN_PREFIX.encode():
        return Anchor(str(path), path.read_text(encoding="utf-8"))
    from ..provenance.reading import read_manifest
    from ..verify import VIDEO_TYPES

    mime = VIDEO_TYPES.get(path.suffix.lower())
    if mime is None or trust is None:
        raise InputError("anchor", f"{path} is neither a checkpoint nor a video of ours",
                         hint="give a file `consent audit-export` wrote, or an output MP4")
    manifest = read_manifest(path, trust, mime)
    note = (manifest.consent or {}).get("audit_checkpoint") if manifest else None
    if not note:
        raise InputError("anchor", f"{path} carries no audit checkpoint in its manifest",
                         hint="outputs made before the registry was signed have none")
    return Anchor(f"manifest of {path.name}", str(note))


def export_checkpoints(registry: ConsentRegistry, folder: Path) -> dict[str, Any]:
    """Write every checkpoint (JSON lines), the latest on its own, and the public key."""
    checkpoints = registry.checkpoints()
    if not checkpoints:
        raise InputError("registry", "the registry has no signed checkpoint yet",
                         hint="checkpoints are made with every change to the registry")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ALL_FILE).open("w", encoding="utf-8") as handle:
        for size, note in checkpoints:
            handle.write(json.dumps({"size": size, "note": note}) + "\n")
    (folder / LATEST_FILE).write_text(checkpoints[-1][1], encoding="utf-8")
    (folder / PUBLIC_KEY_FILE).write_bytes(registry.key.public_pem())
    return {"folder": str(folder), "checkpoints": len(checkpoints),
            "latest_size": checkpoints[-1][0], "key_id": registry.key.key_id}
