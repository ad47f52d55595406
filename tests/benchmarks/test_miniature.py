"""The miniature Table 1 driver (bench/miniature.py): schedule order, resume bookkeeping, record command."""
from __future__ import annotations

import json

from bench.miniature import PROFILE, Driver


def _driver(tmp_path, overrides=None):
    return Driver(tmp_path, "mini-test", (0, 2), overrides or {}, threads=1)


def test_schedule_teacher_first_then_seed_by_seed(tmp_path):
    assert _driver(tmp_path).units() == [
        ("teacher", None),
        ("student", 0), ("phase1", 0), ("phase2", 0), ("phase1+2", 0),
        ("student", 2), ("phase1", 2), ("phase2", 2), ("phase1+2", 2),
    ]


def test_folders_are_records_multi_seed_layout(tmp_path):
    d = _driver(tmp_path)
    assert d.out("teacher", None) == tmp_path / "work" / "mini-test" / "teacher"
    assert d.out("phase1+2", 2) == tmp_path / "work" / "mini-test" / "phase1+2" / "seed2"
    assert d.config("phase1", 2).seed == 2 and d.config("teacher", None).seed == 0
    assert d.config("student", 0).profile == PROFILE == "miniature"


def test_finished_and_iteration_read_the_run_folder(tmp_path):
    d = _driver(tmp_path, {"phase_iterations": 30, "teacher_iterations": 60, "lr_step": 12})
    out = d.out("phase2", 0)
    assert d.iteration("phase2", 0) == 0 and not d.finished("phase2", 0)
    out.mkdir(parents=True)
    (out / "metrics.csv").write_text("iteration,loss\n10,0.5\n20,0.4\n")
    (out / "summary.json").write_text(json.dumps({"iteration": 20}))
    (out / "last.pt").write_bytes(b"")
    (out / "summary.json").write_text(json.dumps({"iteration": 30}))
    assert d.iteration("phase2", 0) == 20 and not d.finished("phase2", 0)  # 30 of 60: phase 2 alone, two phases
    (out / "summary.json").write_text(json.dumps({"iteration": 60}))
    assert d.finished("phase2", 0)
    assert not d.finished("student", 0)  # the no-KD student needs 2 x 30 too, and has none


def test_record_command_repeats_the_overrides(tmp_path):
    cmd = _driver(tmp_path, {"teacher_iterations": 30_000}).record_command(shell=True)
    assert cmd == (f"python -m sofkd_lib record --run-id mini-test --profile miniature --seeds 0,2 "
                   f"--work {tmp_path / 'work'} --min-teacher-gain none --quiet --set teacher_iterations=30000")


def test_teacher_is_extended_until_it_plateaus_and_the_budget_is_kept(tmp_path, monkeypatch):
    import bench.miniature as mini
    from sofkd_lib.companion.convergence import Plateau

    d = Driver(tmp_path, "mini-test", (0,), {"phase_iterations": 30, "lr_step": 12, "teacher_iterations": 60},
               threads=1, max_teacher=120)
    trained = []

    def fake_train(variant, seed, code_info):  # a finished run folder at the config's budget
        out = d.out(variant, seed)
        out.mkdir(parents=True, exist_ok=True)
        total = d.config(variant, seed).total_iterations
        (out / "summary.json").write_text(json.dumps({"iteration": total}))
        (out / "last.pt").write_bytes(b"")
        trained.append((variant, seed, total))

    def fake_plateau(run_dir):  # the teacher plateaus from 90 iterations on
        total = json.loads((run_dir / "summary.json").read_text())["iteration"]
        return Plateau(total >= 90, 10, 4, 27.0, 27.0, 0.0, 0.05)

    monkeypatch.setattr(d, "train", fake_train)
    monkeypatch.setattr(d, "snapshot", dict)
    monkeypatch.setattr(mini, "run_plateau", fake_plateau)
    assert d.run() == 0
    assert trained[:2] == [("teacher", None, 60), ("teacher", None, 90)]  # extended by one phase (30)
    # the no-KD student, phase 1 and phase 2 alone two phases each (the profile's *_budget), phase 1+2 one
    assert trained[2:] == [("student", 0, 60), ("phase1", 0, 60), ("phase2", 0, 60), ("phase1+2", 0, 30)]
    assert json.loads((tmp_path / "overrides.json").read_text())["teacher_iterations"] == 90
    assert d.config("phase1", 0).teacher_iterations == 90  # every run resolves the extended budget

    # A teacher that never plateaus within the cap: the students wait (exit 3).
    d2 = Driver(tmp_path / "b", "mini-test", (0,), {"phase_iterations": 30, "lr_step": 12, "teacher_iterations": 60},
                threads=1, max_teacher=80)
    trained.clear()
    monkeypatch.setattr(d2, "train", fake_train)
    monkeypatch.setattr(d2, "snapshot", dict)
    monkeypatch.setattr(d2, "finished", lambda v, s: True)  # the teacher is at its budget already
    monkeypatch.setattr(mini, "run_plateau", lambda run_dir: Plateau(False, 10, 4, 27.0, 27.5, 0.5, 0.05))
    assert d2.run() == 3 and trained == []
    assert "has not plateaued within 80 iterations" in (tmp_path / "b" / "driver.log").read_text()


def test_jobs_train_students_in_parallel_once_their_inputs_are_finished(tmp_path, monkeypatch):
    import threading
    import time

    import bench.miniature as mini
    from sofkd_lib.companion.convergence import Plateau

    d = Driver(tmp_path, "mini-test", (0, 1), {"phase_iterations": 30, "lr_step": 12, "teacher_iterations": 60},
               threads=1, jobs=2)
    events, lock, active, most = [], threading.Lock(), [0], [0]

    def fake_train(variant, seed, code_info):
        for need in d.needs(variant, seed):  # its inputs were finished before it started
            assert d.finished(*need), (variant, seed, need)
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            events.append(("start", variant, seed))
        time.sleep(0.05)
        out = d.out(variant, seed)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"iteration": d.config(variant, seed).total_iterations}))
        (out / "last.pt").write_bytes(b"")
        with lock:
            active[0] -= 1
            events.append(("end", variant, seed))

    monkeypatch.setattr(d, "train", fake_train)
    monkeypatch.setattr(d, "snapshot", dict)
    monkeypatch.setattr(mini, "run_plateau", lambda run_dir: Plateau(True, 10, 4, 27.0, 27.0, 0.0, 0.05))
    assert d.needs("phase1+2", 1) == [("teacher", None), ("phase1", 1)] and d.needs("student", 0) == []
    assert d.run() == 0
    started = [(v, s) for kind, v, s in events if kind == "start"]
    assert started[0] == ("teacher", None) and sorted(started[1:], key=str) == sorted(d.units()[1:], key=str)
    assert most[0] == 2  # two at a time, never more
    assert all(d.finished(v, s) for v, s in d.units())


def test_jobs_start_the_ready_run_with_most_iterations_left_first(tmp_path, monkeypatch):
    """Resumed runs: phase 2 alone has 60 iterations left, phase 1 40, the no-KD student 10. Phase 2 and
    phase 1 start first; when phase 1 ends, its phase 1+2 (30 left) goes before the student (10 left)."""
    import time

    import bench.miniature as mini
    from sofkd_lib.companion.convergence import Plateau

    d = Driver(tmp_path, "mini-test", (0,), {"phase_iterations": 30, "lr_step": 12, "teacher_iterations": 60},
               threads=1, jobs=2)
    teacher = d.out("teacher", None)
    teacher.mkdir(parents=True)
    (teacher / "summary.json").write_text(json.dumps({"iteration": 60}))
    (teacher / "last.pt").write_bytes(b"")
    for variant, done in (("student", 50), ("phase1", 20)):
        d.out(variant, 0).mkdir(parents=True)
        (d.out(variant, 0) / "metrics.csv").write_text(f"iteration,loss\n{done},0.5\n")
    assert [d.iterations_left(u) for u in d.units()[1:]] == [10, 40, 60, 30]
    started = []

    def fake_train(variant, seed, code_info):  # time proportional to the iterations left
        started.append(variant)
        time.sleep(0.01 * d.iterations_left((variant, seed)))
        d.out(variant, seed).mkdir(parents=True, exist_ok=True)
        (d.out(variant, seed) / "summary.json").write_text(
            json.dumps({"iteration": d.config(variant, seed).total_iterations}))
        (d.out(variant, seed) / "last.pt").write_bytes(b"")

    monkeypatch.setattr(d, "train", fake_train)
    monkeypatch.setattr(d, "snapshot", dict)
    monkeypatch.setattr(mini, "run_plateau", lambda run_dir: Plateau(True, 10, 4, 27.0, 27.0, 0.0, 0.05))
    assert d.run() == 0
    # The two workers choose under one lock, but record their start outside it: either may append first.
    assert set(started[:2]) == {"phase2", "phase1"} and started[2:] == ["phase1+2", "student"]


def test_a_set_no_run_can_train_with_is_refused_before_it_is_kept(tmp_path, capsys):
    """A bad --set stops the driver with a clear error and leaves no overrides.json, so the corrected --set
    does not clash with a value that was never trained with."""
    import pytest

    from bench.miniature import main

    base = ["status", "--root", str(tmp_path), "--run-id", "mini-test", "--seeds", "0"]
    with pytest.raises(SystemExit) as exc:
        main(["run", *base[1:], "--set", "val_max_frames=2"])
    assert exc.value.code == 2 and "TrainConfig.val_max_frames must be None or >= 5, got 2" in capsys.readouterr().err
    assert not (tmp_path / "overrides.json").exists() and not (tmp_path / "driver.log").exists()
    assert main([*base, "--set", "val_max_frames=5"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:2] == ["teacher", "0/20000"]


def test_an_invocation_is_in_record_wall_from_its_start_and_updated_until_it_ends(tmp_path, monkeypatch):
    """The entry exists while the trainer runs (a driver killed without warning leaves it at its last
    heartbeat), is replaced, not duplicated, by each heartbeat, and says how the invocation ended."""
    import subprocess

    import pytest

    import bench.miniature as mini

    d = _driver(tmp_path, {"phase_iterations": 30, "teacher_iterations": 60, "lr_step": 12})
    out = d.out("phase1", 0)
    wall = out / "record_wall.json"
    seen = []

    def fake_run(cmd, code, variant, seed, total, heartbeat):
        seen.append(json.loads(wall.read_text())["invocations"][-1]["ended"])  # written before the trainer ran
        heartbeat()
        heartbeat()
        seen.append(json.loads(wall.read_text())["invocations"])
        (out / "summary.json").write_text(json.dumps({"iteration": 30}))
        return subprocess.CompletedProcess(cmd, 0, "done\n", "")

    monkeypatch.setattr(d, "_run_logged", fake_run)
    d.train("phase1", 0, {"commit": "abc"})
    assert seen[0] == mini.RUNNING and len(seen[1]) == 1 and seen[1][0]["ended"] == mini.RUNNING
    (entry,) = json.loads(wall.read_text())["invocations"]
    assert entry["ended"] == "finished" and entry["code"] == {"commit": "abc"} and entry["threads"] == 1
    assert entry["start"] <= entry["end"] and "train --variant phase1" in entry["command"]

    def stopped(cmd, code, variant, seed, total, heartbeat):
        raise KeyboardInterrupt

    monkeypatch.setattr(d, "_run_logged", stopped)
    with pytest.raises(KeyboardInterrupt):
        d.train("phase1", 0, {"commit": "abc"})
    assert [e["ended"] for e in json.loads(wall.read_text())["invocations"]] == ["finished", "stopped with the driver"]


def test_bad_jobs_seeds_or_set_are_one_line_before_anything(tmp_path, capsys):
    """Issue 29: --jobs 0 no longer reports every run finished when none was trained, and a bad --seeds or
    --set is one line on stderr, exit status 2, not a traceback; nothing is written under --root."""
    import pytest

    from bench.miniature import main

    base = ["status", "--root", str(tmp_path / "root")]
    for extra, message in ((["--jobs", "0"], "argument --jobs: must be at least 1, got 0"),
                           (["--jobs", "-2"], "argument --jobs: must be at least 1, got -2"),
                           (["--seeds", "0,x"], "argument --seeds: --seeds must look like 0,1,2 or 0-2, got '0,x'"),
                           (["--set", "lr=abc"], "TrainConfig.lr must be float, got 'abc'"),
                           (["--set", "nope=1"], "unknown TrainConfig field(s) ['nope']")):
        with pytest.raises(SystemExit) as exc:
            main([*base, *extra])
        out, err = capsys.readouterr()
        assert exc.value.code == 2 and out == "", extra
        assert len(err.splitlines()) == 1 and err.startswith("python -m bench.miniature: error: "), err
        assert message in err, err
    assert not (tmp_path / "root").exists()


def test_a_corrupt_kept_overrides_file_is_one_line_naming_it(tmp_path, capsys):
    import pytest

    from bench.miniature import OVERRIDES, main

    root = tmp_path / "root"
    root.mkdir()
    for text, message in (("{not json", "cannot read the run's kept overrides"), ("[1, 2]", "must hold a JSON object")):
        (root / OVERRIDES).write_text(text)
        with pytest.raises(SystemExit) as exc:
            main(["status", "--root", str(root)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and len(err.splitlines()) == 1 and message in err and str(root / OVERRIDES) in err
