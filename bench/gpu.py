"""GPU benchmark: trainer steps at the paper's batch, inference frames/s, memory, FLOP rate, paper-budget projection.

    python -m bench.gpu                      # → results/bench/gpu.json (needs CUDA; ≈ 2–4 min on an H100)
    python -m bench.gpu --no-compile         # skip the torch.compile cases (their compile time is long)
    python -m bench.gpu --plan FILE VARIANT SECONDS   # iterations of VARIANT that fit in SECONDS (see below)
    python -m bench.gpu --moves …            # only the issue-17 moves (bench/README.md, "Moves"): eager steps,
                                             # CPU vs device sampler, compile modes, concurrent chains
    python -m bench.gpu --project FILE       # recompute the paper-profile projection of a results file, print it

Train steps are the trainer's own step (:func:`sofkd_lib.engine.train.variant_losses`, then
backward and Adam) on batches already on the GPU, for each variant's real work:
teacher and no-KD student (whole model), phase 1 (frozen teacher forward + student
SRnet), phase 2 (frozen teacher OFRnet + whole student). Modes: float32, bf16
autocast (the trainer's default on CUDA), each in channels_last (default) and, for
bf16, NCHW; optionally ``torch.compile``. The authors'-style reference
(:mod:`bench.reference`: NumPy grid per warp, one ``grid_sample`` per sub-flow)
is timed beside the float32 step and float32 inference.

The trainer samples patches on the CPU, synchronously, between steps; that time
(:class:`sofkd_lib.data.TrainSampler` at batch 64 on the embedded split) is measured
too, and the ``paper``-profile projection adds it to each step. So is the
device-side sampler (:class:`sofkd_lib.data.device_sampler.DeviceSampler`) and,
with ``--concurrent``, the throughput of several variants' steps run at once (one
thread and CUDA stream each); :func:`projection` turns the timings into the
``paper`` profile's wall time for the sequential schedule and for the concurrent one
of :mod:`sofkd_lib.companion.schedule`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.reference import ReferenceStep, reference_forward
from sofkd_lib.archs.sofvsr_arch import SOFVSR, STUDENT_CHANNELS, TEACHER_CHANNELS
from sofkd_lib.companion.schedule import critical_path, run_seconds
from sofkd_lib.data.io import write_json_atomic
from sofkd_lib.engine.config import make_config
from sofkd_lib.engine.runtime import hardware
from sofkd_lib.method.variants import variant_spec
from sofkd_lib.ops.cpu_execution import use_fast_execution

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "bench" / "gpu.json"
SCALE, FRAMES, PATCH, BATCH = 4, 3, 32, 64
DEVICE = "cuda"  # set by main(); "cpu" only for the --dry-run check of this script
SIZES = {"vid4": (144, 176), "davis480p": (120, 214)}  # LR sizes, as bench.run
#: What each variant's step trains and runs (see the module docstring).
#: (OFRnet, SRnet) widths of each timed variant, from its declaration (phase1+2 costs a phase-2 step).
VARIANT_MODELS = {v: variant_spec(v).widths(TEACHER_CHANNELS, STUDENT_CHANNELS)
                  for v in ("teacher", "student", "phase1", "phase2")}


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
    from sofkd_lib.weights.checkpoint import Architecture, build_model

    torch.manual_seed(0)
    model = use_fast_execution(build_model(Architecture(SCALE, FRAMES, *channels))).to(DEVICE)
    return model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def batch(b: int = BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator(device=DEVICE).manual_seed(1)
    lr = torch.rand(b, FRAMES, 1, PATCH, PATCH, device=DEVICE, generator=g)
    hr = torch.rand(b, FRAMES, 1, SCALE * PATCH, SCALE * PATCH, device=DEVICE, generator=g)
    return lr, hr


def train_step(variant: str, amp: bool, channels_last: bool, compile_model: bool = False,
               reference: bool = False, compile_mode: str | None = None) -> Callable[[], Any]:
    """The trainer's step for ``variant`` as a no-argument callable (see the module docstring).

    ``compile_mode``: ``torch.compile``'s mode (None: its default) when ``compile_model``.
    """
    from sofkd_lib.engine.train import adam
    from sofkd_lib.method.distill import StudentStep, variant_losses

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
        step = torch.compile(step, mode=compile_mode)
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
        from sofkd_lib.engine.sources import make_source

        source = make_source(make_config("gpu-short", {"dataset": "embedded"}))
    except Exception as exc:
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
    return {**stats(times), "first_pass_s": warm, "note": f"sample + host→device copy of one batch of {BATCH}"}


def device_sampler_seconds(batches: int = 60) -> dict[str, Any] | None:
    """Per-batch time of :class:`~sofkd_lib.data.device_sampler.DeviceSampler` on this device (embedded split),
    its build time and resident bytes, and whether its first batches equal the CPU sampler's."""
    try:
        from sofkd_lib.engine.sources import make_source

        config = make_config("gpu-short", {"dataset": "embedded", "sampler": "device", "device": DEVICE})
        t0 = time.perf_counter()
        source = make_source(config)
        sync()
        build = time.perf_counter() - t0
        host = make_source(config.replace(sampler="cpu"))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    diffs = []
    for _ in range(3):
        (lr, hr), (lr_c, hr_c) = source.sample(BATCH), host.sample(BATCH)
        diffs += [float((lr.cpu() - lr_c).abs().max()), float((hr.cpu() - hr_c).abs().max())]

    def draw() -> None:
        source.sample(BATCH)
    res = stats(timed(draw, 3, batches))
    return {**res, "build_s": build, "resident_mib": source.nbytes / 2**20, "same_as_cpu_sampler": max(diffs) == 0.0,
            "max_abs_diff_vs_cpu_sampler": max(diffs),
            "note": f"one batch of {BATCH} drawn on the device (host random draws included); the CPU sampler's "
                    "first 3 batches compared for equality"}


def concurrent_seconds(variants: list[str], iters: int, alone: dict[str, float]) -> dict[str, Any]:
    """Wall time of ``iters`` steps of each of ``variants`` run at once, one thread and CUDA stream each.

    ``alone``: each variant's median step time measured alone (same process); the gain is
    Σ iters × alone / wall: 1 when one run already fills the GPU, up to len(variants).
    """
    import threading

    fns = {v: train_step(v, True, True) for v in variants}
    for fn in fns.values():
        for _ in range(3):
            fn()
    sync()
    errors: list[BaseException] = []

    def work(fn: Callable[[], Any]) -> None:
        ctx = torch.cuda.stream(torch.cuda.Stream()) if DEVICE == "cuda" else contextlib.nullcontext()
        try:
            with ctx:
                for _ in range(iters):
                    fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(fn,)) for fn in fns.values()]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    serial = sum(iters * alone[v] for v in variants)
    return {"variants": variants, "iters_each": iters, "wall_s": wall, "serial_s": serial, "gain": serial / wall,
            "note": "bf16 + channels_last eager steps, one thread and CUDA stream per variant, in one process"}


#: Iterations of each variant in the ``paper`` profile (config.py).
def paper_budget() -> dict[str, int]:
    out = {}
    for v in ("teacher", "student", "phase1", "phase2", "phase1+2"):
        # The budget does not depend on the data: name the bundled split so no data_root is needed.
        out[v] = make_config("paper", {"dataset": "embedded"}, variant=v).total_iterations
    return out


def schedule_hours(step_s: dict[str, float], sample_s: float, compile_s: dict[str, float] | None = None,
                   gain: float | None = None) -> dict[str, Any]:
    """Hours of the ``paper`` profile for the sequential and the concurrent schedule.

    ``step_s``: seconds per step of each of the five variants; ``sample_s``: seconds of
    synchronous sampling per step; ``compile_s``: once-per-run seconds (compiling);
    ``gain``: measured throughput of concurrent runs over the same runs alone (None:
    not measured, taken as 1, i.e. one run already fills the GPU).

    Sequential: Σ iterations × (step + sample) + compile. Concurrent on one GPU, two
    bounds: the critical path (every run as fast as alone, sampling and compiling in
    its own process) and the GPU work, Σ iterations × step / gain; the projection is
    the larger.
    """
    iters = paper_budget()
    per_iter = {v: step_s[v] + sample_s for v in iters}
    sequential = sum(run_seconds(per_iter, iters, compile_s).values())
    path_s, chain = critical_path(per_iter, iters, compile_s)
    g = gain if gain else 1.0
    work_s = sum(iters[v] * step_s[v] for v in iters) / g
    return {"sequential_hours": sequential / 3600, "critical_path": list(chain), "critical_path_hours": path_s / 3600,
            "work_hours": work_s / 3600, "concurrency_gain": g, "gain_measured": bool(gain),
            "concurrent_hours": max(path_s, work_s) / 3600,
            "compile_hours": sum((compile_s or {}).values()) / 3600}


def _steps(train: dict[str, Any], mode: str) -> tuple[dict[str, float], list[str]]:
    """Five variants' step times in ``mode`` (phase1+2 costs a phase-2 step) and the variants missing it."""
    out, missing = {}, []
    for v in paper_budget():
        r = train.get(f"{'phase2' if v == 'phase1+2' else v}/{mode}") or {}
        if "median_s" in r:
            out[v] = r["median_s"]
        else:
            missing.append(v)
    return out, missing


def schedules(data: dict[str, Any]) -> dict[str, Any]:
    """:func:`schedule_hours` for every step mode and sampler measured in a results dict.

    Step modes: eager (bf16 + channels_last) and each compiled mode measured (a
    variant whose compiled step was not measured keeps its eager step, listed under
    ``eager_for``; compile time = its first call minus a step, once per run).
    Samplers: the CPU sampler, the device sampler when measured, and none (sampling
    free: a bound, not a measurement).
    """
    train = data.get("train") or {}
    eager, missing = _steps(train, "bf16_channels_last")
    if missing:
        return {"error": f"no bf16_channels_last timing for {missing}"}
    samplers = {"cpu_sampler": (data.get("sampler") or {}).get("median_s"),
                "device_sampler": (data.get("device_sampler") or {}).get("median_s"), "no_sampling": 0.0}
    gain = (data.get("concurrent") or {}).get("gain")
    modes: dict[str, tuple[dict[str, float], dict[str, float], list[str]]] = {"eager": (eager, {}, [])}
    compiled_keys = sorted({k.split("/", 1)[1] for k in train if "/bf16_channels_last_compiled" in k})
    for mode in compiled_keys:
        steps, fallback = _steps(train, mode)
        compile_s = {}
        for v in steps:
            r = train[f"{'phase2' if v == 'phase1+2' else v}/{mode}"]
            compile_s[v] = max(0.0, r.get("first_call_s", r["median_s"]) - r["median_s"])
        modes[mode.replace("bf16_channels_last_", "")] = ({**eager, **steps}, compile_s, fallback)
    out = {}
    for mode, (steps, compile_s, fallback) in modes.items():
        for name, sample_s in samplers.items():
            if sample_s is None:
                continue
            row = schedule_hours(steps, sample_s, compile_s, gain)
            out[f"{mode}+{name}"] = {**row, "sample_s": sample_s, "eager_for": fallback}
    return out


def projection(train: dict[str, Any], sampler: dict[str, Any] | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Wall time of the ``paper`` profile on this GPU: iterations × (step + synchronous sampling), and
    under ``schedules`` every measured combination (:func:`schedules`; ``extra``: the results dict's other
    sections, e.g. ``device_sampler`` and ``concurrent``)."""
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
            "schedules": schedules({**(extra or {}), "train": train, "sampler": sampler}),
            "note": "bf16 autocast + channels_last, batch 64, 32×32 LR patches; phase1+2 costs a phase-2 step; "
                    "validation and checkpoint writes not included; schedules: concurrent_hours = max(critical "
                    "path, GPU work / measured concurrency gain), gain 1 where not measured"}


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


#: Train-step variants timed (phase1+2 costs a phase-2 step).
TRAIN_VARIANTS = ("teacher", "student", "phase1", "phase2")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compiled_key(variant: str, mode: str) -> str:
    """Result key of ``variant``'s compiled step in ``mode`` (``default``: the key gpu.json has always used)."""
    return f"{variant}/bf16_channels_last_compiled" + ("" if mode == "default" else f"_{mode}")


def plan_cases(moves: bool = False, compile_only: bool = False, no_compile: bool = False,
               compile_modes: tuple[str, ...] = ("default",), compile_variants: tuple[str, ...] = ("teacher", "student"),
               concurrent: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The (section, key) cases a run times, in order (``moves``: only what the issue-17 moves compare)."""
    bad = [m for m in compile_modes if m not in COMPILE_MODES] + [
        v for v in (*compile_variants, *concurrent) if v not in TRAIN_VARIANTS]
    if bad:
        raise ValueError(f"unknown compile mode(s) or variant(s) {bad}; modes {list(COMPILE_MODES)}, "
                         f"variants {list(TRAIN_VARIANTS)}")
    cases: list[tuple[str, str]] = []
    if not compile_only:
        cases += [("sampler", "cpu"), ("sampler", "device")]
        for variant in TRAIN_VARIANTS:
            cases.append(("train", f"{variant}/bf16_channels_last"))
            if not moves:
                cases.append(("train", f"{variant}/fp32_channels_last"))
        if not moves:
            cases += [("train", f"{v}/{m}") for v in ("teacher", "student") for m in ("bf16_nchw", "fp32_reference")]
            cases += [("inference", f"{m}/{size}/{mode}") for m in ("teacher", "student") for size in SIZES
                      for mode in ("fp32", "bf16", "bf16_batch8", "fp32_reference")]
        if concurrent:
            cases.append(("concurrent", ",".join(concurrent)))
        cases.append(("projection", "paper"))
    if not no_compile:
        for variant in compile_variants:
            if compile_only:
                cases.append(("train", f"{variant}/bf16_channels_last"))
            cases += [("train", compiled_key(variant, mode)) for mode in compile_modes]
        cases.append(("projection", "paper"))
    return cases


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--iters", type=int, default=40, help="timed calls per case (default 40)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    p.add_argument("--compile-only", action="store_true",
                   help="only the torch.compile cases, each beside its eager twin in the same process")
    p.add_argument("--compile-modes", type=_csv, default=("default",),
                   help=f"comma-separated torch.compile modes to time, of {', '.join(COMPILE_MODES)} (default: default)")
    p.add_argument("--compile-variants", type=_csv, default=("teacher", "student"),
                   help="comma-separated variants whose step is compiled (default: teacher,student)")
    p.add_argument("--moves", action="store_true",
                   help="only the issue-17 moves: eager bf16 steps of the four variants, CPU and device sampler, "
                        "the compile cases, --concurrent")
    p.add_argument("--concurrent", type=_csv, default=(),
                   help="comma-separated variants whose steps are also timed running at once (e.g. student,phase1,phase2)")
    p.add_argument("--budget-s", type=float, default=420.0, help="skip remaining cases after this many seconds")
    p.add_argument("--dry-run", action="store_true",
                   help="check this script on the CPU: 1 timed call per case, batch 2, tiny frames, no compile")
    p.add_argument("--plan", nargs=3, metavar=("JSON", "VARIANT", "SECONDS"),
                   help="print the iterations of VARIANT that fit in SECONDS by the timings in JSON, and exit")
    p.add_argument("--project", type=Path, metavar="JSON",
                   help="print the paper-profile projection recomputed from the timings in JSON, and exit")
    a = p.parse_args(argv)
    if a.plan:
        print(plan(Path(a.plan[0]), a.plan[1], float(a.plan[2])))
        return 0
    if a.project:
        timings = json.loads(a.project.read_text())
        print(json.dumps(projection(timings["train"], timings.get("sampler"), timings), indent=1))
        return 0
    global DEVICE, BATCH, PATCH, SIZES
    if a.dry_run:
        DEVICE, BATCH, PATCH, a.iters, a.no_compile = "cpu", 2, 8, 1, True
        SIZES = {"vid4": (16, 20), "davis480p": (12, 22)}
    elif not torch.cuda.is_available():
        print("bench.gpu needs a CUDA device", file=sys.stderr)
        return 2
    if a.compile_only:
        a.no_compile = False
    cases = plan_cases(a.moves, a.compile_only, a.no_compile, a.compile_modes, a.compile_variants, a.concurrent)
    started = time.perf_counter()
    torch.backends.cudnn.benchmark = True
    data: dict[str, Any] = {"kind": "gpu", "machine": hardware(),
                            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "settings": {"batch": BATCH, "patch": PATCH, "scale": SCALE, "frames": FRAMES,
                                         "iters": a.iters, "cudnn_benchmark": True},
                            "command": "python -m bench.gpu " + " ".join(sys.argv[1:] if argv is None else argv),
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
        except Exception as exc:
            data["errors"][f"{section}/{key}"] = f"{type(exc).__name__}: {exc}"
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
        write_json_atomic(a.out, data)

    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32 here (and in the models)
    for dtype in (torch.float32, torch.bfloat16):
        data["matmul_tflops"][str(dtype).replace("torch.", "")] = matmul_tflops(dtype, 256 if a.dry_run else 8192)

    def train_case(variant: str, amp: bool, cl: bool, comp: bool = False, ref: bool = False,
                   mode: str | None = None) -> Callable[[], dict]:
        def go() -> dict:
            fn = train_step(variant, amp, cl, comp, ref, compile_mode=mode)
            t0 = time.perf_counter()
            fn()
            sync()
            first = time.perf_counter() - t0
            mem = peak_memory(fn)
            res = stats(timed(fn, 5, a.iters))
            return {**res, "iterations_per_s": 1 / res["median_s"], "first_call_s": first, "peak_mib": mem,
                    **({"compile_mode": mode or "default"} if comp else {})}
        return go

    def infer_case(m: str, s: tuple[int, int], amp: bool, ref: bool, frames: int = 1) -> Callable[[], dict]:
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

    train_modes = {"bf16_channels_last": (True, True, False), "fp32_channels_last": (False, True, False),
                   "bf16_nchw": (True, False, False), "fp32_reference": (False, False, True)}
    infer_modes = {"fp32": (False, False, 1), "bf16": (True, False, 1), "bf16_batch8": (True, False, 8),
                   "fp32_reference": (False, True, 1)}
    compiled = {compiled_key(v, m): (v, m) for v in TRAIN_VARIANTS for m in COMPILE_MODES}
    for section, key in cases:
        if section == "sampler":
            # Not budgeted: the projection needs the sampler's time.
            data["sampler" if key == "cpu" else "device_sampler"] = (
                sampler_seconds() if key == "cpu" else device_sampler_seconds())
            write_json_atomic(a.out, data)
        elif section == "projection":
            data["projection_paper_profile"] = projection(data["train"], data.get("sampler"), data)
            write_json_atomic(a.out, data)
        elif section == "concurrent":
            variants = list(_csv(key))
            alone = {v: (data["train"].get(f"{v}/bf16_channels_last") or {}).get("median_s") for v in variants}
            if None in alone.values():
                data["errors"][f"concurrent/{key}"] = "skipped: a variant's step alone was not timed"
                continue
            data.setdefault("concurrent", {})
            attempt("concurrent", key, lambda vs=variants, al=alone: concurrent_seconds(vs, a.iters, al))
            if key in data["concurrent"]:
                data["concurrent"]["gain"] = data["concurrent"][key]["gain"]
        elif section == "train" and key in compiled:
            variant, mode = compiled[key]
            attempt("train", key, train_case(variant, True, True, comp=True,
                                             mode=None if mode == "default" else mode))
        elif section == "train":
            variant, mode = key.split("/", 1)
            amp, cl, ref = train_modes[mode]
            attempt("train", key, train_case(variant, amp, cl, ref=ref))
        else:
            model_name, size_name, mode = key.split("/")
            amp, ref, frames = infer_modes[mode]
            attempt("inference", key, infer_case(model_name, SIZES[size_name], amp, ref, frames))
    data["wall_s"] = time.perf_counter() - started
    write_json_atomic(a.out, data)
    print(f"[bench.gpu] wrote {a.out} in {data['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
