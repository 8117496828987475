"""A cancel pressed while a UNet call runs stops that call at its next residual block."""

from __future__ import annotations

import pytest
import torch

from sonic_ext.progress import Cancelled, CancelToken
from sonic_ext.sonic.cancel_points import cancel_points
from tests.sonic.test_offload import _tiny_unet, _unet_inputs


def test_a_cancel_during_a_unet_call_stops_it_before_the_next_block() -> None:
    # the loop checked only between windows: one window at 1024 px ran 30 s+ after a cancel
    unet = _tiny_unet()
    cancel = CancelToken()
    up_blocks_run = []
    unet.down_blocks[0].resnets[0].register_forward_hook(  # the user presses cancel here
        lambda *_: cancel.cancel("cancelled in the middle of a window"))
    unet.up_blocks[-1].resnets[-1].register_forward_pre_hook(lambda *_: up_blocks_run.append(1))
    with cancel_points(unet, cancel) as points, torch.inference_mode():
        assert points == sum(len(b.resnets) for b in [*unet.down_blocks, *unet.up_blocks,
                                                          unet.mid_block])
        with pytest.raises(Cancelled, match="in the middle of a window"):
            unet(*_unet_inputs(torch.device("cpu")))
    assert up_blocks_run == []
    with cancel_points(unet, None) as points, torch.inference_mode():  # no token: no checks
        assert points == 0
        unet(*_unet_inputs(torch.device("cpu")))
    assert up_blocks_run == [1]  # the hooks are gone once the generation ends
    assert all(not resnet._forward_pre_hooks for resnet in unet.down_blocks[1].resnets)
