"""Training configuration: one dataclass, five named profiles, typed overrides.

``paper`` is the recipe of Lee & Park (2023): Adam (0.9, 0.999, 1e-8), lr 1e-3
halved every 80k iterations, batch 64 of 32x32 LR patches, 200k iterations per
phase, alpha = 0.9, trained on DAVIS-2017 train. That data is not bundled, so
``paper`` needs ``data_root`` (:func:`make_config` says how to give it); its
schedule on the offline embedded split is an explicit ``dataset=embedded``, and
:func:`profile_notes` says so in every label.

The paper gives no budget for the teacher or for the student trained without KD.
We give the teacher 200k (one phase, as SOF-VSR's authors train it). The no-KD
student's budget is one field, ``student_budget``: ``two-phases`` (default, 400k,
the total of the two-phase pipeline, so "with KD" and "without KD" see the same
number of student updates) or ``one-phase`` (200k, the length of each KD phase);
``student_iterations`` follows from it. "Phase 2 alone" also trains the whole student
from scratch, and the paper states its budget no more than the no-KD student's: its
field ``phase2_budget`` takes the same two values, ``one-phase`` by default (one
phase, as its name says) and ``two-phases`` where it needs longer to converge (the
``miniature`` profile); ``phase2_iterations`` follows from it. Phase 1's budget is the
paper's one phase; ``phase1_budget=two-phases`` departs from it for the ``miniature``
profile, whose phase-1 curves had not plateaued at one (``phase1_iterations`` follows,
and phase 1+2 keeps one phase). :func:`profile_notes` states every such departure.

``gpu-short``, ``cpu-demo`` and ``smoke`` divide every iteration count by one
factor (the lr step and the logging, checkpoint and validation periods with it),
so every ratio of ``paper`` holds. ``cpu-demo`` and ``smoke`` also use a smaller
batch and, for ``smoke``, smaller patches: those are the only departures, and
:func:`profile_notes` states them. ``miniature`` is not the paper's model: the same
structure at width 64 / 48 (ratio 4 : 3 kept), for a CPU run to a validation plateau.

Every field can be overridden: :func:`make_config` takes a mapping of typed
values (the notebook's parameters) and :func:`parse_override` turns the
command line's ``KEY=VALUE`` strings into typed values. Wrong names, types or
values raise :class:`ConfigError` naming the field.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sofkd_lib.method.variants import NAMES, variant_spec

#: Table 1's variants, in dependency order (declared in :mod:`sofkd_lib.method.variants`).
VARIANTS: tuple[str, ...] = NAMES
#: A ``*_budget`` field's value → the iterations of its row in units of ``phase_iterations``.
BUDGET_FACTORS: dict[str, int] = {"two-phases": 2, "one-phase": 1}
#: Budget field → the iterations field derived from it and ``phase_iterations``.
_DERIVED_BUDGETS: dict[str, str] = {"student_budget": "student_iterations", "phase1_budget": "phase1_iterations",
                                    "phase2_budget": "phase2_iterations"}
#: ``dataset`` values a run trains on; the first three are :func:`sofkd_lib.data.load_split` names.
TRAIN_DATASETS: tuple[str, ...] = ("embedded", "davis", "folder", "synthetic")
#: ``lr_schedule`` values; ``phase-shape`` puts the lr milestones at these fractions of a run's budget.
LR_SCHEDULES: tuple[str, ...] = ("step", "phase-shape")
PHASE_SHAPE_MILESTONES: tuple[float, ...] = (0.4, 0.8)
#: ``davis_pool`` values: the sequences ``dataset=davis`` trains on.
DAVIS_POOLS: tuple[str, ...] = ("train", "train+val")
#: Training data that lives outside the library: ``data_root`` must name its folder.
EXTERNAL_DATASETS: tuple[str, ...] = ("davis", "folder")
#: Device names a run (and every command's ``--device``) takes; whether this machine has it is
#: :func:`sofkd_lib.engine.distributed.check_device`'s question.
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
#: Seeds reach NumPy's legacy seeding, which takes 32 bits.
SEED_LIMIT = 2**32


class ConfigError(ValueError):
    """A training configuration field has a wrong name, type or value."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's result (see the module docstring)."""

    variant: str = field(default="teacher", metadata={"help": "teacher, student, phase1, phase2 or phase1+2"})
    profile: str = field(default="paper", metadata={"help": "name of the profile the run started from"})
    # Architecture.
    scale: int = field(default=4, metadata={"help": "upscaling factor (paper: 4)"})
    n_frames: int = field(default=3, metadata={"help": "input frames (paper: 3)"})
    teacher_channels: int = field(default=320, metadata={"help": "ResBlock channels of the teacher"})
    student_channels: int = field(default=240, metadata={"help": "ResBlock channels of the student"})
    # Budget (iterations = optimiser steps).
    phase_iterations: int = field(default=200_000, metadata={
        "help": "iterations of one KD phase: phase1+2's, and phase1's and phase2's unless phase1_budget / "
                "phase2_budget say otherwise"})
    teacher_iterations: int = field(default=200_000, metadata={"help": "iterations of the teacher (not in the paper)"})
    student_iterations: int | None = field(default=None, metadata={
        "help": "iterations of the no-KD student (not in the paper); None: derived from student_budget and "
                "phase_iterations (a value given must agree with them)"})
    student_budget: str = field(default="two-phases", metadata={
        "help": "the no-KD student's budget, our convention (the paper states none): two-phases = "
                "2 x phase_iterations (the KD pipeline's total), one-phase = phase_iterations"})
    phase1_iterations: int | None = field(default=None, metadata={
        "help": "iterations of phase 1; None: derived from phase1_budget and phase_iterations (a value given "
                "must agree with them)"})
    phase1_budget: str = field(default="one-phase", metadata={
        "help": "phase 1's budget: one-phase = phase_iterations (the paper's), two-phases = 2 x phase_iterations "
                "(a departure, for a phase 1 that has not converged in one)"})
    phase2_iterations: int | None = field(default=None, metadata={
        "help": "iterations of phase 2 alone (not in the paper); None: derived from phase2_budget and "
                "phase_iterations (a value given must agree with them)"})
    phase2_budget: str = field(default="one-phase", metadata={
        "help": "phase 2 alone's budget, our convention (the paper states none): one-phase = phase_iterations, "
                "two-phases = 2 x phase_iterations (as many student updates as the no-KD student's default)"})
    iterations: int = field(default=0, metadata={"help": "if > 0, replaces the variant's budget above"})
    # Optimisation.
    batch_size: int = field(default=64, metadata={"help": "global batch (split over DDP processes)"})
    patch_size: int = field(default=32, metadata={"help": "LR patch side in pixels (even)"})
    lr: float = field(default=1e-3, metadata={"help": "initial Adam learning rate"})
    lr_step: int = field(default=80_000, metadata={"help": "StepLR period in iterations (lr_schedule=step)"})
    lr_gamma: float = field(default=0.5, metadata={"help": "lr factor at each step or milestone (0.5 = halve)"})
    lr_schedule: str = field(default="step", metadata={
        "help": "step: multiply the lr by lr_gamma every lr_step iterations (the paper's StepLR); phase-shape: "
                "multiply it at 40 % and 80 % of the run's budget, where the paper halves it within a 200k phase "
                "(80k, 160k), at any budget; an extended run keeps the milestones it started with"})
    lr_milestones_at: int = field(default=0, metadata={
        "help": "phase-shape: if > 0, the milestones sit at 40 % and 80 % of this many iterations, not of the run's "
                "budget (a row extended before all its seeds started keeps one schedule for every seed)"})
    adam_beta1: float = field(default=0.9, metadata={"help": "Adam beta1"})
    adam_beta2: float = field(default=0.999, metadata={"help": "Adam beta2"})
    adam_eps: float = field(default=1e-8, metadata={"help": "Adam epsilon"})
    alpha: float = field(default=0.9, metadata={"help": "weight of the student's own loss in Eq. 6 and Eq. 8"})
    seed: int = field(default=0, metadata={"help": "seed of weights, patches and augmentation"})
    warm_start: str | None = field(default=None, metadata={
        "help": "teacher only: the SOF-VSR authors' weights (e.g. BI_x2.pth) to start from; every tensor whose "
                "role and shape match is copied, the rest start fresh (see train.warm_start_official)"})
    warm_start_derive: bool = field(default=False, metadata={
        "help": "with warm_start at another scale: also derive the scale-specific first SRnet conv and extra "
                "sub-pixel stages from the source instead of starting them fresh"})
    warm_start_lr: float | None = field(default=None, metadata={
        "help": "initial learning rate of a warm-started run (a fine-tuning rate) instead of lr; ignored without "
                "warm_start, so one override can serve every variant of a recorded run"})
    # Data.
    dataset: str = field(default="embedded", metadata={
        "help": "training data: embedded (offline split), davis (a DAVIS-2017 layout at data_root; davis_pool says "
                "which sequences), folder (any folder of clips at data_root) or synthetic (tests); validation uses "
                "the embedded test split, DAVIS's validation sequences"})
    davis_pool: str = field(default="train", metadata={
        "help": "dataset=davis: train on DAVIS-2017 train (the paper's) or on train+val less our held-out and "
                "validation sequences (sofkd_lib.data.datasets; for a folder with few train sequences); either "
                "way validation uses the validation sequences"})
    data_root: str | None = field(default=None, metadata={
        "help": "folder of the training data (required for davis and folder; for embedded: the cache folder)"})
    degradation: str = field(default="bicubic-matlab", metadata={
        "help": "HR→LR degradation of training: bicubic-matlab (as the test LR is made), bicubic-pil (as the "
                "SOF-VSR authors' released training LR) or bd"})
    augment: bool = field(default=True, metadata={"help": "random flips/transposes of training patches"})
    sampler: str = field(default="cpu", metadata={
        "help": "cpu: patches cropped on the host (TrainSampler); device: clips resident on the training device as "
                "uint8, cropped and degraded there (DeviceSampler), the same patches for the same seed"})
    # Bookkeeping.
    log_every: int = field(default=100, metadata={"help": "iterations averaged into one metrics.csv row"})
    checkpoint_every: int = field(default=5_000, metadata={"help": "iterations between last.pt writes"})
    val_every: int = field(default=10_000, metadata={"help": "iterations between validations (0: never)"})
    val_max_frames: int | None = field(default=None, metadata={"help": "centre frames scored per clip (None: all)"})
    # Hardware (CUDA only; ignored on CPU, where runs stay in float32 and deterministic).
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    amp: bool = field(default=True, metadata={"help": "bf16 autocast on CUDA"})
    channels_last: bool = field(default=True, metadata={"help": "channels_last memory format on CUDA"})
    lr_frame_cache: bool = field(default=False, metadata={
        "help": "CPU sampler: keep each training frame's degraded LR on disk (cache folder), so every later run on "
                "the same frames reads it instead of degrading it again (same batches)"})
    prefetch: bool = field(default=True, metadata={
        "help": "on CUDA, draw the next batch in a background thread during the step (same batches, same order); "
                "ignored on CPU, where both would share the same cores"})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the train step on CUDA (about 40 s to compile; the step alone 1.3-1.6x faster on an "
                "H100, the trainer's iterations 1.08x as its CPU sampling stays); ignored on CPU, where it did not pay"})

    def __post_init__(self) -> None:
        hints = _type_hints()
        for f in fields(self):
            value = _check_type(f.name, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)  # ints given for floats become floats
        for budget, derived in _DERIVED_BUDGETS.items():
            factor = BUDGET_FACTORS.get(getattr(self, budget))
            if getattr(self, derived) is None and factor is not None:
                object.__setattr__(self, derived, factor * self.phase_iterations)
        for problem in _value_problems(self):
            raise ConfigError(problem)

    @property
    def total_iterations(self) -> int:
        """Iterations this run performs: ``iterations`` if > 0, else the variant's budget."""
        if self.iterations > 0:
            return self.iterations
        return int(getattr(self, variant_spec(self.variant).budget_field))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (names and types checked); ``student_iterations``,
        ``phase1_iterations`` and ``phase2_iterations`` are derived again when their inputs change
        and they are not given."""
        _check_names(changes)
        for budget, derived in _DERIVED_BUDGETS.items():
            if derived not in changes and {"phase_iterations", budget} & set(changes):
                changes[derived] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        _check_names(data)
        return cls(**dict(data))


def _type_hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(TrainConfig))


def field_help() -> dict[str, str]:
    """Field name → one line of help (type, default, meaning)."""
    hints = _type_hints()
    return {
        f.name: f"{_type_name(hints[f.name])}, default {f.default!r}: {f.metadata.get('help', '')}"
        for f in fields(TrainConfig)
    }


def _check_names(names: Iterable[str]) -> None:
    known = set(field_names())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown TrainConfig field(s) {unknown}; known fields: {sorted(known)}")


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if args:
        return " | ".join("None" if a is type(None) else a.__name__ for a in args)
    return tp.__name__


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None``; None for a plain type."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0]
    return None


def _check_type(name: str, tp: Any, value: Any) -> Any:
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None:
            return None
        tp = inner
    # bool is a subclass of int: refuse it where a number is meant, and vice versa.
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(
            f"TrainConfig.{name} must be {_type_name(_type_hints()[name])}, got {type(value).__name__} {value!r}"
        )
    return float(value) if tp is float else value


def _value_problems(c: TrainConfig) -> list[str]:
    """Every out-of-range value, each message naming its field."""
    p: list[str] = []

    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            p.append(f"TrainConfig.{name} {what}, got {getattr(c, name)!r}")

    need(c.variant in VARIANTS, "variant", f"must be one of {list(VARIANTS)}")
    need(c.scale in (2, 3, 4), "scale", "must be 2, 3 or 4")
    need(c.n_frames >= 3 and c.n_frames % 2 == 1, "n_frames", "must be odd and >= 3")
    for name in ("teacher_channels", "student_channels"):
        need(getattr(c, name) >= 2 and getattr(c, name) % 2 == 0, name, "must be even and >= 2")
    for name in ("phase_iterations", "teacher_iterations", "batch_size", "lr_step", "log_every", "checkpoint_every"):
        need(getattr(c, name) >= 1, name, "must be >= 1")
    for budget, derived in _DERIVED_BUDGETS.items():
        factor = BUDGET_FACTORS.get(getattr(c, budget))
        need(factor is not None, budget, f"must be one of {list(BUDGET_FACTORS)}")
        if factor is not None and c.phase_iterations >= 1:
            need(getattr(c, derived) == factor * c.phase_iterations, derived,
                 f"must be {factor} x phase_iterations = {factor * c.phase_iterations} under "
                 f"{budget}={getattr(c, budget)!r} (leave it unset to derive it, or change {budget})")
    for name in ("iterations", "val_every", "lr_milestones_at"):
        need(getattr(c, name) >= 0, name, "must be >= 0 (0 = off/default)")
    # The ½-LR flow level pools by 2 and its smoothness term needs 2 rows: patch >= 4.
    need(c.patch_size >= 4 and c.patch_size % 2 == 0, "patch_size", "must be even and >= 4")
    need(math.isfinite(c.lr) and c.lr > 0, "lr", "must be a positive number")
    need(0 < c.lr_gamma <= 1, "lr_gamma", "must lie in (0, 1]")
    need(c.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {list(LR_SCHEDULES)}")
    need(c.davis_pool in DAVIS_POOLS, "davis_pool", f"must be one of {list(DAVIS_POOLS)}")
    need(0 <= c.adam_beta1 < 1, "adam_beta1", "must lie in [0, 1)")
    need(0 <= c.adam_beta2 < 1, "adam_beta2", "must lie in [0, 1)")
    need(c.adam_eps > 0, "adam_eps", "must be > 0")
    need(0 <= c.alpha <= 1, "alpha", "must lie in [0, 1]")
    need(0 <= c.seed < SEED_LIMIT, "seed", "must lie in [0, 2**32 - 1]")
    # The evaluation protocol scores frames 3..n-2, so a clip needs at least 5 frames.
    need(c.val_max_frames is None or c.val_max_frames >= 5, "val_max_frames", "must be None or >= 5")
    need(bool(re.fullmatch(DEVICE_PATTERN, c.device)), "device", f"must be {DEVICE_CHOICES}")
    need(c.dataset in TRAIN_DATASETS, "dataset", f"must be one of {list(TRAIN_DATASETS)} (test sets are not "
                                                 "trained on)")
    need(c.dataset != "folder" or c.data_root is not None, "data_root", "must name the folder of clips for "
                                                                       "dataset='folder'")
    need(c.dataset != "folder" or c.val_every == 0, "val_every", "must be 0 for dataset='folder' (a folder of "
                                                                 "clips has no held-out split to validate on)")
    from sofkd_lib.data.resize import DEGRADATIONS

    need(c.degradation in DEGRADATIONS, "degradation", f"must be one of {list(DEGRADATIONS)}")
    need(c.sampler in ("cpu", "device"), "sampler", "must be 'cpu' or 'device'")
    need(c.warm_start is None or c.variant == "teacher", "warm_start", "is for the teacher only (None otherwise)")
    need(c.warm_start is None or bool(c.warm_start), "warm_start", "must be None or a file path")
    need(not c.warm_start_derive or c.warm_start is not None, "warm_start_derive", "needs warm_start")
    need(c.warm_start_lr is None or (math.isfinite(c.warm_start_lr) and c.warm_start_lr > 0), "warm_start_lr",
         "must be None or a positive number")
    return p


# --------------------------------------------------------------------------- profiles
#: ``paper``'s iteration counts; the other profiles divide them all by one factor.
_PAPER = TrainConfig()
_BUDGET = ("phase_iterations", "teacher_iterations", "lr_step")  # student_iterations follows phase_iterations


def _scaled(divisor: int, **changes: Any) -> dict[str, Any]:
    """The budget and the lr step of ``paper`` divided by ``divisor`` (exactly), plus ``changes``."""
    out: dict[str, Any] = {}
    for name in _BUDGET:
        value = getattr(_PAPER, name)
        if value % divisor:
            raise AssertionError(f"profile divisor {divisor} does not divide {name}={value}")
        out[name] = value // divisor
    out.update(changes)
    return out


#: Profile name → fields that differ from :class:`TrainConfig`'s defaults (``paper``'s recipe; ``paper``
#: adds its data set, whose folder :func:`make_config` asks for).
#: Logging, checkpoint and validation periods are bookkeeping, chosen per profile.
PROFILES: dict[str, dict[str, Any]] = {
    "paper": {"dataset": "davis"},  # the paper's data, DAVIS-2017 train: make_config asks for its data_root
    # A tenth of the paper's schedule at the paper's batch: hours on one GPU.
    "gpu-short": _scaled(10, log_every=20, checkpoint_every=1_000, val_every=2_000),
    # What `make book` trains on a 2-core laptop: all five variants in ~10-17 min.
    # Batch 4 instead of 64: at batch 4 one step takes 0.35-0.9 s on one idle core
    # (phase1 … teacher), 16x that at batch 64. 6 x 250 steps in all.
    "cpu-demo": _scaled(800, batch_size=4, log_every=5, checkpoint_every=50, val_every=125, val_max_frames=5),
    # Tests and CI: seconds per variant; small batch and patches.
    "smoke": _scaled(20_000, batch_size=2, patch_size=16, log_every=1, checkpoint_every=5, val_every=5,
                     val_max_frames=5),
    # Table 1 in miniature (issue 19): ResBlock width 64 / 48 (the paper's 320 : 240 = 4 : 3) instead of
    # 320 / 240, batch 4 of the paper's 32x32 patches, trained to a validation plateau
    # (sofkd_lib.companion.convergence) on a 2-core CPU. The lr is halved every 4,000 iterations (a twentieth of
    # the paper's 80k) and every run, the teacher included, gets 20,000 (the no-KD student 40,000): four halvings
    # within a phase where the paper has two (at 80k and 160k of 200k), because 10,000 per phase did not plateau
    # (phase 1, seed 0: +0.15 dB over the last third of its validations). Phase 1 and phase 2 alone get two
    # phases, 40,000: at 20,000 the seed-2 curve of one and the seed-1 curve of the other had not plateaued
    # (book/miniature.md). Validation on the whole embedded test split every 250 iterations.
    "miniature": _scaled(20, phase_iterations=20_000, teacher_iterations=20_000, phase1_budget="two-phases",
                         phase2_budget="two-phases", teacher_channels=64, student_channels=48, batch_size=4,
                         log_every=50, checkpoint_every=250, val_every=250, val_max_frames=None),
    # Table 1 on real DAVIS footage on a 2-core CPU (issue 28): the paper's widths 320 / 240 and its 32x32 patches,
    # batch 4, 8,000 iterations a phase (a 25th of the paper's), the paper's schedule shape (lr halved at 40 % and
    # 80 % of each run's budget), trained on DAVIS-2017 train and val less our held-out and validation sequences
    # (sofkd_lib.data.datasets: only 7 train sequences are at hand). The budget was fixed from measured step
    # times before any test score was seen (bench/davis_table1.py).
    "davis-cpu": _scaled(25, dataset="davis", davis_pool="train+val", lr_schedule="phase-shape", batch_size=4,
                         log_every=50, checkpoint_every=250, val_every=500, val_max_frames=9),
}


#: Fields whose value decides a run's result, compared with ``paper`` by :func:`profile_notes`
#: (the budget, the data, the degradation and the warm start are described on their own).
_RECIPE_FIELDS = ("scale", "n_frames", "teacher_channels", "student_channels", "batch_size", "patch_size", "lr",
                  "lr_gamma", "adam_beta1", "adam_beta2", "adam_eps", "alpha", "augment")


def data_note(c: TrainConfig) -> str:
    """What ``c`` trains on, against the paper's DAVIS-2017 train."""
    if c.dataset == "davis":
        from sofkd_lib.data.datasets import DAVIS_SET_LABELS

        where = f" at {c.data_root}" if c.data_root else ", from the folder given as data_root"
        if c.davis_pool == "train":
            return f"trains on DAVIS-2017 train{where}, as in the paper"
        return (f"trains on {DAVIS_SET_LABELS['train-pool']}{where} (davis_pool={c.davis_pool}; the paper: DAVIS-2017 "
                f"train)")
    if c.dataset == "folder":
        return f"trains on the clips in {c.data_root}, not on the paper's DAVIS-2017 train"
    if c.dataset == "embedded":
        chosen = PROFILES.get(c.profile, {}).get("dataset", "embedded") != "embedded"
        return ("trains on the offline embedded split, not on the paper's DAVIS-2017 train"
                + (" (chosen explicitly: dataset=embedded)" if chosen else ""))
    return f"trains on {c.dataset} patches (tests only), not on the paper's DAVIS-2017 train"


def student_budget_note(c: TrainConfig) -> str:
    """The no-KD student's budget and the convention it follows."""
    what = {"two-phases": "as long as both KD phases together", "one-phase": "as long as one KD phase"}
    return (f"student w/o KD trained {what[c.student_budget]} (student_budget={c.student_budget}; our choice: "
            f"the paper states no budget)")


def phase_budget_notes(c: TrainConfig) -> list[str]:
    """Phase 1's and phase 2 alone's budgets where they are not one phase (the default)."""
    notes = []
    if c.phase1_budget != "one-phase":
        notes.append(f"phase 1 trained as long as both KD phases together, {c.phase1_iterations:,} "
                     f"(phase1_budget={c.phase1_budget}; the paper gives it one phase, as it does phase 1+2)")
    if c.phase2_budget != "one-phase":
        notes.append(f"phase 2 alone trained as long as both KD phases together, {c.phase2_iterations:,} "
                     f"(phase2_budget={c.phase2_budget}; our choice: the paper states no budget)")
    return notes


def _schedule_parts(c: TrainConfig) -> list[str]:
    parts = []
    budget = {n: getattr(c, n) for n in _BUDGET}
    divisor = _PAPER.phase_iterations // c.phase_iterations
    if all(v * divisor == getattr(_PAPER, n) for n, v in budget.items()):
        if divisor != 1:
            parts.append(f"every iteration count (and the lr step) divided by {divisor}")
    else:
        parts.append(", ".join(f"{n} {v:,}" for n, v in budget.items())
                     + " instead of " + " / ".join(f"{getattr(_PAPER, n):,}" for n in budget))
    if c.iterations > 0:
        parts.append(f"iterations {c.iterations:,} for this run instead of its variant's budget")
    for f_name in _RECIPE_FIELDS:
        if getattr(c, f_name) != getattr(_PAPER, f_name):
            parts.append(f"{f_name} {getattr(c, f_name)} instead of {getattr(_PAPER, f_name)}")
    if c.lr_schedule != _PAPER.lr_schedule:
        parts.append("lr halved at 40 % and 80 % of each run's budget (lr_schedule=phase-shape: the paper's shape "
                     "within a phase, at this budget)")
    if c.warm_start is not None:
        parts.append(f"teacher warm-started from {c.warm_start}")
    return parts


def profile_notes(name: str, config: TrainConfig | None = None) -> str:
    """One sentence on how profile ``name`` (or ``config``, a run of it) departs from the paper:
    schedule and batch, the training data, a degradation other than MATLAB bicubic, and the
    no-KD student's budget convention."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose from {list(PROFILES)}")
    c = config if config is not None else profile_config(name)
    if c.profile != name:
        raise ConfigError(f"profile_notes({name!r}) was given a config of profile {c.profile!r}")
    parts = _schedule_parts(c) or ["the paper's schedule and batch"]
    parts.append(data_note(c))
    if c.degradation != "bicubic-matlab":
        parts.append(f"training LR made by {c.degradation} (test LR: MATLAB bicubic)")
    parts.append(student_budget_note(c))
    parts.extend(phase_budget_notes(c))
    return f"{name}: " + "; ".join(parts)


def _resolve(profile: str, overrides: Mapping[str, Any] | None, more: Mapping[str, Any]) -> TrainConfig:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILES)}")
    merged = dict(overrides or {})
    clash = set(merged) & set(more)
    if clash:
        raise ConfigError(f"field(s) {sorted(clash)} given twice")
    merged.update(more)
    _check_names(merged)
    if "profile" in merged:
        raise ConfigError("TrainConfig.profile is set by the profile argument, not as an override")
    hints = _type_hints()
    merged = {k: v for k, v in merged.items() if v is not None or _optional_inner(hints[k]) is not None}
    values = {**PROFILES[profile], "profile": profile, **merged}
    return TrainConfig(**values)


def profile_config(profile: str = "paper", overrides: Mapping[str, Any] | None = None, **more: Any) -> TrainConfig:
    """:func:`make_config` without asking for the training data's folder: a profile's schedule for
    tables and projections (budget, batch, optimiser). Runs start from :func:`make_config`."""
    return _resolve(profile, overrides, more)


def make_config(profile: str = "paper", overrides: Mapping[str, Any] | None = None, **more: Any) -> TrainConfig:
    """The config of ``profile`` with typed ``overrides`` (and keyword overrides) applied.

    ``None`` values in ``overrides`` mean "keep the profile's value", except for
    fields whose type allows None (``data_root``, ``val_max_frames``, ``student_iterations``,
    ``phase1_iterations``, ``phase2_iterations``).
    Training data outside the library (``davis``, the ``paper`` profile's, or ``folder``) needs
    ``data_root``; without it a :class:`ConfigError` says how to give it or to choose
    ``dataset=embedded`` explicitly.
    """
    c = _resolve(profile, overrides, more)
    if c.dataset in EXTERNAL_DATASETS and c.data_root is None:
        what = "DAVIS-2017 train (the paper's training data)" if c.dataset == "davis" else "a folder of clips"
        raise ConfigError(
            f"profile {profile!r} trains on {what} (TrainConfig.dataset={c.dataset!r}), which is not bundled: give "
            f"its folder as TrainConfig.data_root (train: --data-root DIR; record and pipeline: --set data_root=DIR; "
            f"the training notebook: -p data_root DIR). DIR is a DAVIS-2017 layout (DIR/JPEGImages/480p/<sequence>/"
            f"*.jpg and DIR/ImageSets/2017/train.txt) with dataset=davis, or any folder of clips with "
            f"dataset=folder (and val_every=0). To train this schedule on the offline embedded split instead, "
            f"choose it explicitly with dataset=embedded (--dataset embedded); its labels then say so."
        )
    return c


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_value(name: str, text: str) -> Any:
    """Convert the command-line string ``text`` to field ``name``'s type (errors name the field)."""
    _check_names([name])
    tp = _type_hints()[name]
    inner = _optional_inner(tp)
    if inner is not None:
        if text.strip().lower() in ("none", "null", ""):
            return None
        tp = inner
    s = text.strip()
    try:
        if tp is bool:
            if s.lower() in _TRUE:
                return True
            if s.lower() in _FALSE:
                return False
            raise ValueError
        if tp is int:
            try:
                return int(s)
            except ValueError:
                as_float = float(s)  # accept 2e5 and 200_000
                if not as_float.is_integer():
                    raise
                return int(as_float)
        if tp is float:
            return float(s)
        return s
    except ValueError:
        raise ConfigError(f"TrainConfig.{name} must be {_type_name(_type_hints()[name])}, got {text!r}") from None


def split_assignment(item: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` → (key, value text), the one parser of every ``--set``; dashes in KEY become underscores."""
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
    return key, value


def parse_override(item: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` → (key, value typed as TrainConfig's field KEY)."""
    key, value = split_assignment(item)
    return key, parse_value(key, value)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Several ``KEY=VALUE`` strings; a key given twice is an error."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = parse_override(item)
        if key in out:
            raise ConfigError(f"TrainConfig.{key} overridden twice")
        out[key] = value
    return out


def diff(a: TrainConfig, b: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ: name → (a's, b's)."""
    return {f.name: (getattr(a, f.name), getattr(b, f.name))
            for f in fields(TrainConfig) if getattr(a, f.name) != getattr(b, f.name)}
