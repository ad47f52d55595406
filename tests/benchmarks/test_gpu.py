"""The GPU benchmark's arithmetic (budget planning, paper-profile projection, report) on hand-made timings.

The timings themselves need a GPU (``python -m bench.gpu``); what turns them into
the recorded run's budgets and the book's projection is checked here.
"""
from __future__ import annotations

import json

import pytest

from bench import gpu
from bench.report import tables

STEP = {"teacher": 0.040, "student": 0.030, "phase1": 0.020, "phase2": 0.050}


def _timings(sampler: float = 0.010) -> dict:
    train = {f"{v}/bf16_channels_last": {"median_s": s} for v, s in STEP.items()}
    return {"train": train, "sampler": {"median_s": sampler}}


def test_plan_fits_the_window_in_hundreds(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(_timings()))
    # teacher: 400 s × 0.85 / (0.040 + 0.010) s = 6800 iterations.
    assert gpu.plan(path, "teacher", 400) == 6800
    # students: per unit of P, 2 student + 1 phase1 + 2 phase2 steps (phase1+2 costs a phase-2 step):
    # 2·0.040 + 1·0.030 + 2·0.060 = 0.230 s → 480 × 0.85 / 0.23 = 1773.9 → 1700.
    assert gpu.plan(path, "students", 480) == 1700
    assert gpu.plan(path, "phase1+2", 1) == 100  # never below one hundred


def test_projection_of_the_paper_profile():
    proj = gpu.projection(_timings()["train"], {"median_s": 0.010})
    rows = proj["variants"]
    assert {v: r["iterations"] for v, r in rows.items()} == {
        "teacher": 200_000, "student": 400_000, "phase1": 200_000, "phase2": 200_000, "phase1+2": 200_000}
    assert rows["student"]["hours_step_only"] == pytest.approx(400_000 * 0.030 / 3600)
    assert rows["phase1+2"]["hours_with_sampling"] == pytest.approx(200_000 * 0.060 / 3600)
    step_s = 200_000 * (0.040 + 0.020 + 0.050 + 0.050) + 400_000 * 0.030
    assert proj["total_hours_step_only"] == pytest.approx(step_s / 3600)
    assert proj["total_hours_with_sampling"] == pytest.approx((step_s + 1_200_000 * 0.010) / 3600)
    assert "error" in gpu.projection({}, None)


def test_report_renders_a_gpu_file():
    data = {"kind": "gpu", "date": "2026-11-25T00:00:00Z", "errors": {},
            "machine": {"gpu": "Test GPU", "multiprocessors": 1, "memory_gib": 1.0, "torch": "x", "cuda": "y",
                        "cpu_count": 2},
            "matmul_tflops": {"float32": 50.0, "bfloat16": 700.0}, "sampler": {"median_s": 0.0134},
            "settings": {"batch": 64, "patch": 32},
            "train": {"teacher/bf16_channels_last": {"median_s": 0.0428, "peak_mib": 3781.0}},
            "inference": {"teacher/vid4/bf16_batch8": {"median_s": 0.0302, "frames": 8, "frames_per_s": 264.9,
                                                       "peak_mib": 2020.0}}}
    text = tables(data)
    assert "Test GPU" in text and "| teacher/bf16_channels_last | 42.8 | 23.4 | 3,781 |" in text
    assert "| teacher/vid4/bf16_batch8 | 3.78 (batch 8) | 265 | 2,020 |  |" in text
    assert "13 ms per batch of 64" in text


def test_schedule_hours_sequential_and_concurrent():
    step = {**STEP, "phase1+2": STEP["phase2"]}
    row = gpu.schedule_hours(step, 0.010, {"teacher": 36.0})
    # Sequential: 200k·0.050 + 400k·0.040 + 200k·0.030 + 2·200k·0.060 + 36 s of compiling = 56,036 s.
    assert row["sequential_hours"] == pytest.approx(56_036 / 3600)
    # Critical path teacher → phase1 → phase1+2: 10,036 + 6,000 + 12,000 s (teacher → phase2: 22,036; student: 16,000).
    assert row["critical_path"] == ["teacher", "phase1", "phase1+2"]
    assert row["critical_path_hours"] == pytest.approx(28_036 / 3600)
    # GPU work: 200k·(0.040 + 0.020 + 0.050 + 0.050) + 400k·0.030 = 44,000 s; no gain measured → the work bound rules.
    assert row["work_hours"] == pytest.approx(44_000 / 3600) and not row["gain_measured"]
    assert row["concurrent_hours"] == pytest.approx(44_000 / 3600)
    # A measured gain of 2 halves the work (22,000 s): the critical path (28,036 s) is then the bound.
    row2 = gpu.schedule_hours(step, 0.010, {"teacher": 36.0}, gain=2.0)
    assert row2["work_hours"] == pytest.approx(22_000 / 3600)
    assert row2["concurrent_hours"] == pytest.approx(28_036 / 3600) and row2["gain_measured"]


def test_schedules_from_a_results_dict():
    data = _timings()
    data["train"]["teacher/bf16_channels_last_compiled"] = {"median_s": 0.025, "first_call_s": 40.025}
    data["device_sampler"] = {"median_s": 0.001}
    data["concurrent"] = {"gain": 2.5}
    rows = gpu.projection(data["train"], data["sampler"], data)["schedules"]
    assert sorted(rows) == sorted(f"{m}+{s}" for m in ("eager", "compiled")
                                  for s in ("cpu_sampler", "device_sampler", "no_sampling"))
    r = rows["compiled+no_sampling"]
    assert r["eager_for"] == ["student", "phase1", "phase2", "phase1+2"]
    assert r["compile_hours"] == pytest.approx(40 / 3600)
    # Steps: teacher 200k·0.025 = 5,000 s (+40 s compiling), student 12,000, phase1 4,000, phase2 and phase1+2 10,000.
    assert r["sequential_hours"] == pytest.approx(41_040 / 3600)
    # Work 41,000 s / 2.5 = 16,400 s < critical path 5,040 + 4,000 + 10,000 = 19,040 s.
    assert r["work_hours"] == pytest.approx(16_400 / 3600)
    assert r["concurrent_hours"] == pytest.approx(19_040 / 3600)
    # With the device sampler (1 ms per step): the critical path's 600k iterations add 600 s.
    assert rows["compiled+device_sampler"]["critical_path_hours"] == pytest.approx(19_640 / 3600)
    assert "error" in gpu.schedules({"train": {}})


def test_plan_cases_of_the_moves():
    cases = gpu.plan_cases(moves=True, compile_modes=("default", "reduce-overhead"), compile_variants=("teacher",),
                           concurrent=("student", "phase1", "phase2"))
    assert cases == [
        ("sampler", "cpu"), ("sampler", "device"),
        ("train", "teacher/bf16_channels_last"), ("train", "student/bf16_channels_last"),
        ("train", "phase1/bf16_channels_last"), ("train", "phase2/bf16_channels_last"),
        ("concurrent", "student,phase1,phase2"), ("projection", "paper"),
        ("train", "teacher/bf16_channels_last_compiled"),
        ("train", "teacher/bf16_channels_last_compiled_reduce-overhead"), ("projection", "paper")]
    full = gpu.plan_cases()
    # 2 samplers, 4 × 2 steps, 2 × 2 more steps, 2 models × 2 sizes × 4 inference modes, 2 compiled, 2 projections.
    assert len(full) == 2 + 8 + 4 + 16 + 2 + 2
    assert gpu.plan_cases(compile_only=True, compile_variants=("phase1",)) == [
        ("train", "phase1/bf16_channels_last"), ("train", "phase1/bf16_channels_last_compiled"),
        ("projection", "paper")]
    with pytest.raises(ValueError, match="fast"):
        gpu.plan_cases(compile_modes=("fast",))


def test_concurrent_gain_counts_overlap(monkeypatch):
    import time

    # Two "steps" that only wait (as a GPU-bound step leaves the host): run at once, they overlap.
    monkeypatch.setattr(gpu, "train_step", lambda *a, **k: (lambda: time.sleep(0.05)))
    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    res = gpu.concurrent_seconds(["student", "phase1"], 6, {"student": 0.05, "phase1": 0.05})
    assert res["serial_s"] == pytest.approx(0.6)
    assert 1.5 < res["gain"] <= 2.05


def test_project_command_recomputes_a_file(tmp_path, capsys):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(_timings()))
    assert gpu.main(["--project", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schedules"]["eager+cpu_sampler"]["critical_path"] == ["teacher", "phase1", "phase1+2"]
    assert out["total_hours_with_sampling"] == pytest.approx(gpu.projection(_timings()["train"],
                                                                            {"median_s": 0.010})["total_hours_with_sampling"])


def test_device_sampler_case_on_the_cpu(monkeypatch):
    import numpy as np

    import sofkd_lib.data
    from sofkd_lib.data import Clip

    frames = np.random.default_rng(0).integers(0, 256, (3, 136, 136, 3), dtype=np.uint8)
    monkeypatch.setattr(sofkd_lib.data, "load_split", lambda *a, **k: [Clip("c", frames, "t")])
    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    monkeypatch.setattr(gpu, "BATCH", 2)
    res = gpu.device_sampler_seconds(batches=2)
    assert res["n"] == 2 and res["same_as_cpu_sampler"] and res["max_abs_diff_vs_cpu_sampler"] == 0.0
    assert res["resident_mib"] == 3 * (3 * 136 * 136 + 3 * 34 * 34) / 2**20
