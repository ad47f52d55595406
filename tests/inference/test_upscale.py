"""Tiled inference, end-frame handling and the upscale command."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.cli.main import main
from sofkd_lib.data import DataError, read_image, read_video
from sofkd_lib.data.io import write_video
from sofkd_lib.inference.tiling import TileConfig, tile_spans, tiled_forward
from sofkd_lib.inference.upscale import check_outputs, mirrored_windows, upscale


def test_tile_spans():
    assert tile_spans(10, 4, 2) == [(0, 4, 0, 6), (4, 8, 2, 10), (8, 10, 6, 10)]
    with pytest.raises(ValueError, match="even"):
        tile_spans(9, 4, 2)
    with pytest.raises(ValueError, match="even"):
        TileConfig(5, 2)


def test_tiled_equals_untiled_away_from_seams():
    torch.manual_seed(0)
    model = SOFVSR(scale=2, channels=16).eval()
    lr = torch.rand(1, 3, 1, 40, 52)
    with torch.no_grad():
        full = model(lr)[0, 0]
    tiled = tiled_forward(model, lr, TileConfig(tile=16, pad=16))[0, 0]
    assert tiled.shape == full.shape == (80, 104)
    # HR distance to the nearest internal seam (every 32 HR pixels).
    ys, xs = np.arange(80), np.arange(104)
    dy = np.abs(ys[:, None] - np.arange(32, 80, 32)[None]).min(1)
    dx = np.abs(xs[:, None] - np.arange(32, 104, 32)[None]).min(1)
    away = torch.from_numpy(np.minimum(dy[:, None], dx[None]) >= 4)
    assert float((tiled - full).abs()[away].max()) < 1e-5
    # Without context the seams do show: the test can fail.
    no_ctx = tiled_forward(model, lr, TileConfig(tile=16, pad=0))[0, 0]
    assert float((no_ctx - full).abs().max()) > 1e-4


def test_mirrored_windows():
    out = [(t, w) for t, w in mirrored_windows(iter([10, 11, 12, 13]), 3)]
    assert out == [(0, [11, 10, 11]), (1, [10, 11, 12]), (2, [11, 12, 13]), (3, [12, 13, 12])]
    five = [w for _, w in mirrored_windows(iter(range(5)), 5)]
    assert five[0] == [2, 1, 0, 1, 2] and five[4] == [2, 3, 4, 3, 2]
    with pytest.raises(DataError, match="2 frame"):
        list(mirrored_windows(iter([1, 2]), 3))


def _folder(tmp_path, n=4, h=10, w=14):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / f"f{i + 1}.png")
    return src


def test_upscale_folder_with_model_and_video(tmp_path):
    src = _folder(tmp_path, h=9, w=13)  # odd sizes are padded, then cropped
    model = SOFVSR(scale=2, channels=8).eval()
    written = upscale(model, 2, src, tmp_path / "out", tiles=TileConfig(8, 4), video=tmp_path / "out.mp4",
                      progress=False)
    assert [p.name for p in written] == ["f1_x2.png", "f2_x2.png", "f3_x2.png", "f4_x2.png"]
    assert read_image(written[0]).shape == (18, 26, 3)
    assert read_video(tmp_path / "out.mp4").shape == (4, 18, 26, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out", "out.mp4"]


def test_upscale_cli_bicubic_and_checkpoint(tmp_path):
    src = _folder(tmp_path, n=3)
    assert main(["upscale", str(src), "-o", str(tmp_path / "bic"), "--checkpoint", "bicubic", "--scale", "3",
                 "--no-progress"]) == 0
    assert read_image(tmp_path / "bic" / "f2_x3.png").shape == (30, 42, 3)
    torch.save({"model": SOFVSR(scale=2, channels=8).state_dict()}, tmp_path / "ck.pt")
    assert main(["upscale", str(src), "-o", str(tmp_path / "sr"), "--checkpoint", str(tmp_path / "ck.pt"),
                 "--scale", "2", "--tile", "8", "--tile-pad", "4", "--no-progress"]) == 0
    assert len(list((tmp_path / "sr").glob("*.png"))) == 3


def test_upscale_video_input(tmp_path):
    write_video(tmp_path / "v.mp4", [np.full((16, 16, 3), 30 * i, np.uint8) for i in range(3)], fps=5)
    written = upscale("bicubic", 2, tmp_path / "v.mp4", tmp_path / "o", progress=False)
    assert [p.name for p in written] == ["frame_00001.png", "frame_00002.png", "frame_00003.png"]
    assert read_image(written[1]).shape == (32, 32, 3)


def test_upscale_bad_input(tmp_path):
    src = _folder(tmp_path, n=3)
    Image.fromarray(np.zeros((12, 14, 3), np.uint8)).save(src / "f3.png")
    with pytest.raises(DataError, match=r"f1\.png is 14×10 but .*f3\.png is 14×12"):
        upscale("bicubic", 2, src, tmp_path / "o", progress=False)
    (src / "f3.png").unlink()
    with pytest.raises(DataError, match="found 2 image frame"):
        upscale("bicubic", 2, src, tmp_path / "o2", progress=False)
    with pytest.raises(DataError, match="input not found"):
        upscale("bicubic", 2, tmp_path / "missing", tmp_path / "o3", progress=False)


def test_outputs_that_would_mix_with_or_replace_the_input_are_refused_before_any_work(tmp_path):
    frames = tmp_path / "in"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(frames / f"f{i + 1}.png")
    with pytest.raises(DataError, match=rf"^output folder {frames} is the input folder; the SR frames would mix"):
        upscale("bicubic", 2, frames, frames, progress=False)
    with pytest.raises(DataError, match=rf"is inside the input folder {frames}; "):
        check_outputs(frames, frames / "a" / "b", what="-o/--output")
    write_video(tmp_path / "v.mp4", [np.zeros((8, 8, 3), np.uint8)] * 3)
    with pytest.raises(DataError, match=r"--video .*v\.mp4 is the input video; it would be replaced"):
        check_outputs(tmp_path / "v.mp4", tmp_path / "sr", tmp_path / "v.mp4")
    # A link where a frame would go is not replaced: refused before the first frame is written.
    out = tmp_path / "sr"
    out.mkdir()
    (out / "f2_x2.png").symlink_to(frames / "f2.png")
    with pytest.raises(DataError, match=rf"^output {out}/f2_x2.png is a symbolic link, not a regular file"):
        upscale("bicubic", 2, frames, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["f2_x2.png"] and (out / "f2_x2.png").is_symlink()
    assert sorted(p.name for p in frames.iterdir()) == ["f1.png", "f2.png", "f3.png"]
