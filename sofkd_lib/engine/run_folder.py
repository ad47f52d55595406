"""A run folder: its files, its lock, resume modes, CSV logs, summary, and what a stopped run leaves behind."""
from __future__ import annotations

import csv
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.data.io import DataError, atomic_temporaries, check_writable, json_ready, non_regular, write_text_atomic
from sofkd_lib.weights.checkpoint import (
    CheckpointError,
    non_finite_tensors,
)

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "validation.csv", "config.json", "summary.json")
#: The lock file of a run folder: "PID HOST" of the process training into it.
LOCK_NAME = ".lock"


class RunFolderInUse(FileExistsError):
    """Another running process holds the run folder; the message names the folder and its pid."""


def check_run_folder(out_dir: str | os.PathLike, what: str = "run folder") -> Path:
    """Raise :class:`DataError` unless ``out_dir`` can be a run folder; create nothing.

    Besides :func:`~sofkd_lib.data.io.check_writable`: none of the files a run writes
    (or its lock) may exist as anything but a regular file, as writing would replace it.
    """
    out_dir = check_writable(out_dir, folder=True, what=what)
    for name in (*RUN_FILES, LOCK_NAME):
        kind = non_regular(out_dir / name)
        if kind:
            raise DataError(f"{what} {out_dir}: {out_dir / name} is {kind}, not a regular file; it is never "
                            f"replaced: remove it or choose another folder")
    holder = _read_lock(out_dir / LOCK_NAME, wait=0)
    if holder and _lock_alive(holder, os.path.realpath(out_dir)):  # early, before models and data are loaded
        raise _in_use(out_dir, holder)
    return out_dir


#: Run folders (real paths) this process holds: a lock naming this pid that is not among them is stale
#: (the pid of a killed trainer, reused by this process).
_HELD: set[str] = set()


class RunFolderLock:
    """One process per run folder: ``OUT/.lock``, created with O_EXCL, holds the trainer's pid and host.

    :meth:`acquire` refuses a folder whose lock names a running process (or one on
    another host, which cannot be checked) with :class:`RunFolderInUse`; a lock left by a
    process that is gone (SIGKILL, a crash) is taken over with a note on stderr, and the
    temporaries of checkpoint writes it never finished are removed. ``with`` releases it,
    on errors and Ctrl-C too. ``enabled=False`` (ranks other than 0) makes it do nothing.
    """

    def __init__(self, out_dir: str | os.PathLike, enabled: bool = True):
        self.out_dir, self.enabled, self.held = Path(out_dir), enabled, False
        self.path = self.out_dir / LOCK_NAME

    def __enter__(self) -> RunFolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> RunFolderLock:
        if not self.enabled or self.held:
            return self
        key = os.path.realpath(self.out_dir)
        me = f"{os.getpid()} {socket.gethostname()}"
        holder = ""
        for _ in range(5):  # a lost race with another taker re-reads its lock
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_lock(self.path)
                if not self.path.exists():  # released meanwhile
                    continue
                if _lock_alive(holder, key):
                    break
                if _read_lock(self.path, wait=0) == holder:  # still the dead holder's: take it over
                    self.path.unlink(missing_ok=True)
                    print(f"note: {self.out_dir} was held by {_describe(holder)}, which is no longer running; "
                          f"taking it over", file=sys.stderr)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me + "\n")
            self.held = True
            _HELD.add(key)
            for name in RUN_FILES:  # no writer is alive here now: what it left mid-write is garbage
                for tmp in atomic_temporaries(self.out_dir / name):
                    tmp.unlink(missing_ok=True)
            return self
        raise _in_use(self.out_dir, holder)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        _HELD.discard(os.path.realpath(self.out_dir))
        if _read_lock(self.path, wait=0).split()[:1] == [str(os.getpid())]:
            self.path.unlink(missing_ok=True)


def _read_lock(path: Path, wait: float = 1.0) -> str:
    """The lock's "PID HOST" text; an empty one (its writer between create and write) is re-read for ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""
        if text or time.monotonic() >= deadline:
            return text
        time.sleep(0.05)


def _lock_alive(holder: str, key: str) -> bool:
    """Whether the process a lock names may still be running (unreadable contents: no)."""
    parts = holder.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return False
    pid, host = int(parts[0]), parts[1]
    if host != socket.gethostname():
        return True  # another machine's process cannot be checked from here
    if pid == os.getpid():
        return key in _HELD
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _in_use(out_dir: Path, holder: str) -> RunFolderInUse:
    return RunFolderInUse(f"run folder {out_dir} is in use by {_describe(holder)} (lock {out_dir / LOCK_NAME}); "
                          f"wait for that run to end or choose another folder")


def _describe(holder: str) -> str:
    parts = holder.split()
    if len(parts) == 2 and parts[0].isdigit():
        return f"pid {parts[0]}" + ("" if parts[1] == socket.gethostname() else f" on {parts[1]}")
    return f"an unreadable lock ({holder!r})" if holder else "another process"


def prepare_out_dir(out_dir: Path, resume: str) -> bool:
    """Apply the resume mode; True when training continues from ``last.pt``. The caller holds the lock."""
    if resume not in ("no", "yes", "auto", "overwrite"):
        raise ValueError(f"resume must be 'no', 'yes', 'auto' or 'overwrite', got {resume!r}")
    last = out_dir / "last.pt"
    if resume == "overwrite":
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        return False
    if resume == "yes" and not last.is_file():
        raise CheckpointError(f"cannot resume: {last} not found")
    if resume == "no" and last.is_file():
        raise FileExistsError(f"{out_dir} already holds a run (last.pt); resume it or overwrite it "
                              f"(--resume / --overwrite)")
    return last.is_file() and resume in ("yes", "auto")


class CsvLog:
    """An append-only CSV with a fixed header; on resume, rows past the checkpoint are dropped."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path, self.columns = path, columns

    def start(self, keep_until: int | None) -> None:
        rows: list[dict[str, str]] = []
        if keep_until is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) <= keep_until]
        buf = [",".join(self.columns)]
        buf += [",".join(r.get(c, "") for c in self.columns) for r in rows]
        write_text_atomic(self.path, "\n".join(buf) + "\n")

    def append(self, row: Mapping[str, Any]) -> None:
        with self.path.open("a", newline="") as fh:
            fh.write(",".join(_fmt(row.get(c, "")) for c in self.columns) + "\n")
            fh.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_history(out_dir: str | os.PathLike) -> tuple[Any, Any]:
    """``(metrics, validation)`` of a run folder as pandas DataFrames (validation may be empty)."""
    import pandas as pd

    out_dir = Path(out_dir)
    metrics = pd.read_csv(out_dir / "metrics.csv")
    val_path = out_dir / "validation.csv"
    validation = pd.read_csv(val_path) if val_path.is_file() else pd.DataFrame(columns=["iteration", "psnr"])
    return metrics, validation


def last_logged(out_dir: Path, names: tuple[str, ...]) -> dict[str, float]:
    path = out_dir / "metrics.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {n: float(rows[-1][n]) for n in names} if rows else {}


def kept_checkpoint(out_dir: Path) -> str:
    """What a stopped run leaves to resume from, for its error message (``last.pt`` and its iteration)."""
    last = out_dir / "last.pt"
    if not last.is_file():
        return "no checkpoint written yet; lower the learning rate (--lr) and start again"
    try:
        data = torch.load(last, map_location="cpu", weights_only=True)
        iteration, finite = data["iteration"], not non_finite_tensors(data["model"])
    except Exception:
        return f"{last} kept"
    if not finite:  # written before checkpoints were checked
        return f"{last} (iteration {iteration}) holds non-finite weights too: do not resume it"
    return f"last good checkpoint {last} (iteration {iteration}) kept, its weights finite; resume it with a lower --lr"


@dataclass
class TrainResult:
    """What a finished (or stopped) run leaves behind."""

    out_dir: Path
    variant: str
    iteration: int
    total_iterations: int
    final_losses: dict[str, float]
    best_psnr: float | None
    best_iteration: int | None
    last_psnr: float | None
    seconds: float
    iterations_per_second: float
    model: SOFVSR | None = field(default=None, repr=False)
    teacher: SOFVSR | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (non-finite numbers become None)."""
        return json_ready({
            "variant": self.variant, "iteration": self.iteration, "total_iterations": self.total_iterations,
            "final_losses": self.final_losses, "best_psnr": self.best_psnr, "best_iteration": self.best_iteration,
            "last_psnr": self.last_psnr, "seconds": self.seconds,
            "iterations_per_second": self.iterations_per_second,
        })
