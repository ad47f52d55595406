"""Room for distillation: is the teacher measurably above the student trained without it?

Distillation can only close a gap that exists. Before any student is trained for a
record (issue 28), the teacher is scored against one no-KD student trained at the
budget the students will get, frame by frame on each test column; the *room* is
teacher − student, averaged over sequences, with a paired bootstrap interval over
frames (:func:`sofkd_lib.companion.stats.paired_bootstrap`). The students are
trained only where the room is at least ``min_db`` on every column and its interval
excludes zero: "KD − no-KD ≈ 0" says nothing about KD when there was nothing to close.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sofkd_lib.companion.stats import Interval, StatsError, paired_bootstrap

#: The least room, in dB of average PSNR, that lets the students be trained (issue 28).
MIN_ROOM_DB = 0.3


@dataclass(frozen=True)
class Room:
    """Teacher − no-KD student on one test column."""

    dataset: str
    teacher_psnr: float
    student_psnr: float
    room: Interval  # average over sequences, with its interval
    level: float
    min_db: float

    @property
    def enough(self) -> bool:
        return self.room.estimate >= self.min_db and self.room.low > 0

    def describe(self) -> str:
        verdict = "enough room" if self.enough else "not enough room"
        return (f"{self.dataset}: teacher {self.teacher_psnr:.3f} dB, no-KD student {self.student_psnr:.3f} dB, "
                f"room {self.room.estimate:+.3f} dB [{self.room.low:+.3f}, {self.room.high:+.3f}] "
                f"({self.level:.0%}); {verdict} (needs >= {self.min_db} dB with the interval above zero)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["enough"] = self.enough
        return out


def _per_frame(result: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {seq: np.asarray([data["psnr"]], dtype=np.float64) for seq, data in result["sequences"].items()}


def measure_room(teacher: Mapping[str, Any], student: Mapping[str, Any], min_db: float = MIN_ROOM_DB,
                 level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> Room:
    """The room on one column from two :func:`~sofkd_lib.evaluation.evaluate.evaluate_model` results
    (the same dataset and frames, else :class:`~sofkd_lib.companion.stats.StatsError`)."""
    if teacher.get("dataset") != student.get("dataset"):
        raise StatsError(f"the teacher was scored on {teacher.get('dataset')!r}, the student on "
                         f"{student.get('dataset')!r}")
    for seq, data in teacher["sequences"].items():
        other = student["sequences"].get(seq)
        if other is None or other["frames"] != data["frames"]:
            raise StatsError(f"{teacher.get('dataset')}: teacher and student scored other frames of {seq!r}")
    diff = paired_bootstrap(_per_frame(teacher), _per_frame(student), n_boot=n_boot, level=level, seed=seed)
    return Room(str(teacher.get("dataset")), float(teacher["average"]["psnr"]), float(student["average"]["psnr"]),
                diff["average"], level, min_db)


def room_verdict(rooms: list[Room]) -> dict[str, Any]:
    """Every column's room and whether the students may be trained (enough room on all of them)."""
    if not rooms:
        raise StatsError("no column to measure the room on")
    return {"columns": [r.to_dict() for r in rooms], "proceed": all(r.enough for r in rooms),
            "rule": f"room >= {rooms[0].min_db} dB with its {rooms[0].level:.0%} interval above zero on every column"}
