"""What a recorded run's training cost: wall time, paused time and core-hours per entry, from each model's
provenance (``training_invocations``, as the drivers and ``record`` write them).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sofkd_lib.companion.stats import SeededRun, entries_with_teacher, label


def _invocation_cores(inv: Mapping[str, Any]) -> int:
    """Cores one training invocation occupied: its OpenMP threads (the miniature driver's ``threads``, else
    the torch threads its hardware entry reports)."""
    return int(inv.get("threads") or (inv.get("hardware") or {}).get("torch_threads") or 1)


def _paused_hours(invocations: Sequence[Mapping[str, Any]]) -> float | None:
    """Hours the trainers of ``invocations`` were stopped; None when no invocation kept it (runs recorded
    before drivers kept their pauses)."""
    kept = [inv["paused_seconds"] for inv in invocations if inv.get("paused_seconds") is not None]
    return sum(kept) / 3600 if kept else None


def _span_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: the time at least one of them was running."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def compute_rows(run: SeededRun, seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Per entry, from the provenance's ``training_invocations``: seeds, invocations, training wall hours
    (summed over seeds and resumes), the hours its trainers were paused (stopped while other work ran: an
    invocation's ``paused_seconds``; None where none was kept), core-hours ((wall − paused) × the cores each
    invocation used), the trainer's own clock (pauses inside its steps included), and the evaluation time of
    recording; a last row ``all`` with the totals and, as ``wall_hours``, the time at least one training
    process was running (overlapping runs counted once); ``reconstructed``
    counts invocations whose entry was rebuilt afterwards from a log (it says so in the entry, with its
    evidence). ``seeds`` keeps only those seeds' students (a shared teacher is always counted); without it, a
    row ``set aside`` counts the models trained for the run and left out of its tables (``run.set_aside``)."""
    from datetime import datetime

    rows, spans = [], []
    groups = [(name, label(name), [p for s, p in run.provenance.get(name, {}).items()
                                    if seeds is None or s is None or s in seeds])
              for name in entries_with_teacher(run)]
    if seeds is None and run.set_aside:
        groups.append(("set aside", "set aside (not in the tables)", list(run.set_aside)))
    for name, model, provs in groups:
        invs = [inv for p in provs for inv in p.get("training_invocations") or []]
        if not provs:
            continue
        spans += [(datetime.fromisoformat(inv["start"]).timestamp(), datetime.fromisoformat(inv["end"]).timestamp())
                  for inv in invs]
        rows.append({"entry": name, "model": model, "seeds": len(provs), "invocations": len(invs),
                     "reconstructed": sum("reconstructed" in inv for inv in invs),
                     "wall_hours": sum(inv["wall_seconds"] for inv in invs) / 3600,
                     "paused_hours": _paused_hours(invs),
                     "core_hours": sum((inv["wall_seconds"] - (inv.get("paused_seconds") or 0.0))
                                       * _invocation_cores(inv) for inv in invs) / 3600,
                     "trainer_hours": sum(p.get("training_seconds") or 0.0 for p in provs) / 3600,
                     "evaluation_hours": sum(p.get("evaluation_seconds") or 0.0 for p in provs) / 3600})
    if rows:
        rows.append({"entry": "all", "model": "all models", "seeds": None,
                     "invocations": sum(r["invocations"] for r in rows), "wall_hours": _span_seconds(spans) / 3600,
                     "reconstructed": sum(r["reconstructed"] for r in rows),
                     "paused_hours": None if all(r["paused_hours"] is None for r in rows)
                     else sum(r["paused_hours"] or 0.0 for r in rows),
                     **{k: sum(r[k] for r in rows) for k in ("core_hours", "trainer_hours", "evaluation_hours")}})
    return rows


def compute_table(run: SeededRun):
    """:func:`compute_rows` as a display DataFrame (hours with two decimals)."""
    import pandas as pd

    out = [{"model": r["model"], "seeds": "" if r["seeds"] is None else r["seeds"], "invocations": r["invocations"],
            "training wall (h)": f"{r['wall_hours']:.2f}",
            "paused (h)": "not kept" if r["paused_hours"] is None else f"{r['paused_hours']:.2f}",
            "core-hours": f"{r['core_hours']:.2f}",
            "trainer's clock (h)": f"{r['trainer_hours']:.2f}", "evaluation (h)": f"{r['evaluation_hours']:.2f}"}
           for r in compute_rows(run)]
    return pd.DataFrame(out).set_index("model")

