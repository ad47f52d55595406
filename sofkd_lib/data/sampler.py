"""Training sampler: random frame windows and aligned LR/HR Y patches, deterministic from a seed."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sofkd_lib.data.color import rgb_uint8_to_y01
from sofkd_lib.data.datasets import Clip
from sofkd_lib.data.io import write_atomic
from sofkd_lib.data.resize import DEGRADATIONS, degrade

#: Part of every LR cache key: change it when :func:`~sofkd_lib.data.resize.degrade` changes its output.
LR_CACHE_VERSION = "degrade-1"


def lr_cache_key(hr_rgb_uint8: np.ndarray, scale: int, degradation: str) -> str:
    """The name an LR frame is cached under: a hash of the HR frame's pixels and shape, the scale, the
    degradation and :data:`LR_CACHE_VERSION` (the same frame read from any folder shares one entry)."""
    digest = hashlib.sha256(f"{LR_CACHE_VERSION}|{degradation}|{scale}|{hr_rgb_uint8.shape}|".encode())
    digest.update(np.ascontiguousarray(hr_rgb_uint8).tobytes())
    return digest.hexdigest()[:40]


class TrainSampler:
    """Draws (lr, hr) batches from clips, as the SOF-VSR authors train.

    Each item: a random ``n_frames`` window of a clip (clips weighted by their
    number of windows), a random ``patch_size``² LR patch at least ``border`` LR
    pixels from the frame edge (less when a frame is too small for it), and the
    aligned ``scale·patch_size``² HR patch; then random horizontal flip, vertical
    flip and transpose, shared by all frames. LR frames are made from HR on the
    fly by ``degradation`` and cached per frame; with ``lr_cache_dir`` each degraded
    frame is also kept on disk there (uint8, keyed by :func:`lr_cache_key`), so later
    runs on the same frames read it instead of degrading it again: the same arrays,
    the same batches. Tensors are the authors' Y in [0, 1]: lr (B, T, 1, p, p),
    hr (B, T, 1, s·p, s·p), float32.

    Every draw comes from one NumPy generator seeded by ``seed``;
    :meth:`state_dict` / :meth:`load_state_dict` save and restore it so a resumed
    run continues the identical stream.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        scale: int = 4,
        patch_size: int = 32,
        n_frames: int = 3,
        seed: int = 0,
        degradation: str = "bicubic-matlab",
        augment: bool = True,
        border: int = 10,
        lr_cache_dir: str | os.PathLike | None = None,
    ):
        if degradation not in DEGRADATIONS:
            raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {degradation!r}")
        if scale < 1 or patch_size < 1 or border < 0:
            raise ValueError(f"need scale >= 1, patch_size >= 1, border >= 0; got {scale}, {patch_size}, {border}")
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.scale, self.patch_size, self.n_frames = int(scale), int(patch_size), int(n_frames)
        self.seed, self.degradation, self.augment, self.border = int(seed), degradation, bool(augment), int(border)
        self.clips: list[Clip] = []
        skipped = []
        for clip in clips:
            lr_h, lr_w = clip.height // self.scale, clip.width // self.scale
            if len(clip) >= n_frames and min(lr_h, lr_w) >= patch_size:
                self.clips.append(clip)
            else:
                skipped.append(clip.name)
        if not self.clips:
            raise ValueError(
                f"no clip has {n_frames} frames and an LR size of at least {patch_size}×{patch_size} "
                f"at scale {scale} (skipped: {', '.join(skipped) or 'none given'})"
            )
        self.skipped = skipped
        windows = np.array([len(c) - n_frames + 1 for c in self.clips], dtype=np.float64)
        self._clip_prob = windows / windows.sum()
        self._rng = np.random.default_rng(self.seed)
        self._draws = 0
        self._lr_cache: dict[tuple[int, int], np.ndarray] = {}
        self.lr_cache_dir = None if lr_cache_dir is None else Path(lr_cache_dir)
        self._hr_cache: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        """Number of distinct frame windows."""
        return int(sum(len(c) - self.n_frames + 1 for c in self.clips))

    def _hr_y(self, ci: int, fi: int) -> np.ndarray:
        key = (ci, fi)
        if key not in self._hr_cache:
            clip = self.clips[ci]
            h, w = (clip.height // self.scale) * self.scale, (clip.width // self.scale) * self.scale
            self._hr_cache[key] = rgb_uint8_to_y01(clip.frames[fi, :h, :w])
        return self._hr_cache[key]

    def _lr_y(self, ci: int, fi: int) -> np.ndarray:
        key = (ci, fi)
        if key not in self._lr_cache:
            clip = self.clips[ci]
            h, w = (clip.height // self.scale) * self.scale, (clip.width // self.scale) * self.scale
            # Degrade the uint8 RGB frame, then take Y: the authors' LR PNGs are RGB.
            self._lr_cache[key] = rgb_uint8_to_y01(self._degraded(np.ascontiguousarray(clip.frames[fi, :h, :w])))
        return self._lr_cache[key]

    def _degraded(self, hr: np.ndarray) -> np.ndarray:
        """``degrade(hr)``, read from or written to ``lr_cache_dir`` when there is one (an unreadable or
        mis-shaped entry is computed and written again)."""
        if self.lr_cache_dir is None:
            return degrade(hr, self.scale, self.degradation)
        path = self.lr_cache_dir / f"{lr_cache_key(hr, self.scale, self.degradation)}.npy"
        shape = (hr.shape[0] // self.scale, hr.shape[1] // self.scale, *hr.shape[2:])
        try:
            lr = np.load(path, allow_pickle=False)
            if lr.dtype == np.uint8 and lr.shape == shape:
                return lr
        except (OSError, ValueError):
            pass
        lr = degrade(hr, self.scale, self.degradation)
        write_atomic(path, lambda tmp: np.save(tmp, lr, allow_pickle=False))
        return lr

    def _corner(self, size: int) -> int:
        """Random LR patch origin along one axis, ``border`` from the edges where room allows."""
        room = size - self.patch_size
        margin = min(self.border, room // 2)
        return int(self._rng.integers(margin, room - margin + 1))

    def draw_item(self) -> tuple[int, int, int, int, np.ndarray]:
        """The random choices of one item, in stream order: clip, first frame, LR patch
        origin (y0, x0) and (horizontal flip, vertical flip, transpose). Shared with
        :class:`~sofkd_lib.data.device_sampler.DeviceSampler`, which crops the same patches."""
        ci = int(self._rng.choice(len(self.clips), p=self._clip_prob))
        clip = self.clips[ci]
        start = int(self._rng.integers(0, len(clip) - self.n_frames + 1))
        lr_h, lr_w = clip.height // self.scale, clip.width // self.scale
        y0, x0 = self._corner(lr_h), self._corner(lr_w)
        flips = self._rng.random(3) < 0.5 if self.augment else np.zeros(3, dtype=bool)
        self._draws += 1
        return ci, start, y0, x0, flips

    def sample_item(self) -> tuple[np.ndarray, np.ndarray]:
        """One (lr (T, p, p), hr (T, s·p, s·p)) pair of float32 arrays."""
        ci, start, y0, x0, flips = self.draw_item()
        p, s = self.patch_size, self.scale
        lr = np.stack([self._lr_y(ci, f)[y0 : y0 + p, x0 : x0 + p] for f in range(start, start + self.n_frames)])
        hr = np.stack([
            self._hr_y(ci, f)[s * y0 : s * (y0 + p), s * x0 : s * (x0 + p)] for f in range(start, start + self.n_frames)
        ])
        if flips[0]:
            lr, hr = lr[:, :, ::-1], hr[:, :, ::-1]
        if flips[1]:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
        if flips[2]:
            lr, hr = lr.transpose(0, 2, 1), hr.transpose(0, 2, 1)
        return np.ascontiguousarray(lr), np.ascontiguousarray(hr)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch: lr (B, T, 1, p, p) and hr (B, T, 1, s·p, s·p) float32 tensors."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = [self.sample_item() for _ in range(batch_size)]
        lr = torch.from_numpy(np.stack([i[0] for i in items])).unsqueeze(2)
        hr = torch.from_numpy(np.stack([i[1] for i in items])).unsqueeze(2)
        return lr, hr

    def config(self) -> dict[str, Any]:
        return {
            "scale": self.scale, "patch_size": self.patch_size, "n_frames": self.n_frames, "seed": self.seed,
            "degradation": self.degradation, "augment": self.augment, "border": self.border,
            "clips": [c.name for c in self.clips],
        }

    def state_dict(self) -> dict[str, Any]:
        """Generator state and configuration (JSON-serialisable)."""
        return {"rng": self._rng.bit_generator.state, "draws": self._draws, "config": self.config()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; refuses one made with another configuration."""
        mine = self.config()
        theirs = state.get("config", {})
        diff = [k for k in mine if k != "seed" and k in theirs and theirs[k] != mine[k]]
        if diff:
            raise ValueError(
                "sampler state was saved with another configuration: "
                + ", ".join(f"{k}={theirs[k]!r} (now {mine[k]!r})" for k in diff)
            )
        self._rng.bit_generator.state = state["rng"]
        self._draws = int(state.get("draws", 0))
