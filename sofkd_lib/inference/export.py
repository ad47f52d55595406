"""ONNX export of a SOF-VSR teacher or student, and ``python -m sofkd_lib export``.

The graph takes ``lr`` (B, T, 1, h, w), Y in [0, 1], and returns the SR centre
frame (B, 1, s·h, s·w). Batch, height and width are dynamic (h and w must stay
even, as for the PyTorch model). Warping uses ONNX ``GridSample`` (opset ≥ 16),
so the graph runs in ONNX Runtime's default CPU provider; :func:`run_onnx` runs it
there and :func:`check_onnx` compares it with PyTorch (the command reports that check).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.data.io import check_writable, write_atomic
from sofkd_lib.weights.checkpoint import CheckpointError

#: Opset written by default: GridSample needs 16; 18 is what the torch exporter targets.
DEFAULT_OPSET = 18


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's noise: warnings about torchvision ops this model does not use, deprecations."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.onnx._internal.exporter._registration")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            with contextlib.redirect_stdout(io.StringIO()):  # "[torch.onnx] Run decompositions... ✅" lines
                yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


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
        raise ValueError(f"--opset must be >= 16 (GridSample), got {opset}")
    if height % 2 or width % 2 or height < 4 or width < 4:
        raise ValueError(f"example LR size (--height, --width) must be even and >= 4, got {height}x{width}")
    path = Path(path)
    check_writable(path, what="ONNX output")
    model = model.eval()
    # Batch 2 in the example: a size-1 dimension would be specialised to 1.
    example = torch.rand(2, model.n_frames, 1, height, width)
    dynamic_shapes = None
    if dynamic:
        # h = 2·h2 and w = 2·w2 so the exporter knows they stay even.
        half_h = torch.export.Dim("half_h", min=2, max=4096)
        half_w = torch.export.Dim("half_w", min=2, max=4096)
        dynamic_shapes = {"lr": {0: torch.export.Dim("batch", min=1, max=1024), 3: 2 * half_h, 4: 2 * half_w}}

    def write(tmp: Path) -> None:
        with _quiet_exporter():
            program = torch.onnx.export(
                model,
                (example,),
                input_names=["lr"],
                output_names=["sr"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                external_data=False,
                verbose=False,
            )
            program.save(str(tmp))

    return write_atomic(path, write)


def run_onnx(session: Any, lr: np.ndarray, source: str | os.PathLike = "ONNX model") -> np.ndarray:
    """Run an exported model in ONNX Runtime: ``lr`` (B, T, 1, h, w) float32 → SR (B, 1, s·h, s·w).

    ``session`` is an ``onnxruntime.InferenceSession`` or the path of an ``.onnx`` file.
    An odd h or w (the flow network halves the frame) raises a ValueError saying so,
    instead of ONNX Runtime's broadcast error from deep inside the graph.
    """
    if not hasattr(session, "run"):
        import onnxruntime as ort

        source = session
        session = ort.InferenceSession(str(session), providers=["CPUExecutionProvider"])
    lr = np.ascontiguousarray(lr, dtype=np.float32)
    if lr.ndim != 5 or lr.shape[2] != 1:
        raise ValueError(f"{source}: input must be (batch, frames, 1, height, width) Y frames, got {lr.shape}")
    h, w = lr.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"{source}: LR height and width must be even (the flow network works at half size), "
                         f"got {h}x{w}; pad the frames by one row/column (edge copy) and crop the output")
    try:
        return session.run(None, {"lr": lr})[0]
    except Exception as exc:
        raise ValueError(f"{source}: ONNX Runtime failed on a {'x'.join(map(str, lr.shape))} input: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def check_onnx(path: str | os.PathLike, model: SOFVSR, height: int, width: int, tol: float = 1e-3) -> float:
    """Max |ONNX Runtime − PyTorch| of the exported ``path`` on one random (2, T, 1, height, width) input.

    Batch 2 and the traced size, so a ``--static`` graph runs too. A non-finite output
    or a difference above ``tol`` raises :class:`CheckpointError`.
    """
    lr = torch.rand(2, model.n_frames, 1, height, width, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model(lr).numpy()
    got = run_onnx(path, lr.numpy(), path)
    if not (np.isfinite(expected).all() and np.isfinite(got).all()):
        raise CheckpointError(f"{path}: the model's output holds NaN or inf (PyTorch finite: "
                              f"{bool(np.isfinite(expected).all())}, ONNX Runtime finite: {bool(np.isfinite(got).all())})")
    if got.shape != expected.shape:
        raise CheckpointError(f"{path}: ONNX Runtime output shape {got.shape}, PyTorch {expected.shape}")
    diff = float(np.abs(got - expected).max())
    if diff > tol:
        raise CheckpointError(f"{path}: ONNX Runtime differs from PyTorch by up to {diff:.3g} (> {tol:g})")
    return diff
