"""Teacher warm start from the authors' weights at another scale (train.warm_start_official)."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.engine.config import ConfigError, make_config
from sofkd_lib.method.distill import prepare_models
from sofkd_lib.weights.checkpoint import CheckpointError
from sofkd_lib.weights.official import _PREFIXES
from sofkd_lib.weights.warm_start import warm_start_official

FRESH_X2_TO_X4 = ["ofrnet.upsampler.4.weight", "srnet.body.0.weight", "srnet.body.6.weight"]


@pytest.fixture(scope="module")
def official_x2(tmp_path_factory):
    """A file in the authors' format (their key names) holding random x2 teacher weights."""
    torch.manual_seed(123)
    ours = SOFVSR(scale=2, channels=320).state_dict()
    state = {}
    for key, value in ours.items():
        theirs = next(t + key[len(o):] for t, o in _PREFIXES if key.startswith(o))
        state[theirs] = value
    path = tmp_path_factory.mktemp("official") / "BI_x2.pth"
    torch.save(state, path)
    return path, ours


def test_match_copies_roles_and_leaves_x4_tensors_fresh(official_x2):
    path, src = official_x2
    torch.manual_seed(0)
    model = SOFVSR(scale=4, channels=320)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    report = warm_start_official(model, path)
    assert torch.equal(torch.get_rng_state(), rng)  # loading the source did not move the global RNG
    assert report["fresh"] == FRESH_X2_TO_X4 and report["derived"] == []
    assert report["source_scale"] == 2 and report["target_scale"] == 4
    state = model.state_dict()
    assert len(report["transferred"]) == len(state) - 3
    for key in FRESH_X2_TO_X4:
        assert torch.equal(state[key], before[key])
    # Same layer, same name: copied.
    assert torch.equal(state["srnet.body.2.body.7.body.3.weight"], src["srnet.body.2.body.7.body.3.weight"])
    assert torch.equal(state["ofrnet.upsampler.1.weight"], src["ofrnet.upsampler.1.weight"])
    # The last convs sit at another index at x4 (two sub-pixel stages): copied by role.
    assert torch.equal(state["ofrnet.upsampler.7.weight"], src["ofrnet.upsampler.4.weight"])
    assert torch.equal(state["srnet.body.9.bias"], src["srnet.body.6.bias"])
    assert "srnet.body.9.weight <- srnet.body.6.weight" in report["transferred"]
    assert report["total_parameters"] - report["transferred_parameters"] == 320 * 33 * 9 + 2 * 256 * 64


def test_derive_first_conv_and_second_stage(official_x2):
    path, src = official_x2
    model = SOFVSR(scale=4, channels=320)
    report = warm_start_official(model, path, derive=True)
    assert report["fresh"] == []
    assert [d.split(" ")[0] for d in report["derived"]] == ["srnet.body.0.weight", "ofrnet.upsampler.4.weight",
                                                            "srnet.body.6.weight"]
    w4, w2 = model.state_dict()["srnet.body.0.weight"], src["srnet.body.0.weight"]
    assert torch.equal(w4[:, 0], w2[:, 0])  # the centre frame
    # Neighbour 1 (x4 channels 17..32), sub-position (row 1, col 3) lies in x2 sub-position (0, 1):
    # x2 channel 5 + 0·2 + 1 = 6, shared by 4 x4 sub-positions.
    assert torch.equal(w4[:, 17 + 1 * 4 + 3], w2[:, 6] / 4)
    assert torch.equal(w4[:, 1 + 3 * 4 + 2], w2[:, 1 + 1 * 2 + 1] / 4)
    stage = model.state_dict()["srnet.body.6.weight"][:, :, 0, 0]
    assert stage.sum() == 256 and torch.equal(stage[8:12, 2], torch.ones(4)) and stage[8, 3] == 0
    # Replication: after PixelShuffle(2) every feature map is upsampled by nearest neighbour.
    x = torch.rand(1, 64, 3, 5)
    up = model.srnet.body[7](model.srnet.body[6](x))
    assert torch.equal(up, x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_config_and_prepare_models(official_x2):
    path, src = official_x2
    with pytest.raises(ConfigError, match="warm_start is for the teacher only"):
        make_config("smoke", variant="student", warm_start=str(path))
    with pytest.raises(ConfigError, match="warm_start_derive needs warm_start"):
        make_config("smoke", warm_start_derive=True)
    config = make_config("smoke", variant="teacher", warm_start=str(path))
    model, teacher = prepare_models(config)
    assert teacher is None
    assert torch.equal(model.state_dict()["ofrnet.recurrent_flow.0.weight"], src["ofrnet.recurrent_flow.0.weight"])
    with pytest.raises(CheckpointError, match="official checkpoint not found"):
        prepare_models(make_config("smoke", warm_start=str(path) + ".missing"))
    # A 320-channel release does not fit a 16-channel teacher: an error, not a near-fresh start.
    with pytest.raises(CheckpointError, match="the ResBlock widths must match"):
        prepare_models(make_config("smoke", warm_start=str(path), teacher_channels=16))


def test_warm_start_lr_applies_only_to_a_warm_started_run(official_x2):
    from sofkd_lib.engine.train import make_optimizer

    path, _ = official_x2
    model = SOFVSR(scale=4, channels=8)
    warm = make_config("smoke", variant="teacher", warm_start=str(path), warm_start_lr=2e-4, lr=1e-3)
    assert make_optimizer(model, warm)[0].param_groups[0]["lr"] == 2e-4
    # The same override on a student (no warm start) leaves the paper's lr.
    cold = make_config("smoke", variant="student", warm_start_lr=2e-4, lr=1e-3)
    assert make_optimizer(model, cold)[0].param_groups[0]["lr"] == 1e-3
    with pytest.raises(ConfigError, match="warm_start_lr must be None or a positive number"):
        make_config("smoke", warm_start_lr=0.0)
