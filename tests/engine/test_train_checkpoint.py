"""Training checkpoints (sofkd_lib.weights.checkpoint): format, atomic writes, architecture checks."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import count_parameters
from sofkd_lib.engine import sources as S
from sofkd_lib.engine import train as T
from sofkd_lib.engine.config import make_config
from sofkd_lib.evaluation.params import table2
from sofkd_lib.settings import official_checkpoint
from sofkd_lib.weights.checkpoint import (
    Architecture,
    CheckpointError,
    architecture_of,
    build_model,
    check_architecture,
    decode_state,
    encode_state,
    load_checkpoint,
    load_model,
    save_atomic,
)
from tests.conftest import require


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "student"
    cfg = make_config("smoke", dict(teacher_channels=8, student_channels=4, patch_size=8, dataset="synthetic",
                                    iterations=2, val_every=2), variant="student")
    T.train(cfg, S.SyntheticSource(4, 8, 3, 0), out, validate=lambda m: {"psnr": 30.0}, quiet=True)
    return out


def test_checkpoint_layout(run):
    raw = torch.load(run / "last.pt", weights_only=True)  # plain torch.load, no unpickling of code
    for key in ("format", "version", "variant", "architecture", "model", "config", "iteration", "optimizer",
                "scheduler", "rng", "best", "seconds"):
        assert key in raw, key
    assert raw["variant"] == "student" and raw["iteration"] == 2
    assert raw["architecture"] == {"scale": 4, "n_frames": 3, "ofrnet_channels": 4, "srnet_channels": 4}
    assert {k.split(".")[0] for k in raw["model"]} == {"ofrnet", "srnet"}
    assert set(raw["rng"]) == {"torch", "numpy", "python", "sampler"}
    assert raw["config"]["student_channels"] == 4 and raw["config"]["variant"] == "student"
    assert raw["scheduler"]["last_epoch"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.csv",
                                                     "summary.json", "validation.csv"]  # no temp files left


def test_load_model_of_a_training_checkpoint(run):
    model = load_model(run / "last.pt")
    assert not model.training
    assert architecture_of(model) == Architecture(4, 3, 4, 4)
    raw = torch.load(run / "last.pt", weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in raw["model"].items())
    with pytest.raises(CheckpointError, match=r"last.pt: wrong architecture \(ofrnet_channels is 4, expected 320; "
                                              r"srnet_channels is 4, expected 320\)"):
        load_model(run / "last.pt", expect=Architecture(4, 3, 320, 320))


def test_load_errors_name_the_file(tmp_path, run):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*absent.pt"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="plain.pt is not a sofkd training checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    data = torch.load(run / "last.pt", weights_only=True)
    torch.save({**data, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="future.pt has checkpoint version 99"):
        load_checkpoint(tmp_path / "future.pt")
    data["model"]["srnet.body.0.weight"] = torch.zeros(4, 33, 3, 5)
    torch.save(data, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"shape.pt: shape of 'srnet.body.0.weight' is \(4, 33, 3, 5\)"):
        load_model(tmp_path / "shape.pt")
    del data["model"]["srnet.body.0.weight"]
    torch.save(data, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"1 missing \(first \['srnet.body.0.weight'\]\)"):
        load_model(tmp_path / "missing.pt")


def test_save_atomic_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    save_atomic({"a": 1}, path)
    save_atomic({"a": 2}, path)
    assert torch.load(path, weights_only=True) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]


def test_rng_state_codec_round_trip():
    np_state = np.random.RandomState(3).get_state()
    pcg = np.random.default_rng(5).bit_generator.state
    state = {"numpy": np_state, "pcg": pcg, "python": random.Random(1).getstate(), "s": np.float32(1.5)}
    encoded = encode_state(state)
    assert isinstance(encoded["numpy"][1], dict)  # the uint32 key array became a tagged tensor
    decoded = decode_state(encoded)
    assert decoded["numpy"][0] == "MT19937" and np.array_equal(decoded["numpy"][1], np_state[1])
    assert decoded["numpy"][1].dtype == np.uint32
    assert decoded["pcg"] == pcg and decoded["python"] == state["python"] and decoded["s"] == 1.5
    restored = np.random.RandomState()
    restored.set_state(decoded["numpy"])
    assert restored.randint(1 << 30) == np.random.RandomState(3).randint(1 << 30)


def test_hybrid_phase1_model_matches_table2():
    rows = {r.name: r for r in table2()}
    hybrid = build_model(Architecture(4, 3, 320, 240))
    row = rows["Phase 1 (teacher OFRnet + student SRnet)"]
    assert (count_parameters(hybrid.ofrnet), count_parameters(hybrid.srnet)) == (row.ofrnet, row.srnet)
    assert count_parameters(build_model(Architecture(4, 3, 240, 240))) == rows["Student"].total
    with pytest.raises(CheckpointError, match=r"teacher: wrong architecture \(ofrnet_channels is 320, expected 240\)"):
        check_architecture(architecture_of(hybrid), Architecture(4, 3, 240, 240), "teacher")


def test_official_weights_load_as_teacher():
    path = require(official_checkpoint(2))
    model = load_model(path, scale=2, expect=Architecture(2, 3, 320, 320))
    assert architecture_of(model) == Architecture(2, 3, 320, 320)
    with pytest.raises(CheckpointError, match="holds SOF-VSR weights for scale x2"):
        load_model(path, scale=4)
