"""Tables 1 and 2 of Lee & Park (2023): the paper's printed values beside this project's numbers.

Table 1 (PSNR/SSIM of the five models and bicubic) puts :data:`PAPER_TABLE1` beside
the pipeline's ``results.json`` and a recorded run; Table 2 (parameter counts) puts
:data:`sofkd_lib.evaluation.params.PAPER_TABLE2` beside the counts of :mod:`sofkd_lib.evaluation.params`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sofkd_lib.data.datasets import PAPER_DAVIS_SET
from sofkd_lib.method.variants import TABLE1

#: Table 1 row labels, in the paper's order, keyed by the pipeline's model names (rows from
#: :mod:`sofkd_lib.method.variants`, plus the bicubic floor the paper does not print).
TABLE1_ROWS: dict[str, str] = {"bicubic": "Bicubic", **{v.name: v.label for v in TABLE1}}

#: Table 1 of Lee & Park, "Knowledge Distillation for Optical Flow-Based Video
#: Super-resolution", JCSE 17(1):13–19, 2023, as printed (x4, PSNR in dB and SSIM on
#: the Y channel, average and max): ``{dataset: {model: {column: value}}}`` with
#: ``model`` a key of :data:`TABLE1_ROWS` (the paper has no bicubic row) and the
#: dataset keys of ``results.json``. The paper's "DAVIS-2017 test" is read as the DAVIS-2017
#: test-dev set (:data:`PAPER_DAVIS_SET`, ``davis-2017-test-dev``), scored when the shared data holds it.
PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "vid4": {
        "teacher": {"psnr_avg": 25.6578, "psnr_max": 28.8419, "ssim_avg": 0.7521, "ssim_max": 0.8808},
        "student": {"psnr_avg": 25.1063, "psnr_max": 28.2611, "ssim_avg": 0.7176, "ssim_max": 0.8682},
        "phase1": {"psnr_avg": 25.6781, "psnr_max": 28.9139, "ssim_avg": 0.7512, "ssim_max": 0.8813},
        "phase2": {"psnr_avg": 25.6574, "psnr_max": 28.8806, "ssim_avg": 0.7504, "ssim_max": 0.8808},
        "phase1+2": {"psnr_avg": 25.6983, "psnr_max": 28.9384, "ssim_avg": 0.7525, "ssim_max": 0.8820},
    },
    PAPER_DAVIS_SET: {
        "teacher": {"psnr_avg": 32.1800, "psnr_max": 43.1598, "ssim_avg": 0.8632, "ssim_max": 0.9801},
        "student": {"psnr_avg": 31.7056, "psnr_max": 42.6076, "ssim_avg": 0.8512, "ssim_max": 0.9766},
        "phase1": {"psnr_avg": 32.1474, "psnr_max": 43.3542, "ssim_avg": 0.8625, "ssim_max": 0.9807},
        "phase2": {"psnr_avg": 32.1427, "psnr_max": 43.4044, "ssim_avg": 0.8624, "ssim_max": 0.9807},
        "phase1+2": {"psnr_avg": 32.1953, "psnr_max": 43.4571, "ssim_avg": 0.8633, "ssim_max": 0.9811},
    },
}
#: What each dataset key of :data:`PAPER_TABLE1` names, as the paper labels it.
PAPER_DATASETS: dict[str, str] = {"vid4": "Vid4", PAPER_DAVIS_SET: "DAVIS-2017 test"}

METRIC_COLUMNS = ("psnr_avg", "ssim_avg", "psnr_max", "ssim_max")
#: How this project reads the paper's "Max" column (the paper does not define it).
MAX_READING = "max = the best single scored frame over all sequences of the test set"
#: Printed precision: the paper's values as printed (4 decimals), ours to 0.01 dB PSNR / 4 decimals SSIM.
_PAPER_FMT = {"psnr": "{:.4f}", "ssim": "{:.4f}"}
_OURS_FMT = {"psnr": "{:.2f}", "ssim": "{:.4f}"}
_DIFF_FMT = {"psnr": "{:+.2f}", "ssim": "{:+.4f}"}
#: Shown where a source has no value for a model (e.g. the paper's bicubic row).
MISSING = "—"


def format_duration(seconds: float) -> str:
    """A duration for readers: "48 s", "5 min 02 s", "2 h 05 min"."""
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a non-negative number of seconds, got {seconds!r}")
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def dataset_metric(summary: Mapping[str, Any], metric: str, kind: str) -> float:
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
    for a recorded run (:func:`sofkd_lib.weights.pretrained.recorded_results`); ``paper``
    defaults to :data:`PAPER_TABLE1`. A model missing from one source gets None in
    that source's cells; a dataset that no source has raises KeyError.
    """
    paper = PAPER_TABLE1 if paper is None else paper
    build, rec = _dataset_models(results, dataset), _dataset_models(recorded, dataset)
    ref_models = dict(paper.get(dataset) or {})
    if not build and not rec and not ref_models:
        have = sorted({*((results or {}).get("datasets") or {}), *((recorded or {}).get("datasets") or {}), *paper})
        raise KeyError(f"no results for dataset {dataset!r}; there are results for {have}")
    rows = []
    for key, label in TABLE1_ROWS.items():
        if key not in build and key not in rec and key not in ref_models:
            continue
        row: dict[str, Any] = {"model": label, "key": key}
        ref = ref_models.get(key, {})
        for col in METRIC_COLUMNS:
            metric, kind = col.split("_")
            kind = "average" if kind == "avg" else "max"
            row[col] = dataset_metric(build[key], metric, kind) if key in build else None
            row[f"recorded_{col}"] = dataset_metric(rec[key], metric, kind) if key in rec else None
            row[f"paper_{col}"] = ref.get(col)
        rows.append(row)
    return rows


def _sources(results: Mapping[str, Any] | None, dataset: str, recorded: Mapping[str, Any] | None,
             paper: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column label, row-field prefix) of every source that has ``dataset``, paper first."""
    out = [("paper", "paper_")] if paper.get(dataset) else []
    if _dataset_models(recorded, dataset):
        out.append(("recorded", "recorded_"))
    if _dataset_models(results, dataset):
        out.append((f"this build ({(results or {}).get('profile', '?')})", ""))
    return out


def table1_frame(results: Mapping[str, Any] | None, dataset: str, kind: str = "average",
                 paper: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                 recorded: Mapping[str, Any] | None = None):
    """Half of Table 1 (``kind`` "average" or "max") for ``dataset`` as a pandas DataFrame of strings.

    Columns: for PSNR (dB) and SSIM, the paper's value as printed, then each measured
    source (the recorded run, this build) followed by its difference from the paper
    ("− paper"). Sources without ``dataset`` are left out; a model a source lacks shows
    :data:`MISSING`. Split by ``kind`` so that each table fits a page.
    """
    import pandas as pd

    if kind not in ("average", "max"):
        raise ValueError(f"kind must be 'average' or 'max', got {kind!r}")
    paper = PAPER_TABLE1 if paper is None else paper
    rows = table1_rows(results, dataset, paper, recorded)
    suffix = "avg" if kind == "average" else "max"
    has_paper = bool(paper.get(dataset))
    data: dict[tuple[str, str], list[str]] = {}
    for metric, title in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        col = f"{metric}_{suffix}"
        for label, prefix in _sources(results, dataset, recorded, paper):
            fmt = _PAPER_FMT[metric] if prefix == "paper_" else _OURS_FMT[metric]
            data[(title, label)] = [MISSING if r[prefix + col] is None else fmt.format(r[prefix + col]) for r in rows]
            if prefix != "paper_" and has_paper:
                data[(title, f"{label.split(' (')[0]} − paper")] = [
                    MISSING if r[prefix + col] is None or r["paper_" + col] is None
                    else _DIFF_FMT[metric].format(r[prefix + col] - r["paper_" + col]) for r in rows]
    frame = pd.DataFrame(data, index=[r["model"] for r in rows])
    frame.index.name = "model"
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def table1_long(results: Mapping[str, Any] | None, dataset: str,
                paper: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                recorded: Mapping[str, Any] | None = None):
    """Table 1 of ``dataset`` in long form (model, quantity, source, value), the values unrounded.

    Sources are named as in :func:`table1_frame`; the input of
    :func:`sofkd_lib.companion.plotting.plot_paper_comparison`.
    """
    import pandas as pd

    paper = PAPER_TABLE1 if paper is None else paper
    titles = {"psnr_avg": "PSNR avg (dB)", "psnr_max": "PSNR max (dB)", "ssim_avg": "SSIM avg", "ssim_max": "SSIM max"}
    records = [{"model": r["model"], "quantity": titles[col], "source": label, "value": r[prefix + col]}
               for r in table1_rows(results, dataset, paper, recorded)
               for label, prefix in _sources(results, dataset, recorded, paper)
               for col in ("psnr_avg", "psnr_max", "ssim_avg", "ssim_max") if r[prefix + col] is not None]
    return pd.DataFrame(records, columns=["model", "quantity", "source", "value"])


def kd_comparison(results: Mapping[str, Any], dataset: str) -> Any:
    """Per sequence and on average: PSNR of each KD student minus the no-KD student (dB), plus both raw values.

    ``results`` in the ``results.json`` layout (this build's or a recorded run's).
    Positive = distillation helped at that budget.
    """
    import pandas as pd

    models = _dataset_models(results, dataset)
    distilled = [v.name for v in TABLE1 if v.equation != "Eq. 1"]  # the KD rows, compared with the no-KD student
    need = [m for m in ("student", *distilled) if m not in models]
    if need:
        raise KeyError(f"{dataset}: no results for {need}")
    seqs = list(models["student"]["sequences"])
    table = {}
    for m in (v.name for v in TABLE1):
        if m in models:
            table[f"{m} (dB)"] = [models[m]["sequences"][q]["psnr_mean"] for q in seqs] + \
                                 [dataset_metric(models[m], "psnr", "average")]
    for m in distilled:
        table[f"{m} − student (dB)"] = [a - b for a, b in zip(table[f"{m} (dB)"], table["student (dB)"])]
    frame = pd.DataFrame(table, index=[*seqs, "average"])
    frame.index.name = "sequence"
    return frame


def table2_frame(scale: int = 4, n_frames: int = 3):
    """Table 2: the paper's printed values (``PAPER_TABLE2``, M = 2^20) beside our exact counts.

    Per part (OFRnet, SRnet, total): the paper's value, our count and our count in
    M to 4 decimals; ``match`` says whether our counts, rounded and summed the way
    the paper prints them (:meth:`sofkd_lib.evaluation.params.ParamRow.in_mebi`), give every
    printed value of the row, its percentage of the teacher included.
    """
    import pandas as pd

    from sofkd_lib.evaluation.params import PAPER_TABLE2, PAPER_TABLE2_PERCENT, table2

    rows = table2(scale, n_frames)
    teacher_total = next(r.total for r in rows if r.key == "teacher")
    data: dict[tuple[str, str], list[Any]] = {}
    for i, part in enumerate(("OFRnet", "SRnet", "total")):
        # As printed: three decimals, except the teacher's total, which the paper prints as 1.
        data[(part, "paper (M)")] = [f"{v:g}" if v == 1 else f"{v:.3f}" for v in (PAPER_TABLE2[r.key][i] for r in rows)]
        data[(part, "ours (count)")] = [f"{(r.ofrnet, r.srnet, r.total)[i]:,}" for r in rows]
        data[(part, "ours (M)")] = [f"{r.exact_mebi()[i]:.4f}" for r in rows]
    percent = [100 * r.total / teacher_total for r in rows]
    data[("% of teacher", "paper")] = [f"{PAPER_TABLE2_PERCENT[r.key]}" for r in rows]
    data[("% of teacher", "ours")] = [f"{p:.1f}" for p in percent]
    data[("", "match")] = [r.in_mebi() == PAPER_TABLE2[r.key] and round(p) == PAPER_TABLE2_PERCENT[r.key]
                           for r, p in zip(rows, percent)]
    frame = pd.DataFrame(data, index=[r.name for r in rows])
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "model"
    return frame


def budget_rows(profile: str, results: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per variant: iterations, batch and patch of ``profile`` (and measured wall time when ``results`` has it)."""
    from sofkd_lib.engine.config import VARIANTS, profile_config

    rows = []
    runs = (results or {}).get("runs", {})
    for variant in VARIANTS:
        params = runs.get(variant, {}).get("parameters", {})
        overrides = {k: v for k, v in params.items() if k in ("iterations", "batch_size", "alpha", "seed")}
        c = profile_config(profile, overrides, variant=variant)
        row = {"variant": variant, "iterations": int(c.total_iterations), "batch": int(c.batch_size),
               "LR patch": f"{c.patch_size}×{c.patch_size}", "alpha": float(c.alpha)}
        if variant in runs:
            row["wall (s)"] = float(runs[variant].get("wall_s", float("nan")))
            row["wall"] = MISSING if math.isnan(row["wall (s)"]) else format_duration(row["wall (s)"])
        rows.append(row)
    return rows


def budget_label(profile: str) -> str:
    """One line stating the widths and training budget of ``profile`` (the paper: 320 and 240 channels)."""
    from sofkd_lib.engine.config import profile_config, profile_notes

    c = profile_config(profile)
    longer = [f"{row} {n:,} it" for row, n in (("phase 1", c.phase1_iterations), ("phase 2 alone", c.phase2_iterations))
              if n != c.phase_iterations]
    return (f"profile {profile}: ResBlocks of {c.teacher_channels} (teacher) and {c.student_channels} (student) "
            f"channels; teacher {c.teacher_iterations:,} it, student w/o KD {c.student_iterations:,} it, "
            f"each distillation phase {c.phase_iterations:,} it"
            + (f" ({', '.join(longer)})" if longer else "")
            + f"; batch {c.batch_size} of "
            f"{c.patch_size}×{c.patch_size} LR patches ({profile_notes(profile)})")


def readable_value(name: str, text: str) -> str:
    """A value a training notebook glued, for the reader: ``*seconds`` as durations, PSNR to 0.01 dB,
    whole numbers with thousands separators, other numbers to 4 significant digits, NaN as :data:`MISSING`."""
    try:
        value = float(text)
    except ValueError:
        return text
    if value != value:
        return MISSING
    if name.endswith("seconds"):
        return format_duration(value)
    if "psnr" in name:
        return f"{value:.2f} dB"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def caveat_lines(caveats: Mapping[str, str]) -> list[str]:
    """One line per distinct caveat of a recorded run, naming every model it concerns."""
    by_text: dict[str, list[str]] = {}
    for model, text in caveats.items():
        by_text.setdefault(text, []).append(model)
    return [f"caveat, recorded {' and '.join(models)}: {text}" for text, models in by_text.items()]
