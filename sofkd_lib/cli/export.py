"""``python -m sofkd_lib export``: its arguments and its run (the work is in :mod:`sofkd_lib.inference.export`)."""
from __future__ import annotations

import argparse

from sofkd_lib.archs.sofvsr_arch import SUPPORTED_SCALES
from sofkd_lib.cli.argtypes import even_int
from sofkd_lib.data.io import check_writable
from sofkd_lib.inference.export import DEFAULT_OPSET, check_onnx, export_onnx
from sofkd_lib.weights.checkpoint import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="our checkpoint (.pt), 'pretrained:NAME' (e.g. pretrained:teacher-x4), "
                             "or the authors' .pth with --official")
    parser.add_argument("--official", action="store_true", help="the checkpoint is one of the authors' releases")
    parser.add_argument("--scale", type=int, choices=SUPPORTED_SCALES,
                        help="upscaling factor (default: the checkpoint's)")
    parser.add_argument("--onnx", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= 16 (default {DEFAULT_OPSET})")
    parser.add_argument("--static", action="store_true", help="fix batch and size to the example input")
    parser.add_argument("--height", type=even_int(4), default=32, help="LR height of the example input (even, >= 4)")
    parser.add_argument("--width", type=even_int(4), default=32, help="LR width of the example input (even, >= 4)")


def run(args: argparse.Namespace) -> int:
    """Errors reach :func:`sofkd_lib.cli.main.main`, the one place that reports them."""
    check_writable(args.onnx, what="--onnx")  # before loading and tracing
    if args.opset < 16:
        raise ValueError(f"--opset must be >= 16 (GridSample), got {args.opset}")
    model = load_model(args.checkpoint, official=bool(args.official), scale=args.scale)
    out = export_onnx(model, args.onnx, args.height, args.width, args.opset, dynamic=not args.static)
    try:
        diff = check_onnx(out, model, args.height, args.width)
    except BaseException:
        out.unlink(missing_ok=True)  # a graph that fails its check is not left behind
        raise
    c = model.config
    print(f"wrote {out} (x{c.scale}, {c.channels} channels, {c.n_frames} frames, opset {args.opset}); "
          f"ONNX Runtime check: max |ORT - PyTorch| = {diff:.2e} on a {args.height}x{args.width} LR input")
    return 0
