"""oneDNN conv + LeakyReLU (sofkd_lib.ops.fused) equals the two ops."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sofkd_lib.ops.fused import _fused_op_available, conv_leaky_relu


@pytest.mark.parametrize("kernel,padding", [(1, 0), (3, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # float64 takes the unfused fallback
def test_conv_leaky_relu_matches_unfused(kernel, padding, dtype):
    cl = torch.channels_last
    x0 = torch.randn(2, 6, 5, 7, dtype=dtype).contiguous(memory_format=cl)
    w0 = torch.randn(8, 6, kernel, kernel, dtype=dtype).contiguous(memory_format=cl)
    g = torch.randn(2, 8, 5, 7, dtype=dtype)
    x1, w1, x2, w2 = (t.clone().requires_grad_() for t in (x0, w0, x0, w0))
    ref = F.leaky_relu(F.conv2d(x1, w1, padding=padding), 0.1)
    out = conv_leaky_relu(x2, w2, 0.1, padding)
    assert (ref < 0).any() and (ref > 0).any()  # both branches of the activation are exercised
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(out, ref, atol=tol)
    ref.backward(g)
    out.backward(g)
    assert torch.allclose(x2.grad, x1.grad, atol=tol)
    assert torch.allclose(w2.grad, w1.grad, atol=10 * tol)


def test_fused_op_is_used_on_this_build():
    # The speed claim in bench/README.md rests on it; a build without oneDNN falls back silently.
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    assert _fused_op_available()


def test_flop_counter_counts_the_fast_path_like_the_reference():
    from torch.utils.flop_counter import FlopCounterMode

    from bench.reference import reference_forward
    from sofkd_lib.archs.sofvsr_arch import SOFVSR
    from sofkd_lib.ops.cpu_execution import use_fast_execution

    model = use_fast_execution(SOFVSR(4, 16)).eval()
    lr = torch.rand(1, 3, 1, 6, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as fast:
        model(lr)
    with torch.no_grad(), FlopCounterMode(display=False) as ref:
        reference_forward(model, lr)
    assert fast.get_total_flops() == ref.get_total_flops() > 0


def test_reused_gradient_buffer_gives_the_same_gradients():
    # The chain's use: a fused conv whose output only a depthwise conv reads (fresh grad_input).
    cl = torch.channels_last
    x0 = torch.randn(2, 6, 5, 7).contiguous(memory_format=cl)
    w0 = torch.randn(6, 6, 1, 1).contiguous(memory_format=cl)
    dw = torch.randn(6, 1, 3, 3).contiguous(memory_format=cl)
    g = torch.randn(2, 6, 5, 7)
    grads = []
    for reuse in (False, True):
        x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        F.conv2d(conv_leaky_relu(x, w, 0.1, reuse_grad=reuse), dw, padding=1, groups=6).backward(g)
        grads.append((x.grad, w.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
