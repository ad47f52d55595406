"""When has a run converged? A plateau criterion on its validation curve.

A run has *plateaued* when the last part of its validation curve no longer
improves on what came before: the best validation PSNR over the last
``tail_fraction`` of the validations is at most ``tolerance_db`` above the best
of all earlier validations. A curve that drops in its tail has plateaued too
(it stopped improving; whether it overfits is a separate question). With fewer
than ``min_points`` validations nothing can be said, and the answer is no.

Used by the miniature Table 1 (``bench/miniature.py``) to decide that a model
was trained out before it is distilled from or recorded, and by the book to
state the criterion beside the curves.

:func:`log_trend` describes a curve that fails the test: how fast it still
rises per doubling of iterations at its last lr, and so what the test's last
part would gain at that rate in a run of any length. It is a description read
afterwards, not part of the criterion.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sofkd_lib.engine.config import TrainConfig

#: Default criterion: the last third of the validations gains under 0.05 dB on the best before it.
TAIL_FRACTION = 1 / 3
TOLERANCE_DB = 0.05
MIN_POINTS = 6


@dataclass(frozen=True)
class Plateau:
    """The plateau test on one validation curve (see the module docstring)."""

    plateaued: bool
    n_points: int
    n_tail: int
    best_before: float | None  # best PSNR before the tail (None: too few points)
    best_tail: float | None  # best PSNR in the tail
    gain_db: float | None  # best_tail - best_before: what the tail still added
    tolerance_db: float
    min_points: int = MIN_POINTS  # how many validations the test needed

    def describe(self) -> str:
        """One line: the verdict and the numbers it rests on."""
        if self.n_points == 0:
            return "no validations yet"
        if self.gain_db is None:
            return f"not enough validations to judge ({self.n_points} < {self.min_points} needed)"
        verdict = "plateaued" if self.plateaued else "still improving"
        return (f"{verdict}: best of the last {self.n_tail} of {self.n_points} validations "
                f"{self.best_tail:.3f} dB vs {self.best_before:.3f} dB before "
                f"(gain {self.gain_db:+.3f} dB, tolerance {self.tolerance_db} dB)")


def tail_length(n_points: int, tail_fraction: float = TAIL_FRACTION) -> int:
    """How many of ``n_points`` validations form the last part the test reads (at least one on each side)."""
    return min(n_points - 1, max(1, math.ceil(n_points * tail_fraction)))


def plateau(psnr: Sequence[float], tail_fraction: float = TAIL_FRACTION, tolerance_db: float = TOLERANCE_DB,
            min_points: int = MIN_POINTS) -> Plateau:
    """The plateau test on validation PSNRs ``psnr`` (in validation order, dB)."""
    if not 0 < tail_fraction < 1:
        raise ValueError(f"tail_fraction must lie in (0, 1), got {tail_fraction!r}")
    if not (math.isfinite(tolerance_db) and tolerance_db >= 0):
        raise ValueError(f"tolerance_db must be a number >= 0, got {tolerance_db!r}")
    if min_points < 2:
        raise ValueError(f"min_points must be >= 2, got {min_points!r}")
    values = [float(v) for v in psnr]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"validation PSNRs must be finite numbers, got {values}")
    n = len(values)
    if n < min_points:
        return Plateau(False, n, 0, None, None, None, tolerance_db, min_points)
    n_tail = tail_length(n, tail_fraction)
    before, tail = max(values[: n - n_tail]), max(values[n - n_tail:])
    gain = tail - before
    return Plateau(gain <= tolerance_db, n, n_tail, before, tail, gain, tolerance_db, min_points)


@dataclass(frozen=True)
class Trend:
    """Least-squares line of validation PSNR on log2(iteration) over the validations after ``since``."""

    db_per_doubling: float  # slope: dB gained each time the iteration count doubles
    low: float  # its interval at ``level``, assuming independent validation noise
    high: float
    level: float
    n_points: int
    since: int  # the line uses validations at iterations > since

    def tail_gain_db(self, tail_fraction: float = TAIL_FRACTION) -> float:
        """What the last ``tail_fraction`` of a run would gain at this rate, whatever the run's length: the
        line rises as much from (1 − f)·N to N as from (1 − f)·2N to 2N, with f = ``tail_fraction``."""
        if not 0 < tail_fraction < 1:
            raise ValueError(f"tail_fraction must lie in (0, 1), got {tail_fraction!r}")
        return self.db_per_doubling * math.log2(1 / (1 - tail_fraction))


def log_trend(iterations: Sequence[int], psnr: Sequence[float], since: int = 0, level: float = 0.95) -> Trend:
    """The :class:`Trend` of a validation curve after iteration ``since`` (for example the last lr milestone,
    so the line reads a stretch at one lr). Needs at least three validations there."""
    from scipy import stats as sps

    points = [(int(i), float(p)) for i, p in zip(iterations, psnr, strict=True) if int(i) > since]
    if len(points) < 3:
        raise ValueError(f"log_trend needs at least 3 validations after iteration {since}, got {len(points)}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    x = [math.log2(i) for i, _ in points]
    fit = sps.linregress(x, [p for _, p in points])
    half = float(sps.t.ppf(0.5 + level / 2, len(points) - 2)) * fit.stderr
    return Trend(float(fit.slope), float(fit.slope - half), float(fit.slope + half), level, len(points), since)


def tail_lr_share(config: TrainConfig, tail_fraction: float = TAIL_FRACTION) -> float:
    """The share of a run's summed learning rate that falls in the last ``tail_fraction`` of its iterations.

    A plateau read where this share is small says little: the optimiser hardly moves there whether or not the
    model could still improve, so a flat tail may be the lr's doing, not the model's.
    """
    from sofkd_lib.engine.train import lr_trajectory

    if not 0 < tail_fraction < 1:
        raise ValueError(f"tail_fraction must lie in (0, 1), got {tail_fraction!r}")
    lrs = lr_trajectory(config)
    start = len(lrs) - round(tail_fraction * len(lrs))
    return float(lrs[start:].sum() / lrs.sum())


def _validation_rows(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a training run folder's ``validation.csv``; a clear error when it is missing or has no PSNR."""
    import csv

    path = Path(run_dir) / "validation.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no validation log {path} (was the run trained with val_every > 0?)")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "psnr" not in rows[0]:
        raise ValueError(f"{path} has no 'psnr' column (columns: {list(rows[0])})")
    return rows


def run_plateau(run_dir: str | os.PathLike, **kwargs: float) -> Plateau:
    """:func:`plateau` of a training run folder's ``validation.csv`` (keyword arguments passed on)."""
    return plateau([float(r["psnr"]) for r in _validation_rows(run_dir)], **kwargs)


def run_trend(run_dir: str | os.PathLike, since: int) -> Trend | None:
    """:func:`log_trend` of a training run folder's ``validation.csv`` after iteration ``since``; None while
    fewer than three validations follow it."""
    rows = _validation_rows(run_dir)
    if sum(int(r["iteration"]) > since for r in rows) < 3:
        return None
    return log_trend([int(r["iteration"]) for r in rows], [float(r["psnr"]) for r in rows], since=since)
