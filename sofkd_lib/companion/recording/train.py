"""Training one unit of a recorded run (an entry, or one seed of it) in ``WORK/<run-id>/<unit>/``.

A unit whose training is finished is found, not retrained; an unfinished one resumes. Each invocation's
wall time and hardware is kept in the unit's ``record_wall.json`` (its provenance lists them).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sofkd_lib.companion.recording.options import (
    BUDGET_FIELDS,
    DEPENDENCIES,
    SPEED_ONLY_FIELDS,
    RecordError,
    RecordOptions,
    entry,
)
from sofkd_lib.data.io import write_json_atomic
from sofkd_lib.engine.config import TrainConfig, data_note
from sofkd_lib.engine.config import diff as config_diff
from sofkd_lib.engine.run_folder import RunFolderInUse
from sofkd_lib.engine.runtime import hardware
from sofkd_lib.method.variants import variant_spec
from sofkd_lib.weights.pretrained import read_result

#: A unit's wall-time log in its work folder: one entry per training invocation.
WALL_LOG = "record_wall.json"


def now() -> str:
    """UTC now, to the second, ISO 8601: the dates of every recorded file."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def finished(options: RecordOptions, variant: str, seed: int | None, config: TrainConfig) -> bool:
    """Whether entry ``variant`` of ``seed`` has trained all of ``config``'s iterations in the work folder
    (by its summary: a recorded unit counts as finished though its ``last.pt`` was deleted since)."""
    summary = options.work_dir() / options.unit(variant, seed) / "summary.json"
    return summary.is_file() and read_result(summary)["iteration"] >= config.total_iterations


def training_inputs(options: RecordOptions, variant: str, seed: int | None) -> tuple[Path | None, Path | None]:
    """(teacher checkpoint, phase-1 init checkpoint) that entry ``variant`` of ``seed`` trains from."""
    v = entry(variant).variant
    teacher = options.teacher_checkpoint() if "teacher" in DEPENDENCIES[v] else None
    init_from = variant_spec(v).init_from
    init = options.work_dir() / options.unit(init_from, seed) / "last.pt" if init_from is not None else None
    return teacher, init


def train_unit(options: RecordOptions, variant: str, config: TrainConfig, seed: int | None = None) -> dict[str, Any]:
    """Train (or resume, or find finished) entry ``variant`` (of ``seed``); returns its wall-time log."""
    from sofkd_lib.engine.train import run_training

    out = options.work_dir() / options.unit(variant, seed)
    log_path = out / WALL_LOG
    log = read_result(log_path) if log_path.is_file() else {"invocations": []}
    if finished(options, variant, seed, config) and (out / "last.pt").is_file():
        return log
    teacher, init = training_inputs(options, variant, seed)
    start, t0 = now(), time.perf_counter()
    in_use = False
    try:
        run_training(config, out, teacher=teacher, init=init, resume="auto", quiet=options.quiet)
    except RunFolderInUse:
        in_use = True  # another recorder trains there: the folder's wall-time log is its own
        raise
    finally:
        if not in_use:
            out.mkdir(parents=True, exist_ok=True)
            log["invocations"].append({"start": start, "end": now(),
                                       "wall_seconds": round(time.perf_counter() - t0, 1),
                                       "command": options.command, "hardware": hardware()})
            write_json_atomic(log_path, log)
    return log


def check_trained_config(path: Path, trained: Mapping[str, Any], config: TrainConfig) -> dict[str, list[Any]]:
    """Refuse a checkpoint (``path``, its stored config ``trained``) trained with another config than ``config``.

    Differences that leave the weights as they are pass and are returned, field → [trained, resolved]: where
    and how fast it ran, and the budgets of the other variants (e.g. a teacher finished before the phases'
    budget changed in its profile). Fields added to TrainConfig since take their defaults.
    """
    differences = config_diff(TrainConfig.from_dict(trained), config)
    unread = SPEED_ONLY_FIELDS | (BUDGET_FIELDS - {variant_spec(config.variant).budget_field})
    changed = sorted(k for k in differences if k not in unread)
    if changed:
        raise RecordError(f"{path} was trained with another config than this run resolves "
                          f"(fields {changed}); record it with the overrides it was trained with")
    return {k: list(v) for k, v in sorted(differences.items())}


def warm_start_report(config: TrainConfig) -> dict[str, Any] | None:
    """Which tensors the teacher's warm start transferred, derived or left fresh (recomputed: deterministic)."""
    if config.warm_start is None:
        return None
    from sofkd_lib.weights.checkpoint import Architecture, build_model
    from sofkd_lib.weights.warm_start import warm_start_official

    c = config
    model = build_model(Architecture(c.scale, c.n_frames, c.teacher_channels, c.teacher_channels))
    report = warm_start_official(model, c.warm_start, c.warm_start_derive)
    report["fine_tuned_on"] = f"{data_note(c)} (never Vid4)"
    return report
