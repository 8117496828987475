"""Peak GPU memory of a generation, estimated before any weight loads, so a small card gets an
offload mode that fits (`offload auto`) or a clear refusal instead of an out-of-memory error
minutes into a run.

From the architecture, not from a table: each component is built from the installation's own
configs (the official sizes when there are none) on the `meta` device, which allocates nothing,
and its forward runs once at the generation's real shapes under `LiveBytes`, a dispatch mode that
adds up the bytes of every tensor alive at each moment. Attention is counted as CUDA's flash
kernel runs `scaled_dot_product_attention` (output only, no N x N matrix). The tensors held for
the whole clip (latents, the conditioning stacked for guidance, whisper's features) are counted
from their shapes (`held_bytes`). A stage's peak is then the weights on the GPU during it, plus
the clip-long tensors, plus its forward's working set; the offload mode decides which weights
are there. What the dispatcher cannot see (CUDA context, cuDNN workspaces, allocator slack) is
a stated margin: `CUDA_OVERHEAD` plus `SLACK` of the rest.

Checked on the CPU (tests/sonic/test_memory.py): the meta count matches the working set that
really runs there, and the process's own peak resident memory.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from .offload import MODES

GIB = 1024 ** 3
CUDA_OVERHEAD = int(0.5 * GIB)  # the CUDA context and kernels, outside torch's allocator
SLACK = 0.2  # allocator rounding and fragmentation, convolution workspaces
WINDOW_FRAMES = 25  # frames per UNet call (sampling.WindowSchedule), times 3 guidance rows
GUIDANCE_ROWS = 3
GENERATED_FPS = 12.5  # latent frames per second of speech, before RIFE doubles them
WHISPER_CHUNK_S = 30.0


class LiveBytes(TorchDispatchMode):
    """Bytes of the tensors made inside this mode and still alive: now and at the peak.

    Storages, not tensors, are counted, so views cost nothing; a storage is freed when the last
    tensor made on it here is collected.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = self.peak = 0
        self._sizes: dict[int, int] = {}
        self._holders: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self._hold(tensor)
        return out

    def _hold(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key not in self._sizes:
            self._sizes[key] = storage.nbytes()
            self._holders[key] = 0
            self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
        self._holders[key] += 1
        weakref.finalize(tensor, self._release, key)

    def _release(self, key: int) -> None:
        self._holders[key] -= 1
        if not self._holders[key]:
            del self._holders[key]
            self.now -= self._sizes.pop(key)


class FlashAttention(TorchFunctionMode):
    """`scaled_dot_product_attention` as CUDA's flash kernel allocates: the output alone.
    Whether the meta device would decompose it into the N x N math path depends on the torch
    version and the grad mode; this makes the count the flash kernel's in every case."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.scaled_dot_product_attention:
            query, value = args[0], args[2] if len(args) > 2 else kwargs["value"]
            return query.new_empty((*query.shape[:-1], value.shape[-1]))
        return func(*args, **(kwargs or {}))


def working_set(run: Callable[[], object], *, flash: bool = True) -> int:
    """Peak bytes of the tensors `run` makes (its inputs included when it makes them)."""
    with torch.inference_mode(), LiveBytes() as live:
        if flash:
            with FlashAttention():
                run()
        else:
            run()
    return live.peak


def weight_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def largest_visit(module: nn.Module) -> int:
    """Sequential offload: the most weight bytes on the GPU at once, a layer's own tensors plus
    those of every enclosing module whose forward is still running (offload.visit_layer_by_layer)."""
    own = sum(t.numel() * t.element_size()
              for t in (*module.parameters(recurse=False), *module.buffers(recurse=False)))
    return own + max((largest_visit(child) for child in module.children()), default=0)


@dataclass(frozen=True)
class Architecture:
    """The components' configs: the installation's, or the official sizes."""

    unet: dict
    audio_tokens: int
    vae: dict
    clip: dict
    whisper: dict
    audio2token: dict
    audio2bucket: dict
    source: str = "the installed models"

    @classmethod
    def official(cls) -> Architecture:
        from .tiny import FULL

        return cls(FULL.unet, FULL.audio_tokens, FULL.vae, FULL.clip, FULL.whisper, {}, {},
                   "the official model sizes (not installed here)")

    @classmethod
    def of(cls, models_dir: Path | None) -> Architecture:
        """The installed models' sizes, read from their config files; the official sizes while
        they are not installed (an estimate for the download)."""
        from .components import SONIC_AUDIO_TOKENS
        from .layout import SVD
        from .loading import read_sonic_config

        svd = models_dir / SVD if models_dir else None
        files = [svd / "unet" / "config.json", svd / "vae" / "config.json",
                 svd / "image_encoder" / "config.json",
                 models_dir / "whisper-tiny" / "config.json"] if svd else []
        if not files or not all(f.is_file() for f in files):
            return cls.official()
        unet, vae, clip, whisper = (_config(f) for f in files)
        extra = read_sonic_config(models_dir)
        return cls(unet, extra.get("audio_tokens", SONIC_AUDIO_TOKENS), vae, clip, whisper,
                   extra.get("audio2token", {}), extra.get("audio2bucket", {}))

    def key(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def _config(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Shapes:
    """What the estimate depends on, besides the architecture."""

    latent_h: int
    latent_w: int
    seconds: float
    dtype: torch.dtype = torch.float16
    decode_chunk: int = 8
    interpolate: bool = True

    @classmethod
    def of_generation(cls, size: tuple[int, int], seconds: float, dtype: torch.dtype,
                      decode_chunk: int, interpolate: bool) -> Shapes:
        """For a video generated at `size` (W, H), as framing.generation_size gives it."""
        return cls(size[1] // 8, size[0] // 8, seconds, dtype, decode_chunk, interpolate)

    @property
    def frames(self) -> int:
        """Latent frames: the clip's length at 12.5 fps."""
        return max(1, math.ceil(self.seconds * GENERATED_FPS))


@dataclass(frozen=True)
class StageCost:
    weights: dict[str, int]  # bytes of each component the stage runs
    working: int             # its forward's peak bytes


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak for one offload mode: where it falls and what it is made of."""

    mode: str
    stage: str
    weights: int
    held: int
    working: int

    @property
    def allocated(self) -> int:
        """What torch.cuda.max_memory_allocated would report."""
        return self.weights + self.held + self.working

    @property
    def total(self) -> int:
        """What the card must have: the allocated peak with slack, plus the CUDA context."""
        return int(self.allocated * (1 + SLACK)) + CUDA_OVERHEAD

    def describe(self) -> str:
        return f"about {self.total / GIB:.1f} GB with offload {self.mode} (peak while {self.stage})"

    def to_dict(self) -> dict[str, object]:
        return {"offload": self.mode, "peak_stage": self.stage, "total_bytes": self.total,
                "allocated_bytes": self.allocated, "weights_bytes": self.weights,
                "clip_long_bytes": self.held, "working_bytes": self.working}


@dataclass(frozen=True)
class GpuCard:
    name: str
    free_bytes: int   # free, plus what this process's allocator holds
    total_bytes: int
    auto_mode: str | None  # what `offload auto` picks; None: nothing fits


@dataclass(frozen=True)
class GpuMemory:
    """What `models memory` and the UI show before a run."""

    size: tuple[int, int]
    seconds: float
    dtype: str
    source: str  # whose sizes: Architecture.source
    estimates: tuple[MemoryEstimate, ...]
    gpu: GpuCard | None

    def to_dict(self) -> dict[str, object]:
        gpu = self.gpu
        return {"width": self.size[0], "height": self.size[1], "seconds": self.seconds,
                "dtype": self.dtype, "sizes": self.source, "estimates": [e.to_dict() for e in self.estimates],
                "gpu": None if gpu is None else {
                    "name": gpu.name, "free_bytes": gpu.free_bytes,
                    "total_bytes": gpu.total_bytes, "auto_offload": gpu.auto_mode}}

    def lines(self) -> list[str]:
        width, height = self.size
        lines = [(f"Estimated peak GPU memory for {self.seconds:g} s at {width}x{height} "
                  f"({self.dtype}), {self.source}:")]
        lines += [f"  offload {e.mode:<10} about {e.total / GIB:5.1f} GB  (peak while "
                  f"{e.stage}: weights {e.weights / GIB:.1f} GB, clip-long tensors "
                  f"{e.held / GIB:.1f} GB, working set {e.working / GIB:.1f} GB)"
                  for e in self.estimates]
        if self.gpu is None:
            lines.append("This machine has no CUDA GPU: generations run on the CPU.")
        else:
            pick = (f"offload auto picks {self.gpu.auto_mode}" if self.gpu.auto_mode else
                    "nothing fits: use a lower resolution or a shorter clip")
            lines.append(f"{self.gpu.name}: {self.gpu.free_bytes / GIB:.1f} GB free of "
                         f"{self.gpu.total_bytes / GIB:.1f} GB; {pick}.")
        return lines


def held_bytes(arch: Architecture, shapes: Shapes) -> int:
    """The tensors kept on the GPU for the whole clip, from their shapes (pipeline.Conditioned
    and the denoising loop): latents, the loop's running sum and its result, the reference
    latents per frame for the 3 guidance rows, CLIP and audio tokens per frame and row, the audio
    adapters' float32 tokens, and whisper's features (fixed 30 s chunks plus per-second
    prompts)."""
    frames, size = shapes.frames, torch.tensor([], dtype=shapes.dtype).element_size()
    latent = 4 * shapes.latent_h * shapes.latent_w
    width, tokens = arch.unet["cross_attention_dim"], arch.audio_tokens
    d_model = arch.whisper["d_model"]
    layers = arch.whisper["encoder_layers"] + 1
    chunks = max(1, math.ceil(shapes.seconds / WHISPER_CHUNK_S))
    per_frame = (latent * (3 + GUIDANCE_ROWS) + GUIDANCE_ROWS * width * (tokens + 1)) * size \
        + 2 * tokens * width * 4
    whisper = chunks * (80 * 3000 + 1500 * layers * d_model) * 4 \
        + shapes.seconds * (55 * layers + 75) * d_model * 4
    return int(frames * per_frame + whisper)


@lru_cache(maxsize=32)
def _stage_costs(arch_key: str, shapes: Shapes) -> dict[str, StageCost]:
    arch = Architecture(**json.loads(arch_key))
    models = _build(arch, shapes.dtype)
    if not shapes.interpolate:
        del models["rife"]
    meta = torch.device("meta")
    h, w, dtype = shapes.latent_h, shapes.latent_w, shapes.dtype
    window = min(shapes.frames, WINDOW_FRAMES)
    width, tokens = arch.unet["cross_attention_dim"], arch.audio_tokens

    def unet() -> None:
        rows = GUIDANCE_ROWS * window
        models["unet"](torch.zeros(GUIDANCE_ROWS, window, 8, h, w, device=meta, dtype=dtype),
                       torch.ones(1, device=meta),
                       torch.zeros(rows, 1, width, device=meta, dtype=dtype),
                       torch.zeros(rows, tokens, width, device=meta, dtype=dtype),
                       torch.zeros(GUIDANCE_ROWS, 3, device=meta),
                       torch.ones(1, 1, h * 8, w * 8, device=meta))

    chunk = min(shapes.decode_chunk, shapes.frames)

    def vae() -> None:
        latents = torch.zeros(chunk, 4, h, w, device=meta, dtype=dtype)
        frames = models["vae"].decode(latents, num_frames=chunk).sample
        if models.get("rife") is not None:
            from .rife import interleave

            unit = frames.float()
            del frames
            interleave(torch.cat((unit[:1], unit)), models["rife"])

    def clip() -> None:
        models["image_encoder"](torch.zeros(1, 3, 224, 224, device=meta, dtype=dtype))

    def whisper() -> None:
        models["whisper"](torch.zeros(1, 80, 3000, device=meta), output_hidden_states=True)

    decode = ["vae", "rife"] if models.get("rife") is not None else ["vae"]
    plan = {"encoding the portrait": (["image_encoder"], clip),
            "reading the speech": (["whisper"], whisper),
            "denoising": (["unet"], unet),
            "decoding": (decode, vae)}
    costs = {stage: StageCost({name: weight_bytes(models[name]) for name in names},
                              working_set(run))
             for stage, (names, run) in plan.items()}
    costs["denoising (one layer at a time)"] = StageCost(
        {"unet": largest_visit(models["unet"])}, costs["denoising"].working)
    costs["resident"] = StageCost(
        {name: weight_bytes(models[name]) for name in ("unet", "vae", "rife", "audio2token",
                                                        "audio2bucket") if name in models}, 0)
    return costs


def _build(arch: Architecture, dtype: torch.dtype) -> dict[str, nn.Module]:
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
        WhisperConfig,
        WhisperModel,
    )

    from .audio_adapters import Audio2Bucket, Audio2Token
    from .rife import IFNet
    from .unet import SonicUNet

    with torch.device("meta"):
        models: dict[str, nn.Module] = {
            "unet": SonicUNet.from_unet_config(arch.unet, arch.audio_tokens, device="meta"),
            "vae": AutoencoderKLTemporalDecoder.from_config(arch.vae),
            "image_encoder": CLIPVisionModelWithProjection(CLIPVisionConfig(**arch.clip)),
            "whisper": WhisperModel(WhisperConfig(**arch.whisper)).encoder,
            "audio2token": Audio2Token(**arch.audio2token),
            "audio2bucket": Audio2Bucket(**arch.audio2bucket),
            "rife": IFNet()}
    for name, module in models.items():  # legacy constructors (torch.Tensor([...])) ignore
        big = name in ("unet", "vae", "image_encoder")  # the device context
        nn.Module.to(module, device="meta", dtype=dtype if big else torch.float32)
    return {name: module.eval() for name, module in models.items()}


def estimate(arch: Architecture, shapes: Shapes, mode: str) -> MemoryEstimate:
    """The peak over the generation's stages for offload `mode` (offload.py says where each
    model rests): `none` keeps the UNet, VAE, adapters and RIFE on the GPU throughout, the others
    bring each model only for its own stage, `sequential` the UNet one layer at a time."""
    if mode not in MODES:
        raise ValueError(f"offload mode must be one of {MODES}, got {mode!r}")
    # the forwards see at most a window and a decode chunk of frames: a longer clip costs the
    # same there, so each generation's length does not build and count the models again
    longest = max(WINDOW_FRAMES, shapes.decode_chunk) / GENERATED_FPS
    costs = _stage_costs(arch.key(), replace(shapes, seconds=min(shapes.seconds, longest)))
    resident = costs["resident"].weights if mode == "none" else {}
    held = held_bytes(arch, shapes)
    peaks = []
    for stage in ("encoding the portrait", "reading the speech", "denoising", "decoding"):
        cost = costs[stage]
        if stage == "denoising" and mode == "sequential":
            cost = costs["denoising (one layer at a time)"]
        on_gpu = {**resident, **cost.weights}
        clip_long = held if stage in ("denoising", "decoding") else 0
        peaks.append(MemoryEstimate(mode, stage, sum(on_gpu.values()), clip_long, cost.working))
    return max(peaks, key=lambda p: p.allocated)


def estimates(arch: Architecture, shapes: Shapes) -> list[MemoryEstimate]:
    return [estimate(arch, shapes, mode) for mode in MODES]


def fitting_mode(candidates: Iterable[MemoryEstimate], card_bytes: int) -> MemoryEstimate | None:
    """The first mode (least offload, fastest) whose estimate fits a card of `card_bytes`."""
    return next((e for e in candidates if e.total <= card_bytes), None)


def choose_offload(candidates: list[MemoryEstimate], asked: str, free_bytes: int,
                   card_bytes: int) -> str:
    """The offload mode to run with. `auto` takes the least offload whose estimate fits the
    memory free for us; an explicit mode is refused only when its peak exceeds the whole card
    (certain to fail), since the estimate carries a margin. Raised before any weight loads."""
    from ..errors import OutOfMemory

    fit = fitting_mode(candidates, free_bytes)
    if asked == "auto":
        if fit is None:
            raise OutOfMemory(f"this generation needs {candidates[-1].describe()}, and the GPU "
                              f"has {free_bytes / GIB:.1f} GB free",
                              hint="use a lower --min-resolution or a shorter clip, or free "
                                   "the GPU of other work")
        return fit.mode
    chosen = next(e for e in candidates if e.mode == asked)
    if chosen.allocated > card_bytes:
        better = f": it picks {fit.mode}, {fit.describe()}" if fit else ""
        raise OutOfMemory(f"offload {asked} needs about {chosen.total / GIB:.1f} GB (peak while "
                          f"{chosen.stage}), more than this GPU's {card_bytes / GIB:.1f} GB",
                          hint=f"use --offload auto{better}")
    return asked


def cuda_budget() -> tuple[int, int]:
    """(free for this process, the card's total): what is free plus what our own allocator holds
    (the stage drops loaded models before it loads another set)."""
    free, total = torch.cuda.mem_get_info()
    return free + torch.cuda.memory_reserved(), total
