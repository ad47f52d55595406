"""One benchmark job in its own process (spawned by :mod:`bench.run`); prints one JSON line.

Jobs:
  time    interleave the authors'-style reference and the optimised model in this
          process (same allocator, same contention), ``--iters`` rounds after a warm-up;
  memory  run one implementation once and report the process's peak RSS;
  onnx    export the optimised model, time ONNX Runtime beside PyTorch, interleaved;
  flops   count FLOPs of one forward (or train step) with FlopCounterMode.

The peak RSS of a process covers everything it ever held, hence one process per
(case, implementation) for ``memory``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import torch

from bench.reference import ReferenceStep, reference_forward
from sofkd_lib.archs.sofvsr_arch import SOFVSR, STUDENT_CHANNELS, TEACHER_CHANNELS
from sofkd_lib.engine.train import adam
from sofkd_lib.method.distill import StudentStep, variant_losses
from sofkd_lib.ops.cpu_execution import use_fast_execution

CHANNELS = {"teacher": TEACHER_CHANNELS, "student": STUDENT_CHANNELS}
SCALE = 4
FRAMES = 3
SEED = 0
#: What a train case times (recorded in the results JSON).
TRAIN_STEP = ("the trainer's step: sofkd_lib.engine.train.variant_losses (teacher / no-KD student, Eq. 1: "
              "MSE + 0.01 x L_OFR over three flow levels), backward, Adam, every loss term read back")


@dataclass(frozen=True)
class Case:
    """``kind`` 'train' (Adam step on a batch of LR patches) or 'infer' (one frame)."""

    kind: str
    model: str
    batch: int
    height: int  # LR
    width: int

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.model}_b{self.batch}_{self.height}x{self.width}"


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """Median fp32 GEMM rate (GFLOP/s) of ``n``×``n`` matrices on this process's threads."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    times.sort()
    return 2 * n**3 / times[len(times) // 2] / 1e9


def build(case: Case) -> tuple[SOFVSR, SOFVSR]:
    """(reference model in NCHW, optimised channels_last copy) with identical weights."""
    torch.manual_seed(SEED)
    opt = SOFVSR(SCALE, CHANNELS[case.model])  # channels_last by default
    ref = copy.deepcopy(opt).to(memory_format=torch.contiguous_format)
    use_fast_execution(opt)  # after the copy: the reference stays plain (it runs functionally anyway)
    mode = case.kind == "train"
    return ref.train(mode), opt.train(mode)


def inputs(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """LR frames (B, 3, 1, h, w) and their HR frames (B, 3, 1, 4h, 4w), as the trainer's batches."""
    g = torch.Generator().manual_seed(SEED + 1)
    lr = torch.rand(case.batch, FRAMES, 1, case.height, case.width, generator=g)
    hr = torch.rand(case.batch, FRAMES, 1, SCALE * case.height, SCALE * case.width, generator=g)
    return lr, hr


def runner(case: Case, model: SOFVSR, reference: bool):
    """A no-argument callable doing one unit of work (a train step or one inference).

    The train step is the trainer's own for the whole-model variant of ``case.model``
    (teacher or no-KD student: Eq. 1, L_SR + 0.01·L_OFR over the three flow levels,
    :func:`sofkd_lib.engine.train.variant_losses`), then backward and Adam, every loss term
    read back as the trainer logs them; the reference runs the same losses on the
    authors' execution of the forward (:class:`bench.reference.ReferenceStep`).
    """
    lr, hr = inputs(case)
    if case.kind == "infer":
        forward = (lambda x: reference_forward(model, x)) if reference else model

        def infer():
            with torch.inference_mode():
                return forward(lr)
        return infer
    # Each side with its own optimiser: the authors' plain Adam, ours as the trainer builds it.
    params = list(model.parameters())
    optimiser = torch.optim.Adam(params, lr=1e-4) if reference else adam(params, lr=1e-4)
    step_module = ReferenceStep(model) if reference else StudentStep(model)

    def step():
        terms = variant_losses(case.model, step_module, lr, hr)
        optimiser.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimiser.step()
        return {k: float(v.detach()) for k, v in terms.items()}
    return step


def job_time(case: Case, iters: int) -> dict:
    ref_model, opt_model = build(case)
    if case.kind == "infer":  # outputs of the two paths, for the record
        lr, _ = inputs(case)
        with torch.inference_mode():
            diff = (reference_forward(ref_model, lr) - opt_model(lr)).abs().max().item()
    else:
        diff = None
    fns = {"reference": runner(case, ref_model, True), "optimised": runner(case, opt_model, False)}
    for fn in fns.values():  # warm-up: first-call allocations, oneDNN primitive creation
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    faults: dict[str, list[int]] = {k: [] for k in fns}  # minor page faults: noise-free
    for _ in range(iters):
        for key, fn in fns.items():
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
            faults[key].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return {"times_s": times, "minor_page_faults": faults, "max_abs_diff_sr": diff, "matmul_gflops": matmul_gflops()}


def _status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status: VmRSS now, VmHWM the peak of this address space.

    Not ``getrusage().ru_maxrss``: Linux carries it over fork and exec, so a worker
    would report its parent's peak when that was higher.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def job_memory(case: Case, impl: str) -> dict:
    ref_model, opt_model = build(case)
    model = ref_model if impl == "reference" else opt_model
    fn = runner(case, model, impl == "reference")
    before = _status_kib("VmRSS")
    for _ in range(2 if case.kind == "train" else 1):  # 2 steps: Adam state exists in the 2nd
        fn()
    peak = _status_kib("VmHWM")
    return {"peak_rss_mib": peak / 1024, "rss_before_mib": before / 1024, "peak_above_start_mib": (peak - before) / 1024}


def job_flops(case: Case) -> dict:
    """FLOPs of one unit of work, forward counted by FlopCounterMode.

    A train step counts 3× its forward (backward = grad-input + grad-weight, each
    the forward's cost): torch 2.13's counter ignores ``groups`` in the backward of
    a depthwise conv (it books 160× too much there), so its raw backward figure is
    kept only for the record.

    Counted on the reference execution: the model's function, whatever kernels the
    optimised path uses (its count is the same: ``tests/ops/test_fused.py``).
    """
    from torch.utils.flop_counter import FlopCounterMode

    model, _ = build(case)
    lr, _ = inputs(case)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        reference_forward(model, lr)
    forward = counter.get_total_flops()
    if case.kind == "infer":
        return {"flops": forward, "forward_flops": forward, "rule": "forward, FlopCounterMode"}
    with FlopCounterMode(display=False) as raw:
        runner(case, model, True)()
    return {"flops": 3 * forward, "forward_flops": forward, "counter_raw_train_step_flops": raw.get_total_flops(),
            "rule": "3 x forward (FlopCounterMode); the raw counter over-counts depthwise backward"}


def job_onnx(case: Case, iters: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    from sofkd_lib.inference.export import export_onnx

    _, model = build(case)
    lr, _ = inputs(case)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        t = time.perf_counter()
        export_onnx(model, path, height=16, width=16)
        export_s = time.perf_counter() - t
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"lr": lr.numpy()}
    with torch.inference_mode():
        expected = model(lr).numpy()
    got = session.run(None, feed)[0]
    fns = {"onnxruntime": lambda: session.run(None, feed), "pytorch": lambda: model(lr)}
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode():
        for _ in range(iters):
            for key, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t)
    return {"times_s": times, "export_s": export_s, "max_abs_diff_sr": float(np.abs(got - expected).max()),
            "onnxruntime": ort.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("job", choices=("time", "memory", "flops", "onnx"))
    p.add_argument("--kind", choices=("train", "infer"), required=True)
    p.add_argument("--model", choices=tuple(CHANNELS), required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--impl", choices=("reference", "optimised"), default="optimised")
    a = p.parse_args(argv)
    case = Case(a.kind, a.model, a.batch, a.height, a.width)
    t = time.perf_counter()
    if a.job == "time":
        out = job_time(case, a.iters)
    elif a.job == "memory":
        out = job_memory(case, a.impl)
    elif a.job == "flops":
        out = job_flops(case)
    else:
        out = job_onnx(case, a.iters)
    out.update(case=asdict(case), job=a.job, wall_s=time.perf_counter() - t, threads=torch.get_num_threads())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
