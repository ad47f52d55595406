"""Render ``results/bench/cpu.json`` as Markdown tables: ``python -m bench.report [path]``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .run import DEFAULT_OUT


def _ms(s: float) -> str:
    return f"{1e3 * s:,.0f}"


def tables(data: dict) -> str:
    m = data["machine"]
    threads = data["settings"].get("threads") or m["torch_threads"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, torch {m['torch']}, "
        f"{threads} thread(s) per run, ONNX Runtime {m['onnxruntime']}; load average at start "
        f"{data['load_average_start'][0]:.1f} (cores shared with other jobs). fp32 matmul rate "
        f"{data['matmul_gflops_start']:.0f} GFLOP/s at start, {data.get('matmul_gflops_end', float('nan')):.0f} at end.",
        "",
        "| case | LR size | reference ms | optimised ms | speedup | same-malloc speedup (default / tuned) "
        "| GFLOP | GFLOP/s | of matmul rate | page faults ref → opt |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in data["cases"]:
        t = c["timing"]
        h = t["headline"]
        faults = t.get("minor_page_faults_per_iter", {})
        ref_f = max(faults.get("reference_default_allocator", [0]))
        opt_f = max(faults.get("optimised_tuned_allocator", [0]))
        lines.append(
            f"| {c['name']} | {c['lr_size'][0]}×{c['lr_size'][1]} | {_ms(h['reference_s'])} | {_ms(h['optimised_s'])} "
            f"| **{h['speedup']:.2f}x** | {t['default_allocator']['speedup']:.2f}x / {t['tuned_allocator']['speedup']:.2f}x "
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
