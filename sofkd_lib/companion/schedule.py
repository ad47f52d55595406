"""Which training runs may run at the same time: waves of independent runs, and a schedule's critical path.

The dependency graph is :mod:`sofkd_lib.companion.record`'s
(:data:`~sofkd_lib.companion.recording.options.DEPENDENCIES` per Table 1 variant,
:func:`~sofkd_lib.companion.recording.options.with_dependencies` to close a selection),
so record entries such as ablations are scheduled by the variant they train. For
Table 1: teacher and no-KD student first; phase 1 and phase 2 once the teacher is
done; phase 1+2 once phase 1 is.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from sofkd_lib.companion.recording.options import DEPENDENCIES, entry, with_dependencies


def needs(name: str) -> tuple[str, ...]:
    """The runs whose checkpoints run ``name`` (a record entry or Table 1 variant) starts from."""
    return DEPENDENCIES[entry(name).variant]


def stages(variants: Sequence[str]) -> list[tuple[str, ...]]:
    """``variants`` and what they need, as waves: each run in the earliest wave after all it needs.

    Runs of one wave are independent of each other; within a wave, record's order.
    """
    order = with_dependencies(variants)
    if not order:
        raise ValueError("stages: no variants given")
    level: dict[str, int] = {}
    for v in order:  # dependency order: what v needs already has its level
        level[v] = 1 + max((level[d] for d in needs(v)), default=-1)
    return [tuple(v for v in order if level[v] == k) for k in range(max(level.values()) + 1)]


def run_seconds(step_seconds: Mapping[str, float], iterations: Mapping[str, int],
                fixed_seconds: Mapping[str, float] | None = None) -> dict[str, float]:
    """Wall seconds of each run: iterations × seconds per iteration, plus a once-per-run cost (e.g. compiling)."""
    missing = [v for v in iterations if v not in step_seconds]
    if missing:
        raise ValueError(f"no step time for {missing}")
    fixed = fixed_seconds or {}
    return {v: n * step_seconds[v] + fixed.get(v, 0.0) for v, n in iterations.items()}


def critical_path(step_seconds: Mapping[str, float], iterations: Mapping[str, int],
                  fixed_seconds: Mapping[str, float] | None = None) -> tuple[float, tuple[str, ...]]:
    """Seconds of the longest dependency chain among the runs of ``iterations``, and that chain.

    The wall time of the schedule when every run starts as soon as what it needs is
    done and runs at the speed it has alone. The runs must include what they need.
    """
    seconds = run_seconds(step_seconds, iterations, fixed_seconds)
    order = with_dependencies(list(iterations))
    missing = [v for v in order if v not in iterations]
    if missing:
        raise ValueError(f"the runs need {missing}: give their iterations too")
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for v in order:
        before = max(needs(v), key=finish.__getitem__, default=None)
        finish[v] = seconds[v] + (finish[before] if before else 0.0)
        via[v] = before
    last: str | None = max(order, key=finish.__getitem__)
    total, chain = finish[last], []
    while last is not None:
        chain.append(last)
        last = via[last]
    return total, tuple(reversed(chain))
