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
