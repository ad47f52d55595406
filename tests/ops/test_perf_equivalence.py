"""The network equals the authors'-style reference (bench.reference), plain and opted into the fast execution.

Guards the speed work: channels_last execution, batched warps, and the fast
execution of :mod:`sofkd_lib.ops.cpu_execution` (one-copy channel shuffle,
chunked ResBlock and on CPU ResBlock chains without shuffles, blocked sub-pixel
heads, fused conv + LeakyReLU) must leave outputs unchanged (within 1e-5) and
gradients unchanged (within 1e-4 of their size), and the state-dict keys
untouched. The fast execution against the plain forward, path by path:
``tests/ops/test_cpu_execution.py``.
"""
from __future__ import annotations

import copy

import pytest
import torch

from bench.reference import _resblock, reference_forward
from sofkd_lib.archs.sofvsr_arch import SOFVSR, ResBlock
from sofkd_lib.ops.cpu_execution import use_fast_execution

TOL = 1e-5
# Gradients are sums over every pixel of the batch (a bias gradient adds ~1500
# terms here); channels_last kernels sum them in another order, so float32
# rounding differs by ~1e-5 of the gradient's size. Relative 1e-4 still catches any
# real change (a wrong channel order moves gradients by O(1) of their size).
GRAD_RTOL = 1e-4
LAYOUTS = ["nchw", "channels_last"]
EXECUTIONS = ["plain", "fast"]


def _layout(model: torch.nn.Module, layout: str, execution: str = "plain") -> torch.nn.Module:
    """A copy of ``model`` in memory layout ``layout``, opted into the fast execution if ``execution`` says so."""
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    copied = copy.deepcopy(model).to(memory_format=fmt)
    return use_fast_execution(copied) if execution == "fast" else copied


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_resblock_forward_and_backward_match_reference(layout, execution):
    block = ResBlock(16)
    fast = _layout(block, layout, execution)
    x = torch.randn(2, 16, 5, 6)
    x_ref = x.clone().requires_grad_()
    x_fast = (x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x.clone())
    x_fast.requires_grad_()
    out_ref, out_fast = _resblock(x_ref, block), fast(x_fast)
    assert _max_diff(out_ref, out_fast) <= TOL
    weight = torch.randn_like(out_ref)
    (out_ref * weight).sum().backward()
    (out_fast * weight).sum().backward()
    assert _max_diff(x_ref.grad, x_fast.grad) <= TOL
    for p_ref, p_fast in zip(block.parameters(), fast.parameters()):
        assert _max_diff(p_ref.grad, p_fast.grad) <= GRAD_RTOL * p_ref.grad.abs().max().item()


@pytest.fixture(scope="module", params=[(4, 320), (4, 240), (3, 16), (2, 16)], ids=["teacher", "student", "x3", "x2"])
def pair(request):
    """A model and a random LR batch; fixed seed so every layout sees the same weights."""
    scale, channels = request.param
    torch.manual_seed(1)
    model = SOFVSR(scale, channels)
    lr = torch.rand(2, 3, 1, 6, 8)
    return model, lr


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_matches_reference(pair, layout, execution):
    model, lr = pair
    fast = _layout(model, layout, execution).eval()
    with torch.inference_mode():
        ref = reference_forward(model.eval(), lr, with_flows=True)
        out = fast.forward_with_flows(lr)
    assert ref.sr.abs().max() > 1e-3  # a vanishing output would make the check empty
    assert _max_diff(out.sr, ref.sr) <= TOL
    for level_ref, level_out in zip(ref.flows, out.flows):
        assert level_out.shape == level_ref.shape
        assert _max_diff(level_out, level_ref) <= TOL


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradients_match_reference(pair, layout, execution):
    model, lr = pair
    ref_model = copy.deepcopy(model).train()
    fast = _layout(model, layout, execution).train()
    target = torch.rand(2, 1, lr.shape[-2] * model.scale, lr.shape[-1] * model.scale)

    def loss(out):  # SR term plus a flow term, so OFRnet gets gradients through both paths
        return torch.nn.functional.l1_loss(out.sr, target) + sum(f.pow(2).mean() for f in out.flows)

    loss(reference_forward(ref_model, lr, with_flows=True)).backward()
    loss(fast.forward_with_flows(lr)).backward()
    for (name, p_ref), p_fast in zip(ref_model.named_parameters(), fast.parameters()):
        scale = max(1e-3, p_ref.grad.abs().max().item())
        assert _max_diff(p_ref.grad, p_fast.grad) <= GRAD_RTOL * scale, name


def test_models_are_channels_last_by_default():
    model = SOFVSR(4, 16)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = torch.rand(1, 16, 4, 5).contiguous(memory_format=torch.channels_last)
    plain_out = model.srnet.body[2].body[0](x)  # the plain shuffle's reshape returns NCHW memory
    fast_out = use_fast_execution(model).srnet.body[2].body[0](x)  # the one-copy shuffle keeps NHWC
    assert fast_out.is_contiguous(memory_format=torch.channels_last) and torch.equal(fast_out, plain_out)


def test_channels_last_keeps_state_dict_keys_and_loads_both_ways():
    model = _layout(SOFVSR(4, 16), "nchw")
    fast = _layout(model, "channels_last")
    assert list(fast.state_dict()) == list(model.state_dict())
    fresh = SOFVSR(4, 16)
    fresh.load_state_dict(fast.state_dict())
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
