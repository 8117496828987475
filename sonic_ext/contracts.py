"""What the service takes and gives (its contracts): typed requests and results that every surface
builds, and nothing else. Named so as not to shadow the `requests` library.

Parameter ranges live here, once: the CLI, API and UI all report the same field names and limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # numpy and PIL load when a generation is prepared, not at CLI start
    from .framing import Framing

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("fp16", "bf16", "fp32")
OFFLOAD_MODES = ("none", "model", "sequential")
DEFAULT_PURPOSE = "general"
MAX_SEED = 2**32 - 1
MIN_VIDEO_SIDE = 256  # the watermark works in a 256 px view (provenance/watermark.py)
MAX_VIDEO_SIDE = 4096

# What each parameter does, once: CLI help, API schema descriptions and UI tooltips show these.
PARAM_HELP: dict[str, str] = {
    "seed": "random seed; 0 is a seed like any other",
    "steps": "denoising steps: more is slower and smoother",
    "dynamic_scale": "motion strength: above 1 moves the head and face more",
    "min_resolution": "short side of the generated video in pixels, a multiple of 64",
    "expand_ratio": "margin around the face when cropping, as a fraction of the face size",
    "crop": "animate a square crop around the face rather than the whole portrait",
    "keep_resolution": "rescale the finished video to the portrait's own size",
    "interpolate": "double the frame rate (12.5 to 25 fps) with RIFE",
    "dtype": "weights precision; the CPU always uses fp32",
    "device": "compute device; auto picks cuda when available",
    "offload": "save GPU memory: model moves each model to the GPU only while it runs, "
               "sequential moves each layer (slowest, least memory)",
    "decode_chunk_size": "frames the VAE decodes at once: lower saves memory",
}


@dataclass(frozen=True)
class GenerationParams:
    """Sonic's knobs with the official defaults (research/sonic.md §0: seed 72589, 25 steps, ...)."""

    seed: int = 72589
    steps: int = 25
    dynamic_scale: float = 1.0
    min_resolution: int = 512
    expand_ratio: float = 0.5
    crop: bool = True
    keep_resolution: bool = False
    interpolate: bool = True
    dtype: str = "fp16"
    device: str = "auto"
    offload: str = "none"
    decode_chunk_size: int = 8

    def validate(self) -> GenerationParams:
        """Raise InputError naming the first field out of range; return self when all are fine."""
        _int_in("seed", self.seed, 0, MAX_SEED, "0 is a valid seed")
        _int_in("steps", self.steps, 1, 100)
        _float_in("dynamic_scale", self.dynamic_scale, 0.0, 10.0, low_open=True)
        _int_in("min_resolution", self.min_resolution, MIN_VIDEO_SIDE, 2048,
                "the watermark needs at least 256 pixels")
        if self.min_resolution % 64:
            raise InputError("min_resolution", f"must be a multiple of 64, got {self.min_resolution}")
        _float_in("expand_ratio", self.expand_ratio, 0.0, 2.0)
        _one_of("dtype", self.dtype, DTYPES)
        _one_of("device", self.device, DEVICES)
        _one_of("offload", self.offload, OFFLOAD_MODES)
        _int_in("decode_chunk_size", self.decode_chunk_size, 1, 64)
        for name in ("crop", "keep_resolution", "interpolate"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(name, "must be true or false")
        return self

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def framing(self) -> Framing:
        """What decides the pixels the model sees: the consent gate checks exactly those."""
        from .framing import Framing

        return Framing(crop=self.crop, expand_ratio=self.expand_ratio,
                       min_resolution=self.min_resolution)


@dataclass(frozen=True)
class GenerateRequest:
    image: Path
    audio: Path
    out: Path
    purpose: str = DEFAULT_PURPOSE
    params: GenerationParams = field(default_factory=GenerationParams)
    overwrite: bool = False
    requested_by: str = "local user"
    # The consents this video relies on, one per person it shows; the gate verifies each face
    # against these alone (a generation without a claim is refused as bad input).
    consent_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("image", "audio", "out"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "consent_ids", tuple(self.consent_ids))


@dataclass(frozen=True)
class GenerateResult:
    """A published, signed output and where to find its records."""

    out: Path
    generation_id: str
    watermark_id: str
    consent_id: str
    sha256: str
    credentials: str  # "development credentials" or "production credentials"
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "out": str(self.out)}


# The Consent section's verdicts (consent/credential_check.py says what each means)
CONSENT_VERDICTS = ("in-force", "revoked", "status-unknown", "outside-consent",
                    "credential-mismatch", "identity-invalid", "identity-absent",
                    "issuer-untrusted", "credential-invalid", "absent")


@dataclass(frozen=True)
class VerifyReport:
    """One verdict for one file (design §4); the sections are filled by the provenance module."""

    path: Path
    verdict: str
    reasons: tuple[dict[str, str], ...] = ()
    c2pa: dict[str, object] = field(default_factory=dict)
    watermark: dict[str, object] = field(default_factory=dict)
    generation: dict[str, object] | None = None
    consent: dict[str, object] | None = None
    # A stripped copy's pictures against the fingerprint of the generation its mark names;
    # after `content-mismatch`, that generation and consent are here (named_*), not above.
    content: dict[str, object] = field(default_factory=lambda: {"checked": False})
    # From the file alone: the manifest's consent credential, its issuer, what it covered and
    # its revocation status (consent/credential_check.py, one of CONSENT_VERDICTS); None without
    # a manifest
    consent_check: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path), "reasons": list(self.reasons)}


def _int_in(name: str, value: object, low: int, high: int, note: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        extra = f" ({note})" if note else ""
        raise InputError(name, f"must be between {low} and {high}{extra}, got {value}")


def _float_in(name: str, value: object, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(name, f"must be a number, got {value!r}")
    too_low = value <= low if low_open else value < low
    if too_low or value > high or value != value:  # the last test rejects NaN
        bracket = "(" if low_open else "["
        raise InputError(name, f"must be in {bracket}{low}, {high}], got {value}")


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
