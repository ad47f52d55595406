"""An unoptimised forward pass in the SOF-VSR authors' execution style.

It runs on the parameters of a :class:`sofkd_lib.archs.sofvsr_arch.SOFVSR` (so both paths
hold the very same weights) but executes them the way the authors' public code
does:

* every warp builds its identity sampling grid in NumPy (float64, tiled over the
  batch) and copies it to a tensor, on every call;
* motion compensation warps each of the s² sub-flows of every neighbour in its
  own ``grid_sample`` call;
* the ResBlock concatenates the halves, then shuffles channels with
  ``permute(...).contiguous()`` (two full copies per block);
* the level-1 input concatenates a freshly allocated zero flow.

It is the baseline of the benchmarks (``bench/``) and the ground truth of the
equality tests guarding the plain network (:mod:`sofkd_lib.archs.sofvsr_arch`) and its
fast execution (:mod:`sofkd_lib.ops.cpu_execution`). It is written with
functional calls so that later changes to the modules' ``forward`` cannot leak in.
Gradients flow to the model's parameters, so it can also be trained.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sofkd_lib.archs.sofvsr_arch import SOFVSR, FlowPyramid, SOFVSROutput, check_lr_shape
from sofkd_lib.archs.warp import FLOW_SCALE_NUMERATOR

_SLOPE = 0.1


def _weight(conv: nn.Conv2d) -> torch.Tensor:
    # Default (NCHW) layout whatever the module was converted to, so that the
    # reference never benefits from channels_last weights.
    return conv.weight.contiguous()


def _conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    bias = None if conv.bias is None else conv.bias.contiguous()
    return F.conv2d(x, _weight(conv), bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _SLOPE, inplace=True)


def reference_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp with the grid rebuilt in NumPy on every call (authors' style).

    Same maths as :func:`sofkd_lib.archs.warp.flow_warp`: offset = flow · 31 / (size − 1)
    on an align_corners=True grid, bilinear, border padding.
    """
    b, _, h, w = image.shape
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    grid = np.stack((cols, rows), axis=0).astype(np.float64)  # (2, h, w): x then y
    grid[0] = grid[0] * 2.0 / (w - 1) - 1.0
    grid[1] = grid[1] * 2.0 / (h - 1) - 1.0
    grid = torch.from_numpy(np.tile(grid, (b, 1, 1, 1))).to(device=flow.device, dtype=flow.dtype)
    offset_x = (flow[:, 0] * FLOW_SCALE_NUMERATOR / (w - 1)).unsqueeze(1)
    offset_y = (flow[:, 1] * FLOW_SCALE_NUMERATOR / (h - 1)).unsqueeze(1)
    grid = grid + torch.cat((offset_x, offset_y), 1)
    grid = grid.transpose(1, 2).transpose(3, 2)  # (b, h, w, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).contiguous()
    return x.view(b, c, h, w)


def _resblock(x: torch.Tensor, block: nn.Module) -> torch.Tensor:
    conv_in, _, depthwise, conv_out, _ = block.body
    half = x.shape[1] // 2
    y = _lrelu(_conv(x[:, half:], conv_in))
    y = _lrelu(_conv(_conv(y, depthwise), conv_out))
    return _channel_shuffle(torch.cat((x[:, :half], y), 1), 2)


def _run(x: torch.Tensor, layers: nn.Sequential) -> torch.Tensor:
    """Apply a Sequential of Conv2d / LeakyReLU / PixelShuffle / CascadedResBlocks functionally."""
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            x = _conv(x, layer)
        elif isinstance(layer, nn.LeakyReLU):
            x = _lrelu(x)
        elif isinstance(layer, nn.PixelShuffle):
            x = F.pixel_shuffle(x, layer.upscale_factor)
        elif hasattr(layer, "body") and isinstance(layer.body, nn.Sequential):  # CascadedResBlocks
            for block in layer.body:
                x = _resblock(x, block)
        else:
            raise TypeError(f"reference: unexpected layer {type(layer).__name__}")
    return x


def _ofr(model: SOFVSR, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    net = model.ofrnet
    scale = model.scale
    pooled = F.avg_pool2d(pair, 2)
    b, _, h, w = pooled.shape
    zeros = torch.zeros(b, 2, h, w, dtype=pair.dtype, device=pair.device)
    flow1 = _run(_run(torch.cat((pooled, zeros), 1), net.recurrent_features), net.recurrent_flow)
    flow1_up = F.interpolate(flow1, scale_factor=2, mode="bilinear", align_corners=False) * 2
    warped = reference_warp(pair[:, 0].unsqueeze(1), flow1_up)
    inp = torch.cat((warped, pair[:, 1].unsqueeze(1), flow1_up), 1)
    flow2 = _run(_run(inp, net.recurrent_features), net.recurrent_flow) + flow1_up
    warped = reference_warp(pair[:, 0].unsqueeze(1), flow2)
    inp = torch.cat((warped, pair[:, 1].unsqueeze(1), flow2), 1)
    flow3 = _run(_run(inp, net.recurrent_features), net.upsampler) + F.interpolate(
        flow2, scale_factor=scale, mode="bilinear", align_corners=False
    ) * scale
    return flow1, flow2, flow3


def reference_forward(model: SOFVSR, lr: torch.Tensor, with_flows: bool = False) -> torch.Tensor | SOFVSROutput:
    """SR of the centre frame of ``lr`` (B, T, 1, h, w), computed the authors' way.

    Returns the SR (B, 1, s·h, s·w), or a :class:`SOFVSROutput` with the flow
    pyramid (each level (B, T−1, 2, h_l, w_l)) when ``with_flows`` is true.
    """
    if not isinstance(model, SOFVSR):
        raise TypeError(f"reference_forward expects a SOFVSR model, got {type(model).__name__}")
    check_lr_shape(lr, model.n_frames)
    lr = lr.contiguous()
    b, t, _, h, w = lr.shape
    s = model.scale
    centre = t // 2
    pairs = [torch.cat((lr[:, i], lr[:, centre]), 1) for i in range(t) if i != centre]
    flow1, flow2, flow3 = _ofr(model, torch.cat(pairs, 0))
    # Neighbour-major batch → one (B, 2, h_l, w_l) tensor per neighbour.
    flow1 = flow1.view(-1, b, 2, h // 2, w // 2)
    flow2 = flow2.view(-1, b, 2, h, w)
    flow3 = flow3.view(-1, b, 2, h * s, w * s)
    draft = [lr[:, centre]]
    k = 0
    for i in range(t):
        if i == centre:
            continue
        for row in range(s):
            for col in range(s):
                draft.append(reference_warp(lr[:, i], flow3[k, :, :, row::s, col::s] / s))
        k += 1
    sr = _run(torch.cat(draft, 1), model.srnet.body)
    if not with_flows:
        return sr
    flows = FlowPyramid(*(f.transpose(0, 1) for f in (flow1, flow2, flow3)))
    return SOFVSROutput(sr, flows)


class ReferenceStep(nn.Module):
    """The trainer's step module (:class:`sofkd_lib.engine.train.StudentStep`) run the authors' way.

    ``forward(lr)`` returns the SR and the flow pyramid of :func:`reference_forward`, so
    :func:`sofkd_lib.engine.train.variant_losses` computes a whole-model variant's losses on it
    (teacher, no-KD student) exactly as on the optimised model. Phase-1 flows are not
    accepted: the reference always estimates its own.
    """

    def __init__(self, model: SOFVSR):
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, flows: FlowPyramid | None = None) -> SOFVSROutput:
        if flows is not None:
            raise ValueError("ReferenceStep runs whole-model variants only; it does not take given flows")
        out = reference_forward(self.model, lr, with_flows=True)
        assert isinstance(out, SOFVSROutput)
        return out
