"""Statistics over seeds: Table 1 as mean ± spread, KD − no-KD differences with confidence intervals.

One implementation for every multi-seed recorded run (``python -m sofkd_lib
record --seeds …``, see :mod:`sofkd_lib.companion.record`), full-size or miniature.

**Spread.** A Table 1 cell is the mean over seeds of a model's average score
(the authors' average: mean over sequences of the per-sequence frame means)
± the *sample* standard deviation over seeds (``ddof=1``, n − 1 in the
denominator); with one seed the spread is undefined and shown as such.

**Differences: a hierarchical bootstrap, seeds then frames, paired by frame.**
For a KD entry A against the no-KD student B, each of ``n_boot`` replicates

1. draws the seeds of A and, independently, those of B, with replacement
   (A's seed k and B's seed k are separate training runs, not a matched pair);
2. draws, within each sequence, its scored frames with replacement, *one draw
   shared by A and B*, so both models are scored on the same frames;
3. computes per sequence (mean of A − mean of B over the drawn seeds and
   frames) and their mean over sequences ("average", as the authors average).

The interval is the percentile interval of the replicates (95 % by default);
the estimate is the observed difference. The seed level carries what one seed
cannot tell apart from noise (initialisation, patch order), the frame level what
a finite test set adds; pairing by frame removes the large frame-to-frame spread
of difficulty that both models share (Vid4 frames range over several dB), which
an unpaired comparison would add to the noise. A paired test over frames within
each seed was the alternative; it was not chosen because it conditions on the
trained models, so it says whether *these* models differ, not whether the
training recipe does, and seed-to-seed variation is exactly what the question
"is the gain larger than seed noise?" is about.

Limits, stated rather than hidden: with three seeds the seed level has only ten
distinct resamples and the percentile bootstrap is known to be somewhat narrow
for so few; neighbouring frames of a video are correlated, so treating frames as
exchangeable makes the frame level optimistic. Both err toward a narrower
interval, so an interval that contains zero is a firm "not measurable", and one
that excludes zero by little should be read with care. Replicates are drawn
from ``numpy.random.default_rng(seed)``: the same inputs and seed give the same
interval.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sofkd_lib.data.datasets import DAVIS_SET_LABELS, DAVIS_SET_NAMES
from sofkd_lib.weights.pretrained import read_result

#: How the spread of a mean over seeds is computed (said wherever it is shown).
SPREAD = "sample standard deviation over seeds (n − 1 in the denominator)"
DATASET_NAMES = {"vid4": "Vid4", "embedded": "the embedded test split",
                 DAVIS_SET_NAMES["held-out"]: DAVIS_SET_LABELS["held-out"]}
#: The no-KD student every KD entry is compared with (as many iterations as two KD phases: student_budget).
BASELINE = "student"
#: How a sentence names each no-KD student (the two budget conventions).
BASELINE_WORDS = {"student": "the student without KD (as many iterations as two KD phases)",
                  "student-1phase": "the student without KD trained for one phase's iterations"}


class StatsError(ValueError):
    """Inputs that cannot be compared (different frames, no seeds, a missing entry); the message says which."""


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval (same unit as the estimate)."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class SeededRun:
    """A multi-seed recorded run as read from ``results/recorded/<run-id>/``.

    ``evals[entry][seed][dataset]`` is an evaluation JSON (seed None: the shared
    teacher and bicubic); ``provenance`` likewise; ``validation[entry][seed]`` the
    trainer's ``validation.csv`` as a DataFrame (absent when not recorded); ``set_aside``
    the models trained for the run and left out of it, with their compute
    (:func:`sofkd_lib.companion.recording.index.record_set_aside`).
    """

    run_id: str
    profile: str | None
    date: str | None
    repeat: str | None
    teacher: str | None
    seeds: tuple[int, ...]
    entries: tuple[str, ...]
    evals: dict[str, dict[int | None, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    provenance: dict[str, dict[int | None, dict[str, Any]]] = field(default_factory=dict)
    validation: dict[str, dict[int, Any]] = field(default_factory=dict)
    set_aside: tuple[dict[str, Any], ...] = ()

    @property
    def budget(self) -> dict[str, dict[str, Any]]:
        """Entry → the budget of its first recorded seed (every seed of an entry shares it)."""
        return {e: next(iter(p.values()))["budget"] for e, p in self.provenance.items() if p}


# --------------------------------------------------------------------------- reading
def seeded_runs(root: str | os.PathLike | None = None, exclude_profiles: Sequence[str] = ()) -> list[str]:
    """Run ids of the multi-seed runs recorded in ``root`` (default ``results/recorded``), newest first,
    leaving out runs trained at a profile in ``exclude_profiles`` (the miniature run has its own chapter)."""
    from sofkd_lib.weights.pretrained import read_index

    runs = read_index(root)["runs"]
    seeded = [r for r, info in runs.items() if "seeds" in info and info.get("profile") not in exclude_profiles]
    return sorted(seeded, key=lambda r: str(runs[r].get("date", "")), reverse=True)


def _read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from sofkd_lib.companion.recording.options import eval_files

    evals = {}
    for dataset, path in eval_files(folder).items():
        res = read_result(path)
        if "sequences" in res:  # {"skipped": reason} otherwise
            evals[dataset] = res
    prov = read_result(folder / "provenance.json") if (folder / "provenance.json").is_file() else None
    return evals, prov


def load_seeded_run(run_id: str, root: str | os.PathLike | None = None) -> SeededRun:
    """Every recorded seed of every entry of multi-seed run ``run_id`` (seeds not recorded yet are left out)."""
    import pandas as pd

    from sofkd_lib.companion.recording.index import SET_ASIDE_NAME
    from sofkd_lib.companion.recording.options import seed_dir
    from sofkd_lib.weights.pretrained import read_index, recorded_root

    root = Path(root or recorded_root())
    info = read_index(root)["runs"].get(run_id)
    if info is None or "seeds" not in info:
        raise StatsError(f"no multi-seed run {run_id!r} in {root / 'index.json'}; "
                         f"multi-seed runs: {', '.join(seeded_runs(root)) or 'none'}")
    folder = root / run_id
    evals: dict[str, dict[int | None, dict[str, Any]]] = {}
    provs: dict[str, dict[int | None, dict[str, Any]]] = {}
    curves: dict[str, dict[int, Any]] = {}
    shared = ("teacher", "bicubic")
    for name in (*shared, *(e for e in info["entries"] if e not in shared)):
        places = {None: folder / name} if name in shared else {s: folder / name / seed_dir(s) for s in info["seeds"]}
        for seed, place in places.items():
            res, prov = _read_folder(place)
            if name != "bicubic" and prov is None:
                continue  # provenance is written last: without it the seed is not recorded (yet)
            if res:
                evals.setdefault(name, {})[seed] = res
            if prov is not None:
                provs.setdefault(name, {})[seed] = prov
            if (place / "validation.csv").is_file():  # a teacher trained in the run has one too: keyed by its seed
                key = seed if seed is not None else int((prov or {}).get("seed") or 0)
                curves.setdefault(name, {})[key] = pd.read_csv(place / "validation.csv")
    set_aside = read_result(folder / SET_ASIDE_NAME)["models"] if (folder / SET_ASIDE_NAME).is_file() else []
    return SeededRun(run_id=run_id, profile=info.get("profile"), date=info.get("date"), repeat=info.get("repeat"),
                     teacher=info.get("teacher"), seeds=tuple(info["seeds"]),
                     entries=tuple(e for e in info["entries"] if e in evals), evals=evals, provenance=provs,
                     validation=curves, set_aside=tuple(set_aside))


def frame_matrix(run: SeededRun, name: str, dataset: str, metric: str = "psnr") -> dict[str, np.ndarray]:
    """Sequence → array (seeds × scored frames) of ``metric`` for entry ``name``; the frames must agree."""
    per_seed = run.evals.get(name, {})
    results = [(s, r[dataset]) for s, r in per_seed.items() if dataset in r]
    if not results:
        raise StatsError(f"run {run.run_id}: no {dataset} result for {name!r}")
    ref_seed, ref = results[0]
    out = {}
    for seq, data in ref["sequences"].items():
        rows = []
        for seed, res in results:
            got = res["sequences"].get(seq)
            if got is None or got["frames"] != data["frames"]:
                raise StatsError(f"run {run.run_id}: {name} seed {seed} scored other {dataset} frames than seed "
                                 f"{ref_seed} in sequence {seq!r}")
            rows.append(got[metric])
        out[seq] = np.asarray(rows, dtype=np.float64)
    return out


# --------------------------------------------------------------------------- summaries
def mean_spread(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation with n − 1, n); the spread is NaN for a single value."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise StatsError("mean_spread of no values")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else float("nan"), int(x.size)


def fmt_mean_spread(mean: float, sd: float, n: int, digits: int = 2) -> str:
    """``24.59 ± 0.03`` (spread as :data:`SPREAD`), or ``24.59 (n = 1)`` when there is no spread."""
    if n < 2 or not np.isfinite(sd):
        return f"{mean:.{digits}f} (n = {n})"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def label(name: str) -> str:
    """Table label of a recorded entry or of bicubic."""
    from sofkd_lib.companion.recording.options import ENTRIES
    from sofkd_lib.companion.tables import TABLE1_ROWS

    return {"bicubic": TABLE1_ROWS["bicubic"], **{e.name: e.label for e in ENTRIES}}.get(name, name)


def summary_rows(run: SeededRun, dataset: str, paper: Mapping[str, Any] | None = None,
                 kind: str = "average") -> list[dict[str, Any]]:
    """One dict per recorded model (bicubic, teacher, then the entries): its ``kind`` of PSNR/SSIM over the
    dataset (``average``, or ``max``: the best frame, as the paper's Table 1 also prints) as mean, sample
    std and n over seeds, and the paper's Table 1 value where there is one (``paper`` default
    :data:`sofkd_lib.companion.tables.PAPER_TABLE1`)."""
    from sofkd_lib.companion.tables import PAPER_TABLE1, dataset_metric

    if kind not in ("average", "max"):
        raise StatsError(f"kind must be 'average' or 'max', got {kind!r}")
    paper = PAPER_TABLE1 if paper is None else paper
    rows = []
    for name in ("bicubic", *run.entries):
        results = [r[dataset] for r in run.evals.get(name, {}).values() if dataset in r]
        if not results:
            continue
        row: dict[str, Any] = {"entry": name, "model": label(name)}
        for metric in ("psnr", "ssim"):
            m, sd, n = mean_spread([dataset_metric(r, metric, kind) for r in results])
            row.update({f"{metric}_mean": m, f"{metric}_sd": sd, "n": n})
            row[f"paper_{metric}"] = paper.get(dataset, {}).get(name, {}).get(
                f"{metric}_{'avg' if kind == 'average' else 'max'}")
        rows.append(row)
    return rows


def summary_table(run: SeededRun, dataset: str, paper: Mapping[str, Any] | None = None, kind: str = "average"):
    """:func:`summary_rows` as a display DataFrame: mean ± spread beside the paper's value."""
    import pandas as pd

    def cell(value: float | None, digits: int) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    out = []
    for r in summary_rows(run, dataset, paper, kind):
        out.append({"model": r["model"], "seeds": r["n"],
                    "PSNR (dB)": fmt_mean_spread(r["psnr_mean"], r["psnr_sd"], r["n"]),
                    "SSIM": fmt_mean_spread(r["ssim_mean"], r["ssim_sd"], r["n"], 4),
                    "paper PSNR": cell(r["paper_psnr"], 4), "paper SSIM": cell(r["paper_ssim"], 4)})
    return pd.DataFrame(out).set_index("model")


# --------------------------------------------------------------------------- differences
def _uniform_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) resampling weights: counts of a draw of n out of n with replacement, divided by n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n


def paired_bootstrap(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], n_boot: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """Difference A − B per sequence and on average (mean over sequences), each with its bootstrap interval.

    ``a`` and ``b`` map sequence → array (seeds × frames) of a per-frame score;
    frame j of a sequence must be the same frame in both. See the module
    docstring for the scheme (seeds resampled per model, frames shared).
    """
    if set(a) != set(b) or not a:
        raise StatsError(f"the two models were scored on different sequences: {sorted(a)} vs {sorted(b)}")
    if not 0 < level < 1 or n_boot < 1:
        raise StatsError(f"level must lie in (0, 1) and n_boot be >= 1, got level={level}, n_boot={n_boot}")
    a = {q: np.atleast_2d(np.asarray(v, dtype=np.float64)) for q, v in a.items()}
    b = {q: np.atleast_2d(np.asarray(b[q], dtype=np.float64)) for q in a}
    n_a, n_b = {v.shape[0] for v in a.values()}, {v.shape[0] for v in b.values()}
    if len(n_a) != 1 or len(n_b) != 1:
        raise StatsError("every sequence must hold the same seeds of a model")
    for q in a:
        if a[q].shape[1] != b[q].shape[1] or a[q].shape[1] == 0:
            raise StatsError(f"sequence {q!r}: {a[q].shape[1]} frames against {b[q].shape[1]}; "
                             f"a paired comparison needs the same frames")
    rng = np.random.default_rng(seed)
    wa, wb = _uniform_weights(rng, n_a.pop(), n_boot), _uniform_weights(rng, n_b.pop(), n_boot)
    tail = (1 - level) / 2
    out: dict[str, Interval] = {}
    reps = []
    for q in sorted(a):
        wf = _uniform_weights(rng, a[q].shape[1], n_boot)
        d = np.einsum("bs,sf,bf->b", wa, a[q], wf) - np.einsum("bs,sf,bf->b", wb, b[q], wf)
        reps.append(d)
        lo, hi = np.quantile(d, [tail, 1 - tail])
        out[q] = Interval(float(a[q].mean() - b[q].mean()), float(lo), float(hi))
    avg = np.mean(reps, axis=0)
    lo, hi = np.quantile(avg, [tail, 1 - tail])
    out["average"] = Interval(float(np.mean([out[q].estimate for q in sorted(a)])), float(lo), float(hi))
    return out


def compare(run: SeededRun, entry: str, baseline: str, dataset: str, metric: str = "psnr", n_boot: int = 10_000,
            level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """``entry`` − ``baseline`` of one run per sequence and on average (:func:`paired_bootstrap`)."""
    return paired_bootstrap(frame_matrix(run, entry, dataset, metric), frame_matrix(run, baseline, dataset, metric),
                            n_boot=n_boot, level=level, seed=seed)


def kd_differences(run: SeededRun, dataset: str, baseline: str = BASELINE, metric: str = "psnr",
                   n_boot: int = 10_000, level: float = 0.95, seed: int = 0) -> list[dict[str, Any]]:
    """For every entry but the teacher and ``baseline``: entry − baseline per sequence and on average.

    Rows: entry, sequence ("average" last), estimate, low, high, and the seeds of each side.
    """
    if baseline not in run.evals:
        raise StatsError(f"run {run.run_id}: the baseline {baseline!r} is not recorded")
    rows = []
    n_b = _n_seeds(run, baseline, dataset)
    for name in run.entries:
        if name in ("teacher", baseline):
            continue
        res = compare(run, name, baseline, dataset, metric, n_boot, level, seed)
        n_a = _n_seeds(run, name, dataset)
        for seq, iv in res.items():
            rows.append({"entry": name, "sequence": seq, "estimate": iv.estimate, "low": iv.low, "high": iv.high,
                         "seeds": n_a, "baseline_seeds": n_b})
    return rows


def differences_table(rows: Sequence[Mapping[str, Any]], digits: int = 3):
    """:func:`kd_differences` rows as a DataFrame: entries as rows, sequences as columns, ``+d [lo, hi]``."""
    import pandas as pd

    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        cells.setdefault(label(r["entry"]), {})[r["sequence"]] = (
            f"{r['estimate']:+.{digits}f} [{r['low']:+.{digits}f}, {r['high']:+.{digits}f}]")
    return pd.DataFrame.from_dict(cells, orient="index")


def _n_seeds(run: SeededRun, name: str, dataset: str) -> int:
    return sum(dataset in r for r in run.evals.get(name, {}).values())


def budget_table(run: SeededRun):
    """Entry → seeds recorded, iterations done / planned, batch × patch, mean training minutes (trainer's clock)."""
    import pandas as pd

    rows = []
    for name in run.entries:
        provs = list(run.provenance.get(name, {}).values())
        b = provs[0]["budget"]
        secs = [p.get("training_seconds") or 0.0 for p in provs]
        rows.append({"entry": name, "model": label(name), "seeds": len(provs),
                     "iterations": f"{min(p['budget']['iterations'] for p in provs):,} / {b['total_iterations']:,}",
                     "batch × patch": f"{b['batch_size']} × {b['patch_size']}",
                     "training min (mean)": round(float(np.mean(secs)) / 60, 1)})
    return pd.DataFrame(rows).set_index("entry")


def entries_with_teacher(run: SeededRun) -> list[str]:
    """The run's entries, the teacher first (also where it was not recorded as an entry of its own)."""
    return ["teacher", *(e for e in run.entries if e != "teacher")]


def convergence_rows(run: SeededRun, trend_since: Mapping[str, int] | None = None,
                     **criterion: float) -> list[dict[str, Any]]:
    """One dict per recorded validation curve (the teacher's, then every seed of every entry): the plateau
    test of :mod:`sofkd_lib.companion.convergence` on it (``criterion`` passed on) and where it ended. With
    ``trend_since`` (entry -> iteration, for example its last lr milestone), ``trend`` holds the curve's
    :func:`~sofkd_lib.companion.convergence.log_trend` after that iteration (None for an entry not in it or
    with under three validations there)."""
    from sofkd_lib.companion.convergence import log_trend, plateau

    rows = []
    for name in entries_with_teacher(run):
        for seed, df in sorted(run.validation.get(name, {}).items()):
            test = plateau(df["psnr"].tolist(), **criterion)
            best = int(df["psnr"].idxmax())
            since = (trend_since or {}).get(name)
            trend = None
            if since is not None and int((df["iteration"] > since).sum()) >= 3:
                trend = log_trend(df["iteration"].tolist(), df["psnr"].tolist(), since=since)
            rows.append({"entry": name, "model": label(name), "seed": seed, "validations": test.n_points,
                         "last_iteration": int(df["iteration"].iloc[-1]), "last_psnr": float(df["psnr"].iloc[-1]),
                         "best_psnr": float(df["psnr"].iloc[best]), "best_iteration": int(df["iteration"].iloc[best]),
                         "tail_gain_db": test.gain_db, "plateaued": test.plateaued, "verdict": test.describe(),
                         "trend": trend})
    return rows


def convergence_table(run: SeededRun, trend_since: Mapping[str, int] | None = None, **criterion: float):
    """:func:`convergence_rows` as a display DataFrame, one row per model and seed; with ``trend_since``, two
    more columns: the trend after that iteration (dB per doubling of iterations, with its interval) and the
    gain the rule's last part would show at that rate in a run of any length."""
    import pandas as pd

    from sofkd_lib.companion.convergence import TAIL_FRACTION

    tail = criterion.get("tail_fraction", TAIL_FRACTION)
    out = []
    for r in convergence_rows(run, trend_since, **criterion):
        row = {"model": r["model"], "seed": r["seed"], "validations": r["validations"],
               "last iteration": f"{r['last_iteration']:,}", "last PSNR (dB)": f"{r['last_psnr']:.3f}",
               "best PSNR (dB)": f"{r['best_psnr']:.3f} at {r['best_iteration']:,}",
               "last part's gain (dB)": "–" if r["tail_gain_db"] is None else f"{r['tail_gain_db']:+.3f}",
               "plateaued": "yes" if r["plateaued"] else "no"}
        if trend_since is not None:
            t = r["trend"]
            row["dB per doubling at the last lr"] = "–" if t is None else \
                f"{t.db_per_doubling:+.3f} [{t.low:+.3f}, {t.high:+.3f}]"
            row["last part's gain at that rate (dB)"] = "–" if t is None else \
                f"{t.tail_gain_db(tail):+.3f}"
        out.append(row)
    return pd.DataFrame(out).set_index(["model", "seed"])


#: The orderings the paper's Table 1 shows, as (entry, other): the teacher against the no-KD student (the room
#: KD has to close), each KD row against the no-KD student and the teacher, and the two-phase recipe against
#: each phase alone.
PATTERN_PAIRS: tuple[tuple[str, str], ...] = (
    ("teacher", "student"), ("phase1", "student"), ("phase2", "student"), ("phase1+2", "student"),
    ("phase1", "teacher"), ("phase2", "teacher"), ("phase1+2", "teacher"),
    ("phase1+2", "phase1"), ("phase1+2", "phase2"))


def pattern_rows(run: SeededRun, dataset: str = "vid4", paper_dataset: str = "vid4",
                 paper: Mapping[str, Any] | None = None, n_boot: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> list[dict[str, Any]]:
    """For every pair of :data:`PATTERN_PAIRS` both recorded: the paper's average-PSNR difference (its Table 1
    on ``paper_dataset``) beside this run's (:func:`compare` on ``dataset``, with its interval), and whether
    this run resolves the sign: ``above``, ``below`` or ``not resolved`` (the interval contains zero)."""
    from sofkd_lib.companion.tables import PAPER_TABLE1

    ref = (PAPER_TABLE1 if paper is None else paper).get(paper_dataset, {})
    rows = []
    for a, b in PATTERN_PAIRS:
        if a not in run.evals or b not in run.evals:
            continue
        iv = compare(run, a, b, dataset, n_boot=n_boot, level=level, seed=seed)["average"]
        p = ref[a]["psnr_avg"] - ref[b]["psnr_avg"] if a in ref and b in ref else None
        rows.append({"entry": a, "other": b, "comparison": f"{label(a)} − {label(b)}", "paper": p,
                     "estimate": iv.estimate, "low": iv.low, "high": iv.high,
                     "resolved": "above" if iv.low > 0 else "below" if iv.high < 0 else "not resolved"})
    return rows


def pattern_table(rows: Sequence[Mapping[str, Any]], level: float = 0.95, paper_label: str = "paper",
                  run_label: str = "this run"):
    """:func:`pattern_rows` as a display DataFrame (column headers name the two sources)."""
    import pandas as pd

    out = [{"comparison": r["comparison"], f"{paper_label} (dB)": "–" if r["paper"] is None else f"{r['paper']:+.4f}",
            f"{run_label} (dB) [{level:.0%} interval]": f"{r['estimate']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]",
            run_label: r["resolved"]} for r in rows]
    return pd.DataFrame(out).set_index("comparison")


def _phase_budget(run: SeededRun) -> dict[str, Any] | None:
    """The budget of one KD phase: phase 1+2's (else phase 1's or phase 2 alone's)."""
    b = run.budget
    return b.get("phase1+2") or b.get("phase1") or b.get("phase2")


def baseline_words(run: SeededRun, baseline: str) -> str:
    """How a sentence names the no-KD student ``baseline`` of ``run``: by its convention
    (:data:`BASELINE_WORDS`), or by its iterations where they differ from it (a row extended under a
    convergence rule)."""
    words = BASELINE_WORDS.get(baseline, baseline)
    phases = {"student": 2, "student-1phase": 1}.get(baseline)
    mine, phase = run.budget.get(baseline), _phase_budget(run)
    if phases is None or mine is None or phase is None or mine["total_iterations"] == phases * phase["total_iterations"]:
        return words
    return (f"the student without KD ({mine['total_iterations']:,} iterations, not the "
            f"{phases * phase['total_iterations']:,} of {'two KD phases' if phases == 2 else 'one KD phase'})")


def budget_text(run: SeededRun) -> str:
    """The students' budget in words, e.g. ``1,700 iterations per phase at batch 64 (no-KD student 3,400)``;
    phase 1 and phase 2 alone are named where they differ from phase 1+2's one phase."""
    b = run.budget
    phase = _phase_budget(run)
    parts = []
    if phase:
        parts.append(f"{phase['total_iterations']:,} iterations per phase at batch {phase['batch_size']}")
    students = [f"{b[s]['total_iterations']:,}" for s in BASELINE_WORDS if s in b]
    if students:
        parts.append(f"no-KD student {' or '.join(students)}")
    for entry, words in (("phase1", "phase 1"), ("phase2", "phase 2 alone")):
        if phase and entry in b and b[entry]["total_iterations"] != phase["total_iterations"]:
            parts.append(f"{words} {b[entry]['total_iterations']:,}")
    if not parts:
        return "budget not recorded"
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def kd_answer(run: SeededRun, dataset: str = "vid4", entry: str = "phase1+2", level: float = 0.95,
              n_boot: int = 10_000, seed: int = 0, baseline: str = BASELINE) -> str:
    """One sentence answering "does two-phase KD help at this budget?" from the run's numbers
    (``baseline``: ``student`` or ``student-1phase``, the two budget conventions)."""
    if entry not in run.evals or baseline not in run.evals:
        missing = [n for n in (entry, baseline) if n not in run.evals]
        return f"Run {run.run_id} cannot answer it yet: {', '.join(missing)} not recorded."
    iv = compare(run, entry, baseline, dataset, n_boot=n_boot, level=level, seed=seed)["average"]
    n_a, n_b = _n_seeds(run, entry, dataset), _n_seeds(run, baseline, dataset)
    ci = f"{level:.0%} interval {iv.low:+.3f} to {iv.high:+.3f} dB; {n_a} and {n_b} seeds"
    where = f"on {DATASET_NAMES.get(dataset, dataset)} at {budget_text(run)}"
    other = baseline_words(run, baseline)
    if iv.low > 0:
        return f"Yes: {where}, phase 1 → phase 1+2 beats {other} by {iv.estimate:+.3f} dB ({ci})."
    if iv.high < 0:
        return f"No, it hurts: {where}, phase 1 → phase 1+2 scores {iv.estimate:+.3f} dB against {other} ({ci})."
    return (f"Not measurably: {where}, phase 1 → phase 1+2 differs from {other} by {iv.estimate:+.3f} dB "
            f"({ci}), an interval that contains zero.")


def room_answer(run: SeededRun, dataset: str = "vid4", level: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                baseline: str = BASELINE) -> str:
    """One sentence on the room distillation has on ``dataset``: is the teacher above the student without KD?

    Distillation pulls a student toward its teacher, so it can lift the student only where the teacher is
    better than the student already is; this is the teacher − no-KD student row of :func:`pattern_rows`.
    """
    missing = [n for n in ("teacher", baseline) if n not in run.evals]
    if missing:
        return f"Run {run.run_id} cannot say yet: {', '.join(missing)} not recorded."
    iv = compare(run, "teacher", baseline, dataset, n_boot=n_boot, level=level, seed=seed)["average"]
    where, other = DATASET_NAMES.get(dataset, dataset), baseline_words(run, baseline)
    teachers = _n_seeds(run, "teacher", dataset)
    one = " (one teacher: the interval covers the students' seeds and the frames, not a choice of teacher)" \
        if teachers == 1 else ""
    if iv.low > 0:
        return (f"On {where} the teacher is above {other} by {_fmt(iv, level)}{one}: that is the room "
                f"distillation has to close.")
    if iv.high < 0:
        return (f"On {where} the teacher is below {other}: {_fmt(iv, level)}{one}. A student pulled toward it "
                f"is pulled toward a worse model there, so KD cannot be expected to help on this set.")
    return (f"On {where} the teacher and {other} cannot be told apart: {_fmt(iv, level)}{one}. There is no "
            f"measurable room for distillation on this set.")


def _fmt(iv: Interval, level: float) -> str:
    return f"{iv.estimate:+.3f} dB ({level:.0%} interval {iv.low:+.3f} to {iv.high:+.3f})"


def ablation_answer(run: SeededRun, dataset: str = "vid4", level: float = 0.95, n_boot: int = 10_000,
                    seed: int = 0) -> str:
    """One sentence splitting phase 1's difference from the no-KD student into the part the teacher's frozen
    OFRnet brings (phase 1 with α = 1 − student) and the part SR distillation adds (α = 0.9 − α = 1)."""
    need = [n for n in ("phase1", "phase1-alpha1", BASELINE) if n not in run.evals]
    if need:
        return f"Run {run.run_id} cannot split phase 1's result yet: {', '.join(need)} not recorded."
    flow = compare(run, "phase1-alpha1", BASELINE, dataset, n_boot=n_boot, level=level, seed=seed)["average"]
    kd = compare(run, "phase1", "phase1-alpha1", dataset, n_boot=n_boot, level=level, seed=seed)["average"]
    return (f"On {DATASET_NAMES.get(dataset, dataset)}, the teacher's OFRnet alone (phase 1 with α = 1 against the "
            f"student without KD) accounts for {_fmt(flow, level)} and the SR distillation term (α = 0.9 against "
            f"α = 1) for {_fmt(kd, level)}.")
