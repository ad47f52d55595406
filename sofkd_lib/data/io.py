"""Reading and writing frames: natural sort, PIL/PyAV decoding, clear errors, atomic writes."""
from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m")
MIN_FRAMES = 3


class DataError(ValueError):
    """Bad input data; the message names the file or folder at fault."""


def natural_key(name: str | os.PathLike) -> list:
    """Sort key that orders ``frame2`` before ``frame10`` (digit runs compared as numbers)."""
    text = Path(name).name
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def natural_sorted(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """``paths`` as Paths in natural order."""
    return sorted((Path(p) for p in paths), key=natural_key)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, naturally sorted (hidden files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"not a folder of frames: {folder}")
    return natural_sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _to_uint8_rgb(arr: np.ndarray, path: Path, sixteen_bit: bool = False) -> np.ndarray:
    """Grayscale → RGB, 16-bit → 8-bit (÷257, rounded), opaque RGBA → RGB; else refuse."""
    if arr.dtype != np.uint8 and (sixteen_bit or arr.dtype == np.uint16):
        arr = np.floor(arr.astype(np.float64) / 257.0 + 0.5).clip(0, 255).astype(np.uint8)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        if arr.dtype.kind in "iu" and arr.min(initial=0) >= 0 and arr.max(initial=0) <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise DataError(f"{path}: unsupported pixel type {arr.dtype}; use 8- or 16-bit images")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 4:
        if (arr[:, :, 3] != 255).any():
            raise DataError(f"{path}: has a transparent alpha channel; flatten it onto a background first")
        return np.ascontiguousarray(arr[:, :, :3])
    if arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        if (arr[:, :, 1] != 255).any():
            raise DataError(f"{path}: has a transparent alpha channel; flatten it onto a background first")
        return np.repeat(arr[:, :, :1], 3, axis=2)
    raise DataError(f"{path}: unsupported image layout {arr.shape}; expected grey, RGB or RGBA")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image as H×W×3 uint8 RGB.

    Grayscale is replicated to RGB, 16-bit images are reduced to 8 bits (grey:
    ÷257 rounded; colour: PIL keeps the high byte), RGBA is
    accepted only when fully opaque. Unreadable files raise :class:`DataError`
    naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            sixteen_bit = im.mode.startswith("I;16")
            if im.mode == "P":
                im = im.convert("RGBA")
            elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode == "I;16B":
                im = im.convert("I")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    # 16-bit colour PNGs arrive already reduced to 8 bits by PIL (high byte); grey ones as uint16.
    return _to_uint8_rgb(arr, path, sixteen_bit)


def check_same_size(frames: Sequence[np.ndarray], names: Sequence[str | os.PathLike]) -> None:
    """Raise :class:`DataError` naming the first frame whose size differs from the first."""
    if not frames:
        return
    ref = frames[0].shape[:2]
    for arr, name in zip(frames, names):
        if arr.shape[:2] != ref:
            raise DataError(
                f"frames differ in size: {names[0]} is {ref[1]}×{ref[0]} but {name} is {arr.shape[1]}×{arr.shape[0]}"
            )


def read_frames(folder: str | os.PathLike, max_frames: int | None = None, min_frames: int = MIN_FRAMES) -> np.ndarray:
    """All frames of a folder, naturally sorted, as (T, H, W, 3) uint8."""
    files = list_images(folder)
    if max_frames is not None:
        files = files[:max_frames]
    if len(files) < min_frames:
        raise DataError(f"{folder}: found {len(files)} image frame(s); a sequence needs at least {min_frames}")
    frames = [read_image(p) for p in files]
    check_same_size(frames, files)
    return np.stack(frames)


def read_video(path: str | os.PathLike, max_frames: int | None = None, min_frames: int = MIN_FRAMES) -> np.ndarray:
    """Decode a video file with PyAV into (T, H, W, 3) uint8 RGB."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(f"video not found: {path}")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: contains no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot decode video {path}: {exc}") from exc
    if len(frames) < min_frames:
        raise DataError(f"{path}: decoded {len(frames)} frame(s); a sequence needs at least {min_frames}")
    check_same_size(frames, [f"{path} frame {i}" for i in range(len(frames))])
    return np.stack(frames)


def video_fps(path: str | os.PathLike) -> float | None:
    """Average frame rate of a video file, or None when unknown."""
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
            return float(rate) if rate else None
    except Exception:
        return None


def non_regular(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a symbolic link", "a character device",
    "a folder", …), else None. A symbolic link counts as itself, not as what it points to."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def check_writable(path: str | os.PathLike, *, folder: bool = False, what: str = "output") -> Path:
    """Raise :class:`DataError` unless ``path`` can be written; create nothing.

    ``folder`` False: a file (new, or a regular file to replace) whose folder exists or
    can be made; True: a folder (new or existing; a symbolic link to a folder is that
    folder). Anything else that exists (a device, a pipe, a symbolic link to a file) is
    refused, as the atomic writer would replace it with a regular file. Commands call
    this on every output before any work, so a bad location costs no compute. ``what``
    names the option in messages.
    """
    path = Path(path)
    kind = non_regular(path)
    if folder and path.is_dir():
        where = path
    elif folder and (kind or path.exists()):
        raise DataError(f"{what} {path} is {kind or 'an existing file'}, not a folder; "
                        f"give a folder (new or existing)")
    elif kind == "a folder":
        raise DataError(f"{what} {path} is an existing folder; give a file name (e.g. {path / 'out'}{path.suffix})")
    elif kind:
        raise DataError(f"{what} {path} is {kind}, not a regular file; it is never replaced: give another path")
    elif path.exists():
        where = path.parent
    else:
        where = path.parent
        while not where.exists() and where != where.parent:  # nearest existing ancestor: folders made from there
            where = where.parent
        if not where.is_dir():
            raise DataError(f"{what} {path}: {where} is {non_regular(where) or 'a file'}, so no folder can be "
                            f"made inside it; choose another location")
    if not os.access(where, os.W_OK | os.X_OK):
        raise DataError(f"{what} {path}: no permission to write in {where}; choose another location")
    return path


def _temporary_affixes(path: Path) -> tuple[str, str]:
    """(prefix, suffix) of :func:`write_atomic`'s temporary for ``path``: hidden, ``path``'s suffix kept."""
    return f".{path.stem}.", path.suffix


def atomic_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporaries :func:`write_atomic` left beside ``path`` (a writer killed mid-write, e.g. by SIGKILL).

    Only the caller knows no live writer is using them (a run folder's lock does).
    """
    path = Path(path)
    prefix, suffix = _temporary_affixes(path)
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(suffix))  # mkstemp's 8 random characters
    try:
        names = os.listdir(path.parent)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [path.parent / name for name in sorted(names) if pattern.fullmatch(name)]


def _refuse_non_regular(path: Path) -> None:
    kind = non_regular(path)
    if kind:
        raise DataError(f"{path} is {kind}, not a regular file; not replaced")


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], *, fsync: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``; return ``path``.

    The one atomic writer: readers see the old file or the new one, never a half-written
    one, and a ``write`` that raises leaves neither the target nor the temporary behind.
    The temporary keeps ``path``'s suffix (writers that pick a format by suffix, such as
    ``np.save``, see the right one). ``fsync`` flushes it to disk before the rename
    (checkpoints: a crash right after the rename must not leave an empty file).
    A ``path`` that exists and is not a regular file (a device, a pipe, a symbolic link,
    a folder) raises :class:`DataError` and is left as it is: a rename would replace it.
    An OSError that names no file (a full disk seen by a writer) is given ``path``'s name.
    """
    path = Path(path)
    _refuse_non_regular(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_affixes(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual permissions
        _refuse_non_regular(path)  # again: something may have appeared there while ``write`` ran
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.strerror and exc.filename in (None, tmp):
            exc.filename = str(path)  # the temporary is gone: name the file the user asked for
        raise
    return path


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc/self/status``):
    setting it to read it back would briefly give every file another thread creates meanwhile mode 0666."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def json_ready(obj: Any) -> Any:
    """``obj`` with NaN and inf replaced by None (JSON null), mapping keys as strings, paths as strings.

    The one non-finite cleaner of the package: JSON has no NaN, and a score or loss
    that diverged is recorded as null rather than as a file other readers reject.
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int = 1, non_finite: str = "null") -> Path:
    """Write ``obj`` as JSON (UTF-8, one trailing newline) atomically; return ``path``.

    ``non_finite`` "null": NaN/inf become null (:func:`json_ready`); "error": they raise
    a ValueError naming ``path`` and the old file is kept (files whose readers need
    every number, e.g. run records).
    """
    if non_finite not in ("null", "error"):
        raise ValueError(f"non_finite must be 'null' or 'error', got {non_finite!r}")
    if non_finite == "null":
        obj = json_ready(obj)
    try:
        text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not written, the data holds a number JSON cannot store ({exc})") from None
    return write_text_atomic(path, text + "\n")


def write_image(path: str | os.PathLike, rgb_uint8: np.ndarray) -> None:
    """Write an H×W×3 uint8 image atomically (format from the suffix)."""
    arr = np.asarray(rgb_uint8)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"write_image expects H×W×3 uint8, got {arr.dtype} {arr.shape}")
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image format for {path}")
    write_atomic(path, lambda tmp: Image.fromarray(arr, "RGB").save(tmp, format=fmt))


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0, crf: int = 18) -> None:
    """Encode RGB uint8 frames to an H.264 mp4 (yuv420p; even sizes padded by edge copy), atomically."""
    from fractions import Fraction

    import av

    def _write(tmp: Path) -> None:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for arr in frames:
                if stream is None:
                    h, w = arr.shape[:2]
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height = w + w % 2, h + h % 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf)}
                if arr.shape[0] % 2 or arr.shape[1] % 2:
                    arr = np.pad(arr, ((0, arr.shape[0] % 2), (0, arr.shape[1] % 2), (0, 0)), mode="edge")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"no frames to write to {path}")
            for packet in stream.encode():
                container.mux(packet)

    write_atomic(path, _write)
