"""TrainSampler: shapes, alignment of LR and HR, borders, determinism and resumption."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sofkd_lib.data import Clip, TrainSampler, imresize
from sofkd_lib.data.color import rgb_uint8_to_y01


def _clips():
    rng = np.random.default_rng(3)
    # Smooth random images (so bicubic down-sampling of HR Y ≈ Y of the LR RGB).
    base = rng.integers(0, 256, (6, 12, 16, 3)).astype(np.float64)
    big = np.stack([imresize(b, 8) for b in base])
    frames = np.clip(big, 0, 255).astype(np.uint8)  # (6, 96, 128, 3)
    small = Clip("small", frames[:4, :60, :60], "t")  # 4 frames, LR 15×15 at x4
    return [Clip("a", frames, "t"), small]


def test_shapes_range_and_dtype():
    s = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=0)
    lr, hr = s.sample(5)
    assert lr.shape == (5, 3, 1, 8, 8) and hr.shape == (5, 3, 1, 32, 32)
    assert lr.dtype == hr.dtype == torch.float32
    assert 16 / 255 - 1e-6 <= float(lr.min()) and float(lr.max()) <= 235 / 255 + 1e-6
    assert len(s) == 4 + 2


def test_lr_is_the_degraded_hr_under_every_augmentation():
    s = TrainSampler(_clips()[:1], scale=4, patch_size=8, n_frames=3, seed=1)
    for _ in range(12):
        lr, hr = s.sample_item()
        for t in range(3):
            down = imresize(hr[t].astype(np.float64), 0.25)
            # Interior only: the HR patch lacks the context the full-frame resize used at its rim.
            assert np.abs(down[2:-2, 2:-2] - lr[t][2:-2, 2:-2]).max() < 0.02


def test_patch_matches_frame_without_augmentation():
    clip = _clips()[0]
    s = TrainSampler([clip], scale=4, patch_size=8, n_frames=3, seed=2, augment=False, border=3)
    rng = np.random.default_rng(2)  # replay the sampler's draws
    lr, hr = s.sample_item()
    rng.choice(1, p=[1.0])
    start = int(rng.integers(0, 4))
    y0, x0 = int(rng.integers(3, 24 - 8 - 3 + 1)), int(rng.integers(3, 32 - 8 - 3 + 1))
    expect = rgb_uint8_to_y01(clip.frames[start + 1, 4 * y0 : 4 * y0 + 32, 4 * x0 : 4 * x0 + 32])
    np.testing.assert_array_equal(hr[1], expect)
    lr_full = rgb_uint8_to_y01(imresize(clip.frames[start + 1], 0.25))
    np.testing.assert_array_equal(lr[1], lr_full[y0 : y0 + 8, x0 : x0 + 8])


def test_border_is_respected():
    s = TrainSampler(_clips()[:1], scale=4, patch_size=8, seed=0, border=5)
    corners = [(s._corner(24), s._corner(32)) for _ in range(300)]
    ys, xs = zip(*corners)
    assert min(ys) == 5 and max(ys) == 24 - 8 - 5
    assert min(xs) == 5 and max(xs) == 32 - 8 - 5


def test_deterministic_and_resumable():
    a = TrainSampler(_clips(), scale=4, patch_size=8, seed=7)
    b = TrainSampler(_clips(), scale=4, patch_size=8, seed=7)
    for _ in range(3):
        la, ha = a.sample(2)
        lb, hb = b.sample(2)
        assert torch.equal(la, lb) and torch.equal(ha, hb)
    state = a.state_dict()
    expected = [a.sample(3) for _ in range(2)]
    c = TrainSampler(_clips(), scale=4, patch_size=8, seed=123)
    c.load_state_dict(state)
    for lr, hr in expected:
        lc, hc = c.sample(3)
        assert torch.equal(lr, lc) and torch.equal(hr, hc)
    other = TrainSampler(_clips(), scale=4, patch_size=8, seed=8)
    assert not torch.equal(other.sample(2)[0], TrainSampler(_clips(), scale=4, patch_size=8, seed=7).sample(2)[0])


def test_bad_configurations():
    with pytest.raises(ValueError, match="no clip has 3 frames"):
        TrainSampler(_clips(), scale=4, patch_size=64)
    with pytest.raises(ValueError, match="degradation"):
        TrainSampler(_clips(), degradation="nearest")
    s = TrainSampler(_clips(), scale=4, patch_size=8)
    state = s.state_dict()
    with pytest.raises(ValueError, match="patch_size=8"):
        TrainSampler(_clips(), scale=4, patch_size=4).load_state_dict(state)
    bd = TrainSampler(_clips(), scale=4, patch_size=8, degradation="bd")
    assert bd.sample(1)[0].shape == (1, 3, 1, 8, 8)



@pytest.mark.parametrize("degradation", ["bicubic-matlab", "bicubic-pil"])
def test_training_degradation_is_the_configs_choice(tmp_path, degradation):
    """TrainConfig.degradation reaches the sampler: its LR patches are that resize of the HR frames
    (MATLAB's imresize, or PIL's own bicubic resize), and the two choices differ."""
    from PIL import Image

    from sofkd_lib.engine.config import make_config
    from sofkd_lib.engine.sources import make_source

    frames = _clips()[0].frames  # 6 frames of 96×128 → LR 24×32
    (tmp_path / "clips" / "a").mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "clips" / "a" / f"{i:03d}.png")
    config = make_config("smoke", dataset="folder", data_root=str(tmp_path / "clips"), val_every=0, patch_size=8,
                         degradation=degradation, augment=False)
    source = make_source(config)
    assert isinstance(source, TrainSampler) and source.degradation == degradation

    def reference(frame):
        if degradation == "bicubic-matlab":
            return imresize(frame, 0.25)
        return np.asarray(Image.fromarray(frame).resize((32, 24), Image.Resampling.BICUBIC))

    # Replay the draws: clip (one), first frame, then the corner; with border 10 an 8-px patch in a
    # 24×32 LR frame starts at row 8 and a column in 10..14.
    rng = np.random.default_rng(config.seed)
    lr, _ = source.sample_item()
    rng.choice(1, p=[1.0])
    start = int(rng.integers(0, 4))
    y0, x0 = int(rng.integers(8, 9)), int(rng.integers(10, 15))
    for t in range(3):
        want = rgb_uint8_to_y01(reference(frames[start + t]))[y0 : y0 + 8, x0 : x0 + 8]
        np.testing.assert_array_equal(lr[t], want)
    other = "bicubic-pil" if degradation == "bicubic-matlab" else "bicubic-matlab"
    assert not np.array_equal(lr, TrainSampler(source.clips, 4, 8, seed=config.seed, degradation=other,
                                               augment=False).sample_item()[0])


def test_lr_frames_cached_on_disk_give_the_same_batches_and_are_read_back(tmp_path, monkeypatch):
    import sofkd_lib.data.sampler as sampler_module
    from sofkd_lib.data.sampler import lr_cache_key

    plain = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=5)
    cached = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=5, lr_cache_dir=tmp_path)
    batches = []
    for _ in range(4):
        batches.append(plain.sample(3))
        for a, b in zip(batches[-1], cached.sample(3)):
            assert torch.equal(a, b)
    files = sorted(tmp_path.glob("*.npy"))
    assert len(files) == len(cached._lr_cache) > 0  # one file per degraded frame, nothing else left
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in files]
    frame = _clips()[0].frames[0]
    assert lr_cache_key(frame, 4, "bicubic-matlab") != lr_cache_key(frame, 4, "bicubic-pil") != \
        lr_cache_key(frame, 2, "bicubic-pil")

    # A later sampler reads every frame back and degrades none of them.
    monkeypatch.setattr(sampler_module, "degrade", lambda *a: pytest.fail("degraded again"))
    again = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=5, lr_cache_dir=tmp_path)
    for batch in batches:
        for a, b in zip(batch, again.sample(3)):
            assert torch.equal(a, b)
    monkeypatch.undo()

    # An unreadable or mis-shaped entry is computed and written again.
    files[0].write_bytes(b"not an array")
    np.save(files[1], np.zeros((2, 2, 3), np.uint8))
    fresh = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=5, lr_cache_dir=tmp_path)
    check = TrainSampler(_clips(), scale=4, patch_size=8, n_frames=3, seed=5)
    for _ in range(4):
        for a, b in zip(check.sample(3), fresh.sample(3)):
            assert torch.equal(a, b)
    assert all(np.load(p).shape[0] > 2 for p in files[:2] if p.is_file())
