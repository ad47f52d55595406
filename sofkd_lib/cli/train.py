"""``python -m sofkd_lib train``: its arguments and its run (the work is in :mod:`sofkd_lib.engine.train`)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch.distributed as dist

from sofkd_lib.cli.argtypes import positive_int
from sofkd_lib.engine.config import (
    PROFILES,
    VARIANTS,
    ConfigError,
    TrainConfig,
    field_help,
    make_config,
    parse_overrides,
    parse_value,
)
from sofkd_lib.engine.distributed import (
    current_dist,
)
from sofkd_lib.engine.train import run_training

_FLAG_FIELDS = ("iterations", "batch_size", "patch_size", "lr", "alpha", "seed", "device", "dataset", "data_root")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config the command line describes; wrong names, types or values name the field."""
    overrides = parse_overrides(args.overrides)
    for name in _FLAG_FIELDS:
        text = getattr(args, f"flag_{name}")
        if text is not None:
            if name in overrides:
                raise ConfigError(f"TrainConfig.{name} given both as --{name.replace('_', '-')} and --set")
            overrides[name] = parse_value(name, text)
    return make_config(args.profile, overrides, variant=args.variant)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", choices=VARIANTS, help="which model of Table 1 to train")
    parser.add_argument("--profile", help=", ".join(PROFILES))
    parser.add_argument("--out", type=Path, help="run folder (last.pt, best.pt, metrics.csv, …)")
    parser.add_argument("--teacher", type=Path,
                        help="teacher checkpoint or pretrained:NAME, e.g. pretrained:teacher-x4 (phase1, phase2, "
                             "phase1+2)")
    parser.add_argument("--init", type=Path,
                        help="phase-1 checkpoint or pretrained:NAME to start phase1+2 from")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", nargs="?", const="yes", choices=("yes", "auto"),
                       help="continue OUT/last.pt ('auto': only if it exists)")
    group.add_argument("--overwrite", action="store_true", help="delete a previous run in OUT first")
    parser.add_argument("--stop-at", type=positive_int, help="stop after this iteration, >= 1 (last.pt written)")
    for name in _FLAG_FIELDS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=f"flag_{name}", metavar="V",
                            help=f"TrainConfig.{name} (same as --set {name}=V)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any TrainConfig field (repeatable); see --list-fields")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--list-fields", action="store_true", help="list every TrainConfig field and exit")


def run(args: argparse.Namespace) -> int:
    """Errors (bad config, checkpoint or --out, a diverged run) reach :func:`sofkd_lib.cli.main.main`, which reports them."""
    from sofkd_lib.engine.run_folder import check_run_folder

    if args.list_fields:
        for name, text in field_help().items():
            print(f"{name:<20} {text}")
        return 0
    missing = [f"--{n}" for n in ("variant", "profile", "out") if getattr(args, n) is None]
    if missing and not (args.show_config and args.out is None and len(missing) == 1):
        raise ConfigError(f"{', '.join(missing)} required (see --help)")
    config = config_from_args(args)
    if args.show_config:
        print(json.dumps(config.to_dict(), indent=1))
        return 0
    check_run_folder(args.out, what="--out")  # before the models and data are loaded
    resume = "overwrite" if args.overwrite else (args.resume or "no")
    result = run_training(config, args.out, args.teacher, args.init, resume, args.stop_at, args.quiet)
    if current_dist().is_main:
        best = f", best PSNR {result.best_psnr:.2f} dB at {result.best_iteration}" if result.best_psnr is not None else ""
        print(f"{config.variant}: {result.iteration}/{result.total_iterations} iterations, "
              f"loss {result.final_losses.get('loss', float('nan')):.4e}{best}, "
              f"{result.iterations_per_second:.2f} it/s → {args.out}")
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0
