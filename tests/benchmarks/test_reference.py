"""The authors'-style reference path (bench.reference): warp, shuffle, shapes, errors."""
from __future__ import annotations

import pytest
import torch

from bench.reference import ReferenceStep, _channel_shuffle, reference_forward, reference_warp
from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.archs.warp import FLOW_UNIT_PX, flow_warp
from sofkd_lib.method.distill import StudentStep, variant_losses
from sofkd_lib.ops.cpu_execution import use_fast_execution


def test_reference_warp_zero_flow_is_identity():
    image = torch.rand(2, 1, 5, 7)
    out = reference_warp(image, torch.zeros(2, 2, 5, 7))
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)


def test_reference_warp_one_pixel_right_shift_with_border():
    # 1 px = 1/15.5 network units; x-flow +1 px samples the right neighbour,
    # the last column clamps to the border.
    image = torch.arange(12.0).view(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 1.0 / FLOW_UNIT_PX
    out = reference_warp(image, flow)
    expected = torch.tensor([[1.0, 2.0, 3.0, 3.0], [5.0, 6.0, 7.0, 7.0], [9.0, 10.0, 11.0, 11.0]])
    torch.testing.assert_close(out[0, 0], expected, atol=1e-5, rtol=0)


def test_reference_warp_half_pixel_down_is_average_of_rows():
    image = torch.arange(12.0).view(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 1] = 0.5 / FLOW_UNIT_PX
    out = reference_warp(image, flow)[0, 0]
    # rows 0..2 hold 0..3, 4..7, 8..11: half a row down adds 2, the last row clamps.
    expected = torch.tensor([[2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0], [8.0, 9.0, 10.0, 11.0]])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_reference_warp_matches_library_warp():
    image = torch.rand(3, 1, 6, 9)
    flow = torch.randn(3, 2, 6, 9) * 0.1
    torch.testing.assert_close(reference_warp(image, flow), flow_warp(image, flow), atol=1e-6, rtol=0)


def test_reference_channel_shuffle_interleaves_halves():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert _channel_shuffle(x, 2).flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reference_forward_shapes(scale):
    model = SOFVSR(scale, 8).eval()
    lr = torch.rand(2, 3, 1, 6, 8)
    with torch.no_grad():
        out = reference_forward(model, lr, with_flows=True)
    assert out.sr.shape == (2, 1, 6 * scale, 8 * scale)
    assert out.flows.half.shape == (2, 2, 2, 3, 4)
    assert out.flows.lr.shape == (2, 2, 2, 6, 8)
    assert out.flows.hr.shape == (2, 2, 2, 6 * scale, 8 * scale)
    with torch.no_grad():
        assert torch.equal(reference_forward(model, lr), out.sr)


def test_reference_forward_centre_only_when_flows_and_weights_vanish():
    # With every SRnet weight zero but the last bias, SR is that bias everywhere.
    model = SOFVSR(2, 8).eval()
    with torch.no_grad():
        for p in model.srnet.parameters():
            p.zero_()
        model.srnet.body[-1].bias.fill_(0.25)
        sr = reference_forward(model, torch.rand(1, 3, 1, 4, 4))
    assert torch.equal(sr, torch.full((1, 1, 8, 8), 0.25))


def test_reference_forward_gradients_reach_parameters():
    model = SOFVSR(2, 8).train()
    reference_forward(model, torch.rand(1, 3, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_reference_forward_rejects_bad_input():
    model = SOFVSR(2, 8)
    with pytest.raises(ValueError, match="divisible by 2"):
        reference_forward(model, torch.rand(1, 3, 1, 5, 4))
    with pytest.raises(ValueError, match="T=3"):
        reference_forward(model, torch.rand(1, 5, 1, 4, 4))
    with pytest.raises(TypeError, match="SOFVSR"):
        reference_forward(torch.nn.Identity(), torch.rand(1, 3, 1, 4, 4))


def test_reference_step_gives_the_trainers_losses():
    # The benchmarks time the trainer's step on both executions: same loss terms, same gradients.
    # The model is opted into the fast execution, as the benchmarks' is; the reference runs it functionally.
    torch.manual_seed(0)
    model = use_fast_execution(SOFVSR(2, 8)).train()
    lr, hr = torch.rand(2, 3, 1, 6, 8), torch.rand(2, 3, 1, 12, 16)
    grads = []
    terms = []
    for step in (ReferenceStep(model), StudentStep(model)):
        model.zero_grad(set_to_none=True)
        t = variant_losses("teacher", step, lr, hr)
        t["loss"].backward()
        terms.append({k: v.item() for k, v in t.items()})
        grads.append([p.grad.clone() for p in model.parameters()])
    assert terms[0].keys() == {"loss_sr", "loss_ofr", "loss_sof", "loss"}
    for key in terms[0]:
        assert terms[0][key] == pytest.approx(terms[1][key], rel=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    with pytest.raises(ValueError, match="given flows"):
        ReferenceStep(model)(lr, model.forward_with_flows(lr).flows)
