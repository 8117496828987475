"""The Sonic stage of a generation: from a request and the verified face box to frames.

It owns what the service should not care about: which device and dtype to run on, keeping the
loaded models between generations, cropping around the face the consent gate matched (so the
face animated is the face verified), and turning user parameters into pipeline settings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..errors import NotAvailable
from ..progress import CancelToken, ProgressCallback
from ..requests import GenerationParams
from .loading import load_models
from .pipeline import PipelineSettings, SonicModels, generate_frames
from .preprocess import square_crop_box

log = logging.getLogger(__name__)

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass(frozen=True)
class Placement:
    """Where the models run: what was asked for, resolved against this machine."""

    device: str
    dtype: torch.dtype

    @classmethod
    def resolve(cls, params: GenerationParams) -> Placement:
        if params.offload != "none":
            raise NotAvailable(f"offload mode {params.offload!r} is not available in this "
                               "version", hint="use --offload none, a smaller --min-resolution, "
                                               "or a GPU with more memory")
        device = params.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = DTYPES[params.dtype]
        if device == "cpu" and dtype != torch.float32:
            log.info("running on the CPU: %s is slow or unsupported there, using fp32",
                     params.dtype)
            dtype = torch.float32
        return cls(device, dtype)


def crop_to_face(image: Image.Image, box_xywh: Sequence[float], expand_ratio: float
                 ) -> tuple[Image.Image, list[float]]:
    """Sonic's square crop around the face, and the same face's box inside the crop."""
    x, y, w, h = box_xywh
    left, top, right, bottom = square_crop_box([x, y, x + w, y + h], expand_ratio,
                                               image.height, image.width)
    return image.crop((left, top, right, bottom)), [x - left, y - top, w, h]


class SonicStage:
    """Loads the models on first use and keeps them for the next generation."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[str, torch.dtype, bool], SonicModels] | None = None

    def models(self, placement: Placement, interpolate: bool) -> SonicModels:
        key = (placement.device, placement.dtype, interpolate)
        with self._lock:
            if self._loaded is None or self._loaded[0] != key:
                self._loaded = None  # drop the old set before loading another
                log.info("loading Sonic models from %s on %s (%s)", self.models_dir,
                         placement.device, placement.dtype)
                self._loaded = (key, load_models(self.models_dir, device=placement.device,
                                                 dtype=placement.dtype, interpolate=interpolate))
            return self._loaded[1]

    def frames(self, image: Image.Image, face_box_xywh: Sequence[float], audio: Path,
               params: GenerationParams, *, progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> Iterator[torch.Tensor]:
        """Frame chunks in [0, 1] at 25 fps (12.5 without interpolation).

        `image` is the upright RGB portrait the consent gate checked, `face_box_xywh` the face
        it matched there.
        """
        if params.crop:
            image, face_box_xywh = crop_to_face(image, face_box_xywh, params.expand_ratio)
        models = self.models(Placement.resolve(params), params.interpolate)
        return generate_frames(models, image, face_box_xywh, audio, pipeline_settings(params),
                               progress=progress, cancel=cancel)


def pipeline_settings(params: GenerationParams) -> PipelineSettings:
    return PipelineSettings(seed=params.seed, steps=params.steps,
                            dynamic_scale=params.dynamic_scale,
                            min_resolution=params.min_resolution,
                            keep_resolution=params.keep_resolution,
                            interpolate=params.interpolate,
                            decode_chunk_size=params.decode_chunk_size)


def output_fps(params: GenerationParams) -> float:
    settings = pipeline_settings(params)
    return settings.fps * 2 if params.interpolate else settings.fps
