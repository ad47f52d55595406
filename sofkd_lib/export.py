"""ONNX export of a SOF-VSR teacher or student, and ``python -m sofkd_lib export``.

The graph takes ``lr`` (B, T, 1, h, w), Y in [0, 1], and returns the SR centre
frame (B, 1, s·h, s·w). Batch, height and width are dynamic (h and w must stay
even, as for the PyTorch model). Warping uses ONNX ``GridSample`` (opset ≥ 16),
so the graph runs in ONNX Runtime's default CPU provider.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from .models import SOFVSR, SUPPORTED_SCALES

#: Opset written by default: GridSample needs 16; 18 is what the torch exporter targets.
DEFAULT_OPSET = 18


def _state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint (raw, or under a usual key)."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
                return inner
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise ValueError(
        f"{path}: no model state dict found (expected a state dict, or one under 'model' / 'state_dict')"
    )


def architecture_of(state: dict[str, torch.Tensor], path: str | os.PathLike = "checkpoint") -> tuple[int, int, int]:
    """``(scale, channels, n_frames)`` of a :class:`SOFVSR` state dict, read from its SRnet head.

    The first SRnet conv has ``channels`` outputs and ``s²·(T−1) + 1`` inputs; the
    OFRnet upsampler fixes ``s`` (x4: two x2 stages; x2 / x3: one 1×1 conv to 64·s² maps).
    """
    key = "srnet.body.0.weight"
    if key not in state:
        raise ValueError(f"{path}: not a SOFVSR state dict (no {key!r}); for the authors' weights use --official")
    channels, in_channels = int(state[key].shape[0]), int(state[key].shape[1])
    up = state.get("ofrnet.upsampler.1.weight")  # the first 1x1 conv after the 3 ResBlocks
    if up is None:
        raise ValueError(f"{path}: not a SOFVSR state dict (no 'ofrnet.upsampler.1.weight')")
    # x4 has two x2 stages, hence a conv at index 7; x2 / x3 one stage of 64·s² maps.
    scale = 4 if "ofrnet.upsampler.7.weight" in state else {256: 2, 576: 3}.get(int(up.shape[0]))
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"{path}: cannot infer the scale from 'ofrnet.upsampler.1.weight' {tuple(up.shape)}")
    if (in_channels - 1) % (scale * scale):
        raise ValueError(f"{path}: SRnet input channels {in_channels} do not fit scale x{scale}")
    n_frames = (in_channels - 1) // (scale * scale) + 1
    return scale, channels, n_frames


def load_checkpoint(path: str | os.PathLike, official: bool = False, scale: int | None = None) -> SOFVSR:
    """A :class:`SOFVSR` in eval mode from one of our checkpoints, or from the authors' (``official``)."""
    path = Path(path)
    if official:
        if scale is None:
            raise ValueError("--official needs --scale (the authors' files hold one scale each)")
        from .official import load_official

        return load_official(path, scale)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = _state_dict_of(torch.load(path, map_location="cpu", weights_only=False), path)
    inferred, channels, n_frames = architecture_of(state, path)
    if scale is not None and scale != inferred:
        raise ValueError(f"{path} holds a x{inferred} model, not the requested x{scale}")
    model = SOFVSR(inferred, channels, n_frames)
    model.load_state_dict(state, strict=True)
    return model.eval()


def export_onnx(
    model: SOFVSR,
    path: str | os.PathLike,
    height: int = 32,
    width: int = 32,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically) and return the path.

    ``height``/``width`` give the LR size of the example input used for tracing
    (even); with ``dynamic`` the batch, height and width stay symbolic.
    """
    if opset < 16:
        raise ValueError(f"opset must be >= 16 (GridSample), got {opset}")
    if height % 2 or width % 2 or height < 4 or width < 4:
        raise ValueError(f"example LR size must be even and >= 4, got {height}x{width}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    # Batch 2 in the example: a size-1 dimension would be specialised to 1.
    example = torch.rand(2, model.n_frames, 1, height, width)
    dynamic_shapes = None
    if dynamic:
        # h = 2·h2 and w = 2·w2 so the exporter knows they stay even.
        half_h = torch.export.Dim("half_h", min=2, max=4096)
        half_w = torch.export.Dim("half_w", min=2, max=4096)
        dynamic_shapes = {"lr": {0: torch.export.Dim("batch", min=1, max=1024), 3: 2 * half_h, 4: 2 * half_w}}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        program = torch.onnx.export(
            model,
            (example,),
            input_names=["lr"],
            output_names=["sr"],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
        )
        program.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="our checkpoint (.pt), or the authors' .pth with --official")
    parser.add_argument("--official", action="store_true", help="the checkpoint is one of the authors' releases")
    parser.add_argument("--scale", type=int, choices=SUPPORTED_SCALES, help="upscaling factor (required with --official)")
    parser.add_argument("--onnx", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= 16 (default {DEFAULT_OPSET})")
    parser.add_argument("--static", action="store_true", help="fix batch and size to the example input")
    parser.add_argument("--height", type=int, default=32, help="LR height of the example input (even)")
    parser.add_argument("--width", type=int, default=32, help="LR width of the example input (even)")


def run(args: argparse.Namespace) -> int:
    model = load_checkpoint(args.checkpoint, official=args.official, scale=args.scale)
    out = export_onnx(model, args.onnx, args.height, args.width, args.opset, dynamic=not args.static)
    c = model.config
    print(f"wrote {out} (x{c.scale}, {c.channels} channels, {c.n_frames} frames, opset {args.opset})")
    return 0
