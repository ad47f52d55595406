"""What one forward pass costs, counted and measured on the CPU: FLOPs and peak tensor memory.

The efficiency chapter compares teacher and student with these. FLOPs come from
``torch.utils.flop_counter`` (a multiply-add counts 2; convolutions and matrix
products only). Peak memory is read from the torch profiler's allocation record,
which is deterministic, unlike the process's resident set.
"""
from __future__ import annotations

import os
from typing import Any

import torch

PARTS = ("OFRnet", "whole")


def count_flops(net: Any, h: int, w: int, part: str = "whole") -> int:
    """FLOPs of one forward pass of ``net`` on three random LR frames of ``h``×``w`` (input (1, 3, 1, h, w)).

    ``part="OFRnet"`` counts ``net.estimate_flows`` (the flows alone), ``"whole"``
    the full super-resolution forward.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 1, h, w)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.estimate_flows(x) if part == "OFRnet" else net(x)
    return int(counter.get_total_flops())


def peak_tensor_mib(net: Any, h: int, w: int) -> float:
    """Peak MiB of live tensors during one forward pass of ``net`` on a (1, 3, 1, h, w) input, under ``no_grad``.

    Every allocation and free of the CPU allocator is a profiler event; their running
    sum in time order is the memory held by tensors and its maximum the peak. The
    weights and the input exist before the pass and are not counted.
    """
    from torch.profiler import ProfilerActivity, profile

    x = torch.rand(1, 3, 1, h, w)
    # The profiler's C++ side prints start/stop lines on the process's own stdout: silence them.
    saved, null = (os.dup(1), os.dup(2)), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1), os.dup2(null, 2)
    try:
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            net(x)
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    held = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        held += event.self_cpu_memory_usage
        peak = max(peak, held)
    return peak / 2**20
