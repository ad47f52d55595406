"""The CPU sub-pixel head path (sofkd_lib.ops.subpixel) computes what the plain layers compute."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sofkd_lib.archs.sofvsr_arch import _subpixel_upsampler
from sofkd_lib.ops.subpixel import _TapConv3x3, head_start, run_head, subpixel_row_order


def _head(in_channels: int, scale: int, cout: int, bias: bool) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(*_subpixel_upsampler(in_channels, scale), nn.Conv2d(64, cout, 3, 1, 1, bias=bias)).double()


def _grads(fn, module: nn.Module, x: torch.Tensor, g: torch.Tensor):
    module.zero_grad()
    x = x.clone().requires_grad_()
    out = fn(x)
    out.backward(g)
    return out.detach(), x.grad, [p.grad.clone() for p in module.parameters()]


def test_subpixel_row_order_by_hand():
    # PyTorch's order: row c·4 + i·2 + j. Ours: (i, j, c), so position 1 is (i=0, j=0, c=1) = old row 4.
    assert subpixel_row_order(2, 2) == (0, 4, 1, 5, 2, 6, 3, 7)
    assert subpixel_row_order(1, 3) == tuple(range(9))


def test_head_start_finds_the_trailing_head_only():
    head = _head(8, 4, 2, False)
    assert head_start(list(head)) == 0
    assert head_start([nn.Conv2d(4, 8, 3, 1, 1), nn.LeakyReLU(0.1), *head]) == 2
    assert head_start([nn.Conv2d(8, 2, 3, 1, 1)]) == 0  # OFRnet's flow conv: a head without stages
    assert head_start([nn.Conv2d(8, 16, 3, 1, 1)]) is None  # too many outputs: oneDNN's job
    assert head_start([*head, nn.LeakyReLU(0.1)]) is None
    assert head_start([]) is None


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("cout,bias", [(2, False), (1, True)])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_run_head_matches_plain_layers(scale, cout, bias, layout):
    head = _head(12, scale, cout, bias)
    if layout == "channels_last":
        head = head.to(memory_format=torch.channels_last)
    x = torch.randn(3, 12, 5, 6, dtype=torch.float64)
    g = torch.randn(3, cout, 5 * scale, 6 * scale, dtype=torch.float64)
    out_p, gx_p, gw_p = _grads(head, head, x, g)
    out_f, gx_f, gw_f = _grads(lambda t: run_head(list(head), t), head, x, g)
    assert out_f.shape == out_p.shape
    assert torch.allclose(out_f, out_p, atol=1e-12)
    assert torch.allclose(gx_f, gx_p, atol=1e-12)
    for a, b in zip(gw_f, gw_p):
        assert torch.allclose(a, b, atol=1e-10)


def test_run_head_absorbs_a_permuted_input():
    head = _head(6, 4, 2, False)
    x = torch.randn(2, 6, 4, 4, dtype=torch.float64)
    logical_at = (3, 0, 5, 1, 4, 2)  # position q holds logical channel logical_at[q]
    permuted = x[:, list(logical_at)]
    assert torch.allclose(run_head(list(head), permuted, logical_at), head(x), atol=1e-12)


def test_tap_conv_is_a_zero_padded_3x3_conv():
    x = torch.randn(2, 5, 7, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    rows = x.permute(0, 2, 3, 1).reshape(-1, 5)
    out = _TapConv3x3.apply(rows, w, 2, 7, 4, ())
    ref = F.conv2d(x, w, padding=1)
    assert torch.allclose(out, ref, atol=1e-12)
    assert torch.autograd.gradcheck(lambda r, k: _TapConv3x3.apply(r, k, 2, 7, 4, ()), (rows.detach().requires_grad_(), w))


def test_tap_conv_one_pixel_by_hand():
    # A single input pixel (value 1) with tap weights 1..9: the 3x3 output sees the taps mirrored
    # (cross-correlation: output (y, x) reads input (y+dy, x+dx) through tap (dy+1, dx+1)).
    w = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    image = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    image[0, 0, 1, 1] = 1.0
    out = _TapConv3x3.apply(image.permute(0, 2, 3, 1).reshape(-1, 1), w, 1, 3, 3, ())
    assert out[0, 0].tolist() == [[9.0, 8.0, 7.0], [6.0, 5.0, 4.0], [3.0, 2.0, 1.0]]
