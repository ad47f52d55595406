"""The opt-in fast execution (sofkd_lib.ops.cpu_execution) computes what the plain network computes.

Each path of the module docstring against the plain ``forward`` of the same
weights, outputs and every parameter's gradient: off the CPU fast path bitwise,
on it within float rounding (float64: any difference is a bug). Then the opt-in
itself: idempotent, carried by deepcopy / pickling / ``.to()`` / DDP, state dict
untouched, and a model not opted in never touches the fast code.
"""
from __future__ import annotations

import copy
import io

import pytest
import torch

import sofkd_lib.ops.cpu_execution as X
from sofkd_lib.archs.sofvsr_arch import SOFVSR, OFRnet, ResBlock, SRnet, channel_shuffle
from sofkd_lib.ops.cpu_execution import (
    FastOFRnet,
    FastResBlock,
    FastSRnet,
    _ShuffledConcatNHWC,
    cpu_fast_path,
    run_layers,
    shuffled_concat,
    use_fast_execution,
    uses_fast_execution,
)


def _pair(dtype=torch.float64, scale=4, channels=16, nchw=False):
    """(plain model, opted-in deepcopy with the same weights, LR batch)."""
    torch.manual_seed(2)
    plain = SOFVSR(scale, channels).to(dtype)
    if nchw:
        plain = plain.to(memory_format=torch.contiguous_format)
    return plain, use_fast_execution(copy.deepcopy(plain)), torch.rand(2, 3, 1, 6, 8, dtype=dtype)


def _run(model, lr, train=True):
    """Outputs (SR, three flow levels) and every parameter's gradient of one forward/backward."""
    model.train(train)
    model.zero_grad()
    out = model.forward_with_flows(lr)
    if train:
        (out.sr.square().mean() + sum(f.square().mean() for f in out.flows)).backward()
    grads = [p.grad.clone() for p in model.parameters()] if train else []
    return [out.sr.detach(), *(f.detach() for f in out.flows)], grads


# --------------------------------------------------------------------------- the one-copy shuffle
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


def test_nhwc_shuffled_concat_gradients_are_dense_and_bitwise_equal():
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


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_fast_resblock_equals_the_plain_one_bitwise(layout):
    torch.manual_seed(4)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    plain = ResBlock(16).to(memory_format=fmt)
    fast = use_fast_execution(copy.deepcopy(plain))
    x = torch.randn(2, 16, 5, 6).contiguous(memory_format=fmt)
    g = torch.randn(2, 16, 5, 6)
    results = []
    for block in (plain, fast):
        xi = x.clone().requires_grad_()
        out = block(xi)
        out.backward(g)
        results.append([out.detach(), xi.grad, *(p.grad for p in block.parameters())])
    for a, b in zip(*results):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- the paths against the plain forward
def test_cpu_fast_path_conditions():
    assert cpu_fast_path(torch.zeros(1, 4, 2, 2)) and cpu_fast_path(torch.zeros(1, 4, 2, 2, dtype=torch.float64))
    assert not cpu_fast_path(torch.zeros(1, 4, 2, 2, device="meta"))
    assert not cpu_fast_path(torch.zeros(1, 4, 2, 2, dtype=torch.bfloat16))
    assert not cpu_fast_path(torch.zeros(4, 2, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not cpu_fast_path(torch.zeros(1, 4, 2, 2))


def test_run_layers_refuses_a_permuted_input_off_the_fast_path():
    x = torch.zeros(1, 4, 2, 2, device="meta")
    with pytest.raises(ValueError, match="fast path"):
        run_layers(torch.nn.Sequential(torch.nn.Conv2d(4, 2, 1)), x, (1, 0, 2, 3))


def test_cpu_fast_path_is_taken_and_equals_the_plain_forward(monkeypatch):
    """ResBlock chains without shuffles, blocked sub-pixel heads, fused conv + LeakyReLU against the
    plain modules, in float64 so that any difference is a bug, not rounding."""
    plain, fast, lr = _pair(torch.float64)
    calls = {"chain": 0, "head": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(X, "run_chain", counted("chain", X.run_chain))
    monkeypatch.setattr(X, "run_head", counted("head", X.run_head))
    plain_out, plain_grads = _run(plain, lr)
    assert calls == {"chain": 0, "head": 0}  # the plain model never reaches them
    fast_out, fast_grads = _run(fast, lr)
    # OFRnet: levels 1 and 2 one chain each, level 3 one chain through both CascadedResBlocks; SRnet one.
    assert calls == {"chain": 4, "head": 4}
    assert plain_out[0].abs().max() > 1e-3  # a vanishing output would make the check empty
    for a, b in zip(fast_out, plain_out):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)
    for (name, _), a, b in zip(plain.named_parameters(), fast_grads, plain_grads):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name


@pytest.mark.parametrize("nchw", [False, True], ids=["channels_last", "nchw"])
def test_cpu_fast_path_float32_within_rounding(nchw):
    plain, fast, lr = _pair(torch.float32, nchw=nchw)
    (plain_out, plain_grads), (fast_out, fast_grads) = _run(plain, lr), _run(fast, lr)
    for a, b in zip(fast_out, plain_out):
        assert (a - b).abs().max() <= 1e-5
    for (name, _), a, b in zip(plain.named_parameters(), fast_grads, plain_grads):
        assert (a - b).abs().max() <= 1e-4 * b.abs().max(), name


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("nchw", [False, True], ids=["channels_last", "nchw"])
def test_off_the_fast_path_is_bitwise_the_plain_forward(monkeypatch, train, nchw):
    # What GPU, tracing, compile and autocast get: the plain OFRnet/SRnet forward with the fast ResBlock.
    monkeypatch.setattr(X, "cpu_fast_path", lambda x: False)
    monkeypatch.setattr(X, "run_layers", _must_not_run)
    plain, fast, lr = _pair(torch.float32, nchw=nchw)
    (plain_out, plain_grads), (fast_out, fast_grads) = _run(plain, lr, train), _run(fast, lr, train)
    for a, b in zip(fast_out + fast_grads, plain_out + plain_grads):
        assert torch.equal(a, b)


def test_fast_execution_is_plain_while_tracing():
    plain, fast, lr = _pair(torch.float32)
    traced = torch.jit.trace(fast.eval(), lr, check_trace=False)
    graph = str(traced.inlined_graph)
    assert "mkldnn::_convolution_pointwise" not in graph and "pixel_shuffle" in graph
    with torch.no_grad():  # TorchScript runs the graph with its own executor: rounding may differ
        assert (traced(lr) - plain.eval()(lr)).abs().max() <= 1e-5


# --------------------------------------------------------------------------- the opt-in
def _must_not_run(*args, **kwargs):
    raise AssertionError("a plain model reached the fast execution")


def test_a_model_not_opted_in_is_plain(monkeypatch):
    plain, fast, lr = _pair(torch.float32)
    for name in ("run_layers", "run_chain", "run_head", "shuffled_concat", "conv_leaky_relu"):
        monkeypatch.setattr(X, name, _must_not_run)
    monkeypatch.setattr(X._ShuffledConcatNHWC, "apply", _must_not_run)
    assert not uses_fast_execution(plain)
    assert {type(m) for m in plain.modules()}.isdisjoint({FastOFRnet, FastSRnet, FastResBlock})
    _run(plain, lr)  # forward and backward, train mode
    _run(plain, lr, train=False)
    with pytest.raises(AssertionError, match="fast execution"):  # the same patch does stop an opted-in one
        _run(fast, lr)


def test_opting_in_is_idempotent_and_leaves_parameters_and_state_dict():
    plain, fast, _ = _pair(torch.float32)
    assert uses_fast_execution(fast) and use_fast_execution(fast) is fast
    kinds = [type(m) for m in fast.modules()]
    use_fast_execution(fast)
    assert [type(m) for m in fast.modules()] == kinds
    assert kinds.count(FastOFRnet) == kinds.count(FastSRnet) == 1 and kinds.count(FastResBlock) == 3 + 3 + 8
    assert isinstance(fast.ofrnet, OFRnet) and isinstance(fast.srnet, SRnet)
    assert list(fast.state_dict()) == list(plain.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), plain.state_dict().values()))
    assert [n for n, _ in fast.named_modules()] == [n for n, _ in plain.named_modules()]


def test_opt_in_rejects_what_is_not_the_network():
    with pytest.raises(TypeError, match="nn.Module"):
        use_fast_execution("teacher")
    with pytest.raises(ValueError, match="Identity holds no OFRnet"):
        use_fast_execution(torch.nn.Identity())


def test_opt_in_survives_deepcopy_pickling_to_train_eval_and_state_dict_loading():
    plain, fast, lr = _pair(torch.float32)
    copied = copy.deepcopy(fast)
    buffer = io.BytesIO()
    torch.save(fast, buffer)
    buffer.seek(0)
    unpickled = torch.load(buffer, weights_only=False)
    moved = copy.deepcopy(fast).to(torch.float64).to(memory_format=torch.contiguous_format).eval().train()
    reloaded = use_fast_execution(SOFVSR(4, 16))
    reloaded.load_state_dict(plain.state_dict())
    for model in (copied, unpickled, moved, reloaded):
        assert uses_fast_execution(model)
    assert not uses_fast_execution(plain)  # the deepcopy the fixture opted in left the original plain
    with torch.no_grad():
        expected = fast.eval()(lr)
        for model in (copied, unpickled, reloaded):
            assert torch.equal(model.eval()(lr), expected)


def test_opt_in_survives_ddp_wrapping(tmp_path, monkeypatch):
    import torch.distributed as dist

    from sofkd_lib.method.distill import StudentStep

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    _, fast, lr = _pair(torch.float32)
    calls = []
    monkeypatch.setattr(X, "run_chain", lambda *a, _f=X.run_chain: calls.append(1) or _f(*a))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        step = torch.nn.parallel.DistributedDataParallel(StudentStep(fast.train()))
        step(lr).sr.mean().backward()
        # The DDP wrapper goes, and the group's queue drains, while the group lives. The gradient all-reduce was
        # queued during backward, so the gloo thread's copy of it carries autograd's Python context: freeing that
        # needs the GIL. Had the wrapper been freed after destroy_process_group, its reducer would free the group,
        # joining that thread while holding the GIL: a deadlock that depends on thread timing.
        del step
        dist.barrier()
    finally:
        dist.destroy_process_group()
    assert len(calls) == 4 and all(p.grad is not None for p in fast.parameters())


def test_patching_the_arch_warp_reaches_the_fast_execution(monkeypatch):
    # book/reproducibility.md swaps sofvsr_arch.flow_warp for a variant; an opted-in model must see it too.
    from sofkd_lib.archs import sofvsr_arch

    calls = []
    warp = sofvsr_arch.flow_warp
    monkeypatch.setattr(sofvsr_arch, "flow_warp", lambda *a: calls.append(a[0].shape) or warp(*a))
    _, fast, lr = _pair(torch.float32)
    with torch.no_grad():
        fast.eval()(lr)
    # OFRnet levels 2 and 3 warp the 2·2 neighbour/centre pairs; motion compensation the 2·2·16 sub-flows.
    assert [tuple(s) for s in calls] == [(4, 1, 6, 8), (4, 1, 6, 8), (64, 1, 6, 8)]
