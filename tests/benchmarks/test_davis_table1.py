"""The DAVIS Table 1 driver (bench/davis_table1.py): units, train commands, and the room measured first."""
from __future__ import annotations

import json

import pytest

import bench.davis_table1 as dt
from bench.davis_table1 import ROOM_UNIT, STUDENTS, TEACHER, DavisDriver


def _driver(tmp_path, overrides=None, **kw):
    return DavisDriver(tmp_path, "davis-test", (0, 1), {"data_root": "/data/davis", **(overrides or {})},
                       threads=1, **kw)


def test_units_budgets_and_train_commands(tmp_path):
    d = _driver(tmp_path)
    assert d.units() == [(u, s) for s in (0, 1) for u in STUDENTS] and ROOM_UNIT == ("student", 0)
    totals = {u: d.config(u, 1).total_iterations for u in STUDENTS}
    assert totals == {"student": 16_000, "student-1phase": 8_000, "phase1": 8_000, "phase2": 8_000, "phase1+2": 8_000}
    assert d.config("student-1phase", 1).seed == 1 and d.config("phase1", 0).lr_schedule == "phase-shape"
    cmd = d.train_command("student-1phase", 1)
    assert cmd[cmd.index("--variant") + 1] == "student" and cmd[cmd.index("--profile") + 1] == "davis-cpu"
    assert {"--set", "student_budget=one-phase"} <= set(cmd) and "seed=1" in cmd and "--teacher" not in cmd
    assert cmd[cmd.index("--out") + 1] == str(tmp_path / "work" / "davis-test" / "student-1phase" / "seed1")
    cmd = d.train_command("phase1+2", 1)
    assert cmd[cmd.index("--teacher") + 1] == str(TEACHER)
    assert cmd[cmd.index("--init") + 1] == str(d.out("phase1", 1) / "last.pt")
    # The teacher is recorded, not trained here: KD rows wait only for their own inputs.
    assert d.needs("phase2", 0) == [] and d.needs("phase1+2", 1) == [("phase1", 1)]


def _fake(d, monkeypatch, rooms_enough):
    trained = []

    def fake_train(unit, seed, code_info):
        out = d.out(unit, seed)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"iteration": d.config(unit, seed).total_iterations}))
        (out / "last.pt").write_bytes(b"")
        trained.append((unit, seed, d.threads))

    def fake_room():
        return {"proceed": rooms_enough, "rule": "room >= 0.3 dB", "columns": []}

    monkeypatch.setattr(d, "train", fake_train)
    monkeypatch.setattr(d, "snapshot", dict)
    monkeypatch.setattr(d, "room", fake_room)
    monkeypatch.setattr(dt, "sha256", lambda path: dt.TEACHER_SHA256)
    return trained


def test_no_student_but_the_room_unit_trains_before_the_room_is_enough(tmp_path, monkeypatch):
    if not TEACHER.is_file():
        pytest.skip(f"the recorded teacher {TEACHER} is not in this checkout")
    d = _driver(tmp_path, room_threads=2)
    trained = _fake(d, monkeypatch, rooms_enough=False)
    assert d.run() == 4
    assert trained == [("student", 0, 2)]  # the room unit alone, with the room's threads
    assert "no other student is trained" in (tmp_path / "driver.log").read_text()

    d2 = _driver(tmp_path / "b", room_threads=2)
    trained = _fake(d2, monkeypatch, rooms_enough=True)
    assert d2.run() == 0
    assert trained[0] == ("student", 0, 2) and all(t == 1 for _, _, t in trained[1:])
    assert sorted(trained[1:]) == sorted((u, s, 1) for u, s in d2.units() if (u, s) != ROOM_UNIT)


def test_a_teacher_other_than_the_pinned_file_is_refused(tmp_path, monkeypatch):
    d = _driver(tmp_path)
    trained = _fake(d, monkeypatch, rooms_enough=True)
    monkeypatch.setattr(dt, "sha256", lambda path: "0" * 64)
    assert d.run() == 2 and trained == []


def test_record_command_scores_the_held_out_column_and_repeats_the_overrides(tmp_path):
    cmd = _driver(tmp_path).record_command()
    assert cmd[:4] == ["python", "-m", "sofkd_lib", "record"]
    assert cmd[cmd.index("--teacher") + 1] == str(TEACHER) and cmd[cmd.index("--seeds") + 1] == "0,1"
    assert cmd[cmd.index("--column") + 1] == "davis-2017-val-held-out"
    assert cmd[cmd.index("--variants") + 1:cmd.index("--teacher")] == list(STUDENTS)
    assert cmd[-2:] == ["--set", "data_root=/data/davis"] and "--min-teacher-gain" not in cmd  # the 1 dB gate holds


def test_budget_plan_sums_every_students_iterations_times_its_step_time():
    steps = {"seconds_per_step": {"1": {"teacher": 2.0, "student": 0.5, "phase1": 0.25, "phase2": 1.0,
                                        "phase1+2": 1.0}}}
    plan = dt.budget_plan(steps, threads=1, seeds=2)
    # 2 seeds x (16,000 x 0.5 + 8,000 x 0.5 + 8,000 x 0.25 + 8,000 x 1 + 8,000 x 1) s = 60,000 s
    assert plan["core_hours"] == pytest.approx(60_000 / 3600)
    assert plan["units"]["student-1phase"] == {"iterations": 8_000, "seconds_per_step": 0.5,
                                               "core_hours": pytest.approx(2 * 4_000 / 3600)}
    assert dt.budget_plan(steps, threads=1)["seeds"] == 3 and plan["planned_core_hours"] == 40.0
