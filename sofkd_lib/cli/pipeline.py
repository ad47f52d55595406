"""``python -m sofkd_lib pipeline``: its arguments and its run (the work is in :mod:`sofkd_lib.companion.pipeline`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sofkd_lib.companion.chapter import parameter_value
from sofkd_lib.companion.pipeline import DEFAULT_PROFILE, RUNS_ENV, run_pipeline
from sofkd_lib.engine.config import PROFILES, split_assignment


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help=f"training profile of every run: {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    parser.add_argument("--device", default="cpu", help="device for training and evaluation (default cpu)")
    parser.add_argument("--force", action="store_true", help="retrain and re-evaluate even when the keys match")
    parser.add_argument("--no-build", action="store_true", help="stop after results.json; do not build the book")
    parser.add_argument("--runs", type=Path, default=None,
                        help=f"folder for <profile>/ run folders (default ${RUNS_ENV} or book/runs)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="folder that receives _build/ (default: the repository root)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="extra notebook parameter for every run, e.g. --set iterations=50 (JSON value)")


def notebook_parameters(items: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items → notebook parameters (:func:`~sofkd_lib.engine.config.split_assignment`,
    values read by :func:`~sofkd_lib.companion.chapter.parameter_value`)."""
    return {key: parameter_value(value) for key, value in map(split_assignment, items)}


def run(args) -> int:
    return run_pipeline(args.profile, device=args.device, force=args.force, build=not args.no_build,
                        root=args.runs.resolve() if args.runs else None, overrides=notebook_parameters(args.overrides),
                        path_output=args.build_dir.resolve() if args.build_dir else None)
