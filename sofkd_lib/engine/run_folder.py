"""A run folder: its files, resume modes, CSV logs, summary, and what a stopped run leaves behind."""
from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.data.io import json_ready, write_text_atomic
from sofkd_lib.weights.checkpoint import (
    CheckpointError,
    non_finite_tensors,
)

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "validation.csv", "config.json", "summary.json")


def prepare_out_dir(out_dir: Path, resume: str) -> bool:
    """Apply the resume mode; True when training continues from ``last.pt``."""
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
