"""Authors' YCbCr and MATLAB rgb2ycbcr Y."""
from __future__ import annotations

import numpy as np
import pytest

from sofkd_lib.data import rgb_to_y_matlab, rgb_to_ycbcr, rgb_uint8_to_y01, ycbcr_to_rgb


def test_authors_coefficients_on_primaries():
    rgb = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y, cb, cr = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(y, [16 / 255, 0.859 + 16 / 255, 0.257 + 16 / 255, 0.098 + 16 / 255], atol=1e-15)
    np.testing.assert_allclose(cb, [128 / 255, 128 / 255, -0.148 + 128 / 255, 0.439 + 128 / 255], atol=1e-15)
    np.testing.assert_allclose(cr, [128 / 255, 128 / 255, 0.439 + 128 / 255, -0.071 + 128 / 255], atol=1e-15)


def test_round_trip():
    rgb = np.random.default_rng(1).random((5, 7, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(*rgb_to_ycbcr(rgb)), rgb, atol=1e-12)


def test_matlab_y_is_rounded_on_16_235_scale():
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [10, 20, 30]]], np.uint8)
    y = rgb_to_y_matlab(img)
    assert y.dtype == np.float64
    # 16 + 65.481 = 81.481 → 81; 16 + 128.553 = 144.553 → 145; (654.81 + 2571.06 + 748.98)/255 + 16 = 31.588 → 32
    assert y.tolist() == [[16.0, 235.0, 81.0, 145.0, 32.0]]


def test_model_input_y_and_type_errors():
    img = np.full((2, 2, 3), 255, np.uint8)
    y = rgb_uint8_to_y01(img)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, 0.859 + 16 / 255, rtol=1e-6)
    with pytest.raises(TypeError, match="divide uint8"):
        rgb_to_ycbcr(img)
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_y_matlab(img.astype(float))
    with pytest.raises(ValueError, match=r"\(…, 3\)"):
        rgb_to_ycbcr(np.zeros((2, 2, 4)))
