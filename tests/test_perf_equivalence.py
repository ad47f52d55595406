"""The optimised models equal the authors'-style reference (bench.reference).

Guards the speed work in sofkd_lib.archs.sofvsr_arch: the one-copy channel shuffle, the
chunked ResBlock, batched warps, channels_last execution and the CPU fast path
(ResBlock chains without shuffles, blocked sub-pixel heads, fused conv +
LeakyReLU) must leave outputs unchanged (within 1e-5) and gradients unchanged
(within 1e-4 of their size), and the state-dict keys untouched.
"""
from __future__ import annotations

import copy

import pytest
import torch

from bench.reference import _resblock, reference_forward
from sofkd_lib.archs.sofvsr_arch import SOFVSR, ResBlock, channel_shuffle, shuffled_concat

TOL = 1e-5
# Gradients are sums over every pixel of the batch (a bias gradient adds ~1500
# terms here); channels_last kernels sum them in another order, so float32
# rounding differs by ~1e-5 of the gradient's size. Relative 1e-4 still catches any
# real change (a wrong channel order moves gradients by O(1) of their size).
GRAD_RTOL = 1e-4
LAYOUTS = ["nchw", "channels_last"]


def _layout(model: torch.nn.Module, layout: str) -> torch.nn.Module:
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return copy.deepcopy(model).to(memory_format=fmt)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("channels_last", [False, True])
def test_shuffled_concat_is_cat_then_shuffle_bitwise(channels_last):
    a, b = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    if channels_last:
        a, b = (t.contiguous(memory_format=torch.channels_last) for t in (a, b))
    out = shuffled_concat(a, b)
    assert torch.equal(out, channel_shuffle(torch.cat((a, b), 1), 2))
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_shuffled_concat_channel_order_by_hand():
    a = torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1)
    b = torch.tensor([10.0, 11.0, 12.0]).view(1, 3, 1, 1)
    assert shuffled_concat(a, b).flatten().tolist() == [0.0, 10.0, 1.0, 11.0, 2.0, 12.0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_resblock_forward_and_backward_match_reference(layout):
    block = ResBlock(16)
    fast = _layout(block, layout)
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


@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_matches_reference(pair, layout):
    model, lr = pair
    fast = _layout(model, layout).eval()
    with torch.inference_mode():
        ref = reference_forward(model.eval(), lr, with_flows=True)
        out = fast.forward_with_flows(lr)
    assert ref.sr.abs().max() > 1e-3  # a vanishing output would make the check empty
    assert _max_diff(out.sr, ref.sr) <= TOL
    for level_ref, level_out in zip(ref.flows, out.flows):
        assert level_out.shape == level_ref.shape
        assert _max_diff(level_out, level_ref) <= TOL


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradients_match_reference(pair, layout):
    model, lr = pair
    ref_model = copy.deepcopy(model).train()
    fast = _layout(model, layout).train()
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
    assert model.srnet.body[2].body[0](x).is_contiguous(memory_format=torch.channels_last)


def test_channels_last_keeps_state_dict_keys_and_loads_both_ways():
    model = _layout(SOFVSR(4, 16), "nchw")
    fast = _layout(model, "channels_last")
    assert list(fast.state_dict()) == list(model.state_dict())
    fresh = SOFVSR(4, 16)
    fresh.load_state_dict(fast.state_dict())
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_nhwc_shuffled_concat_gradients_are_dense_and_bitwise_equal():
    from sofkd_lib.archs.sofvsr_arch import _ShuffledConcatNHWC

    cl = torch.channels_last
    a0, b0 = (torch.randn(2, 6, 4, 5).contiguous(memory_format=cl) for _ in range(2))
    g = torch.randn(2, 12, 4, 5).contiguous(memory_format=cl)
    a1, b1, a2, b2 = (t.clone().requires_grad_() for t in (a0, b0, a0, b0))
    out_plain, out_fn = shuffled_concat(a1, b1), _ShuffledConcatNHWC.apply(a2, b2)
    assert torch.equal(out_plain, out_fn) and out_fn.is_contiguous(memory_format=cl)
    ga1, gb1 = torch.autograd.grad(out_plain, (a1, b1), g)  # the raw gradients, as the next op sees them
    ga2, gb2 = torch.autograd.grad(out_fn, (a2, b2), g)
    assert torch.equal(ga1, ga2) and torch.equal(gb1, gb2)
    # The point of the function: gradients come back dense in channels_last memory.
    assert ga2.is_contiguous(memory_format=cl) and gb2.is_contiguous(memory_format=cl)
    assert not gb1.is_contiguous(memory_format=cl)  # autograd's own: every other channel of g


def test_cpu_fast_path_is_taken_and_equals_the_plain_modules(monkeypatch):
    """The CPU path (ResBlock chains without shuffles, blocked sub-pixel heads) against the
    modules run one by one, in float64 so that any difference is a bug, not rounding."""
    import sofkd_lib.archs.sofvsr_arch as M

    torch.manual_seed(2)
    model = SOFVSR(4, 16).double().train()
    lr = torch.rand(2, 3, 1, 6, 8, dtype=torch.float64)
    calls = {"chain": 0, "head": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(M, "run_chain", counted("chain", M.run_chain))
    monkeypatch.setattr(M, "run_head", counted("head", M.run_head))

    def run():
        model.zero_grad()
        out = model.forward_with_flows(lr)
        (out.sr.square().mean() + sum(f.square().mean() for f in out.flows)).backward()
        return [out.sr.detach(), *(f.detach() for f in out.flows)], [p.grad.clone() for p in model.parameters()]

    fast_out, fast_grads = run()
    # OFRnet: levels 1 and 2 one chain each, level 3 one chain through both CascadedResBlocks; SRnet one.
    assert calls == {"chain": 4, "head": 4}
    monkeypatch.setattr(M, "cpu_fast_path", lambda x: False)
    plain_out, plain_grads = run()
    assert calls == {"chain": 4, "head": 4}
    for a, b in zip(fast_out, plain_out):
        assert torch.allclose(a, b, atol=1e-12)
    for (name, _), a, b in zip(model.named_parameters(), fast_grads, plain_grads):
        assert torch.allclose(a, b, atol=1e-10), name


def test_run_layers_refuses_a_permuted_input_off_the_fast_path():
    from sofkd_lib.archs.sofvsr_arch import cpu_fast_path, run_layers

    x = torch.zeros(1, 4, 2, 2, device="meta")
    assert not cpu_fast_path(x) and cpu_fast_path(torch.zeros(1, 4, 2, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not cpu_fast_path(torch.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match="fast path"):
        run_layers(torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1)), x, (1, 0, 2, 3))
