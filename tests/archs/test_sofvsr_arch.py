"""SOF-VSR models: exact parameter counts, shapes, batched motion compensation, the two-width hybrid."""

import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import (
    SOFVSR,
    FlowPyramid,
    ModelConfig,
    OFRnet,
    channel_shuffle,
    check_lr_shape,
    count_parameters,
    motion_compensate,
    student,
    teacher,
)
from sofkd_lib.archs.warp import flow_warp
from sofkd_lib.settings import REPO_ROOT


def test_parameter_counts_match_the_authors_architecture():
    t, s = teacher(4), student(4)
    assert count_parameters(t.ofrnet) == 432_576
    assert count_parameters(t.srnet) == 615_041
    assert count_parameters(s.ofrnet) == 271_216
    assert count_parameters(s.srnet) == 388_721


def test_hybrid_is_built_with_two_widths():
    # Phase 1: the teacher's OFRnet (320 ch.) before a student SRnet (240 ch.).
    hybrid = SOFVSR(4, ofrnet_channels=320, srnet_channels=240)
    assert count_parameters(hybrid.ofrnet) == 432_576 and count_parameters(hybrid.srnet) == 388_721
    assert hybrid.config == ModelConfig(scale=4, n_frames=3, ofrnet_channels=320, srnet_channels=240)
    assert hybrid.config.hybrid and hybrid.config.channels == 240  # SRnet's width
    assert SOFVSR(4, 240, ofrnet_channels=320).config == hybrid.config  # channels fills the part not given
    assert teacher(4).config == ModelConfig(4, 3, 320, 320) and not teacher(4).config.hybrid
    assert student(2).config.channels == 240
    assert hybrid.ofrnet.recurrent_features[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("run", ["2026-11-25-h100", "2026-11-25-cpu-warm"])
def test_hybrid_loads_a_recorded_phase1_checkpoint(run):
    from sofkd_lib.weights.checkpoint import load_weights_file

    path = REPO_ROOT / "results" / "recorded" / run / "phase1" / "weights.pt"
    data = load_weights_file(path)
    assert data["architecture"] == {"scale": 4, "n_frames": 3, "ofrnet_channels": 320, "srnet_channels": 240}
    hybrid = SOFVSR(4, ofrnet_channels=320, srnet_channels=240)
    hybrid.load_state_dict(data["model"], strict=True)
    assert all(torch.equal(v, data["model"][k]) for k, v in hybrid.state_dict().items())


def test_build_model_draws_a_hybrid_as_the_project_always_has():
    # build_model's hybrid gets the initial weights of the former build-then-swap (a whole model of SRnet's
    # width, then a wider OFRnet put in its place) and leaves the global RNG where that left it.
    from sofkd_lib.weights.checkpoint import Architecture, build_model

    torch.manual_seed(7)
    former = SOFVSR(2, 8)
    former.ofrnet = OFRnet(2, 12)
    after_former = torch.rand(3)
    torch.manual_seed(7)
    hybrid = build_model(Architecture(2, 3, 12, 8))
    assert torch.equal(torch.rand(3), after_former)
    assert hybrid.config == ModelConfig(2, 3, 12, 8)
    assert list(hybrid.state_dict()) == list(former.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(hybrid.state_dict().values(), former.state_dict().values()))
    torch.manual_seed(7)  # hence phase 1 starts from the student's initial SRnet of the same seed
    assert all(torch.equal(a, b) for a, b in zip(hybrid.srnet.parameters(), SOFVSR(2, 8).srnet.parameters()))


def test_channel_shuffle_interleaves_halves():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_and_flow_shapes(scale):
    torch.manual_seed(0)
    m = SOFVSR(scale=scale, channels=16, n_frames=3)
    lr = torch.rand(2, 3, 1, 8, 10)
    out = m.forward_with_flows(lr)
    assert out.sr.shape == (2, 1, 8 * scale, 10 * scale)
    assert out.flows.half.shape == (2, 2, 2, 4, 5)
    assert out.flows.lr.shape == (2, 2, 2, 8, 10)
    assert out.flows.hr.shape == (2, 2, 2, 8 * scale, 10 * scale)
    assert torch.equal(m(lr), out.sr)


def test_five_frames_supported():
    m = SOFVSR(scale=2, channels=8, n_frames=5)
    out = m.forward_with_flows(torch.rand(1, 5, 1, 6, 6))
    assert out.sr.shape == (1, 1, 12, 12)
    assert out.flows.hr.shape == (1, 4, 2, 12, 12)


def test_flows_are_per_neighbour_in_frame_order():
    torch.manual_seed(1)
    m = SOFVSR(scale=2, channels=8)
    lr = torch.rand(2, 3, 1, 8, 8)
    flows = m.estimate_flows(lr)
    for k, i in enumerate((0, 2)):
        pair = torch.cat((lr[:, i], lr[:, 1]), 1)
        direct = m.ofrnet(pair)
        for level in range(3):
            assert torch.allclose(flows[level][:, k], direct[level], atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_batched_motion_compensation_equals_one_warp_per_subflow(scale):
    torch.manual_seed(2)
    b, h, w = 2, 6, 8
    lr = torch.rand(b, 3, 1, h, w, dtype=torch.float64)
    flow_hr = torch.randn(b, 2, 2, h * scale, w * scale, dtype=torch.float64) * 0.1
    cube = motion_compensate(lr, flow_hr, scale)
    expected = [lr[:, 1]]
    for k, i in enumerate((0, 2)):
        for r in range(scale):
            for c in range(scale):
                expected.append(flow_warp(lr[:, i], flow_hr[:, k, :, r::scale, c::scale] / scale))
    assert cube.shape == (b, 1 + 2 * scale * scale, h, w)
    assert torch.allclose(cube, torch.cat(expected, 1), atol=1e-12)


def test_zero_flow_draft_cube_repeats_neighbours():
    lr = torch.rand(1, 3, 1, 4, 4)
    cube = motion_compensate(lr, torch.zeros(1, 2, 2, 16, 16), 4)
    assert torch.equal(cube[:, 0], lr[:, 1, 0])
    assert torch.allclose(cube[:, 1:17], lr[:, 0].expand(1, 16, 4, 4))
    assert torch.allclose(cube[:, 17:], lr[:, 2].expand(1, 16, 4, 4))


@pytest.mark.parametrize(
    "shape,match",
    [((1, 3, 8, 8), "rank 4"), ((1, 2, 1, 8, 8), "odd number"), ((1, 3, 1, 7, 8), "divisible by 2"), ((1, 3, 3, 8, 8), "one")],
)
def test_bad_input_shapes_raise_value_error_naming_the_shape(shape, match):
    with pytest.raises(ValueError, match=match) as info:
        check_lr_shape(torch.zeros(shape))
    assert str(tuple(shape)) in str(info.value)


def test_model_rejects_wrong_frame_count():
    with pytest.raises(ValueError, match="T=3"):
        SOFVSR(2, 8)(torch.rand(1, 5, 1, 4, 4))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="scale"):
        SOFVSR(scale=5)
    with pytest.raises(ValueError, match="n_frames"):
        SOFVSR(n_frames=4)


def test_flow_pyramid_is_a_named_triple():
    p = FlowPyramid(torch.zeros(1), torch.ones(1), torch.full((1,), 2.0))
    assert [t.item() for t in p] == [0.0, 1.0, 2.0]
    assert p.hr.item() == 2.0
