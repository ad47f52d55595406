"""Colour conversions: the SOF-VSR authors' YCbCr for model input, MATLAB's Y for scoring."""
from __future__ import annotations

import numpy as np

# The authors' BT.601 "studio swing" matrix on [0, 1] RGB (rows: Y, Cb, Cr) and offsets.
_RGB_TO_YCBCR = np.array(
    [
        [0.257, 0.504, 0.098],
        [-0.148, -0.291, 0.439],
        [0.439, -0.368, -0.071],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
# MATLAB rgb2ycbcr's Y row, applied to [0, 1] RGB, giving Y on the [16, 235] scale.
_MATLAB_Y = np.array([65.481, 128.553, 24.966])


def _check_rgb(rgb: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"{name} expects RGB in the last axis (…, 3), got shape {arr.shape}")
    return arr


def rgb_to_ycbcr(rgb01: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, Cb, Cr) of RGB in [0, 1] (…, 3) with the authors' coefficients, each on [0, 1].

    Y = 0.257 R + 0.504 G + 0.098 B + 16/255 (so Y spans [16/255, 235/255]).
    """
    arr = _check_rgb(rgb01, "rgb_to_ycbcr")
    if arr.dtype == np.uint8:
        raise TypeError("rgb_to_ycbcr expects floats in [0, 1]; divide uint8 images by 255 first")
    ycc = arr.astype(np.float64) @ _RGB_TO_YCBCR.T + _OFFSET
    return ycc[..., 0], ycc[..., 1], ycc[..., 2]


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`: RGB (…, 3) on [0, 1] scale, not clipped."""
    ycc = np.stack(np.broadcast_arrays(y, cb, cr), axis=-1).astype(np.float64) - _OFFSET
    return ycc @ _YCBCR_TO_RGB.T


def rgb_to_y_matlab(rgb_uint8: np.ndarray) -> np.ndarray:
    """Y of MATLAB ``rgb2ycbcr`` on a uint8 image, as float64 on the [16, 235] scale.

    MATLAB returns uint8 for uint8 input, so Y is rounded (half away from zero);
    scoring on that rounded Y is the authors' protocol.
    """
    arr = _check_rgb(rgb_uint8, "rgb_to_y_matlab")
    if arr.dtype != np.uint8:
        raise TypeError(f"rgb_to_y_matlab expects a uint8 image, got {arr.dtype}")
    y = arr.astype(np.float64) @ (_MATLAB_Y / 255.0) + 16.0
    return np.floor(y + 0.5)


def rgb_uint8_to_y01(rgb_uint8: np.ndarray) -> np.ndarray:
    """The authors' Y on [0, 1] (float32) of a uint8 RGB image: the model's input."""
    return rgb_to_ycbcr(np.asarray(rgb_uint8, dtype=np.float64) / 255.0)[0].astype(np.float32)
