"""``python -m sofkd_lib upscale``: its arguments and its run (the work is in :mod:`sofkd_lib.inference.upscale`)."""
from __future__ import annotations

import argparse

from sofkd_lib.cli.argtypes import device, even_int, positive_float
from sofkd_lib.cli.evaluate import model_from_args
from sofkd_lib.inference.tiling import TileConfig
from sofkd_lib.inference.upscale import check_outputs, upscale


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="folder of frames or a video file")
    parser.add_argument("-o", "--output", required=True, help="output folder for the SR frames (PNG)")
    parser.add_argument("--checkpoint", required=True,
                        help="checkpoint file, 'pretrained:NAME' (e.g. pretrained:teacher-x4), or 'bicubic'")
    parser.add_argument("--official", action="store_true", help="the checkpoint is the SOF-VSR authors' release")
    parser.add_argument("--scale", type=int, choices=(2, 3, 4), default=None,
                        help="upscaling factor (default: from the checkpoint; 4 for bicubic)")
    parser.add_argument("--video", default=None, help="also encode the SR frames to this .mp4 (H.264)")
    parser.add_argument("--fps", type=positive_float, default=None, help="frame rate of --video (default: input's, else 25)")
    parser.add_argument("--tile", type=even_int(2), default=TileConfig.tile,
                        help="LR tile core size in pixels, even (default: %(default)s)")
    parser.add_argument("--tile-pad", type=even_int(0), default=TileConfig.pad,
                        help="LR context pixels around each tile, even (default: %(default)s)")
    parser.add_argument("--device", type=device, default="cpu", help="auto, cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Errors reach :func:`sofkd_lib.cli.main.main`, the one place that reports them."""
    # Outputs before the model is loaded (upscale checks every input frame before its first output).
    check_outputs(args.input, args.output, args.video, what="-o/--output")
    model, scale = model_from_args(args)
    written = upscale(model, scale, args.input, args.output, tiles=TileConfig(args.tile, args.tile_pad),
                      video=args.video, fps=args.fps, device=args.device, progress=not args.no_progress)
    print(f"wrote {len(written)} frames to {args.output}" + (f" and {args.video}" if args.video else ""))
    return 0
