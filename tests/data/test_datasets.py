"""Clip, ground-truth flow bookkeeping and the dataset readers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sofkd_lib.data import (
    DAVIS10_SCENES,
    PAPER_DAVIS_SET,
    Clip,
    DataError,
    LayeredMotion,
    detect_kind,
    load_dataset,
    load_split,
    set_name,
)
from sofkd_lib.data.io import write_video
from tests.fake_data import write_davis, write_frames


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
    write_frames(tmp_path / "v" / "walk" / "hr", 3)
    write_frames(tmp_path / "v" / "calendar", 4)  # flat layout
    clips = load_dataset("vid4", tmp_path / "v")
    assert [c.name for c in clips] == ["calendar", "walk"]
    assert clips[0].frames.shape == (4, 8, 12, 3) and clips[0].frames[3, 0, 0, 0] == 4
    assert detect_kind(tmp_path / "v") == "vid4"
    assert detect_kind(tmp_path / "v" / "calendar") == "folder"
    one = load_dataset("auto", tmp_path / "v" / "calendar", max_frames=3)
    assert len(one) == 1 and len(one[0]) == 3


def test_davis_layout(tmp_path):
    root = write_davis(tmp_path / "DAVIS", {"train": ["bear"], "val": ["dog"]})
    assert detect_kind(root) == "davis"
    assert [c.name for c in load_dataset("davis", root, split="train")] == ["bear"]
    assert [c.name for c in load_dataset("davis", root, split="val")] == ["dog"]
    (root / "ImageSets" / "2017" / "val.txt").write_text("cat\n")
    with pytest.raises(DataError, match="'cat' has no folder"):
        load_dataset("davis", root, split="val")


def test_davis_test_is_test_dev_and_never_val(tmp_path):
    """The paper's "DAVIS-2017 test" is test-dev; without its list the error names it and val is not read."""
    root = write_davis(tmp_path / "DAVIS", {"train": ["bear"], "val": ["dog"]})
    for split in ("test", "test-dev"):
        with pytest.raises(DataError) as err:
            load_split("davis", split, root)
        msg = str(err.value)
        assert str(root / "ImageSets" / "2017" / "test-dev.txt") in msg and "davis-2017-test-dev" in msg
        assert "no other split is read in its place" in msg
    write_davis(root, {"test-dev": ["boxing", "tractor"]})
    clips = load_split("davis", "test", root)
    assert [c.name for c in clips] == ["boxing", "tractor"]
    assert clips[0].source.startswith("davis-2017-test-dev 480p ")
    assert [c.name for c in load_dataset("davis", root, split="test-dev")] == ["boxing", "tractor"]
    with pytest.raises(ValueError, match="DAVIS split must be one of"):
        load_split("davis", "testdev", root)


def test_our_davis_split_holds_out_test_and_validation_sequences(tmp_path):
    from sofkd_lib.data.datasets import DAVIS_HELD_OUT, DAVIS_VALIDATION, davis_split_names

    assert not set(DAVIS_HELD_OUT) & set(DAVIS_VALIDATION)
    val = ["camel", *DAVIS_HELD_OUT, *DAVIS_VALIDATION]
    root = write_davis(tmp_path / "DAVIS", {"train": ["bear", "tennis"], "val": val})
    assert davis_split_names(root, "train-pool") == ["bear", "tennis", "camel"]
    assert [c.name for c in load_split("davis", "held-out", root)] == list(DAVIS_HELD_OUT)
    assert [c.name for c in load_split("davis", "validation", root)] == list(DAVIS_VALIDATION)
    assert load_split("davis", "held-out", root)[0].source.startswith("davis-2017-val-held-out 480p ")
    assert set_name("davis", "held-out") == "davis-2017-val-held-out"
    # A column is its sequences: one missing is an error naming it, never a stand-in.
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{x}\n" for x in val if x != "cows"))
    with pytest.raises(DataError, match="does not list cows"):
        load_split("davis", "held-out", root)
    with pytest.raises(ValueError, match="our DAVIS split must be one of"):
        davis_split_names(root, "val")


@pytest.mark.shared_data
def test_our_davis_split_of_the_shared_subset(shared_data):
    from sofkd_lib.data.datasets import davis_split_names

    root = shared_data / "davis_subset"
    if not root.is_dir():
        pytest.skip(f"no DAVIS subset at {root}")
    pool = davis_split_names(root, "train-pool")
    held_out, validation = davis_split_names(root, "held-out"), davis_split_names(root, "validation")
    # 7 train + 20 val sequences: 5 held out, 2 to validate on, 20 to train on; no sequence in two of them.
    assert (len(pool), len(held_out), len(validation)) == (20, 5, 2)
    assert len(set(pool) | set(held_out) | set(validation)) == 27


def test_davis10_scenes_from_a_davis_layout_or_scene_folders(tmp_path):
    assert DAVIS10_SCENES == ("boxing", "demolition", "dive-in", "dog-control", "dolphins", "kart-turn",
                              "ocean-birds", "pole-vault", "speed-skating", "wings-turn")
    # DAVIS-2017 layout: the ten scene folders are read, other sequences are not.
    davis = write_davis(tmp_path / "DAVIS", {"test-dev": [*DAVIS10_SCENES, "tractor"]})
    clips = load_split("davis", "davis-10", davis)
    assert [c.name for c in clips] == list(DAVIS10_SCENES)
    assert clips[0].source == f"davis-10 {davis / 'JPEGImages' / '480p' / 'boxing'}"
    # The SOF-VSR authors' style: ROOT/<scene>/hr/*.png (or ROOT/<scene>/*.png).
    flat = tmp_path / "DAVIS-10"
    for i, scene in enumerate(DAVIS10_SCENES):
        write_frames(flat / scene / "hr" if i % 2 else flat / scene, 4)
    clips = load_dataset("davis", flat, split="davis-10")
    assert [(c.name, len(c)) for c in clips] == [(s, 4) for s in DAVIS10_SCENES]
    # A missing scene is named with where it was looked for; nothing stands in for it.
    for scene in ("dolphins", "wings-turn"):
        for f in (flat / scene).rglob("*.png"):
            f.unlink()
    with pytest.raises(DataError) as err:
        load_split("davis", "davis-10", flat)
    msg = str(err.value)
    assert "no frames for dolphins, wings-turn" in msg and f"{flat}/<scene>/hr/*.png" in msg
    with pytest.raises(DataError, match=r"DAVIS-10 incomplete: no frames for boxing, .*JPEGImages/480p/<scene>"):
        load_split("davis", "davis-10", write_davis(tmp_path / "other", {"train": ["bear"]}))


@pytest.mark.parametrize("name,split,root,expected", [
    ("embedded", "test", None, "embedded"), ("embedded", "train", None, "embedded-train"),
    ("vid4", "test", None, "vid4"), ("vid4", "test", "/data/Vid4", "vid4"), ("vid4", "test", "/data/mine", "mine"),
    ("davis", "test", None, "davis-2017-test-dev"), ("davis", "test-dev", None, "davis-2017-test-dev"),
    ("davis", "val", None, "davis-2017-val"), ("davis", "davis-10", None, "davis-10"),
    ("folder", "train", "/clips/cars", "cars"),
])
def test_set_names(name, split, root, expected):
    assert set_name(name, split, root) == expected
    assert PAPER_DAVIS_SET == "davis-2017-test-dev"


def test_folder_split_is_training_data_only(tmp_path):
    write_frames(tmp_path / "clips" / "a", 3)
    write_frames(tmp_path / "clips" / "b" / "hr", 4)
    assert [(c.name, len(c)) for c in load_split("folder", "train", tmp_path / "clips")] == [("a", 3), ("b", 4)]
    with pytest.raises(ValueError, match="training data only"):
        load_split("folder", "val", tmp_path / "clips")
    with pytest.raises(ValueError, match="needs root="):
        load_split("folder", "train")


def test_evaluate_names_the_set_it_scored(tmp_path, capsys):
    from sofkd_lib.cli.main import main

    flat = tmp_path / "DAVIS-10"
    for scene in DAVIS10_SCENES:
        write_frames(flat / scene / "hr", 5, h=32, w=32)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--checkpoint", "bicubic", "--scale", "2", "--kind", "davis", "--split", "davis-10",
                 "--data", str(flat), "--output", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert res["dataset"] == "davis-10" and list(res["sequences"]) == list(DAVIS10_SCENES)
    assert main(["evaluate", "--checkpoint", "bicubic", "--scale", "2", "--kind", "davis", "--split", "test",
                 "--data", str(flat), "--no-progress"]) == 2
    assert "JPEGImages" in capsys.readouterr().err


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
