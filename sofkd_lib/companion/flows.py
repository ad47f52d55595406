"""Flow measurements the book makes: LR windows, per-level flows in pixels, pooled ground truth, EPE tables.

OFRnet returns a :class:`~sofkd_lib.archs.sofvsr_arch.FlowPyramid` (½ LR, LR, HR)
in network units; every function here reports pixels of each level's own grid
(:func:`sofkd_lib.archs.warp.model_to_pixels`). Ground truth exists at HR only, so
the lower levels compare against it block-averaged (:func:`pool_flow`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sofkd_lib.archs.warp import FLOW_SCALE_NUMERATOR, _base_grid, model_to_pixels
from sofkd_lib.data.color import rgb_to_ycbcr, rgb_uint8_to_y01
from sofkd_lib.data.resize import imresize
from sofkd_lib.evaluation.metrics import endpoint_error

#: Names of the pyramid's levels, coarsest first (the order of ``FlowPyramid``).
LEVELS = ("½ LR", "LR", "HR")


def y01(rgb: np.ndarray) -> np.ndarray:
    """The authors' Y on [0, 1] of uint8 RGB frames (..., H, W, 3), kept in float64 for scoring.

    The model's float32 input is :func:`sofkd_lib.data.color.rgb_uint8_to_y01`, the same values rounded.
    """
    return rgb_to_ycbcr(np.asarray(rgb).astype(np.float64) / 255.0)[0]


def lr_window(frames: np.ndarray, centre: int, scale: int) -> tuple[torch.Tensor, np.ndarray]:
    """(LR Y tensor (1, 3, 1, h, w) float32, HR Y (3, H, W) float64) of the three frames around ``centre``.

    LR frames are MATLAB-bicubic ``imresize(HR, 1/scale)`` of the uint8 RGB frames,
    as in the evaluation protocol.
    """
    if not 1 <= centre <= len(frames) - 2:
        raise ValueError(f"centre {centre} needs a neighbour on each side; frames 1 … {len(frames) - 2} have both")
    hr = frames[centre - 1: centre + 2]
    lr = np.stack([imresize(f, 1.0 / scale) for f in hr])
    return torch.from_numpy(rgb_uint8_to_y01(lr))[None, :, None], y01(hr)


def level_flows_px(flows: Iterable[torch.Tensor], neighbour: int) -> list[np.ndarray]:
    """One neighbour's flows at every level, in pixels, as (H, W, 2) float64 arrays.

    ``flows`` holds per-level tensors (B, N, 2, H, W) in network units (a ``FlowPyramid``);
    the first sample of the batch is read.
    """
    return [model_to_pixels(f[0, neighbour]).permute(1, 2, 0).double().numpy() for f in flows]


def pool_flow(gt_hr: np.ndarray, factor: int) -> np.ndarray:
    """HR flow (H, W, 2) in pixels on a grid ``factor`` times coarser: block means, lengths divided by ``factor``.

    Rows and columns that do not fill a whole block are dropped.
    """
    gt_hr = np.asarray(gt_hr)
    if gt_hr.ndim != 3 or gt_hr.shape[-1] != 2:
        raise ValueError(f"pool_flow expects an (H, W, 2) flow, got shape {gt_hr.shape}")
    if factor < 1:
        raise ValueError(f"pool_flow: factor must be >= 1, got {factor}")
    h, w = gt_hr.shape[0] // factor, gt_hr.shape[1] // factor
    return gt_hr[: h * factor, : w * factor].reshape(h, factor, w, factor, 2).mean((1, 3)) / factor


def level_borders(scale: int) -> tuple[int, int, int]:
    """Pixels left out at the ½ LR, LR and HR levels when scoring flows (HR: the protocol's 6 + s)."""
    return 1, 2, 6 + scale


def _pooled_truth(gt_hr: np.ndarray, scale: int) -> list[np.ndarray]:
    """HR ground truth at the ½ LR, LR and HR grids."""
    return [pool_flow(gt_hr, 2 * scale), pool_flow(gt_hr, scale), gt_hr]


def _level_row(name: str, scale: int, errors: Sequence[Sequence[float]]) -> dict[str, Any]:
    return {"model": name, "scale": f"x{scale}",
            **{f"EPE {lvl} (px)": float(np.mean(e)) for lvl, e in zip(LEVELS, errors)}}


def epe_rows(named_models: Mapping[str, Any], clips: Sequence[Any], scale: int) -> list[dict[str, Any]]:
    """Mean end-point error per flow level of each model, then of zero flow, over clips with ground truth.

    Every centre frame with two neighbours and both neighbours of each clip are
    measured; each level is scored in pixels of its own grid against the HR ground
    truth pooled to that grid, with :func:`level_borders` left out. Rows are
    ``{"model", "scale", "EPE ½ LR (px)", "EPE LR (px)", "EPE HR (px)"}``; the last
    row, ``"zero flow"``, is the error of predicting no motion.
    """
    clips = [c for c in clips if c.has_flow]
    if not clips:
        raise ValueError("epe_rows: no clip with ground-truth flow")
    borders = level_borders(scale)
    rows = []
    for name, model in named_models.items():
        errs: list[list[float]] = [[], [], []]
        for c in clips:
            for t in range(1, len(c) - 1):
                lr_t, _ = lr_window(c.frames, t, scale)
                with torch.no_grad():
                    fl = model.estimate_flows(lr_t)
                for j, n in enumerate((t - 1, t + 1)):
                    truth = _pooled_truth(c.gt_flow(t, n), scale)
                    for k, (f, tr) in enumerate(zip(level_flows_px(fl, j), truth)):
                        errs[k].append(endpoint_error(f, tr, borders[k]))
        rows.append(_level_row(name, scale, errs))
    zero: list[list[float]] = [[], [], []]
    for c in clips:
        for t in range(1, len(c) - 1):
            for n in (t - 1, t + 1):
                for k, tr in enumerate(_pooled_truth(c.gt_flow(t, n), scale)):
                    zero[k].append(endpoint_error(np.zeros_like(tr), tr, borders[k]))
    rows.append(_level_row("zero flow", scale, zero))
    return rows


def flow_warp_unaligned(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The authors' warp as it runs on PyTorch >= 1.3 when ``align_corners`` is not given (False).

    Same grid arithmetic as :func:`sofkd_lib.archs.warp.flow_warp`, but the sampler reads
    −1 and +1 as the outer edges of the image instead of the centres of its corner
    pixels: even zero flow then shifts and blurs the image slightly.
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow_warp_unaligned expects image (B, C, H, W) and flow (B, 2, H, W); "
                         f"got {tuple(image.shape)} and {tuple(flow.shape)}")
    _, _, h, w = image.shape
    factor = flow.new_tensor([FLOW_SCALE_NUMERATOR / (w - 1), FLOW_SCALE_NUMERATOR / (h - 1)])
    grid = _base_grid(h, w, flow) + flow.permute(0, 2, 3, 1) * factor
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
