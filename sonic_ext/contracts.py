"""What the service takes and gives (its contracts): typed requests and results that every surface
builds, and nothing else. Named so as not to shadow the `requests` library.

Each generation parameter is declared here, once (`GenerationParams`): the CLI, API and UI all
report the same field names, help and limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .parameters import check_params, param, param_specs

if TYPE_CHECKING:  # numpy and PIL load when a generation is prepared, not at CLI start
    from .framing import Framing

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("fp16", "bf16", "fp32")
OFFLOAD_MODES = ("auto", "none", "model", "sequential")
LIP_SYNC_MODES = ("off", "auto")
DEFAULT_PURPOSE = "general"
MAX_SEED = 2**32 - 1
MAX_SEGMENT_S = 600.0  # the policy's ceiling for a clip's length (policy/schema.json)
MIN_VIDEO_SIDE = 256  # the watermark works in a 256 px view (provenance/watermark.py)
MAX_VIDEO_SIDE = 4096


@dataclass(frozen=True)
class GenerationParams:
    """Sonic's knobs with the official defaults (research/sonic.md §0: seed 72589, 25 steps, ...).

    Each field is the one declaration of its parameter (`parameters.param`): validation, the
    CLI flags, the API schema, the UI widgets and the pipeline all derive from it. The order is
    the UI's and that of gradio's /generate API (image, audio, purpose, seed, steps, ...).
    """

    seed: int = param(72589, "random seed; 0 is a seed like any other", "Seed",
                      low=0, high=MAX_SEED, note="0 is a valid seed", widget="number",
                      advanced=False)
    steps: int = param(25, "denoising steps: more is slower and smoother", "Steps",
                       low=1, high=100, advanced=False)
    min_resolution: int = param(512, "short side of the generated video in pixels, a multiple "
                                     "of 64", "Minimum resolution",
                                low=MIN_VIDEO_SIDE, high=2048, multiple_of=64,
                                note="the watermark needs at least 256 pixels", advanced=False)
    dynamic_scale: float = param(1.0, "motion strength: above 1 moves the head and face more",
                                 "Motion strength", low=0.0, high=10.0, low_open=True)
    motion_scale: float = param(1.0, "head motion: scales the first motion bucket (the head's "
                                     "movement); 0 keeps the head still", "Head motion",
                                low=0.0, high=4.0)
    expression_scale: float = param(1.0, "facial expression: scales the second motion bucket "
                                         "(movement of the face's features)", "Expression",
                                    low=0.0, high=4.0)
    motion_smoothing: float = param(0.0, "smooths the motion buckets over time before each "
                                         "window averages them (Kalman smoother); 0 is off, 1 "
                                         "is about 2 s of smoothing", "Motion smoothing",
                                    low=0.0, high=1.0)
    start: float = param(0.0, "where in the speech clip the video starts, in seconds",
                         "Start (s)", low=0.0, high=MAX_SEGMENT_S, widget="number")
    duration: float = param(0.0, "how many seconds of the speech to animate from the start; 0 "
                                 "animates it to its end", "Duration (s)", low=0.0,
                            high=MAX_SEGMENT_S, widget="number")
    lip_sync_offset_ms: int = param(0, "moves the mouth against the sound, in 20 ms steps "
                                       "(whisper's token spacing): positive makes the mouth "
                                       "move later, correcting a sound that sync-check finds "
                                       "late by as much; the muxed sound stays where it is",
                                    "Lip-sync offset (ms)", low=-200, high=200, multiple_of=20)
    lip_sync: str = param("off", "auto: measure the finished video's lip sync (sync-check) "
                                 "and, when the sound is off by more than a frame, move the "
                                 "muxed sound by the measured offset before signing",
                          "Lip-sync correction", choices=LIP_SYNC_MODES)
    expand_ratio: float = param(0.5, "margin around the face when cropping, as a fraction of "
                                     "the face size", "Face margin", low=0.0, high=2.0)
    crop: bool = param(True, "animate a square crop around the face rather than the whole "
                             "portrait", "Crop to the face")
    keep_resolution: bool = param(False, "rescale the finished video to the portrait's own "
                                         "size", "Keep the portrait's size")
    interpolate: bool = param(True, "double the frame rate (12.5 to 25 fps) with RIFE",
                              "Frame interpolation")
    dtype: str = param("fp16", "weights precision; the CPU always uses fp32", "Precision",
                       choices=DTYPES)
    device: str = param("auto", "compute device; auto picks cuda when available", "Device",
                        choices=DEVICES)
    offload: str = param("auto", "save GPU memory: auto picks the least offload that fits the "
                                 "GPU's free memory (estimated before loading), model moves each "
                                 "model to the GPU only while it runs, sequential moves each "
                                 "layer (slowest, least memory)", "Offload",
                         choices=OFFLOAD_MODES)
    compile_unet: bool = param(False, "compile the UNet with torch.compile (needs a C++ "
                                      "compiler; for GPUs): the first window waits for the "
                                      "compile, later windows may run faster; not with offload "
                                      "sequential", "Compile the UNet")
    decode_chunk_size: int = param(8, "frames the VAE decodes at once: lower saves memory",
                                   "Decode chunk size", low=1, high=64)

    def validate(self) -> GenerationParams:
        """Raise InputError naming the first field out of range; return self when all are fine."""
        check_params(self)
        return self

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def segment(self, seconds: float) -> tuple[float, float] | None:
        """(start, end) of the speech to animate, `seconds` long; None for the whole clip."""
        return (self.start, self.start + seconds) if self.start or self.duration else None

    def framing(self) -> Framing:
        """What decides the pixels the model sees: the consent gate checks exactly those."""
        from .framing import Framing

        return Framing(**{name: getattr(self, name) for name in FRAMING_PARAMS})


# The parameters that decide which pixels the model sees (`consent check` takes them too)
FRAMING_PARAMS = ("crop", "expand_ratio", "min_resolution")
# What each parameter does: CLI help, API schema descriptions and UI tooltips show these.
PARAM_HELP = {spec.name: spec.help for spec in param_specs(GenerationParams)}


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

    @property
    def made_with_test_weights(self) -> bool:
        """The signed manifest says seeded test weights made the file, not the Sonic model."""
        return bool(self.c2pa.get("test_weights"))

    def strict_failures(self) -> list[str]:
        """Why `verify --strict` refuses this file: anything short of a real, authentic output
        whose consent is still in force (empty when it passes). A consent credential that is
        absent (outputs made before credentials existed) or whose status cannot be looked up
        offline is reported in the Consent section, not failed here."""
        failures = [] if self.verdict == "authentic" else [f"the verdict is {self.verdict}"]
        if self.c2pa.get("development_credentials"):
            failures.append("signed with development credentials")
        if self.made_with_test_weights:
            failures.append("made with test weights")
        if any(reason.get("code") == "file.differs" for reason in self.reasons):
            failures.append("its bytes differ from the published output's")
        consent_verdict = (self.consent_check or {}).get("verdict")
        if consent_verdict not in (None, "in-force", "absent", "status-unknown"):
            failures.append(f"its consent credential is {consent_verdict}")
        if self.consent is not None and self.consent.get("status") not in (
                "active", "superseded", None):  # superseded: an amendment carries it on
            failures.append(f"its consent is {self.consent.get('status')} now")
        return failures

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path), "reasons": list(self.reasons)}

