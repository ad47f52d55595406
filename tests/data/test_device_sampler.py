"""DeviceSampler (on the CPU device): the same batches and resumption as TrainSampler, imresize as tensor ops."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sofkd_lib.data import Clip, TrainSampler, imresize
from sofkd_lib.data.device_sampler import DeviceSampler, imresize_torch
from sofkd_lib.engine.config import ConfigError, make_config


def _clips() -> list[Clip]:
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (6, 52, 68, 3), dtype=np.uint8)
    # Sizes not multiples of the scale (cropped), two shapes, one clip too small for patch 8 at x4.
    return [Clip("a", frames, "t"), Clip("b", frames[:5, :44, :37].copy(), "t"),
            Clip("tiny", frames[:3, :20, :20].copy(), "t")]


@pytest.mark.parametrize("shape, factor", [((2, 17, 23), 1 / 4), ((3, 24, 30, 3), 1 / 3), ((1, 9, 11, 3), 0.5),
                                           ((2, 7, 5), 2.0)])
def test_imresize_torch_equals_imresize(shape, factor):
    rng = np.random.default_rng(sum(shape))
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    got = imresize_torch(torch.from_numpy(images), factor).numpy()
    want = np.stack([imresize(im, factor) for im in images])
    assert got.dtype == np.uint8 and got.shape == want.shape
    assert np.array_equal(got, want)  # uint8: rounded after each axis, exactly as MATLAB / resize.py
    floats = rng.random(shape)
    got_f = imresize_torch(torch.from_numpy(floats), factor).numpy()
    want_f = np.stack([imresize(im, factor) for im in floats])
    assert got_f.dtype == np.float64
    np.testing.assert_allclose(got_f, want_f, rtol=0, atol=1e-12)


def test_imresize_torch_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        imresize_torch(torch.zeros(4, 4, dtype=torch.uint8), 0.5)
    with pytest.raises(TypeError, match="int32"):
        imresize_torch(torch.zeros(1, 4, 4, dtype=torch.int32), 0.5)
    with pytest.raises(ValueError, match="scale_factor"):
        imresize_torch(torch.zeros(1, 4, 4), 0.0)


@pytest.mark.parametrize("scale, patch, degradation", [(4, 8, "bicubic-matlab"), (3, 6, "bicubic-matlab"),
                                                       (4, 8, "bd")])
def test_same_batches_as_train_sampler(scale, patch, degradation):
    cpu = TrainSampler(_clips(), scale=scale, patch_size=patch, seed=11, degradation=degradation)
    dev = DeviceSampler(_clips(), scale=scale, patch_size=patch, seed=11, degradation=degradation, device="cpu")
    assert dev.skipped == cpu.skipped
    assert dev.config() == cpu.config()
    for batch in (1, 5, 16):
        (lr_c, hr_c), (lr_d, hr_d) = cpu.sample(batch), dev.sample(batch)
        assert lr_d.shape == (batch, 3, 1, patch, patch) and hr_d.shape == (batch, 3, 1, scale * patch, scale * patch)
        assert lr_d.dtype == hr_d.dtype == torch.float32 and lr_d.device.type == "cpu"
        assert torch.equal(lr_d, lr_c) and torch.equal(hr_d, hr_c)
    lr_i, hr_i = dev.sample_item()
    lr_ic, hr_ic = cpu.sample_item()
    assert np.array_equal(lr_i, lr_ic) and np.array_equal(hr_i, hr_ic)


def test_resident_bytes():
    dev = DeviceSampler(_clips(), scale=4, patch_size=8)
    assert dev.skipped == ["tiny"]
    # HR cropped to multiples of 4 (a: 52×68, b: 44×36) and LR (13×17, 11×9), 3 bytes per pixel.
    assert dev.nbytes == 3 * (6 * 52 * 68 + 6 * 13 * 17 + 5 * 44 * 36 + 5 * 11 * 9) == 92_871


def test_every_augmentation_is_exercised():
    # The equality above holds under all 8 flip/transpose combinations: the seed draws each of them.
    twin = TrainSampler(_clips(), scale=4, patch_size=8, seed=11)
    combos = {tuple(twin.draw_item()[4]) for _ in range(22)}
    assert len(combos) == 8


def test_resume_continues_the_same_stream():
    a = DeviceSampler(_clips(), scale=4, patch_size=8, seed=3)
    a.sample(4)
    a.sample(3)
    state = json.loads(json.dumps(a.state_dict()))  # JSON-serialisable, as the checkpoint stores it
    assert state["draws"] == 7
    after = [a.sample(4) for _ in range(2)]
    b = DeviceSampler(_clips(), scale=4, patch_size=8, seed=99)  # the seed comes from the state
    b.load_state_dict(state)
    for (lr, hr), (lr2, hr2) in zip(after, [b.sample(4) for _ in range(2)]):
        assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    # The host sampler's state continues on the device sampler: the two are interchangeable.
    c = TrainSampler(_clips(), scale=4, patch_size=8, seed=3)
    c.sample(7)
    d = DeviceSampler(_clips(), scale=4, patch_size=8, seed=0)
    d.load_state_dict(c.state_dict())
    lr_c, hr_c = c.sample(4)
    lr_d, hr_d = d.sample(4)
    assert torch.equal(lr_c, lr_d) and torch.equal(hr_c, hr_d)
    with pytest.raises(ValueError, match="patch_size=8"):
        DeviceSampler(_clips(), scale=4, patch_size=6, seed=3).load_state_dict(state)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        DeviceSampler(_clips(), scale=4, patch_size=8).sample(0)


def test_make_source_picks_the_sampler(monkeypatch):
    import sofkd_lib.data
    from sofkd_lib.engine.sources import make_source

    monkeypatch.setattr(sofkd_lib.data, "load_split", lambda name, split, root=None: _clips())
    cfg = make_config("smoke", {"patch_size": 8, "device": "cpu"})
    assert type(make_source(cfg)) is TrainSampler
    dev = make_source(cfg.replace(sampler="device"))
    assert isinstance(dev, DeviceSampler) and dev.device == torch.device("cpu")
    lr, hr = make_source(cfg).sample(2)
    lr_d, hr_d = dev.sample(2)
    assert torch.equal(lr, lr_d) and torch.equal(hr, hr_d)
    with pytest.raises(ConfigError, match="TrainConfig.sampler must be 'cpu' or 'device'"):
        cfg.replace(sampler="gpu")


def test_trainer_gives_the_same_run_with_either_sampler(tmp_path):
    from sofkd_lib.engine import train as T
    cfg = make_config("smoke", {"teacher_channels": 8, "student_channels": 4, "patch_size": 8, "batch_size": 2,
                                "val_every": 0, "log_every": 1, "checkpoint_every": 100, "iterations": 3,
                                "device": "cpu"}, variant="teacher")
    host = T.train(cfg, TrainSampler(_clips(), scale=4, patch_size=8, seed=4), tmp_path / "cpu", quiet=True).model
    dev_cfg = cfg.replace(sampler="device")
    dev = T.train(dev_cfg, DeviceSampler(_clips(), scale=4, patch_size=8, seed=4), tmp_path / "dev", quiet=True).model
    # Stopped after 2 iterations and resumed from its checkpoint: the sampler's stream continues (the new
    # sampler's own seed, 99, is replaced by the checkpoint's state; a fresh start would draw other patches).
    T.train(dev_cfg, DeviceSampler(_clips(), scale=4, patch_size=8, seed=4), tmp_path / "resumed", stop_at=2,
            quiet=True)
    resumed = T.train(dev_cfg, DeviceSampler(_clips(), scale=4, patch_size=8, seed=99), tmp_path / "resumed",
                      resume="yes", quiet=True).model
    for name, value in host.state_dict().items():
        assert torch.equal(value, dev.state_dict()[name]), name
        assert torch.equal(value, resumed.state_dict()[name]), name
