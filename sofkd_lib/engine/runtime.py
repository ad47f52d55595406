"""Process-level runtime settings shared by every command."""
from __future__ import annotations

import sys


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed large blocks in the heap (called by the commands, not on import).

    PyTorch's CPU allocator frees each big activation back to the OS, so the next
    layer page-faults fresh zeroed memory; at Vid4 sizes that system time was ~40 %
    of a forward pass here (bench/README.md). Same effect as launching with
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set, which the Makefile
    does for notebooks' kernels. Returns False where libc is not glibc.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        big = 1 << 30  # blocks up to 1 GiB come from the heap and stay there
        return bool(libc.mallopt(m_mmap_threshold, big)) and bool(libc.mallopt(m_trim_threshold, 2 * big))
    except (OSError, AttributeError):
        return False
