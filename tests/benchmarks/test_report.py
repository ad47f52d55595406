"""The CPU benchmark report (bench.report) on a hand-made results file."""
from __future__ import annotations

from bench.report import tables


def _cpu_file(settings: dict) -> dict:
    timing = {
        "headline": {"reference_s": 0.8, "optimised_s": 0.25, "speedup": 3.2},
        "default_allocator": {"speedup": 2.5},
        "tuned_allocator": {"speedup": 2.0},
        "minor_page_faults_per_iter": {"reference_default_allocator": [1000, 1200], "optimised_tuned_allocator": [3]},
    }
    case = {"name": "train_teacher_b4_32x32", "kind": "train", "lr_size": [32, 32], "timing": timing,
            "flops": 50e9, "achieved_gflops": 200.0, "fraction_of_matmul_rate": 0.5}
    machine = {"cpu_model": "Test CPU", "logical_cpus": 2, "torch": "2.x", "torch_threads": 2, "onnxruntime": "1.x"}
    return {"machine": machine, "settings": settings, "load_average_start": [0.5, 0.5, 0.5],
            "matmul_gflops_start": 300.0, "matmul_gflops_end": 310.0, "cases": [case]}


def test_cpu_report_row_has_times_rate_and_speedups():
    text = tables(_cpu_file({"threads": 1, "train_step": "the trainer's step"}))
    assert "1 thread(s) per run" in text
    assert "Train step timed: the trainer's step." in text
    row = next(line for line in text.splitlines() if line.startswith("| train_teacher_b4_32x32"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # reference ms, optimised ms, optimised steps/s (1 / 0.25 s), headline and same-malloc speedups, GFLOP.
    assert cells[2:8] == ["800", "250", "4.00", "**3.20x**", "2.50x / 2.00x", "50.0"]
    assert cells[-1] == "1,200 → 3"


def test_cpu_report_names_the_old_l1_step_when_the_file_does_not():
    text = tables(_cpu_file({"threads": 2}))
    assert "Train step timed: forward, L1 loss on the SR frame, backward, Adam." in text
