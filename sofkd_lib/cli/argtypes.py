"""argparse value types shared by the commands (a bad value is a one-line parameter error)."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def even_int(minimum: int = 2) -> Callable[[str], int]:
    """argparse type: an even integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value % 2 or value < minimum:
            raise argparse.ArgumentTypeError(f"must be even and at least {minimum}, got {value}")
        return value

    parse.__name__ = f"even integer >= {minimum}"
    return parse


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (e.g. a frame rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def device(text: str) -> str:
    """argparse type: a device this machine has (:func:`~sofkd_lib.engine.distributed.check_device`);
    ``auto`` becomes ``cuda`` when CUDA is present, else ``cpu``."""
    from sofkd_lib.engine.config import ConfigError
    from sofkd_lib.engine.distributed import check_device, resolve_device

    try:
        check_device(text, what="device")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return resolve_device(text).type if text == "auto" else text


def seed_list(text: str) -> tuple[int, ...]:
    """argparse type: ``0,1,2`` or ``0-2`` (:func:`~sofkd_lib.companion.recording.options.parse_seeds`)."""
    from sofkd_lib.companion.recording.options import RecordError, parse_seeds

    try:
        return parse_seeds(text)
    except RecordError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def entry_budget(text: str) -> tuple[str, int]:
    """argparse type: ``ENTRY=N``, a recorded entry and its iterations (``record --budget``)."""
    name, sep, value = text.partition("=")
    try:
        iterations = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        iterations = 0
    if not sep or not name.strip() or iterations < 1:
        raise argparse.ArgumentTypeError(f"expected ENTRY=N with N an integer >= 1 (e.g. phase2=12000), got {text!r}")
    return name.strip(), iterations
