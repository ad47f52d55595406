"""``python -m sofkd_lib evaluate``: its arguments and its run (the work is in :mod:`sofkd_lib.evaluation.evaluate`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sofkd_lib.cli.argtypes import device, positive_int
from sofkd_lib.data.io import check_writable, write_json_atomic
from sofkd_lib.evaluation.evaluate import BICUBIC, evaluate_model, format_results, model_name
from sofkd_lib.weights.checkpoint import load_model


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="embedded",
                        help="dataset folder or video file, or 'embedded' (default; offline)")
    parser.add_argument("--kind", default="auto", choices=("auto", "vid4", "davis", "folder", "video", "embedded"),
                        help="dataset layout (default: detected)")
    parser.add_argument("--split", default="test", help="split for embedded/DAVIS data: train, test; DAVIS also "
                        "val, test-dev (= test, the paper's), davis-10 (default: test)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="checkpoint file, 'pretrained:NAME' (e.g. pretrained:teacher-x4), or 'bicubic'")
    parser.add_argument("--official", action="store_true", help="the checkpoint is the SOF-VSR authors' release")
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=None,
                        help="upscaling factor (default: from the checkpoint; 4 for bicubic)")
    add_data_arguments(parser)
    parser.add_argument("--output", "-o", default=None, help="write the results JSON here")
    parser.add_argument("--max-frames", type=positive_int, default=None,
                        help="use only the first N frames of each sequence (N >= 1)")
    parser.add_argument("--device", type=device, default="cpu", help="auto, cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def model_from_args(args: argparse.Namespace) -> tuple[Any, int]:
    """``(model, scale)`` from ``--checkpoint``/``--official``/``--scale``/``--device`` (evaluate, upscale).

    ``bicubic`` is the baseline (x4 unless ``--scale``); anything else goes through
    :func:`~sofkd_lib.weights.checkpoint.load_model`, the authors' files only with ``--official``.
    """
    if str(args.checkpoint) == BICUBIC:
        return BICUBIC, int(args.scale or 4)
    model = load_model(args.checkpoint, scale=args.scale, official=bool(args.official)).to(args.device)
    return model, model.scale


def run(args: argparse.Namespace) -> int:
    """Errors reach :func:`sofkd_lib.cli.main.main`, the one place that reports them."""
    from sofkd_lib.data.datasets import load_dataset, set_name

    if args.output:  # before any work: a bad location must not cost the evaluation
        check_writable(args.output, what="--output")
    model, scale = model_from_args(args)
    clips = load_dataset(args.kind, args.data, split=args.split, max_frames=args.max_frames)
    name = BICUBIC if model == BICUBIC else f"{Path(args.checkpoint).name} ({model_name(model)})"
    res = evaluate_model(model, clips, scale, device=args.device, progress=not args.no_progress, name=name)
    res["checkpoint"] = str(args.checkpoint)
    res["data"], res["dataset"] = str(args.data), set_name(args.kind, args.split, args.data)
    print(format_results(res))
    if args.output:
        write_json_atomic(args.output, res, indent=2)  # NaN/inf as null
        print(f"wrote {args.output}")
    return 0
