from __future__ import annotations

import os
from importlib import metadata

import torch

from sofkd_lib.engine.runtime import hardware


def test_hardware_describes_this_machine():
    info = hardware()
    assert info["cpu_count"] == os.cpu_count() and 1 <= info["cpus_usable"] <= os.cpu_count()
    assert info["torch"] == torch.__version__ and info["torch_threads"] == torch.get_num_threads()
    try:
        assert info["onnxruntime"] == metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        assert info["onnxruntime"] is None
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]


def test_hardware_without_cuda_names_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    info = hardware()
    assert info["gpu"] is None and "multiprocessors" not in info and "cudnn" not in info
