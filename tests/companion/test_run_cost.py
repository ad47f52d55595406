"""Training cost of a recorded run (sofkd_lib/companion/run_cost.py): walls, pauses and core-hours by hand."""
from __future__ import annotations

import pytest

from sofkd_lib.companion import run_cost
from sofkd_lib.companion.stats import SeededRun


def _run() -> SeededRun:
    return SeededRun(run_id="hand", profile="smoke", date=None, repeat=None, teacher=None, seeds=(0, 1),
                     entries=("student", "phase1+2"), evals={}, provenance={})


def _invocation(start: str, end: str, wall: float, threads: int | None = None, torch_threads: int = 2) -> dict:
    inv = {"start": f"2026-12-01T{start}+00:00", "end": f"2026-12-01T{end}+00:00", "wall_seconds": wall,
           "hardware": {"torch_threads": torch_threads}}
    return inv if threads is None else {**inv, "threads": threads}


def test_compute_rows_sum_walls_and_cores_and_count_overlap_once():
    run = _run()
    # student: two seeds trained side by side 10:00-11:00 with one thread each, seed 1 resumed 12:00-12:30;
    # phase1+2: one invocation with no driver thread count (its hardware's torch threads: 2) 10:30-11:30.
    prov = {"student": {0: {"training_invocations": [_invocation("10:00:00", "11:00:00", 3600, 1)],
                            "training_seconds": 3000.0, "evaluation_seconds": 36.0},
                        1: {"training_invocations": [_invocation("10:00:00", "11:00:00", 3600, 1),
                                                     _invocation("12:00:00", "12:30:00", 1800, 1)],
                            "training_seconds": 4000.0, "evaluation_seconds": 36.0}},
            "phase1+2": {0: {"training_invocations": [{**_invocation("10:30:00", "11:30:00", 3600),
                                                      "reconstructed": "from the driver's log"}],
                             "training_seconds": 1800.0}}}
    run = SeededRun(**{**run.__dict__, "provenance": prov})
    rows = {r["entry"]: r for r in run_cost.compute_rows(run)}
    assert rows["student"]["wall_hours"] == 2.5 and rows["student"]["core_hours"] == 2.5
    assert rows["student"]["trainer_hours"] == pytest.approx(7000 / 3600) and rows["student"]["invocations"] == 3
    assert rows["student"]["evaluation_hours"] == pytest.approx(0.02)
    assert rows["phase1+2"]["core_hours"] == 2.0  # 1 h on 2 threads
    assert (rows["student"]["reconstructed"], rows["phase1+2"]["reconstructed"], rows["all"]["reconstructed"]) == (0, 1, 1)
    # at least one process ran 10:00-11:30 and 12:00-12:30: 2 h, though 4.5 h of training walls were summed
    assert rows["all"]["wall_hours"] == 2.0 and rows["all"]["core_hours"] == 4.5 and rows["all"]["invocations"] == 4
    assert run_cost.compute_table(run).loc["all models", "core-hours"] == "4.50"
    assert rows["all"]["paused_hours"] is None and run_cost.compute_table(run).loc["all models", "paused (h)"] == "not kept"
    seed0 = {r["entry"]: r for r in run_cost.compute_rows(run, seeds=(0,))}
    assert seed0["student"]["wall_hours"] == 1.0 and seed0["all"]["wall_hours"] == 1.5
    # A model set aside (13:00-14:00, one thread) still counts in the run's cost, not in one seed's.
    aside = {"unit": "phase1+2/seed1", "training_invocations": [_invocation("13:00:00", "14:00:00", 3600, 1)],
             "training_seconds": 3500.0, "evaluation_seconds": 72.0}
    run = SeededRun(**{**run.__dict__, "set_aside": (aside,)})
    rows = {r["entry"]: r for r in run_cost.compute_rows(run)}
    assert (rows["set aside"]["model"], rows["set aside"]["seeds"], rows["set aside"]["core_hours"]) == \
        ("set aside (not in the tables)", 1, 1.0)
    assert rows["all"]["wall_hours"] == 3.0 and rows["all"]["core_hours"] == 5.5
    assert rows["all"]["evaluation_hours"] == pytest.approx(0.04) and rows["all"]["invocations"] == 5
    assert "set aside" not in {r["entry"] for r in run_cost.compute_rows(run, seeds=(0,))}


def test_paused_minutes_are_not_counted_as_core_hours():
    """Two threads for 1 h, stopped 15 min of it while a test suite ran: 1.5 core-hours, 0.25 h paused."""
    run = _run()
    inv = {**_invocation("10:00:00", "11:00:00", 3600, 2), "paused_seconds": 900.0}
    run = SeededRun(**{**run.__dict__, "provenance": {"student": {0: {"training_invocations": [inv],
                                                                       "training_seconds": 3000.0}}}})
    rows = {r["entry"]: r for r in run_cost.compute_rows(run)}
    assert rows["student"]["core_hours"] == 1.5 and rows["student"]["paused_hours"] == 0.25
    assert rows["student"]["wall_hours"] == 1.0 and rows["all"]["paused_hours"] == 0.25
    assert run_cost.compute_table(run).loc["all models", "paused (h)"] == "0.25"
