"""CPU fast path for chains of ResBlocks: the channel shuffles are tracked, not performed.

Every ResBlock ends in a 2-group channel shuffle: output channel ``2i`` is input
channel ``i`` (passed through), ``2i+1`` is the processed half's ``i``. On
channels_last CPU tensors that interleave moves every float on its own, forward
and backward, and the passed-through half is copied again each block although
its values never change (``bench/README.md``: ~15 % of a batch-4 train step).

Here a chain keeps every tensor it produced — its input and each block's
processed output ``y`` — where it is, and tracks where each logical channel
lives. A block gathers its processed half from those sources (one copy of half
the channels, in runs of consecutive channels) and permutes its first 1x1 conv's
input columns to match; nothing else moves. At the end the chain's output is
gathered once, in an order whose channel permutation the consumer's conv absorbs
the same way (``logical_at``).

Because each channel of each source is read by exactly one consumer (a later
block or the final gather), each source's gradient is assembled by one
concatenation (:class:`_SplitRuns`), never zero-filled and summed.

Same function as running the blocks one by one; ``tests/ops/test_resblock_chain.py``
checks values and gradients.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from sofkd_lib.ops.fused import conv_leaky_relu
from sofkd_lib.ops.weight_order import reorder


@dataclass(frozen=True)
class Run:
    """Channels ``start:stop`` of source ``source`` (0 = chain input, k = block k's output)."""

    source: int
    start: int
    stop: int


@dataclass(frozen=True)
class ChainPlan:
    """Where every logical channel of a chain lives, precomputed from its shape.

    ``blocks[j]``: (runs gathered, in order, into block j's processed half; for each
    gathered channel, its index within the logical processed half).
    ``splits[s]``: the runs source ``s`` is cut into, in channel order.
    ``output``: runs gathered into the chain's output; ``output_logical_at[q]`` is
    the logical channel at output position ``q``.
    """

    blocks: tuple[tuple[tuple[Run, ...], tuple[int, ...]], ...]
    splits: tuple[tuple[Run, ...], ...]
    output: tuple[Run, ...]
    output_logical_at: tuple[int, ...]


def _runs(items: Sequence[tuple[int, int]]) -> tuple[Run, ...]:
    """(source, channel) pairs, sorted, merged into runs of consecutive channels."""
    runs: list[Run] = []
    for source, channel in items:
        last = runs[-1] if runs else None
        if last is not None and last.source == source and last.stop == channel:
            runs[-1] = Run(source, last.start, channel + 1)
        else:
            runs.append(Run(source, channel, channel + 1))
    return tuple(runs)


@functools.lru_cache(maxsize=64)
def chain_plan(channels: int, n_blocks: int, input_logical_at: tuple[int, ...] | None = None) -> ChainPlan:
    """The plan of ``n_blocks`` ResBlocks of ``channels`` channels.

    ``input_logical_at[q]``: logical channel stored at input position ``q``
    (None: the input is in logical order).
    """
    if channels % 2:
        raise ValueError(f"ResBlock channels must be even, got {channels}")
    half = channels // 2
    if input_logical_at is None:
        input_logical_at = tuple(range(channels))
    if sorted(input_logical_at) != list(range(channels)):
        raise ValueError(f"input_logical_at must be a permutation of range({channels})")
    logical: list[tuple[int, int]] = [(0, 0)] * channels  # logical channel → (source, channel)
    for position, channel in enumerate(input_logical_at):
        logical[channel] = (0, position)
    consumed: dict[int, list[Run]] = {0: []}
    blocks = []
    for j in range(1, n_blocks + 1):
        processed = logical[half:]
        order = sorted(range(half), key=lambda i: processed[i])
        runs = _runs([processed[i] for i in order])
        blocks.append((runs, tuple(order)))
        for run in runs:
            consumed[run.source].append(run)
        consumed[j] = []
        passed = logical[:half]
        logical = [pair for i in range(half) for pair in (passed[i], (j, i))]
    order = sorted(range(channels), key=lambda k: logical[k])
    output = _runs([logical[k] for k in order])
    for run in output:
        consumed[run.source].append(run)
    splits = []
    for source in range(n_blocks + 1):
        runs = tuple(sorted(consumed[source], key=lambda r: r.start))
        width = channels if source == 0 else half
        if runs[0].start != 0 or runs[-1].stop != width or any(a.stop != b.start for a, b in zip(runs, runs[1:])):
            raise AssertionError(f"chain plan: source {source} is not read exactly once")  # a bug, not bad input
        splits.append(runs)
    return ChainPlan(tuple(blocks), tuple(splits), output, tuple(order))


class _SplitRuns(torch.autograd.Function):
    """Cut (P, C) rows into column runs (views); the backward concatenates their gradients once."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, bounds: tuple[tuple[int, int], ...]):  # type: ignore[override]
        return tuple(rows[:, a:b] for a, b in bounds)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]
        return torch.cat(grads, 1), None


def _split(rows: torch.Tensor, runs: Sequence[Run]) -> dict[Run, torch.Tensor]:
    if len(runs) == 1:
        return {runs[0]: rows}
    return dict(zip(runs, _SplitRuns.apply(rows, tuple((r.start, r.stop) for r in runs))))


def _gather(pieces: dict[Run, torch.Tensor], runs: Sequence[Run]) -> torch.Tensor:
    if len(runs) == 1:
        return pieces[runs[0]].contiguous()
    return torch.cat([pieces[r] for r in runs], 1)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) → (n·h·w, c): a view for channels_last memory."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _image(rows: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """(n·h·w, c) contiguous → (n, c, h, w) channels_last view."""
    return rows.view(n, h, w, rows.shape[1]).permute(0, 3, 1, 2)


def run_chain(blocks: Sequence[nn.Module], x: torch.Tensor,
              input_logical_at: tuple[int, ...] | None = None) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Apply ResBlocks ``blocks`` to ``x`` (n, C, h, w) without performing their shuffles.

    Returns the output with its channels permuted, and ``logical_at``: the logical
    channel at each output position (a consumer conv uses ``weight[:, logical_at]``).
    """
    n, channels, h, w = x.shape
    plan = chain_plan(channels, len(blocks), input_logical_at)
    pieces = _split(_rows(x), plan.splits[0])
    for j, (block, (runs, columns)) in enumerate(zip(blocks, plan.blocks), start=1):
        conv_in, relu_in, depthwise, conv_out, relu_out = block.body
        processed = _image(_gather(pieces, runs), n, h, w)
        # Both activations' gradients are fresh tensors only they read (the depthwise conv's
        # grad_input; a _SplitRuns concatenation or a slice of the chain output's gradient).
        y = conv_leaky_relu(processed, reorder(conv_in.weight, 1, columns), relu_in.negative_slope, reuse_grad=True)
        y = depthwise(y)
        y = conv_leaky_relu(y, conv_out.weight, relu_out.negative_slope, reuse_grad=True)
        pieces.update(_split(_rows(y.contiguous(memory_format=torch.channels_last)), plan.splits[j]))
    out = _image(_gather(pieces, plan.output), n, h, w)
    return out, plan.output_logical_at
