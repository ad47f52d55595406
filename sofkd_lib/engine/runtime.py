"""Process-level runtime settings shared by every command, and the description of this machine."""
from __future__ import annotations

import sys
from typing import Any


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


def hardware() -> dict[str, Any]:
    """This machine as every provenance record and benchmark states it (one description for all).

    CPU model, logical and usable cores, torch and its threads, OMP_NUM_THREADS, oneDNN,
    ONNX Runtime (installed version, not imported), Python, platform, libc, the load average
    and, when CUDA is present, the GPU (name, SMs, memory, capability) with CUDA and cuDNN versions.
    """
    import os
    import platform
    from importlib import metadata
    from pathlib import Path

    import torch

    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ort: str | None = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        ort = None
    info: dict[str, Any] = {
        "cpu_model": cpu, "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "mkldnn": torch.backends.mkldnn.is_available(),
        "onnxruntime": ort, "python": platform.python_version(), "platform": platform.platform(),
        "libc": " ".join(platform.libc_ver()), "gpu": None,
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, multiprocessors=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
                    capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15min"] = [round(x, 2) for x in os.getloadavg()]
    return info
