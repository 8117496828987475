"""Cheap, early checks of user files, before any model loads.

They catch the common mistakes (wrong file, empty file, unsupported format, corrupt image) with a
message that names the field. Decoding the audio itself happens in the pipeline.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import InputError

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
AUDIO_FORMATS = ("wav", "mp3", "flac", "m4a")
MIN_IMAGE_SIDE = 64
MAX_IMAGE_PIXELS = 64_000_000  # 8000x8000; larger inputs are refused, not resized


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    format: str
    size_bytes: int


def _readable_file(path: Path, field: str) -> int:
    """Return the file size after checking the file exists, is a regular file and is not empty."""
    if not path.exists():
        raise InputError(field, f"file not found: {path}")
    if not path.is_file():
        raise InputError(field, f"not a regular file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(field, f"file is empty: {path}")
    return size


def check_image(path: Path, field: str = "image") -> ImageInfo:
    """Open and fully decode the portrait so that a truncated or corrupt file fails here."""
    _readable_file(path, field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or "unknown"
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InputError(field, f"image is {width}x{height}, over the "
                                            f"{MAX_IMAGE_PIXELS:,}-pixel limit")
                img.load()
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(field, f"not a readable image: {path}",
                         hint=f"use one of {', '.join(IMAGE_FORMATS)}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(field, f"image is corrupt or truncated ({exc}): {path}") from None
    if fmt not in IMAGE_FORMATS:
        raise InputError(field, f"unsupported image format {fmt}",
                         hint=f"use one of {', '.join(IMAGE_FORMATS)}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(field, f"image is {width}x{height}; each side needs at least "
                                f"{MIN_IMAGE_SIDE} pixels")
    return ImageInfo(path, fmt, width, height)


def sniff_audio_format(head: bytes) -> str | None:
    """Tell the container from its first bytes; the file name's extension is not trusted."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    return None


def check_audio(path: Path, field: str = "audio") -> AudioInfo:
    size = _readable_file(path, field)
    with path.open("rb") as fh:
        head = fh.read(16)
    fmt = sniff_audio_format(head)
    if fmt is None:
        raise InputError(field, f"unsupported or unrecognised audio format: {path}",
                         hint=f"use one of {', '.join(f.upper() for f in AUDIO_FORMATS)}")
    if fmt == "wav" and size <= 44:
        raise InputError(field, f"WAV file holds no samples: {path}")
    return AudioInfo(path, fmt, size)


def check_output_path(path: Path, field: str = "out", *, overwrite: bool = False) -> Path:
    """The MP4 is published atomically at this path; its folder must exist already."""
    if path.suffix.lower() != ".mp4":
        raise InputError(field, f"output must be an .mp4 file, got {path.name!r}")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise InputError(field, f"output folder does not exist: {parent}")
    if path.is_dir():
        raise InputError(field, f"output path is a folder: {path}")
    if path.exists() and not overwrite:
        raise InputError(field, f"output file exists already: {path}",
                         hint="choose another name or pass --overwrite")
    return path
