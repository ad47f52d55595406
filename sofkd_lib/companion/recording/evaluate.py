"""Scoring and writing one recorded unit: every test column, the stored precision, the files and the provenance.

The same column loop scores a trained unit, an existing teacher (``--teacher``) and bicubic; a trained
unit's weights are stored in float16 only when that costs at most ``fp16_tolerance_db`` on the first
column (:attr:`~sofkd_lib.companion.recording.options.RecordOptions.columns`). Students are distilled only
behind a teacher that beats bicubic on Vid4 by ``min_teacher_gain`` dB (:func:`check_teacher_gain`).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from sofkd_lib.companion.recording.options import (
    VID4,
    ColumnData,
    RecordError,
    RecordOptions,
    TestColumn,
    entry,
    repeat_command,
)
from sofkd_lib.companion.recording.train import (
    check_trained_config,
    finished,
    now,
    train_unit,
    training_inputs,
    warm_start_report,
)
from sofkd_lib.data.io import write_atomic, write_json_atomic
from sofkd_lib.engine.config import TrainConfig, data_note, profile_notes, student_budget_note
from sofkd_lib.engine.runtime import hardware
from sofkd_lib.settings import REPO_ROOT
from sofkd_lib.weights.checkpoint import FORMAT, VERSION, load_checkpoint, load_model, save_atomic
from sofkd_lib.weights.pretrained import model_name, read_result

#: Column key → the loaded test set (or why it is skipped), as :func:`load_columns` returns it.
Columns = Mapping[str, ColumnData]


# --------------------------------------------------------------------------- test columns
def load_columns(options: RecordOptions, config: TrainConfig, log=print) -> dict[str, ColumnData]:
    """Every test column of the run, loaded once for all its units (``config``: its first unit's)."""
    data = {c.key: c.load(options, config) for c in options.columns}
    first = options.columns[0]
    if data[first.key].clips is None:
        raise RecordError(f"the {first.label} set decides the stored precision and must load: {data[first.key].skipped}")
    for c in options.columns:
        if data[c.key].skipped:
            log(f"record: {data[c.key].skipped}; {c.label} evaluation skipped")
    return data


def _evaluate(model: Any, clips: list, scale: int, name: str) -> dict[str, Any]:
    from sofkd_lib.evaluation.evaluate import evaluate_model

    with torch.inference_mode():
        return evaluate_model(model, clips, scale, device="cpu", name=name)


def score_columns(model: Any, columns: Sequence[TestColumn], data: Columns, scale: int, dest: Path, name: str,
                  log=None, who: str = "", extra: Mapping[str, Any] | None = None, write_skipped: bool = True) -> None:
    """Score ``model`` (a SOFVSR or ``"bicubic"``, called ``name`` in progress) on each of ``columns`` into
    ``dest``/eval_<key>.json: the result, its ``split``, ``extra`` and the column's notes, each logged as
    ``who`` when ``log`` is given; ``{"skipped": reason}`` for a skipped column unless ``write_skipped`` is
    False (then nothing: bicubic is scored again once the set is there)."""
    for column in columns:
        loaded = data[column.key]
        if loaded.clips is None:
            if write_skipped:
                write_json_atomic(dest / column.file, {"skipped": loaded.skipped})
            continue
        res = _evaluate(model, loaded.clips, scale, name)
        res.update({"split": column.label, **(extra or {}), **loaded.notes})
        write_json_atomic(dest / column.file, res)
        if log is not None:
            log(f"{who}: {column.label} x{scale} {res['average']['psnr']:.3f} dB / {res['average']['ssim']:.4f}")


def _summary(res: Mapping[str, Any]) -> dict[str, Any]:
    """Per-sequence mean PSNR/SSIM and the average: the numbers compared below."""
    return {"sequences": {k: {"psnr": s["psnr_mean"], "ssim": s["ssim_mean"]} for k, s in res["sequences"].items()},
            "average": {"psnr": res["average"]["psnr"], "ssim": res["average"]["ssim"]}}


def precision_gap(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Largest |PSNR difference| in dB between two results, over the sequence means and the average."""
    gaps = [abs(a["average"]["psnr"] - b["average"]["psnr"])]
    gaps += [abs(s["psnr_mean"] - b["sequences"][k]["psnr_mean"]) for k, s in a["sequences"].items()]
    return max(gaps)


# --------------------------------------------------------------------------- files and provenance
def weights_payload(checkpoint: Mapping[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    """A training checkpoint reduced to what inference needs, floating tensors cast to ``dtype``.

    It keeps the training-checkpoint format (no optimiser, RNG or scheduler), so
    :func:`sofkd_lib.weights.checkpoint.load_model` and the commands load it;
    loading casts the weights back to the model's float32.
    """
    state = {k: (v.to(dtype) if v.is_floating_point() else v).clone() for k, v in checkpoint["model"].items()}
    return {
        "format": FORMAT, "version": VERSION, "variant": checkpoint["variant"],
        "architecture": checkpoint["architecture"].to_dict(), "model": state, "config": checkpoint["config"],
        "iteration": int(checkpoint["iteration"]), "seconds": float(checkpoint.get("seconds", 0.0)),
        "dtype": str(dtype).replace("torch.", ""),
    }


def unit_files(options: RecordOptions, trained: bool = True) -> tuple[str, ...]:
    """Files of a recorded unit; provenance.json is written last: it marks the folder complete. An existing
    teacher's folder (``trained`` False) has no weights or training log: they stay at the source."""
    evals = tuple(c.file for c in options.columns)
    return ("config.json", "metrics.csv", "weights.pt", *evals, "provenance.json") if trained \
        else ("config.json", *evals, "provenance.json")


def _copy(src: Path, dst: Path) -> None:
    write_atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Commit and whether tracked files differ from it (read-only git calls); None values without git."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _provenance(options: RecordOptions, variant: str, scale: int, loaded: Columns, /, **fields: Any) -> dict[str, Any]:
    """A unit's provenance: who, when, where and how to repeat it, then ``fields``, then where each test column
    after the first came from or why it was skipped (``<key>``, ``<key>_skipped``)."""
    sources: dict[str, Any] = {}
    for c in options.columns[1:]:
        sources.update({c.key: loaded[c.key].source, f"{c.key}_skipped": loaded[c.key].skipped})
    return {"run_id": options.run_id, "variant": variant, "name": model_name(variant, scale), "date": now(),
            "command": options.command, "repeat": repeat_command(options), "git": git_state(),
            "hardware": hardware(), **fields, **sources}


# --------------------------------------------------------------------------- one unit
def record_unit(options: RecordOptions, variant: str, seed: int | None, config: TrainConfig, data: Columns,
                log=print) -> dict[str, Any]:
    """Record entry ``variant`` of ``seed`` (the existing teacher with ``--teacher``) unless its results folder
    is complete and its training finished; returns its provenance."""
    unit = options.unit(variant, seed)
    dest = options.run_dir() / unit
    external = variant == "teacher" and options.teacher is not None
    if all((dest / name).is_file() for name in unit_files(options, trained=not external)) \
            and (external or finished(options, variant, seed, config)):
        log(f"{unit}: already recorded in {dest}" + (f" (--teacher {options.teacher})" if external else ""))
        return read_result(dest / "provenance.json")
    if external:
        return record_external_teacher(options, data, log)
    return record_variant(options, variant, config, data, log, seed=seed)


def record_variant(options: RecordOptions, variant: str, config: TrainConfig, data: Columns, log=print,
                   seed: int | None = None) -> dict[str, Any]:
    """Train, evaluate and record one entry (of one seed) with its ``config``; returns its provenance."""
    run_start = time.perf_counter()
    started = now()
    wall = train_unit(options, variant, config, seed)
    teacher, init = training_inputs(options, variant, seed)
    unit = options.unit(variant, seed)
    out = options.work_dir() / unit
    dest = options.run_dir() / unit
    dest.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(out / "last.pt")
    summary = read_result(out / "summary.json")
    ignored = check_trained_config(out / "last.pt", checkpoint["config"], config)

    # Precision: float16 weights only if they score within the tolerance of float32 on the first column.
    precision, *others = options.columns
    clips = data[precision.key].clips
    t0 = time.perf_counter()
    res32 = _evaluate(load_model(out / "last.pt", dtype=torch.float32), clips, config.scale, f"{unit} float32")
    res16 = _evaluate(load_model(out / "last.pt", dtype=torch.float16), clips, config.scale, f"{unit} float16")
    gap = precision_gap(res16, res32)
    half = gap <= options.fp16_tolerance_db
    dtype = torch.float16 if half else torch.float32
    stored = "float16" if half else "float32"
    chosen = res16 if half else res32
    chosen["precision_check"] = {
        "float32": _summary(res32), "float16": _summary(res16), "max_abs_psnr_gap_db": gap,
        "tolerance_db": options.fp16_tolerance_db, "stored": stored,
    }
    chosen.update({"split": precision.label, **data[precision.key].notes})
    save_atomic(weights_payload(checkpoint, dtype), dest / "weights.pt")
    write_json_atomic(dest / precision.file, chosen)
    log(f"{unit}: {precision.label} {res32['average']['psnr']:.3f} dB (float32) / {res16['average']['psnr']:.3f} dB "
        f"(float16), gap {gap:.4f} dB → weights stored as {stored}")
    score_columns(load_model(out / "last.pt", dtype=dtype), others, data, config.scale, dest, f"{unit} ({dtype})",
                  log, unit, extra={"weights_dtype": stored})
    eval_seconds = time.perf_counter() - t0

    write_json_atomic(dest / "config.json", config.to_dict())
    _copy(out / "metrics.csv", dest / "metrics.csv")
    if (out / "validation.csv").is_file():
        _copy(out / "validation.csv", dest / "validation.csv")
    provenance = _provenance(
        options, variant, config.scale, data, record_started=started,
        hardware_note="'hardware' is the machine that evaluated and recorded; each training invocation "
                      "names its own in training_invocations[].hardware",
        budget={"iterations": int(checkpoint["iteration"]), "total_iterations": config.total_iterations,
                "batch_size": config.batch_size, "patch_size": config.patch_size, "profile": config.profile,
                "student_budget": config.student_budget, "student_budget_note": student_budget_note(config),
                "phase1_budget": config.phase1_budget, "phase2_budget": config.phase2_budget},
        data={"dataset": config.dataset, "data_root": config.data_root, "degradation": config.degradation,
              "note": data_note(config)},
        profile_notes=profile_notes(config.profile, config),
        training_seconds=summary.get("seconds"),
        training_seconds_note="trainer's clock: optimiser steps and sampling, summed over resumes; "
                              "validation and checkpoint writes excluded",
        training_invocations=wall["invocations"],
        trained_config_differences=ignored,
        trained_config_differences_note="fields of last.pt's config that differ from config.json and leave "
                                        "the weights as they are (speed settings, other variants' budgets): "
                                        "field → [trained, recorded]",
        evaluation_seconds=round(eval_seconds, 1),
        record_wall_seconds=round(time.perf_counter() - run_start, 1),
        teacher=None if teacher is None else str(teacher),
        init=None if init is None else str(init),
        warm_start=warm_start_report(config),
        weights_dtype=stored,
    )
    if options.seeds is not None or variant != config.variant:
        e = entry(variant)
        provenance.update(entry=e.name, label=e.label, entry_overrides=dict(e.overrides), seed=config.seed,
                          seeds=list(options.seeds or ()))
        if options.teacher is not None and teacher is not None:
            provenance["teacher_source"] = {"spec": options.teacher, "sha256": sha256_file(teacher)}
    write_json_atomic(dest / "provenance.json", provenance)
    return provenance


def record_external_teacher(options: RecordOptions, data: Columns, log=print) -> dict[str, Any]:
    """Evaluate the ``--teacher`` checkpoint on this run's test columns and record where it came from."""
    path = options.teacher_checkpoint()
    dest = options.run_dir() / "teacher"
    checkpoint = load_checkpoint(path)
    if checkpoint["variant"] != "teacher":
        raise RecordError(f"--teacher {options.teacher}: {path} holds variant {checkpoint['variant']!r}, not a teacher")
    t0 = time.perf_counter()
    scale = int(checkpoint["config"]["scale"])
    score_columns(load_model(path, role="teacher"), options.columns, data, scale, dest, "teacher (--teacher)", log,
                  f"teacher (--teacher {options.teacher})")
    write_json_atomic(dest / "config.json", checkpoint["config"])
    source_prov = path.parent / "provenance.json"
    provenance = _provenance(
        options, "teacher", scale, data,
        external_teacher={"spec": options.teacher, "path": str(path), "sha256": sha256_file(path),
                          "source_provenance": read_result(source_prov) if source_prov.is_file() else None},
        note="not trained in this run: every student of every seed distils from this checkpoint (--teacher); "
             "its weights stay at the source",
        budget={"iterations": int(checkpoint["iteration"]), "total_iterations": int(checkpoint["iteration"]),
                "batch_size": checkpoint["config"]["batch_size"], "patch_size": checkpoint["config"]["patch_size"],
                "profile": checkpoint["config"]["profile"]},
        training_seconds=checkpoint.get("seconds"), training_invocations=[],
        evaluation_seconds=round(time.perf_counter() - t0, 1), weights_dtype=checkpoint.get("dtype", "float32"),
    )
    write_json_atomic(dest / "provenance.json", provenance)
    return provenance


def record_bicubic(options: RecordOptions, data: Columns, scale: int) -> None:
    """The bicubic baseline on the same frames, scored again while a loaded column has no result yet."""
    dest = options.run_dir() / "bicubic"
    if any(data[c.key].clips is not None and not (dest / c.file).is_file() for c in options.columns):
        score_columns("bicubic", options.columns, data, scale, dest, "bicubic", write_skipped=False)


# --------------------------------------------------------------------------- the teacher-gain rule
def teacher_gain(options: RecordOptions) -> float | None:
    """Recorded teacher's Vid4 average PSNR minus bicubic's (None when either is missing)."""
    run = options.run_dir()
    paths = run / "teacher" / VID4.file, run / "bicubic" / VID4.file
    if options.teacher is not None and not paths[0].is_file():
        # an existing teacher not yet evaluated here (e.g. --train-only on another machine): its own run's
        # result, when that run recorded it beside the weights
        source = options.teacher_checkpoint().parent
        paths = source / VID4.file, source.parent / "bicubic" / VID4.file
    if not all(p.is_file() for p in paths):
        return None
    teacher, bicubic = (read_result(p) for p in paths)
    if "average" not in teacher or "average" not in bicubic:
        return None
    return float(teacher["average"]["psnr"]) - float(bicubic["average"]["psnr"])


def check_teacher_gain(options: RecordOptions, variant: str) -> None:
    """Refuse to distil ``variant`` from a teacher that does not beat bicubic on Vid4 by ``min_teacher_gain``."""
    if options.min_teacher_gain is None:
        return
    gain = teacher_gain(options)
    if gain is None or gain < options.min_teacher_gain:
        have = "no Vid4 result for the teacher" if gain is None else f"it beats bicubic by {gain:.2f} dB"
        raise RecordError(
            f"not distilling {variant!r}: the teacher must beat bicubic on Vid4 by ≥ "
            f"{options.min_teacher_gain} dB ({have}); train it longer, or pass --min-teacher-gain none")
