"""schedule: waves of independent runs and the critical path, on record's dependency graph."""
from __future__ import annotations

import pytest

from sofkd_lib.companion import pipeline
from sofkd_lib.companion.recording import options as record_options
from sofkd_lib.companion.schedule import critical_path, needs, run_seconds, stages
from sofkd_lib.engine.config import VARIANTS


def test_one_dependency_graph():
    # The pipeline keeps its own copy of the graph; the scheduler reads record's. They must agree.
    assert {v: needs(v) for v in VARIANTS} == dict(pipeline.DEPENDS) == dict(record_options.DEPENDENCIES)


def test_stages_of_table1():
    assert stages(VARIANTS) == [("teacher", "student"), ("phase1", "phase2"), ("phase1+2",)]
    # A selection drags in what it needs.
    assert stages(["phase1+2"]) == [("teacher",), ("phase1",), ("phase1+2",)]
    assert stages(["student", "phase2"]) == [("teacher", "student"), ("phase2",)]
    with pytest.raises(ValueError, match="no variants"):
        stages([])
    with pytest.raises(record_options.RecordError, match="unknown entry 'phase3'"):
        stages(["phase3"])


PAPER = {"teacher": 200_000, "student": 400_000, "phase1": 200_000, "phase2": 200_000, "phase1+2": 200_000}
STEP = {"teacher": 0.040, "student": 0.030, "phase1": 0.020, "phase2": 0.050, "phase1+2": 0.050}


def test_critical_path_of_the_paper_schedule():
    # teacher → phase1 → phase1+2: 200k × (0.040 + 0.020 + 0.050) = 22,000 s, longer than
    # teacher → phase2 (18,000 s) and the no-KD student alone (400k × 0.030 = 12,000 s).
    seconds, chain = critical_path(STEP, PAPER)
    assert chain == ("teacher", "phase1", "phase1+2")
    assert seconds == pytest.approx(22_000.0)
    # A 6,000 s compile of phase 2 makes teacher → phase2 (24,000 s) the longer chain.
    seconds, chain = critical_path(STEP, PAPER, {"phase2": 6_000.0})
    assert chain == ("teacher", "phase2") and seconds == pytest.approx(24_000.0)
    # A slow no-KD student is a chain of its own.
    seconds, chain = critical_path({**STEP, "student": 0.060}, PAPER)
    assert chain == ("student",) and seconds == pytest.approx(24_000.0)


def test_run_seconds_and_bad_input():
    assert run_seconds(STEP, {"teacher": 100}, {"teacher": 3.0}) == {"teacher": pytest.approx(7.0)}
    with pytest.raises(ValueError, match=r"no step time for \['phase1'\]"):
        run_seconds({"teacher": 0.1}, {"teacher": 1, "phase1": 1})
    with pytest.raises(ValueError, match=r"need \['teacher'\]"):
        critical_path(STEP, {"phase1": 10})
