"""``python -m sofkd_lib upscale``: super-resolve a folder of frames or a video file.

Frames stream through a sliding window (the first and last frames see their one
neighbour mirrored in place of the missing one), each frame is super-resolved
tile by tile (:mod:`sofkd_lib.inference.tiling`) so memory stays bounded on large frames,
and colour is rebuilt from the SR Y plus bicubic Cb/Cr. Every PNG (and the
optional MP4) is written atomically; outputs are checked and every input frame is
decoded once before the first output, and a failure removes what the call wrote.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sofkd_lib.data.color import rgb_uint8_to_y01
from sofkd_lib.data.io import (
    IMAGE_SUFFIXES,
    MIN_FRAMES,
    DataError,
    check_writable,
    list_images,
    non_regular,
    read_image,
    video_fps,
    write_image,
    write_video,
)
from sofkd_lib.data.resize import imresize
from sofkd_lib.evaluation.evaluate import BICUBIC, compose_rgb
from sofkd_lib.inference.tiling import TileConfig, tile_count, tiled_forward
from sofkd_lib.weights.checkpoint import CheckpointError


def iter_frames(source: str | Path) -> tuple[Iterator[np.ndarray], list[str] | None, float | None]:
    """(frames, names, fps) of a folder of images or a video file; frames decoded lazily."""
    source = Path(source)
    if source.is_dir():
        files = list_images(source)
        if len(files) < MIN_FRAMES:
            raise DataError(f"{source}: found {len(files)} image frame(s); need at least {MIN_FRAMES}")

        def gen() -> Iterator[np.ndarray]:
            first = None
            for f in files:
                arr = read_image(f)
                if first is None:
                    first = (f, arr.shape)
                elif arr.shape != first[1]:
                    raise DataError(
                        f"frames differ in size: {first[0]} is {first[1][1]}×{first[1][0]} "
                        f"but {f} is {arr.shape[1]}×{arr.shape[0]}"
                    )
                yield arr

        return gen(), [f.stem for f in files], None
    if source.is_file():
        if source.suffix.lower() in IMAGE_SUFFIXES:
            raise DataError(f"{source} is a single image; upscale needs a folder of frames or a video file")
        import av

        def gen_video() -> Iterator[np.ndarray]:
            try:
                with av.open(str(source)) as container:
                    shape = None
                    for i, frame in enumerate(container.decode(video=0)):
                        arr = frame.to_ndarray(format="rgb24")
                        if shape is None:
                            shape = arr.shape
                        elif arr.shape != shape:
                            raise DataError(
                                f"{source}: frame {i} is {arr.shape[1]}×{arr.shape[0]}, "
                                f"frame 0 is {shape[1]}×{shape[0]}"
                            )
                        yield arr
            except DataError:
                raise
            except Exception as exc:  # PyAV raises many types: re-raised naming the file
                raise DataError(f"cannot decode video {source}: {exc}") from exc

        return gen_video(), None, video_fps(source)
    raise DataError(f"input not found: {source}")


def mirrored_windows(frames: Iterable[np.ndarray], n_frames: int = 3) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Yield (t, window) for every frame, holding at most ``n_frames + 1`` frames.

    Missing neighbours at the ends are mirrored: frame 0 sees (1, 0, 1), the last
    frame n-1 sees (n-2, n-1, n-2).
    """
    c = n_frames // 2
    it = iter(frames)
    buf: dict[int, np.ndarray] = {}
    n: int | None = None
    nxt = 0

    def fill(upto: int) -> None:
        nonlocal n, nxt
        while n is None and nxt <= upto:
            try:
                buf[nxt] = next(it)
                nxt += 1
            except StopIteration:
                n = nxt

    t = 0
    while True:
        fill(t + c)
        if n is not None and t >= n:
            break
        if n is not None and n < MIN_FRAMES:
            raise DataError(f"the input has {n} frame(s); upscale needs at least {MIN_FRAMES}")
        idx = []
        for i in range(t - c, t + c + 1):
            if i < 0:
                i = -i
            if n is not None and i >= n:
                i = 2 * (n - 1) - i
            idx.append(i)
        yield t, [buf[i] for i in idx]
        for old in [k for k in buf if k < t + 1 - c]:  # no later window reaches below t + 1 - c
            del buf[old]
        t += 1
    if n is not None and n < MIN_FRAMES:
        raise DataError(f"the input has {n} frame(s); upscale needs at least {MIN_FRAMES}")


def check_input(source: str | Path) -> tuple[int, int, int]:
    """Decode every frame of ``source`` once, before any output: (count, height, width).

    A corrupt frame, a frame of another size or too few frames raise :class:`DataError`
    naming the file (or the video frame), so no output is written for a bad input.
    """
    frames, _, _ = iter_frames(source)
    n, shape = 0, (0, 0)
    for arr in frames:  # one frame in memory at a time
        n, shape = n + 1, arr.shape[:2]
    if n < MIN_FRAMES:
        raise DataError(f"{source}: the input has {n} frame(s); upscale needs at least {MIN_FRAMES}")
    return n, int(shape[0]), int(shape[1])


def upscale_window(model: Any, window: list[np.ndarray], scale: int, tiles: TileConfig,
                   device: str | torch.device = "cpu", on_tile: Callable[[], None] | None = None,
                   what: str = "frame") -> np.ndarray:
    """uint8 RGB SR of the centre of ``window`` (uint8 RGB LR frames); ``on_tile()`` after each tile.

    A model output holding NaN or inf raises :class:`CheckpointError` naming ``what``.
    """
    c = len(window) // 2
    h, w = window[c].shape[:2]
    if model == BICUBIC:
        sr_y = imresize(rgb_uint8_to_y01(window[c]).astype(np.float64), scale)
        if on_tile is not None:
            on_tile()
        return compose_rgb(sr_y, window[c], scale)
    ys = np.stack([rgb_uint8_to_y01(f) for f in window])
    # The network needs even sizes: pad odd ones by edge replication, crop after.
    ys = np.pad(ys, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    lr = torch.from_numpy(ys)[None, :, None].to(device)
    sr = tiled_forward(model, lr, tiles, on_tile)[0, 0, : scale * h, : scale * w]
    if not bool(torch.isfinite(sr).all()):
        raise CheckpointError(f"the model's output for {what} holds NaN or inf; nothing is written for a model "
                              f"whose output is not finite")
    return compose_rgb(sr.double().cpu().numpy(), window[c], scale)


def check_outputs(source: str | Path, out_dir: str | Path, video: str | Path | None = None, *,
                  what: str = "output folder") -> Path:
    """Raise :class:`DataError` unless ``out_dir`` (and ``video``) can be written: before any work.

    :func:`~sofkd_lib.data.io.check_writable`, and ``out_dir`` neither the input folder nor
    inside it, where the SR frames would mix with the frames they come from (nor ``video``
    the input video).
    """
    out_dir = check_writable(out_dir, folder=True, what=what)
    if video is not None:
        check_writable(video, what="--video")
    src, out = Path(source).resolve(), out_dir.resolve()
    if video is not None and Path(video).resolve() == src:
        raise DataError(f"--video {video} is the input video; it would be replaced: choose another file")
    if src.is_dir() and (out == src or src in out.parents):
        where = "the input folder" if out == src else f"inside the input folder {source}"
        raise DataError(f"{what} {out_dir} is {where}; the SR frames would mix with the input frames: "
                        f"choose a folder outside it")
    return out_dir


def upscale(model: Any, scale: int, source: str | Path, out_dir: str | Path, *, tiles: TileConfig | None = None,
            video: str | Path | None = None, fps: float | None = None, device: str | torch.device = "cpu",
            progress: bool = True) -> list[Path]:
    """Super-resolve every frame of ``source`` into ``out_dir`` (PNGs), optionally also an MP4.

    Outputs are checked for writability and every input frame is decoded and checked
    (:func:`check_input`) before the first output; when a later step fails, the frames
    this call wrote are removed, so an error leaves no partial output.
    """
    from tqdm.auto import tqdm

    tiles = tiles or TileConfig()
    out_dir = check_outputs(source, out_dir, video)
    n, h, w = check_input(source)
    frames, names, src_fps = iter_frames(source)
    stems = [f"{name}_x{scale}" for name in names] if names is not None else [f"frame_{t + 1:05d}" for t in range(n)]
    for stem in stems:  # a frame must not replace a link, a device or a folder already there
        kind = non_regular(out_dir / f"{stem}.png")
        if kind:
            raise DataError(f"output {out_dir / f'{stem}.png'} is {kind}, not a regular file; it is never replaced: "
                            f"choose another output folder")
    n_frames = 3 if model == BICUBIC else int(model.n_frames)
    per_frame = 1 if model == BICUBIC else tile_count(h, w, tiles)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    unit = "tile" if per_frame > 1 else "frame"
    bar = tqdm(total=n * per_frame, disable=not progress, desc=f"upscale {n} frames", unit=unit,
               dynamic_ncols=True, mininterval=1.0)
    if progress and per_frame > 1:
        bar.write(f"upscale: {n} frames of {w}×{h}, {per_frame} tiles of {tiles.tile}² LR pixels each; "
                  f"the bar counts tiles, its ETA is the expected time left", file=sys.stderr)

    def produce() -> Iterator[np.ndarray]:
        for t, window in mirrored_windows(frames, n_frames):
            stem = stems[t]
            rgb = upscale_window(model, window, scale, tiles, device, on_tile=lambda: bar.update(1),
                                 what=f"frame {t + 1} ({stem})")
            path = out_dir / f"{stem}.png"
            write_image(path, rgb)
            written.append(path)
            bar.set_postfix_str(f"frame {t + 1}/{n}", refresh=False)
            yield rgb

    try:
        if video is not None:
            write_video(video, produce(), fps=fps or src_fps or 25.0)
        else:
            for _ in produce():
                pass
    except BaseException:  # Ctrl-C too
        for path in written:
            path.unlink(missing_ok=True)
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        bar.close()
    return written
