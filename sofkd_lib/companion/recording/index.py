"""The recorded runs' listing: ``index.json``, ``README.md`` and the models a run set aside.

One function registers a recorded unit, whether its run has one seed or several (:func:`update_index`),
and one renders each run's README section (:func:`readme_text`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sofkd_lib.companion.recording.options import (
    ENTRY_NAMES,
    TEST_COLUMNS,
    VID4,
    RecordError,
    RecordOptions,
    repeat_command,
    with_dependencies,
)
from sofkd_lib.data.io import write_json_atomic, write_text_atomic
from sofkd_lib.weights.pretrained import INDEX_NAME, model_name, read_index, read_result, register


# --------------------------------------------------------------------------- index.json
def check_index(options: RecordOptions, index: Mapping[str, Any] | None = None) -> None:
    """Refuse to record a single-seed run under the id of a multi-seed one, or the other way round."""
    index = read_index(options.results_dir()) if index is None else index
    run = index["runs"].get(options.run_id, {})
    where = options.results_dir() / INDEX_NAME
    if options.seeds is None and "seeds" in run:
        raise RecordError(f"run {options.run_id!r} is a multi-seed run in {where}; pass its --seeds")
    if options.seeds is not None and run.get("variants"):
        raise RecordError(f"run {options.run_id!r} is a single-seed run in {where}; "
                          f"record several seeds under another run id")


def update_index(options: RecordOptions, provenance: Mapping[str, Any], scale: int) -> None:
    """Register one recorded unit (its ``provenance``) of this run in ``index.json``.

    The run's listing under ``runs`` gains the unit's entry and the one command that repeats everything
    the run has recorded or been asked for; its date is its newest unit's. A single-seed run lists its
    entries as ``variants`` and each model gets its name under ``names`` (newest run per name wins); a
    multi-seed run lists ``entries``, ``seeds`` and its ``teacher``, and its models get no name, so
    ``pretrained("teacher-x4")`` and the other names keep their single-seed weights
    (:mod:`sofkd_lib.companion.stats` reads multi-seed runs by their ``seeds`` key).
    """
    root = options.results_dir()
    index = read_index(root)
    check_index(options, index)
    seeded = options.seeds is not None
    variant = provenance["variant"]
    run = index["runs"].setdefault(options.run_id, {})
    listed = [e for e in ENTRY_NAMES if e in {*run.get("entries" if seeded else "variants", []), variant}]
    asked = tuple(e for e in ENTRY_NAMES if e in {*listed, *with_dependencies(options.variants)})
    seeds = tuple(sorted({*run.get("seeds", []), *(options.seeds or ())})) if seeded else None
    repeat = repeat_command(dataclasses.replace(options, variants=asked, seeds=seeds))
    date = max(str(run.get("date", "")), provenance["date"])
    if seeded:
        run.update({"date": date, "profile": options.profile, "repeat": repeat, "seeds": list(seeds),
                    "entries": listed, "teacher": options.teacher or "trained in this run"})
    else:
        run.update({"variants": listed, "date": date, "profile": options.profile, "repeat": repeat})
        unit = options.run_dir() / options.unit(variant)
        vid4 = read_result(unit / VID4.file) if (unit / VID4.file).is_file() else {}
        register(index, {
            "name": model_name(variant, scale), "run_id": options.run_id, "variant": variant, "scale": scale,
            "weights": f"{options.run_id}/{variant}/weights.pt", "date": provenance["date"],
            "dtype": provenance["weights_dtype"], "iterations": provenance["budget"]["iterations"],
            "vid4_psnr": (vid4.get("average") or {}).get("psnr"),
        })
    write_json_atomic(root / INDEX_NAME, index)


# --------------------------------------------------------------------------- set aside
#: In a run's folder: the models trained for it and set aside (:func:`record_set_aside`).
SET_ASIDE_NAME = "set_aside.json"


def record_set_aside(run_folder: str | Path, unit: str, provenance: str | Path, reason: str) -> dict[str, Any]:
    """List the model whose recorded ``provenance.json`` is ``provenance`` in ``run_folder``/set_aside.json as
    ``unit`` (e.g. ``phase1+2/seed0``), set aside for ``reason``: its training invocations, training and
    evaluation time and iterations, so the run's compute still counts it. A unit is listed once; the model's
    files are not kept. Returns the entry."""
    run_folder, provenance = Path(run_folder), Path(provenance)
    if not run_folder.is_dir():
        raise RecordError(f"run folder {run_folder} does not exist")
    if not reason.strip():
        raise RecordError("record_set_aside: give the reason the model was set aside")
    prov = read_result(provenance)
    invocations = prov.get("training_invocations")
    if not invocations:
        raise RecordError(f"{provenance} has no training_invocations: nothing to count")
    path = run_folder / SET_ASIDE_NAME
    listed = read_result(path) if path.is_file() else {"format": "sofkd-set-aside", "version": 1, "models": []}
    if any(m["unit"] == unit for m in listed["models"]):
        raise RecordError(f"{unit} is already listed in {path}")
    entry = {"unit": unit, "reason": reason, "iterations": prov["budget"]["iterations"],
             "git_commit": (prov.get("git") or {}).get("commit"), "training_invocations": invocations,
             "training_seconds": prov.get("training_seconds"), "evaluation_seconds": prov.get("evaluation_seconds")}
    listed["models"].append(entry)
    write_json_atomic(path, listed)
    return entry


# --------------------------------------------------------------------------- README
_README_HEAD = """# Recorded runs

Trained x{scale} weights and their results, each with what is needed to check it.
Nothing here comes from the shared data folder: Vid4 (a test set, never trained on)
and the authors' weights are read from `../shared/data` (or `$SOFKD_DATA`) at run time.

- `index.json`: name (e.g. `teacher-x4`) → newest run that recorded it;
  `sofkd_lib.weights.pretrained.pretrained("teacher-x4")` loads it, and commands accept
  `--checkpoint pretrained:teacher-x4`.
- `<run-id>/<variant>/`: `config.json` (resolved TrainConfig), `metrics.csv` and
  `validation.csv` (training logs), `weights.pt` (float16 only when it scores within
  0.01 dB of float32 on the {precision} split; both numbers in `{precision_file}`),
  {eval_files} (authors' protocol), `provenance.json`
  (hardware, commit, training and wall time, date, command line, warm start).
- `<run-id>/bicubic/`: the bicubic baseline on the same frames.
- Multi-seed runs (`record --seeds 0,1,2`): the same files per seed in
  `<run-id>/<entry>/seed<k>/`, one shared `<run-id>/teacher/` (with `--teacher`: its
  evaluation and provenance only, the weights stay where they were recorded); listed in
  `index.json` under `runs` with their seeds, not under the names above.

Repeat a run (it resumes where it stopped) with the command given for it below, from
the repository root. This file is regenerated by `python -m sofkd_lib record`.
"""


def _per_sequence_table(run: Path, names: Sequence[str]) -> list[str]:
    """Markdown rows: Vid4 PSNR / SSIM per sequence for every recorded entry of ``run``."""
    results = {n: read_result(run / n / VID4.file) for n in names if (run / n / VID4.file).is_file()}
    results = {n: r for n, r in results.items() if "sequences" in r}
    if not results:
        return []
    seqs = list(next(iter(results.values()))["sequences"])
    rows = ["", "Vid4 per sequence, PSNR (dB) / SSIM:", "", "| | " + " | ".join(seqs) + " | average |",
            "|---" * (len(seqs) + 2) + "|"]
    for name, r in results.items():
        cells = [f"{r['sequences'][q]['psnr_mean']:.2f} / {r['sequences'][q]['ssim_mean']:.4f}"
                 if q in r["sequences"] else "–" for q in seqs]
        cells.append(f"{r['average']['psnr']:.2f} / {r['average']['ssim']:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def _single_seed_tables(root: Path, run_id: str, run: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A single-seed run's description and tables: each model's budget, training time, Vid4 score and stored
    precision, then Vid4 per sequence."""
    rows = ["| variant | iterations | batch × patch | training time | Vid4 PSNR / SSIM | weights |",
            "|---|---|---|---|---|---|"]
    for variant in run.get("variants", []):
        prov_path = root / run_id / variant / "provenance.json"
        if not prov_path.is_file():
            continue
        prov = read_result(prov_path)
        vid4 = read_result(root / run_id / variant / VID4.file)
        score = (f"{vid4['average']['psnr']:.2f} dB / {vid4['average']['ssim']:.4f}" if "average" in vid4
                 else f"skipped: {vid4.get('skipped')}")
        b = prov["budget"]
        secs = prov.get("training_seconds") or 0.0
        rows.append(f"| {variant} | {b['iterations']} / {b['total_iterations']} | {b['batch_size']} × "
                    f"{b['patch_size']} | {secs / 60:.1f} min | {score} | {prov['weights_dtype']} |")
    bicubic = root / run_id / "bicubic" / VID4.file
    if bicubic.is_file():
        avg = read_result(bicubic)["average"]
        rows.append(f"| bicubic | – | – | – | {avg['psnr']:.2f} dB / {avg['ssim']:.4f} | – |")
    rows += _per_sequence_table(root / run_id, [*run.get("variants", []), "bicubic"])
    return f"Profile `{run.get('profile')}`, recorded {run.get('date')}.", rows


def _multi_seed_tables(root: Path, run_id: str, run: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A multi-seed run's description and table: each entry's budget and its mean ± sample std over seeds."""
    from sofkd_lib.companion.stats import fmt_mean_spread, load_seeded_run, summary_rows

    rec = load_seeded_run(run_id, root)
    seeds = ", ".join(str(s) for s in run["seeds"])
    head = (f"Profile `{run.get('profile')}`, {len(run['seeds'])} seeds ({seeds}), recorded {run.get('date')}; "
            f"teacher: {run.get('teacher')} (shared by every seed). Each entry but the teacher is in "
            f"`<entry>/seed<k>/`.")
    rows = ["| entry | seeds | iterations | batch × patch | Vid4 PSNR (dB) | embedded test PSNR (dB) |",
            "|---|---|---|---|---|---|"]
    vid4 = {r["entry"]: r for r in summary_rows(rec, "vid4")}
    emb = {r["entry"]: r for r in summary_rows(rec, "embedded")}
    for name in [*rec.entries, "bicubic"]:
        budget = rec.budget.get(name, {})
        its = f"{budget['iterations']} / {budget['total_iterations']}" if budget else "–"
        bp = f"{budget['batch_size']} × {budget['patch_size']}" if budget else "–"
        cells = [fmt_mean_spread(r["psnr_mean"], r["psnr_sd"], r["n"]) if r else "–"
                 for r in (vid4.get(name), emb.get(name))]
        n = (vid4.get(name) or emb.get(name) or {}).get("n", 0)
        rows.append(f"| {name} | {n} | {its} | {bp} | {cells[0]} | {cells[1]} |")
    rows += ["", ("Mean ± sample standard deviation (n − 1) over seeds; `sofkd_lib.companion.stats` and the book's "
                  "chapter on seeds give the KD − no-KD differences with 95 % intervals.")]
    return head, rows


def _run_section(root: Path, run_id: str, run: Mapping[str, Any]) -> list[str]:
    """One run's README section: heading, description, the command that repeats it, its tables, its NOTES.md."""
    head, tables = (_multi_seed_tables if "seeds" in run else _single_seed_tables)(root, run_id, run)
    lines = [f"## {run_id}", "", head, "", "```bash", run.get("repeat", ""), "```", "", *tables]
    notes = root / run_id / "NOTES.md"
    if notes.is_file():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    return [*lines, ""]


def readme_text(root: Path) -> str:
    """``README.md`` of the recorded runs in ``root``, from the index and each run's files."""
    index = read_index(root)
    precision = TEST_COLUMNS[0]
    head = _README_HEAD.format(scale=4, precision=precision.label, precision_file=precision.file,
                               eval_files=", ".join(f"`{c.file}`" for c in TEST_COLUMNS))
    lines = [head.rstrip(), ""]
    for run_id, run in sorted(index["runs"].items()):
        lines += _run_section(root, run_id, run)
    return "\n".join(lines).rstrip() + "\n"


def write_readme(root: Path) -> Path:
    """Regenerate ``README.md`` from the index and each run's provenance."""
    path = Path(root) / "README.md"
    write_text_atomic(path, readme_text(Path(root)))
    return path
