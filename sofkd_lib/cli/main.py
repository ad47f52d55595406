"""``python -m sofkd_lib COMMAND``: one entry point for every command, and one error path.

An error the user can act on (a bad argument, input, checkpoint or output location,
a run that diverged) ends every command the same way: one line on stderr,
``COMMAND: error: MESSAGE`` naming the file, parameter or value, and exit status 2,
never a traceback. ``--debug`` re-raises it to show the traceback. Ctrl-C ends every
command with ``COMMAND: interrupted`` and exit status 130. Commands check
their outputs (:func:`sofkd_lib.data.io.check_writable`) before doing any work.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sofkd_lib.engine.runtime import keep_freed_memory

# command → (module, help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "params": ("sofkd_lib.cli.params", "print Table 2 (parameter counts, M = 2^20)"),
    "export": ("sofkd_lib.cli.export", "export a teacher/student checkpoint to ONNX (ONNX Runtime, CPU)"),
    "evaluate": ("sofkd_lib.cli.evaluate", "score a model or bicubic by the authors' Vid4 protocol (PSNR/SSIM/EPE JSON)"),
    "upscale": ("sofkd_lib.cli.upscale", "super-resolve a folder of frames or a video file (tiled, bounded memory)"),
    "chapter": ("sofkd_lib.cli.chapter",
                "execute one book chapter (MyST page) with papermill parameters, e.g. -p profile smoke"),
    "pipeline": ("sofkd_lib.cli.pipeline", "train every variant with papermill, evaluate, build the book"),
    "train": ("sofkd_lib.cli.train", "train the teacher or a student variant of Table 1 (resumable, DDP)"),
    "record": ("sofkd_lib.cli.record", "train, evaluate and record variants with provenance in results/recorded"),
}

#: Exit status of every user error (argparse's own, so a bad flag and a bad file read alike).
USER_ERROR_STATUS = 2
#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a process the signal ended.
INTERRUPTED_STATUS = 130


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types reported as one line: the library's errors for bad input, and ValueError/OSError.

    ConfigError, CheckpointError, DataError and PretrainedError name the field, file or
    name at fault; ValueError is what the library raises for a bad argument value
    (every one of those errors is a ValueError); OSError is a path the system refused.
    """
    from sofkd_lib.companion.pipeline import MissingRunError
    from sofkd_lib.companion.recording.options import RecordError
    from sofkd_lib.engine.train import NonFiniteLossError
    from sofkd_lib.settings import CheckoutRequiredError
    from sofkd_lib.weights.pretrained import PretrainedError

    return (ValueError, PretrainedError, NonFiniteLossError, RecordError, MissingRunError, OSError,
            CheckoutRequiredError)


def error_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an OSError as ``FILE: reason``, not ``[Errno N] …``)."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        text = f"{' → '.join(names)}: {exc.strerror}" if names else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line parameter errors (no usage block), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USER_ERROR_STATUS, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m sofkd_lib", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    debug_help = "on an error, show the traceback instead of one line"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Also accepted after the command; SUPPRESS keeps a --debug given before it.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        keep_freed_memory()
        try:
            return int(importlib.import_module(args._module).run(args) or 0)
        except user_errors() as exc:
            if args.debug:
                raise
            print(f"{args.command}: error: {error_line(exc)}", file=sys.stderr)
            return USER_ERROR_STATUS
    except KeyboardInterrupt:
        # Ctrl-C, also while torch is still being imported: what was being written is cleaned up by the writers.
        if "--debug" in argv:
            raise
        command = next((a for a in argv if a in COMMANDS), "python -m sofkd_lib")
        print(f"{command}: interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS


if __name__ == "__main__":
    sys.exit(main())
