"""ONNX export (sofkd_lib.inference.export): architecture inference, checkpoint loading, ORT parity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.cli.main import main as cli_main
from sofkd_lib.inference.export import export_onnx
from sofkd_lib.weights.checkpoint import Architecture, CheckpointError, architecture_from_state, load_model
from tests.conftest import require

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [320, 240, 16])
def test_architecture_of_reads_scale_channels_frames(scale, channels):
    assert architecture_from_state(SOFVSR(scale, channels).state_dict()) == Architecture(scale, 3, channels, channels)
    assert architecture_from_state(SOFVSR(scale, channels, 5).state_dict()) == Architecture(scale, 5, channels, channels)


def test_architecture_of_rejects_foreign_state_dict():
    with pytest.raises(ValueError, match="srnet.body.0.weight"):
        architecture_from_state({"conv.weight": torch.zeros(1)}, "x.pt")


def test_load_model_round_trip_and_errors(tmp_path):
    model = SOFVSR(2, 16)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "step": 3}, path)
    loaded = load_model(path)
    assert loaded.config == model.config and not loaded.training
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="ckpt.pt was trained for x2, not x4; pass --scale 2"):
        load_model(path, scale=4)
    with pytest.raises(CheckpointError, match="checkpoint not found: .*missing.pt"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="ckpt.pt is a sofkd checkpoint, not one of the authors' releases: "
                                              "leave out --official"):
        load_model(path, official=True)


def test_export_rejects_small_opset(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(SOFVSR(2, 8), tmp_path / "m.onnx", opset=15)


def _ort_vs_torch(path, model, shapes):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in shapes:
        lr = torch.rand(*shape)
        with torch.inference_mode():
            expected = model(lr).numpy()
        got = session.run(None, {"lr": lr.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.slow
def test_student_onnx_matches_pytorch_on_dynamic_shapes(tmp_path):
    torch.manual_seed(3)
    model = SOFVSR(4, 240).eval()
    path = export_onnx(model, tmp_path / "student.onnx", height=8, width=8)
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))
    # Another batch and another (even) size than the traced example.
    _ort_vs_torch(path, model, [(1, 3, 1, 8, 8), (2, 3, 1, 6, 10)])


@pytest.mark.slow
def test_cli_exports_teacher_checkpoint(tmp_path, capsys):
    torch.manual_seed(4)
    model = SOFVSR(4, 320).eval()
    ckpt = tmp_path / "teacher.pt"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "teacher.onnx"
    assert cli_main(["export", "--checkpoint", str(ckpt), "--onnx", str(out), "--height", "8", "--width", "8"]) == 0
    assert "320 channels" in capsys.readouterr().out
    _ort_vs_torch(out, model, [(1, 3, 1, 8, 8)])


def test_load_model_official_weights(shared_data):
    path = require(shared_data / "sofvsr_official" / "BI_x2.pth")
    model = load_model(path, official=True, scale=2)
    assert model.config.scale == 2 and model.config.channels == 320 and not model.training
