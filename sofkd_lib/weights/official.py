"""Import of the SOF-VSR authors' released checkpoints (``BI_x2.pth`` … ``BD_x4.pth``)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR, TEACHER_CHANNELS
from sofkd_lib.weights.checkpoint import CheckpointError, check_finite, load_weights_file

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


def load_official(path: str | os.PathLike, scale: int | None = None,
                  map_location: str | torch.device = "cpu") -> SOFVSR:
    """Return a teacher-size :class:`SOFVSR` holding the authors' released weights.

    ``scale`` None takes the scale the file holds (read from its SRnet head). The
    file is read with ``weights_only=True`` (:func:`~sofkd_lib.weights.checkpoint.load_weights_file`):
    the release is a plain OrderedDict of tensors, and a file carrying code is refused.
    Every key is used and every shape checked; a mismatch, another scale than
    ``scale`` or a non-finite weight raises :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    state = load_weights_file(path, map_location, what="official SOF-VSR checkpoint")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    if "model" in state or any(str(k).startswith(("srnet.", "ofrnet.")) for k in state):
        raise CheckpointError(f"{path} is a sofkd checkpoint, not one of the authors' releases: leave out --official")
    held = _scale_of(state)
    if scale is None:
        if held is None:
            raise CheckpointError(f"{path}: cannot tell the scale from its weights (no SR.body.0.weight of a "
                                  f"x2/x3/x4 SRnet); pass --scale")
        scale = held
    if held is not None and held != scale:
        raise CheckpointError(f"{path} holds SOF-VSR weights for scale x{held}, not the requested x{scale}; "
                              f"pass --scale {held} or leave --scale out")
    model = SOFVSR(scale=scale, channels=TEACHER_CHANNELS)
    ours = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        try:
            new_key = official_key_to_ours(key)
        except KeyError as exc:
            raise CheckpointError(f"{path}: {exc.args[0]}") from None
        if new_key not in ours:
            raise CheckpointError(f"{path}: key {key!r} (→ {new_key!r}) has no counterpart in SOFVSR(scale={scale})")
        if tuple(value.shape) != tuple(ours[new_key].shape):
            raise CheckpointError(
                f"{path}: shape mismatch at {key!r}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(ours[new_key].shape)}"
            )
        renamed[new_key] = value
    missing = [k for k in ours if k not in renamed]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {len(missing)} model keys, first {missing[0]!r}")
    check_finite(state, str(path))
    model.load_state_dict(renamed, strict=True)
    return model.eval()
