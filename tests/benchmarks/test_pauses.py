"""Pausing a driver's trainers (bench/pauses.py): real child processes stopped and continued, and the
seconds they were stopped taken out of each invocation."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bench.pauses import PAUSES, Pauses


def _state(pid: int) -> str:
    """The process state letter from /proc: T when stopped."""
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def sleepers():
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_pause_stops_the_running_trainers_and_one_started_during_the_pause(tmp_path, sleepers):
    a, b, late = sleepers
    pauses = Pauses(tmp_path)
    pauses.started("student seed 1", a.pid)
    pauses.started("phase1 seed 0", b.pid)
    pauses.ended("phase1 seed 0")  # it finished: not stopped
    assert pauses.trainers() == {"student seed 1": a.pid}
    assert pauses.pause("") == 2 and not (tmp_path / PAUSES).exists()  # why is required
    assert pauses.pause("CI of abc") == 0
    time.sleep(0.2)
    assert _state(a.pid) == "T" and _state(b.pid) != "T"
    assert pauses.pause("again") == 2  # one pause open at a time
    pauses.started("phase2 seed 0", late.pid)  # the driver started it while paused: stopped at once
    time.sleep(0.2)
    assert _state(late.pid) == "T"
    (entry,) = pauses.entries()
    assert entry["end"] is None and entry["why"] == "CI of abc"
    assert set(entry["trainers"]) == {"student seed 1", "phase2 seed 0"}
    assert pauses.unpause() == 0 and pauses.unpause() == 2
    time.sleep(0.2)
    assert _state(a.pid) != "T" and _state(late.pid) != "T" and pauses.entries()[0]["end"] is not None


def test_paused_seconds_are_the_overlap_of_each_pause_with_an_invocation(tmp_path):
    t = "2026-12-07T{}+00:00".format
    (tmp_path / PAUSES).write_text(json.dumps({"pauses": [
        {"start": t("10:10:00"), "end": t("10:20:00"), "why": "CI", "trainers": {"student seed 1": {"pid": 1}}},
        {"start": t("10:50:00"), "end": t("11:10:00"), "why": "CI",
         "trainers": {"student seed 1": {"pid": 1, "from": t("10:55:00")}, "phase1 seed 0": {"pid": 2}}},
    ]}))
    pauses = Pauses(tmp_path)
    # 10 min in the first pause, 5 of the second (it joined at 10:55; the invocation ended at 11:00)
    assert pauses.paused_seconds("student seed 1", t("10:00:00"), t("11:00:00")) == 900.0
    assert pauses.paused_seconds("phase1 seed 0", t("10:00:00"), t("11:00:00")) == 600.0
    assert pauses.paused_seconds("phase2 seed 0", t("10:00:00"), t("11:00:00")) == 0.0
    wall = tmp_path / "record_wall.json"
    wall.write_text(json.dumps({"invocations": [{"start": t("10:00:00"), "end": t("11:00:00"), "wall_seconds": 3600},
                                                {"start": t("11:30:00"), "end": t("12:00:00"), "wall_seconds": 1800}]}))
    pauses.annotate(wall, "student seed 1")
    assert [i["paused_seconds"] for i in json.loads(wall.read_text())["invocations"]] == [900.0, 0.0]


def test_a_corrupt_pauses_file_is_one_line_naming_it(tmp_path):
    (tmp_path / PAUSES).write_text("{oops")
    with pytest.raises(SystemExit, match="cannot read .*pauses.json"):
        Pauses(tmp_path).entries()


def test_a_driver_stopped_during_a_pause_still_ends_its_trainer(sleepers):
    """SIGTERM alone waits on a stopped process until it is continued: the driver's stop sends both."""
    import os
    import signal

    from bench.miniature import _stop

    proc = sleepers[0]
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.1)
    _stop(proc)
    assert proc.wait(timeout=10) == -signal.SIGTERM
