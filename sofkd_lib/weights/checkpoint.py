"""Training checkpoints and the one model loader: atomic writes, safe loads, architecture checks.

:func:`load_model` turns every source of weights (training checkpoint, recorded
``weights.pt``, ``pretrained:NAME``, bare state dict, the authors' release, a model
in memory) into a checked :class:`SOFVSR`; :func:`architecture_from_state` is the one
reading of an architecture off weights' shapes.

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
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, overload

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
    """A freshly initialised SOF-VSR of architecture ``arch`` (uses the global torch RNG).

    A hybrid (phase 1: the teacher's OFRnet width before a student SRnet) draws its
    initial weights as a whole model of SRnet's width would, then its OFRnet's: its
    SRnet starts from the very weights a student's SRnet starts from with the same
    seed, and the global RNG ends where it always has, so fixed-seed runs keep their
    weights (phase 1 then loads the teacher's OFRnet over the fresh one).
    """
    widths = dict(ofrnet_channels=arch.ofrnet_channels, srnet_channels=arch.srnet_channels)
    if arch.ofrnet_channels == arch.srnet_channels:
        return SOFVSR(arch.scale, n_frames=arch.n_frames, **widths)
    srnet = SOFVSR(arch.scale, arch.srnet_channels, arch.n_frames).srnet
    ofrnet = OFRnet(arch.scale, arch.ofrnet_channels)
    with torch.random.fork_rng(devices=[]):  # the shape only: its own draws are replaced below
        model = SOFVSR(arch.scale, n_frames=arch.n_frames, **widths)
    model.ofrnet.load_state_dict(ofrnet.state_dict())
    model.srnet.load_state_dict(srnet.state_dict())
    return model


def architecture_of(model: SOFVSR) -> Architecture:
    """Read the architecture off a model's layers (first conv of each part)."""
    ofr = model.ofrnet.recurrent_features[0].out_channels
    sr = model.srnet.body[0].out_channels
    return Architecture(model.scale, model.n_frames, ofr, sr)


def architecture_from_state(state: Mapping[str, torch.Tensor],
                            path: str | os.PathLike = "checkpoint") -> Architecture:
    """The :class:`Architecture` of a SOF-VSR state dict, read from its weights' shapes.

    The one architecture inference, for every file that does not state its
    architecture (bare state dicts, the authors' releases). The first SRnet conv has
    ``srnet_channels`` outputs and ``s²·(T−1) + 1`` inputs; the first OFRnet conv
    gives ``ofrnet_channels``; the OFRnet upsampler fixes ``s`` (x4: two x2 stages;
    x2 / x3: one 1×1 conv to 64·s² maps).
    """
    key = "srnet.body.0.weight"
    if key not in state:
        raise CheckpointError(f"{path}: not a SOFVSR state dict (no {key!r})")
    channels, in_channels = _conv_weight(state, key, path).shape[:2]
    if "ofrnet.upsampler.1.weight" not in state:  # the first 1x1 conv after the 3 ResBlocks
        raise CheckpointError(f"{path}: not a SOFVSR state dict (no 'ofrnet.upsampler.1.weight')")
    up = _conv_weight(state, "ofrnet.upsampler.1.weight", path)
    # x4 has two x2 stages, hence a conv at index 7; x2 / x3 one stage of 64·s² maps.
    scale = 4 if "ofrnet.upsampler.7.weight" in state else {256: 2, 576: 3}.get(int(up.shape[0]))
    if scale not in SUPPORTED_SCALES:
        raise CheckpointError(f"{path}: cannot infer the scale from 'ofrnet.upsampler.1.weight' {tuple(up.shape)}")
    if (in_channels - 1) % (scale * scale):
        raise CheckpointError(f"{path}: SRnet input channels {in_channels} do not fit scale x{scale}")
    n_frames = (in_channels - 1) // (scale * scale) + 1
    ofr = "ofrnet.recurrent_features.0.weight"  # absent: the strict load names the missing key
    ofr_channels = _conv_weight(state, ofr, path).shape[0] if ofr in state else channels
    return Architecture(scale, n_frames, int(ofr_channels), int(channels))


def _conv_weight(state: Mapping[str, Any], key: str, path: str | os.PathLike) -> torch.Tensor:
    """``state[key]``, a conv weight read for its shape: anything but a 4-D tensor names the file and the key."""
    value = state[key]
    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        raise CheckpointError(f"{path}: {key!r} is {_describe(value)}, not the 4-D weight of a conv layer")
    return value


def _describe(value: Any) -> str:
    """A state dict entry in an error message: a tensor by its shape, anything else by its type."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dim()}-D tensor of shape {tuple(value.shape)}"
    return f"a value of type {type(value).__name__}, not a tensor"


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


def require_file(path: str | os.PathLike, what: str = "checkpoint") -> Path:
    """``path`` when it is a file; else the one wording of every loader: "WHAT not found: PATH" or
    "WHAT PATH is a folder, not a file" (``what`` says which input, e.g. "teacher: checkpoint")."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a folder, not a file")
    if path.exists():
        raise CheckpointError(f"{what} {path} is not a regular file")
    raise CheckpointError(f"{what} not found: {path}")


def load_weights_file(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                      what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``, the one loader of every weights file; errors name the file.

    Only tensors, plain containers and numbers are unpickled: a file that would build
    other Python objects (and so could run code on loading, as any pickle may) is
    refused with a :class:`CheckpointError`, as are missing, empty and corrupt files.
    """
    path = require_file(path, what)
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
    """``torch.save`` atomically and fsync'ed (:func:`sofkd_lib.data.io.write_atomic`).

    A failed write (a full disk) raises OSError naming ``path``, the old file kept.
    """
    from sofkd_lib.data.io import write_atomic

    def write(tmp: Path) -> None:
        # torch's writer reports a failed write (a full disk) as a RuntimeError ("unexpected pos …") that
        # names neither the file nor the cause: writing through Python keeps the OSError to raise instead.
        with open(tmp, "wb") as fh:
            sink = _KeepWriteError(fh)
            try:
                torch.save(obj, sink)
            except RuntimeError:
                if sink.error is None:
                    raise
                raise sink.error from None

    return write_atomic(path, write, fsync=True)


class _KeepWriteError:
    """A binary file for ``torch.save`` that remembers the OSError of a failed write."""

    def __init__(self, fh: Any):
        self.fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    data: Any = None) -> dict[str, Any]:
    """Read a training checkpoint, checking it is one; errors name the file.

    ``data``: the file's content when already read (by :func:`load_model`).
    """
    path = Path(path)
    if data is None:
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


def _model_of(state: Mapping[str, torch.Tensor], arch: Architecture, source: str,
              shown: Callable[[str], str] = str, dtype: torch.dtype | None = None) -> SOFVSR:
    """A float32 :class:`SOFVSR` of ``arch`` holding ``state``: every key used, every shape and value checked.

    ``shown`` names a key in messages as the file names it (the authors' names for
    their releases); ``dtype`` rounds the floating-point weights through that type.
    """
    model = build_model(arch)
    ours = model.state_dict()
    unexpected = [shown(k) for k in state if k not in ours]
    missing = [shown(k) for k in ours if k not in state]
    if unexpected or missing:
        raise CheckpointError(
            f"{source}: weights do not match {arch.describe()}: "
            f"{len(missing)} missing (first {missing[:1]}), {len(unexpected)} unexpected (first {unexpected[:1]})"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: {shown(key)!r} is {_describe(value)}")
        if tuple(value.shape) != tuple(ours[key].shape):
            raise CheckpointError(f"{source}: shape of {shown(key)!r} is {tuple(value.shape)}, "
                                  f"{arch.describe()} needs {tuple(ours[key].shape)}")
    check_finite({shown(k): v for k, v in state.items()}, source)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)  # copies into the float32 parameters
    return model


#: Keys under which other tools store a model's state dict beside their own entries.
_STATE_KEYS = ("model", "state_dict", "model_state", "model_state_dict", "student", "ema")


def _bare_state(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The SOFVSR state dict of a file that is not a training checkpoint: plain, or under a usual key."""
    def is_sofvsr(d: Any) -> bool:
        return isinstance(d, dict) and any(isinstance(k, str) and k.startswith("srnet.") for k in d)

    if is_sofvsr(obj):
        return obj
    for key in _STATE_KEYS if isinstance(obj, dict) else ():
        if is_sofvsr(obj.get(key)):
            return obj[key]
    raise CheckpointError(f"{path}: no SOFVSR state dict (keys 'srnet.*' and 'ofrnet.*') found in the checkpoint; "
                          f"for the authors' .pth files add --official")


@overload
def load_model(source: SOFVSR | str | os.PathLike, *, scale: int | None = ..., official: bool | None = ...,
               expect: Architecture | None = ..., map_location: str | torch.device = ...,
               dtype: torch.dtype | None = ..., role: str | None = ...,
               with_checkpoint: Literal[False] = ..., fast: bool = ...) -> SOFVSR: ...


@overload
def load_model(source: SOFVSR | str | os.PathLike, *, scale: int | None = ..., official: bool | None = ...,
               expect: Architecture | None = ..., map_location: str | torch.device = ...,
               dtype: torch.dtype | None = ..., role: str | None = ...,
               with_checkpoint: Literal[True], fast: bool = ...) -> tuple[SOFVSR, dict[str, Any] | None]: ...


def load_model(source: SOFVSR | str | os.PathLike, *, scale: int | None = None, official: bool | None = None,
               expect: Architecture | None = None, map_location: str | torch.device = "cpu",
               dtype: torch.dtype | None = None, role: str | None = None,
               with_checkpoint: bool = False, fast: bool = True) -> SOFVSR | tuple[SOFVSR, dict[str, Any] | None]:
    """A :class:`SOFVSR` from any source of weights: the one loader of the package.

    ``source`` is a training checkpoint (``last.pt``/``best.pt``), a recorded
    ``weights.pt``, ``pretrained:NAME`` (:mod:`sofkd_lib.weights.pretrained`), a bare
    state dict (plain or under ``model``/``state_dict``/…), the SOF-VSR authors'
    release (``BI_x2.pth`` …; :mod:`sofkd_lib.weights.official` maps its keys), or a
    model in memory, returned as is (no copy) once checked.

    - ``official`` None: the authors' format is detected; True: required; False:
      refused, with a hint to pass ``--official`` (the commands' flag).
    - The architecture is the one a training checkpoint states, else
      :func:`architecture_from_state` of the weights, so the phase-1 hybrid loads too.
    - ``scale`` None takes the file's; another scale than the file's is an error.
    - ``expect``: an :class:`Architecture` the model must have; a difference names
      the file and every differing field.
    - ``dtype`` rounds the weights through that type (float16: what a float16
      ``weights.pt`` holds); the model always computes in float32.
    - ``role`` (e.g. "teacher") is put before the file in error messages.
    - ``with_checkpoint``: return ``(model, checkpoint)``, the training-checkpoint
      dict (:func:`load_checkpoint`) or None for other sources.
    - ``fast``: a model read from a file runs the opt-in fast execution
      (:func:`sofkd_lib.ops.cpu_execution.use_fast_execution`: the numbers the recorded
      runs were scored with); False gives the plain network.

    Files are read with ``weights_only=True`` (:func:`load_weights_file`). Every
    error, including non-finite weights, is a :class:`CheckpointError` naming the
    file. A model read from a file comes back in eval mode, float32, on the CPU
    (``map_location`` places only the tensors read; move the model with ``.to()``).
    """
    checkpoint, official_file = None, False
    if isinstance(source, torch.nn.Module):
        if dtype is not None:
            raise ValueError("dtype applies to weights read from a file; cast a model in memory yourself")
        what = role or "model"
        found = architecture_of(source)
    else:
        from sofkd_lib.weights import official as authors
        from sofkd_lib.weights.pretrained import resolve_checkpoint

        path = Path(resolve_checkpoint(source))
        what = f"{role} {path}" if role else str(path)
        if role:
            require_file(path, f"{role}: checkpoint")
        obj = load_weights_file(path, map_location, what="official SOF-VSR checkpoint" if official else "checkpoint")
        shown: Callable[[str], str] = str
        if official or (official is None and authors.is_official(obj)):
            official_file, shown = True, authors.ours_key_to_official
            state = authors.official_state(obj, path)
            found = architecture_from_state(state, path)
        elif isinstance(obj, dict) and obj.get("format") == FORMAT:
            checkpoint = load_checkpoint(path, map_location, obj)
            state, found = checkpoint["model"], checkpoint["architecture"]
        else:
            state = _bare_state(obj, path)
            found = architecture_from_state(state, path)
    if scale is not None and scale != found.scale:
        if isinstance(source, torch.nn.Module):
            raise CheckpointError(f"{what} upscales x{found.scale}, not the requested x{scale}")
        held = f"holds SOF-VSR weights for scale x{found.scale}, not the requested x{scale}" if official_file \
            else f"was trained for x{found.scale}, not x{scale}"
        raise CheckpointError(f"{what} {held}; pass --scale {found.scale} or leave --scale out")
    if expect is not None:
        check_architecture(found, expect, what)
    if isinstance(source, torch.nn.Module):
        return (source, None) if with_checkpoint else source
    model = _model_of(state, found, str(path), shown, dtype).eval()
    if fast:
        from sofkd_lib.ops.cpu_execution import use_fast_execution

        use_fast_execution(model)
    return (model, checkpoint) if with_checkpoint else model
