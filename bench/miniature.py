"""Table 1 in miniature (issue 19): the whole CPU schedule, idempotent and resumable.

    nohup setsid nice -n 19 python -m bench.miniature run >/dev/null 2>&1 &   # start or resume
    python -m bench.miniature status                                           # where it stands
    python -m bench.miniature record                                           # when every run is finished

``run`` trains, in the folder layout of ``python -m sofkd_lib record --seeds``
(so that ``record`` later finds every model trained and only evaluates it):

    ROOT/work/RUN_ID/teacher/                 profile ``miniature``, seed 0, from scratch
    ROOT/work/RUN_ID/<variant>/seed<k>/       student, phase1, phase2, phase1+2 for every seed k

The teacher first; the students only once the teacher's validation curve has
plateaued (:mod:`sofkd_lib.companion.convergence`): a teacher that has not is extended one
phase at a time (``teacher_iterations``, kept in ``ROOT/overrides.json`` with any
``--set`` so that every later run and the record command resolve the same
configs), up to ``--max-teacher-iterations``. Then the students, ``--jobs`` at a time:
of the runs ready to start, the one with the most iterations left (list order, seed by
seed, among equals). A finished run is skipped, an unfinished one resumed
(``train --resume auto``), so rerunning the command after an interruption (or in
a later session) continues where it stopped. Every step is one ``train`` process
started from a copy of ``sofkd_lib`` taken when ``run`` starts (``ROOT/code``),
so edits to the working tree during the hours of a run do not reach a model half
way; the copy's git commit and a hash of its files are logged with each step.
Every training invocation is kept in its run folder's ``record_wall.json`` as
``record`` does, so its provenance keeps the wall time and hardware of each part;
the entry is written when the invocation starts and updated every minute, so a
driver killed without warning (the end of a session) loses at most a minute of it.
Progress goes to ``ROOT/driver.log``; one driver at a time (``ROOT/driver.lock``).
Torch runs with ``--threads`` (1 by default) OpenMP threads: on two cores shared
with other work one thread was faster and far steadier than two (bench README,
"Noise").
"""
from __future__ import annotations

import argparse
import csv
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the driver itself reads configs from the checkout

from bench.pauses import Pauses  # noqa: E402
from sofkd_lib.cli.argtypes import positive_int, seed_list  # noqa: E402
from sofkd_lib.cli.main import OneLineParser  # noqa: E402
from sofkd_lib.companion.convergence import run_plateau  # noqa: E402
from sofkd_lib.companion.recording.train import now as _now  # noqa: E402
from sofkd_lib.data.io import write_json_atomic  # noqa: E402
from sofkd_lib.engine.config import ConfigError, make_config, parse_overrides  # noqa: E402 - after the sys.path line
from sofkd_lib.method.variants import variant_spec  # noqa: E402
from sofkd_lib.settings import shared_data_root  # noqa: E402

PROFILE = "miniature"
RUN_ID = "2026-12-01-miniature-cpu"
ROOT = Path(os.environ.get("SOFKD_MINIATURE_ROOT", "/work/runs/miniature"))
SEEDS = (0, 1, 2)
#: The students of every seed, in training order (phase1+2 needs that seed's phase1).
STUDENTS = ("student", "phase1", "phase2", "phase1+2")
#: Run-wide TrainConfig overrides, kept in ROOT (a teacher extended to its plateau lands here).
OVERRIDES = "overrides.json"
#: The teacher is extended one phase at a time until it plateaus, up to this budget.
MAX_TEACHER_ITERATIONS = 40_000
#: Seconds between progress lines in driver.log while a model trains.
PROGRESS_EVERY = 900
#: Seconds between updates of a running invocation's entry in record_wall.json: a driver killed without
#: warning (the end of a session) loses at most this much of its accounted wall time.
HEARTBEAT_EVERY = 60
_CLI = "import sys; from sofkd_lib.cli.main import main; sys.exit(main(sys.argv[1:]))"
#: ``ended`` of an invocation still running; left in place, it says the driver was killed after its last heartbeat.
RUNNING = "running at the last heartbeat (if the run has moved on: killed after it; end is that heartbeat)"


def _stop(proc: subprocess.Popen) -> None:
    """Ask a trainer to end, also when it is paused (a stopped process acts on SIGTERM once continued)."""
    proc.terminate()
    try:
        proc.send_signal(signal.SIGCONT)
    except ProcessLookupError:
        pass


def unit_name(variant: str, seed: int | None) -> str:
    """How the driver names a unit in its log, status and ``trainers.json``: ``phase1 seed 2``."""
    return variant if seed is None else f"{variant} seed {seed}"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Driver:
    #: The profile every run trains at (a subclass for another experiment sets its own).
    profile = PROFILE
    #: The driver's module, as its invocations are logged (``python -m MODULE run``).
    module = "bench.miniature"

    def __init__(self, root: Path, run_id: str, seeds: tuple[int, ...], overrides: dict, threads: int,
                 max_teacher: int = MAX_TEACHER_ITERATIONS, jobs: int = 1):
        self.root, self.run_id, self.seeds, self.threads, self.jobs = root, run_id, seeds, threads, jobs
        self._log_lock = threading.Lock()
        self._children: set[subprocess.Popen] = set()
        self.overrides, self.max_teacher = dict(overrides), max_teacher
        self.work = root / "work" / run_id
        self.log_path = root / "driver.log"
        self.pauses = Pauses(root)

    # ------------------------------------------------------------------ bookkeeping
    def log(self, text: str) -> None:
        line = f"{_now()} [load {_load()}] {text}"
        with self._log_lock:
            print(line, flush=True)
            self.root.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a") as fh:
                fh.write(line + "\n")

    def out(self, variant: str, seed: int | None) -> Path:
        return self.work / (variant if seed is None else f"{variant}/seed{seed}")

    def config(self, variant: str, seed: int | None):
        extra = {} if seed is None else {"seed": seed}
        return make_config(self.profile, {**self.overrides, **extra}, variant=variant)

    def iteration(self, variant: str, seed: int | None) -> int:
        """Last logged iteration of a run (0 when not started)."""
        path = self.out(variant, seed) / "metrics.csv"
        if not path.is_file():
            return 0
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        return int(rows[-1]["iteration"]) if rows else 0

    def iterations_left(self, unit: tuple[str, int | None]) -> int:
        """Iterations ``unit`` (variant, seed) has still to train: its budget less its last logged iteration."""
        return self.config(*unit).total_iterations - self.iteration(*unit)

    def priority(self, unit: tuple[str, int | None]) -> float:
        """Which ready unit starts first: the most iterations left, so that a run resumed far from its end
        starts before nearly finished ones and one core is not left training it alone at the end."""
        return self.iterations_left(unit)

    def finished(self, variant: str, seed: int | None) -> bool:
        out = self.out(variant, seed)
        summary = out / "summary.json"
        return summary.is_file() and (out / "last.pt").is_file() and \
            json.loads(summary.read_text())["iteration"] >= self.config(variant, seed).total_iterations

    def units(self) -> list[tuple[str, int | None]]:
        return [("teacher", None)] + [(v, s) for s in self.seeds for v in STUDENTS]

    def needs(self, variant: str, seed: int | None) -> list[tuple[str, int | None]]:
        """The runs ``variant`` of ``seed`` starts from (its Table 1 record: the teacher, a phase-1 run)."""
        spec = variant_spec(variant)
        return [("teacher", None)] * spec.needs_teacher + ([(spec.init_from, seed)] if spec.init_from else [])

    # ------------------------------------------------------------------ code copy
    def snapshot(self) -> dict:
        """Copy the checkout's sofkd_lib to ROOT/code (kept if the new copy does not start)."""
        code = self.root / "code"
        fresh = self.root / "code.new"
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(REPO / "sofkd_lib", fresh / "sofkd_lib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        digest = hashlib.sha256()
        for path in sorted((fresh / "sofkd_lib").rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(fresh)).encode() + b"\0" + path.read_bytes())
        git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=False, capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                                "sofkd_lib"], check=False, capture_output=True, text=True)
        info = {"taken": _now(), "from": str(REPO), "commit": git.stdout.strip() or None,
                "sofkd_lib_dirty": bool(dirty.stdout.strip()), "sofkd_lib_sha256": digest.hexdigest()}
        check = subprocess.run([sys.executable, "-c", _CLI, "train", "--profile", self.profile, "--variant", "teacher",
                                "--show-config", *(f"--set={k}={v}" for k, v in self.overrides.items())],
                               cwd=fresh, env=self.env(fresh), check=False, capture_output=True, text=True)
        if check.returncode != 0:
            tail = (check.stderr or check.stdout).strip().splitlines()[-3:]
            if (code / "SOURCE.json").is_file():
                self.log(f"code: the checkout's sofkd_lib does not start ({' | '.join(tail)}); keeping the copy "
                         f"of {json.loads((code / 'SOURCE.json').read_text())['taken']}")
                shutil.rmtree(fresh, ignore_errors=True)
                return json.loads((code / "SOURCE.json").read_text())
            raise SystemExit(f"miniature: the checkout's sofkd_lib does not start: {' | '.join(tail)}")
        (fresh / "SOURCE.json").write_text(json.dumps(info, indent=1) + "\n")
        shutil.rmtree(code, ignore_errors=True)
        fresh.rename(code)
        self.log(f"code: sofkd_lib copied to {code} (commit {info['commit']}, working tree "
                 f"{'edited' if info['sofkd_lib_dirty'] else 'clean'}, sha256 {info['sofkd_lib_sha256'][:12]})")
        return info

    def env(self, code: Path) -> dict:
        env = dict(os.environ)
        env.update(PYTHONPATH=str(code), OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads),
                   # the copy lives outside the checkout: point it at the checkout's data and cache
                   SOFKD_DATA=str(shared_data_root()),
                   SOFKD_CACHE=env.get("SOFKD_CACHE", str(REPO / ".cache")))
        return env

    # ------------------------------------------------------------------ training
    def train_command(self, variant: str, seed: int | None) -> list[str]:
        """The ``train`` invocation of one unit (run with the code copy on the path)."""
        cmd = [sys.executable, "-c", _CLI, "train", "--variant", variant, "--profile", self.profile, "--out",
               str(self.out(variant, seed)), "--resume", "auto", "--quiet"]
        for key, value in self.overrides.items():
            cmd += ["--set", f"{key}={value}"]
        if seed is not None:
            cmd += ["--set", f"seed={seed}"]
        spec = variant_spec(variant)
        if spec.needs_teacher:
            cmd += ["--teacher", str(self.out("teacher", None) / "last.pt")]
        if spec.init_from is not None:
            cmd += ["--init", str(self.out(spec.init_from, seed) / "last.pt")]
        return cmd

    def train(self, variant: str, seed: int | None, code_info: dict) -> None:
        out = self.out(variant, seed)
        cmd = self.train_command(variant, seed)
        name = unit_name(variant, seed)
        total = self.config(variant, seed).total_iterations
        logged = self.iteration(variant, seed)  # the trainer resumes from last.pt, up to checkpoint_every before it
        self.log(f"{name}: start at iteration 0 of {total}" if not logged else
                 f"{name}: resume from its last checkpoint (logged up to iteration {logged}) of {total}")
        start, t0 = _now(), time.perf_counter()
        code = self.root / "code"
        out.mkdir(parents=True, exist_ok=True)
        # The entry is written now and updated every HEARTBEAT_EVERY s, so that a driver killed without
        # warning (the end of a session) leaves the invocation in the provenance up to its last heartbeat.
        entry = self._write_invocation(out, None, start, 0.0, cmd, code_info, RUNNING, name)

        def heartbeat() -> None:
            try:
                self._write_invocation(out, entry, start, time.perf_counter() - t0, cmd, code_info, RUNNING,
                                      name)
            except (OSError, ValueError) as exc:  # keep training; the next heartbeat or the end writes it again
                self.log(f"{name}: could not update {out / 'record_wall.json'}: {exc}")

        ended = "stopped with the driver"
        try:
            proc = self._run_logged(cmd, code, variant, seed, total, heartbeat)
            ended = "finished" if proc.returncode == 0 else f"train exited {proc.returncode}"
        finally:  # also when the driver is stopped (SIGTERM)
            self._write_invocation(out, entry, start, time.perf_counter() - t0, cmd, code_info, ended, name)
        if proc.returncode != 0:
            self.log(f"{name}: train exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
            raise SystemExit(proc.returncode)
        summary = json.loads((out / "summary.json").read_text())
        self.log(f"{name}: {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else 'done'} "
                 f"(trainer {summary.get('seconds', 0):.0f} s in all)")

    def _run_logged(self, cmd: list[str], code: Path, variant: str, seed: int | None, total: int,
                    heartbeat: Callable[[], None] = lambda: None) -> subprocess.CompletedProcess:
        """Run one ``train`` process, calling ``heartbeat`` every ``HEARTBEAT_EVERY`` s and logging its
        iteration and last validation every ``PROGRESS_EVERY`` s."""
        name = unit_name(variant, seed)
        last_log = time.monotonic()
        with subprocess.Popen(cmd, cwd=code, env=self.env(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as proc:
            self._children.add(proc)
            self.pauses.started(name, proc.pid)
            while True:
                try:
                    stdout, stderr = proc.communicate(timeout=HEARTBEAT_EVERY)
                    break
                except BaseException as exc:
                    if not isinstance(exc, subprocess.TimeoutExpired):  # stopped: stop the trainer too
                        _stop(proc)
                        proc.wait()
                        self.pauses.ended(name)
                        self.log(f"{name}: driver stopped ({type(exc).__name__}); resume with the same command")
                        raise
                    heartbeat()
                    if time.monotonic() - last_log < PROGRESS_EVERY:
                        continue
                    last_log = time.monotonic()
                    val = self.out(variant, seed) / "validation.csv"
                    rows = list(csv.DictReader(val.open(newline=""))) if val.is_file() else []
                    last = f", validation PSNR {float(rows[-1]['psnr']):.3f} dB at {rows[-1]['iteration']}" \
                        if rows else ""
                    self.log(f"{name}: iteration {self.iteration(variant, seed)} of {total}{last}")
        self._children.discard(proc)
        self.pauses.ended(name)
        return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)

    def _write_invocation(self, out: Path, index: int | None, start: str, wall: float, cmd: list[str],
                          code_info: dict, ended: str, name: str) -> int:
        """Write the entry ``record`` keeps for each training invocation (plus the code copy it ran and how
        it ``ended``) into ``out/record_wall.json``: appended when ``index`` is None, else replacing entry
        ``index``; returns its index."""
        path = out / "record_wall.json"
        log = json.loads(path.read_text()) if path.is_file() else {"invocations": []}
        if index is None:
            try:
                from sofkd_lib.engine.runtime import hardware
                hw = hardware()
            except Exception as exc:  # the checkout may be mid-edit; the entry is kept anyway
                hw = {"error": f"hardware() failed: {exc}"}
            log["invocations"].append({"hardware": hw})
            index = len(log["invocations"]) - 1
        end = _now()
        log["invocations"][index] = {
            "start": start, "end": end, "wall_seconds": round(wall, 1),
            "paused_seconds": round(self.pauses.paused_seconds(name, start, end), 1),
            "command": f"nice -n 19 python -m {self.module} run → " + " ".join(cmd[3:]),
            "hardware": log["invocations"][index]["hardware"], "code": code_info, "threads": self.threads,
            "load_at_end": _load(), "ended": ended}
        write_json_atomic(path, log)
        return index

    def plateau_line(self, variant: str, seed: int | None) -> str:
        try:
            return run_plateau(self.out(variant, seed)).describe()
        except FileNotFoundError:
            return "no validations yet"

    def hold_lock(self):
        """ROOT/driver.lock, held until the process ends; None (and a line on stderr) when another driver has it."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = (self.root / "driver.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{self.module}: another driver holds {self.root / 'driver.lock'}; not starting a second",
                  file=sys.stderr)
            return None
        return lock

    def run(self, allow_unconverged_teacher: bool = False) -> int:
        lock = self.hold_lock()
        if lock is None:
            return 1
        self.log(f"driver start: run {self.run_id}, seeds {list(self.seeds)}, overrides {self.overrides}, "
                 f"{self.threads} thread(s) per job, {self.jobs} job(s), pid {os.getpid()}")
        self.save_overrides()
        code_info = self.snapshot()
        while True:  # the teacher first; the students wait for a trained-out teacher
            self._train_one("teacher", None, code_info)
            if allow_unconverged_teacher or run_plateau(self.out("teacher", None)).plateaued:
                break
            c = self.config("teacher", None)  # extend it by one phase, up to max_teacher
            if c.teacher_iterations + c.phase_iterations > self.max_teacher:
                self.log(f"teacher has not plateaued within {self.max_teacher} iterations: the students "
                         f"wait; rerun with a larger --max-teacher-iterations")
                return 3
            self.overrides["teacher_iterations"] = c.teacher_iterations + c.phase_iterations
            self.save_overrides()
            self.log(f"teacher has not plateaued: extended to teacher_iterations="
                     f"{self.overrides['teacher_iterations']} (kept in {self.root / OVERRIDES}; every run and "
                     f"the record command use it)")
        self._train_students(self.units()[1:], code_info)
        self.log(f"driver done: every run finished; record with: {self.record_command(shell=True)}")
        return 0

    def _train_one(self, variant: str, seed: int | None, code_info: dict) -> None:
        name = unit_name(variant, seed)
        if self.finished(variant, seed):
            self.log(f"{name}: finished already; {self.plateau_line(variant, seed)}")
        else:
            self.train(variant, seed, code_info)
            self.log(f"{name}: {self.plateau_line(variant, seed)}")

    def held(self, variant: str, seed: int | None) -> bool:
        """Whether the runs that start from this finished one must wait (a subclass holds a model that awaits a
        decision by hand); none here."""
        return False

    def _train_students(self, units: list[tuple[str, int | None]], code_info: dict) -> list[tuple[str, int | None]]:
        """Every unit, ``self.jobs`` at a time, each once the runs it starts from are finished. Of the units
        ready to start, the one of highest :meth:`priority` goes first (list order among equals). A unit
        trained in this call that is unfinished again (its budget grew after it ended) goes back to wait.
        Returns the units trained to their end."""
        lock, changed = threading.Lock(), threading.Condition()
        waiting, running, done, failures = list(units), set(), [], []

        def ready(unit: tuple[str, int | None]) -> bool:  # a need still running may yet grow (a judged row)
            return all(self.finished(*need) and need not in running and not self.held(*need)
                       for need in self.needs(*unit))

        def worker() -> None:
            while True:
                with changed:
                    while True:
                        for again in [u for u in done if not self.finished(*u)]:
                            done.remove(again)
                            waiting.append(again)
                        if failures or not waiting:
                            return
                        unit = max((u for u in waiting if ready(u)), key=self.priority, default=None)
                        if unit is not None:
                            waiting.remove(unit)
                            running.add(unit)
                            break
                        if not running:  # nothing can start and nothing will finish
                            failures.append(RuntimeError(f"no run can start: {waiting} wait for unfinished or "
                                                         f"held runs"))
                            changed.notify_all()
                            return
                        changed.wait(timeout=30)  # also wakes for a unit sent back by a grown budget
                try:
                    self._train_one(*unit, code_info)
                except BaseException as exc:  # SystemExit of a failed train included
                    with lock:
                        failures.append(exc)
                else:
                    with changed:
                        done.append(unit)
                finally:
                    with changed:
                        running.discard(unit)
                        changed.notify_all()

        threads = [threading.Thread(target=worker, name=f"miniature-job-{i}", daemon=True) for i in range(self.jobs)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=1.0)  # short joins: SIGTERM reaches this thread between them
        except BaseException:
            for proc in list(self._children):  # stop every trainer
                _stop(proc)
            for thread in threads:
                thread.join(timeout=60)
            self.log("driver stopped; resume with the same command")
            raise
        if failures:
            raise failures[0]
        return done

    def save_overrides(self) -> None:
        """Keep the run-wide overrides, so that every later invocation trains and records the same configs."""
        write_json_atomic(self.root / OVERRIDES, dict(sorted(self.overrides.items())))

    # ------------------------------------------------------------------ status and record
    def status(self) -> int:
        for variant, seed in self.units():
            name = unit_name(variant, seed)
            total = self.config(variant, seed).total_iterations
            state = "finished" if self.finished(variant, seed) else f"{self.iteration(variant, seed)}/{total}"
            print(f"{name:<18} {state:<14} {self.plateau_line(variant, seed)}")
        return 0

    def record_command(self, shell: bool = False) -> list[str] | str:
        cmd = ["python", "-m", "sofkd_lib", "record", "--run-id", self.run_id, "--profile", self.profile,
               "--seeds", ",".join(map(str, self.seeds)), "--work", str(self.root / "work"),
               "--min-teacher-gain", "none", "--quiet"]
        for key, value in self.overrides.items():
            cmd += ["--set", f"{key}={value}"]
        return " ".join(cmd) if shell else cmd

    def record(self) -> int:
        missing = [f"{v}{'' if s is None else f' seed {s}'}" for v, s in self.units() if not self.finished(v, s)]
        if missing:
            print(f"{self.module}: not every run is finished ({', '.join(missing)}); run `python -m {self.module} run`",
                  file=sys.stderr)
            return 1
        for unit in self.units():  # pauses kept after an invocation's entry was last written count too
            self.pauses.annotate(self.out(*unit) / "record_wall.json", unit_name(*unit))
        cmd = self.record_command()
        self.log(f"record: {' '.join(cmd)}")
        return self.run_record(cmd)

    def run_record(self, cmd: list[str], threads: int | None = None) -> int:
        """Run ``record_command``'s command (``python -m sofkd_lib record …``) in the checkout, with ``threads``
        OpenMP threads when given; its exit status."""
        env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads),
                                            "MKL_NUM_THREADS": str(threads)}
        return subprocess.run([sys.executable, *cmd[1:]], cwd=REPO, env=env, check=False).returncode


def run_overrides(parser: argparse.ArgumentParser, root: Path, given: list[str],
                  defaults: dict | None = None) -> dict:
    """A driver's run-wide overrides: ``defaults``, those kept in ``ROOT/overrides.json``, then ``--set``
    (``given``); a ``--set`` that differs from a kept value, or sets the seed, is a one-line error."""
    try:
        overrides = {**(defaults or {}), **parse_overrides(given)}
    except ConfigError as exc:
        parser.error(str(exc))
    if "seed" in overrides:
        parser.error("seed is set per run by --seeds")
    stored_path = root / OVERRIDES
    try:
        stored = json.loads(stored_path.read_text()) if stored_path.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        parser.error(f"cannot read the run's kept overrides {stored_path}: {exc}")
    if not isinstance(stored, dict):
        parser.error(f"{stored_path} must hold a JSON object of overrides, not {type(stored).__name__}")
    clash = {k: (stored[k], v) for k, v in overrides.items() if k in stored and stored[k] != v}
    if clash:
        parser.error(f"--set differs from the overrides this run was trained with ({stored_path}): "
                     + "; ".join(f"{k}: {a!r} stored, {b!r} given" for k, (a, b) in clash.items()))
    return {**stored, **overrides}


def check_configs(parser: argparse.ArgumentParser, driver: Driver) -> None:
    """Every unit's config resolves, before overrides.json keeps a --set that no run can train with (a later,
    corrected --set would clash with it)."""
    try:
        for unit in driver.units():
            driver.config(*unit)
    except ConfigError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    # One-line errors, exit status 2, as every sofkd_lib command.
    parser = OneLineParser(prog="python -m bench.miniature", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "status", "record"))
    parser.add_argument("--root", type=Path, default=ROOT, help=f"checkpoints and log (default {ROOT})")
    parser.add_argument("--run-id", default=RUN_ID, help=f"recorded run name (default {RUN_ID})")
    parser.add_argument("--seeds", type=seed_list, default=SEEDS, help="students' seeds, 0,1,2 or 0-2 (default 0,1,2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="TrainConfig override for every run (repeat it in every later command)")
    parser.add_argument("--threads", type=positive_int, default=1, help="OpenMP threads per training process (default 1)")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="students trained at once, each once the runs it starts from are done (default 1)")
    parser.add_argument("--allow-unconverged-teacher", action="store_true",
                        help="train the students even if the teacher has not plateaued")
    parser.add_argument("--max-teacher-iterations", type=positive_int, default=MAX_TEACHER_ITERATIONS,
                        help="extend a teacher that has not plateaued one phase at a time up to this budget "
                             f"(default {MAX_TEACHER_ITERATIONS})")
    args = parser.parse_args(argv)
    # `kill PID` ends the driver through SystemExit, so the running trainer is stopped and logged with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    overrides = run_overrides(parser, args.root, args.overrides)
    driver = Driver(args.root, args.run_id, args.seeds, overrides, args.threads, args.max_teacher_iterations,
                    args.jobs)
    check_configs(parser, driver)
    if args.command == "run":
        return driver.run(args.allow_unconverged_teacher)
    if args.command == "status":
        return driver.status()
    return driver.record()


if __name__ == "__main__":
    sys.exit(main())
