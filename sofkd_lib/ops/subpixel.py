"""CPU fast path for the sub-pixel heads and the few-output 3x3 convolutions.

Both OFRnet's flow head and SRnet's output head end in ``[1x1 conv → PixelShuffle
→ LeakyReLU] × stages → 3x3 conv to 1 or 2 channels`` (OFRnet's recurrent flow
conv is the same with no stage). On CPU two parts of them cost far more than
their arithmetic (``bench/README.md``):

* ``pixel_shuffle`` of channels_last activations and its backward
  ``pixel_unshuffle`` move every float of the HR activation on its own (the
  sub-pixel index is the fastest-varying part of PyTorch's channel order);
* oneDNN runs a 3x3 conv with one or two output channels at ~15 GFLOP/s.

What is done instead, computing the same function:

* A 1x1 conv and a LeakyReLU act on every pixel alone, so they do not need the
  pixels in image order. The 1x1 conv before each PixelShuffle gets its weight
  rows permuted at run time (output channel ``(i, j, c)`` instead of
  ``(c, i, j)``; the parameter itself is unchanged), so the ``f²`` sub-pixels of
  one input pixel come out as consecutive rows of ``c`` channels. The activation
  stays in this *blocked* pixel order (LR pixel, then sub-pixel offsets of each
  stage) and is never shuffled.
* The final 3x3 conv becomes one matrix product giving, for every pixel, its
  contribution to each of the 9 taps × ``cout`` outputs ("tap planes"), then a
  shift-and-add of the planes. Only these small planes (9·cout values per HR
  pixel instead of 64) are brought from blocked to image order.

The plain modules stay the source of truth (same parameters, same state dict,
used by ONNX export, ``torch.compile`` and every non-CPU device); the tests hold
this path to them within float rounding.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from sofkd_lib.ops.fused import conv_leaky_relu
from sofkd_lib.ops.weight_order import reorder

# Above this many outputs the 3x3 conv is compute-bound and oneDNN runs it well.
MAX_FEW_OUTPUTS = 4


@functools.lru_cache(maxsize=16)
def subpixel_row_order(channels: int, factor: int) -> tuple[int, ...]:
    """Permutation that reorders a pre-PixelShuffle conv's output channels from ``(c, i, j)`` to ``(i, j, c)``.

    ``weight[order]`` puts the output channel PixelShuffle sends to sub-pixel
    ``(i, j)`` of channel ``c`` at position ``(i·f + j)·channels + c``.
    """
    return tuple(torch.arange(channels * factor * factor).view(channels, factor * factor).t().reshape(-1).tolist())


def _image_permutation(n_stages: int) -> list[int]:
    """Dims of (n, h, w, i1, j1, …, ik, jk, K) reordered to (n, h, i1, …, ik, w, j1, …, jk, K)."""
    rows = [3 + 2 * s for s in range(n_stages)]
    cols = [4 + 2 * s for s in range(n_stages)]
    return [0, 1, *rows, 2, *cols, 3 + 2 * n_stages]


def _blocked_to_image(values: torch.Tensor, n: int, h: int, w: int, factors: Sequence[int]) -> torch.Tensor:
    """(M, K) per-pixel values in blocked pixel order → (M, K) contiguous in image order.

    The innermost run copied is (last column offset, K): 2·K floats for a x2 stage,
    not single floats as a pixel shuffle of channels_last data moves.
    """
    if not factors:
        return values
    k = values.shape[1]
    dims = [n, h, w]
    for f in factors:
        dims += [f, f]
    return values.view(*dims, k).permute(_image_permutation(len(factors))).reshape(-1, k)


def _image_to_blocked(values: torch.Tensor, n: int, h: int, w: int, factors: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`_blocked_to_image`."""
    if not factors:
        return values
    k = values.shape[1]
    perm = _image_permutation(len(factors))
    inverse = [perm.index(d) for d in range(len(perm))]
    return values.view(n, h, *factors, w, *factors, k).permute(inverse).reshape(-1, k)


def _tap_ranges(dy: int, size: int) -> tuple[slice, slice]:
    """(output slice, input slice) along one axis for a tap offset ``dy`` in {-1, 0, 1}, zero padding."""
    return slice(max(0, -dy), size - max(0, dy)), slice(max(0, dy), size - max(0, -dy))


class _TapConv3x3(torch.autograd.Function):
    """3x3 conv (stride 1, zero padding 1, no bias) of pixels given as rows, few outputs.

    ``rows`` (M, cin) holds the input pixels in blocked order (see module doc),
    ``weight`` (cout, cin, 3, 3). Returns (n, cout, H, W) contiguous NCHW.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor, weight: torch.Tensor, n: int, h: int, w: int,  # type: ignore[override]
                factors: tuple[int, ...]) -> torch.Tensor:
        cout, cin = weight.shape[:2]
        scale = math.prod(factors)
        height, width = h * scale, w * scale
        taps = weight.permute(2, 3, 0, 1).reshape(9 * cout, cin)  # row = tap·cout + o
        # (M, 9·cout) per pixel → image order → per image, one plane per (tap, output):
        # (n, 9, cout, H, W). Transposing image by image keeps each copy in cache.
        per_pixel = _blocked_to_image(torch.mm(rows, taps.t()), n, h, w, factors)
        planes = per_pixel.view(n, height, width, 9 * cout).permute(0, 3, 1, 2).contiguous()
        planes = planes.view(n, 9, cout, height, width)
        out = planes[:, 4].clone()
        for t in range(9):
            if t == 4:
                continue
            oy, iy = _tap_ranges(t // 3 - 1, height)
            ox, ix = _tap_ranges(t % 3 - 1, width)
            out[:, :, oy, ox] += planes[:, t, :, iy, ix]
        ctx.save_for_backward(rows, taps)
        ctx.geometry = (n, h, w, factors, cout, cin)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rows, taps = ctx.saved_tensors
        n, h, w, factors, cout, cin = ctx.geometry
        height, width = grad.shape[-2:]
        grad_planes = grad.new_zeros(n, 9, cout, height, width)
        for t in range(9):
            oy, iy = _tap_ranges(t // 3 - 1, height)
            ox, ix = _tap_ranges(t % 3 - 1, width)
            grad_planes[:, t, :, iy, ix] = grad[:, :, oy, ox]
        per_pixel = grad_planes.view(n, 9 * cout, height, width).permute(0, 2, 3, 1).reshape(-1, 9 * cout)
        blocked = _image_to_blocked(per_pixel, n, h, w, factors)  # (M, 9·cout)
        grad_rows = torch.mm(blocked, taps) if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = torch.mm(blocked.t(), rows).view(3, 3, cout, cin).permute(2, 3, 0, 1)
        return grad_rows, grad_weight, None, None, None, None


def _is_few_output_conv3x3(layer: nn.Module) -> bool:
    return (isinstance(layer, nn.Conv2d) and layer.kernel_size == (3, 3) and layer.padding == (1, 1)
            and layer.stride == (1, 1) and layer.dilation == (1, 1) and layer.groups == 1
            and layer.padding_mode == "zeros" and layer.out_channels <= MAX_FEW_OUTPUTS)


def _is_subpixel_stage(conv: nn.Module, shuffle: nn.Module, act: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.groups == 1
            and conv.bias is None and isinstance(shuffle, nn.PixelShuffle) and isinstance(act, nn.LeakyReLU))


def head_start(layers: Sequence[nn.Module]) -> int | None:
    """Index where a trailing ``[1x1 conv, PixelShuffle, LeakyReLU]* + few-output 3x3 conv`` head begins.

    None when ``layers`` does not end in such a head.
    """
    if not layers or not _is_few_output_conv3x3(layers[-1]):
        return None
    start = len(layers) - 1
    while start >= 3 and _is_subpixel_stage(*layers[start - 3 : start]):
        start -= 3
    return start


def run_head(head: Sequence[nn.Module], x: torch.Tensor,
             input_logical_at: Sequence[int] | None = None) -> torch.Tensor:
    """Apply a head found by :func:`head_start` to ``x`` (n, C, h, w) in blocked order.

    ``input_logical_at[q]`` is the logical channel stored at input position ``q``
    when ``x`` comes with its channels permuted (a ResBlock chain's output, see
    :mod:`sofkd_lib.ops.resblock_chain`); the first conv's input columns absorb it.
    Returns (n, cout, H, W), equal to running the layers one by one.
    """
    n, _, h, w = x.shape
    columns = None if input_logical_at is None else tuple(input_logical_at)
    act = x.contiguous(memory_format=torch.channels_last)
    factors: list[int] = []
    for i in range(0, len(head) - 1, 3):
        conv, _, relu = head[i : i + 3]
        f = head[i + 1].upscale_factor
        c = conv.out_channels // (f * f)
        weight = reorder(conv.weight, 0, subpixel_row_order(c, f))
        if columns is not None:
            weight, columns = reorder(weight, 1, columns), None
        # The blocked rows seen as a channels_last (n, c, h, w·P) image: a 1x1 conv ignores where pixels are.
        # Read only by the next stage's conv or the tap conv, whose backward makes a fresh gradient.
        act = conv_leaky_relu(act, weight, relu.negative_slope, reuse_grad=True)
        act = act.contiguous(memory_format=torch.channels_last)
        factors.append(f)
        act = act.permute(0, 2, 3, 1).reshape(n, h, -1, c).permute(0, 3, 1, 2)  # a view: (n, c, h, w·P·f²)
    final = head[-1]
    weight = final.weight if columns is None else reorder(final.weight, 1, columns)
    rows = act.permute(0, 2, 3, 1).reshape(-1, final.in_channels)
    out = _TapConv3x3.apply(rows, weight, n, h, w, tuple(factors))
    if final.bias is not None:
        out = out + final.bias.view(1, -1, 1, 1)
    return out
