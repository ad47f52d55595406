"""Video clips and dataset readers: Vid4-style folders, DAVIS-2017, any folder, video files.

Every reader returns a list of :class:`Clip` (RGB uint8 frames plus provenance).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sofkd_lib.data.io import (
    IMAGE_SUFFIXES,
    MIN_FRAMES,
    VIDEO_SUFFIXES,
    DataError,
    list_images,
    natural_sorted,
    read_frames,
    read_video,
)
from sofkd_lib.settings import DATA_ENV, shared_data_root

DATASET_KINDS = ("vid4", "davis", "folder", "video", "embedded")


@dataclass(frozen=True, eq=False)
class LayeredMotion:
    """Ground-truth motion of a layered synthetic clip.

    ``affines[t, l]`` (2×3) maps layer ``l``'s own coordinates (x, y) to frame
    ``t``'s pixel coordinates; ``labels[t]`` (H×W uint8) is the layer visible at
    each pixel of frame ``t``. Flow follows from the two exactly.
    """

    affines: np.ndarray  # (T, L, 2, 3) float64
    labels: np.ndarray  # (T, H, W) uint8

    def flow(self, centre: int, neighbour: int) -> np.ndarray:
        """(H, W, 2) flow (dx, dy) with frame[centre](p) ≈ frame[neighbour](p + flow(p))."""
        n_layers = self.affines.shape[1]
        h, w = self.labels.shape[1:]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        pts = np.stack((xs, ys, np.ones_like(xs)), axis=-1)  # (H, W, 3)
        out = np.zeros((h, w, 2), dtype=np.float64)
        label = self.labels[centre]
        for layer in range(n_layers):
            sel = label == layer
            if not sel.any():
                continue
            to_c = np.vstack((self.affines[centre, layer], [0.0, 0.0, 1.0]))
            to_n = np.vstack((self.affines[neighbour, layer], [0.0, 0.0, 1.0]))
            # Point p in the centre frame came from layer point A_c⁻¹p; the neighbour shows it at A_n A_c⁻¹ p.
            m = (to_n @ np.linalg.inv(to_c))[:2]
            p = pts[sel]
            out[sel] = p @ m.T - p[:, :2]
        return out.astype(np.float32)

    def crop(self, h: int, w: int) -> LayeredMotion:
        """Top-left crop: pixel coordinates, hence affines, are unchanged."""
        return LayeredMotion(self.affines, self.labels[:, :h, :w])

    def head(self, n: int) -> LayeredMotion:
        return LayeredMotion(self.affines[:n], self.labels[:n])


@dataclass(eq=False)  # arrays inside: compare clips by identity
class Clip:
    """One video sequence: ``frames`` (T, H, W, 3) uint8 RGB, a ``name`` and its ``source``."""

    name: str
    frames: np.ndarray
    source: str
    motion: LayeredMotion | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            got = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
            raise DataError(f"clip {self.name!r}: frames must be a (T, H, W, 3) uint8 array, got {got}")
        if f.shape[0] < MIN_FRAMES:
            raise DataError(f"clip {self.name!r} has {f.shape[0]} frame(s); a sequence needs at least {MIN_FRAMES}")
        if self.motion is not None and self.motion.labels.shape != f.shape[:3]:
            raise DataError(
                f"clip {self.name!r}: motion labels {self.motion.labels.shape} do not match frames {f.shape}"
            )

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def has_flow(self) -> bool:
        return self.motion is not None

    def gt_flow(self, centre: int, neighbour: int) -> np.ndarray | None:
        """Ground-truth (H, W, 2) flow in HR pixels, (dx, dy), such that
        ``frames[centre][y, x] ≈ frames[neighbour][y + dy, x + dx]``; None when unknown."""
        if self.motion is None:
            return None
        for idx in (centre, neighbour):
            if not 0 <= idx < len(self):
                raise IndexError(f"clip {self.name!r}: frame {idx} out of range 0..{len(self) - 1}")
        return self.motion.flow(centre, neighbour)

    def crop(self, height: int, width: int) -> Clip:
        """The top-left ``height`` × ``width`` region of every frame (flow stays valid)."""
        if not (0 < height <= self.height and 0 < width <= self.width):
            raise ValueError(f"clip {self.name!r}: cannot crop {self.height}×{self.width} to {height}×{width}")
        motion = self.motion.crop(height, width) if self.motion is not None else None
        return replace(self, frames=self.frames[:, :height, :width], motion=motion)

    def head(self, n_frames: int | None) -> Clip:
        """The first ``n_frames`` frames (all when None)."""
        if n_frames is None or n_frames >= len(self):
            return self
        motion = self.motion.head(n_frames) if self.motion is not None else None
        return replace(self, frames=self.frames[:n_frames], motion=motion)


def missing_root_error(kind: str, root: Path, hint: str = "") -> DataError:
    """The error for an absent data folder: where we looked and how to point elsewhere."""
    return DataError(
        f"{kind} data not found: looked in {root}{hint}. Point at it with --data DIR "
        f"(or the root= argument), or set {DATA_ENV} to the shared data folder "
        f"(currently {shared_data_root()}); with no data at all use the offline 'embedded' split."
    )


def _sequence_folder(seq_dir: Path) -> Path:
    """``seq/hr`` when it exists (Vid4-style), else ``seq`` itself."""
    hr = seq_dir / "hr"
    return hr if hr.is_dir() else seq_dir


def read_vid4(root: str | os.PathLike, max_frames: int | None = None) -> list[Clip]:
    """Vid4-style: ``ROOT/<sequence>/hr/*.png`` or ``ROOT/<sequence>/*.png``, sequences naturally sorted."""
    root = Path(root)
    if not root.is_dir():
        raise missing_root_error("Vid4-style", root)
    seqs = [d for d in natural_sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    seqs = [d for d in seqs if list_images(_sequence_folder(d))]
    if not seqs:
        raise DataError(
            f"{root}: no sequence folders with frames (expected ROOT/<sequence>/hr/*.png or ROOT/<sequence>/*.png)"
        )
    return [
        Clip(d.name, read_frames(_sequence_folder(d), max_frames), f"frames from {_sequence_folder(d)}")
        for d in seqs
    ]


#: DAVIS-2017 split → its list, ``ROOT/ImageSets/2017/<list>.txt``. ``test`` is the paper's
#: "DAVIS-2017 test", read as the test-dev set (the test set DAVIS-2017 publishes for evaluation).
DAVIS_SPLITS = {"train": "train", "val": "val", "test-dev": "test-dev", "test": "test-dev"}
#: The ten DAVIS-2017 test scenes the SOF-VSR authors score as "DAVIS-10" (their README's list).
DAVIS10_SCENES = ("boxing", "demolition", "dive-in", "dog-control", "dolphins", "kart-turn", "ocean-birds",
                  "pole-vault", "speed-skating", "wings-turn")
#: DAVIS split → the name results carry for the set scored.
DAVIS_SET_NAMES = {"train": "davis-2017-train", "val": "davis-2017-val", "test-dev": "davis-2017-test-dev",
                   "test": "davis-2017-test-dev", "davis-10": "davis-10", "all": "davis-2017-all"}
#: The set behind the "DAVIS-2017" columns of the paper's Table 1 (it says "DAVIS-2017 test").
PAPER_DAVIS_SET = DAVIS_SET_NAMES["test"]

# Our split of DAVIS-2017 footage for training on it (issue 28). The paper trains on DAVIS-2017 train and
# tests on DAVIS-2017 test; only 7 train and 20 val sequences are at hand (../shared/data/davis_subset), so
# five val sequences, chosen for different motion, are held out as a test column of their own, two more are
# set aside to validate on during training, and every other train or val sequence is trained on.
#: Held-out test column: slow pan over water (blackswan), a bike through occluding trees (bmx-trees), slow
#: animals on texture (cows), a surfer on waves and spray (kite-surf), fast running with camera motion (parkour).
DAVIS_HELD_OUT: tuple[str, ...] = ("blackswan", "bmx-trees", "cows", "kite-surf", "parkour")
#: Validation during training: a spinning dancer and a drifting car, never a reported column.
DAVIS_VALIDATION: tuple[str, ...] = ("dance-twirl", "drift-straight")
#: Our splits of the footage listed in train.txt and val.txt → the sequences they take.
DAVIS_OUR_SPLITS = ("train-pool", "validation", "held-out")
DAVIS_SET_NAMES.update({"train-pool": "davis-2017-train-pool", "validation": "davis-2017-validation",
                        "held-out": "davis-2017-val-held-out"})
#: How tables and the book name each of our splits: what it is, never the paper's test set.
DAVIS_SET_LABELS = {
    "held-out": f"DAVIS-2017 val, {len(DAVIS_HELD_OUT)} held-out sequences",
    "validation": f"DAVIS-2017 val, {len(DAVIS_VALIDATION)} validation sequences",
    "train-pool": f"DAVIS-2017 train and val less the {len(DAVIS_HELD_OUT) + len(DAVIS_VALIDATION)} held-out and "
                  f"validation sequences",
}


def davis_split_names(root: str | os.PathLike, split: str) -> list[str]:
    """The sequences of our split ``split`` (:data:`DAVIS_OUR_SPLITS`) under the DAVIS-2017 layout ``root``.

    ``train-pool`` is every sequence listed in ``ImageSets/2017/train.txt`` or ``val.txt`` except the
    held-out and validation ones; ``held-out`` and ``validation`` must all be listed, else
    :class:`DataError` names the missing ones (a column is its sequences: none is substituted).
    """
    if split not in DAVIS_OUR_SPLITS:
        raise ValueError(f"our DAVIS split must be one of {DAVIS_OUR_SPLITS}, got {split!r}")
    root = Path(root)
    listed: list[str] = []
    for name in ("train", "val"):
        path = root / "ImageSets" / "2017" / f"{name}.txt"
        if not path.is_file():
            raise DataError(f"{DAVIS_SET_NAMES[split]}: DAVIS-2017 split list not found: {path} (our splits "
                            f"draw on train.txt and val.txt)")
        listed += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if split == "train-pool":
        names = [n for n in dict.fromkeys(listed) if n not in DAVIS_HELD_OUT and n not in DAVIS_VALIDATION]
        if not names:
            raise DataError(f"{DAVIS_SET_NAMES[split]}: {root} lists no sequence outside the held-out and "
                            f"validation ones")
        return names
    wanted = DAVIS_HELD_OUT if split == "held-out" else DAVIS_VALIDATION
    missing = [n for n in wanted if n not in listed]
    if missing:
        raise DataError(f"{DAVIS_SET_NAMES[split]}: {root}/ImageSets/2017 does not list {', '.join(missing)}; "
                        f"this split is {', '.join(wanted)} and no other sequence stands in")
    return list(wanted)


def _davis10_folders(root: Path, resolution: str) -> list[tuple[str, Path]]:
    """(scene, frame folder) of DAVIS-10 under a DAVIS-2017 layout or a folder of scene folders."""
    frames_root = root / "JPEGImages" / resolution
    if frames_root.is_dir():
        where, found = f"{frames_root}/<scene>/*.jpg", [(n, frames_root / n) for n in DAVIS10_SCENES]
    else:
        where, found = f"{root}/<scene>/hr/*.png or {root}/<scene>/*.png", [
            (n, _sequence_folder(root / n)) for n in DAVIS10_SCENES]
    missing = [n for n, folder in found if not (folder.is_dir() and list_images(folder))]
    if missing:
        raise DataError(
            f"DAVIS-10 incomplete: no frames for {', '.join(missing)} (looked for {where}). DAVIS-10 is these ten "
            f"DAVIS-2017 test scenes: {', '.join(DAVIS10_SCENES)}; no other scene is substituted."
        )
    return found


def read_davis(
    root: str | os.PathLike, split: str = "val", resolution: str = "480p", max_frames: int | None = None
) -> list[Clip]:
    """DAVIS-2017 sets. ``split`` train, val or test-dev (``test`` = test-dev): the sequences of
    ``ROOT/ImageSets/2017/<split>.txt``, frames ``ROOT/JPEGImages/<resolution>/<seq>/*.jpg``; ``train-pool``,
    ``validation``, ``held-out``: our split of train and val (:func:`davis_split_names`); ``davis-10``:
    the SOF-VSR authors' ten test scenes (:data:`DAVIS10_SCENES`), from that layout or from
    ``ROOT/<scene>/hr/*.png`` (or ``ROOT/<scene>/*.png``); ``all``: every sequence folder.

    A set whose list or frames are absent raises :class:`DataError` naming what was looked for
    and where; another set is never read in its place.
    """
    root = Path(root)
    if split not in ("all", "davis-10", *DAVIS_SPLITS, *DAVIS_OUR_SPLITS):
        raise ValueError(f"DAVIS split must be one of {sorted(DAVIS_SPLITS)}, our {list(DAVIS_OUR_SPLITS)}, "
                         f"'davis-10' or 'all', got {split!r}")
    label = DAVIS_SET_NAMES[split]
    if split == "davis-10":
        if not root.is_dir():
            raise missing_root_error("DAVIS-10", root, f" (expected the scenes {', '.join(DAVIS10_SCENES)})")
        return [Clip(name, read_frames(folder, max_frames), f"{label} {folder}")
                for name, folder in _davis10_folders(root, resolution)]
    frames_root = root / "JPEGImages" / resolution
    if not frames_root.is_dir():
        raise missing_root_error(f"DAVIS-2017 ({label})", frames_root,
                                 f" (expected ROOT/JPEGImages/{resolution}/<sequence>/*.jpg)")
    if split == "all":
        names = [d.name for d in natural_sorted(frames_root.iterdir()) if d.is_dir()]
        listed_in = frames_root
    elif split in DAVIS_OUR_SPLITS:
        names, listed_in = davis_split_names(root, split), root / "ImageSets" / "2017"
    else:
        listed_in = root / "ImageSets" / "2017" / f"{DAVIS_SPLITS[split]}.txt"
        if not listed_in.is_file():
            download = " (the test-dev download adds it and its frames to the same folder)" \
                if DAVIS_SPLITS[split] == "test-dev" else ""
            raise DataError(f"{label}: DAVIS-2017 split list not found: {listed_in}{download}; "
                            f"no other split is read in its place")
        names = [line.strip() for line in listed_in.read_text().splitlines() if line.strip()]
        if not names:
            raise DataError(f"{label}: {listed_in} lists no sequence")
    clips = []
    for name in names:
        folder = frames_root / name
        if not folder.is_dir():
            raise DataError(f"{label}: {listed_in}: sequence {name!r} has no folder {folder}")
        clips.append(Clip(name, read_frames(folder, max_frames), f"{label} {resolution} {folder}"))
    return clips


def read_folder(root: str | os.PathLike, max_frames: int | None = None) -> list[Clip]:
    """A folder of frames (one clip) or a folder of such folders (one clip each)."""
    root = Path(root)
    if not root.is_dir():
        raise missing_root_error("frame folder", root)
    if list_images(root):
        return [Clip(root.name, read_frames(root, max_frames), f"frames from {root}")]
    return read_vid4(root, max_frames)


def read_videos(root: str | os.PathLike, max_frames: int | None = None) -> list[Clip]:
    """A video file (one clip) or a folder of video files (one clip each), decoded with PyAV."""
    root = Path(root)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = natural_sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise DataError(f"{root}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    else:
        raise missing_root_error("video", root)
    return [Clip(p.stem, read_video(p, max_frames), f"video file {p}") for p in files]


def detect_kind(root: str | os.PathLike) -> str:
    """Guess the dataset kind of ``root``: embedded, video, davis, folder or vid4."""
    if str(root) == "embedded":
        return "embedded"
    root = Path(root)
    if root.is_file():
        return "video" if root.suffix.lower() in VIDEO_SUFFIXES else "folder"
    if not root.exists():
        raise missing_root_error("dataset", root)
    if (root / "JPEGImages").is_dir():
        return "davis"
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir() if p.is_file()):
        return "folder"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in root.iterdir() if p.is_file()):
        return "video"
    return "vid4"


def load_dataset(
    kind: str, root: str | os.PathLike | None = None, split: str = "test", max_frames: int | None = None
) -> list[Clip]:
    """Clips of a dataset ``kind`` ("vid4", "davis", "folder", "video", "embedded" or "auto") at ``root``."""
    if kind == "auto":
        if root is None:
            raise ValueError("load_dataset(kind='auto') needs a root")
        kind = detect_kind(root)
    if kind == "embedded":
        from sofkd_lib.data.embedded import load_embedded

        cache = None if root is None or str(root) == "embedded" else root  # a root here is a cache folder
        return [c.head(max_frames) for c in load_embedded(split, cache=cache)]
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose one of {DATASET_KINDS} or 'auto'")
    if root is None:
        if kind != "vid4":
            raise ValueError(f"dataset kind {kind!r} needs a root folder (--data DIR)")
        root = shared_data_root() / "vid4"
    if kind == "vid4":
        return read_vid4(root, max_frames)
    if kind == "davis":
        return read_davis(root, split, max_frames=max_frames)
    if kind == "folder":
        return read_folder(root, max_frames)
    return read_videos(root, max_frames)


#: Names :func:`load_split` knows (a training run may name all but vid4: ``TrainConfig.dataset``).
SPLIT_NAMES = ("embedded", "vid4", "davis", "folder")


def load_split(name: str = "embedded", split: str = "train", root: str | os.PathLike | None = None) -> list[Clip]:
    """A named set: ``embedded`` (offline, built on first use; train, test, val = test), ``vid4`` (test
    only), ``davis`` (train, val, test-dev, test = test-dev, davis-10, and our train-pool, validation and
    held-out; see :func:`read_davis`) or
    ``folder`` (any folder of clips at ``root``, for training only).

    ``root`` overrides where the data lives (for ``embedded``: the cache folder). A set that is
    absent raises :class:`DataError`; none stands in for another.
    """
    if name == "embedded":
        from sofkd_lib.data.embedded import load_embedded

        return load_embedded(split, cache=root)
    if name == "vid4":
        if split == "train":
            raise ValueError("Vid4 is a test set only; never train on it (use 'embedded', 'davis' or 'folder')")
        if split != "test":
            raise ValueError(f"Vid4 has only the split 'test', got {split!r}")
        return read_vid4(Path(root) if root is not None else shared_data_root() / "vid4")
    if name == "davis":
        return read_davis(Path(root) if root is not None else shared_data_root() / "davis", split)
    if name == "folder":
        if split != "train":
            raise ValueError(f"a folder of clips is training data only (split 'train'), got {split!r}; "
                             f"score on a named test set (embedded, vid4, davis)")
        if root is None:
            raise ValueError("load_split('folder') needs root= (the folder of clips)")
        return read_folder(root)
    raise ValueError(f"unknown split name {name!r}; choose one of {SPLIT_NAMES}")


def set_name(name: str, split: str = "test", root: str | os.PathLike | None = None) -> str:
    """The name results carry for the clips of :func:`load_dataset` / :func:`load_split`.

    ``embedded`` test → ``embedded`` (other splits ``embedded-<split>``), Vid4 → ``vid4``,
    DAVIS → :data:`DAVIS_SET_NAMES` (e.g. ``davis-2017-test-dev``, ``davis-10``), a folder or video
    → its file name; ``auto`` is resolved with :func:`detect_kind` first.
    """
    if name == "auto":
        if root is None:
            raise ValueError("set_name('auto') needs a root")
        name = detect_kind(root)
    if name == "embedded":
        return "embedded" if split in ("test", "val") else f"embedded-{split}"
    if name == "vid4":  # a Vid4-style folder under another name is named by its folder
        return "vid4" if root is None or Path(root).name.lower() == "vid4" else Path(root).name
    if name == "davis":
        if split not in DAVIS_SET_NAMES:
            raise ValueError(f"DAVIS split must be one of {sorted(DAVIS_SET_NAMES)}, got {split!r}")
        return DAVIS_SET_NAMES[split]
    if name in ("folder", "video"):
        if root is None:
            raise ValueError(f"set_name({name!r}) needs a root")
        return Path(root).name
    raise ValueError(f"unknown dataset {name!r}; choose one of {SPLIT_NAMES + ('video', 'auto')}")
