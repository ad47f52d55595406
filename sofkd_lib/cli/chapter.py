"""``python -m sofkd_lib chapter``: its arguments and its run (the work is in :mod:`sofkd_lib.companion.chapter`)."""
from __future__ import annotations

from pathlib import Path

from sofkd_lib.companion.chapter import run_chapter


def add_arguments(parser) -> None:
    parser.add_argument("chapter", type=Path, help="a book page, e.g. book/architecture.md (MyST) or an .ipynb")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="replace a default of the chapter's parameters cell, e.g. -p profile smoke (VALUE is "
                             "read as the type the cell declares)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the executed notebook to write (.ipynb)")
    parser.add_argument("--log-output", action="store_true", help="echo the cells' output while they run")


def run(args) -> int:
    """Errors reach :func:`sofkd_lib.cli.main.main`, the one place that reports them."""
    out = run_chapter(args.chapter, args.output, dict(args.parameter), log_output=args.log_output)
    print(f"executed {args.chapter} into {out}")
    return 0
