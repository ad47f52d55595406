"""Tables 1 and 2 of Lee & Park (2023) assembled from this build's numbers.

Table 1 (PSNR/SSIM of the five models and bicubic) comes from the pipeline's
``results.json``; Table 2 (parameter counts) from :mod:`sofkd_lib.params`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Table 1 row labels, in the paper's order, keyed by the pipeline's model names.
TABLE1_ROWS: dict[str, str] = {
    "bicubic": "Bicubic",
    "teacher": "Teacher (SOF-VSR, 320 ch.)",
    "student": "Student w/o KD (240 ch.)",
    "phase1": "Proposed Phase 1",
    "phase2": "Proposed Phase 2",
    "phase1+2": "Proposed Phase 1+2",
}

#: The paper's own Table 1, to be transcribed by a maintainer from the published
#: article: ``{dataset: {model: {"psnr_avg": .., "ssim_avg": .., "psnr_max": .., "ssim_max": ..}}}``
#: with ``model`` a key of :data:`TABLE1_ROWS`. It is empty on purpose: no copy of
#: the paper's full text was available when this book was written, and numbers
#: are not invented. Every empty cell renders as "not transcribed".
PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {}

NOT_TRANSCRIBED = "not transcribed"
METRIC_COLUMNS = ("psnr_avg", "ssim_avg", "psnr_max", "ssim_max")


def _metric(summary: Mapping[str, Any], metric: str, kind: str) -> float:
    """Read a dataset-level ``average``/``max`` of ``metric`` from an evaluation dict.

    Accepts both layouts the evaluator may write: ``{"average": {"psnr": x}}`` and
    ``{"psnr": {"average": x}}`` / ``{"psnr_average": x}``.
    """
    for getter in (
        lambda: summary[kind][metric],
        lambda: summary[metric][kind],
        lambda: summary[f"{metric}_{kind}"],
    ):
        try:
            return float(getter())
        except (KeyError, TypeError):
            continue
    raise KeyError(f"evaluation result lacks the dataset {kind} of {metric!r}; keys: {sorted(summary)}")


def _dataset_models(results: Mapping[str, Any] | None, dataset: str) -> dict[str, Any]:
    return dict((((results or {}).get("datasets") or {}).get(dataset) or {}).get("models") or {})


def table1_rows(results: Mapping[str, Any] | None, dataset: str,
                paper: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                recorded: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One dict per model: this build's average/max PSNR/SSIM, the recorded run's and the paper's, for ``dataset``.

    ``results`` is the pipeline's ``results.json``; ``recorded`` the same layout
    for a recorded run (:func:`sofkd_lib.pretrained.recorded_results`). A model
    missing from one source gets None in that source's cells; a dataset missing
    from both raises KeyError.
    """
    paper = PAPER_TABLE1 if paper is None else paper
    build, rec = _dataset_models(results, dataset), _dataset_models(recorded, dataset)
    if not build and not rec:
        have = sorted({*((results or {}).get("datasets") or {}), *((recorded or {}).get("datasets") or {})})
        raise KeyError(f"no results for dataset {dataset!r}; there are results for {have}")
    rows = []
    for key, label in TABLE1_ROWS.items():
        if key not in build and key not in rec:
            continue
        row: dict[str, Any] = {"model": label, "key": key}
        ref = paper.get(dataset, {}).get(key, {})
        for col in METRIC_COLUMNS:
            metric, kind = col.split("_")
            kind = "average" if kind == "avg" else "max"
            row[col] = _metric(build[key], metric, kind) if key in build else None
            row[f"recorded_{col}"] = _metric(rec[key], metric, kind) if key in rec else None
            row[f"paper_{col}"] = ref.get(col)
        rows.append(row)
    return rows


def table1_frame(results: Mapping[str, Any] | None, dataset: str,
                 paper: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                 recorded: Mapping[str, Any] | None = None):
    """Table 1 for ``dataset`` as a pandas DataFrame with column groups paper / recorded run / this build."""
    import pandas as pd

    rows = table1_rows(results, dataset, paper, recorded)
    groups = [("paper", "paper_", NOT_TRANSCRIBED)]
    if recorded is not None:
        groups.append((f"recorded ({recorded['run_id']})", "recorded_", "not recorded"))
    if _dataset_models(results, dataset):
        groups.append((f"this build ({(results or {}).get('profile', '?')})", "", "not run"))
    data = {}
    for group, prefix, missing in groups:
        for col, title in zip(METRIC_COLUMNS, ("PSNR avg", "SSIM avg", "PSNR max", "SSIM max")):
            fmt = "{:.2f}" if col.startswith("psnr") else "{:.4f}"
            data[(group, title)] = [missing if r[prefix + col] is None else fmt.format(r[prefix + col]) for r in rows]
    frame = pd.DataFrame(data, index=[r["model"] for r in rows])
    frame.index.name = "model"
    return frame


def kd_comparison(results: Mapping[str, Any], dataset: str) -> Any:
    """Per sequence and on average: PSNR of each KD student minus the no-KD student (dB), plus both raw values.

    ``results`` in the ``results.json`` layout (this build's or a recorded run's).
    Positive = distillation helped at that budget.
    """
    import pandas as pd

    models = _dataset_models(results, dataset)
    need = [m for m in ("student", "phase1", "phase2", "phase1+2") if m not in models]
    if need:
        raise KeyError(f"{dataset}: no results for {need}")
    seqs = list(models["student"]["sequences"])
    table = {}
    for m in ("teacher", "student", "phase1", "phase2", "phase1+2"):
        if m in models:
            table[f"{m} (dB)"] = [models[m]["sequences"][q]["psnr_mean"] for q in seqs] + \
                                 [_metric(models[m], "psnr", "average")]
    for m in ("phase1", "phase2", "phase1+2"):
        table[f"{m} − student (dB)"] = [a - b for a, b in zip(table[f"{m} (dB)"], table["student (dB)"])]
    frame = pd.DataFrame(table, index=[*seqs, "average"])
    frame.index.name = "sequence"
    return frame


def table2_frame(scale: int = 4, n_frames: int = 3):
    """Table 2 counted from code beside the paper's ``PAPER_TABLE2`` (M = 2^20)."""
    import pandas as pd

    from .params import MEBI, PAPER_TABLE2, table2

    records = []
    for row in table2(scale, n_frames):
        ours = row.in_mebi()
        theirs = PAPER_TABLE2.get(row.name)
        records.append({
            "model": row.name,
            "OFRnet (count)": f"{row.ofrnet:,}",
            "SRnet (count)": f"{row.srnet:,}",
            "total (count)": f"{row.total:,}",
            "OFRnet M": f"{ours[0]:.3f}", "SRnet M": f"{ours[1]:.3f}", "total M": f"{ours[2]:.3f}",
            "paper OFRnet M": f"{theirs[0]:.3f}" if theirs else NOT_TRANSCRIBED,
            "paper SRnet M": f"{theirs[1]:.3f}" if theirs else NOT_TRANSCRIBED,
            "paper total M": f"{theirs[2]:.3f}" if theirs else NOT_TRANSCRIBED,
            "match": bool(theirs) and tuple(round(x, 3) for x in ours) == tuple(theirs),
            "total / 10^6": f"{row.total / 1e6:.3f}",
            "total / 2^20 exact": f"{row.total / MEBI:.4f}",
        })
    return pd.DataFrame(records).set_index("model")


def budget_rows(profile: str, results: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per variant: iterations, batch and patch of ``profile`` (and measured wall time when ``results`` has it)."""
    from .config import VARIANTS, make_config

    rows = []
    runs = (results or {}).get("runs", {})
    for variant in VARIANTS:
        params = runs.get(variant, {}).get("parameters", {})
        overrides = {k: v for k, v in params.items() if k in ("iterations", "batch_size", "alpha", "seed")}
        c = make_config(profile, overrides, variant=variant)
        row = {"variant": variant, "iterations": int(c.total_iterations), "batch": int(c.batch_size),
               "LR patch": f"{c.patch_size}×{c.patch_size}", "alpha": float(c.alpha)}
        if variant in runs:
            row["wall (s)"] = float(runs[variant].get("wall_s", float("nan")))
        rows.append(row)
    return rows


def budget_label(profile: str) -> str:
    """One line stating the training budget of ``profile`` against the paper's."""
    from .config import make_config, profile_notes

    c = make_config(profile)
    return (f"profile {profile}: teacher {c.teacher_iterations:,} it, student w/o KD {c.student_iterations:,} it, "
            f"each distillation phase {c.phase_iterations:,} it; batch {c.batch_size} of "
            f"{c.patch_size}×{c.patch_size} LR patches ({profile_notes(profile)})")
