"""argparse value types shared by the commands (a bad value is a one-line parameter error)."""
from __future__ import annotations

import argparse
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
