"""Import of the SOF-VSR authors' released checkpoints (``BI_x2.pth`` … ``BD_x4.pth``)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .models import SOFVSR, TEACHER_CHANNELS

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


def _scale_of(state: dict[str, torch.Tensor]) -> int | None:
    """Infer the upscaling factor a SOF-VSR state dict was built for from its SRnet head."""
    first = state.get("SR.body.0.weight")
    if first is None:
        return None
    in_ch = first.shape[1]  # s² (T-1) + 1 with T = 3
    for s in (2, 3, 4):
        if in_ch == 2 * s * s + 1:
            return s
    return None


def load_official(path: str | os.PathLike, scale: int, map_location: str | torch.device = "cpu") -> SOFVSR:
    """Return a teacher-size :class:`SOFVSR` holding the authors' released weights.

    Every key of the checkpoint is used and every shape checked; the first mismatch
    raises an error naming it. A checkpoint for another scale raises a ValueError
    saying which scale it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official SOF-VSR checkpoint not found: {path}")
    try:
        # The release is a legacy full pickle of an OrderedDict, hence weights_only=False.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"cannot read official checkpoint {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    held = _scale_of(state)
    if held is not None and held != scale:
        raise ValueError(f"{path} holds SOF-VSR weights for scale x{held}, not the requested x{scale}")
    model = SOFVSR(scale=scale, channels=TEACHER_CHANNELS)
    ours = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new_key = official_key_to_ours(key)
        if new_key not in ours:
            raise KeyError(f"{path}: key {key!r} (→ {new_key!r}) has no counterpart in SOFVSR(scale={scale})")
        if tuple(value.shape) != tuple(ours[new_key].shape):
            raise ValueError(
                f"{path}: shape mismatch at {key!r}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(ours[new_key].shape)}"
            )
        renamed[new_key] = value
    missing = [k for k in ours if k not in renamed]
    if missing:
        raise KeyError(f"{path}: checkpoint lacks {len(missing)} model keys, first {missing[0]!r}")
    model.load_state_dict(renamed, strict=True)
    return model.eval()
