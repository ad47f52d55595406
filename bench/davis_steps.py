"""Step times of the DAVIS Table 1 students (``python -m bench.davis_table1 steps``), from which the run's
budget was planned (:func:`bench.davis_table1.budget_plan`)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from bench.davis_table1 import PROFILE
from bench.miniature import _now
from sofkd_lib.engine.config import make_config
from sofkd_lib.engine.runtime import hardware
from sofkd_lib.engine.sources import SyntheticSource
from sofkd_lib.engine.train import train
from sofkd_lib.method.variants import variant_spec


def measure_steps(threads: tuple[int, ...] = (1, 2), iterations: int = 12, warmup: int = 3) -> dict:
    """Seconds per train step of every variant at the profile's widths, batch and patch, on synthetic batches
    (the sampler's cost apart), after ``warmup`` steps; one entry per thread count. The timed call also loads
    the warm-up's checkpoint and writes one: a small share of ``iterations`` steps."""
    out: dict = {"profile": PROFILE, "iterations": iterations, "warmup": warmup, "hardware": hardware(),
                 "measured": _now(), "seconds_per_step": {}}
    for n in threads:
        torch.set_num_threads(n)
        with tempfile.TemporaryDirectory() as tmp:
            teacher = Path(tmp) / "teacher" / "last.pt"
            per_step = {}
            for variant in ("teacher", "student", "phase1", "phase2", "phase1+2"):
                config = make_config(PROFILE, {"dataset": "synthetic", "val_every": 0, "iterations": warmup,
                                               "checkpoint_every": 10**6, "log_every": 10**6}, variant=variant)
                kwargs = {"teacher": teacher} if variant_spec(variant).needs_teacher else {}
                if variant == "phase1+2":
                    kwargs["init"] = Path(tmp) / "phase1" / "last.pt"
                source = SyntheticSource(config.scale, config.patch_size, config.n_frames, 0)
                folder = Path(tmp) / variant
                train(config, source, folder, quiet=True, **kwargs)  # warm-up, and the checkpoint later runs need
                t0 = time.perf_counter()
                train(config.replace(iterations=warmup + iterations), source, folder, resume="auto", quiet=True,
                      **kwargs)
                per_step[variant] = (time.perf_counter() - t0) / iterations
        out["seconds_per_step"][str(n)] = per_step
    return out
