"""The Sonic stage of a generation: from a request and the verified face box to frames.

It owns what the service should not care about: which device and dtype to run on, keeping the
loaded models between generations, cropping around the face the consent gate matched (so the
face animated is the face verified), and turning user parameters into pipeline settings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image

from ..contracts import MAX_VIDEO_SIDE, MIN_VIDEO_SIDE, GenerationParams
from ..errors import InputError, NotAvailable, OutOfMemory, PipelineError, raised_as
from ..framing import condition_on, generation_size
from ..progress import CancelToken, ProgressCallback
from .loading import load_models
from .pipeline import (
    PipelineSettings,
    SonicModels,
    condition,
    decode_video,
    denoise_video,
)
from .preprocess import kept_size
from .unet import compile_forward

log = logging.getLogger(__name__)

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass(frozen=True)
class Placement:
    """Where the models run: what was asked for, resolved against this machine."""

    device: str
    dtype: torch.dtype
    offload: str = "none"

    @classmethod
    def resolve(cls, params: GenerationParams) -> Placement:
        device = params.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = DTYPES[params.dtype]
        if device == "cpu" and dtype != torch.float32:
            log.info("running on the CPU: %s is slow or unsupported there, using fp32",
                     params.dtype)
            dtype = torch.float32
        if device == "cuda" and not torch.cuda.is_available():
            raise NotAvailable("device cuda was asked for, but this machine has no usable CUDA "
                               "GPU", hint="use --device auto or cpu")
        return cls(device, dtype, params.offload if device != "cpu" else "none")

    def describe(self) -> dict[str, str]:
        """What the manifest records as the run's runtime: names as the parameters use them."""
        dtype = next(name for name, value in DTYPES.items() if value == self.dtype)
        return {"device": self.device, "dtype": dtype, "offload": self.offload}


class SonicStage:
    """Loads the models on first use and keeps them for the next generation."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[Placement, bool, bool], SonicModels] | None = None

    def models(self, placement: Placement, interpolate: bool,
               compiled: bool = False) -> SonicModels:
        key = (placement, interpolate, compiled)
        with self._lock:
            if self._loaded is None or self._loaded[0] != key:
                self._loaded = None  # drop the old set before loading another
                log.info("loading Sonic models from %s for %s (%s, offload %s)",
                         self.models_dir, placement.device, placement.dtype, placement.offload)
                models = load_models(self.models_dir, device=placement.device,
                                     dtype=placement.dtype, interpolate=interpolate,
                                     offload=placement.offload)
                if compiled:
                    compile_forward(models.unet)
                self._loaded = (key, models)
            return self._loaded[1]

    def placement(self, params: GenerationParams, size: tuple[int, int],
                  seconds: float) -> Placement:
        """Where this generation runs. On a GPU the offload mode is checked against the card
        (memory.py): `auto` picks the least offload that fits, a mode that cannot fit is
        refused, before any weight loads."""
        placement = Placement.resolve(params)
        if placement.device != "cuda":
            return placement
        from .memory import Architecture, Shapes, choose_offload, cuda_budget, estimates

        shapes = Shapes.of_generation(size, seconds, placement.dtype, params.decode_chunk_size,
                                      params.interpolate)
        candidates = estimates(Architecture.of(self.models_dir), shapes)
        mode = choose_offload(candidates, placement.offload, *cuda_budget())
        log.info("offload %s: %s", params.offload,
                 next(e for e in candidates if e.mode == mode).describe())
        return replace(placement, offload=mode)

    def denoise(self, image: Image.Image, face_box_xywh: Sequence[float], audio: Path,
                params: GenerationParams, *, seconds: float,
                progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> Denoised:
        """Steps 1-6 of the pipeline, run now: the clip's final latents (small: 1/8 of the
        frame size in each direction, 4 channels).

        `image` is the upright RGB portrait the consent gate checked, `face_box_xywh` the face
        it matched there.
        """
        image, face_box_xywh = condition_on(image, face_box_xywh, params.framing())
        if params.keep_resolution:
            check_kept_size(*image.size, cropped=params.crop)
        settings = PipelineSettings(params)
        placement = self.placement(params, generation_size(*image.size, params.min_resolution),
                                   seconds)
        with raised_as(pipeline_failure):  # a failure to load is the pipeline's too
            models = self.models(placement, params.interpolate, _compiles(params, placement))
            conditioned = condition(models, image, face_box_xywh, audio, settings)
            latents = denoise_video(models, conditioned, settings, progress=progress,
                                    cancel=cancel)
        return Denoised(models, settings, latents, image.size, placement)

    @staticmethod
    def decode(denoised: Denoised) -> Iterator[torch.Tensor]:
        """Step 7, streamed: frame chunks in [0, 1] at 25 fps (12.5 without interpolation),
        with any failure while making them raised as what it is (PipelineError, OutOfMemory),
        not as a failure of whatever consumes them (the encoder)."""
        # no_grad here: the service may run this in a worker thread, whose grad mode is its own
        with raised_as(pipeline_failure), torch.no_grad():
            yield from decode_video(denoised.models, denoised.latents, denoised.settings,
                                    denoised.portrait_size)


@dataclass(frozen=True)
class Denoised:
    """A clip's final latents and what decoding them needs."""

    models: SonicModels
    settings: PipelineSettings
    latents: torch.Tensor
    portrait_size: tuple[int, int]  # of the conditioning image, for keep_resolution
    placement: Placement  # what ran: `auto` resolved to a mode


def _compiles(params: GenerationParams, placement: Placement) -> bool:
    """compile_unet, unless the UNet visits the GPU a layer at a time (its weights change
    device inside the forward, which a compiled graph cannot follow)."""
    if params.compile_unet and placement.offload == "sequential":
        log.warning("compile_unet skipped: offload sequential moves the UNet's weights inside "
                    "its forward")
        return False
    return params.compile_unet


def pipeline_failure(exc: Exception) -> PipelineError:
    """A model or runtime failure in words a user can act on."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return OutOfMemory(f"the GPU ran out of memory: {text}",
                           hint="use --offload model (or sequential), a smaller "
                                "--decode-chunk-size or a lower --min-resolution")
    if isinstance(exc, MemoryError):
        return OutOfMemory("the machine ran out of memory",
                           hint="free memory, or use a lower --min-resolution or a smaller "
                                "--decode-chunk-size")
    return PipelineError(f"the Sonic pipeline failed: {type(exc).__name__}: {text}",
                         hint="the log has the traceback (--debug prints it)")


def check_kept_size(width: int, height: int, *, cropped: bool) -> None:
    """`keep_resolution` writes the portrait's own size: it must hold the watermark and stay
    within what players decode."""
    out_w, out_h = kept_size(width, height)
    what = "the crop around the face" if cropped else "the portrait"
    if min(out_w, out_h) < MIN_VIDEO_SIDE:
        raise InputError("keep_resolution", f"{what} is {out_w}x{out_h}; the watermark needs at "
                         f"least {MIN_VIDEO_SIDE} pixels on the short side",
                         hint="turn keep_resolution off, or use a larger portrait")
    if max(out_w, out_h) > MAX_VIDEO_SIDE:
        raise InputError("keep_resolution", f"{what} is {out_w}x{out_h}; videos are written up "
                         f"to {MAX_VIDEO_SIDE} pixels on the long side",
                         hint="turn keep_resolution off, or use a smaller portrait")


def output_fps(params: GenerationParams) -> float:
    fps = PipelineSettings(params).fps
    return fps * 2 if params.interpolate else fps
