"""``python -m sofkd_lib pipeline``: its arguments and its run (the work is in :mod:`sofkd_lib.companion.pipeline`)."""
from __future__ import annotations

from pathlib import Path

from sofkd_lib.cli.argtypes import device
from sofkd_lib.companion.pipeline import DEFAULT_PROFILE, RUNS_ENV, run_pipeline
from sofkd_lib.engine.config import PROFILES, ConfigError, split_assignment


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help=f"training profile of every run: {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    parser.add_argument("--device", type=device, default="cpu",
                        help="device for training and evaluation: auto, cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--force", action="store_true", help="retrain and re-evaluate even when the keys match")
    parser.add_argument("--no-build", action="store_true", help="stop after results.json; do not build the book")
    parser.add_argument("--runs", type=Path, default=None,
                        help=f"folder for <profile>/ run folders (default ${RUNS_ENV} or book/runs)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="folder that receives _build/ (default: the repository root)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="for every run: a parameter of book/train.ipynb (e.g. --set iterations=50) or any "
                             "TrainConfig field (e.g. --set lr=5e-4), checked before the first run")


def run(args) -> int:
    """Errors (checked before any run: :func:`~sofkd_lib.companion.run_parameters.run_parameters`) reach
    :func:`sofkd_lib.cli.main.main`, the one place that reports them."""
    overrides: dict[str, str] = {}
    for key, value in map(split_assignment, args.overrides):
        if key in overrides:
            raise ConfigError(f"--set {key} given twice")
        overrides[key] = value
    return run_pipeline(args.profile, device=args.device, force=args.force, build=not args.no_build,
                        root=args.runs.resolve() if args.runs else None, overrides=overrides,
                        path_output=args.build_dir.resolve() if args.build_dir else None)
