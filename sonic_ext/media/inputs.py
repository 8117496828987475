"""Cheap, early checks of user files, before any model loads.

They catch the common mistakes (wrong file, empty file, unsupported format, corrupt image) with a
message that names the field. Files are judged by their content, never by their names: a BMP
without an extension is a BMP, an MP3 saved as `.wav` is an MP3, and the media type recorded in
the C2PA manifest is the one found here. Decoding the speech itself is `media.audio.check_speech`.
"""

from __future__ import annotations

import io
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from .sniff import read_ends, sniff_media_type

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
# speech containers by media type (as media.sniff names them) -> the name users know
AUDIO_FORMATS = {"audio/wav": "WAV", "audio/mpeg": "MP3", "audio/flac": "FLAC",
                 "audio/mp4": "M4A", "video/mp4": "MP4"}
MIN_IMAGE_SIDE = 64


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    format: str
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return Image.MIME[self.format]


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    media_type: str  # one of AUDIO_FORMATS
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


def check_image(path: Path, field: str = "image", *,
                max_pixels: int | None = None) -> ImageInfo:
    """Open and fully decode the portrait so that a truncated or corrupt file fails here (see
    `read_image`)."""
    image, _ = read_image(path, field, max_pixels=max_pixels)
    return ImageInfo(path, image.format, image.width, image.height)


def read_image(path: Path, field: str = "image", *,
               max_pixels: int | None = None) -> tuple[Image.Image, bytes]:
    """The image decoded in full from the file's bytes, and those bytes (what a caller hashes
    is then exactly what was decoded). One over `max_pixels` (the policy's
    limits.max_image_pixels; default: Pillow's own decompression-bomb limit) is refused from
    its header, before it is decoded."""
    _readable_file(path, field)
    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > limit:
                    raise InputError(field, f"image is {width}x{height} "
                                            f"({width * height:,} pixels), over the "
                                            f"{limit:,}-pixel limit", hint=_SCALE_DOWN)
                img.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses before it tells the size; its message carries the pixel count
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(pixels[1]):,} pixels, " if pixels else ""
        raise InputError(field, f"image is {size}over the {limit:,}-pixel limit: {path}",
                         hint=_SCALE_DOWN) from None
    except UnidentifiedImageError:
        raise InputError(field, f"not a readable image: {path}",
                         hint=f"use one of {', '.join(IMAGE_FORMATS)}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(field, f"image is corrupt or truncated ({exc}): {path}") from None
    fmt = img.format or "unknown"
    if fmt not in IMAGE_FORMATS:
        raise InputError(field, f"unsupported image format {fmt}",
                         hint=f"use one of {', '.join(IMAGE_FORMATS)}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(field, f"image is {width}x{height}; each side needs at least "
                                f"{MIN_IMAGE_SIDE} pixels")
    return img, data


_SCALE_DOWN = "scale it down; a portrait needs no more than a few megapixels"


def check_audio(path: Path, field: str = "audio") -> AudioInfo:
    size = _readable_file(path, field)
    media_type = sniff_media_type(*read_ends(path))
    if media_type not in AUDIO_FORMATS:
        found = f" (it holds {media_type})" if media_type else ""
        raise InputError(field, f"not a speech clip in a format we read{found}: {path}",
                         hint=f"use one of {', '.join(AUDIO_FORMATS.values())}")
    if media_type == "audio/wav" and size <= 44:
        raise InputError(field, f"WAV file holds no samples: {path}")
    return AudioInfo(path, media_type, size)


def media_type_of(path: Path, field: str) -> str:
    """A portrait's or speech clip's media type, from its content (for the C2PA ingredient)."""
    media_type = sniff_media_type(*read_ends(path))
    if media_type in AUDIO_FORMATS:
        return media_type
    try:  # the header is enough: the portrait was decoded in full when it was checked
        with Image.open(path) as image:
            if image.format in IMAGE_FORMATS:
                return Image.MIME[image.format]
    except (OSError, UnidentifiedImageError):
        pass
    raise InputError(field, f"neither an image nor a speech clip in a format we read: {path}")


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
    try:  # found now, not after minutes of generation
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise InputError(field, f"cannot write in the output folder {parent}: "
                                f"{exc.strerror or exc}") from None
    return path
