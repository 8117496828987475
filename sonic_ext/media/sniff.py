"""What a file is, judged by its first and last bytes, never by its name.

Users name files carelessly (an MP3 saved as `.wav`, a portrait with no extension) and attackers
name them on purpose, so every check that needs a media type (evidence, portraits, speech, the
C2PA ingredient's format) asks this module. It recognises the binary containers we meet: PDF,
JPEG, PNG, GIF, TIFF, WebP, WAV, FLAC, Ogg, Matroska/WebM, MPEG audio and the ISO base media
family (MP4, M4A, MOV, 3GP, HEIC, AVIF).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SNIFF_BYTES = 64 * 1024  # read from each end of the file to recognise it
PDF = "application/pdf"


def sniff_media_type(head: bytes, tail: bytes) -> str | None:
    """The media type of a file from its first and last bytes (the same bytes for a small one)."""
    return _binary_type(head, tail) or _iso_bmff_type(head, tail)


def read_ends(path: Path) -> tuple[bytes, bytes]:
    """The first and last SNIFF_BYTES of a file."""
    with Path(path).open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - SNIFF_BYTES, 0))
        return head, handle.read()


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
