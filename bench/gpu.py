"""GPU benchmark: trainer steps at the paper's batch, inference frames/s, memory, FLOP rate, paper-budget projection.

    python -m bench.gpu                      # → results/bench/gpu.json (needs CUDA; ≈ 2–4 min on an H100)
    python -m bench.gpu --no-compile         # skip the torch.compile cases (their compile time is long)
    python -m bench.gpu --plan FILE VARIANT SECONDS   # iterations of VARIANT that fit in SECONDS (see below)

Train steps are the trainer's own step (:func:`sofkd_lib.train.variant_losses`, then
backward and Adam) on batches already on the GPU, for each variant's real work:
teacher and no-KD student (whole model), phase 1 (frozen teacher forward + student
SRnet), phase 2 (frozen teacher OFRnet + whole student). Modes: float32, bf16
autocast (the trainer's default on CUDA), each in channels_last (default) and, for
bf16, NCHW; optionally ``torch.compile``. The authors'-style reference
(:mod:`sofkd_lib.reference`: NumPy grid per warp, one ``grid_sample`` per sub-flow)
is timed beside the float32 step and float32 inference.

The trainer samples patches on the CPU, synchronously, between steps; that time
(:class:`sofkd_lib.data.TrainSampler` at batch 64 on the embedded split) is measured
too, and the ``paper``-profile projection adds it to each step.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from sofkd_lib.config import make_config
from sofkd_lib.models import SOFVSR, STUDENT_CHANNELS, TEACHER_CHANNELS
from sofkd_lib.reference import ReferenceStep, reference_forward

from .run import write_json

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "bench" / "gpu.json"
SCALE, FRAMES, PATCH, BATCH = 4, 3, 32, 64
DEVICE = "cuda"  # set by main(); "cpu" only for the --dry-run check of this script
SIZES = {"vid4": (144, 176), "davis480p": (120, 214)}  # LR sizes, as bench.run
#: What each variant's step trains and runs (see the module docstring).
VARIANT_MODELS = {"teacher": (TEACHER_CHANNELS, TEACHER_CHANNELS), "student": (STUDENT_CHANNELS, STUDENT_CHANNELS),
                  "phase1": (TEACHER_CHANNELS, STUDENT_CHANNELS), "phase2": (STUDENT_CHANNELS, STUDENT_CHANNELS)}


def device_info() -> dict[str, Any]:
    p = torch.cuda.get_device_properties(0)
    return {"gpu": p.name, "multiprocessors": p.multi_processor_count, "memory_gib": round(p.total_memory / 2**30, 1),
            "capability": f"{p.major}.{p.minor}", "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(),
            "cpu_count": os.cpu_count()}


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], warmup: int, iters: int) -> list[float]:
    """Per-call seconds of ``fn`` (CUDA-synchronised around each call)."""
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


def stats(times: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(times), "min_s": min(times), "n": len(times),
            "samples_s": [round(t, 6) for t in times]}


def matmul_tflops(dtype: torch.dtype, n: int = 8192) -> float:
    a = torch.randn(n, n, device=DEVICE, dtype=dtype)
    b = torch.randn(n, n, device=DEVICE, dtype=dtype)
    t = statistics.median(timed(lambda: a @ b, 3, 10))
    return 2 * n**3 / t / 1e12


def build(channels: tuple[int, int], channels_last: bool) -> SOFVSR:
    from sofkd_lib.checkpoint import Architecture, build_model

    torch.manual_seed(0)
    model = build_model(Architecture(SCALE, FRAMES, *channels)).to(DEVICE)
    return model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def batch(b: int = BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator(device=DEVICE).manual_seed(1)
    lr = torch.rand(b, FRAMES, 1, PATCH, PATCH, device=DEVICE, generator=g)
    hr = torch.rand(b, FRAMES, 1, SCALE * PATCH, SCALE * PATCH, device=DEVICE, generator=g)
    return lr, hr


def train_step(variant: str, amp: bool, channels_last: bool, compile_model: bool = False,
               reference: bool = False) -> Callable[[], Any]:
    """The trainer's step for ``variant`` as a no-argument callable (see the module docstring)."""
    from sofkd_lib.train import StudentStep, adam, variant_losses

    model = build(VARIANT_MODELS[variant], channels_last)
    teacher = None
    if variant in ("phase1", "phase2"):
        teacher = build(VARIANT_MODELS["teacher"], channels_last).eval().requires_grad_(False)
        if variant == "phase1":
            model.ofrnet.load_state_dict(teacher.ofrnet.state_dict())
            model.ofrnet.requires_grad_(False).eval()
    # The authors' execution of the same weights applies to whole-model variants only.
    step: torch.nn.Module = ReferenceStep(model) if reference else StudentStep(model)
    if compile_model:
        step = torch.compile(step)
    params = [p for p in model.parameters() if p.requires_grad]
    # The trainer's optimiser (fused Adam since commit 92e5fb6; gpu.json was measured before, with foreach Adam).
    opt = torch.optim.Adam(params, lr=1e-4) if reference else adam(params, lr=1e-4)
    lr, hr = batch()
    autocast = (lambda: torch.autocast(DEVICE, dtype=torch.bfloat16)) if amp else contextlib.nullcontext

    def run() -> None:
        terms = variant_losses(variant, step, lr, hr, teacher, autocast=autocast)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        # The trainer reads every term back each step (a host sync); so does the benchmark.
        [float(v.detach()) for v in terms.values()]
    return run


def inference(model_name: str, size: tuple[int, int], amp: bool, reference: bool = False,
              frames: int = 1) -> tuple[Callable[[], Any], SOFVSR, torch.Tensor]:
    model = build(VARIANT_MODELS[model_name], True).eval()
    if reference:
        model = model.to(memory_format=torch.contiguous_format)
    lr = torch.rand(frames, FRAMES, 1, *size, device=DEVICE)
    autocast = (lambda: torch.autocast(DEVICE, dtype=torch.bfloat16)) if amp else contextlib.nullcontext

    def run() -> None:
        with torch.inference_mode(), autocast():
            (reference_forward(model, lr) if reference else model(lr))
    return run, model, lr


def forward_flops(model: SOFVSR, lr: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(lr)
    return counter.get_total_flops()


def peak_memory(fn: Callable[[], Any]) -> float | None:
    if DEVICE != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def sampler_seconds(batches: int = 60) -> dict[str, Any] | None:
    """Per-batch time of the trainer's CPU sampler at batch 64 (embedded split), after its cache is warm."""
    try:
        from sofkd_lib.train import make_source

        source = make_source(make_config("gpu-short", {}))
    except Exception as exc:  # the embedded data may be missing: report, don't fail the benchmark
        return {"error": f"{type(exc).__name__}: {exc}"}
    t0 = time.perf_counter()
    for _ in range(batches):
        source.sample(BATCH)
    warm = time.perf_counter() - t0
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        lr, hr = source.sample(BATCH)
        lr.to(DEVICE, non_blocking=True), hr.to(DEVICE, non_blocking=True)
        sync()
        times.append(time.perf_counter() - t)
    return {**stats(times), "first_pass_s": warm, "note": "sample + host→device copy of one batch of 64"}


#: Iterations of each variant in the ``paper`` profile (config.py).
def paper_budget() -> dict[str, int]:
    out = {}
    for v in ("teacher", "student", "phase1", "phase2", "phase1+2"):
        out[v] = make_config("paper", {}, variant=v).total_iterations
    return out


def projection(train: dict[str, Any], sampler: dict[str, Any] | None) -> dict[str, Any]:
    """Wall time of the ``paper`` profile on this GPU: iterations × (step + synchronous sampling)."""
    sample_s = sampler["median_s"] if sampler and "median_s" in sampler else 0.0
    paper = paper_budget()
    rows, total, total_step_only = {}, 0.0, 0.0
    for variant, iters in paper.items():
        key = f"{'phase2' if variant == 'phase1+2' else variant}/bf16_channels_last"
        if key not in train or "median_s" not in train[key]:
            return {"error": f"no timing for {key}"}
        step = train[key]["median_s"]
        rows[variant] = {"iterations": iters, "step_s": step, "hours_step_only": iters * step / 3600,
                         "hours_with_sampling": iters * (step + sample_s) / 3600}
        total += rows[variant]["hours_with_sampling"]
        total_step_only += rows[variant]["hours_step_only"]
    return {"variants": rows, "sampler_s_per_batch": sample_s, "total_hours_with_sampling": total,
            "total_hours_step_only": total_step_only,
            "note": "bf16 autocast + channels_last, batch 64, 32×32 LR patches; phase1+2 costs a phase-2 step; "
                    "validation and checkpoint writes not included"}


#: Steps of each timed variant per unit of the students' phase budget P in a recorded run:
#: no-KD student 2P, phase1 P, phase2 P, phase1+2 P (a phase-2 step).
STUDENT_STEPS = {"student": 2, "phase1": 1, "phase2": 2}


def plan(path: Path, variant: str, seconds: float, margin: float = 0.85) -> int:
    """Iterations that fit in ``seconds`` × ``margin`` (bf16, channels_last, with sampling), in hundreds.

    ``variant`` 'students' gives the phase budget P of a recorded run whose four
    student variants (see :data:`STUDENT_STEPS`) run one after another.
    """
    data = json.loads(path.read_text())
    sample = (data.get("sampler") or {}).get("median_s", 0.0)

    def step(v: str) -> float:
        return data["train"][f"{'phase2' if v == 'phase1+2' else v}/bf16_channels_last"]["median_s"] + sample
    per_unit = sum(k * step(v) for v, k in STUDENT_STEPS.items()) if variant == "students" else step(variant)
    return max(100, int(seconds * margin / per_unit) // 100 * 100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--iters", type=int, default=40, help="timed calls per case (default 40)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    p.add_argument("--compile-only", action="store_true",
                   help="only the torch.compile cases, each beside its eager twin in the same process")
    p.add_argument("--budget-s", type=float, default=420.0, help="skip remaining cases after this many seconds")
    p.add_argument("--dry-run", action="store_true",
                   help="check this script on the CPU: 1 timed call per case, batch 2, tiny frames, no compile")
    p.add_argument("--plan", nargs=3, metavar=("JSON", "VARIANT", "SECONDS"),
                   help="print the iterations of VARIANT that fit in SECONDS by the timings in JSON, and exit")
    a = p.parse_args(argv)
    if a.plan:
        print(plan(Path(a.plan[0]), a.plan[1], float(a.plan[2])))
        return 0
    global DEVICE, BATCH, PATCH, SIZES
    if a.dry_run:
        DEVICE, BATCH, PATCH, a.iters, a.no_compile = "cpu", 2, 8, 1, True
        SIZES = {"vid4": (16, 20), "davis480p": (12, 22)}
    elif not torch.cuda.is_available():
        print("bench.gpu needs a CUDA device", file=sys.stderr)
        return 2
    started = time.perf_counter()
    torch.backends.cudnn.benchmark = True
    data: dict[str, Any] = {"kind": "gpu", "machine": device_info() if DEVICE == "cuda" else {"gpu": None}, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "settings": {"batch": BATCH, "patch": PATCH, "scale": SCALE, "frames": FRAMES,
                                         "iters": a.iters, "cudnn_benchmark": True},
                            "matmul_tflops": {}, "train": {}, "inference": {}, "errors": {}}

    def out_of_time() -> bool:
        return time.perf_counter() - started > a.budget_s

    def attempt(section: str, key: str, fn: Callable[[], dict]) -> None:
        if out_of_time():
            data["errors"][f"{section}/{key}"] = "skipped: benchmark time budget spent"
            return
        print(f"[bench.gpu] {section} {key}", flush=True)
        try:
            data[section][key] = fn()
        except Exception as exc:  # one failing case must not lose the others
            data["errors"][f"{section}/{key}"] = f"{type(exc).__name__}: {exc}"
        torch.cuda.empty_cache()
        write_json(data, a.out)

    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32 here (and in the models)
    for dtype in (torch.float32, torch.bfloat16):
        data["matmul_tflops"][str(dtype).replace("torch.", "")] = matmul_tflops(dtype, 256 if a.dry_run else 8192)
    if a.compile_only:
        a.no_compile = False
    else:
        data["sampler"] = sampler_seconds()
        write_json(data, a.out)

    def train_case(variant: str, amp: bool, cl: bool, comp: bool = False, ref: bool = False) -> Callable[[], dict]:
        def go() -> dict:
            fn = train_step(variant, amp, cl, comp, ref)
            t0 = time.perf_counter()
            fn()
            sync()
            first = time.perf_counter() - t0
            mem = peak_memory(fn)
            res = stats(timed(fn, 5, a.iters))
            return {**res, "iterations_per_s": 1 / res["median_s"], "first_call_s": first, "peak_mib": mem}
        return go

    for variant in ("teacher", "student", "phase1", "phase2") if not a.compile_only else ():
        attempt("train", f"{variant}/bf16_channels_last", train_case(variant, True, True))
        attempt("train", f"{variant}/fp32_channels_last", train_case(variant, False, True))
    for variant in ("teacher", "student") if not a.compile_only else ():
        attempt("train", f"{variant}/bf16_nchw", train_case(variant, True, False))
        attempt("train", f"{variant}/fp32_reference", train_case(variant, False, False, ref=True))

    for model_name in ("teacher", "student") if not a.compile_only else ():
        for size_name, size in SIZES.items():
            def infer_case(amp: bool, ref: bool, frames: int = 1, m=model_name, s=size) -> Callable[[], dict]:
                def go() -> dict:
                    fn, model, lr = inference(m, s, amp, ref, frames)
                    fn()
                    mem = peak_memory(fn)
                    res = stats(timed(fn, 3, a.iters))
                    out = {**res, "frames": frames, "frames_per_s": frames / res["median_s"], "peak_mib": mem}
                    if not ref and not amp and frames == 1:
                        flops = forward_flops(model, lr)
                        out["flops_per_frame"] = flops
                        out["achieved_tflops"] = flops / res["median_s"] / 1e12
                    return out
                return go
            attempt("inference", f"{model_name}/{size_name}/fp32", infer_case(False, False))
            attempt("inference", f"{model_name}/{size_name}/bf16", infer_case(True, False))
            attempt("inference", f"{model_name}/{size_name}/bf16_batch8", infer_case(True, False, 8))
            attempt("inference", f"{model_name}/{size_name}/fp32_reference", infer_case(False, True))

    if not a.compile_only:
        data["projection_paper_profile"] = projection(data["train"], data["sampler"])
        write_json(data, a.out)
    if not a.no_compile:
        for variant in ("teacher", "student"):
            if a.compile_only:
                attempt("train", f"{variant}/bf16_channels_last", train_case(variant, True, True))
            attempt("train", f"{variant}/bf16_channels_last_compiled", train_case(variant, True, True, comp=True))
    data["wall_s"] = time.perf_counter() - started
    write_json(data, a.out)
    print(f"[bench.gpu] wrote {a.out} in {data['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
