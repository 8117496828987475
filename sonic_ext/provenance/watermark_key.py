"""The installation's watermark key: the secret from which every pattern of the mark is derived.

Without it nobody can stamp a valid ID (the sync pattern, the cell layout and the chips are all
keyed), nor even find or read our mark. It lives beside the signing keys, created private (0600)
by `keys init` or the first generation. The cost: an auditor who does not run this installation
cannot read the mark offline; they send the file to its operator's verify endpoint, as C2PA
2.2's soft-binding resolution intends (the manifest, when present, still verifies anywhere).

No cryptography of our own: patterns come from HMAC-SHA256 in counter mode.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

KEY_FILE = "watermark.key"  # under <home>/keys
ENV_KEY_FILE = "SONIC_WATERMARK_KEY"  # a deployment's shared key file (several workers, one key)
_KEY_BYTES = 32


@dataclass(frozen=True)
class WatermarkKey:
    """A 256-bit secret; `key_id` names it in reports without revealing it."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != _KEY_BYTES:
            raise InputError("watermark key", f"must be {_KEY_BYTES} bytes, got "
                                              f"{len(self.secret)}")

    @classmethod
    def generate(cls) -> WatermarkKey:
        return cls(secrets.token_bytes(_KEY_BYTES))

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"sonic-ext watermark key id", hashlib.sha256).hexdigest()[:16]

    def stream(self, label: str, count: int) -> bytes:
        """`count` pseudo-random bytes for `label`, reproducible from the key alone."""
        out = bytearray()
        counter = 0
        while len(out) < count:
            out += hmac.new(self.secret, f"{label}/{counter}".encode(), hashlib.sha256).digest()
            counter += 1
        return bytes(out[:count])


def load_watermark_key(path: Path, *, create: bool, shared: bool = False) -> WatermarkKey | None:
    """The key in `path`; made there (0600) when missing and `create`, else None when missing.
    A `shared` file (a deployment's, named by SONIC_WATERMARK_KEY) is never made here: a new
    key would make this worker's marks unreadable to the others."""
    if path.is_file():
        try:
            return WatermarkKey(bytes.fromhex(path.read_text(encoding="ascii").strip()))
        except (ValueError, UnicodeDecodeError):
            raise InputError("watermark key", f"{path} does not hold a {_KEY_BYTES}-byte key in "
                                              "hex") from None
    if not create:
        return None
    if shared:
        raise InputError(ENV_KEY_FILE, f"{path} does not exist",
                         hint="copy the deployment's watermark key there")
    key = WatermarkKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.secret.hex() + "\n")
    return key
