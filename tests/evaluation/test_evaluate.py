"""The authors' evaluation protocol, the JSON it returns and the evaluate command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from sofkd_lib.archs.sofvsr_arch import SOFVSR, FlowPyramid, SOFVSROutput
from sofkd_lib.archs.warp import pixels_to_model
from sofkd_lib.cli.main import main
from sofkd_lib.data import Clip, LayeredMotion, imresize, read_image
from sofkd_lib.evaluation.evaluate import evaluate_model, model_name
from sofkd_lib.weights.checkpoint import CheckpointError, load_model
from sofkd_lib.weights.official import load_official
from tests.conftest import require


def _smooth(rng, h, w):
    return np.clip(imresize(rng.integers(0, 256, (h // 8, w // 8, 3)).astype(float), 8), 0, 255)


def _clip(n=7, h=50, w=66, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.stack([_smooth(rng, 56, 72)[:h, :w] for _ in range(n)]).astype(np.uint8)
    return Clip("c", frames, "test")


class NumpyBicubic(torch.nn.Module):
    """A 'model' that upsamples the centre Y with MATLAB bicubic: must score exactly like 'bicubic'."""

    scale, n_frames = 4, 3

    def forward(self, lr):
        y = lr[0, 1, 0].double().numpy()
        return torch.from_numpy(imresize(y, self.scale))[None, None]


def test_bicubic_result_structure_and_crop():
    res = evaluate_model("bicubic", [_clip()], 4)
    seq = res["sequences"]["c"]
    assert seq["frames"] == [3, 4, 5]  # 1-based 3 .. n-2 of 7
    assert len(seq["psnr"]) == len(seq["ssim"]) == 3
    assert seq["size"] == [48, 64]  # cropped to a multiple of 2·4
    assert seq["psnr_mean"] == pytest.approx(np.mean(seq["psnr"]))
    assert res["average"]["psnr"] == pytest.approx(seq["psnr_mean"])
    assert res["max"]["psnr"] == max(seq["psnr"]) and res["max"]["psnr_at"].startswith("c:")
    assert seq["epe"] is None and res["average"]["epe"] is None
    assert res["protocol"]["border"] == 10 and res["wall_seconds"] >= 0
    assert 15 < seq["psnr_mean"] < 60 and 0 < seq["ssim_mean"] < 1
    json.dumps(res)


def test_model_path_matches_bicubic_path_exactly():
    clips = [_clip(seed=1), _clip(n=5, seed=2)]
    clips[1].name = "d"
    a = evaluate_model("bicubic", clips, 4)
    b = evaluate_model(NumpyBicubic(), clips, 4, name="np")
    for k in ("c", "d"):
        assert a["sequences"][k]["psnr"] == b["sequences"][k]["psnr"]
        assert a["sequences"][k]["ssim"] == b["sequences"][k]["ssim"]
    assert b["model"] == "np" and b["sequences"]["d"]["frames"] == [3]
    means = [a["sequences"][k]["psnr_mean"] for k in ("c", "d")]
    assert a["average"]["psnr"] == pytest.approx(sum(means) / 2)


def _moving_clip(dx=1.5, dy=-0.5, n=5, h=48, w=64):
    rng = np.random.default_rng(4)
    img = _smooth(rng, 96, 112)
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    # Frame t shows the image shifted by t·(dx, dy): frame_t(p) = img(p - t·d + 20).
    frames = np.stack([
        np.stack([map_coordinates(img[..., c], (ys - t * dy + 20, xs - t * dx + 20), order=3) for c in range(3)], -1)
        for t in range(n)
    ])
    affines = np.stack([[[[1.0, 0.0, t * dx], [0.0, 1.0, t * dy]]] for t in range(n)])
    motion = LayeredMotion(affines, np.zeros((n, h, w), np.uint8))
    return Clip("m", np.clip(frames + 0.5, 0, 255).astype(np.uint8), "shifted", motion)


class FlowOracle(torch.nn.Module):
    """Returns the ground-truth HR flows (or zeros) in network units, and bicubic SR."""

    scale, n_frames = 4, 3

    def __init__(self, clip, zero=False):
        super().__init__()
        self.clip, self.zero, self.t = clip, zero, 1

    def forward_with_flows(self, lr):
        t = self.t
        self.t += 1
        gt = np.stack([self.clip.gt_flow(t, t - 1), self.clip.gt_flow(t, t + 1)])  # (2, H, W, 2)
        flow = torch.from_numpy(gt).permute(0, 3, 1, 2)[None].float()
        flow = torch.zeros_like(flow) if self.zero else pixels_to_model(flow)
        sr = NumpyBicubic()(lr)
        return SOFVSROutput(sr, FlowPyramid(flow, flow, flow))


def test_epe_against_ground_truth():
    clip = _moving_clip()
    res = evaluate_model(FlowOracle(clip), [clip], 4)
    assert res["sequences"]["m"]["epe"] == pytest.approx(0.0, abs=1e-5)
    assert res["sequences"]["m"]["epe_zero_flow"] == pytest.approx(np.hypot(1.5, 0.5))
    res0 = evaluate_model(FlowOracle(clip, zero=True), [clip], 4)
    assert res0["sequences"]["m"]["epe"] == pytest.approx(np.hypot(1.5, 0.5))
    assert res0["average"]["epe"] == pytest.approx(np.hypot(1.5, 0.5))


def test_real_model_keeps_training_mode_and_errors():
    model = SOFVSR(scale=4, channels=8).train()
    res = evaluate_model(model, [_clip(n=5)], 4)
    assert model.training
    assert len(res["sequences"]["c"]["psnr"]) == 1
    with pytest.raises(ValueError, match="upscales x4 but evaluation asked for x2"):
        evaluate_model(model, [_clip()], 2)
    with pytest.raises(ValueError, match="has 4 frames"):
        evaluate_model("bicubic", [_clip(n=4)], 4)
    with pytest.raises(ValueError, match="at least one clip"):
        evaluate_model("bicubic", [], 4)


def test_load_model_from_sofkd_checkpoint(tmp_path):
    model = SOFVSR(scale=2, channels=8)
    torch.save({"model": model.state_dict(), "config": {"scale": 2}}, tmp_path / "ck.pt")
    loaded = load_model(tmp_path / "ck.pt")
    assert loaded.scale == 2 and loaded.config.channels == 8
    with pytest.raises(ValueError, match="trained for x2, not x4"):
        load_model(tmp_path / "ck.pt", scale=4)
    hybrid = SOFVSR(scale=2, ofrnet_channels=12, srnet_channels=8)  # phase-1 layout: wider OFRnet, narrower SRnet
    torch.save({"model": hybrid.state_dict()}, tmp_path / "hybrid.pt")  # widths read off the weights
    loaded = load_model(tmp_path / "hybrid.pt")
    assert loaded.ofrnet.recurrent_features[0].out_channels == 12
    assert "OFRnet 12 ch, SRnet 8 ch" in model_name(loaded)
    torch.save({"weights": {}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt.*--official"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nothing.pt"):
        load_model(tmp_path / "nothing.pt")


def test_cli_writes_json_atomically(tmp_path, capsys):
    from PIL import Image

    seq = tmp_path / "data" / "s1"
    seq.mkdir(parents=True)
    for i, frame in enumerate(_clip(n=5).frames):
        Image.fromarray(frame).save(seq / f"im{i + 1}.png")
    out = tmp_path / "res" / "r.json"
    assert main(["evaluate", "--checkpoint", "bicubic", "--scale", "2", "--data", str(tmp_path / "data"),
                 "--output", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert list(res["sequences"]) == ["s1"] and res["scale"] == 2 and res["sequences"]["s1"]["frames"] == [3]
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]
    assert "average" in capsys.readouterr().out


def test_cli_defaults_to_embedded_test_split(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["evaluate", "--checkpoint", "bicubic", "--output", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert list(res["sequences"]) == ["bikes-shot4", "carphone", "synth-coffee", "synth-rocket"]
    assert res["scale"] == 4 and res["data"] == "embedded"
    assert not (tmp_path / "embedded").exists() and not (Path.cwd() / "embedded").exists()


def test_cli_reports_missing_data_cleanly(tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", "bicubic", "--data", str(tmp_path / "nope"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "looked in" in err and str(tmp_path / "nope") in err and "SOFKD_DATA" in err


def test_official_x2_beats_bicubic_on_vid4_crop(shared_data):
    """The authors' BI_x2 weights through our protocol: >= 2 dB over bicubic (5 frames, a 144×192 crop)."""
    ck = require(shared_data / "sofvsr_official" / "BI_x2.pth")
    folder = require(shared_data / "vid4" / "calendar" / "hr")
    frames = np.stack([read_image(folder / f"hr_{i:02d}.png")[200:344, 300:492] for i in range(10, 15)])
    clips = [Clip("calendar-crop", frames, "Vid4 calendar crop")]
    torch.set_num_threads(min(2, torch.get_num_threads()))
    ours = evaluate_model(load_official(ck, 2), clips, 2)
    base = evaluate_model("bicubic", clips, 2)
    assert ours["average"]["psnr"] >= base["average"]["psnr"] + 2.0
    assert ours["average"]["ssim"] > base["average"]["ssim"]
