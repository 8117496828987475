"""Consent evidence (a signed release, a recording) copied into the registry's private folder.

Evidence must be a document: at least MIN_EVIDENCE_BYTES long and, judged by its content (never
its file name), one of the kinds in ACCEPTED_EVIDENCE: a PDF, an image (a scan or photo of the
signed paper), an audio or video recording of the person agreeing, or signed text (OpenPGP or
S/MIME). Images Pillow reads (JPEG, PNG, GIF, TIFF, WebP) must also open as images. The type
is recognised, not verified: the registry holds no keys, so the administrator who records the
consent vouches for the signature; what the check stops is a placeholder (one byte, random
bytes, an unsigned note) standing in for a release.

Files are named by their sha256, so the stored copy proves itself and two consents backed by the
same document share one file. The copy is hashed while it is written: the recorded hash is that
of the bytes kept, whatever happens to the original afterwards, and the media type recorded is
the one sniffed from that copy.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from ..errors import InputError
from ..media.sniff import read_ends, sniff_media_type

_CHUNK = 1 << 20
# No real release is this small: a one-page PDF holding a sentence is about 600 bytes, an
# OpenPGP signature block alone 250-900, a scan or a recording kilobytes at least. The floor
# refuses placeholders (a byte, a word, a 1x1 pixel image) without refusing any real document;
# the content check below does the rest.
MIN_EVIDENCE_BYTES = 512

# The media types check_evidence_file returns: IANA names where one is registered. Signed text
# has none of its own: a clear-signed message is "text/plain; signed=pgp", an armored OpenPGP
# message "application/pgp-message" (the armor's own name; RFC 3156 registers only
# pgp-encrypted, pgp-signature and pgp-keys), S/MIME and PGP/MIME "multipart/signed; protocol=...".
PGP_CLEARSIGNED = "text/plain; signed=pgp"
PGP_MESSAGE = "application/pgp-message"
SIGNED_PROTOCOLS = ("application/pkcs7-signature", "application/x-pkcs7-signature",
                    "application/pgp-signature")
ACCEPTED_EVIDENCE = ("PDF; image: JPEG, PNG, WebP, TIFF, GIF, HEIC, AVIF; audio: WAV, MP3, FLAC, "
                     "Ogg, M4A; video: MP4, MOV, 3GP, WebM, Matroska; signed text: an OpenPGP "
                     "clear-signed or armored message, or S/MIME (multipart/signed)")
_HINT = ("consent needs evidence: a signed release (PDF, scan or photo), a recording of the "
         f"person agreeing, or signed text. Accepted: {ACCEPTED_EVIDENCE}; at least "
         f"{MIN_EVIDENCE_BYTES} bytes")


@dataclass(frozen=True)
class StoredEvidence:
    path: Path
    sha256: str
    media_type: str  # as check_evidence_file names it, sniffed from the stored copy
    created: bool  # False when an identical file was stored already

    def discard(self) -> None:
        """Undo `store_evidence` (the transaction that needed it did not commit)."""
        if self.created:
            self.path.unlink(missing_ok=True)


def check_evidence_file(path: Path, field: str = "evidence", *, shown: str | None = None) -> str:
    """The evidence's media type (see ACCEPTED_EVIDENCE); InputError naming what is wrong.

    `shown` is the name errors give the file (default: its path, or its name once it exists).
    """
    path = Path(path)
    name = shown or str(path)
    if not path.exists():
        raise InputError(field, f"file not found: {name}", hint=_HINT)
    if not path.is_file():
        raise InputError(field, f"not a regular file: {name}", hint=_HINT)
    size = path.stat().st_size
    name = shown or path.name
    if size == 0:
        raise InputError(field, f"file is empty: {name}", hint=_HINT)
    if size < MIN_EVIDENCE_BYTES:
        raise InputError(field, f"file is {size} byte{'s' * (size != 1)}, too small to be a "
                                f"document (at least {MIN_EVIDENCE_BYTES} bytes): {name}",
                         hint=_HINT)
    media_type = detect_media_type(path)
    if media_type is None:
        raise InputError(field, "file is not a document of an accepted type (judged by its "
                                f"content, not its name): {name}", hint=_HINT)
    return media_type


def detect_media_type(path: Path) -> str | None:
    """What the file's content says it is, among the accepted kinds; None for anything else."""
    media_type = sniff(*read_ends(path))
    if media_type in _PILLOW_CHECKS and not _image_decodes(path):
        return None  # the right first bytes, then not an image
    return media_type


_PILLOW_CHECKS = ("image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp")


def _image_decodes(path: Path) -> bool:
    """Pillow (a core dependency) parses the header and checks the structure it can cheaply."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:
        return False
    return True


def sniff(head: bytes, tail: bytes) -> str | None:
    """The evidence's media type from its first and last bytes: a binary container
    (media.sniff), or signed text."""
    return sniff_media_type(head, tail) or _signed_text_type(head, tail)


def _signed_text_type(head: bytes, tail: bytes) -> str | None:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    end = tail.rstrip()
    if text.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----"):
        signed = re.search(rb"(?m)^-----BEGIN PGP SIGNATURE-----\r?$", tail)
        return PGP_CLEARSIGNED if signed and end.endswith(b"-----END PGP SIGNATURE-----") else None
    if text.startswith(b"-----BEGIN PGP MESSAGE-----"):
        return PGP_MESSAGE if end.endswith(b"-----END PGP MESSAGE-----") else None
    return _multipart_signed_type(head, tail)


def _multipart_signed_type(head: bytes, tail: bytes) -> str | None:
    """S/MIME (RFC 8551) or PGP/MIME (RFC 3156): a multipart/signed message whose last part is
    the signature and whose closing boundary ends the file."""
    header_end = re.search(rb"\r?\n\r?\n", head)
    if header_end is None or not re.match(rb"[!-9;-~]+:", head):
        return None
    headers = BytesHeaderParser().parsebytes(head[:header_end.end()])
    protocol = (headers.get_param("protocol", header="content-type") or "")
    boundary = headers.get_boundary()
    if headers.get_content_type() != "multipart/signed" or not boundary or \
            not isinstance(protocol, str) or protocol.lower() not in SIGNED_PROTOCOLS:
        return None
    delimiter = b"--" + boundary.encode("ascii", "replace")
    body = head[header_end.end():]
    if delimiter not in body or not tail.rstrip().endswith(delimiter + b"--") or \
            protocol.lower().encode() not in tail.lower():
        return None
    return f'multipart/signed; protocol="{protocol.lower()}"'


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
        # The bytes kept are the ones judged: the source may have changed since it was checked.
        media_type = check_evidence_file(temp, field, shown=Path(source).name)
        sha256 = digest.hexdigest()
        target = evidence_dir / f"{sha256}{Path(source).suffix.lower()[:16]}"
        if target.exists():
            return StoredEvidence(target, sha256, media_type, created=False)
        temp.chmod(0o600)
        os.replace(temp, target)
        return StoredEvidence(target, sha256, media_type, created=True)
    finally:
        temp.unlink(missing_ok=True)
