"""``python -m sofkd_lib COMMAND``: one entry point for every command."""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .runtime import keep_freed_memory

# command → (module, help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "params": ("sofkd_lib.params_cli", "print Table 2 (parameter counts, M = 2^20)"),
    "export": ("sofkd_lib.export", "export a teacher/student checkpoint to ONNX (ONNX Runtime, CPU)"),
    "evaluate": ("sofkd_lib.evaluate", "score a model or bicubic by the authors' Vid4 protocol (PSNR/SSIM/EPE JSON)"),
    "upscale": ("sofkd_lib.upscale", "super-resolve a folder of frames or a video file (tiled, bounded memory)"),
    "pipeline": ("sofkd_lib.pipeline", "train every variant with papermill, evaluate, build the book"),
    "train": ("sofkd_lib.train", "train the teacher or a student variant of Table 1 (resumable, DDP)"),
    "record": ("sofkd_lib.record", "train, evaluate and record variants with provenance in results/recorded"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sofkd_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
