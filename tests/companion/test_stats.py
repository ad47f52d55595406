"""Statistics over seeds (hand-computed cases) and a multi-seed smoke run recorded and read back end to end."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from sofkd_lib.companion import run_cost, stats
from sofkd_lib.companion.stats import (
    SeededRun,
    StatsError,
    fmt_mean_spread,
    kd_answer,
    kd_differences,
    load_seeded_run,
    mean_spread,
    paired_bootstrap,
    seeded_runs,
    summary_rows,
    summary_table,
)


# --------------------------------------------------------------------------- hand-computed statistics
def test_mean_spread_is_the_sample_std():
    m, sd, n = mean_spread([24.0, 24.2, 24.4])
    assert (m, n) == (pytest.approx(24.2), 3)
    assert sd == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / (3 - 1))
    assert np.isnan(mean_spread([25.0])[1])
    assert fmt_mean_spread(24.2, 0.2, 3) == "24.20 ± 0.20"
    assert fmt_mean_spread(25.0, float("nan"), 1) == "25.00 (n = 1)"
    with pytest.raises(StatsError):
        mean_spread([])


def test_constant_difference_gives_a_zero_width_interval():
    # Frames differ by several dB, but A is B + 0.3 on every frame of every seed: pairing by frame removes
    # the frame-to-frame spread, so every replicate is 0.3.
    b = {"s": np.array([[20.0, 30.0, 25.0, 22.0]] * 3), "t": np.array([[28.0, 18.0]] * 3)}
    a = {q: v + 0.3 for q, v in b.items()}
    res = paired_bootstrap(a, b, n_boot=500, seed=1)
    for key in ("s", "t", "average"):
        assert res[key].estimate == pytest.approx(0.3)
        assert res[key].low == pytest.approx(0.3, abs=1e-9) and res[key].high == pytest.approx(0.3, abs=1e-9)
    assert res["average"].excludes_zero


def test_symmetric_frame_differences():
    # One seed each, two frames differing by +1 and -1: a resampled mean is -1, 0 or +1 with
    # probabilities 1/4, 1/2, 1/4, so the 2.5 % and 97.5 % quantiles are -1 and +1; the estimate is 0.
    a = {"s": np.array([[1.0, -1.0]])}
    b = {"s": np.zeros((1, 2))}
    res = paired_bootstrap(a, b, n_boot=4000, seed=0)
    assert (res["s"].estimate, res["s"].low, res["s"].high) == pytest.approx((0.0, -1.0, 1.0), abs=1e-9)
    assert not res["s"].excludes_zero
    swapped = paired_bootstrap(b, a, n_boot=4000, seed=0)["s"]
    assert (swapped.estimate, swapped.low, swapped.high) == pytest.approx((0.0, -1.0, 1.0), abs=1e-9)


def test_seed_level_is_resampled():
    # A's two seeds average 1 and 3 dB above B on every frame: a resample of two seeds gives 1, 2 or 3
    # with probabilities 1/4, 1/2, 1/4 -> interval [1, 3] around the estimate 2.
    b = {"s": np.full((2, 3), 20.0)}
    a = {"s": np.array([[21.0] * 3, [23.0] * 3])}
    res = paired_bootstrap(a, b, n_boot=4000, seed=3)["average"]
    assert (res.estimate, res.low, res.high) == pytest.approx((2.0, 1.0, 3.0), abs=1e-9)


def test_bootstrap_is_reproducible_with_a_seed():
    rng = np.random.default_rng(7)
    a = {"s": rng.normal(25, 1, (3, 9)), "t": rng.normal(24, 1, (3, 5))}
    b = {"s": rng.normal(25, 1, (3, 9)), "t": rng.normal(24, 1, (3, 5))}
    one, two = paired_bootstrap(a, b, n_boot=300, seed=5), paired_bootstrap(a, b, n_boot=300, seed=5)
    assert one == two
    other = paired_bootstrap(a, b, n_boot=300, seed=6)
    assert other["average"].estimate == one["average"].estimate and other["average"].low != one["average"].low
    # the average is the mean of the per-sequence estimates (the authors' average over sequences)
    assert one["average"].estimate == pytest.approx((a["s"].mean() - b["s"].mean() + a["t"].mean() - b["t"].mean()) / 2)


def test_bootstrap_refuses_unpaired_inputs():
    with pytest.raises(StatsError, match="same frames"):
        paired_bootstrap({"s": np.zeros((1, 3))}, {"s": np.zeros((1, 2))})
    with pytest.raises(StatsError, match="different sequences"):
        paired_bootstrap({"s": np.zeros((1, 3))}, {"t": np.zeros((1, 3))})


def _eval(per_seq: dict[str, list[float]]) -> dict:
    seqs = {q: {"psnr": v, "ssim": [0.5] * len(v), "frames": list(range(3, 3 + len(v))),
                "psnr_mean": float(np.mean(v)), "ssim_mean": 0.5} for q, v in per_seq.items()}
    return {"sequences": seqs, "average": {"psnr": float(np.mean([s["psnr_mean"] for s in seqs.values()])),
                                           "ssim": 0.5}}


def _run(shift: float, spread: float) -> SeededRun:
    """Hand-made run: the student scores 24 on two frames, phase1+2 24 + shift ± spread across two seeds."""
    budget = {"iterations": 10, "total_iterations": 10, "batch_size": 4, "patch_size": 16}
    evals = {"student": {s: {"vid4": _eval({"q": [24.0, 24.0]})} for s in (0, 1)},
             "phase1+2": {s: {"vid4": _eval({"q": [24 + shift + sign * spread] * 2})} for s, sign in ((0, -1), (1, 1))}}
    prov = {name: {s: {"budget": {**budget, "total_iterations": 20 if name == "student" else 10}} for s in (0, 1)}
            for name in evals}
    return SeededRun(run_id="hand", profile="smoke", date=None, repeat=None, teacher=None, seeds=(0, 1),
                     entries=("student", "phase1+2"), evals=evals, provenance=prov)


def test_kd_answer_follows_the_numbers():
    assert kd_answer(_run(0.5, 0.1), n_boot=500).startswith(
        "Yes: on Vid4 at 10 iterations per phase at batch 4 (no-KD student 20), phase 1 → phase 1+2 beats the "
        "student without KD (as many iterations as two KD phases) by +0.500 dB (95% interval +0.400 to +0.600 dB; "
        "2 and 2 seeds).")
    assert kd_answer(_run(-0.5, 0.1), n_boot=500).startswith("No, it hurts:")
    assert kd_answer(_run(0.05, 0.2), n_boot=500).endswith("), an interval that contains zero.")
    assert "cannot answer it yet: student-1phase not recorded" in kd_answer(_run(0.5, 0.1), baseline="student-1phase")
    rows = summary_rows(_run(0.5, 0.1), "vid4", paper={"vid4": {"student": {"psnr_avg": 25.1063}}})
    assert [r["entry"] for r in rows] == ["student", "phase1+2"]
    assert rows[1]["psnr_mean"] == pytest.approx(24.5) and rows[1]["psnr_sd"] == pytest.approx(np.sqrt(0.02))
    assert rows[0]["paper_psnr"] == 25.1063 and rows[1]["paper_psnr"] is None


def test_budget_text_names_phase_1s_and_phase_2_alones_budgets_where_they_differ():
    run = _run(0.5, 0.1)
    assert stats.budget_text(run) == "10 iterations per phase at batch 4 (no-KD student 20)"
    prov = {**run.provenance, "phase2": {0: {"budget": {"total_iterations": 20, "batch_size": 4}}}}
    run = SeededRun(**{**run.__dict__, "provenance": prov, "entries": (*run.entries, "phase2")})
    assert stats.budget_text(run) == "10 iterations per phase at batch 4 (no-KD student 20, phase 2 alone 20)"
    # a phase 1 of two phases: the phase is still phase 1+2's
    prov = {**run.provenance, "phase1": {0: {"budget": {"total_iterations": 20, "batch_size": 4}}}}
    run = SeededRun(**{**run.__dict__, "provenance": prov, "entries": ("student", "phase1", "phase2", "phase1+2")})
    assert stats.budget_text(run) == ("10 iterations per phase at batch 4 (no-KD student 20, phase 1 20, "
                                      "phase 2 alone 20)")


def test_a_no_kd_student_trained_past_its_convention_is_named_by_its_iterations():
    run = _run(0.5, 0.1)  # the student: 20 iterations, two phases of 10
    assert stats.baseline_words(run, "student") == "the student without KD (as many iterations as two KD phases)"
    prov = {**run.provenance, "student": {s: {"budget": {"total_iterations": 30, "batch_size": 4}} for s in (0, 1)}}
    extended = SeededRun(**{**run.__dict__, "provenance": prov})
    assert stats.baseline_words(extended, "student") == "the student without KD (30 iterations, not the 20 of two KD phases)"
    assert "beats the student without KD (30 iterations, not the 20 of two KD phases) by +0.500 dB" in \
        kd_answer(extended, n_boot=200)
    assert stats.baseline_words(run, "student-1phase") == stats.BASELINE_WORDS["student-1phase"]  # not recorded


def test_room_answer_says_whether_the_teacher_is_above_the_no_kd_student():
    def with_teacher(score: float) -> SeededRun:  # the student scores 24.0 on every frame of both seeds
        run = _run(0.5, 0.1)
        return SeededRun(**{**run.__dict__, "evals": {**run.evals, "teacher": {None: {"vid4": _eval({"q": [score] * 2})}}},
                            "entries": ("teacher", *run.entries)})

    one = " (one teacher: the interval covers the students' seeds and the frames, not a choice of teacher)"
    assert stats.room_answer(with_teacher(24.5), n_boot=200) == (
        "On Vid4 the teacher is above the student without KD (as many iterations as two KD phases) by +0.500 dB "
        f"(95% interval +0.500 to +0.500){one}: that is the room distillation has to close.")
    assert stats.room_answer(with_teacher(23.7), n_boot=200).startswith(
        "On Vid4 the teacher is below the student without KD (as many iterations as two KD phases): -0.300 dB")
    assert "cannot be told apart: +0.000 dB" in stats.room_answer(with_teacher(24.0), n_boot=200)
    assert stats.room_answer(_run(0.5, 0.1)) == "Run hand cannot say yet: teacher not recorded."


def test_ablation_answer_splits_phase1():
    # Constant per-frame scores on both seeds: the teacher's OFRnet +0.2 dB, SR distillation +0.3 dB, exactly.
    run = _run(0.5, 0.1)
    const = {name: {s: {"vid4": _eval({"q": [v, v]})} for s in (0, 1)}
             for name, v in (("phase1", 24.5), ("phase1-alpha1", 24.2))}
    run = SeededRun(**{**run.__dict__, "evals": {**run.evals, **const},
                       "entries": ("student", "phase1", "phase1+2", "phase1-alpha1")})
    assert stats.ablation_answer(run, n_boot=200) == (
        "On Vid4, the teacher's OFRnet alone (phase 1 with α = 1 against the student without KD) accounts for "
        "+0.200 dB (95% interval +0.200 to +0.200) and the SR distillation term (α = 0.9 against α = 1) for "
        "+0.300 dB (95% interval +0.300 to +0.300).")
    assert "cannot split" in stats.ablation_answer(_run(0.5, 0.1))


def test_summary_rows_max_reads_the_best_frame_and_the_papers_max():
    run = _run(0.5, 0.1)
    for per_seed in run.evals.values():
        for seed, res in per_seed.items():
            res["vid4"]["max"] = {"psnr": 30.0 + seed, "ssim": 0.9}
    rows = summary_rows(run, "vid4", paper={"vid4": {"student": {"psnr_max": 28.2611, "psnr_avg": 1.0}}}, kind="max")
    assert [(r["entry"], r["psnr_mean"], r["paper_psnr"]) for r in rows] == [("student", 30.5, 28.2611),
                                                                             ("phase1+2", 30.5, None)]
    assert rows[0]["psnr_sd"] == pytest.approx(np.sqrt(0.5))
    with pytest.raises(StatsError, match="kind must be 'average' or 'max'"):
        summary_rows(run, "vid4", kind="median")


def test_convergence_rows_judge_every_curve_teacher_first():
    flat = pd.DataFrame({"iteration": [100 * k for k in range(1, 7)], "psnr": [20, 25, 26, 26.02, 26.03, 26.0]})
    rising = flat.assign(psnr=[20, 21, 22, 23, 24, 25])
    run = SeededRun(**{**_run(0.5, 0.1).__dict__,
                       "validation": {"phase1+2": {1: rising, 0: flat}, "teacher": {0: flat}}})
    rows = stats.convergence_rows(run)
    assert [(r["entry"], r["seed"], r["plateaued"]) for r in rows] == [
        ("teacher", 0, True), ("phase1+2", 0, True), ("phase1+2", 1, False)]
    # flat: last 2 of 6 validations best 26.03 vs 26.02 before; rising: 25 vs 23
    assert rows[1]["tail_gain_db"] == pytest.approx(0.01) and rows[2]["tail_gain_db"] == pytest.approx(2.0)
    assert (rows[1]["best_psnr"], rows[1]["best_iteration"], rows[1]["last_psnr"]) == (26.03, 500, 26.0)
    table = stats.convergence_table(run)
    assert table.loc[(stats.label("phase1+2"), 1), "plateaued"] == "no"
    assert table.loc[(stats.label("teacher"), 0), "last part's gain (dB)"] == "+0.010"
    assert stats.convergence_rows(run, tolerance_db=5.0)[2]["plateaued"]
    assert rows[0]["trend"] is None  # no trend_since given


def test_convergence_rows_give_the_trend_after_the_last_lr_drop():
    # the flat curve is 26 dB at every validation after iteration 100; the other rises 0.5 dB per doubling
    iters = [100 * k for k in range(1, 9)]
    flat = pd.DataFrame({"iteration": iters, "psnr": [20.0] + [26.0] * 7})
    doubling = pd.DataFrame({"iteration": [100, 200, 400, 800], "psnr": [20.0, 21.0, 21.5, 22.0]})
    run = SeededRun(**{**_run(0.5, 0.1).__dict__,
                       "validation": {"phase1+2": {0: flat, 1: doubling}, "teacher": {0: flat}}})
    rows = stats.convergence_rows(run, trend_since={"phase1+2": 100})
    assert rows[0]["trend"] is None  # the teacher is not in trend_since
    assert rows[1]["trend"].db_per_doubling == pytest.approx(0.0) and rows[1]["trend"].n_points == 7
    # 200, 400, 800 lie on a line of 0.5 dB per doubling
    assert rows[2]["trend"].db_per_doubling == pytest.approx(0.5) and rows[2]["trend"].n_points == 3
    assert stats.convergence_rows(run, trend_since={"phase1+2": 400})[2]["trend"] is None  # one point after 400
    table = stats.convergence_table(run, trend_since={"phase1+2": 100}, tail_fraction=0.2)
    assert table.loc[(stats.label("phase1+2"), 1), "dB per doubling at the last lr"] == "+0.500 [+0.500, +0.500]"
    # 0.5 * log2(1 / 0.8) = 0.161
    assert table.loc[(stats.label("phase1+2"), 1), "last part's gain at that rate (dB)"] == "+0.161"
    assert table.loc[(stats.label("teacher"), 0), "dB per doubling at the last lr"] == "–"
    assert "dB per doubling at the last lr" not in stats.convergence_table(run).columns


def test_pattern_rows_put_the_papers_difference_beside_this_runs():
    run = _run(0.5, 0.1)
    const = {name: {s: {"vid4": _eval({"q": [v, v]})} for s in (0, 1)} for name, v in (("phase1", 23.8),)}
    run = SeededRun(**{**run.__dict__, "evals": {**run.evals, **const, "teacher": {None: {"vid4": _eval({"q": [24.5] * 2})}}},
                       "entries": ("teacher", "student", "phase1", "phase1+2")})
    paper = {"vid4": {"teacher": {"psnr_avg": 25.0}, "student": {"psnr_avg": 24.0}, "phase1": {"psnr_avg": 24.5}}}
    rows = {(r["entry"], r["other"]): r for r in stats.pattern_rows(run, paper=paper, n_boot=400)}
    assert list(rows) == [("teacher", "student"), ("phase1", "student"), ("phase1+2", "student"),
                          ("phase1", "teacher"), ("phase1+2", "teacher"), ("phase1+2", "phase1")]
    assert rows[("teacher", "student")]["paper"] == 1.0 and rows[("teacher", "student")]["estimate"] == \
        pytest.approx(0.5)
    p1 = rows[("phase1", "student")]
    assert (p1["paper"], p1["estimate"], p1["low"], p1["high"], p1["resolved"]) == (0.5, pytest.approx(-0.2),
                                                                                  pytest.approx(-0.2),
                                                                                  pytest.approx(-0.2), "below")
    assert rows[("phase1+2", "phase1")]["paper"] is None and rows[("phase1+2", "phase1")]["estimate"] == \
        pytest.approx(0.7)
    # phase1+2 scores 24.4 and 24.6 on its two seeds against the teacher's 24.5: the seeds straddle zero
    assert rows[("phase1+2", "teacher")]["resolved"] == "not resolved"
    table = stats.pattern_table(stats.pattern_rows(run, paper=paper, n_boot=400))
    assert table.loc[f"{stats.label('phase1')} − {stats.label('student')}", "paper (dB)"] == "+0.5000"


def test_seeded_runs_can_leave_a_profile_out(tmp_path):
    from sofkd_lib.weights.pretrained import empty_index

    index = {**empty_index(), "runs": {"a": {"seeds": [0], "profile": "miniature", "date": "2026-12-02"},
                                       "b": {"seeds": [0, 1], "profile": "gpu-short", "date": "2026-12-01"},
                                       "c": {"profile": "cpu-demo", "date": "2026-12-03"}}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert seeded_runs(tmp_path) == ["a", "b"]
    assert seeded_runs(tmp_path, exclude_profiles=("miniature",)) == ["b"]


# --------------------------------------------------------------------------- end to end on smoke
def _fake_clips(root, names=("alpha", "beta"), n_frames: int = 6, size: int = 64):
    """Tiny smooth moving sequences in the Vid4 layout ROOT/<seq>/hr/*.png (scored frames 3 and 4)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        base = rng.integers(0, 256, (size // 8 + 2, size // 8 + 2, 3)).astype(np.uint8)
        big = np.asarray(Image.fromarray(base).resize((8 * (size // 8 + 2),) * 2, Image.BICUBIC))
        folder = root / name / "hr"
        folder.mkdir(parents=True)
        for t in range(n_frames):
            o = t * (k + 1)
            Image.fromarray(np.ascontiguousarray(big[o : o + size, o : o + size])).save(folder / f"hr_{t + 1:02d}.png")
    return root


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine, tiny convolutions run several times faster than with two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_multi_seed_smoke_run(tmp_path, monkeypatch, one_thread):
    """A teacher recorded once, then two seeds of three entries distilled from it (--teacher): layout,
    provenance, resuming, the index, and the statistics read back."""
    from sofkd_lib import data
    from sofkd_lib.cli.main import main
    from sofkd_lib.data.datasets import read_vid4

    clips = _fake_clips(tmp_path / "clips")
    # tiny clips for every split (training, validation, the "embedded" test): seconds, not minutes
    monkeypatch.setattr(data, "load_split", lambda name="embedded", split="train", root=None: read_vid4(clips))
    results, work = tmp_path / "res", tmp_path / "work"
    monkeypatch.setenv("SOFKD_RECORDED", str(results))
    common = ["--profile", "smoke", "teacher_channels=8", "student_channels=4", "iterations=2", "val_every=1",
              "--work", str(work), "--results", str(results), "--vid4", str(clips), "--quiet"]
    assert main(["record", "--run-id", "t", "--variants", "teacher", *common]) == 0
    teacher = results / "t" / "teacher" / "weights.pt"
    seeded = ["record", "--run-id", "s", *common, "--seeds", "0,1", "--teacher", str(teacher),
              "--variants", "student", "phase1+2", "phase1-alpha1"]
    # The gate reads the existing teacher's own recorded Vid4 result (a 2-step teacher is below bicubic).
    assert main([*seeded, "--train-only"]) == 2
    assert not (work / "s").exists()
    seeded.append("--min-teacher-gain=none")
    assert main(seeded) == 0

    run = results / "s"
    assert sorted(p.name for p in run.iterdir()) == ["bicubic", "phase1", "phase1+2", "phase1-alpha1", "student",
                                                     "teacher"]
    assert sorted(p.name for p in (run / "teacher").iterdir()) == ["config.json", "eval_embedded.json",
                                                                   "eval_vid4.json", "provenance.json"]
    sha = json.loads((run / "teacher" / "provenance.json").read_text())["external_teacher"]["sha256"]
    assert len(sha) == 64
    for name in ("student", "phase1", "phase1+2", "phase1-alpha1"):
        assert sorted(p.name for p in (run / name).iterdir()) == ["seed0", "seed1"]
        for seed in (0, 1):
            folder = run / name / f"seed{seed}"
            prov = json.loads((folder / "provenance.json").read_text())
            config = json.loads((folder / "config.json").read_text())
            assert (prov["entry"], prov["seed"], prov["seeds"], config["seed"]) == (name, seed, [0, 1], seed)
            assert (folder / "weights.pt").is_file() and (folder / "validation.csv").is_file()
            assert prov["budget"]["iterations"] == 2
            assert config["alpha"] == (1.0 if name == "phase1-alpha1" else 0.9)
            if name != "student":
                assert prov["teacher"] == str(teacher) and prov["teacher_source"]["sha256"] == sha
    p12 = json.loads((run / "phase1+2" / "seed1" / "provenance.json").read_text())
    assert p12["init"] == str(work / "s" / "phase1" / "seed1" / "last.pt")
    # seeds differ; the ablation shares phase 1's seed-0 initialisation but trains on another loss
    w = {s: torch.load(run / "student" / f"seed{s}" / "weights.pt", weights_only=True)["model"] for s in (0, 1)}
    assert not torch.equal(w[0]["srnet.body.0.weight"], w[1]["srnet.body.0.weight"])

    index = json.loads((results / "index.json").read_text())
    assert index["runs"]["s"]["seeds"] == [0, 1] and "variants" not in index["runs"]["s"]
    assert index["runs"]["s"]["entries"] == ["teacher", "student", "phase1", "phase1+2", "phase1-alpha1"]
    assert sorted(index["names"]) == ["teacher-x4"] and index["names"]["teacher-x4"]["run_id"] == "t"
    readme = (results / "README.md").read_text()
    assert "## s" in readme and "2 seeds (0, 1)" in readme and "| phase1-alpha1 | 2 | 2 / 2 | 2 × 16 |" in readme

    # Resumable per seed: only the seed whose results are gone is recorded again.
    (run / "phase1-alpha1" / "seed1" / "provenance.json").unlink()
    messages: list[str] = []
    from sofkd_lib.companion.record import record
    from sofkd_lib.companion.recording.options import RecordOptions
    options = RecordOptions(run_id="s", profile="smoke", overrides={"teacher_channels": 8, "student_channels": 4,
                            "iterations": 2, "val_every": 1}, variants=("student", "phase1+2", "phase1-alpha1"),
                            seeds=(0, 1), teacher=str(teacher), work_root=work, results_root=results,
                            vid4_root=clips, min_teacher_gain=None, quiet=True)
    record(options, log=messages.append)
    again = [m for m in messages if "already recorded" not in m]
    assert again and all(m.startswith("phase1-alpha1/seed1:") for m in again)

    # The statistics read it.
    assert seeded_runs(results) == ["s"]
    rec = load_seeded_run("s", results)
    assert rec.entries == ("teacher", "student", "phase1", "phase1+2", "phase1-alpha1")
    rows = {r["entry"]: r for r in summary_rows(rec, "vid4")}
    assert rows["phase1"]["n"] == 2 and rows["teacher"]["n"] == 1 and rows["bicubic"]["n"] == 1
    emb = [json.loads((run / "phase1" / f"seed{s}" / "eval_embedded.json").read_text())["average"]["psnr"]
           for s in (0, 1)]
    assert summary_rows(rec, "embedded")[3]["psnr_mean"] == pytest.approx(np.mean(emb))
    assert summary_table(rec, "vid4").loc[stats.label("phase1"), "seeds"] == 2
    diffs = kd_differences(rec, "vid4", n_boot=200)
    assert [(d["entry"], d["sequence"]) for d in diffs[:3]] == [("phase1", "alpha"), ("phase1", "beta"),
                                                                ("phase1", "average")]
    assert {d["entry"] for d in diffs} == {"phase1", "phase1+2", "phase1-alpha1"}
    assert all(d["low"] <= d["estimate"] <= d["high"] for d in diffs)
    assert kd_answer(rec, n_boot=200).split(":")[0] in ("Yes", "No, it hurts", "Not measurably")
    assert stats.ablation_answer(rec, n_boot=200).startswith("On Vid4, the teacher's OFRnet alone")
    budget = stats.budget_table(rec)
    assert budget.loc["phase1-alpha1", "seeds"] == 2 and budget.loc["phase1-alpha1", "iterations"] == "2 / 2"
    assert budget.loc["teacher", "seeds"] == 1
    assert set(rec.validation["phase1+2"]) == {0, 1}
    assert isinstance(rec.validation["phase1+2"][0], pd.DataFrame)
    assert list(rec.validation["phase1+2"][0]["iteration"]) == [1, 2]
    assert rec.set_aside == ()

    # A model moved out of the run and listed as set aside: its training counts in the run's compute.
    from sofkd_lib.companion.recording.index import record_set_aside
    moved = tmp_path / "aside" / "provenance.json"
    moved.parent.mkdir()
    (run / "phase1-alpha1" / "seed1" / "provenance.json").replace(moved)
    record_set_aside(run, "phase1-alpha1/seed1", moved, "test")
    rec = load_seeded_run("s", results)
    assert set(rec.provenance["phase1-alpha1"]) == {0} and [m["unit"] for m in rec.set_aside] == ["phase1-alpha1/seed1"]
    rows = {r["entry"]: r for r in run_cost.compute_rows(rec)}
    assert rows["set aside"]["invocations"] == len(json.loads(moved.read_text())["training_invocations"]) >= 1
