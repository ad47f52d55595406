"""``python -m sofkd_lib record``: its arguments and its run (the work is in :mod:`sofkd_lib.companion.record`)."""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from sofkd_lib.cli.argtypes import entry_budget, seed_list
from sofkd_lib.companion.record import record
from sofkd_lib.companion.recording.options import ENTRY_NAMES, EXTRA_COLUMNS, RecordOptions, repeat_command
from sofkd_lib.engine.config import PROFILES, VARIANTS, parse_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-id", required=True, help="name of the run folder, e.g. 2026-11-25-cpu")
    parser.add_argument("--profile", required=True, help=", ".join(PROFILES))
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="TrainConfig overrides for every variant")
    parser.add_argument("--set", dest="more_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="same as a positional KEY=VALUE (repeatable)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=ENTRY_NAMES,
                        help="variants to record (their dependencies are added): Table 1's five (the default), "
                             "student-1phase (no-KD student with one phase's iterations) and the ablation "
                             "phase1-alpha1 (phase 1 with alpha=1)")
    parser.add_argument("--seeds", type=seed_list, metavar="0,1,2",
                        help="record every variant but the teacher once per seed, in <variant>/seed<k>/; the "
                             "teacher is shared by all seeds")
    parser.add_argument("--teacher", metavar="SPEC",
                        help="distil every student from this existing teacher (a checkpoint file or "
                             "pretrained:teacher-x4) instead of training one")
    parser.add_argument("--teacher-init-official", metavar="PATH",
                        help="start the teacher from the authors' weights (e.g. ../shared/data/sofvsr_official/"
                             "BI_x2.pth): tensors of matching role and shape are copied, then fine-tuned")
    parser.add_argument("--teacher-init-derive", action="store_true",
                        help="with --teacher-init-official at another scale: derive the scale-specific tensors too")
    parser.add_argument("--min-teacher-gain", default="1.0",
                        help="dB over bicubic on Vid4 the teacher needs before students are distilled ('none': off)")
    parser.add_argument("--work", type=Path, help="training folder (default CACHE/recorded-work; CACHE is $SOFKD_CACHE, "
                                                    "else .cache/ of the checkout, else ~/.cache/sofkd)")
    parser.add_argument("--results", type=Path, help="results folder (default results/recorded or $SOFKD_RECORDED)")
    parser.add_argument("--vid4", type=Path, help="Vid4 folder (default <shared data>/vid4)")
    parser.add_argument("--vid4-max-frames", type=int, help="first N frames per sequence only (quick checks)")
    parser.add_argument("--train-only", action="store_true",
                        help="train into --work without evaluating or recording (e.g. on a GPU machine); the same "
                             "command without this flag then records what was trained")
    parser.add_argument("--column", dest="columns", action="append", default=[], choices=sorted(EXTRA_COLUMNS),
                        help="score every model on this test set too (repeatable), e.g. davis-2017-val-held-out: "
                             "our held-out DAVIS sequences, from the run's DAVIS folder (data_root)")
    parser.add_argument("--budget", dest="budgets", action="append", default=[], type=entry_budget,
                        metavar="ENTRY=N",
                        help="iterations of one entry, every seed (repeatable): a row extended by resuming, e.g. "
                             "phase2=12000; other entries keep their budgets")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _invocation(options: RecordOptions, args: argparse.Namespace) -> str:
    """The command line as typed when run from a shell, else rebuilt from the parsed arguments."""
    if sys.argv[1:2] == ["record"]:
        return shlex.join(["python", "-m", "sofkd_lib", *sys.argv[1:]])
    extra = []
    for flag, value in (("--work", args.work), ("--results", args.results), ("--vid4", args.vid4)):
        if value is not None:
            extra += [flag, str(value)]
    return shlex.join([*shlex.split(repeat_command(options)), *extra, *(["--quiet"] if args.quiet else [])])


def run(args: argparse.Namespace) -> int:
    """Errors reach :func:`sofkd_lib.cli.main.main`, the one place that reports them (``--debug``: the traceback)."""
    try:
        gain = None if args.min_teacher_gain.strip().lower() in ("none", "off") else float(args.min_teacher_gain)
    except ValueError:
        raise ValueError(f"--min-teacher-gain must be a number or 'none', got {args.min_teacher_gain!r}") from None
    options = RecordOptions(
        run_id=args.run_id, profile=args.profile,
        overrides=parse_overrides([*args.overrides, *args.more_overrides]), variants=tuple(args.variants),
        teacher_init_official=args.teacher_init_official, teacher_init_derive=args.teacher_init_derive,
        work_root=args.work, results_root=args.results, vid4_root=args.vid4,
        vid4_max_frames=args.vid4_max_frames, min_teacher_gain=gain, quiet=args.quiet,
        train_only=args.train_only, seeds=args.seeds, teacher=args.teacher,
        extra_columns=tuple(EXTRA_COLUMNS[k] for k in dict.fromkeys(args.columns)), budgets=dict(args.budgets),
    )
    record(dataclasses.replace(options, command=_invocation(options, args)))
    return 0
