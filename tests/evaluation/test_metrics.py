"""PSNR, SSIM, scoring on MATLAB Y and end-point error."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sofkd_lib.evaluation.metrics import endpoint_error, psnr, score_frame, shave, ssim


def test_psnr_hand_values():
    a = np.zeros((4, 4))
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2), abs=1e-12)  # MSE 1 → 48.1308 dB
    assert psnr(a, a + 1) == pytest.approx(48.13080360867910, abs=1e-10)
    b = a.copy()
    b[0, 0] = 4  # MSE = 16/16 = 1
    assert psnr(a, b) == pytest.approx(48.13080360867910, abs=1e-10)
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, np.zeros((3, 4)))


def test_ssim_properties():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32)).astype(float)
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < 0
    noisy = np.clip(img + rng.normal(0, 20, img.shape), 0, 255)
    assert 0 < ssim(img, noisy) < 1


def test_shave_and_score_frame_border():
    img = np.arange(36).reshape(6, 6)
    assert shave(img, 2).tolist() == [[14, 15], [20, 21]]
    with pytest.raises(ValueError, match="too small"):
        shave(img, 3)
    hr = np.full((20, 20, 3), 100, np.uint8)
    sr = hr.copy()
    sr[:2] = 0  # damage only inside the border
    p, s = score_frame(sr, hr, border=2)
    assert p == math.inf and s == pytest.approx(1.0)
    sr[5, 5] = 101  # MATLAB Y of (101, 101, 101) rounds to 103 vs 102 → one pixel off by 1 of 16²
    p, _ = score_frame(sr, hr, border=2)
    assert p == pytest.approx(10 * math.log10(255**2 * 256), abs=1e-9)


def test_endpoint_error():
    gt = np.zeros((4, 4, 2))
    est = np.zeros((4, 4, 2))
    est[..., 0], est[..., 1] = 3, 4
    assert endpoint_error(est, gt) == 5.0
    est[0, 0] = 100
    assert endpoint_error(est, gt, border=1) == 5.0
    with pytest.raises(ValueError, match="two \\(H, W, 2\\) flows"):
        endpoint_error(est[..., :1], gt[..., :1])
