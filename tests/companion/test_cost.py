"""sofkd_lib.companion.cost: FLOPs counted and peak tensor memory of one forward pass."""
import pytest
import torch
from torch import nn

from sofkd_lib.companion.cost import count_flops, peak_tensor_mib


class _Tiny(nn.Module):
    """A 3×3 single-channel convolution on the centre frame; 'flows' run it twice on the first frame."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x[:, 1])

    def estimate_flows(self, x):
        return self.conv(self.conv(x[:, 0]))


def test_count_flops_by_hand():
    net = _Tiny()
    # One 3×3 convolution, 1 → 1 channel, on 4×5 pixels: 9 multiply-adds per pixel, 2 FLOPs each.
    assert count_flops(net, 4, 5) == 2 * 9 * 4 * 5
    assert count_flops(net, 4, 5, "OFRnet") == 2 * 2 * 9 * 4 * 5


def test_count_flops_rejects_unknown_part():
    with pytest.raises(ValueError, match="part"):
        count_flops(_Tiny(), 4, 4, "SRnet")


class _Allocates(nn.Module):
    """Holds two 1 MiB float32 tensors and their 1 MiB sum at once: a peak of 3 MiB."""

    def forward(self, x):
        a = torch.ones(512, 512)
        b = torch.ones(512, 512)
        return a + b


def test_peak_tensor_mib_by_hand():
    assert peak_tensor_mib(_Allocates(), 4, 4) == pytest.approx(3.0)
