"""``python -m sofkd_lib params``: Table 2 counted from code."""
from __future__ import annotations

import argparse

from sofkd_lib.evaluation.params import format_table2, table2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=int, default=4, choices=(2, 3, 4), help="upscaling factor (paper: 4)")
    parser.add_argument("--frames", type=int, default=3, help="input frames (paper: 3)")


def run(args: argparse.Namespace) -> int:
    print(format_table2(table2(args.scale, args.frames)))
    return 0
