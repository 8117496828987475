"""A cancel is honoured inside a UNet call, not only between calls.

The denoising loop checks its cancel token before each window, but one window is one UNet call:
at 1024 px on a CPU or a small card that is half a minute or more. While a generation runs, the
token is also checked before every residual block of the UNet (22 in SVD-xt: 8 down, 2 mid,
12 up), so a cancel takes effect within about a twentieth of a call. The check raises
`Cancelled` out of the call; the half-finished window is dropped with the rest of the job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from ..progress import CancelToken

# the residual blocks of diffusers' UNetSpatioTemporalConditionModel, by their module names
_RESIDUAL_BLOCK = re.compile(r"(?:^|\.)(?:(?:down|up)_blocks\.\d+|mid_block)\.resnets\.\d+$")


@contextmanager
def cancel_points(unet: nn.Module, cancel: CancelToken | None) -> Iterator[int]:
    """While inside, every residual block of `unet` checks `cancel` before it runs; yields how
    many blocks check."""
    if cancel is None:
        yield 0
        return

    def check(_module: nn.Module, _inputs: Any) -> None:
        cancel.raise_if_cancelled()

    handles = [module.register_forward_pre_hook(check)
               for name, module in unet.named_modules() if _RESIDUAL_BLOCK.search(name)]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
