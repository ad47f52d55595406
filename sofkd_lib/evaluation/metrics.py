"""Scores of the authors' protocol: PSNR and SSIM on MATLAB Y with a border shaved; flow EPE."""
from __future__ import annotations

import numpy as np

from sofkd_lib.data.color import rgb_to_y_matlab


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """``img`` without ``border`` pixels on every side."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border == 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"image {img.shape[:2]} is too small to shave a {border}-pixel border")
    return img[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical inputs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ, {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM as Wang et al. (2004): 11×11 Gaussian window σ 1.5, population covariance."""
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ, {a.shape} vs {b.shape}")
    return float(structural_similarity(
        a, b, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    ))


def score_frame(sr_rgb: np.ndarray, hr_rgb: np.ndarray, border: int) -> tuple[float, float]:
    """(PSNR, SSIM) of two uint8 RGB frames on MATLAB ``rgb2ycbcr`` Y, ``border`` shaved."""
    if sr_rgb.shape != hr_rgb.shape:
        raise ValueError(f"score_frame: SR {sr_rgb.shape} and HR {hr_rgb.shape} differ")
    ys, yh = shave(rgb_to_y_matlab(sr_rgb), border), shave(rgb_to_y_matlab(hr_rgb), border)
    return psnr(ys, yh), ssim(ys, yh)


def endpoint_error(flow: np.ndarray, gt: np.ndarray, border: int = 0) -> float:
    """Mean Euclidean distance between two (H, W, 2) flows, ``border`` pixels shaved."""
    flow, gt = np.asarray(flow, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if flow.shape != gt.shape or flow.shape[-1] != 2:
        raise ValueError(f"endpoint_error: expected two (H, W, 2) flows, got {flow.shape} and {gt.shape}")
    d = shave(flow - gt, border)
    return float(np.sqrt((d**2).sum(-1)).mean())
