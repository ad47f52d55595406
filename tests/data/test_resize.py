"""MATLAB imresize, PIL bicubic and BD degradations."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sofkd_lib.data import degrade, imresize, read_image
from sofkd_lib.data.resize import BD_SIGMA, _cubic, _round_uint8, gaussian_kernel
from tests.conftest import require


def test_cubic_kernel_values():
    x = np.array([0.0, 0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 2.5, -0.5])
    expected = [1.0, 0.8671875, 0.5625, 0.0, -0.0703125, -0.0625, 0.0, 0.0, 0.5625]
    np.testing.assert_allclose(_cubic(x), expected, atol=0)


def test_upscale_by_two_hand_computed():
    # Mirrored borders: the row [0, 1] extends as 1, 0 | 0, 1 | 1, 0; weights from _cubic above.
    out = imresize(np.array([[0.0, 1.0]]), 2)
    assert out.shape == (2, 4)
    for row in out:
        np.testing.assert_allclose(row, [-0.09375, 0.203125, 0.796875, 1.09375], atol=1e-12)


def test_output_size_is_ceil_and_constant_is_preserved():
    img = np.full((10, 7, 3), 77, np.uint8)
    out = imresize(img, 0.25)
    assert out.shape == (3, 2, 3) and out.dtype == np.uint8
    assert (out == 77).all()
    assert imresize(np.full((5, 6), 0.3), 1 / 3).shape == (2, 2)
    np.testing.assert_allclose(imresize(np.full((5, 6), 0.3), 1 / 3), 0.3, atol=1e-12)


def test_matlab_rounding_half_away_from_zero_and_saturation():
    assert _round_uint8(np.array([0.5, 1.5, 2.5, 2.4999, -3.0, 300.0])).tolist() == [1, 2, 3, 2, 0, 255]


def test_imresize_rejects_bad_input():
    with pytest.raises(ValueError, match="scale_factor"):
        imresize(np.zeros((4, 4)), 0)
    with pytest.raises(TypeError, match="uint8 or float"):
        imresize(np.zeros((4, 4), np.int16), 0.5)
    with pytest.raises(ValueError, match="H×W"):
        imresize(np.zeros((2, 4, 4, 3)), 0.5)


def test_matches_matlab_reference_on_calendar(shared_data):
    """Acceptance: >= 99.5 % of values within one grey level, >= 85 % exact (MATLAB R20xx imresize)."""
    ref_dir = require(shared_data / "reference" / "calendar_x4_matlab" / "lr_x4")
    hr_dir = require(shared_data / "vid4" / "calendar" / "hr")
    refs = sorted(ref_dir.glob("lr_*.png"))
    assert len(refs) == 31
    total = within = exact = 0
    for ref in refs:
        hr = read_image(hr_dir / ref.name.replace("lr_", "hr_"))
        ours = imresize(hr, 0.25).astype(int)
        diff = np.abs(ours - read_image(ref).astype(int))
        total += diff.size
        within += int((diff <= 1).sum())
        exact += int((diff == 0).sum())
    assert within / total >= 0.995
    assert exact / total >= 0.85


def test_degrade_sizes_and_methods():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    for method in ("bicubic-matlab", "bicubic-pil", "bd"):
        lr = degrade(hr, 4, method)
        assert lr.shape == (6, 8, 3) and lr.dtype == np.uint8
    np.testing.assert_array_equal(degrade(hr, 4), imresize(hr, 0.25))
    pil = np.asarray(Image.fromarray(hr).resize((8, 6), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(degrade(hr, 4, "bicubic-pil"), pil)


def test_degrade_errors():
    hr = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="not a multiple of scale 4"):
        degrade(hr, 4)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(hr, 2, "lanczos")
    with pytest.raises(TypeError, match="uint8"):
        degrade(hr.astype(float), 2)


def test_bd_blur_and_sampling_phase():
    # One bright pixel at HR (s·i + s//2) lands on LR pixel i with weight g(0)² of the 1-D Gaussian.
    s = 4
    hr = np.zeros((40, 40, 3), np.uint8)
    hr[4 * 5 + 2, 4 * 3 + 2] = 255
    lr = degrade(hr, s, "bd")
    g = np.exp(-((np.arange(13) - 6.0) ** 2) / (2 * BD_SIGMA**2))
    centre = (g[6] / g.sum()) ** 2
    g /= g.sum()
    expected = np.zeros((10, 10), np.uint8)
    expected[5, 3] = np.floor(255 * centre + 0.5)  # 15.85 → 16
    # LR neighbours sample 4 HR pixels away: weight g[2]·g[6]·255 = 0.70 → 1; diagonals g[2]²·255 → 0.
    expected[4, 3] = expected[6, 3] = expected[5, 2] = expected[5, 4] = np.floor(255 * g[2] * g[6] + 0.5)
    assert expected[5, 3] == 16 and expected[4, 3] == 1
    for c in range(3):
        np.testing.assert_array_equal(lr[:, :, c], expected)
    k = gaussian_kernel()
    assert k.shape == (13, 13)
    np.testing.assert_allclose(k.sum(), 1.0)
    np.testing.assert_allclose(k[6, 6], centre)


def test_matlab_and_pil_bicubic_differ_at_the_border_hand_computed():
    """Both use Keys' kernel (a = -0.5) widened 4x; MATLAB mirrors the border, PIL renormalises inside the image.

    A 4×8 image, white in column 0, down by 4: LR pixel 0 is centred 1.5 HR pixels from column 0's centre,
    so column 0 weighs cubic(1.5/4) = 0.7275390625. MATLAB adds its mirror image, 2.5 px away
    (cubic(2.5/4) = 0.3896484375), over a total weight of 4 (18 taps 1/4 apart): 255 · 1.1171875 / 4 = 71.22 → 71.
    PIL keeps the 8 taps inside the row, total weight 3.7421875: 255 · 0.7275390625 / 3.7421875 = 49.58 → 50.
    """
    hr = np.zeros((4, 8), np.uint8)
    hr[:, 0] = 255
    assert degrade(hr, 4, "bicubic-matlab").tolist() == [[71, 0]]
    assert degrade(hr, 4, "bicubic-pil").tolist() == [[50, 0]]
    np.testing.assert_allclose(_cubic(np.array([0.375, 0.625])), [0.7275390625, 0.3896484375], atol=0)
    # On a random image they agree to a grey level or so inside and differ most at the rim.
    hr = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    matlab, pil = degrade(hr, 4, "bicubic-matlab"), degrade(hr, 4, "bicubic-pil")
    np.testing.assert_array_equal(matlab, imresize(hr, 0.25))
    np.testing.assert_array_equal(pil, np.asarray(Image.fromarray(hr).resize((16, 12), Image.Resampling.BICUBIC)))
    d = np.abs(matlab.astype(int) - pil.astype(int))
    assert d.max() > 1 and d[2:-2, 2:-2].max() <= 1
