"""Import of the SOF-VSR authors' released checkpoints (``BI_x2.pth`` … ``BD_x4.pth``)."""
from __future__ import annotations

import os
from typing import Any

import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.weights.checkpoint import CheckpointError, load_model

# The authors' top-level and OFRnet submodule names → ours (the rest of each key is identical).
_PREFIXES = (
    ("OFR.RNN1.", "ofrnet.recurrent_features."),
    ("OFR.RNN2.", "ofrnet.recurrent_flow."),
    ("OFR.SR.", "ofrnet.upsampler."),
    ("SR.body.", "srnet.body."),
)


def official_key_to_ours(key: str) -> str:
    """Rename one key of the authors' state dict to this library's module tree."""
    for theirs, ours in _PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    raise KeyError(f"unexpected key {key!r} in official checkpoint (expected OFR.RNN1/RNN2/SR.* or SR.body.*)")


def ours_key_to_official(key: str) -> str:
    """The authors' name of one of our keys (messages about their files name their keys)."""
    for theirs, ours in _PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return key


def is_official(obj: Any) -> bool:
    """True for the content of an authors' release: a state dict (maybe under ``state_dict``) with ``OFR.`` keys."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    return isinstance(obj, dict) and any(str(k).startswith("OFR.") for k in obj)


def official_state(obj: Any, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The authors' state dict ``obj`` (read from ``path``) with our key names; errors name the file.

    Only the names change: shapes, values and the architecture are checked by
    :func:`~sofkd_lib.weights.checkpoint.load_model`, as for every other source.
    """
    state = obj["state_dict"] if isinstance(obj, dict) and "state_dict" in obj else obj
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    if "model" in state or any(str(k).startswith(("srnet.", "ofrnet.")) for k in state):
        raise CheckpointError(f"{path} is a sofkd checkpoint, not one of the authors' releases: leave out --official")
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        try:
            renamed[official_key_to_ours(str(key))] = value
        except KeyError as exc:
            raise CheckpointError(f"{path}: {exc.args[0]}") from None
    return renamed


def load_official(path: str | os.PathLike, scale: int | None = None,
                  map_location: str | torch.device = "cpu") -> SOFVSR:
    """A :class:`SOFVSR` (eval mode) holding the authors' released weights at ``path``.

    ``load_model(path, official=True, …)``: ``scale`` None takes the scale the file
    holds; another scale, a missing or extra key, a wrong shape or a non-finite
    weight raises :class:`~sofkd_lib.weights.checkpoint.CheckpointError` naming the file.
    """
    return load_model(path, official=True, scale=scale, map_location=map_location)
