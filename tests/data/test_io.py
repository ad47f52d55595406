"""Frame I/O: natural sort, image modes, validation errors, video round trip, atomic writes, outputs checked."""
from __future__ import annotations

import errno
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from sofkd_lib.data import DataError, read_frames, read_image, read_video
from sofkd_lib.data.io import (
    atomic_temporaries,
    check_writable,
    current_umask,
    natural_sorted,
    write_atomic,
    write_image,
    write_text_atomic,
    write_video,
)
from sofkd_lib.settings import REPO_ROOT
from tests.special_files import identity, make_special, need


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


# --------------------------------------------------------------------------- outputs that are not regular files
KINDS = {"chardev": "a character device", "fifo": "a named pipe (FIFO)", "symlink": "a symbolic link",
         "dangling": "a symbolic link"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_as_it_is(tmp_path, kind):
    """check_writable refuses it naming it (as a file and as a folder); the atomic writer never renames over it."""
    made = make_special(tmp_path / "special")
    path = need(made, kind)
    before = identity(path)
    with pytest.raises(DataError, match=rf"^--output {path} is {re.escape(KINDS[kind])}, not a regular file"):
        check_writable(path, what="--output")
    with pytest.raises(DataError, match=rf"^-o {path} is {re.escape(KINDS[kind])}, not a folder"):
        check_writable(path, folder=True, what="-o")
    with pytest.raises(DataError, match=rf"^{path} is {re.escape(KINDS[kind])}, not a regular file; not replaced"):
        write_text_atomic(path, "replaced\n")
    assert identity(path) == before
    assert (tmp_path / "special" / "target.txt").read_text() == "the link's target\n"
    assert sorted(p.name for p in (tmp_path / "special").iterdir()) == sorted([*made, "target.txt"])  # no temporary


def test_a_link_to_a_folder_is_that_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert check_writable(tmp_path / "link", folder=True) == tmp_path / "link"
    with pytest.raises(DataError, match="is a symbolic link, not a regular file"):
        check_writable(tmp_path / "link")


def test_something_appearing_at_the_target_during_the_write_is_not_replaced(tmp_path):
    path = tmp_path / "out.json"

    def write(tmp):
        tmp.write_text("{}")
        os.mkfifo(path)  # made by someone else while this write ran

    with pytest.raises(DataError, match="is a named pipe"):
        write_atomic(path, write)
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_full_disk_is_reported_naming_the_target_not_the_temporary(tmp_path):
    write_text_atomic(tmp_path / "r.json", "old\n")

    def fill_the_disk(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "r.json", fill_the_disk)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "r.json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"] and (tmp_path / "r.json").read_text() == "old\n"


def test_the_temporary_of_a_write_killed_by_sigkill_is_found(tmp_path):
    """A real SIGKILL mid-write leaves a hidden temporary; atomic_temporaries finds it and nothing else."""
    script = ("import os, signal, sys; from sofkd_lib.data.io import write_atomic\n"
              "def die(tmp): tmp.write_bytes(b'half'); os.kill(os.getpid(), signal.SIGKILL)\n"
              "write_atomic(sys.argv[1], die)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "last.pt")], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    for name in (".last.pt", ".last.abcdefgh.pt.bak", ".lastx.abcdefgh.pt", ".best.abcdefgh.pt", "last.abcdefgh.pt"):
        (tmp_path / name).write_bytes(b"not a leftover of last.pt")
    left = atomic_temporaries(tmp_path / "last.pt")
    assert len(left) == 1 and left[0].read_bytes() == b"half" and re.fullmatch(r"\.last\.\w{8}\.pt", left[0].name)
    assert atomic_temporaries(tmp_path / "best.pt") == [tmp_path / ".best.abcdefgh.pt"]
