"""Import of the authors' released weights."""
import numpy as np
import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.settings import official_checkpoint, shared_path
from sofkd_lib.weights.checkpoint import CheckpointError
from sofkd_lib.weights.official import _PREFIXES, load_official, official_key_to_ours
from tests.conftest import require


def _as_official(model: SOFVSR) -> dict:
    inverse = {ours: theirs for theirs, ours in _PREFIXES}
    out = {}
    for k, v in model.state_dict().items():
        for ours, theirs in inverse.items():
            if k.startswith(ours):
                out[theirs + k[len(ours):]] = v.clone()
    return out


def test_key_renaming():
    assert official_key_to_ours("OFR.RNN1.2.body.0.body.0.weight") == "ofrnet.recurrent_features.2.body.0.body.0.weight"
    assert official_key_to_ours("OFR.SR.1.weight") == "ofrnet.upsampler.1.weight"
    assert official_key_to_ours("SR.body.0.weight") == "srnet.body.0.weight"
    with pytest.raises(KeyError, match="unexpected key"):
        official_key_to_ours("module.foo")


def test_round_trip_of_an_official_style_checkpoint(tmp_path):
    torch.manual_seed(0)
    src = SOFVSR(scale=3)
    torch.save(_as_official(src), tmp_path / "x3.pth")
    loaded = load_official(tmp_path / "x3.pth", scale=3)
    for (k1, v1), (k2, v2) in zip(src.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


def test_wrong_scale_is_named(tmp_path):
    torch.save(_as_official(SOFVSR(scale=2)), tmp_path / "x2.pth")
    with pytest.raises(ValueError, match="x2, not the requested x4"):
        load_official(tmp_path / "x2.pth", scale=4)


def test_shape_mismatch_names_the_key(tmp_path):
    sd = _as_official(SOFVSR(scale=2))
    sd["OFR.RNN2.0.weight"] = torch.zeros(2, 320, 1, 1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="OFR.RNN2.0.weight"):
        load_official(tmp_path / "bad.pth", scale=2)


def test_missing_key_is_named(tmp_path):
    sd = _as_official(SOFVSR(scale=2))
    del sd["SR.body.3.weight"]
    torch.save(sd, tmp_path / "short.pth")
    # The unified loader's message, naming the key as the authors' file does.
    with pytest.raises(CheckpointError, match=r"short.pth: weights do not match x2, 3 frames, OFRnet 320 ch, SRnet 320 ch: "
                                              r"1 missing \(first \['SR.body.3.weight'\]\)"):
        load_official(tmp_path / "short.pth", scale=2)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found: .*nope.pth"):
        load_official(tmp_path / "nope.pth", scale=2)


def test_authors_x2_weights_beat_bicubic_by_2db_on_vid4():
    from PIL import Image

    from sofkd_lib.data import imresize, rgb_to_ycbcr

    ckpt = require(official_checkpoint(2))
    frames_dir = require(shared_path("vid4", "calendar", "hr"))
    model = load_official(ckpt, scale=2)
    ys, hr_y = [], None
    for i in (14, 15, 16):
        hr = np.asarray(Image.open(frames_dir / f"hr_{i:02d}.png").convert("RGB"))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.5)
        ys.append(rgb_to_ycbcr(lr.astype(np.float32) / 255.0)[0])
        if i == 15:
            hr_y = rgb_to_ycbcr(hr.astype(np.float32) / 255.0)[0]
            bic_y = rgb_to_ycbcr(np.clip(imresize(lr.astype(np.float32) / 255.0, 2.0), 0, 1))[0]
    lr_t = torch.from_numpy(np.stack(ys)).float()[None, :, None]
    with torch.inference_mode():
        sr_y = model(lr_t)[0, 0].clamp(0, 1).numpy()
    b = 8

    def psnr(x):
        return 10 * np.log10(1.0 / np.mean((x[b:-b, b:-b] - hr_y[b:-b, b:-b]) ** 2))

    gain = psnr(sr_y) - psnr(bic_y)
    assert gain >= 2.0, f"official x2 weights only {gain:.2f} dB above bicubic"
