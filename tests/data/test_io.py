"""Frame I/O: natural sort, image modes, validation errors, video round trip, atomic writes."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sofkd_lib.data import DataError, read_frames, read_image, read_video
from sofkd_lib.data.io import current_umask, natural_sorted, write_atomic, write_image, write_video


def _png16_rgb(path, arr16):
    """A 16-bit RGB PNG written by hand (PIL cannot write one)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_natural_sort():
    names = ["f10.png", "f2.png", "f1.png", "F3.png"]
    assert [p.name for p in natural_sorted(names)] == ["f1.png", "f2.png", "F3.png", "f10.png"]


def test_grey_rgba_and_16bit(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (3, 4, 3) and (out[..., 1] == grey).all()

    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert (read_image(tmp_path / "opaque.png")[..., 0] == 200).all()
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    with pytest.raises(DataError, match="clear.png.*transparent"):
        read_image(tmp_path / "clear.png")

    g16 = np.array([[0, 257, 128, 65535]], np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert read_image(tmp_path / "g16.png")[0, :, 0].tolist() == [0, 1, 0, 255]  # 128/257 = 0.498 → 0

    c16 = np.array([[[65535, 0, 300], [256 * 7 + 200, 1000, 40000]]], np.uint16)
    _png16_rgb(tmp_path / "c16.png", c16)
    out = read_image(tmp_path / "c16.png")
    assert out.dtype == np.uint8 and out.shape == (1, 2, 3)
    assert np.abs(out.astype(int) - c16 / 257).max() <= 1


def test_corrupt_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        read_image(bad)
    with pytest.raises(DataError, match="nothere.png"):
        read_image(tmp_path / "nothere.png")
    with pytest.raises(DataError, match="clip.mp4"):
        (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
        read_video(tmp_path / "clip.mp4")


def test_read_frames_checks_count_and_sizes(tmp_path):
    for i in (1, 2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(DataError, match="found 2 image frame.*at least 3"):
        read_frames(tmp_path)
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(tmp_path / "10.png")
    with pytest.raises(DataError, match=r"1\.png is 8×8 but .*10\.png is 10×8"):
        read_frames(tmp_path)
    (tmp_path / "10.png").unlink()
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(tmp_path / "10.png")
    frames = read_frames(tmp_path)
    assert frames.shape == (3, 8, 8, 3) and frames[2, 0, 0, 0] == 9  # natural order: 1, 2, 10


def test_video_round_trip(tmp_path):
    frames = [np.full((32, 48, 3), v, np.uint8) for v in (40, 120, 200, 90)]
    write_video(tmp_path / "v.mp4", frames, fps=10)
    back = read_video(tmp_path / "v.mp4")
    assert back.shape == (4, 32, 48, 3)
    assert np.abs(back.mean(axis=(1, 2, 3)) - [40, 120, 200, 90]).max() < 3
    assert read_video(tmp_path / "v.mp4", max_frames=3).shape[0] == 3
    with pytest.raises(DataError, match="decoded 2 frame"):
        read_video(tmp_path / "v.mp4", max_frames=2)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    def fail(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "out.json", fail)
    assert list(tmp_path.iterdir()) == []
    write_image(tmp_path / "a.png", np.zeros((2, 3, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_written_files_follow_the_umask_read_without_changing_it(tmp_path):
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027  # reading it left it as it was
        write_atomic(tmp_path / "x.txt", lambda tmp: tmp.write_text("x"))
        assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(before)
