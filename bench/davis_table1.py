"""Table 1 on real DAVIS footage, on the CPU (issue 28): room first, then every student, three seeds.

    nohup setsid nice -n 19 python -m bench.davis_table1 run >/dev/null 2>&1 &   # start or resume
    python -m bench.davis_table1 status                                           # where it stands
    python -m bench.davis_table1 record                                           # when every run is finished
    python -m bench.davis_table1 record --row phase1                              # a finished row, ahead
    python -m bench.davis_table1 settle --row phase1 --why "…"                    # failing, not extended further
    python -m bench.davis_table1 pause --why "CI"; … ; python -m bench.davis_table1 unpause   # free the cores
    python -m bench.davis_table1 carry                                            # a new attempt, after a lost one

The teacher is the recorded 320-channel ``teacher-x4`` (:data:`TEACHER`, pinned by its
sha256): it is not trained here. The students (width 240, profile ``davis-cpu``) train on
our DAVIS train pool and validate on its two validation sequences
(:mod:`sofkd_lib.data.datasets`), with the lr halved at 40 % and 80 % of each run's budget.

Order (resumable, as :mod:`bench.miniature`, whose driver this one extends):

1. the no-KD student, seed 0, with ``--room-threads`` threads;
2. the room (:mod:`sofkd_lib.companion.room`): the teacher and that student scored per frame on
   Vid4 x4 and on the DAVIS held-out column; ``ROOT/room.json``. If the room is under
   :data:`~sofkd_lib.companion.room.MIN_ROOM_DB` on a column, or its interval reaches zero, the
   driver stops there (exit 4): no other student is trained;
3. every other unit, ``--jobs`` at a time, the longest chain of training left first
   (:meth:`DavisDriver.priority`, from the measured step times), a phase 1+2 once every phase 1 is finished.

Every finished run's verdict under the rule of issue 28 (validation PSNR gains under
0.05 dB over the last 20 % of the run, :data:`TAIL_FRACTION`) goes to ``driver.log`` and
``status``. A row with a finished model that fails it is extended, every seed by the same
factor, by resuming: automatically once by :data:`EXTENSION_FACTOR` (fixed before the run),
further only by hand (``extend --row ROW --factor F``, then ``run``), and never once a test score of a
student is recorded (``record --row`` included): budgets are fixed before any test number is seen. A row
that still fails and is not extended further is settled by hand (``settle --row ROW --why TEXT``): reported
as not trained out, with why, in the record's extensions.json, NOTES and chapter. The row's new budget is
kept in ``ROOT/budgets.json`` with why (that row alone:
:func:`~sofkd_lib.companion.recording.options.budget_override`), and ``record`` passes it on as
``--budget``. The milestones of the lr stay where the run started them
(:func:`sofkd_lib.engine.train.make_optimizer`). Phase 1+2 starts only once every phase 1 has
reached its budget, so that phase 1 never grows under a model trained from it.

The budget (8,000 iterations a phase, :data:`sofkd_lib.engine.config.PROFILES`) was fixed from
step times measured on the 2-core development machine (``steps``: every variant's train step at
the profile's widths and batch, one and two threads, ``results/bench/davis_table1/steps.json``)
before any test score was seen, so that three seeds of the five students fit about 40 core-hours
(:func:`budget_plan`).

    python -m bench.davis_table1 steps       # measure the step times (machine otherwise idle)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from bench.davis_attempts import carried_from, carry
from bench.miniature import _CLI, REPO, Driver, _now, check_configs, run_overrides, unit_name
from bench.pauses import Pauses
from sofkd_lib.cli.argtypes import positive_float, positive_int, seed_list
from sofkd_lib.cli.main import OneLineParser
from sofkd_lib.companion.convergence import run_plateau, run_trend
from sofkd_lib.companion.recording.evaluate import sha256_file
from sofkd_lib.companion.recording.index import write_readme
from sofkd_lib.companion.recording.options import DAVIS_HELD_OUT, budget_override, entry
from sofkd_lib.companion.room import measure_room, room_verdict
from sofkd_lib.data.io import write_json_atomic, write_text_atomic
from sofkd_lib.engine.config import make_config
from sofkd_lib.engine.train import lr_milestones
from sofkd_lib.method.variants import variant_spec
from sofkd_lib.settings import repo_relative, shared_path
from sofkd_lib.weights.pretrained import recorded_root

PROFILE = "davis-cpu"
RUN_ID = "2026-12-06-davis-cpu"
ROOT = Path(os.environ.get("SOFKD_DAVIS_TABLE1_ROOT", "/work/runs/davis-table1"))
#: Where the DAVIS footage is read from unless ``--set data_root=`` says otherwise (the held-out column
#: of the room is read from the same folder as the training footage).
DATA_ROOT = shared_path("davis_subset")
#: The teacher every student distils from: the recorded 320-channel x4 teacher (H100, warm-started from the
#: authors' x2 weights, trained on the embedded split), pinned by file and hash.
TEACHER = REPO / "results" / "recorded" / "2026-11-25-h100" / "teacher" / "weights.pt"
TEACHER_SHA256 = "c5222d41dfc8830a9c1e547e1c892e44cff8006d9afbda45b5df532c608da408"
SEEDS = (0, 1, 2)
#: Every student of a seed, in training order (phase1+2 needs that seed's phase1); record entries.
STUDENTS = ("student", "student-1phase", "phase1", "phase2", "phase1+2")
#: The unit whose score against the teacher decides whether the other students are trained.
ROOM_UNIT = ("student", 0)
#: The rule of issue 28: trained out when the last 20 % of a run's validations gain under 0.05 dB.
TAIL_FRACTION = 0.2
#: The extended rows, in ROOT: ``{"budgets": {row: iterations}, "history": [every extension]}``.
BUDGETS = "budgets.json"
#: The same, as the record keeps it (with the rule), beside the room.
EXTENSIONS = "extensions.json"
#: Fixed on 2026-12-06, before any curve of a row but the room unit's first half was seen: a row with a finished
#: model that fails the rule is extended by this factor, every seed, automatically, at most this many times;
#: a further extension is a decision made with ``extend`` and logged as one.
EXTENSION_FACTOR = 1.5
AUTO_EXTENSIONS = 1
#: Test columns of the room, in order (the record's keys).
COLUMNS = ("vid4", DAVIS_HELD_OUT.key)


STEPS_FILE = REPO / "results" / "bench" / "davis_table1" / "steps.json"  # not beside cpu.json: book/efficiency.md reads those
#: Core-hours the whole experiment was planned to fit (issue 28).
PLANNED_CORE_HOURS = 40.0


def budget_plan(steps: dict, threads: int = 1, seeds: int = len(SEEDS)) -> dict:
    """Core-hours of training the students of :data:`STUDENTS` for ``seeds`` seeds at the profile's budget,
    from measured ``steps`` (:func:`bench.davis_steps.measure_steps`) at ``threads`` threads a job; validation and the
    sampler's first pass over the frames come on top."""
    per_step = steps["seconds_per_step"][str(threads)]
    rows = {}
    for unit in STUDENTS:
        e = entry(unit)
        iterations = make_config(PROFILE, {"data_root": "x", **e.overrides}, variant=e.variant).total_iterations
        rows[unit] = {"iterations": iterations, "seconds_per_step": per_step[e.variant],
                      "core_hours": seeds * iterations * per_step[e.variant] * threads / 3600}
    return {"threads": threads, "seeds": seeds, "units": rows,
            "core_hours": sum(r["core_hours"] for r in rows.values()), "planned_core_hours": PLANNED_CORE_HOURS}


def room_evaluation_seconds(folder: Path) -> float:
    """Wall seconds of the room's evaluations (the ``<model>_<column>.json`` files in ``folder``)."""
    return sum(json.loads(p.read_text()).get("wall_seconds", 0.0) for p in Path(folder).glob("*_*.json"))


def sha256(path: Path) -> str:
    """The file's sha256 (the recorder's hashing, so the pin and the record's provenance agree)."""
    return sha256_file(path)


class DavisDriver(Driver):
    profile = PROFILE
    module = "bench.davis_table1"

    def __init__(self, *args, room_threads: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.room_threads = room_threads
        path = self.root / BUDGETS
        #: Row → iterations, for the extended rows (every seed of a row alike), and every extension made.
        self.budgets: dict[str, int] = {}
        self.history: list[dict] = []
        #: Rows decided by hand not to be extended further (``settle``), with why.
        self.settled: list[dict] = []
        if path.is_file():
            try:
                kept = json.loads(path.read_text())
                self.budgets, self.history = dict(kept["budgets"]), list(kept.get("history", []))
                self.settled = list(kept.get("settled", []))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"davis_table1: cannot read the extended budgets {path}: {exc!r}") from None
        self._budget_lock = threading.Lock()
        steps = json.loads(STEPS_FILE.read_text())["seconds_per_step"] if STEPS_FILE.is_file() else {}
        self._steps: dict[str, float] = steps.get(str(self.threads), {})

    def unit_overrides(self, unit: str, seed: int | None) -> dict:
        """Every override ``unit`` of ``seed`` trains with: the run's, its entry's, an extension, its seed."""
        extension = budget_override(unit, self.budgets[unit], self.planned_iterations(unit)) if unit in self.budgets else {}
        return {**self.overrides, **entry(unit).overrides, **extension, "seed": seed or 0}

    def config(self, unit: str, seed: int | None):
        return make_config(self.profile, self.unit_overrides(unit, seed), variant=entry(unit).variant)

    def planned_config(self, unit: str):
        """``unit``'s config as fixed before the run (seed 0): the profile's budget, without any extension; its
        lr milestones are those of every seed, extended or not."""
        return make_config(self.profile, {**self.overrides, **entry(unit).overrides}, variant=entry(unit).variant)

    def planned_iterations(self, unit: str) -> int:
        return self.planned_config(unit).total_iterations

    def last_lr_drop(self, unit: str) -> int:
        """The iteration of ``unit``'s last lr milestone: the planned one, which extensions keep."""
        return lr_milestones(self.planned_config(unit))[-1]

    def units(self) -> list[tuple[str, int | None]]:
        return [(u, s) for s in self.seeds for u in STUDENTS]

    def finished(self, unit: str, seed: int | None) -> bool:
        if unit == "teacher":
            return TEACHER.is_file()
        return super().finished(unit, seed)

    def needs(self, unit: str, seed: int | None) -> list[tuple[str, int | None]]:
        """A phase 1+2 starts from its seed's phase 1 once every seed's phase 1 is finished (extended or
        not), so that phase 1 never grows under a model trained from it."""
        spec = variant_spec(entry(unit).variant)
        return [(spec.init_from, s) for s in self.seeds] if spec.init_from else []

    def held(self, unit: str, seed: int | None) -> bool:
        """A finished model that fails the rule after its row's automatic extensions, in a row not settled:
        nothing trains from it until ``extend`` or ``settle`` decides (a phase 1+2 would fix its phase 1)."""
        if self.settlement(unit):
            return False
        try:
            return seed in self._failing(unit)
        except FileNotFoundError:  # a run without validations cannot be judged (tests' stand-ins)
            return False

    def step_seconds(self, unit: str) -> float:
        """Seconds a train step of ``unit`` took at this driver's threads (:data:`STEPS_FILE`; 1 when not
        measured)."""
        return self._steps.get(entry(unit).variant, 1.0)

    def priority(self, unit: tuple[str, int | None]) -> float:
        """Seconds of training left on the longest chain that starts with ``unit``: its own, plus a phase
        1+2's after a phase 1. The longest chains start first, so that phase 1+2 is not left training alone
        at the end while a core idles."""
        after = max((self.priority(u) for u in self.units() if unit in self.needs(*u)), default=0.0)
        return self.iterations_left(unit) * self.step_seconds(unit[0]) + after

    def train_command(self, unit: str, seed: int | None) -> list[str]:
        e = entry(unit)
        spec = variant_spec(e.variant)
        cmd = [sys.executable, "-c", _CLI, "train", "--variant", e.variant, "--profile", self.profile, "--out",
               str(self.out(unit, seed)), "--resume", "auto", "--quiet"]
        for key, value in self.unit_overrides(unit, seed).items():
            cmd += ["--set", f"{key}={value}"]
        if spec.needs_teacher:
            cmd += ["--teacher", str(TEACHER)]
        if spec.init_from is not None:
            cmd += ["--init", str(self.out(spec.init_from, seed) / "last.pt")]
        return cmd

    def plateau_line(self, unit: str, seed: int | None) -> str:
        """The rule's verdict on a model's validation curve so far and, once three validations follow its last
        lr drop, the trend there (:func:`~sofkd_lib.companion.convergence.log_trend`)."""
        try:
            line = run_plateau(self.out(unit, seed), tail_fraction=TAIL_FRACTION).describe()
        except FileNotFoundError:
            return "no validations yet"
        since = self.last_lr_drop(unit)
        trend = run_trend(self.out(unit, seed), since)
        return line if trend is None else (f"{line}; after {since:,}: {trend.db_per_doubling:+.3f} dB per doubling, "
                                           f"the last part at that rate {trend.tail_gain_db(TAIL_FRACTION):+.3f} dB")

    # ------------------------------------------------------------------ the room
    def column_arguments(self, column: str) -> list[str]:
        """``evaluate`` arguments of a room column: Vid4 from the shared data, the DAVIS held-out
        sequences from the folder the students train on."""
        if column == "vid4":
            return ["--data", str(shared_path("vid4")), "--kind", "vid4"]
        return ["--data", str(self.overrides.get("data_root", DATA_ROOT)), "--kind", "davis", "--split", "held-out"]

    def evaluate(self, checkpoint: Path, column: str, out: Path) -> None:
        """Score ``checkpoint`` on ``column`` per frame into ``out`` (one thread, the code copy)."""
        if out.is_file():
            return
        code = self.root / "code"
        env = {**self.env(code), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        cmd = [sys.executable, "-c", _CLI, "evaluate", "--checkpoint", str(checkpoint), "--scale", "4",
               *self.column_arguments(column), "--output", str(out), "--no-progress"]
        self.log(f"room: evaluate {checkpoint} on {column}")
        proc = subprocess.run(cmd, cwd=code, env=env, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"evaluate {checkpoint} on {column} failed: {proc.stderr.strip()[-800:]}")

    def room(self) -> dict:
        """``ROOT/room.json``: teacher − the room unit on every column (evaluated two at a time)."""
        path = self.root / "room.json"
        if path.is_file():
            return json.loads(path.read_text())
        folder = self.root / "room"
        folder.mkdir(parents=True, exist_ok=True)
        unit, seed = ROOM_UNIT
        jobs = [(TEACHER, c, folder / f"teacher_{c}.json") for c in COLUMNS] + \
               [(self.out(unit, seed) / "last.pt", c, folder / f"{unit}_seed{seed}_{c}.json") for c in COLUMNS]
        errors: list[BaseException] = []

        def work(items):
            try:
                for item in items:
                    self.evaluate(*item)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(jobs[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        rooms = [measure_room(json.loads((folder / f"teacher_{c}.json").read_text()),
                              json.loads((folder / f"{unit}_seed{seed}_{c}.json").read_text())) for c in COLUMNS]
        verdict = {**room_verdict(rooms), "teacher": repo_relative(TEACHER), "teacher_sha256": sha256(TEACHER),
                   "student": f"{unit} seed {seed}", "student_config": self.planned_config(unit).replace(seed=seed).to_dict(),
                   "measured": _now()}
        write_json_atomic(path, verdict)
        for r in rooms:
            self.log(f"room: {r.describe()}")
        return verdict

    def publish_room(self) -> Path:
        """Copy the room's measurements beside the run's record (``results/recorded/RUN/room``), where the book
        reads them: at once when measured, before any other student trains, and again with the record."""
        dest = recorded_root() / self.run_id / "room"
        dest.mkdir(parents=True, exist_ok=True)
        for path in [self.root / "room.json", *sorted((self.root / "room").glob("*.json"))]:
            write_json_atomic(dest / path.name, json.loads(path.read_text()))
        self.log(f"room: its measurements copied to {dest}")
        return dest

    # ------------------------------------------------------------------ the run
    def run(self, allow_unconverged_teacher: bool = False) -> int:
        lock = self.hold_lock()
        if lock is None:
            return 1
        if not TEACHER.is_file() or sha256(TEACHER) != TEACHER_SHA256:
            print(f"davis_table1: the teacher {TEACHER} is missing or not the pinned file (sha256 "
                  f"{TEACHER_SHA256[:12]}…)", file=sys.stderr)
            return 2
        self.log(f"driver start: run {self.run_id}, seeds {list(self.seeds)}, overrides {self.overrides}, "
                 f"{self.threads} thread(s) per job, {self.jobs} job(s), room unit with {self.room_threads}, "
                 f"pid {os.getpid()}")
        self.save_overrides()
        code_info = self.snapshot()
        if not (self.root / "room.json").is_file():  # once measured, the room unit is one student among the others
            # At the planned budget, as in every attempt: a budget carried from an earlier one (`carry`) extends
            # the room unit afterwards, by resuming.
            threads, budgets = self.threads, self.budgets
            self.threads, self.budgets = self.room_threads, {k: v for k, v in budgets.items() if k != ROOM_UNIT[0]}
            try:
                self._train_one(*ROOM_UNIT, code_info, may_extend=False)
            finally:
                self.threads, self.budgets = threads, budgets
        verdict = self.room()
        self.publish_room()  # at every start: where the book reads it, before any other student trains
        if not verdict["proceed"]:
            self.log(f"room: not enough ({verdict['rule']}); no other student is trained")
            return 4
        self.log(f"room: enough on every column ({verdict['rule']}); training the other students")
        for unit in self.units():  # models finished before (the room unit, an earlier session's) are judged too
            if self.finished(*unit):
                self.extend_if_failing(*unit)
        while pending := [u for u in self.units() if not self.finished(*u)]:  # a pass sends grown rows round again
            if not self._train_students(pending, code_info):  # a safeguard: never loop idle
                raise SystemExit(f"davis_table1: a pass trained nothing; unfinished: {pending}")
        self.log("driver done: every run finished")
        return 0

    def record_command(self, shell: bool = False, rows: tuple[str, ...] = STUDENTS) -> list[str] | str:
        """``record`` of every unit (of ``rows``), distilled from :data:`TEACHER`, scored on Vid4, the embedded
        split and the DAVIS held-out column (the trained models are found in ROOT/work and only evaluated)."""
        cmd = ["python", "-m", "sofkd_lib", "record", "--run-id", self.run_id, "--profile", self.profile,
               "--seeds", ",".join(map(str, self.seeds)), "--variants", *rows, "--teacher", str(TEACHER),
               "--work", str(self.root / "work"), "--column", DAVIS_HELD_OUT.key, "--quiet"]
        for key, value in self.overrides.items():
            cmd += ["--set", f"{key}={value}"]
        for unit, iterations in self.budgets.items():
            cmd += ["--budget", f"{unit}={iterations}"]
        return " ".join(cmd) if shell else cmd

    # ------------------------------------------------------------------ extending a row
    def _extend_row(self, row: str, factor: float, reason: str, by: str) -> int:
        """Multiply ``row``'s budget by ``factor`` for every seed, keep it in ROOT/budgets.json, log why;
        returns the new budget."""
        with self._budget_lock:
            before = self.config(row, self.seeds[0]).total_iterations
            after = round(before * factor)
            self.budgets[row] = after
            self.history.append({"row": row, "from": before, "to": after, "factor": factor, "by": by,
                                 "reason": reason, "when": _now()})
            self._save_budgets()
        self.log(f"extend ({by}): {row} from {before:,} to {after:,} iterations (×{factor:g}), every seed, because "
                 f"{reason}; kept in {self.root / BUDGETS}")
        return after

    def _save_budgets(self) -> None:
        write_json_atomic(self.root / BUDGETS, {"budgets": self.budgets, "history": self.history,
                                                "settled": self.settled})

    def settlement(self, row: str) -> dict | None:
        """How ``row`` was settled (``settle``), or None."""
        return next((s for s in self.settled if s["row"] == row), None)

    def auto_extensions(self, row: str) -> int:
        return sum(h["row"] == row and h["by"] == "auto" for h in self.history)

    def _phase1_in_use(self, row: str) -> list[int]:
        """Seeds whose phase 1+2 has started from phase 1: phase 1 cannot grow under them."""
        return [s for s in self.seeds if row == "phase1" and self.iteration("phase1+2", s) > 0]

    def _train_one(self, unit: str, seed: int | None, code_info: dict, may_extend: bool = True) -> None:
        """Train ``unit`` of ``seed`` to its budget; while its curve fails the rule and its row has been extended
        automatically fewer than :data:`AUTO_EXTENSIONS` times, extend the row by :data:`EXTENSION_FACTOR` and
        train on (the row's seeds that ended before go round again: :meth:`Driver._train_students`)."""
        while True:
            super()._train_one(unit, seed, code_info)
            if not may_extend or not self.extend_if_failing(unit, seed):
                return

    def extend_if_failing(self, unit: str, seed: int | None) -> bool:
        """Extend ``unit``'s row automatically when this finished model fails the rule and the row may still
        grow (:data:`AUTO_EXTENSIONS`; phase 1 not under a started phase 1+2); True when it was extended."""
        if not self.finished(unit, seed):  # its row grew while it trained: judged when it reaches the new budget
            return False
        try:
            verdict = run_plateau(self.out(unit, seed), tail_fraction=TAIL_FRACTION)
        except FileNotFoundError:  # a run without validations cannot be judged (tests' stand-ins)
            return False
        if verdict.plateaued:
            return False
        if self.auto_extensions(unit) >= AUTO_EXTENSIONS:
            self.log(f"{unit} seed {seed}: fails the rule after {AUTO_EXTENSIONS} automatic extension(s); reported "
                     f"as not trained out" + (" (settled)" if self.settlement(unit) else
                                              ": `extend` or `settle` decides; nothing trains from it until then"))
            return False
        if self._phase1_in_use(unit):
            self.log(f"{unit} seed {seed}: fails the rule, but phase1+2 has started from phase 1; not extended")
            return False
        self._extend_row(unit, EXTENSION_FACTOR, f"seed {seed}: {verdict.describe()}", by="auto")
        return True

    def extend(self, row: str, factor: float) -> int:
        """Extend every seed of ``row`` by ``factor`` by hand (issue 28's rule 4, beyond the automatic
        extensions), when a finished model of the row fails the rule; never phase 1 once a phase 1+2 has started
        from it (that model would have to be set aside). The next ``run`` trains them on. Returns an exit status."""
        lock = self.hold_lock()
        if lock is None:
            return 1
        if settled := self.settlement(row):
            print(f"extend: {row} was settled on {settled['when']}, not to be extended further: {settled['why']}",
                  file=sys.stderr)
            return 2
        if scores := self.recorded_scores():
            print(f"extend: test scores of this run are recorded already ({', '.join(scores)}); budgets are fixed "
                  f"before any test number is seen, so none grows now", file=sys.stderr)
            return 2
        failing = self._failing(row)
        if not failing:
            print(f"extend: no finished model of {row} fails the rule; nothing to extend", file=sys.stderr)
            return 2
        started = self._phase1_in_use(row)
        if started:
            print(f"extend: phase1+2 of seed(s) {started} started from this phase 1; set those models aside "
                  f"first (move their folders out of {self.work}) and record that you did", file=sys.stderr)
            return 2
        if factor <= 1:
            print(f"extend: --factor must be above 1, got {factor}", file=sys.stderr)
            return 2
        self._extend_row(row, factor, ", ".join(f"seed {s}: {v.describe()}" for s, v in failing.items()), by="extend")
        self.log(f"extend: resume with `python -m {self.module} run`")
        return 0

    def _failing(self, row: str) -> dict:
        """Seed → the rule's verdict, for the finished models of ``row`` that fail it."""
        done = [s for s in self.seeds if self.finished(row, s)]
        return {s: v for s in done if not (v := run_plateau(self.out(row, s), tail_fraction=TAIL_FRACTION)).plateaued}

    def recorded_scores(self) -> list[str]:
        """The student models of this run with a test score in the record (``record``, ``record --row``)."""
        run_dir = recorded_root() / self.run_id
        return [f"{row} {p.name}" for row in STUDENTS for p in sorted((run_dir / row).glob("seed*"))
                if any(p.glob("eval_*.json"))]

    def settle(self, row: str, why: str) -> int:
        """Decide by hand that ``row``, failing the rule after its automatic extensions, is not extended further
        and is reported as not trained out, with ``why``; kept in ROOT/budgets.json (and the record's
        extensions.json, NOTES and chapter). Every seed must be finished; ``extend`` then refuses the row."""
        lock = self.hold_lock()
        if lock is None:
            return 1
        missing = [s for s in self.seeds if not self.finished(row, s)]
        if missing:
            problem = f"seed(s) {missing} not finished"
        elif self.settlement(row):
            problem = "settled already"
        elif not why.strip():
            problem = "--why is empty"
        elif self.auto_extensions(row) < AUTO_EXTENSIONS and not self._phase1_in_use(row):
            problem = f"its {AUTO_EXTENSIONS} automatic extension(s) are not spent"
        else:
            failing = self._failing(row)
            problem = None if failing else "every seed passes the rule; nothing to settle"
        if problem:
            print(f"settle: {row}: {problem}", file=sys.stderr)
            return 2
        verdicts = {str(s): self.plateau_line(row, s) for s in self.seeds}
        self.settled.append({"row": row, "iterations": self.config(row, self.seeds[0]).total_iterations,
                             "why": why.strip(), "when": _now(), "verdicts": verdicts})
        self._save_budgets()
        self.log(f"settle: {row} is not extended further and is reported as not trained out "
                 f"(failing: seed(s) {sorted(failing)}), because {why.strip()}; kept in {self.root / BUDGETS}")
        return 0

    def record_rows(self, rows: tuple[str, ...]) -> int:
        """Record ``rows`` alone, ahead of the others, with this driver's threads: a core left idle while the
        last models train evaluates them. Every seed of each row must be finished (and so judged); the full
        ``record`` later finds them recorded and skips them, unless a row grew since."""
        missing = [unit_name(r, s) for r in rows for s in self.seeds if not self.finished(r, s)]
        if missing:
            print(f"{self.module}: not finished: {', '.join(missing)}; record those rows once they are",
                  file=sys.stderr)
            return 1
        cmd = self.record_command(rows=rows)
        self.log(f"record ahead ({', '.join(rows)}, {self.threads} thread(s)): {' '.join(cmd)}")
        return self.run_record(cmd, threads=self.threads)

    def record(self) -> int:
        status = super().record()
        if status == 0:  # the room, measured before the students were trained, goes with the record
            run_dir = recorded_root() / self.run_id
            self.publish_room()
            write_json_atomic(run_dir / EXTENSIONS, {"budgets": self.budgets, "history": self.history,
                                                     "settled": self.settled,
                                                     "rule": f"extended when a finished model's validation PSNR "
                                                             f"gains 0.05 dB or more over the last "
                                                             f"{TAIL_FRACTION:.0%} of its run",
                                                     "automatic": {"factor": EXTENSION_FACTOR,
                                                                   "at_most": AUTO_EXTENSIONS}})
            write_text_atomic(run_dir / "NOTES.md", self.notes())
            write_readme(recorded_root())
            self.log(f"record: {run_dir / 'NOTES.md'} written and the README regenerated")
        return status

    def notes(self) -> str:
        """The record's NOTES.md (:func:`bench.davis_notes.notes`)."""
        from bench.davis_notes import notes

        return notes(self)

    def status(self) -> int:
        super().status()
        for h in self.history:
            carried = carried_from(h)
            when = h["when"] if carried is None or carried[1] is None else f"attempt {carried[0]}, {carried[1]}"
            print(f"extended ({h['by']}, {when}): {h['row']} {h['from']:,} → {h['to']:,} because {h['reason']}")
        for s in self.settled:
            print(f"settled ({s['when']}): {s['row']} at {s['iterations']:,}, not extended further, because {s['why']}")
        kept = self.pauses.entries()
        open_ = [e for e in kept if e.get("end") is None]
        print(f"pauses: {len(kept)} kept" + (f"; OPEN since {open_[0]['start']} ({open_[0]['why']}): "
                                             f"`unpause` lets {', '.join(open_[0]['trainers']) or 'them'} go on"
                                             if open_ else ""))
        path = self.root / "room.json"
        print("room:", json.dumps(json.loads(path.read_text())["columns"], indent=1) if path.is_file()
              else "not measured yet")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.davis_table1", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "status", "record", "steps", "extend", "settle", "pause",
                                            "unpause", "carry"))
    parser.add_argument("--root", type=Path, default=ROOT, help=f"checkpoints and log (default {ROOT})")
    parser.add_argument("--run-id", default=RUN_ID, help=f"recorded run name (default {RUN_ID})")
    parser.add_argument("--seeds", type=seed_list, default=SEEDS, help="students' seeds (default 0,1,2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="TrainConfig override for every run (kept in ROOT/overrides.json)")
    parser.add_argument("--threads", type=positive_int, default=1, help="threads per job after the room (default 1)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="students trained at once after the room (default 2)")
    parser.add_argument("--room-threads", type=positive_int, default=2, help="threads of the room unit (default 2)")
    parser.add_argument("--row", choices=STUDENTS, action="append",
                        help="extend: the row whose every seed is extended; record: record this row alone, ahead "
                             "of the others (repeatable)")
    parser.add_argument("--factor", type=positive_float, help="extend: the budget's factor (> 1), e.g. 1.5")
    parser.add_argument("--why", default="", help="pause: why the trainers are stopped; settle: why the row is not "
                                                  "extended further (kept with either)")
    args = parser.parse_args(argv)
    if args.command in ("pause", "unpause"):  # while other work needs the cores (bench/pauses.py)
        pauses = Pauses(args.root)
        return pauses.pause(args.why) if args.command == "pause" else pauses.unpause()
    # `kill PID` ends the driver through SystemExit, so the running trainer is stopped and logged with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.command == "steps":
        from bench.davis_steps import measure_steps

        steps = measure_steps()
        write_json_atomic(STEPS_FILE, {**steps, "plan": {n: budget_plan(steps, int(n)) for n in steps["seconds_per_step"]}})
        print(json.dumps({n: round(budget_plan(steps, int(n))["core_hours"], 1) for n in steps["seconds_per_step"]}))
        return 0
    # lr_frame_cache: the 1,385 training frames are degraded once for all runs, not once per run (same batches)
    overrides = run_overrides(parser, args.root, args.overrides,
                              defaults={"data_root": str(DATA_ROOT), "lr_frame_cache": True})
    driver = DavisDriver(args.root, args.run_id, args.seeds, overrides, args.threads, jobs=args.jobs,
                         room_threads=args.room_threads)
    check_configs(parser, driver)
    if args.command == "extend":
        if args.row is None or len(args.row) != 1 or args.factor is None:
            parser.error("extend needs one --row and --factor")
        return driver.extend(args.row[0], args.factor)
    if args.command == "settle":
        if args.row is None or len(args.row) != 1:
            parser.error("settle needs one --row (and --why)")
        return driver.settle(args.row[0], args.why)
    if args.command == "carry":  # a new attempt at the budgets a lost one had reached (bench/davis_attempts.py)
        return carry(driver)
    if args.command == "run":
        return driver.run()
    if args.command == "record" and args.row:
        return driver.record_rows(tuple(dict.fromkeys(args.row)))
    return driver.status() if args.command == "status" else driver.record()


if __name__ == "__main__":
    sys.exit(main())
