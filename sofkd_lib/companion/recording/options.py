"""What a recorded run records: its options, its entries (rows) and its test sets (columns), seeds and configs.

Entries and test columns are declared once, as data (:data:`ENTRIES`, :data:`TEST_COLUMNS`); every other part
of the recording reads them from here.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sofkd_lib.companion.tables import TABLE1_ROWS
from sofkd_lib.data.datasets import DAVIS_SET_LABELS, DAVIS_SET_NAMES
from sofkd_lib.engine.config import VARIANTS, TrainConfig, make_config
from sofkd_lib.method.variants import TABLE1
from sofkd_lib.settings import cache_dir, shared_data_root
from sofkd_lib.weights.pretrained import PACKAGED_DIR, RECORDED_ENV, recorded_root

#: variant → the variants whose checkpoints it needs (:mod:`sofkd_lib.method.variants`).
DEPENDENCIES: dict[str, tuple[str, ...]] = {v.name: v.depends for v in TABLE1}
KD_VARIANTS = tuple(v.name for v in TABLE1 if v.needs_teacher)
#: TrainConfig fields that choose the hardware or speed of a run, not its result.
SPEED_ONLY_FIELDS = frozenset({"device", "prefetch", "compile", "lr_frame_cache"})
#: TrainConfig fields that set one variant's iteration budget (the ``*_budget`` fields derive the no-KD
#: student's, phase 1's and phase 2 alone's).
BUDGET_FIELDS = frozenset({v.budget_field for v in TABLE1} | {"student_budget", "phase1_budget", "phase2_budget"})
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_COLUMN_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class RecordError(RuntimeError):
    """A recording cannot go on (bad run id, a teacher too weak to distil from, …); the message says why."""


# --------------------------------------------------------------------------- entries (rows)
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


# --------------------------------------------------------------------------- test sets (columns)
#: A recorded model's result on test column KEY is ``<folder>/eval_<KEY>.json``.
EVAL_PREFIX, EVAL_SUFFIX = "eval_", ".json"


@dataclass(frozen=True)
class ColumnData:
    """A test column loaded for one run: its clips, or why it is skipped (``clips`` None); ``source`` is
    what the provenance names it by, ``notes`` what every result on it carries besides its scores."""

    clips: list | None
    skipped: str | None = None
    source: str | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TestColumn:
    """One test set every model of a run is scored on: its result is ``eval_<key>.json`` in the model's folder
    (``key`` is also the dataset name readers use), ``label`` its ``split`` in that result and in messages,
    ``load(options, config)`` its clips for the run (``config``: the run's first TrainConfig).

    The first of :attr:`RecordOptions.columns` decides the stored weights' precision and must load; any
    other may be skipped (its loader says why) and is named in each provenance (``<key>``, ``<key>_skipped``).
    """

    __test__ = False  # a dataclass, not a pytest test class

    key: str
    label: str
    load: Callable[[RecordOptions, TrainConfig], ColumnData]

    @property
    def file(self) -> str:
        return f"{EVAL_PREFIX}{self.key}{EVAL_SUFFIX}"


def eval_files(folder: Path) -> dict[str, Path]:
    """Test column key → result file, for every ``eval_<key>.json`` in ``folder`` (key order)."""
    return {p.name[len(EVAL_PREFIX):-len(EVAL_SUFFIX)]: p for p in sorted(Path(folder).glob(f"{EVAL_PREFIX}*{EVAL_SUFFIX}"))}


def _load_embedded_test(options: RecordOptions, config: TrainConfig) -> ColumnData:
    """The embedded test split, whatever the run trains on (its cache folder when the run trains on it)."""
    from sofkd_lib.data import load_split

    return ColumnData(load_split("embedded", "test", root=config.data_root if config.dataset == "embedded" else None))


def _load_vid4(options: RecordOptions, config: TrainConfig) -> ColumnData:
    """Vid4 clips, or the reason they are skipped when the folder is absent or unreadable."""
    from sofkd_lib.data.datasets import read_vid4
    from sofkd_lib.data.io import DataError

    root = options.vid4_dir()
    if not root.is_dir():
        return ColumnData(None, f"Vid4 not found at {root} (set SOFKD_DATA or --vid4)")
    try:
        clips = read_vid4(root, options.vid4_max_frames)
    except DataError as exc:
        return ColumnData(None, f"Vid4 unreadable: {exc}")
    return ColumnData(clips, source=str(root), notes={"max_frames": options.vid4_max_frames})


def _load_davis_held_out(options: RecordOptions, config: TrainConfig) -> ColumnData:
    """Our held-out DAVIS sequences (:data:`sofkd_lib.data.datasets.DAVIS_HELD_OUT`) from the folder the run
    trains on; skipped with the reason when the run trains on other data or the folder lacks one of them."""
    from sofkd_lib.data import load_split
    from sofkd_lib.data.io import DataError

    if config.dataset != "davis" or config.data_root is None:
        return ColumnData(None, f"the run trains on {config.dataset!r}, not on a DAVIS folder holding the held-out "
                                f"sequences")
    try:
        clips = load_split("davis", "held-out", root=config.data_root)
    except DataError as exc:
        return ColumnData(None, f"DAVIS held-out sequences unreadable: {exc}")
    return ColumnData(clips, source=str(config.data_root))


EMBEDDED = TestColumn("embedded", "embedded test", _load_embedded_test)
#: The column the teacher-gain rule reads (:func:`sofkd_lib.companion.recording.evaluate.teacher_gain`).
VID4 = TestColumn("vid4", "Vid4", _load_vid4)
#: The test sets of every recorded run, in order (the first decides the weights' precision).
TEST_COLUMNS: tuple[TestColumn, ...] = (EMBEDDED, VID4)
#: Our held-out DAVIS-2017 val sequences (issue 28): a column of its own, never the paper's DAVIS-2017 test.
DAVIS_HELD_OUT = TestColumn(DAVIS_SET_NAMES["held-out"], DAVIS_SET_LABELS["held-out"], _load_davis_held_out)
#: Columns a run may add (``record --column KEY``), by key.
EXTRA_COLUMNS: dict[str, TestColumn] = {c.key: c for c in (DAVIS_HELD_OUT,)}


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class RecordOptions:
    """One recorded run (see :mod:`sofkd_lib.companion.record`)."""

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
    #: Test sets scored besides :data:`TEST_COLUMNS`.
    extra_columns: tuple[TestColumn, ...] = ()
    #: Entry → its iterations where a run gave one entry another budget than the profile's (a row extended by
    #: resuming, :func:`budget_override`); every seed of the entry gets it.
    budgets: Mapping[str, int] = field(default_factory=dict)

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
        if self.results_root is None and recorded_root() == PACKAGED_DIR:
            # An installed package has no results/recorded; never write into site-packages.
            raise RecordError(f"record writes to the checkout's results/recorded, and this sofkd_lib is an installed "
                              f"copy: give --results DIR (or set {RECORDED_ENV})")
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        object.__setattr__(self, "budgets", {str(k): v for k, v in dict(self.budgets).items()})
        for name, iterations in self.budgets.items():
            if name not in self.variants or name == "teacher":
                raise RecordError(f"--budget {name}: not a student entry of this run (entries: "
                                  f"{', '.join(v for v in self.variants if v != 'teacher')})")
            if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
                raise RecordError(f"--budget {name}: iterations must be an integer >= 1, got {iterations!r}")
        keys = [c.key for c in self.columns]
        bad = [k for k in keys if not _COLUMN_KEY.fullmatch(k)]
        if bad or len(set(keys)) != len(keys):
            raise RecordError(f"test column keys must be distinct, lower-case letters, digits, '_' or '-' "
                              f"(≤ 40), got {keys}")

    @property
    def columns(self) -> tuple[TestColumn, ...]:
        """Every test set this run scores: :data:`TEST_COLUMNS`, then :attr:`extra_columns`."""
        return (*TEST_COLUMNS, *self.extra_columns)

    def unit(self, name: str, seed: int | None = None) -> str:
        """Folder of entry ``name`` (and ``seed``) below the run's work and results folders."""
        return name if seed is None else f"{name}/{seed_dir(seed)}"

    def seeds_of(self, name: str) -> tuple[int | None, ...]:
        """The seeds ``name`` is recorded with: (None,) in a single-seed run and for a shared teacher."""
        return (None,) if self.seeds is None or name == "teacher" else self.seeds

    def units(self) -> list[tuple[str, int | None]]:
        """(entry, seed) pairs to record, in order: the shared teacher, then every seed's entries (dependencies
        included); seed None in a single-seed run."""
        variants = with_dependencies(self.variants)
        units = [(v, None) for v in variants if self.seeds_of(v) == (None,)]
        return units + [(v, s) for s in self.seeds or () for v in variants if v != "teacher"]

    def teacher_checkpoint(self) -> Path:
        """The teacher every student distils from: ``--teacher`` resolved, else this run's trained teacher."""
        if self.teacher is None:
            return self.work_dir() / "teacher" / "last.pt"
        from sofkd_lib.weights.checkpoint import require_file
        from sofkd_lib.weights.pretrained import resolve_checkpoint

        return require_file(resolve_checkpoint(self.teacher, self.results_root), f"--teacher {self.teacher}: checkpoint")

    def work_dir(self) -> Path:
        return Path(self.work_root or cache_dir() / "recorded-work") / self.run_id

    def results_dir(self) -> Path:
        return Path(self.results_root or recorded_root())

    def run_dir(self) -> Path:
        return self.results_dir() / self.run_id

    def vid4_dir(self) -> Path:
        return Path(self.vid4_root or shared_data_root() / "vid4")


def budget_override(name: str, iterations: int, planned: int) -> dict[str, int]:
    """The overrides that give entry ``name`` (and no other) a budget of ``iterations`` where ``planned`` was
    fixed, applied to that entry alone: ``iterations``, which replaces whatever budget field its variant reads,
    and ``lr_milestones_at=planned``, so that a seed started after the extension gets the lr milestones of
    those extended by resuming. The budget field itself would not do: both no-KD students read
    ``student_iterations``, which must stay twice ``phase_iterations`` under the two-phase convention, and
    phase 1+2's ``phase_iterations`` is what the others derive from."""
    entry(name)  # an unknown entry is an error here, not a silent no-op
    return {"iterations": int(iterations), "lr_milestones_at": int(planned)}


def variant_config(options: RecordOptions, variant: str, seed: int | None = None) -> TrainConfig:
    """The TrainConfig of entry ``variant`` (and ``seed``) in this run (the teacher alone gets the warm start;
    an entry of :attr:`RecordOptions.budgets` its own budget)."""
    e = entry(variant)
    extra: dict[str, Any] = dict(e.overrides)
    if e.variant == "teacher" and options.teacher_init_official is not None:
        extra.update(warm_start=options.teacher_init_official, warm_start_derive=options.teacher_init_derive)
    if seed is not None:
        extra["seed"] = seed
    config = make_config(options.profile, {**options.overrides, **extra}, variant=e.variant)
    if variant in options.budgets:
        config = config.replace(**budget_override(variant, options.budgets[variant], config.total_iterations))
    return config


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
    for column in options.extra_columns:
        parts += ["--column", column.key]
    for name, iterations in options.budgets.items():
        parts += ["--budget", f"{name}={iterations}"]
    return shlex.join(parts)
