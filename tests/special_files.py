"""Files that are not regular files (a character device, a FIFO, symbolic links), made under a test's own folder.

Never the system's: the character device is a fresh node (major 1, minor 3: what /dev/null is),
made with mknod, which needs root; where that is refused the kind is left out and the tests
that need it skip, saying why.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def make_special(root: Path) -> dict[str, Path]:
    """{kind: path} in ``root``: "chardev" (when mknod is allowed), "fifo", "symlink" (to a regular
    file, ``root/target.txt``), "dangling" (a symbolic link to nothing)."""
    root.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    try:
        os.mknod(root / "chardev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made["chardev"] = root / "chardev"
    except (PermissionError, OSError):
        pass
    os.mkfifo(root / "fifo")
    (root / "target.txt").write_text("the link's target\n")
    (root / "symlink").symlink_to(root / "target.txt")
    (root / "dangling").symlink_to(root / "nothing-here")
    made.update(fifo=root / "fifo", symlink=root / "symlink", dangling=root / "dangling")
    return made


def need(made: dict[str, Path], kind: str) -> Path:
    """``made[kind]``, or skip the test saying why it could not be made."""
    if kind not in made:
        pytest.skip(f"no {kind} could be made (mknod needs root)")
    return made[kind]


def identity(path: Path) -> tuple:
    """What ``path`` is, to compare before and after a command: type and mode, device number, link target."""
    st = os.lstat(path)
    return st.st_mode, st.st_rdev, os.readlink(path) if stat.S_ISLNK(st.st_mode) else None, st.st_ino
