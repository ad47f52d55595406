"""Evaluation by the SOF-VSR authors' protocol, and ``python -m sofkd_lib evaluate``.

Protocol (Wang et al.'s Vid4 scripts, followed to the letter):

1. HR frames cropped (top-left) to a multiple of 2·scale;
2. LR = MATLAB bicubic ``imresize(HR, 1/scale)`` of the uint8 RGB frames;
3. the model sees the authors' Y (on [0, 1]) of the LR frames;
4. every centre frame with all its neighbours is super-resolved; RGB is rebuilt
   from the SR Y plus MATLAB-bicubic-upsampled LR Cb/Cr, clipped, rounded to uint8;
5. scored on MATLAB ``rgb2ycbcr`` Y of the uint8 frames with a 6 + scale border
   removed, on frames 3 … n-2 (1-based): PSNR, and SSIM as Wang et al. (2004).

Where a clip carries ground-truth flow, the model's HR flows are converted to
pixels and scored by end-point error (EPE).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sofkd_lib.archs.warp import model_to_pixels
from sofkd_lib.data.color import rgb_to_ycbcr, ycbcr_to_rgb
from sofkd_lib.data.datasets import Clip
from sofkd_lib.data.resize import imresize
from sofkd_lib.evaluation.metrics import endpoint_error, score_frame
from sofkd_lib.weights.checkpoint import CheckpointError

BICUBIC = "bicubic"
#: 1-based index of the first scored frame (the last is n - FIRST_SCORED + 1).
FIRST_SCORED = 3


@dataclass(frozen=True)
class Protocol:
    """Constants of the authors' evaluation at one scale."""

    scale: int

    @property
    def crop_multiple(self) -> int:
        return 2 * self.scale

    @property
    def border(self) -> int:
        return 6 + self.scale

    def describe(self) -> dict[str, Any]:
        return {
            "hr_crop": f"top-left, to a multiple of {self.crop_multiple}",
            "lr": f"MATLAB bicubic imresize(HR, 1/{self.scale}) on uint8 RGB",
            "input": "Y = 0.257R + 0.504G + 0.098B + 16/255 of the LR frames",
            "colour": "SR Y + MATLAB-bicubic-upsampled LR Cb/Cr, clipped, rounded to uint8",
            "score_on": "MATLAB rgb2ycbcr Y of uint8 frames",
            "border": self.border,
            "frames": f"{FIRST_SCORED}..n-{FIRST_SCORED - 1} (1-based)",
            "ssim": "skimage structural_similarity(data_range=255, gaussian_weights=True, sigma=1.5, "
            "use_sample_covariance=False)",
        }


def _uint8(rgb01: np.ndarray) -> np.ndarray:
    """[0, 1] floats → uint8: clip, then round half up (MATLAB im2uint8)."""
    return np.floor(np.clip(rgb01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def compose_rgb(sr_y: np.ndarray, lr_rgb: np.ndarray, scale: int) -> np.ndarray:
    """uint8 RGB from an SR Y (on [0, 1]) and the LR frame's bicubic-upsampled Cb/Cr."""
    _, cb, cr = rgb_to_ycbcr(lr_rgb.astype(np.float64) / 255.0)
    cb_up, cr_up = imresize(cb, scale), imresize(cr, scale)
    return _uint8(ycbcr_to_rgb(sr_y, cb_up, cr_up))


def neighbour_indices(t: int, n_frames: int) -> list[int]:
    """Frame indices of the window centred on ``t`` (``n_frames`` wide), centre included."""
    c = n_frames // 2
    return list(range(t - c, t + c + 1))


def model_name(model: Any) -> str:
    """A short description: ``SOFVSR(x4, 320 ch, 3 frames)`` (OFRnet width added when it differs)."""
    if isinstance(model, str):
        return model
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "channels"):
        ofr = getattr(getattr(getattr(model, "ofrnet", None), "recurrent_features", [None])[0], "out_channels", None)
        width = f"{cfg.channels} ch" if ofr in (None, cfg.channels) else f"OFRnet {ofr} ch, SRnet {cfg.channels} ch"
        return f"SOFVSR(x{cfg.scale}, {width}, {cfg.n_frames} frames)"
    return type(model).__name__


def _check_model(model: Any, scale: int) -> int:
    """The model's temporal window; raises when it does not fit ``scale``."""
    if isinstance(model, str):
        if model != BICUBIC:
            raise ValueError(f"model must be a SOFVSR module or {BICUBIC!r}, got {model!r}")
        return 3
    m_scale = getattr(model, "scale", scale)
    if m_scale != scale:
        raise ValueError(f"model upscales x{m_scale} but evaluation asked for x{scale}")
    return int(getattr(model, "n_frames", 3))


@torch.no_grad()
def _run_model(
    model: Any, lr_y: np.ndarray, scale: int, device: str | torch.device
) -> tuple[np.ndarray, np.ndarray | None]:
    """SR Y (H, W) float64 on [0, 1] scale (unclipped) and HR flows in pixels (T-1, H, W, 2) or None."""
    if isinstance(model, str):
        c = lr_y.shape[0] // 2
        return imresize(lr_y[c].astype(np.float64), scale), None
    lr = torch.from_numpy(np.ascontiguousarray(lr_y, dtype=np.float32))[None, :, None].to(device)
    if hasattr(model, "forward_with_flows"):
        out = model.forward_with_flows(lr)
        sr, flows = out.sr, model_to_pixels(out.flows.hr)[0].permute(0, 2, 3, 1)
        return sr[0, 0].double().cpu().numpy(), flows.double().cpu().numpy()
    return model(lr)[0, 0].double().cpu().numpy(), None


def evaluate_model(
    model: Any,
    clips: Sequence[Clip],
    scale: int,
    *,
    device: str | torch.device = "cpu",
    max_frames: int | None = None,
    progress: bool = False,
    name: str | None = None,
    frame_callback: Callable[[str, int, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Score ``model`` (a SOFVSR or ``"bicubic"``) on ``clips`` at ``scale`` by the authors' protocol.

    Returns a JSON-ready dict: ``sequences[name]`` with per-frame ``psnr``/``ssim``
    lists (and the 1-based ``frames`` they belong to), ``psnr_mean``, ``ssim_mean``,
    ``epe`` (px, on the scored frames; None without ground truth); dataset ``average`` (mean of sequence
    means) and ``max`` (best frame); ``wall_seconds``. ``frame_callback(seq, t, rgb)``
    receives every SR frame (uint8, 0-based ``t``).
    """
    from tqdm.auto import tqdm

    if not clips:
        raise ValueError("evaluate_model needs at least one clip")
    proto = Protocol(int(scale))
    window = _check_model(model, proto.scale)
    c = window // 2
    first_scored = max(FIRST_SCORED - 1, c)  # 0-based
    module = model if isinstance(model, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    prepared = []
    for clip in clips:
        clip = clip.head(max_frames)
        h = clip.height - clip.height % proto.crop_multiple
        w = clip.width - clip.width % proto.crop_multiple
        if h <= 2 * proto.border or w <= 2 * proto.border:
            raise ValueError(
                f"sequence {clip.name!r} ({clip.height}×{clip.width}) is too small for x{scale} evaluation"
            )
        if len(clip) < 2 * first_scored + 1:
            raise ValueError(
                f"sequence {clip.name!r} has {len(clip)} frames; scoring frames "
                f"{first_scored + 1}..n-{first_scored} needs at least {2 * first_scored + 1}"
            )
        prepared.append(clip.crop(h, w))
    # Frames that are neither scored nor wanted by a callback are not super-resolved at all.
    skip = c if frame_callback is not None else first_scored
    total = sum(len(cl) - 2 * skip for cl in prepared)
    start = time.perf_counter()
    sequences: dict[str, Any] = {}
    bar = tqdm(total=total, disable=not progress, desc=f"evaluate {name or model_name(model)}", unit="frame")
    try:
        for clip in prepared:
            t0 = time.perf_counter()
            lr_rgb = np.stack([imresize(f, 1.0 / proto.scale) for f in clip.frames])
            lr_y = rgb_to_ycbcr(lr_rgb.astype(np.float64) / 255.0)[0].astype(np.float32)
            psnrs, ssims, frames, epes, zero_epes = [], [], [], [], []
            for t in range(skip, len(clip) - skip):
                idx = neighbour_indices(t, window)
                sr_y, flows = _run_model(model, lr_y[idx], proto.scale, device)
                if not np.isfinite(sr_y).all():
                    raise CheckpointError(
                        f"{name or model_name(model)}: its output for sequence {clip.name!r} frame {t + 1} holds "
                        f"NaN or inf; no score is given for a model whose output is not finite")
                rgb = compose_rgb(sr_y, lr_rgb[t], proto.scale)
                if frame_callback is not None:
                    frame_callback(clip.name, t, rgb)
                bar.update(1)
                if not first_scored <= t < len(clip) - first_scored:
                    continue
                p, s = score_frame(rgb, clip.frames[t], proto.border)
                psnrs.append(p)
                ssims.append(s)
                frames.append(t + 1)
                # Flow error on the same (scored) frames as PSNR/SSIM.
                if flows is not None and clip.has_flow:
                    for j, n in enumerate(i for i in idx if i != t):
                        gt = clip.gt_flow(t, n)
                        epes.append(endpoint_error(flows[j], gt, proto.border))
                        zero_epes.append(endpoint_error(np.zeros_like(gt), gt, proto.border))
            sequences[clip.name] = {
                "psnr": psnrs,
                "ssim": ssims,
                "frames": frames,
                "psnr_mean": float(np.mean(psnrs)),
                "ssim_mean": float(np.mean(ssims)),
                "epe": float(np.mean(epes)) if epes else None,
                "epe_zero_flow": float(np.mean(zero_epes)) if zero_epes else None,
                "size": [clip.height, clip.width],
                "n_frames": len(clip),
                "source": clip.source,
                "seconds": round(time.perf_counter() - t0, 3),
            }
    finally:
        bar.close()
        if module is not None and was_training:
            module.train()
    seq = list(sequences.values())
    best_p = max(((v, k, f) for k, s in sequences.items() for v, f in zip(s["psnr"], s["frames"])), key=lambda x: x[0])
    best_s = max(((v, k, f) for k, s in sequences.items() for v, f in zip(s["ssim"], s["frames"])), key=lambda x: x[0])
    epes = [s["epe"] for s in seq if s["epe"] is not None]
    return {
        "model": name or model_name(model),
        "scale": proto.scale,
        "protocol": proto.describe(),
        "sequences": sequences,
        "average": {
            "psnr": float(np.mean([s["psnr_mean"] for s in seq])),
            "ssim": float(np.mean([s["ssim_mean"] for s in seq])),
            "epe": float(np.mean(epes)) if epes else None,
        },
        "max": {
            "psnr": best_p[0], "psnr_at": f"{best_p[1]}:{best_p[2]}",
            "ssim": best_s[0], "ssim_at": f"{best_s[1]}:{best_s[2]}",
        },
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": round(time.perf_counter() - start, 3),
    }


def format_results(res: dict[str, Any]) -> str:
    """A plain-text table of a result dict."""
    lines = [f"{res['model']}  x{res['scale']}", f"{'sequence':<24}{'PSNR':>8}{'SSIM':>9}{'EPE px':>9}"]
    for name, s in res["sequences"].items():
        epe = f"{s['epe']:.3f}" if s["epe"] is not None else "-"
        lines.append(f"{name:<24}{s['psnr_mean']:>8.2f}{s['ssim_mean']:>9.4f}{epe:>9}")
    avg, mx = res["average"], res["max"]
    epe = f"{avg['epe']:.3f}" if avg["epe"] is not None else "-"
    lines.append(f"{'average':<24}{avg['psnr']:>8.2f}{avg['ssim']:>9.4f}{epe:>9}")
    lines.append(f"{'max (best frame)':<24}{mx['psnr']:>8.2f}{mx['ssim']:>9.4f}")
    lines.append(f"wall time {res['wall_seconds']:.1f} s")
    return "\n".join(lines)


