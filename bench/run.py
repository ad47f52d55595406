"""CPU benchmark of the optimised SOF-VSR against the authors'-style reference.

    python -m bench.run                 # full run → results/bench/cpu.json
    python -m bench.run --quick         # fewer iterations, no ONNX / memory jobs

Every measurement runs in a fresh worker process (:mod:`bench.worker`). Timing
jobs interleave reference and optimised runs in the same process, so both see the
same contention; each timing job is run twice, alternating a process with glibc's
default allocator and one with the tuned allocator (:data:`TUNED_MALLOC_ENV`), and
the samples are pooled. Medians are reported with every sample kept.

Headline speedup = reference with the default allocator (the authors' code as it
runs) ÷ optimised with the tuned allocator (this library as we run it); the
code-only speedups (same allocator on both sides) are reported beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from sofkd_lib.data.io import write_json_atomic
from sofkd_lib.engine.runtime import hardware

from .worker import TRAIN_STEP, Case, job_flops, matmul_gflops

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "bench" / "cpu.json"

#: Keep freed memory in the heap instead of returning it to the kernel: without
#: it, every large tensor is a fresh mmap whose pages fault in one by one (see
#: bench/README.md: 600k page faults per reference frame at Vid4 size).
TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000"}

#: DAVIS 480p is 480×854; 854/4 = 213.5, so the LR frame is 120×214 (HR padded
#: by 2 columns to 856); 214 is even as the model's half-resolution level needs.
VID4_LR = (144, 176)
DAVIS_LR = (120, 214)


def cases(quick: bool) -> list[Case]:
    out = [Case("train", m, b, 32, 32) for m in ("teacher", "student") for b in ((4,) if quick else (4, 16))]
    out += [Case("infer", m, 1, *size) for m in ("teacher", "student") for size in (VID4_LR, DAVIS_LR)]
    return out


#: Threads per worker (None: torch's default, one per core); set by --threads.
THREADS: int | None = None


def worker(args: list[str], tuned: bool, timeout: float = 3600) -> dict:
    env = dict(os.environ)
    if THREADS is not None:
        env["OMP_NUM_THREADS"] = str(THREADS)
    for key in TUNED_MALLOC_ENV:
        env.pop(key, None)
    if tuned:
        env.update(TUNED_MALLOC_ENV)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def case_args(case: Case) -> list[str]:
    return ["--kind", case.kind, "--model", case.model, "--batch", str(case.batch),
            "--height", str(case.height), "--width", str(case.width)]


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def time_case(case: Case, iters: int, rounds: int) -> dict:
    pooled = {tuned: {"reference": [], "optimised": []} for tuned in (False, True)}
    extra = {}
    for _ in range(rounds):
        for tuned in (False, True):
            out = worker(["time", *case_args(case), "--iters", str(iters)], tuned)
            for impl, ts in out["times_s"].items():
                pooled[tuned][impl] += ts
                faults = extra.setdefault("minor_page_faults_per_iter", {})
                faults.setdefault(f"{impl}_{'tuned' if tuned else 'default'}_allocator", []).extend(
                    out["minor_page_faults"][impl])
            extra.setdefault("matmul_gflops_in_workers", []).append(out["matmul_gflops"])
            if out["max_abs_diff_sr"] is not None:
                extra["max_abs_diff_sr"] = max(extra.get("max_abs_diff_sr", 0.0), out["max_abs_diff_sr"])
    result = {}
    for tuned, label in ((False, "default_allocator"), (True, "tuned_allocator")):
        ref, opt = summary(pooled[tuned]["reference"]), summary(pooled[tuned]["optimised"])
        result[label] = {"reference": ref, "optimised": opt, "speedup": ref["median_s"] / opt["median_s"]}
    ref_s = result["default_allocator"]["reference"]["median_s"]
    opt_s = result["tuned_allocator"]["optimised"]["median_s"]
    result["headline"] = {"reference_s": ref_s, "optimised_s": opt_s, "speedup": ref_s / opt_s,
                          "what": "reference on default malloc vs optimised on tuned malloc (medians)"}
    result.update(extra)
    return result


def memory_case(case: Case) -> dict:
    runs = (("reference", False), ("optimised", False), ("optimised", True))
    return {f"{impl}_{'tuned' if tuned else 'default'}_allocator": worker(["memory", *case_args(case), "--impl", impl], tuned)
            for impl, tuned in runs}


def refresh_memory(path: Path, threads: int | None) -> int:
    """Re-run the memory jobs of every case in an existing results file."""
    data = json.loads(path.read_text())
    for entry in data["cases"]:
        case = Case(entry["kind"], entry["model"], entry["batch"], *entry["lr_size"])
        print(f"[bench] memory {case.name}", flush=True)
        entry["memory"] = memory_case(case)
        write_json_atomic(path, data)
    data["settings"]["memory_threads"] = threads
    write_json_atomic(path, data)
    return 0


def add_flops(entry: dict, case: Case) -> None:
    """Count ``case``'s FLOPs and set them against its measured optimised time and matmul rate."""
    counted = job_flops(case)
    opt_s = entry["timing"]["tuned_allocator"]["optimised"]["median_s"]
    mm = statistics.median(entry["timing"]["matmul_gflops_in_workers"])
    entry["flop_count"] = counted
    entry["flops"] = counted["flops"]
    entry["achieved_gflops"] = counted["flops"] / opt_s / 1e9
    entry["fraction_of_matmul_rate"] = counted["flops"] / opt_s / 1e9 / mm


def refresh_flops(path: Path) -> int:
    """Re-count the FLOPs of every case in an existing results file (timings kept)."""
    data = json.loads(path.read_text())
    for entry in data["cases"]:
        add_flops(entry, Case(entry["kind"], entry["model"], entry["batch"], *entry["lr_size"]))
    write_json_atomic(path, data)
    print(f"[bench] FLOPs re-counted in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--quick", action="store_true", help="batch 4 only, 1 round, no memory / ONNX jobs")
    p.add_argument("--iters", type=int, default=2, help="timed iterations per implementation per worker (default 2)")
    p.add_argument("--rounds", type=int, default=2, help="default/tuned worker pairs per case (default 2)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime jobs")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory jobs")
    p.add_argument("--only", default="", help="run only cases whose name contains this text")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per worker (default: torch's default); 1 is steadier when the cores are shared")
    p.add_argument("--memory-only", action="store_true", help="re-measure peak memory into an existing --out JSON")
    p.add_argument("--flops-only", action="store_true", help="re-count FLOPs into an existing --out JSON")
    a = p.parse_args(argv)
    global THREADS
    THREADS = a.threads
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    rounds = 1 if a.quick else a.rounds
    if a.memory_only:
        return refresh_memory(a.out, a.threads)
    if a.flops_only:
        return refresh_flops(a.out)
    started = time.time()
    data = {
        "machine": hardware(),
        "load_average_start": os.getloadavg(),
        "settings": {"iters": a.iters, "rounds": rounds, "tuned_malloc_env": TUNED_MALLOC_ENV, "threads": a.threads,
                     "train_step": TRAIN_STEP,
                     "note": "other jobs may share the cores: see the load averages; "
                             "compare ratios measured in the same process, not absolute times"},
        "matmul_gflops_start": matmul_gflops(),
        "cases": [],
    }
    for case in cases(a.quick):
        if a.only and a.only not in case.name:
            continue
        print(f"[bench] {case.name}", flush=True)
        entry = {"name": case.name, "kind": case.kind, "model": case.model, "batch": case.batch,
                 "lr_size": [case.height, case.width], "hr_size": [4 * case.height, 4 * case.width],
                 "load_average": os.getloadavg()}
        entry["timing"] = time_case(case, a.iters, rounds)
        add_flops(entry, case)
        if not (a.quick or a.no_memory):
            entry["memory"] = memory_case(case)
        if case.kind == "infer" and not (a.quick or a.no_onnx):
            entry["onnx"] = worker(["onnx", *case_args(case), "--iters", str(a.iters)], True)
        data["cases"].append(entry)
        write_json_atomic(a.out, data)  # partial results survive an interruption
        h = entry["timing"]["headline"]
        print(f"[bench]   reference {h['reference_s']:.3f} s, optimised {h['optimised_s']:.3f} s, "
              f"speedup {h['speedup']:.2f}x", flush=True)
    data["matmul_gflops_end"] = matmul_gflops()
    data["load_average_end"] = os.getloadavg()
    data["wall_s"] = time.time() - started
    write_json_atomic(a.out, data)
    print(f"[bench] wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
