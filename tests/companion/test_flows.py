"""sofkd_lib.companion.flows: LR windows, per-level flows in pixels, pooled ground truth, EPE rows, the unaligned warp."""
import math

import numpy as np
import pytest
import torch

from sofkd_lib.companion import flows as fl


# The authors' Y of grey level v (uint8): (0.257 + 0.504 + 0.098) · v / 255 + 16 / 255.
def authors_y(v: int) -> float:
    return 0.859 * v / 255 + 16 / 255


def test_y01_of_white_and_black():
    rgb = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y = fl.y01(rgb)
    assert y.dtype == np.float64 and y.shape == (1, 2)
    assert y[0, 0] == pytest.approx(0.859 + 16 / 255, abs=1e-12)
    assert y[0, 1] == pytest.approx(16 / 255, abs=1e-12)


def test_lr_window_of_constant_frames():
    frames = np.full((5, 8, 12, 3), 200, dtype=np.uint8)
    lr, hr = fl.lr_window(frames, 2, 2)
    assert lr.shape == (1, 3, 1, 4, 6) and lr.dtype == torch.float32
    assert hr.shape == (3, 8, 12) and hr.dtype == np.float64
    # Bicubic of a constant image is that constant.
    assert torch.allclose(lr, torch.full_like(lr, authors_y(200)), atol=1e-6)
    assert np.allclose(hr, authors_y(200), atol=1e-12)


@pytest.mark.parametrize("centre", [0, 4])
def test_lr_window_needs_both_neighbours(centre):
    with pytest.raises(ValueError, match="neighbour on each side"):
        fl.lr_window(np.zeros((5, 8, 8, 3), np.uint8), centre, 2)


def test_pool_flow_block_means_divided_by_factor():
    gt = np.zeros((5, 5, 2))
    gt[..., 0] = np.arange(5.0)[None, :]  # u = column index
    gt[..., 1] = 2.0
    pooled = fl.pool_flow(gt, 2)  # the fifth row and column do not fill a block
    assert pooled.shape == (2, 2, 2)
    # columns 0,1 → mean 0.5, columns 2,3 → 2.5; halved for the coarser grid
    assert np.allclose(pooled[..., 0], [[0.25, 1.25], [0.25, 1.25]])
    assert np.allclose(pooled[..., 1], 1.0)


def test_pool_flow_rejects_bad_input():
    with pytest.raises(ValueError, match="H, W, 2"):
        fl.pool_flow(np.zeros((4, 4, 3)), 2)
    with pytest.raises(ValueError, match="factor"):
        fl.pool_flow(np.zeros((4, 4, 2)), 0)


def test_level_flows_px_reads_one_neighbour_in_pixels():
    levels = []
    for h in (2, 4, 8):
        f = torch.zeros(1, 2, 2, h, h)
        f[0, 1, 0], f[0, 1, 1] = 0.2, -0.1  # neighbour 1: (u, v) = (0.2, -0.1) units
        levels.append(f)
    out = fl.level_flows_px(levels, 1)
    assert [a.shape for a in out] == [(2, 2, 2), (4, 4, 2), (8, 8, 2)]
    for a in out:
        assert a.dtype == np.float64
        assert np.allclose(a[..., 0], 3.1, atol=1e-6) and np.allclose(a[..., 1], -1.55, atol=1e-6)
    assert np.allclose(fl.level_flows_px(levels, 0)[2], 0.0)


def test_level_borders():
    assert fl.level_borders(4) == (1, 2, 10)
    assert fl.level_borders(2) == (1, 2, 8)


class _Clip:
    """Three 40×40 frames whose ground truth moves every pixel (4, 0) px at HR."""

    def __init__(self, has_flow=True):
        self.frames = np.full((3, 40, 40, 3), 90, dtype=np.uint8)
        self.has_flow = has_flow

    def __len__(self):
        return len(self.frames)

    def gt_flow(self, centre, neighbour):
        g = np.zeros((40, 40, 2))
        g[..., 0] = 4.0
        return g


class _ConstantFlow:
    """Predicts 0.2 units (3.1 px) to the right at every level, whatever the input."""

    def __init__(self):
        self.seen = []

    def estimate_flows(self, lr):
        self.seen.append(tuple(lr.shape))
        h, w = lr.shape[-2:]
        levels = []
        for lh, lw in ((h // 2, w // 2), (h, w), (2 * h, 2 * w)):
            f = torch.zeros(1, 2, 2, lh, lw)
            f[:, :, 0] = 0.2
            levels.append(f)
        return tuple(levels)


def test_epe_rows_against_hand_computed_errors():
    model = _ConstantFlow()
    rows = fl.epe_rows({"m": model}, [_Clip(), _Clip(has_flow=False)], 2)
    assert model.seen == [(1, 3, 1, 20, 20)]  # one centre frame of the one clip with flow, LR at x2
    assert [r["model"] for r in rows] == ["m", "zero flow"]
    m, zero = rows
    assert m["scale"] == "x2"
    # Truth: 4 px at HR, 4/2 = 2 px at LR, 4/4 = 1 px at ½ LR; the model says 3.1 px everywhere.
    assert m["EPE HR (px)"] == pytest.approx(0.9, abs=1e-5)
    assert m["EPE LR (px)"] == pytest.approx(1.1, abs=1e-5)
    assert m["EPE ½ LR (px)"] == pytest.approx(2.1, abs=1e-5)
    assert (zero["EPE HR (px)"], zero["EPE LR (px)"], zero["EPE ½ LR (px)"]) == (4.0, 2.0, 1.0)


def test_epe_rows_needs_ground_truth():
    with pytest.raises(ValueError, match="no clip with ground-truth flow"):
        fl.epe_rows({}, [_Clip(has_flow=False)], 2)


def test_unaligned_warp_shifts_even_at_zero_flow():
    ramp = torch.arange(8.0).repeat(4, 1)[None, None]
    out = fl.flow_warp_unaligned(ramp, torch.zeros(1, 2, 4, 8))[0, 0, 0]
    # Grid point k (at -1 + 2k/7) read with align_corners=False lands on pixel 8k/7 - 1/2, clamped to [0, 7].
    expected = [min(max(8 * k / 7 - 0.5, 0.0), 7.0) for k in range(8)]
    assert out.tolist() == pytest.approx(expected, abs=1e-5)
    assert math.isclose(out[1].item(), 8 / 7 - 0.5, abs_tol=1e-5)


def test_unaligned_warp_rejects_bad_shapes():
    with pytest.raises(ValueError, match="flow_warp_unaligned"):
        fl.flow_warp_unaligned(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))
