"""RIFE IFNet (HDv3) frame interpolation: network, checkpoint loader, streaming 2× interpolation.

Sonic generates 12.5 fps video and doubles it with RIFE: between every pair of decoded frames it
inserts the IFNet middle frame, giving 2N−1 frames at 25 fps. Our own implementation; parameter
names and order equal the official `flownet.pkl` (minus its `module.` prefix) so it loads as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_strict, read_state_dict

SCALE_LIST: tuple[float, ...] = (4.0, 2.0, 1.0)
SIZE_MULTIPLE = 64  # coarsest scale 4 × the block's two stride-2 convolutions × 4 (see IFBlock)
_MODULE_PREFIX = "module."


def _conv_prelu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.PReLU(out_channels))


def _upsampling_head(channels: int, out_channels: int) -> nn.Sequential:
    """Two stride-2 transposed convolutions: back from 1/4 to the block's working resolution."""
    half = channels // 2
    return nn.Sequential(nn.ConvTranspose2d(channels, half, 4, 2, 1), nn.PReLU(half),
                         nn.ConvTranspose2d(half, out_channels, 4, 2, 1))


class IFBlock(nn.Module):
    """One coarse-to-fine stage: predicts a flow update (4 ch: both directions) and a mask logit.

    It works at 1/`scale` of the frame size, and internally at a further 1/4.
    """

    def __init__(self, in_channels: int, channels: int = 90) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_prelu(in_channels, channels // 2, stride=2),
                                   _conv_prelu(channels // 2, channels, stride=2))
        for index in range(4):
            self.add_module(f"convblock{index}", nn.Sequential(_conv_prelu(channels, channels),
                                                               _conv_prelu(channels, channels)))
        self.conv1 = _upsampling_head(channels, 4)
        self.conv2 = _upsampling_head(channels, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resize(x, 1.0 / scale)
        flow = _resize(flow, 1.0 / scale) / scale  # flow is in pixels, so it scales with the size
        feat = self.conv0(torch.cat((x, flow), 1))
        for index in range(4):
            feat = getattr(self, f"convblock{index}")(feat) + feat
        return _resize(self.conv1(feat), scale) * scale, _resize(self.conv2(feat), scale)


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False,
                         recompute_scale_factor=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp `image` (B,C,H,W) by a pixel flow (B,2,H,W); edges repeat (border padding)."""
    _, _, height, width = flow.shape
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device, dtype=flow.dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device, dtype=flow.dtype)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H,W,2) as (x, y)
    normalised = torch.cat((flow[:, 0:1] / ((image.shape[3] - 1.0) / 2.0),
                            flow[:, 1:2] / ((image.shape[2] - 1.0) / 2.0)), 1)
    grid = base + normalised.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _swap_directions(flow: torch.Tensor) -> torch.Tensor:
    return torch.cat((flow[:, 2:4], flow[:, 0:2]), 1)


class IFNet(nn.Module):
    """RIFE HDv3 flow network: three IFBlocks refine a bidirectional flow and a blend mask.

    `block_tea` (the training-time teacher) is never run but is part of the checkpoint.
    """

    def __init__(self) -> None:
        super().__init__()
        self.block0 = IFBlock(7 + 4, channels=90)
        self.block1 = IFBlock(7 + 4, channels=90)
        self.block2 = IFBlock(7 + 4, channels=90)
        self.block_tea = IFBlock(10 + 4, channels=90)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor,
                scale_list: Sequence[float] = SCALE_LIST) -> torch.Tensor:
        """Middle frame of (B,3,H,W) pairs in [0,1]; H and W multiples of 64; not clamped.

        Each block runs twice, once per direction with the mask negated and the flow halves
        swapped, and the two estimates are averaged (symmetric refinement).
        """
        batch, _, height, width = img0.shape
        flow = img0.new_zeros(batch, 4, height, width)
        mask = img0.new_zeros(batch, 1, height, width)
        warped0, warped1 = img0, img1
        for block, scale in zip((self.block0, self.block1, self.block2), scale_list, strict=True):
            flow_a, mask_a = block(torch.cat((warped0, warped1, mask), 1), flow, scale)
            flow_b, mask_b = block(torch.cat((warped1, warped0, -mask), 1),
                                   _swap_directions(flow), scale)
            flow = flow + (flow_a + _swap_directions(flow_b)) / 2
            mask = mask + (mask_a - mask_b) / 2
            warped0 = warp(img0, flow[:, 0:2])
            warped1 = warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)


def load_ifnet(path: str | Path, *, device: torch.device | str,
               dtype: torch.dtype = torch.float32) -> IFNet:
    """Load IFNet weights from the official `flownet.pkl` or a `.safetensors` file.

    Keys carrying the DataParallel `module.` prefix (the official file) are kept and stripped,
    the others dropped, like the official loader; a file without the prefix is used as is.
    Half-precision files are upcast on load. Official RIFE runs in float32.
    """
    path = Path(path)
    with torch.device("meta"):
        net = IFNet()
    load_strict(net, path, "RIFE IFNet HDv3", hint="use RIFE/flownet.pkl from the Sonic release",
                state=_strip_module_prefix(read_state_dict(path, "RIFE")))
    return net.to(device=device, dtype=dtype).eval().requires_grad_(False)


def _strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not any(_MODULE_PREFIX in key for key in state):
        return dict(state)
    return {key.replace(_MODULE_PREFIX, ""): value for key, value in state.items()
            if _MODULE_PREFIX in key}


@torch.no_grad()
def interpolate_pairs(net: IFNet, first: torch.Tensor, second: torch.Tensor,
                      scale_list: Sequence[float] = SCALE_LIST) -> torch.Tensor:
    """Middle frames of (B,3,H,W) pairs in [0,1], clamped to [0,1].

    Sizes that are not multiples of 64 are zero-padded on the right and bottom and the result
    cropped back (as Practical-RIFE does); Sonic's sizes are multiples of 64, so it never pads.
    """
    height, width = first.shape[-2:]
    pad_h, pad_w = -height % SIZE_MULTIPLE, -width % SIZE_MULTIPLE
    if pad_h or pad_w:
        first = F.pad(first, (0, pad_w, 0, pad_h))
        second = F.pad(second, (0, pad_w, 0, pad_h))
    middle = net(first, second, scale_list)[..., :height, :width]
    return middle.clamp(0, 1)


def interleave(frames: torch.Tensor, net: IFNet,
               scale_list: Sequence[float] = SCALE_LIST) -> torch.Tensor:
    """(N,3,H,W) frames in [0,1] → (2N−2,3,H,W): [f0, m0, f1, m1, …, f_{N−2}, m_{N−2}].

    The last frame is left out so a stream can carry it into the next chunk.
    """
    middles = interpolate_pairs(net, frames[:-1], frames[1:], scale_list)
    return torch.stack((frames[:-1], middles), dim=1).flatten(0, 1)


def decoded_to_unit(frames: torch.Tensor, *, device: torch.device | str,
                    dtype: torch.dtype) -> torch.Tensor:
    """Raw VAE output (≈[-1,1]) → [0,1], mapped in float32 as the official code does."""
    unit = (frames.to(device=device, dtype=torch.float32) * 0.5 + 0.5).clamp(0, 1)
    return unit.to(dtype)


def interpolate_stream(net: IFNet, decoded_chunks: Iterable[torch.Tensor],
                       scale_list: Sequence[float] = SCALE_LIST) -> Iterator[torch.Tensor]:
    """Double the frame rate of a video that arrives in decoded chunks.

    `decoded_chunks` yields raw VAE frames (n,3,H,W) in order (e.g. `vae.decode_chunks`). Yields
    (k,3,H,W) tensors on the network's device and dtype whose concatenation is
    [v0, m0, v1, m1, …, v_{N−1}] (2N−1 frames), v = (decoded·0.5+0.5).clamp(0,1) and m the
    clamped IFNet middle frames. The last frame of each chunk is held back and paired with the
    first of the next, so only one chunk (plus one frame) is on the device at a time.
    """
    parameter = next(net.parameters())
    carried: torch.Tensor | None = None
    for chunk in decoded_chunks:
        frames = decoded_to_unit(chunk, device=parameter.device, dtype=parameter.dtype)
        if carried is not None:
            frames = torch.cat((carried, frames))
        if frames.shape[0] > 1:
            yield interleave(frames, net, scale_list)
        carried = frames[-1:]
    if carried is not None:
        yield carried
