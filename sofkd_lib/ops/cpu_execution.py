"""The fast execution of SOF-VSR, opted into per model: :func:`use_fast_execution`.

The network in :mod:`sofkd_lib.archs.sofvsr_arch` is plain PyTorch. Opting a model
in changes how its OFRnet, SRnet and ResBlocks execute, never what they compute:
the module tree, the parameters and the state dict stay the same.

* **CPU fast path** (:func:`cpu_fast_path`: eager float32/float64 on CPU, not
  tracing, not compiling, no CPU autocast). OFRnet and SRnet run through
  :func:`run_layers`: chains of ResBlocks without performing their channel
  shuffles (:mod:`sofkd_lib.ops.resblock_chain`), the sub-pixel heads in blocked
  pixel order (:mod:`sofkd_lib.ops.subpixel`), conv + LeakyReLU fused
  (:mod:`sofkd_lib.ops.fused`).
* **Elsewhere** (GPU, tracing and ONNX export, ``torch.compile``, autocast) the
  plain ``forward`` of OFRnet and SRnet runs, with one change on any device: a
  ResBlock concatenates and shuffles its halves in one copy
  (:func:`shuffled_concat`), and in a training step on channels_last memory hands
  dense gradients back (:class:`_ShuffledConcatNHWC`).

Same numbers as the plain ``forward`` (``tests/ops/test_cpu_execution.py`` holds each
path to it, outputs and every parameter's gradient):

* off the fast path on CPU (float32 or float64): bitwise equal;
* on the CPU fast path, float64: outputs within 1e-12, gradients within 1e-10,
  absolute (summation order only);
* on the CPU fast path, float32: outputs within 1e-5 absolute (they are of
  order 1), gradients within 1e-4 of each gradient's largest magnitude (the fused
  and blocked kernels sum in another order);
* on a GPU the fast ResBlock gives its first convolution a dense channels_last
  input where the plain one passes a strided slice, so the library may pick
  another kernel: equal within float rounding, not bitwise (not checked here).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from sofkd_lib.archs import sofvsr_arch
from sofkd_lib.archs.sofvsr_arch import CascadedResBlocks, FlowPyramid, OFRnet, ResBlock, SRnet
from sofkd_lib.ops.fused import conv_leaky_relu
from sofkd_lib.ops.resblock_chain import run_chain
from sofkd_lib.ops.subpixel import head_start, run_head
from sofkd_lib.ops.weight_order import reorder


def shuffled_concat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(torch.cat((a, b), 1), 2)`` in one copy instead of two.

    The 2-group shuffle interleaves the halves (output channel 2i is ``a[:, i]``,
    2i+1 is ``b[:, i]``), which is a stack on a new axis right after the channel
    axis. The stack is taken in the memory order of the inputs, so a channels_last
    network stays channels_last. Bitwise identical to the cat + shuffle.
    """
    n, c, h, w = a.shape
    if a.is_contiguous(memory_format=torch.channels_last) or b.is_contiguous(memory_format=torch.channels_last):
        # NHWC memory: interleave along the innermost (channel) axis.
        out = torch.stack((a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)), dim=-1)
        return out.view(n, h, w, 2 * c).permute(0, 3, 1, 2)
    return torch.stack((a, b), dim=2).view(n, 2 * c, h, w)


class _ShuffledConcatNHWC(torch.autograd.Function):
    """:func:`shuffled_concat` of channels_last inputs, with gradients handed back channels_last-contiguous.

    Autograd's own backward of the stack hands each half a strided slice of the
    output gradient (every other channel). The LeakyReLU that produced the
    processed half then runs its backward on mixed layouts (strided gradient,
    channels_last output), a slow path: ~10x the time of matching layouts. Here
    the two halves are gathered into contiguous NHWC tensors once. (On the CPU fast
    path, chains of ResBlocks skip the shuffle altogether: :mod:`sofkd_lib.ops.resblock_chain`.)
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = a.shape
        out = torch.stack((a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)), dim=-1)
        return out.view(n, h, w, 2 * c).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        n, c2, h, w = grad.shape
        pairs = grad.permute(0, 2, 3, 1).reshape(n, h, w, c2 // 2, 2)  # a view when grad is channels_last
        return (pairs[..., 0].contiguous().permute(0, 3, 1, 2),
                pairs[..., 1].contiguous().permute(0, 3, 1, 2))


def cpu_fast_path(x: torch.Tensor) -> bool:
    """Whether an opted-in OFRnet or SRnet takes the CPU fast path for input ``x``.

    Eager float CPU execution only: tracing, ONNX export, ``torch.compile`` and CPU
    autocast see the plain modules, and so does every other device.
    """
    return (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
            and not torch.is_autocast_enabled("cpu"))


def _fusable(layer: nn.Module) -> bool:
    """A conv :func:`sofkd_lib.ops.fused.conv_leaky_relu` can run with the LeakyReLU after it."""
    return (isinstance(layer, nn.Conv2d) and layer.bias is None and layer.groups == 1 and layer.stride == (1, 1)
            and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and layer.padding[0] == layer.padding[1] == layer.kernel_size[0] // 2
            and layer.kernel_size[0] == layer.kernel_size[1])


def run_layers(layers: Sequence[nn.Module], x: torch.Tensor,
               logical_at: tuple[int, ...] | None = None) -> tuple[torch.Tensor, tuple[int, ...] | None]:
    """Apply ``layers`` in turn, on CPU without the ResBlocks' channel shuffles or the heads' pixel shuffles.

    On the fast path consecutive ResBlock chains run as one by
    :func:`sofkd_lib.ops.resblock_chain.run_chain` and a trailing sub-pixel head by
    :func:`sofkd_lib.ops.subpixel.run_head`. A chain's output comes with its channels
    permuted: returned with ``logical_at`` (the logical channel at each position),
    which the next conv absorbs, or passed in by the caller. Elsewhere it is the
    layers one by one.
    """
    children = list(layers)
    if not cpu_fast_path(x):
        if logical_at is not None:
            raise ValueError("run_layers: a permuted input needs the CPU fast path")
        for layer in children:
            x = layer(x)
        return x, None
    start = head_start(children)
    body = children[: len(children) if start is None else start]
    i = 0
    while i < len(body):
        layer = body[i]
        if isinstance(layer, CascadedResBlocks):
            blocks = list(layer.body)
            while i + 1 < len(body) and isinstance(body[i + 1], CascadedResBlocks):
                i += 1
                blocks += list(body[i].body)
            x, logical_at = run_chain(blocks, x, logical_at)
        elif _fusable(layer) and i + 1 < len(body) and isinstance(body[i + 1], nn.LeakyReLU):
            weight = layer.weight if logical_at is None else reorder(layer.weight, 1, logical_at)
            # A ResBlock chain next reads it through _SplitRuns, whose gradient is a fresh concatenation.
            feeds_chain = i + 2 < len(body) and isinstance(body[i + 2], CascadedResBlocks)
            x = conv_leaky_relu(x, weight, body[i + 1].negative_slope, layer.padding[0], reuse_grad=feeds_chain)
            logical_at = None
            i += 1
        elif logical_at is None or isinstance(layer, nn.LeakyReLU):  # elementwise: order does not matter
            x = layer(x)
        elif isinstance(layer, nn.Conv2d) and layer.groups == 1:
            x = F.conv2d(x, reorder(layer.weight, 1, logical_at), layer.bias, layer.stride, layer.padding,
                         layer.dilation)
            logical_at = None
        else:
            raise TypeError(f"run_layers: {type(layer).__name__} after a ResBlock chain is not supported")
        i += 1
    if start is not None:
        x, logical_at = run_head(children[start:], x, logical_at), None
    return x, logical_at


class FastResBlock(ResBlock):
    """:class:`~sofkd_lib.archs.sofvsr_arch.ResBlock` with the one-copy shuffled concatenation (any device)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # chunk, not two slices: the backward of a split is one cat, whereas each
        # slice's backward zero-fills a full-size gradient and the two get added.
        passed, processed = x.chunk(2, dim=1)
        if self.training and torch.is_grad_enabled() and x.is_contiguous(memory_format=torch.channels_last):
            # Train step on channels_last: give the 1x1 conv a dense input (a channel
            # slice of NHWC memory is strided) and get dense gradients back.
            processed = processed.contiguous(memory_format=torch.channels_last)
            return _ShuffledConcatNHWC.apply(passed, self.body(processed))
        return shuffled_concat(passed, self.body(processed))


class FastOFRnet(OFRnet):
    """:class:`~sofkd_lib.archs.sofvsr_arch.OFRnet` on the CPU fast path when it applies, plain otherwise."""

    def forward(self, pair: torch.Tensor) -> FlowPyramid:
        if not cpu_fast_path(pair):
            return super().forward(pair)
        # The plain forward's steps; each run_layers may return its output with
        # permuted channels (``order``), which the next conv absorbs.
        neighbour, centre = pair[:, :1], pair[:, 1:2]
        pooled = F.avg_pool2d(pair, 2)
        zeros = pooled.new_zeros(pooled.shape[0], 2, *pooled.shape[2:])
        feats, order = run_layers(self.recurrent_features, torch.cat((pooled, zeros), 1))
        flow_half = run_layers(self.recurrent_flow, feats, order)[0]
        flow_half_up = F.interpolate(flow_half, scale_factor=2, mode="bilinear", align_corners=False) * 2
        # The arch module's warp, looked up at call time: patching it (book/reproducibility.md) patches both.
        warped = sofvsr_arch.flow_warp(neighbour, flow_half_up)
        feats, order = run_layers(self.recurrent_features, torch.cat((warped, centre, flow_half_up), 1))
        flow_lr = run_layers(self.recurrent_flow, feats, order)[0] + flow_half_up
        warped = sofvsr_arch.flow_warp(neighbour, flow_lr)
        inputs = torch.cat((warped, centre, flow_lr), 1)
        flow_lr_up = F.interpolate(flow_lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        # One pass through both: recurrent_features' ResBlocks continue straight into the upsampler's.
        flow_hr = run_layers([*self.recurrent_features, *self.upsampler], inputs)[0] + flow_lr_up * self.scale
        return FlowPyramid(flow_half, flow_lr, flow_hr)


class FastSRnet(SRnet):
    """:class:`~sofkd_lib.archs.sofvsr_arch.SRnet` on the CPU fast path when it applies, plain otherwise."""

    def forward(self, draft_cube: torch.Tensor) -> torch.Tensor:
        if not cpu_fast_path(draft_cube):
            return super().forward(draft_cube)
        return run_layers(self.body, draft_cube)[0]


#: Plain module class → its fast execution.
FAST_CLASSES: dict[type[nn.Module], type[nn.Module]] = {
    ResBlock: FastResBlock, OFRnet: FastOFRnet, SRnet: FastSRnet,
}


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def use_fast_execution(model: ModuleT) -> ModuleT:
    """Make ``model`` (in place) execute fast, as above; returns it. Idempotent.

    ``model`` is a :class:`~sofkd_lib.archs.sofvsr_arch.SOFVSR` or any module
    holding its parts. Each OFRnet, SRnet and ResBlock inside gets its fast
    subclass (its ``__class__`` is switched; nothing else changes), so the choice
    travels with the model through ``.to()``, ``.train()``/``.eval()``,
    ``copy.deepcopy``, pickling and DDP wrapping, and ``isinstance`` checks, the
    parameters and the state dict are unaffected. A model not opted in stays plain.
    Modules added to ``model`` later are plain until it is opted in again.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"use_fast_execution expects a SOF-VSR nn.Module, got {type(model).__name__}")
    parts = [m for m in model.modules() if isinstance(m, (ResBlock, OFRnet, SRnet))]
    if not parts:
        raise ValueError(f"use_fast_execution: {type(model).__name__} holds no OFRnet, SRnet or ResBlock")
    for module in parts:
        module.__class__ = FAST_CLASSES.get(type(module), type(module))
    return model


def uses_fast_execution(model: nn.Module) -> bool:
    """Whether every OFRnet, SRnet and ResBlock of ``model`` executes fast (see :func:`use_fast_execution`)."""
    parts = [m for m in model.modules() if isinstance(m, (ResBlock, OFRnet, SRnet))]
    return bool(parts) and all(type(m) in FAST_CLASSES.values() for m in parts)
