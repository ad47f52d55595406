"""Recorded weights by name: ``pretrained("teacher-x4")`` works on a fresh checkout, without training.

Recorded runs live in ``results/recorded/<run-id>/<variant>/`` (see
:mod:`sofkd_lib.companion.record`); ``results/recorded/index.json`` maps each name
(``<variant>-x<scale>``, e.g. ``teacher-x4``, ``phase1+2-x4``) to the newest
run that recorded it::

    {"format": "sofkd-recorded-index", "version": 1,
     "names": {"teacher-x4": {"run_id": "...", "variant": "teacher", "scale": 4,
                              "weights": "<run-id>/teacher/weights.pt", "date": "...",
                              "dtype": "float16", "vid4_psnr": 25.1}},
     "runs": {"<run-id>": {"date": "...", "profile": "...", "variants": ["teacher"]}}}

Paths in the index are relative to the index's folder, so the folder can move.
An installed package (a wheel) has no ``results/``: the wheel build (``setup.py``)
copies the weights of every name into ``sofkd_lib/weights/_recorded/`` with an
index of those names only, and :func:`recorded_root` reads that folder instead.
``weights.pt`` is a training checkpoint without optimiser state (see
:mod:`sofkd_lib.weights.checkpoint`), read by its :func:`~sofkd_lib.weights.checkpoint.load_model`.
Commands take ``--checkpoint pretrained:teacher-x4`` through
:func:`resolve_checkpoint`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.settings import REPO_ROOT, in_checkout

#: Environment variable that moves the recorded-results folder (tests, other checkouts).
RECORDED_ENV = "SOFKD_RECORDED"
INDEX_NAME = "index.json"
INDEX_FORMAT = "sofkd-recorded-index"
INDEX_VERSION = 1
#: Prefix that makes a ``--checkpoint`` argument a recorded name.
PREFIX = "pretrained:"
#: Where a wheel carries the named weights (made by setup.py's build step; absent from the checkout).
PACKAGED_DIR = Path(__file__).resolve().parent / "_recorded"


class PretrainedError(LookupError):
    """An unknown recorded name, or an index/weights file that is missing or malformed."""


def recorded_root() -> Path:
    """``$SOFKD_RECORDED`` if set, else ``<repo>/results/recorded`` in a checkout, else the weights an
    installed package carries (:data:`PACKAGED_DIR`)."""
    env = os.environ.get(RECORDED_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "results" / "recorded" if in_checkout() else PACKAGED_DIR


def model_name(variant: str, scale: int) -> str:
    """The recorded name of ``variant`` at ``scale``: ``teacher`` x4 → ``teacher-x4``."""
    return f"{variant}-x{int(scale)}"


def empty_index() -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "version": INDEX_VERSION, "names": {}, "runs": {}}


def read_index(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The index of ``root`` (default :func:`recorded_root`); an empty index when there is none yet."""
    path = Path(root or recorded_root()) / INDEX_NAME
    if not path.is_file():
        return empty_index()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PretrainedError(f"cannot read the recorded-runs index {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        raise PretrainedError(f"{path} is not a recorded-runs index (no format={INDEX_FORMAT!r})")
    if data.get("version") != INDEX_VERSION:
        raise PretrainedError(f"{path} has index version {data.get('version')}, this library reads {INDEX_VERSION}")
    return data


def register(index: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Put ``entry`` (keys name, run_id, variant, scale, weights, date, …) in ``index`` unless a newer run holds
    the name; returns True when it did. ISO dates compare as strings; a tie goes to the new entry."""
    name = entry["name"]
    old = index["names"].get(name)
    if old is not None and old["run_id"] != entry["run_id"] and str(old["date"]) > str(entry["date"]):
        return False
    index["names"][name] = {k: v for k, v in entry.items() if k != "name"}
    return True


def list_pretrained(root: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Recorded name → its index entry (run id, weights path relative to the root, date, …), sorted by name."""
    return dict(sorted(read_index(root)["names"].items()))


def _unknown(name: str, root: Path, names: list[str]) -> PretrainedError:
    if not names:
        return PretrainedError(
            f"no recorded weights named {name!r}: no run is recorded yet in {root} "
            f"(record one with `python -m sofkd_lib record --run-id ID --profile P`)")
    return PretrainedError(f"no recorded weights named {name!r} in {root}; available: {', '.join(names)}")


def pretrained_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """The weights file recorded for ``name`` (errors list the available names)."""
    root = Path(root or recorded_root())
    names = list_pretrained(root)
    if name not in names:
        raise _unknown(name, root, list(names))
    path = root / names[name]["weights"]
    if not path.is_file():
        raise PretrainedError(f"recorded weights for {name!r} are listed in {root / INDEX_NAME} but missing: {path}")
    return path


def pretrained(name: str, root: str | os.PathLike | None = None, map_location: str = "cpu") -> SOFVSR:
    """The recorded model ``name`` (e.g. ``"teacher-x4"``), in float32 and eval mode."""
    from sofkd_lib.weights.checkpoint import load_model

    return load_model(pretrained_path(name, root), map_location=map_location)


def resolve_checkpoint(spec: str | os.PathLike, root: str | os.PathLike | None = None) -> str | os.PathLike:
    """``"pretrained:NAME"`` → the recorded weights file of NAME; anything else is returned unchanged.

    The hook for commands taking ``--checkpoint``: call it on the argument before loading.
    """
    text = os.fspath(spec)
    if isinstance(text, str) and text.startswith(PREFIX):
        return str(pretrained_path(text[len(PREFIX):], root))
    return spec


# --------------------------------------------------------------------------- whole runs (the book's Table 1)
#: Evaluation files of a recorded variant → the dataset name the pipeline's results.json uses.
EVAL_FILES = {"embedded": "eval_embedded.json", "vid4": "eval_vid4.json"}


def complete_runs(root: str | os.PathLike | None = None) -> list[str]:
    """Run ids that recorded all five variants of Table 1, newest first."""
    from sofkd_lib.engine.config import VARIANTS

    runs = read_index(root)["runs"]
    done = [r for r, info in runs.items() if set(VARIANTS) <= set(info.get("variants", []))]
    return sorted(done, key=lambda r: str(runs[r].get("date", "")), reverse=True)


def read_result(path: Path) -> dict[str, Any]:
    """A recorded run's JSON file (evaluation or provenance); unreadable files raise PretrainedError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PretrainedError(f"cannot read recorded result {path}: {exc}") from exc


def recorded_results(run_id: str | None = None, root: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """One recorded run's scores in the layout of the pipeline's ``results.json`` (plus budget and provenance).

    ``run_id`` None: the newest complete run (:func:`complete_runs`), or None when
    there is none. Returns ``{"run_id", "profile", "date", "repeat", "budget":
    {variant: {...}}, "datasets": {"embedded"|"vid4": {"models": {name: eval}}}}``;
    a dataset a variant skipped (Vid4 absent when it was recorded) is left out.
    """
    from sofkd_lib.engine.config import VARIANTS

    root = Path(root or recorded_root())
    index = read_index(root)
    if run_id is None:
        runs = complete_runs(root)
        if not runs:
            return None
        run_id = runs[0]
    if run_id not in index["runs"]:
        raise PretrainedError(f"no recorded run {run_id!r} in {root}; recorded: {', '.join(index['runs']) or 'none'}")
    folder = root / run_id
    info = index["runs"][run_id]
    out: dict[str, Any] = {"run_id": run_id, "profile": info.get("profile"), "date": info.get("date"),
                           "repeat": info.get("repeat"), "budget": {}, "datasets": {}}
    for model in ("bicubic", *VARIANTS):
        if model != "bicubic" and model not in info.get("variants", []):
            continue
        for dataset, name in EVAL_FILES.items():
            path = folder / model / name
            if path.is_file():
                res = read_result(path)
                if "average" in res:  # {"skipped": reason} otherwise
                    out["datasets"].setdefault(dataset, {"models": {}})["models"][model] = res
        prov = folder / model / "provenance.json"
        if model != "bicubic" and prov.is_file():
            p = read_result(prov)
            gpus = {inv.get("hardware", {}).get("gpu") for inv in p.get("training_invocations", [])} - {None}
            out["budget"][model] = {**p["budget"], "training_seconds": p.get("training_seconds"),
                                    "trained_on": ", ".join(sorted(gpus)) or "CPU"}
            if p.get("caveat"):  # e.g. trained on a loss that was later corrected
                out.setdefault("caveats", {})[model] = p["caveat"]
    return out


def recorded_label(rec: dict[str, Any]) -> str:
    """One line naming a recorded run's budget, e.g. for a Table 1 column group."""
    b = rec["budget"]
    parts = [f"{v} {b[v]['iterations']:,}" for v in ("teacher", "student", "phase1") if v in b]
    first = next(iter(b.values()), {})
    where = first.get("trained_on", "?")
    return (f"recorded run {rec['run_id']} ({rec['profile']} profile, batch {first.get('batch_size', '?')}, "
            f"iterations: {', '.join(parts)} per phase; trained on {where})")


def recorded_model(run_id: str, variant: str, root: str | os.PathLike | None = None,
                   map_location: str = "cpu") -> SOFVSR:
    """The model ``variant`` of recorded run ``run_id`` (float32, eval mode)."""
    from sofkd_lib.weights.checkpoint import load_model

    path = Path(root or recorded_root()) / run_id / variant / "weights.pt"
    if not path.is_file():
        raise PretrainedError(f"run {run_id!r} recorded no weights for {variant!r} ({path} missing)")
    return load_model(path, map_location=map_location)
