"""The room for distillation (sofkd_lib.companion.room): teacher − no-KD student, paired by frame, and the gate."""
from __future__ import annotations

import pytest

from sofkd_lib.companion.room import MIN_ROOM_DB, measure_room, room_verdict
from sofkd_lib.companion.stats import StatsError


def _result(dataset: str, per_sequence: dict[str, list[float]]) -> dict:
    sequences = {q: {"psnr": v, "frames": list(range(3, 3 + len(v)))} for q, v in per_sequence.items()}
    means = [sum(v) / len(v) for v in per_sequence.values()]
    return {"dataset": dataset, "sequences": sequences, "average": {"psnr": sum(means) / len(means)}}


def test_a_constant_gap_is_the_room_with_a_zero_width_interval():
    teacher = _result("vid4", {"a": [30.0, 31.0, 29.0], "b": [25.0, 26.0]})
    student = _result("vid4", {"a": [29.5, 30.5, 28.5], "b": [24.5, 25.5]})
    room = measure_room(teacher, student, n_boot=200)
    assert room.room.estimate == pytest.approx(0.5)
    assert (room.room.low, room.room.high) == (pytest.approx(0.5), pytest.approx(0.5))
    assert room.enough and MIN_ROOM_DB == 0.3
    assert "room +0.500 dB [+0.500, +0.500]" in room.describe()


def test_room_under_the_threshold_or_reaching_zero_stops_the_students():
    teacher = _result("davis", {"a": [30.0, 30.0, 30.0, 30.0]})
    small = measure_room(teacher, _result("davis", {"a": [29.8, 29.8, 29.8, 29.8]}), n_boot=200)
    assert small.room.estimate == pytest.approx(0.2) and not small.enough
    # Mean room 0.5 dB, but one frame in four carries it all: the interval reaches zero.
    noisy = measure_room(teacher, _result("davis", {"a": [30.0, 30.0, 30.0, 28.0]}), n_boot=2_000)
    assert noisy.room.estimate == pytest.approx(0.5) and noisy.room.low == pytest.approx(0.0)
    assert not noisy.enough
    big = measure_room(teacher, _result("davis", {"a": [29.0, 29.0, 29.0, 29.0]}), n_boot=200)
    verdict = room_verdict([big, small])
    assert verdict["proceed"] is False and [c["enough"] for c in verdict["columns"]] == [True, False]
    assert room_verdict([big])["proceed"] is True


def test_room_needs_the_same_frames_of_the_same_set():
    teacher = _result("vid4", {"a": [30.0, 31.0]})
    with pytest.raises(StatsError, match="other frames"):
        measure_room(teacher, _result("vid4", {"a": [30.0, 31.0, 32.0]}))
    with pytest.raises(StatsError, match="scored on"):
        measure_room(teacher, _result("davis", {"a": [30.0, 31.0]}))
    with pytest.raises(StatsError, match="no column"):
        room_verdict([])
