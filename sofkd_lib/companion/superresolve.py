"""One frame super-resolved by several models, side by side; a model scored with another LR maker or convention.

The book's visual comparisons and its reproducibility notes. Frames follow the evaluation
protocol (:mod:`sofkd_lib.evaluation.evaluate`): LR frames by MATLAB bicubic (or the
named degradation), the model sees the authors' Y, colour comes back from the
LR frame's upsampled Cb/Cr, and scores are on MATLAB Y with a 6 + s border shaved.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sofkd_lib.data.color import rgb_to_y_matlab, rgb_uint8_to_y01
from sofkd_lib.data.resize import degrade, imresize
from sofkd_lib.evaluation.evaluate import compose_rgb
from sofkd_lib.evaluation.metrics import psnr, score_frame, shave, ssim

GROUND_TRUTH = "ground truth"


def _lr_y(lr_rgb: np.ndarray) -> torch.Tensor:
    """The model input (1, T, 1, h, w) float32: authors' Y on [0, 1] of uint8 LR frames (T, h, w, 3)."""
    return torch.from_numpy(rgb_uint8_to_y01(lr_rgb))[None, :, None]


def super_resolve_all(models: Mapping[str, Any], frames: np.ndarray, t: int, scale: int = 4) -> dict[str, np.ndarray]:
    """uint8 RGB of frame ``t`` by bicubic, by each of ``models`` (in order), and the ground truth.

    Frames are cropped top-left to a multiple of 2·scale, as the protocol does; keys
    are ``"bicubic"``, the keys of ``models``, then ``"ground truth"``.
    """
    if not 1 <= t <= len(frames) - 2:
        raise ValueError(f"frame {t} needs a neighbour on each side; frames 1 … {len(frames) - 2} have both")
    h, w = frames.shape[1] - frames.shape[1] % (2 * scale), frames.shape[2] - frames.shape[2] % (2 * scale)
    hr = frames[t - 1: t + 2, :h, :w]
    lr_rgb = np.stack([imresize(f, 1.0 / scale) for f in hr])
    lr_y = _lr_y(lr_rgb)
    out = {"bicubic": compose_rgb(imresize(lr_y[0, 1, 0].double().numpy(), scale), lr_rgb[1], scale)}
    with torch.no_grad():
        for name, model in models.items():
            out[name] = compose_rgb(model(lr_y)[0, 0].double().numpy(), lr_rgb[1], scale)
    out[GROUND_TRUTH] = hr[1]
    return out


def crop_panels(frames: Mapping[str, np.ndarray], box: tuple[int, int, int], scale: int = 4,
                labels: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Square crops of :func:`super_resolve_all`'s frames, titled with each full frame's PSNR / SSIM.

    ``box`` is (top, left, size). Each title is the model's label (``labels`` maps
    keys to labels; a key without one is its own label), a newline, then
    ``"PSNR dB / SSIM"`` of the whole frame against the ground truth by the
    protocol (border 6 + scale); the ground truth's panel keeps its plain name.
    """
    if GROUND_TRUTH not in frames:
        raise ValueError(f"crop_panels needs a {GROUND_TRUTH!r} frame, got keys {list(frames)}")
    y, x, size = box
    labels = labels or {}
    panels = {}
    for key, img in frames.items():
        if key == GROUND_TRUTH:
            panels[key] = img[y: y + size, x: x + size]
        else:
            p, s = score_frame(img, frames[GROUND_TRUTH], 6 + scale)
            panels[f"{labels.get(key, key)}\n{p:.2f} dB / {s:.4f}"] = img[y: y + size, x: x + size]
    return panels


def score_with_lr(model: Any, clip: Any, method: str, scale: int = 2) -> tuple[float, float]:
    """Mean (PSNR, SSIM) of ``model`` over the protocol's frames 3 … n−2, its LR frames made by ``method``.

    ``method`` is a degradation of :func:`sofkd_lib.data.resize.degrade` (``bicubic-matlab``,
    ``bicubic-pil``, ``bd``); the colour of the SR frame comes from the same LR frame.
    Frames must already be cropped to a multiple of 2·scale.
    """
    if len(clip) < 5:
        raise ValueError(f"clip {clip.name!r} has {len(clip)} frames; scoring frames 3 … n−2 needs at least 5")
    ps, ss = [], []
    for t in range(2, len(clip) - 2):
        hr = clip.frames[t - 1: t + 2]
        lr_rgb = np.stack([degrade(f, scale, method) for f in hr])
        with torch.no_grad():
            sr_y = model(_lr_y(lr_rgb))[0, 0].double().numpy()
        p, s = score_frame(compose_rgb(sr_y, lr_rgb[1], scale), clip.frames[t], 6 + scale)
        ps.append(p)
        ss.append(s)
    return float(np.mean(ps)), float(np.mean(ss))


def convention_scores(sr_rgb: np.ndarray, hr_rgb: np.ndarray, border: int) -> dict[str, tuple[float, float]]:
    """(PSNR, SSIM) of one uint8 RGB frame against its ground truth under four scoring conventions.

    The protocol's (MATLAB ``rgb2ycbcr`` Y, ``border`` pixels shaved), the same Y
    with no border, and RGB with and without the border. SSIM is defined here on one
    channel, so the RGB conventions give NaN for it.
    """
    if sr_rgb.shape != hr_rgb.shape:
        raise ValueError(f"convention_scores: SR {sr_rgb.shape} and HR {hr_rgb.shape} differ")
    ys, yh = rgb_to_y_matlab(sr_rgb), rgb_to_y_matlab(hr_rgb)
    nan = float("nan")
    return {
        f"protocol: MATLAB Y, border {border}": (psnr(shave(ys, border), shave(yh, border)),
                                                 ssim(shave(ys, border), shave(yh, border))),
        "MATLAB Y, no border": (psnr(ys, yh), ssim(ys, yh)),
        f"RGB, border {border}": (psnr(shave(sr_rgb, border), shave(hr_rgb, border)), nan),
        "RGB, no border": (psnr(sr_rgb, hr_rgb), nan),
    }
