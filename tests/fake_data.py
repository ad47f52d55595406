"""Fake data folders in the layouts the readers expect (one home for every test that needs one).

Frames are either *flat* (frame ``i`` filled with the value ``i``: tests that check which file was
read) or *textured* (smooth random texture drifting one pixel a frame: tests that train and score,
where a flat frame would give an infinite PSNR).
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

#: The four Vid4 sequences, as the Vid4 reader expects them.
VID4_SEQUENCES = ("calendar", "city", "foliage", "walk")


def _texture(h: int, w: int, n: int, seed: int) -> np.ndarray:
    """``n`` frames (n, h, w, 3) uint8 cut from one smooth random canvas, shifted one pixel a frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=((h + n) // 4 + 2, (w + n) // 4 + 2, 3), dtype=np.uint8)
    canvas = np.asarray(Image.fromarray(coarse).resize(((w + n) + 8, (h + n) + 8), Image.BICUBIC))
    fine = rng.integers(-12, 13, size=canvas.shape)
    canvas = np.clip(canvas.astype(int) + fine, 0, 255).astype(np.uint8)
    return np.stack([canvas[i:i + h, i:i + w] for i in range(n)])


def write_frames(folder: Path, n: int, h: int = 8, w: int = 12, ext: str = "png", start: int = 1,
                 textured: bool = False, seed: int = 0, name: str = "{i:05d}") -> Path:
    """``n`` frames numbered from ``start`` in ``folder`` (flat unless ``textured``); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = _texture(h, w, n, seed) if textured else None
    for k, i in enumerate(range(start, start + n)):
        pixels = frames[k] if textured else np.full((h, w, 3), i, np.uint8)
        Image.fromarray(pixels).save(folder / f"{name.format(i=i)}.{ext}", quality=95)
    return folder


def write_davis(root: Path, sets: Mapping[str, Sequence[str]], n: int = 3, h: int = 8, w: int = 12,
                textured: bool = False) -> Path:
    """A fake DAVIS-2017 folder: ``sets`` maps a list name (train, val, test-dev) to its sequences."""
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    for list_name, names in sets.items():
        for k, name in enumerate(names):
            write_frames(root / "JPEGImages" / "480p" / name, n, h, w, ext="jpg", start=0, textured=textured,
                         seed=zlib.crc32(name.encode()) if textured else k)  # not hash(): salted per process
        (root / "ImageSets" / "2017" / f"{list_name}.txt").write_text("".join(f"{x}\n" for x in names))
    return root


def write_vid4(root: Path, n: int = 7, h: int = 32, w: int = 32) -> Path:
    """A fake Vid4 folder: ``ROOT/<sequence>/hr/hr_01.png …`` with textured frames."""
    for k, seq in enumerate(VID4_SEQUENCES):
        write_frames(root / seq / "hr", n, h, w, textured=True, seed=100 + k, name="hr_{i:02d}")
    return root
