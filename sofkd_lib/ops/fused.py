"""Convolution with its LeakyReLU fused into oneDNN's epilogue (CPU fast path).

Every conv of SOF-VSR but the flow/SR outputs and the depthwise convs is followed
by LeakyReLU(0.1). oneDNN applies the activation while the conv's output is
still in cache (``torch.ops.mkldnn._convolution_pointwise``, the op PyTorch's own
CPU compiler fuses to), which saves one pass over every activation. The backward
is the unfused one: LeakyReLU's from the saved output, then the conv's.

The op's FLOPs are registered with ``torch.utils.flop_counter`` (a convolution's),
so ``FlopCounterMode`` counts this path as it counts the plain modules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _fused_op_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _register_flops() -> None:
    from torch.utils.flop_counter import conv_flop_count, flop_registry, register_flop_formula

    target = torch.ops.mkldnn._convolution_pointwise
    if target in flop_registry:  # registered by torch itself, or by an earlier import
        return

    @register_flop_formula(target)
    def _conv_pointwise_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
        return conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


if _fused_op_available():
    _register_flops()


class _ConvLeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, slope: float, padding: int,  # type: ignore[override]
                reuse_grad: bool):
        y = torch.ops.mkldnn._convolution_pointwise(
            x, weight, None, [padding, padding], [1, 1], [1, 1], 1, "leaky_relu", [slope], "")
        ctx.slope, ctx.padding, ctx.reuse_grad = slope, padding, reuse_grad
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight, y = ctx.saved_tensors
        if ctx.reuse_grad and grad.stride() == y.stride():
            # Written over the incoming gradient: no fresh buffer to fault in and fill (see conv_leaky_relu).
            grad_z = torch.ops.aten.leaky_relu_backward.grad_input(grad, y, ctx.slope, True, grad_input=grad)
        else:
            grad_z = torch.ops.aten.leaky_relu_backward(grad, y, ctx.slope, True)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_z, x, weight, None, [1, 1], [ctx.padding, ctx.padding], [1, 1], False, [0, 0], 1,
            [need_x, need_w, False])
        return grad_x, grad_w, None, None, None


def conv_leaky_relu(x: torch.Tensor, weight: torch.Tensor, slope: float, padding: int = 0,
                    reuse_grad: bool = False) -> torch.Tensor:
    """``leaky_relu(conv2d(x, weight, padding=padding), slope)``: stride 1, no bias, groups 1.

    ``reuse_grad=True`` lets the backward overwrite the gradient it receives (one
    memory pass less over the activation). Only for an output whose gradient nobody
    else reads: its one consumer's backward makes a fresh tensor (a conv's grad_input,
    a concatenation), as at the call sites in :mod:`sofkd_lib.ops.resblock_chain` and
    :mod:`sofkd_lib.ops.subpixel`; never when the output feeds an addition, whose
    backward hands one gradient to both inputs.
    """
    if x.dtype == torch.float32 and x.device.type == "cpu" and _fused_op_available():
        return _ConvLeakyReLU.apply(x, weight, slope, padding, reuse_grad)
    return F.leaky_relu(F.conv2d(x, weight, padding=padding), slope)
