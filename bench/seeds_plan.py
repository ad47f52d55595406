"""Budget of a multi-seed recorded run whose students all train at once on one GPU, from measured step times.

    python -m bench.seeds_plan GPU_JSON SECONDS --run-id ID --seeds 0,1,2 [--entries …]   # → plan.env on stdout

``GPU_JSON`` is what ``python -m bench.gpu`` measured on the machine (bf16 +
channels_last train steps at batch 64, the CPU sampler, and the concurrency gain
when measured). Every seed runs one process per entry (:data:`CHAINS`), all at
once; the phase budget P is the largest multiple of 100 whose work fits
``SECONDS`` × ``margin`` under both bounds of a shared GPU: the GPU work of all
processes (steps only, divided by the measured concurrency gain, 1 when not
measured) and the longest single process (steps plus its own sampling). The
output is a ``plan.env`` that ``bench/record_seeds_on_gpu.sh`` sources and a later
device reuses (same budgets, so it resumes instead of starting over).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Training processes of one seed → steps of each timed variant per unit of the phase budget P. The no-KD
#: student runs under both budget conventions (2P: as long as both KD phases, the default; P: one phase);
#: "phase1+2" trains phase 1 and then phase 1+2 in one process (a phase-1+2 step costs a phase-2 step).
CHAINS: dict[str, dict[str, int]] = {
    "student": {"student": 2},
    "student-1phase": {"student": 1},
    "phase2": {"phase2": 1},
    "phase1+2": {"phase1": 1, "phase2": 1},
    "phase1-alpha1": {"phase1": 1},
}
MODE = "bf16_channels_last"  # the trainer's default on CUDA


def step_times(data: Mapping[str, Any]) -> tuple[dict[str, float], float]:
    """(timed variant → seconds per train step, seconds of CPU sampling per step) from a bench.gpu result."""
    train = data.get("train") or {}
    steps = {}
    for v in sorted({v for chain in CHAINS.values() for v in chain}):
        case = train.get(f"{v}/{MODE}") or {}
        if "median_s" not in case:
            raise ValueError(f"the GPU benchmark has no {v}/{MODE} train step; measured: {sorted(train)}")
        steps[v] = float(case["median_s"])
    return steps, float((data.get("sampler") or {}).get("median_s", 0.0))


def plan(data: Mapping[str, Any], seconds: float, n_seeds: int, entries: Sequence[str] = tuple(CHAINS),
         margin: float = 0.85) -> dict[str, Any]:
    """The phase budget P (and the overrides derived from it) for ``n_seeds`` seeds of ``entries`` at once."""
    unknown = [e for e in entries if e not in CHAINS]
    if unknown or not entries:
        raise ValueError(f"unknown entries {unknown or '(none)'}; planned entries: {list(CHAINS)}")
    if n_seeds < 1 or seconds <= 0:
        raise ValueError(f"need >= 1 seed and a positive time, got {n_seeds} seeds, {seconds} s")
    steps, sample = step_times(data)
    gain = float((data.get("concurrent") or {}).get("gain") or 1.0)
    work = n_seeds * sum(k * steps[v] for e in entries for v, k in CHAINS[e].items()) / gain
    path = max(sum(k * (steps[v] + sample) for v, k in CHAINS[e].items()) for e in entries)
    p = max(100, int(seconds * margin / max(work, path)) // 100 * 100)
    return {
        "phase_iterations": p,
        # the paper halves the rate every 80k of a 200k phase: 40 % of a phase
        "lr_step": max(1, 2 * p // 5),
        # an interrupted process loses at most this many steps
        "checkpoint_every": min(100, p),
        # five validation points per phase (ten for the two-phase student): one curve per seed
        "val_every": max(1, p // 5),
        "seconds_per_p": {"gpu_work": work, "longest_process": path}, "bound": "gpu work" if work >= path else
        "longest process", "concurrency_gain": gain, "processes": n_seeds * len(entries), "margin": margin,
        "seconds": seconds,
    }


def plan_env(result: Mapping[str, Any], run_id: str, seeds: Sequence[int], entries: Sequence[str]) -> str:
    """``plan.env`` text: what the script and a later device source (the no-KD student's iterations follow
    from ``phase_iterations`` and each entry's ``student_budget``)."""
    keys = ("phase_iterations", "lr_step", "checkpoint_every", "val_every")
    overrides = " ".join(f"{k}={result[k]}" for k in keys)
    per_p = result["seconds_per_p"]
    return (f"# planned for {result['processes']} processes in {result['seconds']:.0f} s x {result['margin']}: "
            f"{per_p['gpu_work']:.3f} s of GPU work and {per_p['longest_process']:.3f} s on the longest process "
            f"per unit of P (bound: {result['bound']}, concurrency gain {result['concurrency_gain']:.2f})\n"
            f"RUN_ID={run_id}\nSEEDS={','.join(str(s) for s in seeds)}\nENTRIES=\"{' '.join(entries)}\"\n"
            f"OVERRIDES=\"{overrides}\"\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seeds_plan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gpu_json", type=Path)
    p.add_argument("seconds", type=float, help="wall-clock seconds the training processes may take")
    p.add_argument("--run-id", required=True)
    p.add_argument("--seeds", required=True, help="e.g. 0,1,2")
    p.add_argument("--entries", nargs="+", default=list(CHAINS), choices=list(CHAINS))
    p.add_argument("--margin", type=float, default=0.85)
    a = p.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
        result = plan(json.loads(a.gpu_json.read_text()), a.seconds, len(seeds), a.entries, a.margin)
    except (OSError, ValueError) as exc:
        print(f"seeds_plan: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(plan_env(result, a.run_id, seeds, a.entries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
