"""Recorded runs: train the variants, evaluate them, and keep weights and results with provenance.

``python -m sofkd_lib record --run-id ID --profile P [KEY=VALUE …] [--variants …]
[--teacher-init-official PATH]`` trains the requested variants (and the ones they
need) in dependency order, teacher → student, phase1, phase2 → phase1+2, each in
``WORK/<run-id>/<variant>/`` (default ``.cache/recorded-work``; re-running the
same command resumes where it stopped), then writes for each variant::

    results/recorded/<run-id>/<variant>/
        config.json          the resolved TrainConfig
        metrics.csv          the trainer's loss log (validation.csv beside it)
        weights.pt           final weights, float16 when that costs ≤ 0.01 dB, else float32
        eval_embedded.json   the embedded test split, authors' protocol (both precisions' PSNR kept)
        eval_vid4.json       Vid4 x<scale>, authors' protocol (or the reason it was skipped)
        provenance.json      hardware, commit, wall and training time, date, command line, warm start

plus ``results/recorded/<run-id>/bicubic/`` (the baseline on the same frames),
``results/recorded/index.json`` (name → newest run, see :mod:`sofkd_lib.weights.pretrained`)
and ``results/recorded/README.md`` (regenerated from the index: how each run was
made and the one command that repeats it).

Students are distilled only from a teacher that beats bicubic on Vid4 by
``min_teacher_gain`` dB (1 dB by default; ``None`` turns the check off).

Several seeds (``--seeds 0,1,2``): every requested entry except the teacher is
trained, evaluated and recorded once per seed, in ``<entry>/seed<k>/`` (work and
results alike; each seed resumes on its own and has its own provenance), while
the one teacher, in ``<run-id>/teacher/``, is shared by all seeds. Without
``--seeds`` the layout is the single-seed one above. ``--teacher SPEC`` (a
checkpoint file or ``pretrained:teacher-x4``) distils every student from an
existing teacher instead of training one: its folder then holds its evaluation on
this run's frames, its config and a provenance naming the source and its SHA-256
(no second copy of the weights). What can be recorded is declared once, in
:data:`ENTRIES`: the five Table 1 variants and ablations such as ``phase1-alpha1``
(phase 1 with α = 1). Multi-seed runs are listed in ``index.json`` under
``runs`` (with their seeds and entries), not under ``names``, so
``pretrained("teacher-x4")`` and the other names keep their single-seed weights.

A model trained for a run and then set aside (trained from a row whose budget
changed, say) leaves the run's tables but not its cost: :func:`record_set_aside`
lists it, with its training invocations and the reason, in
``<run-id>/set_aside.json``, which :mod:`sofkd_lib.companion.stats` adds to the
run's compute.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from sofkd_lib.companion.tables import TABLE1_ROWS
from sofkd_lib.data.io import check_writable, write_atomic, write_json_atomic, write_text_atomic
from sofkd_lib.engine.config import (
    VARIANTS,
    TrainConfig,
    data_note,
    make_config,
    profile_notes,
    student_budget_note,
)
from sofkd_lib.engine.config import diff as config_diff
from sofkd_lib.engine.run_folder import RunFolderInUse
from sofkd_lib.engine.runtime import hardware
from sofkd_lib.method.variants import TABLE1, variant_spec
from sofkd_lib.settings import REPO_ROOT, cache_dir, shared_data_root
from sofkd_lib.weights.checkpoint import FORMAT, VERSION, load_checkpoint, load_model, save_atomic
from sofkd_lib.weights.pretrained import INDEX_NAME, model_name, read_index, recorded_root, register

#: variant → the variants whose checkpoints it needs (:mod:`sofkd_lib.method.variants`).
DEPENDENCIES: dict[str, tuple[str, ...]] = {v.name: v.depends for v in TABLE1}
#: Files every recorded variant folder holds (provenance.json is written last: it marks the folder complete).
VARIANT_FILES = ("config.json", "metrics.csv", "weights.pt", "eval_embedded.json", "eval_vid4.json",
                 "provenance.json")
KD_VARIANTS = tuple(v.name for v in TABLE1 if v.needs_teacher)


@dataclass(frozen=True)
class Entry:
    """One model a run can record: its folder name, the Table 1 variant it trains, the TrainConfig
    overrides it adds to the run's, and its label in tables."""

    name: str
    variant: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


#: Everything ``record`` can record, in dependency order: Table 1's five variants, then the ablations.
ENTRIES: tuple[Entry, ...] = (
    *(Entry(v, v, {}, TABLE1_ROWS[v]) for v in VARIANTS),
    # The no-KD student under the other budget convention: one phase's iterations instead of both phases'.
    Entry("student-1phase", "student", {"student_budget": "one-phase"}, "Student w/o KD, one phase's budget"),
    # Phase 1 without its distillation term (Eq. 6 with α = 1): only the teacher's frozen OFRnet is passed on,
    # so its gap to `phase1` is what SR distillation adds.
    Entry("phase1-alpha1", "phase1", {"alpha": 1.0}, "Phase 1, α = 1 (no SR distillation)"),
)
ENTRY_NAMES: tuple[str, ...] = tuple(e.name for e in ENTRIES)
_ENTRY = {e.name: e for e in ENTRIES}


def entry(name: str) -> Entry:
    """The :class:`Entry` called ``name`` (errors list the known names)."""
    if name not in _ENTRY:
        raise RecordError(f"unknown entry {name!r}; choose from {list(ENTRY_NAMES)}")
    return _ENTRY[name]


def seed_dir(seed: int) -> str:
    """Folder of one seed inside an entry's folder: ``seed0``, ``seed1``, …"""
    return f"seed{int(seed)}"


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` → (0, 1, 2); ``"0-4"`` → (0, 1, 2, 3, 4); duplicates or negatives are an error."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, dash, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    except ValueError:
        raise RecordError(f"--seeds must look like 0,1,2 or 0-2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise RecordError(f"--seeds must list distinct seeds >= 0, got {text!r}")
    return tuple(seeds)


#: TrainConfig fields that choose the hardware or speed of a run, not its result.
SPEED_ONLY_FIELDS = frozenset({"device", "prefetch", "compile"})
#: TrainConfig fields that set one variant's iteration budget (the ``*_budget`` fields derive the no-KD
#: student's, phase 1's and phase 2 alone's).
BUDGET_FIELDS = frozenset({v.budget_field for v in TABLE1} | {"student_budget", "phase1_budget", "phase2_budget"})
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RecordError(RuntimeError):
    """A recording cannot go on (bad run id, a teacher too weak to distil from, …); the message says why."""


@dataclass(frozen=True)
class RecordOptions:
    """One recorded run (see the module docstring)."""

    run_id: str
    profile: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    variants: tuple[str, ...] = VARIANTS
    teacher_init_official: str | None = None
    teacher_init_derive: bool = False
    work_root: Path | None = None
    results_root: Path | None = None
    vid4_root: Path | None = None
    vid4_max_frames: int | None = None
    min_teacher_gain: float | None = 1.0
    fp16_tolerance_db: float = 0.01
    quiet: bool = False
    command: str | None = None
    train_only: bool = False
    seeds: tuple[int, ...] | None = None
    teacher: str | None = None

    def __post_init__(self) -> None:
        if not _RUN_ID.fullmatch(self.run_id):
            raise RecordError(f"run id {self.run_id!r} must be letters, digits, '.', '_' or '-' (≤ 100)")
        unknown = [v for v in self.variants if v not in ENTRY_NAMES]
        if unknown or not self.variants:
            raise RecordError(f"unknown variant(s) {unknown or '(none given)'}; choose from {list(ENTRY_NAMES)}")
        for key in ("warm_start", "warm_start_derive", "variant", "profile"):
            if key in self.overrides:
                raise RecordError(f"override {key!r} is set by record itself (use --teacher-init-official / "
                                  f"--variants / --profile)")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
            if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
                raise RecordError(f"seeds must be distinct integers >= 0, got {self.seeds}")
            if "seed" in self.overrides:
                raise RecordError("override 'seed' is set by --seeds; give one or the other")
        if self.teacher is not None and self.teacher_init_official is not None:
            raise RecordError("--teacher uses an existing teacher; --teacher-init-official starts one to train: "
                              "give one or the other")

    def unit(self, name: str, seed: int | None = None) -> str:
        """Folder of entry ``name`` (and ``seed``) below the run's work and results folders."""
        return name if seed is None else f"{name}/{seed_dir(seed)}"

    def seeds_of(self, name: str) -> tuple[int | None, ...]:
        """The seeds ``name`` is recorded with: (None,) in a single-seed run and for a shared teacher."""
        return (None,) if self.seeds is None or name == "teacher" else self.seeds

    def teacher_checkpoint(self) -> Path:
        """The teacher every student distils from: ``--teacher`` resolved, else this run's trained teacher."""
        if self.teacher is None:
            return self.work_dir() / "teacher" / "last.pt"
        from sofkd_lib.weights.pretrained import resolve_checkpoint

        path = Path(resolve_checkpoint(self.teacher, self.results_root))
        if not path.is_file():
            raise RecordError(f"--teacher {self.teacher}: checkpoint not found: {path}")
        return path

    def work_dir(self) -> Path:
        return Path(self.work_root or cache_dir() / "recorded-work") / self.run_id

    def results_dir(self) -> Path:
        return Path(self.results_root or recorded_root())

    def run_dir(self) -> Path:
        return self.results_dir() / self.run_id

    def vid4_dir(self) -> Path:
        return Path(self.vid4_root or shared_data_root() / "vid4")


def with_dependencies(variants: Sequence[str]) -> tuple[str, ...]:
    """``variants`` (entry names) plus everything they need, in dependency (= :data:`ENTRIES`) order."""
    need: set[str] = set()

    def add(v: str) -> None:
        need.add(v)
        for d in DEPENDENCIES[entry(v).variant]:
            add(d)

    for v in variants:
        add(v)
    return tuple(v for v in ENTRY_NAMES if v in need)


def variant_config(options: RecordOptions, variant: str, seed: int | None = None) -> TrainConfig:
    """The TrainConfig of entry ``variant`` (and ``seed``) in this run (the teacher alone gets the warm start)."""
    e = entry(variant)
    extra: dict[str, Any] = dict(e.overrides)
    if e.variant == "teacher" and options.teacher_init_official is not None:
        extra.update(warm_start=options.teacher_init_official, warm_start_derive=options.teacher_init_derive)
    if seed is not None:
        extra["seed"] = seed
    return make_config(options.profile, {**options.overrides, **extra}, variant=e.variant)


# --------------------------------------------------------------------------- files
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _copy(src: Path, dst: Path) -> None:
    write_atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


# --------------------------------------------------------------------------- weights
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


# --------------------------------------------------------------------------- evaluation
def _evaluate(model: Any, clips: list, scale: int, name: str) -> dict[str, Any]:
    from sofkd_lib.evaluation.evaluate import evaluate_model

    with torch.inference_mode():
        return evaluate_model(model, clips, scale, device="cpu", name=name)


def _summary(res: Mapping[str, Any]) -> dict[str, Any]:
    """Per-sequence mean PSNR/SSIM and the average: the numbers compared below."""
    return {"sequences": {k: {"psnr": s["psnr_mean"], "ssim": s["ssim_mean"]} for k, s in res["sequences"].items()},
            "average": {"psnr": res["average"]["psnr"], "ssim": res["average"]["ssim"]}}


def precision_gap(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Largest |PSNR difference| in dB between two results, over the sequence means and the average."""
    gaps = [abs(a["average"]["psnr"] - b["average"]["psnr"])]
    gaps += [abs(s["psnr_mean"] - b["sequences"][k]["psnr_mean"]) for k, s in a["sequences"].items()]
    return max(gaps)


def load_vid4(options: RecordOptions) -> tuple[list | None, str | None]:
    """Vid4 clips, or ``(None, reason)`` when the folder is absent or unreadable."""
    from sofkd_lib.data.datasets import read_vid4
    from sofkd_lib.data.io import DataError

    root = options.vid4_dir()
    if not root.is_dir():
        return None, f"Vid4 not found at {root} (set SOFKD_DATA or --vid4)"
    try:
        return read_vid4(root, options.vid4_max_frames), None
    except DataError as exc:
        return None, f"Vid4 unreadable: {exc}"


# --------------------------------------------------------------------------- provenance
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


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- one variant
def _train(options: RecordOptions, variant: str, config: TrainConfig, seed: int | None = None) -> dict[str, Any]:
    """Train (or resume, or find finished) entry ``variant`` (of ``seed``); returns its wall-time log."""
    from sofkd_lib.engine.train import run_training

    work = options.work_dir()
    out = work / options.unit(variant, seed)
    log_path = out / "record_wall.json"
    log = _read_json(log_path) if log_path.is_file() else {"invocations": []}
    summary = out / "summary.json"
    if summary.is_file() and (out / "last.pt").is_file() \
            and _read_json(summary)["iteration"] >= config.total_iterations:
        return log
    teacher, init = _inputs(options, variant, seed)
    start, t0 = _now(), time.perf_counter()
    in_use = False
    try:
        run_training(config, out, teacher=teacher, init=init, resume="auto", quiet=options.quiet)
    except RunFolderInUse:
        in_use = True  # another recorder trains there: the folder's wall-time log is its own
        raise
    finally:
        if not in_use:
            out.mkdir(parents=True, exist_ok=True)
            log["invocations"].append({"start": start, "end": _now(),
                                       "wall_seconds": round(time.perf_counter() - t0, 1),
                                       "command": options.command, "hardware": hardware()})
            write_json_atomic(log_path, log)
    return log


def _inputs(options: RecordOptions, variant: str, seed: int | None) -> tuple[Path | None, Path | None]:
    """(teacher checkpoint, phase-1 init checkpoint) that entry ``variant`` of ``seed`` trains from."""
    v = entry(variant).variant
    teacher = options.teacher_checkpoint() if "teacher" in DEPENDENCIES[v] else None
    init_from = variant_spec(v).init_from
    init = options.work_dir() / options.unit(init_from, seed) / "last.pt" if init_from is not None else None
    return teacher, init


def _finished(options: RecordOptions, variant: str, seed: int | None, config: TrainConfig) -> bool:
    summary = options.work_dir() / options.unit(variant, seed) / "summary.json"
    return summary.is_file() and _read_json(summary)["iteration"] >= config.total_iterations


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _warm_start_report(config: TrainConfig) -> dict[str, Any] | None:
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


def record_variant(options: RecordOptions, variant: str, embedded: list, vid4: list | None,
                   vid4_reason: str | None, log=print, seed: int | None = None) -> dict[str, Any]:
    """Train, evaluate and record one entry (of one seed); returns its provenance."""
    config = variant_config(options, variant, seed)
    run_start = time.perf_counter()
    started = _now()
    wall = _train(options, variant, config, seed)
    teacher, init = _inputs(options, variant, seed)
    unit = options.unit(variant, seed)
    out = options.work_dir() / unit
    dest = options.run_dir() / unit
    dest.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(out / "last.pt")
    summary = _read_json(out / "summary.json")
    ignored = check_trained_config(out / "last.pt", checkpoint["config"], config)

    # Precision: float16 weights only if they score within the tolerance of float32.
    t0 = time.perf_counter()
    res32 = _evaluate(load_model(out / "last.pt", dtype=torch.float32), embedded, config.scale, f"{unit} float32")
    res16 = _evaluate(load_model(out / "last.pt", dtype=torch.float16), embedded, config.scale, f"{unit} float16")
    gap = precision_gap(res16, res32)
    half = gap <= options.fp16_tolerance_db
    dtype = torch.float16 if half else torch.float32
    chosen = res16 if half else res32
    chosen["precision_check"] = {
        "float32": _summary(res32), "float16": _summary(res16), "max_abs_psnr_gap_db": gap,
        "tolerance_db": options.fp16_tolerance_db, "stored": "float16" if half else "float32",
    }
    chosen["split"] = "embedded test"
    save_atomic(weights_payload(checkpoint, dtype), dest / "weights.pt")
    write_json_atomic(dest / "eval_embedded.json", chosen)
    log(f"{unit}: embedded test {res32['average']['psnr']:.3f} dB (float32) / {res16['average']['psnr']:.3f} dB "
        f"(float16), gap {gap:.4f} dB → weights stored as {'float16' if half else 'float32'}")

    if vid4 is not None:
        res = _evaluate(load_model(out / "last.pt", dtype=dtype), vid4, config.scale, f"{unit} ({dtype})")
        res["split"] = "Vid4"
        res["weights_dtype"] = str(dtype).replace("torch.", "")
        res["max_frames"] = options.vid4_max_frames
        write_json_atomic(dest / "eval_vid4.json", res)
        log(f"{unit}: Vid4 x{config.scale} {res['average']['psnr']:.3f} dB / {res['average']['ssim']:.4f}")
    else:
        write_json_atomic(dest / "eval_vid4.json", {"skipped": vid4_reason})
    eval_seconds = time.perf_counter() - t0

    write_json_atomic(dest / "config.json", config.to_dict())
    _copy(out / "metrics.csv", dest / "metrics.csv")
    if (out / "validation.csv").is_file():
        _copy(out / "validation.csv", dest / "validation.csv")
    provenance = {
        "run_id": options.run_id, "variant": variant, "name": model_name(variant, config.scale),
        "date": _now(), "record_started": started,
        "command": options.command, "repeat": repeat_command(options),
        "git": git_state(), "hardware": hardware(),
        "hardware_note": "'hardware' is the machine that evaluated and recorded; each training invocation "
                         "names its own in training_invocations[].hardware",
        "budget": {"iterations": int(checkpoint["iteration"]), "total_iterations": config.total_iterations,
                   "batch_size": config.batch_size, "patch_size": config.patch_size, "profile": config.profile,
                   "student_budget": config.student_budget, "student_budget_note": student_budget_note(config),
                   "phase1_budget": config.phase1_budget, "phase2_budget": config.phase2_budget},
        "data": {"dataset": config.dataset, "data_root": config.data_root, "degradation": config.degradation,
                 "note": data_note(config)},
        "profile_notes": profile_notes(config.profile, config),
        "training_seconds": summary.get("seconds"),
        "training_seconds_note": "trainer's clock: optimiser steps and sampling, summed over resumes; "
                                 "validation and checkpoint writes excluded",
        "training_invocations": wall["invocations"],
        "trained_config_differences": ignored,
        "trained_config_differences_note": "fields of last.pt's config that differ from config.json and leave "
                                           "the weights as they are (speed settings, other variants' budgets): "
                                           "field → [trained, recorded]",
        "evaluation_seconds": round(eval_seconds, 1),
        "record_wall_seconds": round(time.perf_counter() - run_start, 1),
        "teacher": None if teacher is None else str(teacher),
        "init": None if init is None else str(init),
        "warm_start": _warm_start_report(config),
        "weights_dtype": str(dtype).replace("torch.", ""),
        "vid4": str(options.vid4_dir()) if vid4 is not None else None,
        "vid4_skipped": vid4_reason,
    }
    if options.seeds is not None or variant != config.variant:
        e = entry(variant)
        provenance.update(entry=e.name, label=e.label, entry_overrides=dict(e.overrides), seed=config.seed,
                          seeds=list(options.seeds or ()))
        if options.teacher is not None and teacher is not None:
            provenance["teacher_source"] = {"spec": options.teacher, "sha256": _sha256(teacher)}
    write_json_atomic(dest / "provenance.json", provenance)
    return provenance


#: Files of an existing teacher's folder (``--teacher``): its evaluation here, no weights (they live at the source).
EXTERNAL_TEACHER_FILES = ("config.json", "eval_embedded.json", "eval_vid4.json", "provenance.json")


def record_external_teacher(options: RecordOptions, embedded: list, vid4: list | None, vid4_reason: str | None,
                            log=print) -> dict[str, Any]:
    """Evaluate the ``--teacher`` checkpoint on this run's frames and record where it came from."""
    path = options.teacher_checkpoint()
    dest = options.run_dir() / "teacher"
    checkpoint = load_checkpoint(path)
    if checkpoint["variant"] != "teacher":
        raise RecordError(f"--teacher {options.teacher}: {path} holds variant {checkpoint['variant']!r}, not a teacher")
    t0 = time.perf_counter()
    model = load_model(path, role="teacher")
    scale = int(checkpoint["config"]["scale"])
    res = _evaluate(model, embedded, scale, "teacher (--teacher)")
    res["split"] = "embedded test"
    write_json_atomic(dest / "eval_embedded.json", res)
    if vid4 is not None:
        res = _evaluate(model, vid4, scale, "teacher (--teacher)")
        res.update(split="Vid4", max_frames=options.vid4_max_frames)
        write_json_atomic(dest / "eval_vid4.json", res)
        log(f"teacher (--teacher {options.teacher}): Vid4 x{scale} {res['average']['psnr']:.3f} dB")
    else:
        write_json_atomic(dest / "eval_vid4.json", {"skipped": vid4_reason})
    write_json_atomic(dest / "config.json", checkpoint["config"])
    source_prov = path.parent / "provenance.json"
    dtype = checkpoint.get("dtype", "float32")
    provenance = {
        "run_id": options.run_id, "variant": "teacher", "name": model_name("teacher", scale), "date": _now(),
        "command": options.command, "repeat": repeat_command(options), "git": git_state(), "hardware": hardware(),
        "external_teacher": {"spec": options.teacher, "path": str(path), "sha256": _sha256(path),
                             "source_provenance": _read_json(source_prov) if source_prov.is_file() else None},
        "note": "not trained in this run: every student of every seed distils from this checkpoint (--teacher); "
                "its weights stay at the source",
        "budget": {"iterations": int(checkpoint["iteration"]), "total_iterations": int(checkpoint["iteration"]),
                   "batch_size": checkpoint["config"]["batch_size"], "patch_size": checkpoint["config"]["patch_size"],
                   "profile": checkpoint["config"]["profile"]},
        "training_seconds": checkpoint.get("seconds"), "training_invocations": [],
        "evaluation_seconds": round(time.perf_counter() - t0, 1), "weights_dtype": dtype,
        "vid4": str(options.vid4_dir()) if vid4 is not None else None, "vid4_skipped": vid4_reason,
    }
    write_json_atomic(dest / "provenance.json", provenance)
    return provenance


def _record_bicubic(options: RecordOptions, embedded: list, vid4: list | None, scale: int) -> dict[str, Any] | None:
    """The bicubic baseline on the same frames (Vid4 result, or None without Vid4)."""
    dest = options.run_dir() / "bicubic"
    res = _evaluate("bicubic", embedded, scale, "bicubic")
    res["split"] = "embedded test"
    write_json_atomic(dest / "eval_embedded.json", res)
    if vid4 is None:
        return None
    res = _evaluate("bicubic", vid4, scale, "bicubic")
    res["split"] = "Vid4"
    res["max_frames"] = options.vid4_max_frames
    write_json_atomic(dest / "eval_vid4.json", res)
    return res


def teacher_gain(options: RecordOptions) -> float | None:
    """Recorded teacher's Vid4 average PSNR minus bicubic's (None when either is missing)."""
    run = options.run_dir()
    paths = run / "teacher" / "eval_vid4.json", run / "bicubic" / "eval_vid4.json"
    if options.teacher is not None and not paths[0].is_file():
        # an existing teacher not yet evaluated here (e.g. --train-only on another machine): its own run's
        # result, when that run recorded it beside the weights
        source = options.teacher_checkpoint().parent
        paths = source / "eval_vid4.json", source.parent / "bicubic" / "eval_vid4.json"
    if not all(p.is_file() for p in paths):
        return None
    teacher, bicubic = (_read_json(p) for p in paths)
    if "average" not in teacher or "average" not in bicubic:
        return None
    return float(teacher["average"]["psnr"]) - float(bicubic["average"]["psnr"])


def _complete(dest: Path) -> bool:
    return all((dest / name).is_file() for name in VARIANT_FILES)


# --------------------------------------------------------------------------- run
def record(options: RecordOptions, log=print) -> dict[str, dict[str, Any]]:
    """Record every requested variant (and its dependencies); returns variant → provenance
    (with ``train_only``: variant → its training wall-time log, nothing recorded).

    A variant whose results folder is complete and whose training is finished is
    skipped, so re-running the same command only does what is left.
    """
    from sofkd_lib.data import load_split

    variants = with_dependencies(options.variants)
    units = _units(options, variants)
    configs = {u: variant_config(options, *u) for u in units}  # every config error before any work
    first = configs[units[0]]
    scale = first.scale
    if options.teacher is not None:
        options.teacher_checkpoint()  # a missing --teacher fails before any work too
    check_writable(options.work_dir(), folder=True, what="--work")  # outputs too
    if not options.train_only:
        check_writable(options.run_dir(), folder=True, what="--results")
    if options.train_only:
        return _train_only(options, units, configs, log)
    # eval_embedded.json scores the embedded test split, whatever the variants trained on.
    embedded = load_split("embedded", "test", root=first.data_root if first.dataset == "embedded" else None)
    vid4, vid4_reason = load_vid4(options)
    if vid4_reason:
        log(f"record: {vid4_reason}; Vid4 evaluation skipped")
    run = options.run_dir()
    if not (run / "bicubic" / "eval_embedded.json").is_file() \
            or (vid4 is not None and not (run / "bicubic" / "eval_vid4.json").is_file()):
        _record_bicubic(options, embedded, vid4, scale)
    done: dict[str, dict[str, Any]] = {}
    for variant, seed in units:
        unit = options.unit(variant, seed)
        dest = run / unit
        if variant == "teacher" and options.teacher is not None:
            if all((dest / name).is_file() for name in EXTERNAL_TEACHER_FILES):
                log(f"teacher: already recorded in {dest} (--teacher {options.teacher})")
                done[unit] = _read_json(dest / "provenance.json")
            else:
                done[unit] = record_external_teacher(options, embedded, vid4, vid4_reason, log)
        else:
            if entry(variant).variant in KD_VARIANTS:
                _check_teacher_gain(options, variant)
            if _complete(dest) and _finished(options, variant, seed, configs[variant, seed]):
                log(f"{unit}: already recorded in {dest}")
                done[unit] = _read_json(dest / "provenance.json")
            else:
                done[unit] = record_variant(options, variant, embedded, vid4, vid4_reason, log, seed=seed)
        if options.seeds is None:
            update_index(options, done[unit], scale)
    if options.seeds is not None:
        update_index_seeded(options)
    write_readme(options.results_dir())
    return done


def _units(options: RecordOptions, variants: Sequence[str]) -> list[tuple[str, int | None]]:
    """(entry, seed) pairs to record, in order: the shared teacher, then every seed's entries."""
    units = [(v, None) for v in variants if options.seeds_of(v) == (None,)]
    return units + [(v, s) for s in options.seeds or () for v in variants if v != "teacher"]


def _train_only(options: RecordOptions, units: Sequence[tuple[str, int | None]],
                configs: Mapping[tuple[str, int | None], TrainConfig], log=print) -> dict[str, dict[str, Any]]:
    """Train ``units`` (entry, seed) into the work folder without evaluating or recording them.

    For training on one machine (a GPU) and recording on another: copy
    ``WORK/<run-id>`` back, then run the same command without ``--train-only``,
    which finds the training finished and evaluates. The teacher-gain rule still
    applies: a KD variant trains only if the recorded teacher's Vid4 result is there.
    """
    kd = [v for v, _ in units if entry(v).variant in KD_VARIANTS]
    if kd:  # before any training: nothing here records the teacher's Vid4 result that the gate reads
        _check_teacher_gain(options, kd[0])
    done: dict[str, dict[str, Any]] = {}
    for variant, seed in units:
        unit = options.unit(variant, seed)
        if variant == "teacher" and options.teacher is not None:
            log(f"teacher: existing checkpoint {options.teacher_checkpoint()} (--teacher), not trained")
            continue
        done[unit] = _train(options, variant, configs[variant, seed], seed)
        log(f"{unit}: trained in {options.work_dir() / unit} (not recorded: --train-only)")
    return done


def _check_teacher_gain(options: RecordOptions, variant: str) -> None:
    if options.min_teacher_gain is None:
        return
    gain = teacher_gain(options)
    if gain is None or gain < options.min_teacher_gain:
        have = "no Vid4 result for the teacher" if gain is None else f"it beats bicubic by {gain:.2f} dB"
        raise RecordError(
            f"not distilling {variant!r}: the teacher must beat bicubic on Vid4 by ≥ "
            f"{options.min_teacher_gain} dB ({have}); train it longer, or pass --min-teacher-gain none")


def update_index(options: RecordOptions, provenance: Mapping[str, Any], scale: int) -> None:
    """Register one recorded variant in ``index.json`` (newest run per name wins)."""
    root = options.results_dir()
    index = read_index(root)
    variant = provenance["variant"]
    vid4 = options.run_dir() / variant / "eval_vid4.json"
    vid4_res = _read_json(vid4) if vid4.is_file() else {}
    register(index, {
        "name": model_name(variant, scale), "run_id": options.run_id, "variant": variant, "scale": scale,
        "weights": f"{options.run_id}/{variant}/weights.pt", "date": provenance["date"],
        "dtype": provenance["weights_dtype"], "iterations": provenance["budget"]["iterations"],
        "vid4_psnr": (vid4_res.get("average") or {}).get("psnr"),
    })
    runs = index["runs"].setdefault(options.run_id, {"variants": []})
    if "seeds" in runs:
        raise RecordError(f"run {options.run_id!r} is a multi-seed run in {root / INDEX_NAME}; pass its --seeds")
    runs.update({"date": provenance["date"], "profile": options.profile, "repeat": repeat_command(options)})
    runs["variants"] = [v for v in ENTRY_NAMES if v in {*runs["variants"], variant}]
    write_json_atomic(root / INDEX_NAME, index)


#: In a run's folder: the models trained for it and set aside (:func:`record_set_aside`).
SET_ASIDE_NAME = "set_aside.json"


def record_set_aside(run_folder: str | Path, unit: str, provenance: str | Path, reason: str) -> dict[str, Any]:
    """List the model whose recorded ``provenance.json`` is ``provenance`` in ``run_folder``/set_aside.json as
    ``unit`` (e.g. ``phase1+2/seed0``), set aside for ``reason``: its training invocations, training and
    evaluation time and iterations, so the run's compute still counts it. A unit is listed once; the model's
    files are not kept. Returns the entry."""
    run_folder, provenance = Path(run_folder), Path(provenance)
    if not run_folder.is_dir():
        raise RecordError(f"run folder {run_folder} does not exist")
    if not reason.strip():
        raise RecordError("record_set_aside: give the reason the model was set aside")
    prov = _read_json(provenance)
    invocations = prov.get("training_invocations")
    if not invocations:
        raise RecordError(f"{provenance} has no training_invocations: nothing to count")
    path = run_folder / SET_ASIDE_NAME
    listed = _read_json(path) if path.is_file() else {"format": "sofkd-set-aside", "version": 1, "models": []}
    if any(m["unit"] == unit for m in listed["models"]):
        raise RecordError(f"{unit} is already listed in {path}")
    entry = {"unit": unit, "reason": reason, "iterations": prov["budget"]["iterations"],
             "git_commit": (prov.get("git") or {}).get("commit"), "training_invocations": invocations,
             "training_seconds": prov.get("training_seconds"), "evaluation_seconds": prov.get("evaluation_seconds")}
    listed["models"].append(entry)
    write_json_atomic(path, listed)
    return entry


def update_index_seeded(options: RecordOptions) -> None:
    """List a multi-seed run in ``index.json`` under ``runs`` (seeds and entries merged with earlier calls).

    Its models get no ``names`` entry: ``pretrained("teacher-x4")`` and the other names keep
    pointing at single-seed runs; :mod:`sofkd_lib.companion.stats` reads multi-seed runs by their ``seeds`` key.
    """
    root = options.results_dir()
    index = read_index(root)
    run = index["runs"].get(options.run_id, {})
    if run.get("variants"):
        raise RecordError(f"run {options.run_id!r} is a single-seed run in {root / INDEX_NAME}; "
                          f"record several seeds under another run id")
    seeds = tuple(sorted({*run.get("seeds", []), *(options.seeds or ())}))
    entries = tuple(v for v in ENTRY_NAMES if v in {*run.get("entries", []), *with_dependencies(options.variants)})
    merged = dataclasses.replace(options, seeds=seeds, variants=entries)
    index["runs"][options.run_id] = {
        "date": _now(), "profile": options.profile, "repeat": repeat_command(merged),
        "seeds": list(seeds), "entries": list(entries), "teacher": options.teacher or "trained in this run",
    }
    write_json_atomic(root / INDEX_NAME, index)


def repeat_command(options: RecordOptions) -> str:
    """The one command that repeats (or resumes) this run."""
    parts = ["python", "-m", "sofkd_lib", "record", "--run-id", options.run_id, "--profile", options.profile]
    parts += [f"{k}={v}" for k, v in options.overrides.items()]
    if tuple(options.variants) != VARIANTS:
        parts += ["--variants", *options.variants]
    if options.seeds is not None:
        parts += ["--seeds", ",".join(str(s) for s in options.seeds)]
    if options.teacher is not None:
        parts += ["--teacher", options.teacher]
    if options.teacher_init_official:
        parts += ["--teacher-init-official", options.teacher_init_official]
        if options.teacher_init_derive:
            parts.append("--teacher-init-derive")
    if options.min_teacher_gain != 1.0:
        parts += ["--min-teacher-gain", "none" if options.min_teacher_gain is None else str(options.min_teacher_gain)]
    if options.vid4_max_frames is not None:
        parts += ["--vid4-max-frames", str(options.vid4_max_frames)]
    return shlex.join(parts)


# --------------------------------------------------------------------------- README
_README_HEAD = """# Recorded runs

Trained x{scale} weights and their results, each with what is needed to check it.
Nothing here comes from the shared data folder: Vid4 (a test set, never trained on)
and the authors' weights are read from `../shared/data` (or `$SOFKD_DATA`) at run time.

- `index.json`: name (e.g. `teacher-x4`) → newest run that recorded it;
  `sofkd_lib.weights.pretrained.pretrained("teacher-x4")` loads it, and commands accept
  `--checkpoint pretrained:teacher-x4`.
- `<run-id>/<variant>/`: `config.json` (resolved TrainConfig), `metrics.csv` and
  `validation.csv` (training logs), `weights.pt` (float16 only when it scores within
  0.01 dB of float32 on the embedded test split; both numbers in `eval_embedded.json`),
  `eval_embedded.json`, `eval_vid4.json` (authors' protocol), `provenance.json`
  (hardware, commit, training and wall time, date, command line, warm start).
- `<run-id>/bicubic/`: the bicubic baseline on the same frames.
- Multi-seed runs (`record --seeds 0,1,2`): the same files per seed in
  `<run-id>/<entry>/seed<k>/`, one shared `<run-id>/teacher/` (with `--teacher`: its
  evaluation and provenance only, the weights stay where they were recorded); listed in
  `index.json` under `runs` with their seeds, not under the names above.

Repeat a run (it resumes where it stopped) with the command given for it below, from
the repository root. This file is regenerated by `python -m sofkd_lib record`.
"""


def _per_sequence_table(run: Path, names: Sequence[str]) -> list[str]:
    """Markdown rows: Vid4 PSNR / SSIM per sequence for every recorded entry of ``run``."""
    results = {n: _read_json(run / n / "eval_vid4.json") for n in names if (run / n / "eval_vid4.json").is_file()}
    results = {n: r for n, r in results.items() if "sequences" in r}
    if not results:
        return []
    seqs = list(next(iter(results.values()))["sequences"])
    rows = ["", "Vid4 per sequence, PSNR (dB) / SSIM:", "", "| | " + " | ".join(seqs) + " | average |",
            "|---" * (len(seqs) + 2) + "|"]
    for name, r in results.items():
        cells = [f"{r['sequences'][q]['psnr_mean']:.2f} / {r['sequences'][q]['ssim_mean']:.4f}"
                 if q in r["sequences"] else "–" for q in seqs]
        cells.append(f"{r['average']['psnr']:.2f} / {r['average']['ssim']:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def _seeded_readme(root: Path, run_id: str, run: Mapping[str, Any]) -> list[str]:
    """README section of a multi-seed run: each entry's budget and its mean ± sample std over seeds."""
    from sofkd_lib.companion.stats import fmt_mean_spread, load_seeded_run, summary_rows

    rec = load_seeded_run(run_id, root)
    seeds = ", ".join(str(s) for s in run["seeds"])
    head = (f"Profile `{run.get('profile')}`, {len(run['seeds'])} seeds ({seeds}), recorded {run.get('date')}; "
            f"teacher: {run.get('teacher')} (shared by every seed). Each entry but the teacher is in "
            f"`<entry>/seed<k>/`.")
    lines = [f"## {run_id}", "", head, "", "```bash", run.get("repeat", ""), "```", "",
             "| entry | seeds | iterations | batch × patch | Vid4 PSNR (dB) | embedded test PSNR (dB) |",
             "|---|---|---|---|---|---|"]
    vid4 = {r["entry"]: r for r in summary_rows(rec, "vid4")}
    emb = {r["entry"]: r for r in summary_rows(rec, "embedded")}
    for name in [*rec.entries, "bicubic"]:
        budget = rec.budget.get(name, {})
        its = f"{budget['iterations']} / {budget['total_iterations']}" if budget else "–"
        bp = f"{budget['batch_size']} × {budget['patch_size']}" if budget else "–"
        cells = [fmt_mean_spread(r["psnr_mean"], r["psnr_sd"], r["n"]) if r else "–"
                 for r in (vid4.get(name), emb.get(name))]
        n = (vid4.get(name) or emb.get(name) or {}).get("n", 0)
        lines.append(f"| {name} | {n} | {its} | {bp} | {cells[0]} | {cells[1]} |")
    lines += ["", ("Mean ± sample standard deviation (n − 1) over seeds; `sofkd_lib.companion.stats` and the book's "
                   "chapter on seeds give the KD − no-KD differences with 95 % intervals.")]
    notes = root / run_id / "NOTES.md"
    if notes.is_file():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    return [*lines, ""]


def write_readme(root: Path) -> Path:
    """Regenerate ``README.md`` from the index and each run's provenance."""
    index = read_index(root)
    lines = [_README_HEAD.format(scale=4).rstrip(), ""]
    for run_id, run in sorted(index["runs"].items()):
        if "seeds" in run:
            lines += _seeded_readme(root, run_id, run)
            continue
        lines += [f"## {run_id}", "", f"Profile `{run.get('profile')}`, recorded {run.get('date')}.", "",
                  "```bash", run.get("repeat", ""), "```", "",
                  "| variant | iterations | batch × patch | training time | Vid4 PSNR / SSIM | weights |",
                  "|---|---|---|---|---|---|"]
        bicubic = root / run_id / "bicubic" / "eval_vid4.json"
        for variant in run.get("variants", []):
            prov_path = root / run_id / variant / "provenance.json"
            if not prov_path.is_file():
                continue
            prov = _read_json(prov_path)
            vid4 = _read_json(root / run_id / variant / "eval_vid4.json")
            score = (f"{vid4['average']['psnr']:.2f} dB / {vid4['average']['ssim']:.4f}" if "average" in vid4
                     else f"skipped: {vid4.get('skipped')}")
            b = prov["budget"]
            secs = prov.get("training_seconds") or 0.0
            lines.append(f"| {variant} | {b['iterations']} / {b['total_iterations']} | {b['batch_size']} × "
                         f"{b['patch_size']} | {secs / 60:.1f} min | {score} | {prov['weights_dtype']} |")
        if bicubic.is_file():
            avg = _read_json(bicubic)["average"]
            lines.append(f"| bicubic | – | – | – | {avg['psnr']:.2f} dB / {avg['ssim']:.4f} | – |")
        lines += _per_sequence_table(root / run_id, [*run.get("variants", []), "bicubic"])
        notes = root / run_id / "NOTES.md"
        if notes.is_file():
            lines += ["", notes.read_text(encoding="utf-8").strip()]
        lines.append("")
    path = root / "README.md"
    write_text_atomic(path, "\n".join(lines).rstrip() + "\n")
    return path
