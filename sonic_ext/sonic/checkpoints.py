"""Reading checkpoint files safely and checking them strictly, for every trained component.

A wrong, truncated or foreign checkpoint must never run with random weights: every load is
strict, and the error names the file and the offending keys so a user can tell a partial
download from a wrong file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import ModelsMissing

_SHOWN = 10


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a `.safetensors` file or a torch pickle (`.pth`, `.pkl`), on the CPU.

    Pickles are read with `weights_only=True`, so loading runs no code from the file, and are
    memory-mapped when they are zip archives, so a 6 GB checkpoint is not copied into RAM first.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelsMissing(f"{path}: {what} checkpoint not found")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            # torch.serialization.load is torch.load; A1111 replaces only the latter with a
            # checker that refuses current torch's archives (".format_version")
            state = torch.serialization.load(path, map_location="cpu", weights_only=True,
                                             mmap=zipfile.is_zipfile(path))
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError,
            SafetensorError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelsMissing(f"{path}: cannot be read as {what} weights: {first_line}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise ModelsMissing(f"{path}: is not a state dict of tensors")
    return dict(state)


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: Path,
                     what: str, hint: str | None = None) -> None:
    """Strict key and shape check whose error names the file and the offending keys."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items()}
    groups = {
        "missing keys": [key for key in expected if key not in found],
        "unexpected keys": [key for key in found if key not in expected],
        "wrong shapes": [f"{key} {found[key]} (expected {shape})"
                         for key, shape in expected.items() if key in found and found[key] != shape],
    }
    problems = [f"{label} ({len(items)}): {', '.join(items[:_SHOWN])}"
                f"{', ...' if len(items) > _SHOWN else ''}"
                for label, items in groups.items() if items]
    if problems:
        raise ModelsMissing(f"{source}: does not match the {what}: " + "; ".join(problems),
                            hint=hint)


def load_strict(model: nn.Module, path: str | Path, what: str, *, hint: str | None = None,
                state: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Fill a (meta-device) `model` with the file's tensors by assignment, after the check.

    Assignment means the random initialisation is never paid for and peak memory is one copy of
    the weights. `state` lets a caller pass tensors it has already rekeyed.
    """
    path = Path(path)
    state = read_state_dict(path, what) if state is None else state
    check_state_dict(model, state, path, what, hint)
    model.load_state_dict(state, strict=True, assign=True)
    return model
