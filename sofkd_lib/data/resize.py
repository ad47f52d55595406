"""Image degradations: MATLAB ``imresize`` bicubic, PIL bicubic and BD (blur + subsample).

The MATLAB-compatible resize is written from MATLAB's documented algorithm:
cubic kernel with a = -0.5, the kernel widened by 1/scale when shrinking
(antialiasing), output size ``ceil(in * scale)``, symmetric (mirrored) borders,
dimensions processed in order of increasing scale (rows first on ties), and
uint8 results rounded half away from zero and saturated after every pass,
as MATLAB's ``imresizemex`` returns the input class.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

DEGRADATIONS = ("bicubic-matlab", "bicubic-pil", "bd")
#: BD degradation: Gaussian kernel size and standard deviation (SOF-VSR, TIP 2020).
BD_KERNEL_SIZE = 13
BD_SIGMA = 1.6


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def _weight_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) matrix M with ``out = M @ in`` along one axis."""
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    # Output pixel x maps to input coordinate u (1-based, pixel centres aligned).
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if antialias else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    # Mirror out-of-range taps: 1..n then n..1, repeating (MATLAB's symmetric padding).
    mirror = np.concatenate((np.arange(in_len), np.arange(in_len)[::-1]))
    src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), src.ravel()), w.ravel())
    return mat


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's double → uint8: round half away from zero, saturate to [0, 255]."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def imresize(img: np.ndarray, scale_factor: float) -> np.ndarray:
    """Resize like MATLAB ``imresize(img, scale_factor)`` (bicubic, antialiased).

    ``img`` is H×W or H×W×C, uint8 or floating point. uint8 in gives uint8 out
    (rounded and saturated after each axis, as MATLAB does); floats give float64.
    """
    arr = np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize expects an H×W or H×W×C array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.uint8):
        raise TypeError(f"imresize supports uint8 or float arrays, got {arr.dtype}")
    if not scale_factor > 0 or not math.isfinite(scale_factor):
        raise ValueError(f"scale_factor must be a positive finite number, got {scale_factor}")
    is_uint8 = arr.dtype == np.uint8
    h, w = arr.shape[:2]
    out_h, out_w = math.ceil(h * scale_factor), math.ceil(w * scale_factor)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"imresize of {h}×{w} by {scale_factor} gives an empty image")
    squeeze = arr.ndim == 2
    cur = arr[:, :, None] if squeeze else arr
    # Same factor on both axes: MATLAB's stable sort of the scales resizes rows (dim 1) first.
    for axis, out_len in ((0, out_h), (1, out_w)):
        mat = _weight_matrix(cur.shape[axis], out_len, float(scale_factor))
        data = cur.astype(np.float64, copy=False)
        res = np.tensordot(mat, data, axes=([1], [axis]))
        if axis == 1:
            res = np.moveaxis(res, 0, 1)
        cur = _round_uint8(res) if is_uint8 else res
    return cur[:, :, 0] if squeeze else cur


def _pil_bicubic_down(img: np.ndarray, scale: int) -> np.ndarray:
    """PIL ``Image.resize(..., BICUBIC)`` to ``(W // s, H // s)`` per channel."""
    h, w = img.shape[:2]
    size = (w // scale, h // scale)
    if img.ndim == 2:
        return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))
    return np.asarray(Image.fromarray(img, "RGB").resize(size, Image.Resampling.BICUBIC))


def gaussian_kernel(size: int = BD_KERNEL_SIZE, sigma: float = BD_SIGMA) -> np.ndarray:
    """Normalised 2-D Gaussian like MATLAB ``fspecial('gaussian', size, sigma)``."""
    r = (size - 1) / 2.0
    x = np.arange(size) - r
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    g[g < np.finfo(np.float64).eps * g.max()] = 0.0
    return g / g.sum()


def _bd_down(img: np.ndarray, scale: int) -> np.ndarray:
    """BD: 13×13 Gaussian (σ 1.6) with replicated borders, then keep rows/cols
    ``s·i + ⌊s/2⌋`` (what MATLAB ``imresize(..., 1/s, 'nearest')`` picks)."""
    from scipy.ndimage import correlate1d

    # The Gaussian is separable: two 1-D passes equal the 13×13 filter.
    r = (BD_KERNEL_SIZE - 1) / 2.0
    g1 = np.exp(-((np.arange(BD_KERNEL_SIZE) - r) ** 2) / (2.0 * BD_SIGMA**2))
    g1 /= g1.sum()
    data = img.astype(np.float64)
    blurred = correlate1d(correlate1d(data, g1, axis=0, mode="nearest"), g1, axis=1, mode="nearest")
    h, w = img.shape[:2]
    off = scale // 2
    out = blurred[off : (h // scale) * scale : scale, off : (w // scale) * scale : scale]
    return _round_uint8(out)


def degrade(hr_rgb_uint8: np.ndarray, scale: int, method: str = "bicubic-matlab") -> np.ndarray:
    """Low-resolution uint8 image from an HR uint8 image (H×W or H×W×3).

    ``method``: ``"bicubic-matlab"`` (the evaluation protocol), ``"bicubic-pil"``
    or ``"bd"``. H and W must be multiples of ``scale`` so LR pixel i covers HR
    pixels [s·i, s·i + s) exactly.
    """
    hr = np.asarray(hr_rgb_uint8)
    if hr.dtype != np.uint8:
        raise TypeError(f"degrade expects a uint8 image, got {hr.dtype}")
    if hr.ndim not in (2, 3) or (hr.ndim == 3 and hr.shape[2] != 3):
        raise ValueError(f"degrade expects H×W or H×W×3, got shape {hr.shape}")
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}×{w} is not a multiple of scale {scale}; crop it first")
    if method == "bicubic-matlab":
        return imresize(hr, 1.0 / scale)
    if method == "bicubic-pil":
        return _pil_bicubic_down(hr, scale)
    if method == "bd":
        return _bd_down(hr, scale)
    raise ValueError(f"unknown degradation {method!r}; choose one of {DEGRADATIONS}")
