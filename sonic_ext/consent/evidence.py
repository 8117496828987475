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

_CHUNK = 1 << 20
# No real release is this small: a one-page PDF holding a sentence is about 600 bytes, an
# OpenPGP signature block alone 250-900, a scan or a recording kilobytes at least. The floor
# refuses placeholders (a byte, a word, a 1x1 pixel image) without refusing any real document;
# the content check below does the rest.
MIN_EVIDENCE_BYTES = 512
_SNIFF_BYTES = 64 * 1024  # read from each end of the file to recognise it

# The media types check_evidence_file returns: IANA names where one is registered. Signed text
# has none of its own: a clear-signed message is "text/plain; signed=pgp", an armored OpenPGP
# message "application/pgp-message" (the armor's own name; RFC 3156 registers only
# pgp-encrypted, pgp-signature and pgp-keys), S/MIME and PGP/MIME "multipart/signed; protocol=...".
PDF = "application/pdf"
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
    with Path(path).open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - _SNIFF_BYTES, 0))
        tail = handle.read()
    media_type = sniff(head, tail)
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
    """The media type of a file from its first and last bytes (the same bytes for a small one)."""
    for recognise in (_binary_type, _iso_bmff_type, _signed_text_type):
        media_type = recognise(head, tail)
        if media_type:
            return media_type
    return None


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"fLaC", "audio/flac"),
)


def _binary_type(head: bytes, tail: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        # A PDF ends with %%EOF (ISO 32000 §7.5.5); writers may append a line end or padding.
        return PDF if b"%%EOF" in tail[-1024:] else None
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"WEBP"):
        return "audio/wav" if head[8:12] == b"WAVE" else "image/webp"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"\x80theora" in head[:512] else "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM by its DocType
        return "video/webm" if b"\x42\x82\x84webm" in head[:64] else "video/x-matroska"
    if _is_mpeg_audio(head):
        return "audio/mpeg"
    return None


_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_IMAGE_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic",
                 b"heis": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
                 b"avif": "image/avif", b"avis": "image/avif"}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide")  # QuickTime files older than the ftyp box


def _iso_bmff_type(head: bytes, _tail: bytes) -> str | None:
    """MP4, M4A, MOV, 3GP, HEIC/AVIF: an ISO base media file starts with its ftyp box."""
    box_size = int.from_bytes(head[:4], "big")
    if head[4:8] == b"ftyp" and 16 <= box_size <= 4096 and re.fullmatch(rb"[ -~]{4}", head[8:12]):
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return "audio/mp4"
        if brand in _IMAGE_BRANDS:
            return _IMAGE_BRANDS[brand]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g2"):
            return "video/3gpp2"
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        return "video/mp4"
    if head[4:8] in _QUICKTIME_ATOMS and box_size >= 8:
        return "video/quicktime"
    return None


# MPEG audio frame headers (ISO 11172-3, 13818-3): kbit/s by (version is MPEG-1, layer).
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: bytes) -> int | None:
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    return (144 if layer == 2 or mpeg1 else 72) * bitrate // rate + padding


def _is_mpeg_audio(head: bytes) -> bool:
    """An ID3v2 tag, or two MPEG audio frames in a row (one sync word is chance)."""
    if head[:3] == b"ID3" and 2 <= head[3] <= 4 and all(b < 0x80 for b in head[6:10]):
        return True
    length = _mpeg_frame_length(head[:4])
    return length is not None and _mpeg_frame_length(head[length:length + 4]) is not None


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
