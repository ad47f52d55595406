"""Clip, ground-truth flow bookkeeping and the dataset readers."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sofkd_lib.data import Clip, DataError, LayeredMotion, detect_kind, load_dataset, load_split
from sofkd_lib.data.io import write_video


def _frames(folder, n, h=8, w=12, ext="png", start=1):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.fromarray(np.full((h, w, 3), i, np.uint8)).save(folder / f"{i:05d}.{ext}")


def test_clip_validation():
    with pytest.raises(DataError, match="'x' has 2 frame"):
        Clip("x", np.zeros((2, 4, 4, 3), np.uint8), "t")
    with pytest.raises(DataError, match=r"\(T, H, W, 3\) uint8"):
        Clip("x", np.zeros((3, 4, 4), np.uint8), "t")
    c = Clip("x", np.zeros((5, 6, 8, 3), np.uint8), "t")
    assert len(c) == 5 and (c.height, c.width) == (6, 8) and c.gt_flow(1, 0) is None
    assert c.crop(4, 6).frames.shape == (5, 4, 6, 3) and len(c.head(3)) == 3


def _translation(dx, dy):
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def test_gt_flow_from_layers():
    # Background moves +1 px right per frame; a foreground layer moves 2 px down per frame.
    t_frames, h, w = 3, 4, 5
    affines = np.stack([np.stack([_translation(t, 0), _translation(0, 2 * t)]) for t in range(t_frames)])
    labels = np.zeros((t_frames, h, w), np.uint8)
    labels[1, 0, 0] = 1
    clip = Clip("m", np.zeros((t_frames, h, w, 3), np.uint8), "t", LayeredMotion(affines, labels))
    flow = clip.gt_flow(1, 2)
    assert flow.shape == (h, w, 2) and flow.dtype == np.float32
    assert flow[0, 0].tolist() == [0.0, 2.0]
    assert flow[3, 4].tolist() == [1.0, 0.0] and flow[2, 1].tolist() == [1.0, 0.0]
    assert clip.gt_flow(1, 0)[1, 1].tolist() == [-1.0, 0.0]
    assert clip.crop(2, 3).gt_flow(1, 2)[0, 0].tolist() == [0.0, 2.0]
    with pytest.raises(IndexError):
        clip.gt_flow(1, 3)


def test_gt_flow_rotation_direction():
    # Layer rotated by 90° about the origin between frames: a point p maps to R p.
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    affines = np.stack([np.stack([_translation(0, 0)]), np.stack([rot]), np.stack([_translation(0, 0)])])
    clip = Clip("r", np.zeros((3, 3, 3, 3), np.uint8), "t", LayeredMotion(affines, np.zeros((3, 3, 3), np.uint8)))
    # (x, y) = (2, 1) → (-1, 2): flow (-3, 1).
    assert clip.gt_flow(0, 1)[1, 2].tolist() == [-3.0, 1.0]


def test_vid4_layouts_and_folder(tmp_path):
    _frames(tmp_path / "v" / "walk" / "hr", 3)
    _frames(tmp_path / "v" / "calendar", 4)  # flat layout
    clips = load_dataset("vid4", tmp_path / "v")
    assert [c.name for c in clips] == ["calendar", "walk"]
    assert clips[0].frames.shape == (4, 8, 12, 3) and clips[0].frames[3, 0, 0, 0] == 4
    assert detect_kind(tmp_path / "v") == "vid4"
    assert detect_kind(tmp_path / "v" / "calendar") == "folder"
    one = load_dataset("auto", tmp_path / "v" / "calendar", max_frames=3)
    assert len(one) == 1 and len(one[0]) == 3


def test_davis_layout(tmp_path):
    root = tmp_path / "DAVIS"
    _frames(root / "JPEGImages" / "480p" / "bear", 3, ext="jpg", start=0)
    _frames(root / "JPEGImages" / "480p" / "dog", 3, ext="jpg", start=0)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("bear\n")
    (root / "ImageSets" / "2017" / "val.txt").write_text("dog\n")
    assert detect_kind(root) == "davis"
    assert [c.name for c in load_dataset("davis", root, split="train")] == ["bear"]
    assert [c.name for c in load_dataset("davis", root, split="test")] == ["dog"]
    (root / "ImageSets" / "2017" / "val.txt").write_text("cat\n")
    with pytest.raises(DataError, match="'cat' has no folder"):
        load_dataset("davis", root, split="val")


def test_video_files(tmp_path):
    write_video(tmp_path / "b.mp4", [np.full((16, 16, 3), 50 * i, np.uint8) for i in range(3)], fps=5)
    write_video(tmp_path / "a.mp4", [np.full((16, 16, 3), 50 * i, np.uint8) for i in range(4)], fps=5)
    assert detect_kind(tmp_path) == "video"
    clips = load_dataset("video", tmp_path)
    assert [(c.name, len(c)) for c in clips] == [("a", 4), ("b", 3)]
    assert detect_kind(tmp_path / "a.mp4") == "video"


def test_missing_root_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFKD_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        load_split("vid4", "test")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "vid4") in msg and "--data" in msg and "SOFKD_DATA" in msg
    with pytest.raises(DataError, match="looked in .*missing"):
        load_dataset("auto", tmp_path / "missing")
    with pytest.raises(ValueError, match="never train on it"):
        load_split("vid4", "train")


def test_vid4_reader_on_shared_data(shared_data):
    clips = load_dataset("vid4", shared_data / "vid4", max_frames=3)
    assert [c.name for c in clips] == ["calendar", "city", "foliage", "walk"]
    assert clips[0].frames.shape == (3, 576, 720, 3)
