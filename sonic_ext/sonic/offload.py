"""Where the models sit while a generation runs, so a smaller GPU can still run Sonic.

- `none`: the UNet, VAE, audio adapters and RIFE stay on the GPU; CLIP and whisper visit it
  only for their own stage (their features are needed once per video, the memory all along).
- `model`: every component stays in CPU memory and visits the GPU for its own stage.
- `sequential`: like `model`, and the UNet (1.5 B parameters) visits it one layer at a time.

A visit copies the weights to the GPU and, on leaving, points the parameters back at their CPU
originals: inference never changes weights, so nothing is copied back. The CPU originals are
pinned when the GPU is CUDA, which makes the copies asynchronous and about twice as fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)

MODES = ("none", "model", "sequential")


@dataclass(frozen=True)
class Residency:
    """The policy for one placement: the execution device and the offload mode."""

    device: torch.device
    mode: str = "none"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"offload mode must be one of {MODES}, got {self.mode!r}")

    @classmethod
    def for_device(cls, device: torch.device | str, mode: str) -> Residency:
        """Offload means nothing when the execution device is the CPU itself."""
        device = torch.device(device)
        if device.type == "cpu" and mode != "none":
            log.info("offload %r has no effect on the CPU; running without it", mode)
            mode = "none"
        return cls(device, mode)

    def home_of(self, component: str) -> torch.device:
        """Where `component` is loaded and rests between its stages."""
        if self.mode == "none" and component not in ("image_encoder", "whisper"):
            return self.device
        return torch.device("cpu")

    def prepare(self, modules: Iterable[nn.Module | None], unet: nn.Module) -> None:
        """After loading: pin the weights that rest in CPU memory; in `sequential` mode, hook
        the UNet's layers."""
        if self.device.type == "cuda":
            for module in modules:
                if module is not None and _same(_resting_device(module), torch.device("cpu")):
                    pin_resting_weights(module)
        if self.mode == "sequential":
            visit_layer_by_layer(unet, self.device)

    @contextmanager
    def stage(self, *modules: nn.Module | None) -> Iterator[None]:
        """Run a stage with `modules` on the execution device (layer-hooked ones excepted)."""
        visiting = [m for m in modules if m is not None and not _layer_hooked(m)
                    and not _same(_resting_device(m), self.device)]
        restore = [visit(m, self.device) for m in visiting]
        try:
            yield
        finally:
            for undo in restore:
                undo()
            if restore and self.device.type == "cuda":
                torch.cuda.empty_cache()


def visit(module: nn.Module, device: torch.device) -> Restore:
    """Copy `module`'s weights to `device`; the returned callable points them back."""
    return Restore([saved for owner in module.modules() for saved in _move_own(owner, device)])


class Restore:
    """Points moved weights back at their originals (once)."""

    def __init__(self, originals: list[tuple[nn.Module, str, torch.Tensor]]) -> None:
        self._originals = originals

    def __call__(self) -> None:
        for owner, name, original in self._originals:
            _set(owner, name, original)
        self._originals = []


def visit_layer_by_layer(module: nn.Module, device: torch.device) -> None:
    """Hook every submodule that owns weights so they visit `device` only during its forward.

    The UNet's forward asks `execution_device` rather than a weight where to put its inputs.
    """
    for owner in module.modules():
        if next(_own_tensors(owner), None) is None:
            continue
        pending: list[Restore] = []

        def arrive(layer: nn.Module, _args: object, pending: list[Restore] = pending) -> None:
            pending.append(Restore(_move_own(layer, device)))

        def leave(_layer: nn.Module, _args: object, _out: object,
                  pending: list[Restore] = pending) -> None:
            pending.pop()()

        owner.register_forward_pre_hook(arrive)
        owner.register_forward_hook(leave)
    module.execution_device = device
    module._sonic_layer_hooked = True


def pin_resting_weights(module: nn.Module) -> None:
    """Page-lock CPU weights so their copies to the GPU run asynchronously."""
    for owner in module.modules():
        for name, tensor in list(_own_tensors(owner)):
            if tensor.device.type == "cpu" and not tensor.is_pinned():
                _set(owner, name, tensor.pin_memory())


def _move_own(owner: nn.Module, device: torch.device
              ) -> list[tuple[nn.Module, str, torch.Tensor]]:
    """Move the tensors `owner` itself holds (not its children's); return the originals."""
    originals = []
    for name, tensor in list(_own_tensors(owner)):
        originals.append((owner, name, tensor))
        _set(owner, name, tensor.to(device, non_blocking=True))
    return originals


def _own_tensors(owner: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of the parameters and buffers `owner` holds itself."""
    for name, tensor in [*owner._parameters.items(), *owner._buffers.items()]:
        if tensor is not None:
            yield name, tensor


def _set(owner: nn.Module, name: str, value: torch.Tensor) -> None:
    """Put `value` in the slot; a plain tensor in a parameter slot becomes a frozen Parameter
    (the original Parameter object comes back on restore)."""
    if name in owner._parameters:
        if not isinstance(value, nn.Parameter):
            value = nn.Parameter(value, requires_grad=False)
        owner._parameters[name] = value
    else:
        owner._buffers[name] = value


def _layer_hooked(module: nn.Module) -> bool:
    return bool(getattr(module, "_sonic_layer_hooked", False))


def _resting_device(module: nn.Module) -> torch.device | None:
    first = next(module.parameters(), None)
    return None if first is None else first.device


def _same(a: torch.device | None, b: torch.device) -> bool:
    """`cuda` and `cuda:0` are the same device to us."""
    return a is not None and a.type == b.type and (a.index or 0) == (b.index or 0)
