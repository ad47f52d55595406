"""Training sampler whose clips live on the training device: the same patches as :class:`TrainSampler`.

:class:`DeviceSampler` keeps every training frame resident on the device as uint8
RGB (HR, cropped to a multiple of the scale) together with its LR frame, made once
at construction by :func:`imresize_torch` (MATLAB's bicubic ``imresize`` as batched
tensor ops; other degradations are computed once on the host by
:func:`~sofkd_lib.data.resize.degrade` and uploaded). A batch is then one gather per
resolution — crop, flips and transpose folded into the gather's indices — and the
authors' Y conversion, all on the device.

The random choices are :meth:`TrainSampler.draw_item`'s, drawn on the host from the
same NumPy generator in the same order, so for one seed both samplers give the same
batches (Y to float32 precision) and their ``state_dict`` are interchangeable.
Device memory: 3·(1 + 1/s²) bytes per HR pixel of the training split (:attr:`DeviceSampler.nbytes`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sofkd_lib.data.color import _OFFSET, _RGB_TO_YCBCR
from sofkd_lib.data.datasets import Clip
from sofkd_lib.data.resize import _weight_matrix, degrade
from sofkd_lib.data.sampler import TrainSampler

#: Frames degraded per call at construction (bounds the float64 intermediate).
_DEGRADE_CHUNK = 16


def imresize_torch(images: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """:func:`~sofkd_lib.data.resize.imresize` on a batch (N, H, W, C) or (N, H, W), on the tensor's device.

    The same dense per-axis weight matrices as ``imresize`` (MATLAB's antialiased
    cubic kernel, mirrored borders folded in), applied rows first in float64;
    uint8 in gives uint8 out, rounded half away from zero and saturated after each
    axis; floating point in gives float64 out.
    """
    if images.ndim not in (3, 4):
        raise ValueError(f"imresize_torch expects (N, H, W) or (N, H, W, C), got shape {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.dtype.is_floating_point):
        raise TypeError(f"imresize_torch supports uint8 or float tensors, got {images.dtype}")
    if not scale_factor > 0 or not math.isfinite(scale_factor):
        raise ValueError(f"scale_factor must be a positive finite number, got {scale_factor}")
    is_uint8 = images.dtype == torch.uint8
    squeeze = images.ndim == 3
    cur = (images[..., None] if squeeze else images).to(torch.float64)
    h, w = cur.shape[1:3]
    out_h, out_w = math.ceil(h * scale_factor), math.ceil(w * scale_factor)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"imresize_torch of {h}×{w} by {scale_factor} gives an empty image")
    for dim, in_len, out_len in ((1, h, out_h), (2, w, out_w)):
        mat = torch.from_numpy(_weight_matrix(in_len, out_len, float(scale_factor))).to(cur.device)
        cur = torch.tensordot(mat, cur, dims=([1], [dim])).movedim(0, dim)
        if is_uint8:
            cur = torch.floor(cur + 0.5).clamp_(0, 255)
    out = cur.to(torch.uint8) if is_uint8 else cur
    return out[..., 0] if squeeze else out


def _y01(rgb: torch.Tensor) -> torch.Tensor:
    """The authors' Y on [0, 1] of uint8 RGB (…, 3), float32: :func:`~sofkd_lib.data.color.rgb_uint8_to_y01`'s
    arithmetic (float64, the full matrix product) on the tensor's device."""
    mat = torch.from_numpy(_RGB_TO_YCBCR.T.copy()).to(rgb.device)
    offset = torch.from_numpy(_OFFSET).to(rgb.device)
    return ((rgb.to(torch.float64) / 255.0) @ mat + offset)[..., 0].to(torch.float32)


class DeviceSampler(TrainSampler):
    """:class:`TrainSampler`'s batches, cropped on ``device`` from device-resident uint8 frames.

    Same arguments as :class:`TrainSampler` plus ``device``; :meth:`sample` returns
    lr (B, T, 1, p, p) and hr (B, T, 1, s·p, s·p) float32 tensors on ``device``.
    """

    def __init__(self, clips: Sequence[Clip], *, device: str | torch.device = "cpu", **sampler_args: Any):
        super().__init__(clips, **sampler_args)  # TrainSampler's arguments and their checks, unchanged
        self.device = torch.device(device)
        s = self.scale
        hr_parts, lr_parts, meta = [], [], []
        hr_off = lr_off = 0
        for clip in self.clips:
            h, w = (clip.height // s) * s, (clip.width // s) * s
            hr = torch.from_numpy(np.ascontiguousarray(clip.frames[:, :h, :w])).to(self.device)
            lr = self._degrade(clip.frames[:, :h, :w], hr)
            meta.append((hr_off, w, h * w, lr_off, w // s, (h // s) * (w // s)))
            hr_parts.append(hr.reshape(-1, 3))
            lr_parts.append(lr.reshape(-1, 3))
            hr_off += hr_parts[-1].shape[0]
            lr_off += lr_parts[-1].shape[0]
        #: All HR / LR pixels, clip after clip, frame after frame, row-major: (pixels, 3) uint8.
        self._hr = torch.cat(hr_parts)
        self._lr = torch.cat(lr_parts)
        #: Per clip: HR offset, HR width, HR frame size, LR offset, LR width, LR frame size (in pixels).
        self._meta = torch.tensor(meta, dtype=torch.int64, device=self.device)

    def _degrade(self, frames: np.ndarray, hr: torch.Tensor) -> torch.Tensor:
        """LR uint8 RGB frames of one clip: on the device for MATLAB bicubic, else once on the host."""
        if self.degradation == "bicubic-matlab":
            return torch.cat([imresize_torch(hr[i : i + _DEGRADE_CHUNK], 1.0 / self.scale)
                              for i in range(0, hr.shape[0], _DEGRADE_CHUNK)])
        lr = np.stack([degrade(np.ascontiguousarray(f), self.scale, self.degradation) for f in frames])
        return torch.from_numpy(lr).to(self.device)

    @property
    def nbytes(self) -> int:
        """Device bytes held by the resident frames."""
        return int(self._hr.numel() + self._lr.numel())

    def _gather(self, pixels: torch.Tensor, draws: torch.Tensor, lr: bool) -> torch.Tensor:
        """Y patches (B, T, 1, q, q) of the drawn items from ``pixels`` (LR or HR), augmented."""
        q = self.patch_size if lr else self.scale * self.patch_size
        meta = self._meta[draws[:, 0]]
        off, width, frame = (meta[:, 3], meta[:, 4], meta[:, 5]) if lr else (meta[:, 0], meta[:, 1], meta[:, 2])
        corner = 1 if lr else self.scale
        b = draws.shape[0]
        i = torch.arange(q, device=self.device)
        # out[i, j] = patch[row, col] after (h-flip, v-flip, transpose) applied in TrainSampler's order.
        ii, jj = i.view(1, q, 1), i.view(1, 1, q)
        hflip, vflip, transpose = (draws[:, k].view(b, 1, 1).bool() for k in (4, 5, 6))
        row, col = torch.where(transpose, jj, ii), torch.where(transpose, ii, jj)
        row, col = torch.where(vflip, q - 1 - row, row), torch.where(hflip, q - 1 - col, col)
        pix = (draws[:, 2, None, None] * corner + row) * width[:, None, None] + draws[:, 3, None, None] * corner + col
        t = torch.arange(self.n_frames, device=self.device)
        first = off + draws[:, 1] * frame
        index = first[:, None, None, None] + t[None, :, None, None] * frame[:, None, None, None] + pix[:, None]
        return _y01(pixels[index]).unsqueeze(2)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch: lr (B, T, 1, p, p) and hr (B, T, 1, s·p, s·p) float32 tensors on the device."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        draws = np.empty((batch_size, 7), dtype=np.int64)
        for n in range(batch_size):
            ci, start, y0, x0, flips = self.draw_item()
            draws[n] = (ci, start, y0, x0, *flips)
        dev = torch.from_numpy(draws).to(self.device)
        return self._gather(self._lr, dev, lr=True), self._gather(self._hr, dev, lr=False)

    def sample_item(self) -> tuple[np.ndarray, np.ndarray]:
        """One (lr (T, p, p), hr (T, s·p, s·p)) pair of float32 arrays, as :meth:`TrainSampler.sample_item`."""
        lr, hr = self.sample(1)
        return lr[0, :, 0].cpu().numpy(), hr[0, :, 0].cpu().numpy()
