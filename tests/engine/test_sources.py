from __future__ import annotations

import math

import pytest
import torch

from sofkd_lib.engine.config import make_config
from sofkd_lib.engine.sources import SyntheticSource, make_source, synthetic_validator


class _Constant(torch.nn.Module):
    """A stand-in model that predicts one grey level everywhere."""

    def __init__(self, level: float, scale: int):
        super().__init__()
        self.level, self.scale = level, scale
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the validator a device to read

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        b, _, _, h, w = lr.shape
        return torch.full((b, 1, h * self.scale, w * self.scale), self.level)


def test_synthetic_source_is_deterministic_and_lr_is_hr_pooled():
    lr1, hr1 = SyntheticSource(4, 8, 3, seed=5).sample(2)
    lr2, hr2 = SyntheticSource(4, 8, 3, seed=5).sample(2)
    assert torch.equal(lr1, lr2) and torch.equal(hr1, hr2)
    assert lr1.shape == (2, 3, 1, 8, 8) and hr1.shape == (2, 3, 1, 32, 32)
    assert torch.allclose(lr1[0, 1, 0, 0, 0], hr1[0, 1, 0, :4, :4].mean())


def test_synthetic_validator_psnr_by_hand():
    config = make_config("smoke", variant="teacher", dataset="synthetic", seed=2)
    validate = synthetic_validator(config, n_samples=2)
    _, hr = SyntheticSource(config.scale, config.patch_size, config.n_frames, 10_007 + config.seed).sample(2)
    centre = hr[:, config.n_frames // 2].double()
    # Outputs above 1 are clamped first: 1.7 scores as 1.0.
    expected = 10 * math.log10(1.0 / float(((centre - 1.0) ** 2).mean()))
    got = validate(_Constant(1.7, config.scale))["psnr"]
    assert abs(got - expected) < 1e-9


def test_make_source_seeds_each_rank_apart():
    from sofkd_lib.engine.distributed import DistInfo

    config = make_config("smoke", variant="teacher", dataset="synthetic", seed=1)
    a = make_source(config, DistInfo(rank=0, world_size=2)).sample(1)[0]
    b = make_source(config, DistInfo(rank=1, world_size=2)).sample(1)[0]
    assert not torch.equal(a, b)


def test_lr_frame_cache_puts_the_cpu_samplers_degraded_frames_in_the_cache_folder(tmp_path, monkeypatch):
    import sofkd_lib.settings as settings
    from tests.fake_data import write_frames

    write_frames(tmp_path / "clips" / "a", 4, 64, 64, textured=True)
    monkeypatch.setattr(settings, "cache_dir", lambda: tmp_path / "cache")
    config = make_config("smoke", variant="student", dataset="folder", data_root=str(tmp_path / "clips"), val_every=0,
                         patch_size=8)
    assert make_source(config).lr_cache_dir is None
    source = make_source(config.replace(lr_frame_cache=True))
    assert source.lr_cache_dir == tmp_path / "cache" / "lr-frames"
    source.sample(2)
    assert len(list(source.lr_cache_dir.glob("*.npy"))) == len(source._lr_cache) > 0


@pytest.mark.shared_data
@pytest.mark.parametrize("profile", ["smoke", "cpu-demo", "paper", "davis-cpu"])
def test_davis_subset_trains_and_validates_on_its_own_sequences_in_every_profile(shared_data, profile):
    from sofkd_lib.data.datasets import DAVIS_HELD_OUT, DAVIS_VALIDATION
    from sofkd_lib.engine.sources import make_validator, training_splits

    root = shared_data / "davis_subset"
    if not (root / "JPEGImages").is_dir():
        pytest.skip(f"no DAVIS subset at {root}")
    config = make_config(profile, dataset="davis", data_root=str(root), davis_pool="train")
    assert training_splits(config) == ("train", "validation")
    source = make_source(config)
    # DAVIS-2017 train as the paper; the held-out test column and the validation sequences are never drawn.
    assert source.config()["clips"] == ["tennis", "dog-gooses", "lady-running", "schoolgirls", "bear", "paragliding",
                                        "car-turn"]
    assert not set(source.config()["clips"]) & {*DAVIS_HELD_OUT, *DAVIS_VALIDATION}
    lr, hr = source.sample(2)
    assert lr.shape == (2, 3, 1, config.patch_size, config.patch_size) and hr.shape[-1] == 4 * config.patch_size
    assert make_validator(config, torch.device("cpu")) is not None


@pytest.mark.shared_data
def test_davis_pool_train_and_val_leaves_out_the_test_column_and_validation(shared_data):
    from sofkd_lib.data import load_split
    from sofkd_lib.data.datasets import DAVIS_HELD_OUT, DAVIS_VALIDATION
    from sofkd_lib.engine.sources import training_splits

    root = shared_data / "davis_subset"
    if not (root / "JPEGImages").is_dir():
        pytest.skip(f"no DAVIS subset at {root}")
    config = make_config("davis-cpu", data_root=str(root))
    assert training_splits(config) == ("train-pool", "validation")
    names = [c.name for c in load_split("davis", "train-pool", root=root)]
    assert len(names) == 20 and not set(names) & {*DAVIS_HELD_OUT, *DAVIS_VALIDATION}
