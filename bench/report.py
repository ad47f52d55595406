"""Render ``results/bench/cpu.json`` or ``gpu.json`` as Markdown tables: ``python -m bench.report [path]``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .run import DEFAULT_OUT


def _ms(s: float) -> str:
    return f"{1e3 * s:,.0f}"


def tables(data: dict) -> str:
    """Markdown for a benchmark JSON: CPU (:mod:`bench.run`) or GPU (:mod:`bench.gpu`, ``kind`` 'gpu')."""
    if data.get("kind") == "gpu":
        return gpu_tables(data)
    m = data["machine"]
    threads = data["settings"].get("threads") or m["torch_threads"]
    lines = [
        f"Machine: {m['cpu_model']}, {m.get('cpu_count', m.get('logical_cpus'))} logical CPUs, torch {m['torch']}, "
        f"{threads} thread(s) per run, ONNX Runtime {m['onnxruntime']}; load average at start "
        f"{data['load_average_start'][0]:.1f}, at end {data.get('load_average_end', [float('nan')])[0]:.1f} "
        "(the benchmark's own workers count at the end). fp32 matmul rate "
        f"{data['matmul_gflops_start']:.0f} GFLOP/s at start, {data.get('matmul_gflops_end', float('nan')):.0f} at end.",
        "",
        # Files written before the trainer's step was timed recorded no description: an L1 loss on the SR frame.
        "Train step timed: " + data["settings"].get("train_step", "forward, L1 loss on the SR frame, backward, Adam") + ".",
        "",
        "| case | LR size | reference ms | optimised ms | optimised steps/s or frames/s | speedup "
        "| same-malloc speedup (default / tuned) | GFLOP | GFLOP/s | of matmul rate | page faults ref → opt |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in data["cases"]:
        t = c["timing"]
        h = t["headline"]
        faults = t.get("minor_page_faults_per_iter", {})
        ref_f = max(faults.get("reference_default_allocator", [0]))
        opt_f = max(faults.get("optimised_tuned_allocator", [0]))
        lines.append(
            f"| {c['name']} | {c['lr_size'][0]}×{c['lr_size'][1]} | {_ms(h['reference_s'])} | {_ms(h['optimised_s'])} "
            f"| {1 / h['optimised_s']:.2f} | **{h['speedup']:.2f}x** "
            f"| {t['default_allocator']['speedup']:.2f}x / {t['tuned_allocator']['speedup']:.2f}x "
            f"| {c['flops'] / 1e9:.1f} | {c['achieved_gflops']:.0f} | {100 * c['fraction_of_matmul_rate']:.0f}% "
            f"| {ref_f:,} → {opt_f:,} |"
        )
    mem = [c for c in data["cases"] if "memory" in c]
    if mem:
        lines += ["", "| case | peak RSS MiB: reference | optimised | optimised, tuned malloc |", "|---|---|---|---|"]
        for c in mem:
            r = c["memory"]
            lines.append(
                f"| {c['name']} | {r['reference_default_allocator']['peak_rss_mib']:.0f} "
                f"| {r['optimised_default_allocator']['peak_rss_mib']:.0f} "
                f"| {r['optimised_tuned_allocator']['peak_rss_mib']:.0f} |"
            )
    onnx = [c for c in data["cases"] if "onnx" in c]
    if onnx:
        lines += ["", "| case | PyTorch ms | ONNX Runtime ms | max abs diff | export s |", "|---|---|---|---|---|"]
        for c in onnx:
            o = c["onnx"]
            med = {k: sorted(v)[len(v) // 2] for k, v in o["times_s"].items()}
            lines.append(f"| {c['name']} | {_ms(med['pytorch'])} | {_ms(med['onnxruntime'])} "
                         f"| {o['max_abs_diff_sr']:.1e} | {o['export_s']:.0f} |")
    return "\n".join(lines)


def gpu_tables(data: dict) -> str:
    """The GPU benchmark: train steps, inference, the compile check and the ``paper``-profile projection."""
    m, mm = data["machine"], data["matmul_tflops"]
    sampler = data.get("sampler") or {}
    lines = [
        f"Machine: {m['gpu']} ({m['multiprocessors']} SMs, {m['memory_gib']} GiB), torch {m['torch']}, CUDA {m['cuda']}, "
        f"{m['cpu_count']} CPU cores; measured {data['date']}. Matmul 8192³: float32 {mm['float32']:.0f} TFLOP/s "
        f"(TF32 off), bf16 {mm['bfloat16']:.0f} TFLOP/s. The trainer's CPU sampler: "
        f"{_ms(sampler.get('median_s', float('nan')))} ms per batch of {data['settings']['batch']} (synchronous, "
        "before each step).",
        "",
        f"**Train step** (batch {data['settings']['batch']}, {data['settings']['patch']}×{data['settings']['patch']} "
        "LR patches, x4; forward, Eq. losses, backward, Adam; batch already on the GPU)",
        "",
        "| variant / mode | ms per step | iterations/s | peak MiB |",
        "|---|---|---|---|",
    ]
    train = dict(data["train"])
    train.update({f"{k} (compile check)": v for k, v in (data.get("compile_check") or {}).get("train", {}).items()})
    for key, r in train.items():
        lines.append(f"| {key} | {1e3 * r['median_s']:.1f} | {1 / r['median_s']:.1f} | {r.get('peak_mib') or 0:,.0f} |")
    lines += ["", "**Inference** (one LR frame of 3 → centre SR, `torch.inference_mode`)", "",
              "| model / size / mode | ms | frames/s | peak MiB | TFLOP/s achieved |", "|---|---|---|---|---|"]
    for key, r in data["inference"].items():
        achieved = f"{r['achieved_tflops']:.1f}" if "achieved_tflops" in r else ""
        lines.append(f"| {key} | {1e3 * r['median_s'] / r['frames']:.2f} (batch {r['frames']}) "
                     f"| {r['frames_per_s']:.0f} | {r['peak_mib']:,.0f} | {achieved} |")
    proj = data.get("projection_paper_profile") or {}
    if "variants" in proj:
        lines += ["", "**`paper` profile on this GPU** (iterations × (step + sampling); validation excluded)", "",
                  "| variant | iterations | hours (step only) | hours (with sampling) |", "|---|---|---|---|"]
        for v, r in proj["variants"].items():
            lines.append(f"| {v} | {r['iterations']:,} | {r['hours_step_only']:.2f} | {r['hours_with_sampling']:.2f} |")
        lines.append(f"| **all five** | | {proj['total_hours_step_only']:.1f} | {proj['total_hours_with_sampling']:.1f} |")
    if data.get("errors"):
        lines += ["", "Cases that failed or were skipped: " + "; ".join(f"{k}: {v}" for k, v in data["errors"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else DEFAULT_OUT
    if not path.is_file():
        print(f"no benchmark results at {path}; run python -m bench.run first", file=sys.stderr)
        return 1
    print(tables(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
