"""Run-time reordering of a conv weight's rows or columns, with a cheap backward.

The CPU fast paths (:mod:`sofkd_lib.ops.subpixel`, :mod:`sofkd_lib.ops.resblock_chain`)
permute weights on every call instead of moving activations. ``weight[:, idx]``
would do, but its backward is an accumulating ``index_put_`` (~0.1 ms per call,
~5 ms of a batch-4 train step); a permutation's gradient is just the inverse
permutation of the incoming gradient.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch


@functools.lru_cache(maxsize=256)
def _index(order: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(index, inverse index) of a permutation, built once per permutation (never modified)."""
    if sorted(order) != list(range(len(order))):
        raise ValueError(f"not a permutation of range({len(order)}): {order[:8]}…")
    with torch.inference_mode(False):  # cached: must stay usable by autograd whatever mode built it
        index = torch.tensor(order, dtype=torch.long)
        return index, torch.argsort(index)


class _Reorder(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, dim: int, index: torch.Tensor, inverse: torch.Tensor):  # type: ignore[override]
        ctx.dim = dim
        ctx.save_for_backward(inverse)
        return weight.index_select(dim, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (inverse,) = ctx.saved_tensors
        return grad.index_select(ctx.dim, inverse), None, None, None


def reorder(weight: torch.Tensor, dim: int, order: Sequence[int]) -> torch.Tensor:
    """``weight.index_select(dim, order)`` for a permutation ``order`` (differentiable)."""
    index, inverse = _index(tuple(order))
    if index.device != weight.device:
        index, inverse = index.to(weight.device), inverse.to(weight.device)
    return _Reorder.apply(weight, dim, index, inverse)
