"""Recorded runs at smoke size: every file written, the index, the teacher gate, resuming."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sofkd_lib.companion.record import record
from sofkd_lib.companion.recording.evaluate import unit_files
from sofkd_lib.companion.recording.options import RecordError, RecordOptions, repeat_command
from sofkd_lib.engine.config import VARIANTS
from sofkd_lib.weights.pretrained import (
    PretrainedError,
    complete_runs,
    list_pretrained,
    pretrained,
    recorded_label,
    recorded_model,
    recorded_results,
)

TINY = {"teacher_channels": 8, "student_channels": 4, "iterations": 2, "val_every": 0}


def fake_vid4(root, n_frames: int = 6, h: int = 48, w: int = 64):
    """One smooth moving sequence in the Vid4 layout ROOT/<seq>/hr/*.png."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(base).resize((8 * (w // 8 + 2), 8 * (h // 8 + 2)), Image.BICUBIC))
    folder = root / "seq" / "hr"
    folder.mkdir(parents=True)
    for t in range(n_frames):
        Image.fromarray(np.ascontiguousarray(big[t : t + h, t : t + w])).save(folder / f"hr_{t + 1:02d}.png")
    return root


@pytest.mark.slow
def test_record_smoke_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFKD_RECORDED", str(tmp_path / "results"))
    options = dict(run_id="smoke-run", profile="smoke", overrides=TINY, work_root=tmp_path / "work",
                   vid4_root=fake_vid4(tmp_path / "vid4"), quiet=True, command="pytest")
    messages: list[str] = []
    # The gate: a 2-step teacher is no better than bicubic, so phase1 is refused (after the teacher is recorded).
    with pytest.raises(RecordError, match="must beat bicubic on Vid4 by ≥ 1.0 dB"):
        record(RecordOptions(**options, variants=("phase1",)), log=messages.append)
    root = tmp_path / "results"
    assert sorted(p.name for p in (root / "smoke-run").iterdir()) == ["bicubic", "teacher"]

    done = record(RecordOptions(**options, min_teacher_gain=None), log=messages.append)
    assert list(done) == list(VARIANTS)
    assert "teacher: already recorded in" in " ".join(messages)  # resumed, not retrained
    for variant in VARIANTS:
        folder = root / "smoke-run" / variant
        for name in unit_files(RecordOptions(**options)):
            assert (folder / name).is_file(), f"{variant}/{name}"
        prov = json.loads((folder / "provenance.json").read_text())
        assert prov["budget"]["iterations"] == 2 and prov["variant"] == variant
        assert prov["hardware"]["torch"] == torch.__version__
        assert prov["hardware"]["cpu_count"] >= 1 and "commit" in prov["git"]
        assert prov["training_seconds"] > 0 and prov["date"].endswith("+00:00")
        emb = json.loads((folder / "eval_embedded.json").read_text())
        check = emb["precision_check"]
        stored = "float16" if check["max_abs_psnr_gap_db"] <= 0.01 else "float32"
        assert check["stored"] == stored == prov["weights_dtype"]
        assert emb["average"]["psnr"] == check[stored]["average"]["psnr"]
        vid4 = json.loads((folder / "eval_vid4.json").read_text())
        assert list(vid4["sequences"]) == ["seq"] and vid4["sequences"]["seq"]["frames"] == [3, 4]
        assert json.loads((folder / "config.json").read_text())["student_channels"] == 4
        weights = torch.load(folder / "weights.pt", weights_only=True)
        assert {str(v.dtype) for v in weights["model"].values()} == {f"torch.{stored}"}
        assert "optimizer" not in weights
    assert (root / "smoke-run" / "bicubic" / "eval_vid4.json").is_file()
    names = list_pretrained(root)
    assert sorted(names) == sorted(f"{v}-x4" for v in VARIANTS)
    assert pretrained("phase1+2-x4").srnet.body[0].out_channels == 4
    # phase1+2 keeps phase 1's SRnet: the recorded weights say so.
    p1 = torch.load(root / "smoke-run" / "phase1" / "weights.pt", weights_only=True)["model"]
    p12 = torch.load(root / "smoke-run" / "phase1+2" / "weights.pt", weights_only=True)["model"]
    assert all(torch.equal(p1[k], p12[k]) for k in p1 if k.startswith("srnet."))
    # The whole run in the results.json layout (the book's Table 1 "recorded" column group).
    assert complete_runs(root) == ["smoke-run"]
    rec = recorded_results(root=root)
    assert rec["run_id"] == "smoke-run" and rec["profile"] == "smoke"
    assert set(rec["datasets"]["vid4"]["models"]) == {"bicubic", *VARIANTS}
    assert set(rec["datasets"]["embedded"]["models"]) == {"bicubic", *VARIANTS}
    assert rec["budget"]["phase1"]["iterations"] == 2 and rec["budget"]["phase1"]["trained_on"] == "CPU"
    assert recorded_label(rec).startswith("recorded run smoke-run (smoke profile, batch ")
    assert recorded_model("smoke-run", "phase1+2", root).srnet.body[0].out_channels == 4
    with pytest.raises(PretrainedError, match="no recorded run 'nope'"):
        recorded_results("nope", root)
    readme = (root / "README.md").read_text()
    assert "## smoke-run" in readme and repeat_command(RecordOptions(**options, min_teacher_gain=None)) in readme
    assert "--min-teacher-gain none" in readme
    assert "| teacher | " in readme and "| bicubic | " in readme and "| | seq | average |" in readme


def test_cli_vid4_absent_is_recorded(tmp_path, capsys):
    from sofkd_lib.cli.main import main

    results = tmp_path / "res"
    argv = ["record", "--run-id", "no-vid4", "--profile", "smoke", *(f"{k}={v}" for k, v in TINY.items()),
            "--variants", "teacher", "--work", str(tmp_path / "work"), "--results", str(results),
            "--vid4", str(tmp_path / "missing"), "--quiet"]
    assert main(argv) == 0
    vid4 = json.loads((results / "no-vid4" / "teacher" / "eval_vid4.json").read_text())
    assert vid4 == {"skipped": f"Vid4 not found at {tmp_path / 'missing'} (set SOFKD_DATA or --vid4)"}
    assert "skipped: Vid4 not found" in (results / "README.md").read_text()
    prov = json.loads((results / "no-vid4" / "teacher" / "provenance.json").read_text())
    assert prov["command"].startswith("python -m sofkd_lib record --run-id no-vid4")
    assert prov["repeat"] == ("python -m sofkd_lib record --run-id no-vid4 --profile smoke teacher_channels=8 "
                              "student_channels=4 iterations=2 val_every=0 --variants teacher")
    # What the run trained on and the no-KD student's budget convention are part of the provenance.
    assert prov["data"] == {"dataset": "embedded", "data_root": None, "degradation": "bicubic-matlab",
                            "note": "trains on the offline embedded split, not on the paper's DAVIS-2017 train"}
    assert prov["budget"]["student_budget"] == "two-phases"
    assert prov["budget"]["student_budget_note"].startswith("student w/o KD trained as long as both KD phases")
    assert prov["profile_notes"].startswith("smoke: every iteration count (and the lr step) divided by 20000; "
                                            "iterations 2 for this run instead of its variant's budget; ")
    assert prov["data"]["note"] in prov["profile_notes"] and prov["budget"]["student_budget_note"] in prov[
        "profile_notes"]
    assert main([*argv, "--min-teacher-gain", "x"]) == 2
    assert "--min-teacher-gain must be a number" in capsys.readouterr().err
    assert main([*argv[:5], "lr=-1", *argv[5:]]) == 2
    assert "TrainConfig.lr must be a positive number" in capsys.readouterr().err


def test_train_only_then_record_and_config_guard(tmp_path):
    """Train on one machine (--train-only: nothing recorded), record on another; other overrides are refused."""
    from sofkd_lib.cli.main import main

    results, work = tmp_path / "res", tmp_path / "work"
    base = ["record", "--run-id", "split", "--profile", "smoke", *(f"{k}={v}" for k, v in TINY.items()),
            "--variants", "teacher", "--work", str(work), "--results", str(results),
            "--vid4", str(tmp_path / "missing"), "--quiet"]
    assert main([*base, "--train-only"]) == 0
    assert (work / "split" / "teacher" / "last.pt").is_file() and not results.exists()
    wall = json.loads((work / "split" / "teacher" / "record_wall.json").read_text())
    assert wall["invocations"][0]["hardware"]["torch"] == torch.__version__
    before = (work / "split" / "teacher" / "last.pt").read_bytes()
    # Different overrides resolve another config: the checkpoint is not recorded under it.
    wrong = [a if a != "student_channels=4" else "student_channels=6" for a in base]
    assert main(wrong) == 2
    assert not (results / "split" / "teacher" / "provenance.json").exists()
    assert main([*base, "--set", "compile=true"]) == 0  # a speed setting is no other config: finds the run
    # finished, evaluates and records it, no retraining
    assert (work / "split" / "teacher" / "last.pt").read_bytes() == before
    prov = json.loads((results / "split" / "teacher" / "provenance.json").read_text())
    assert prov["training_invocations"][0]["hardware"]["cpu_count"] >= 1 and prov["budget"]["iterations"] == 2
    # A KD variant trains only behind a teacher that beats bicubic on Vid4 (here: no Vid4 result at all).
    kd = [a if a != "teacher" else "phase1" for a in base]
    assert main([*kd, "--train-only"]) == 2
    assert not (work / "split" / "phase1").exists()


def test_record_finds_a_teacher_trained_before_the_phases_budget_changed(tmp_path, capsys):
    """The other variants' budgets are not the teacher's config: it is recorded as trained (the miniature
    teacher finished before the profile's phases doubled); a change of its own budget is still refused."""
    from sofkd_lib.cli.main import main

    results, work = tmp_path / "res", tmp_path / "work"

    def argv(teacher_iterations: int, phase_iterations: int) -> list[str]:
        return ["record", "--run-id", "budgets", "--profile", "smoke", "teacher_channels=8", "student_channels=4",
                "val_every=0", f"teacher_iterations={teacher_iterations}", f"phase_iterations={phase_iterations}",
                "--variants", "teacher", "--work", str(work), "--results", str(results),
                "--vid4", str(tmp_path / "missing"), "--quiet"]

    assert main([*argv(2, 3), "--train-only"]) == 0
    last = work / "budgets" / "teacher" / "last.pt"
    before = last.read_bytes()
    assert main(argv(1, 3)) == 2  # finished (2 >= 1 iterations) but not the teacher this config trains
    assert "(fields ['teacher_iterations'])" in capsys.readouterr().err
    assert main(argv(2, 4)) == 0
    assert last.read_bytes() == before  # found finished, not retrained
    prov = json.loads((results / "budgets" / "teacher" / "provenance.json").read_text())
    assert prov["budget"]["iterations"] == 2 and len(prov["training_invocations"]) == 1
    # student_iterations (two phases), phase1_ and phase2_iterations (one) follow phase_iterations: 3 trained,
    # 4 resolved
    assert prov["trained_config_differences"] == {"phase1_iterations": [3, 4], "phase2_iterations": [3, 4],
                                                  "phase_iterations": [3, 4], "student_iterations": [6, 8]}
    assert json.loads((results / "budgets" / "teacher" / "config.json").read_text())["phase_iterations"] == 4


def test_paper_profile_records_only_with_its_data_or_an_explicit_choice(tmp_path, capsys):
    """record --profile paper without a training data root stops before any work, saying how to give one."""
    from sofkd_lib.cli.main import main

    results, work = tmp_path / "res", tmp_path / "work"
    argv = ["record", "--run-id", "p", "--profile", "paper", *(f"{k}={v}" for k, v in TINY.items()),
            "--variants", "teacher", "--work", str(work), "--results", str(results), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "profile 'paper' trains on DAVIS-2017 train" in err and "--set data_root=DIR" in err
    assert "dataset=embedded" in err and not work.exists() and not results.exists()
    # DAVIS asked for but absent: a clear data error naming the folder (never another data set).
    assert main([*argv, "--set", f"data_root={tmp_path / 'DAVIS'}", "--train-only"]) == 2
    assert str(tmp_path / "DAVIS" / "JPEGImages" / "480p") in capsys.readouterr().err


def test_cli_seeds_and_teacher_errors(tmp_path, capsys):
    from sofkd_lib.cli.main import main

    base = ["record", "--run-id", "r", "--profile", "smoke", "--results", str(tmp_path / "res"),
            "--work", str(tmp_path / "work"), "--variants", "student"]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--seeds", "1,1"])
    assert exc.value.code == 2 and "--seeds must list distinct seeds" in capsys.readouterr().err
    assert main([*base, "--seeds", "0,1", "--teacher", "pretrained:nope"]) == 2
    assert "no recorded weights named 'nope'" in capsys.readouterr().err
    assert main([*base, "--teacher", str(tmp_path / "none.pt")]) == 2
    assert f"checkpoint not found: {tmp_path / 'none.pt'}" in capsys.readouterr().err
    assert not (tmp_path / "work").exists() and not (tmp_path / "res").exists()


#: A hand-made bench.gpu result: seconds per bf16 train step and per sampled batch.
GPU_TIMINGS = {"train": {"student/bf16_channels_last": {"median_s": 0.04}, "phase1/bf16_channels_last": {"median_s": 0.02},
                         "phase2/bf16_channels_last": {"median_s": 0.04}}, "sampler": {"median_s": 0.01}}


def test_seeds_plan_fits_the_gpu_work():
    from bench.seeds_plan import CHAINS, plan

    assert list(CHAINS) == ["student", "student-1phase", "phase2", "phase1+2", "phase1-alpha1"]
    # per unit of P and seed: student 2 x 0.04 + student-1phase 0.04 + phase2 0.04 + phase1+2 (0.02 + 0.04)
    # + phase1-alpha1 0.02 = 0.24 s; 3 seeds: 0.72 s; 400 s x 0.85 / 0.72 = 472 -> 400 (hundreds)
    p = plan(GPU_TIMINGS, 400, 3)
    assert p["seconds_per_p"]["gpu_work"] == pytest.approx(0.72) and p["bound"] == "gpu work"
    # the longest process alone: the two-phase student, 2 x (0.04 + 0.01) = 0.10 s per unit of P
    assert p["seconds_per_p"]["longest_process"] == pytest.approx(0.10)
    assert (p["phase_iterations"], p["lr_step"], p["checkpoint_every"], p["val_every"], p["processes"]) == \
        (400, 160, 100, 80, 15)
    # a measured concurrency gain of 1.5 divides the GPU work: 340 / 0.48 = 708 -> 700
    assert plan({**GPU_TIMINGS, "concurrent": {"gain": 1.5}}, 400, 3)["phase_iterations"] == 700
    # one seed of the two-phase student alone is bound by its own process: 340 / 0.10 = 3400
    one = plan(GPU_TIMINGS, 400, 1, ["student"])
    assert (one["phase_iterations"], one["bound"]) == (3400, "longest process")
    with pytest.raises(ValueError, match="no phase2/bf16_channels_last"):
        plan({"train": {k: v for k, v in GPU_TIMINGS["train"].items() if "phase2" not in k}}, 400, 3)
    with pytest.raises(ValueError, match="unknown entries"):
        plan(GPU_TIMINGS, 400, 3, ["phase3"])


def test_record_seeds_script_dry_run(tmp_path):
    import subprocess

    from sofkd_lib.settings import REPO_ROOT

    script = REPO_ROOT / "bench" / "record_seeds_on_gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps(GPU_TIMINGS))
    env = {**os.environ, "DRY_RUN": "1", "GPU_JSON": str(gpu), "WINDOW": "590", "RUN_ID": "seeds-test",
           "SEEDS": "0,1", "ENTRIES": "student phase1+2 phase1-alpha1", "PYTHON": sys.executable,
           "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "out"
    res = subprocess.run(["bash", str(script), str(out)], check=False, cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    # 2 seeds x (2 x 0.04 + 0.06 + 0.02) = 0.32 s of GPU work per unit of P; (590 - 90) s x 0.85 / 0.32 -> 1300
    plan_env = (out / "plan.env").read_text()
    assert 'OVERRIDES="phase_iterations=1300 lr_step=520 checkpoint_every=100 val_every=260"' in plan_env
    assert "RUN_ID=seeds-test\nSEEDS=0,1\n" in plan_env
    commands = [line for line in res.stdout.splitlines() if line.startswith("+ ")]
    assert len(commands) == 6 and all("--train-only" in c and "--teacher pretrained:teacher-x4" in c
                                      for c in commands)
    assert "--variants phase1+2 --seeds 1 > " in commands[4] and commands[4].endswith("train_phase1-2_seed1.log")
    assert "--variants teacher student phase1+2 phase1-alpha1 --seeds 0,1 --teacher pretrained:teacher-x4" in res.stdout
    # a later device reuses the plan (same budgets: the runs resume), whatever the timings say now
    env2 = {**env, "PLAN": str(out / "plan.env"), "GPU_JSON": str(tmp_path / "missing.json")}
    res2 = subprocess.run(["bash", str(script), str(tmp_path / "out2")], check=False, cwd=REPO_ROOT, env=env2,
                          capture_output=True, text=True, timeout=120)
    assert res2.returncode == 0, res2.stderr
    assert (tmp_path / "out2" / "plan.env").read_text() == plan_env


def test_a_run_id_of_the_other_kind_fails_before_any_work(tmp_path):
    """A single-seed record under a multi-seed run's id (or the other way round) stops before training."""
    from sofkd_lib.companion.recording.index import update_index

    results, work = tmp_path / "res", tmp_path / "work"
    seeded = RecordOptions(run_id="s", profile="smoke", overrides=TINY, variants=("teacher",), seeds=(0,),
                           results_root=results, work_root=work, vid4_root=tmp_path / "none", quiet=True)
    update_index(seeded, {"variant": "teacher", "date": "2026-01-01T00:00:00+00:00"}, 4)
    single = RecordOptions(run_id="s", profile="smoke", overrides=TINY, variants=("teacher",), results_root=results,
                           work_root=work, vid4_root=tmp_path / "none", quiet=True)
    with pytest.raises(RecordError, match="run 's' is a multi-seed run in .*; pass its --seeds"):
        record(single, log=lambda m: None)
    assert not work.exists() and sorted(p.name for p in results.iterdir()) == ["index.json"]
