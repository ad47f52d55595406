"""sofkd_lib.companion.superresolve: one frame by several models, crops titled with scores, scores with another LR maker."""
import math

import numpy as np
import pytest
import torch

from sofkd_lib.companion import superresolve as sr
from sofkd_lib.data.datasets import Clip


def authors_y(v: int) -> float:
    """The authors' Y on [0, 1] of grey level v: (0.257 + 0.504 + 0.098) · v / 255 + 16 / 255."""
    return 0.859 * v / 255 + 16 / 255


def matlab_y(v: int) -> int:
    """MATLAB rgb2ycbcr Y (uint8) of grey level v: round((65.481 + 128.553 + 24.966) · v / 255 + 16)."""
    return math.floor(219 * v / 255 + 16 + 0.5)


class _Grey:
    """A model whose SR frame is grey level ``v`` everywhere; it records the LR input it saw."""

    def __init__(self, v: int, scale: int):
        self.v, self.scale, self.seen = v, scale, []

    def __call__(self, lr):
        self.seen.append(lr.clone())
        h, w = lr.shape[-2:]
        return torch.full((1, 1, h * self.scale, w * self.scale), authors_y(self.v))


def test_super_resolve_all_of_grey_frames():
    frames = np.full((3, 19, 21, 3), 100, dtype=np.uint8)
    model = _Grey(100, 2)
    out = sr.super_resolve_all({"m": model}, frames, 1, scale=2)
    assert list(out) == ["bicubic", "m", "ground truth"]
    for img in out.values():  # cropped to a multiple of 2·scale = 4
        assert img.shape == (16, 20, 3) and img.dtype == np.uint8
        assert (img == 100).all()
    (lr,) = model.seen
    assert lr.shape == (1, 3, 1, 8, 10)
    assert torch.allclose(lr, torch.full_like(lr, authors_y(100)), atol=1e-6)


def test_super_resolve_all_needs_both_neighbours():
    with pytest.raises(ValueError, match="neighbour on each side"):
        sr.super_resolve_all({}, np.zeros((3, 8, 8, 3), np.uint8), 0, scale=2)


def _expected_scores(a: int, b: int) -> tuple[float, float]:
    """PSNR and SSIM of two constant MATLAB-Y images, by hand: a constant image has no variance."""
    ya, yb = matlab_y(a), matlab_y(b)
    p = 10 * math.log10(255**2 / (ya - yb) ** 2)
    c1 = (0.01 * 255) ** 2
    s = (2 * ya * yb + c1) / (ya**2 + yb**2 + c1)
    return p, s


def test_crop_panels_titles_and_crops():
    gt = np.full((32, 32, 3), 100, dtype=np.uint8)
    frames = {"bicubic": np.full_like(gt, 110), "phase1": np.full_like(gt, 100), "ground truth": gt}
    panels = sr.crop_panels(frames, (2, 3, 5), scale=2, labels={"bicubic": "Bicubic"})
    assert matlab_y(100) == 102 and matlab_y(110) == 110  # Y differs by 8 grey levels: PSNR 30.07 dB
    p, s = _expected_scores(110, 100)
    assert p == pytest.approx(30.0690, abs=1e-4)
    names = list(panels)
    assert names == [f"Bicubic\n{p:.2f} dB / {s:.4f}", "phase1\ninf dB / 1.0000", "ground truth"]
    assert names[0] == "Bicubic\n30.07 dB / 0.9972"
    assert all(v.shape == (5, 5, 3) for v in panels.values())


def test_crop_panels_needs_ground_truth():
    with pytest.raises(ValueError, match="ground truth"):
        sr.crop_panels({"bicubic": np.zeros((4, 4, 3), np.uint8)}, (0, 0, 2))


@pytest.mark.parametrize("method", ["bicubic-matlab", "bicubic-pil"])
def test_score_with_lr_scores_frames_3_to_n_minus_2(method):
    clip = Clip("grey", np.full((6, 32, 32, 3), 100, dtype=np.uint8), "test")
    model = _Grey(110, 2)
    p, s = sr.score_with_lr(model, clip, method, scale=2)
    assert len(model.seen) == 2  # frames 3 and 4 of six (1-based)
    assert model.seen[0].shape == (1, 3, 1, 16, 16)
    # A constant image stays constant under either bicubic.
    assert torch.allclose(model.seen[0], torch.full_like(model.seen[0], authors_y(100)), atol=1e-6)
    assert (p, s) == pytest.approx(_expected_scores(110, 100), abs=1e-9)


def test_score_with_lr_needs_five_frames():
    clip = Clip("short", np.zeros((4, 24, 24, 3), np.uint8), "test")
    with pytest.raises(ValueError, match="at least 5"):
        sr.score_with_lr(_Grey(0, 2), clip, "bicubic-matlab", scale=2)


def test_convention_scores_by_hand():
    sr_rgb, hr_rgb = np.full((32, 32, 3), 110, np.uint8), np.full((32, 32, 3), 100, np.uint8)
    scores = sr.convention_scores(sr_rgb, hr_rgb, 8)
    assert list(scores) == ["protocol: MATLAB Y, border 8", "MATLAB Y, no border", "RGB, border 8", "RGB, no border"]
    y = _expected_scores(110, 100)  # Y 110 against 102
    assert scores["protocol: MATLAB Y, border 8"] == pytest.approx(y, abs=1e-9)
    assert scores["MATLAB Y, no border"] == pytest.approx(y, abs=1e-9)
    rgb_psnr = 10 * math.log10(255**2 / 10**2)  # every channel 10 grey levels apart: 28.13 dB
    for name in ("RGB, border 8", "RGB, no border"):
        p, s = scores[name]
        assert p == pytest.approx(rgb_psnr, abs=1e-9) and math.isnan(s)
    assert rgb_psnr == pytest.approx(28.1308, abs=1e-4)


def test_convention_scores_rejects_different_shapes():
    with pytest.raises(ValueError, match="differ"):
        sr.convention_scores(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 30, 3), np.uint8), 8)
