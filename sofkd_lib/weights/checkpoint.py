"""Training checkpoints: atomic writes, safe loads, architecture checks.

A checkpoint is a ``torch.load``-able dict (loadable with ``weights_only=True``)::

    format        "sofkd-train"          version  1
    variant       "teacher" | "student" | "phase1" | "phase2" | "phase1+2"
    architecture  {"scale", "n_frames", "ofrnet_channels", "srnet_channels"}
    model         state dict, keys prefixed "ofrnet." and "srnet."
    config        TrainConfig as a dict
    iteration     optimiser steps done
    optimizer, scheduler      their state dicts
    rng           {"torch", "numpy", "python", "sampler"} of rank 0, and
                  "ranks": the same for every DDP process
    best          {"psnr", "iteration"} of the best validation so far (or None)
    seconds       training seconds so far, summed over resumed runs

NumPy arrays inside RNG and sampler states are stored as tagged tensors, so that
loading never needs to unpickle arbitrary objects.

The phase-1 model is a hybrid: the teacher's OFRnet (320 channels) before a
student SRnet (240 channels), hence two channel counts in ``architecture``.
"""
from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR, SUPPORTED_SCALES, OFRnet

FORMAT = "sofkd-train"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "variant", "architecture", "model", "config", "iteration")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or not what the caller needs; the message names the file."""


@dataclass(frozen=True)
class Architecture:
    """Shape of a (possibly hybrid) SOF-VSR: the two parts may differ in width."""

    scale: int = 4
    n_frames: int = 3
    ofrnet_channels: int = 320
    srnet_channels: int = 320

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "architecture") -> Architecture:
        want = set(cls.__dataclass_fields__)
        if not isinstance(data, Mapping) or set(data) != want:
            raise CheckpointError(f"{source}: architecture must hold exactly {sorted(want)}, got {data!r}")
        return cls(**{k: int(data[k]) for k in want})

    def describe(self) -> str:
        return (f"x{self.scale}, {self.n_frames} frames, OFRnet {self.ofrnet_channels} ch, "
                f"SRnet {self.srnet_channels} ch")


def build_model(arch: Architecture) -> SOFVSR:
    """A freshly initialised SOF-VSR of architecture ``arch`` (uses the global torch RNG)."""
    model = SOFVSR(arch.scale, arch.srnet_channels, arch.n_frames)
    if arch.ofrnet_channels != arch.srnet_channels:
        model.ofrnet = OFRnet(arch.scale, arch.ofrnet_channels)
    return model


def architecture_of(model: SOFVSR) -> Architecture:
    """Read the architecture off a model's layers (first conv of each part)."""
    ofr = model.ofrnet.recurrent_features[0].out_channels
    sr = model.srnet.body[0].out_channels
    return Architecture(model.scale, model.n_frames, ofr, sr)


def architecture_from_state(state: Mapping[str, torch.Tensor],
                            path: str | os.PathLike = "checkpoint") -> tuple[int, int, int]:
    """``(scale, channels, n_frames)`` of a :class:`SOFVSR` state dict, read from its SRnet head.

    The first SRnet conv has ``channels`` outputs and ``s²·(T−1) + 1`` inputs; the
    OFRnet upsampler fixes ``s`` (x4: two x2 stages; x2 / x3: one 1×1 conv to 64·s² maps).
    """
    key = "srnet.body.0.weight"
    if key not in state:
        raise CheckpointError(f"{path}: not a SOFVSR state dict (no {key!r}); for the authors' weights use --official")
    channels, in_channels = int(state[key].shape[0]), int(state[key].shape[1])
    up = state.get("ofrnet.upsampler.1.weight")  # the first 1x1 conv after the 3 ResBlocks
    if up is None:
        raise CheckpointError(f"{path}: not a SOFVSR state dict (no 'ofrnet.upsampler.1.weight')")
    # x4 has two x2 stages, hence a conv at index 7; x2 / x3 one stage of 64·s² maps.
    scale = 4 if "ofrnet.upsampler.7.weight" in state else {256: 2, 576: 3}.get(int(up.shape[0]))
    if scale not in SUPPORTED_SCALES:
        raise CheckpointError(f"{path}: cannot infer the scale from 'ofrnet.upsampler.1.weight' {tuple(up.shape)}")
    if (in_channels - 1) % (scale * scale):
        raise CheckpointError(f"{path}: SRnet input channels {in_channels} do not fit scale x{scale}")
    n_frames = (in_channels - 1) // (scale * scale) + 1
    return scale, channels, n_frames


def check_architecture(found: Architecture, expected: Architecture, what: str) -> None:
    """Raise :class:`CheckpointError` naming ``what`` and every field that differs."""
    bad = [f"{k} is {v}, expected {getattr(expected, k)}" for k, v in found.to_dict().items()
           if getattr(expected, k) != v]
    if bad:
        raise CheckpointError(f"{what}: wrong architecture ({'; '.join(bad)}); it holds {found.describe()}")


# --------------------------------------------------------------------------- state codec
_NDARRAY_TAG = "__ndarray__"


def encode_state(obj: Any) -> Any:
    """Replace NumPy arrays and scalars (e.g. in RNG states) by tensors/Python numbers, recursively."""
    if isinstance(obj, np.ndarray):
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(obj).copy()), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {k: encode_state(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(encode_state(v) for v in obj)
    if isinstance(obj, list):
        return [encode_state(v) for v in obj]
    return obj


def decode_state(obj: Any) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, Mapping):
        if _NDARRAY_TAG in obj:
            return obj[_NDARRAY_TAG].numpy().astype(obj["dtype"], copy=True)
        return {k: decode_state(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(decode_state(v) for v in obj)
    if isinstance(obj, list):
        return [decode_state(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- files
def _reason(exc: BaseException) -> str:
    """What went wrong in a failed ``torch.load``, never empty (a truncated file raises a bare EOFError)."""
    text = str(exc).strip()
    if isinstance(exc, EOFError):
        return "the file ends early (truncated); copy or download it again"
    inner = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text)
    if inner:  # the useful line of torch's long weights-only message
        return f"not a PyTorch weights file (unpickling stopped: {inner.group(1).strip()})"
    if isinstance(exc, pickle.UnpicklingError):
        return f"not a PyTorch weights file ({text.splitlines()[0] if text else 'unpickling failed'})"
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else f"{type(exc).__name__} (not a PyTorch file?)"


def load_weights_file(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                      what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``, the one loader of every weights file; errors name the file.

    Only tensors, plain containers and numbers are unpickled: a file that would build
    other Python objects (and so could run code on loading, as any pickle may) is
    refused with a :class:`CheckpointError`, as are missing, empty and corrupt files.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}" if not path.exists() else f"{what} {path} is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} {path} is empty (0 bytes); copy or download it again")
    try:
        with warnings.catch_warnings():
            # The authors' legacy files use pickle protocol 4; the weights-only unpickler reads them (50 tensors).
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        code = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if code:
            raise CheckpointError(
                f"refused to load {what} {path}: it holds a Python object ({code.group(1)}) that would run code "
                f"when unpickled; only tensors and plain values are loaded. Use weights saved as a state dict "
                f"from a source you trust") from exc
        raise CheckpointError(f"cannot read {what} {path}: {_reason(exc)}") from exc


def non_finite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors of ``state`` holding NaN or inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state: Mapping[str, Any], source: str) -> None:
    """Raise :class:`CheckpointError` naming ``source`` when any weight of ``state`` is NaN or inf."""
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} of {len(state)} weight tensors hold NaN or inf (first {bad[0]!r}); the run that "
            f"wrote it diverged: use an earlier checkpoint, or retrain with a smaller learning rate")


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint, checking it is one; errors name the file."""
    path = Path(path)
    data = load_weights_file(path, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a sofkd training checkpoint (no format={FORMAT!r} entry)")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks checkpoint entries {missing}")
    if data["version"] != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data['version']}, this library reads {VERSION}")
    data["architecture"] = Architecture.from_dict(data["architecture"], str(path))
    if "rng" in data:
        data["rng"] = decode_state(data["rng"])
    return data


def model_from_checkpoint(data: Mapping[str, Any], source: str = "checkpoint") -> SOFVSR:
    """Build the model a loaded checkpoint describes and load its weights strictly."""
    arch: Architecture = data["architecture"]
    model = build_model(arch)
    state = data["model"]
    ours = model.state_dict()
    unexpected = [k for k in state if k not in ours]
    missing = [k for k in ours if k not in state]
    if unexpected or missing:
        raise CheckpointError(
            f"{source}: weights do not match {arch.describe()}: "
            f"{len(missing)} missing (first {missing[:1]}), {len(unexpected)} unexpected (first {unexpected[:1]})"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(ours[key].shape):
            raise CheckpointError(f"{source}: shape of {key!r} is {tuple(value.shape)}, "
                                  f"{arch.describe()} needs {tuple(ours[key].shape)}")
    check_finite(state, source)
    model.load_state_dict(state, strict=True)
    return model


def _is_official(path: Path) -> bool:
    """True for the SOF-VSR authors' release format (a bare state dict with ``OFR.``/``SR.`` keys)."""
    try:
        data = load_weights_file(path)
    except CheckpointError:
        return False
    return isinstance(data, dict) and any(str(k).startswith("OFR.") for k in data)


def load_model_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                          expect: Architecture | None = None, scale: int = 4) -> SOFVSR:
    """The model stored in a training checkpoint (``last.pt``/``best.pt``), in eval mode.

    ``path`` may be ``pretrained:NAME`` (recorded weights, :mod:`sofkd_lib.weights.pretrained`).
    The authors' released SOF-VSR weights (``BI_x4.pth`` …) are accepted too, as a
    teacher of scale ``scale``. Non-finite weights raise :class:`CheckpointError`; with
    ``expect``, so does a different architecture, naming the file and the differing fields.
    """
    from sofkd_lib.weights.pretrained import resolve_checkpoint

    path = Path(resolve_checkpoint(path))
    try:
        data = load_checkpoint(path, map_location)
    except CheckpointError:
        if not _is_official(path):
            raise
        from sofkd_lib.weights.official import load_official

        model = load_official(path, scale, map_location)  # its errors name the file already
    else:
        model = model_from_checkpoint(data, str(path))
    if expect is not None:
        check_architecture(architecture_of(model), expect, str(path))
    return model.eval()
