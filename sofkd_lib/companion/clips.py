"""Listings of clips for the book's data chapter: one row per clip with its size, flow and source."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def clip_rows(clips: Iterable[Any], split: str) -> list[dict[str, Any]]:
    """One row per clip of ``split``: split, clip, frames, "H×W", whether it has ground-truth flow, source."""
    return [{"split": split, "clip": c.name, "frames": len(c), "H×W": f"{c.height}×{c.width}",
             "ground-truth flow": "yes" if c.has_flow else "no", "source": c.source} for c in clips]
