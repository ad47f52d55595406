"""Data-parallel plumbing of the trainer: process group, device, collectives (single process: no-ops)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from sofkd_lib.engine.config import (
    DEVICE_CHOICES,
    DEVICE_PATTERN,
    ConfigError,
)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_dist() -> DistInfo:
    """Rank and world size of the initialised process group (or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1): nccl on CUDA, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:  # nccl collectives (barrier, object broadcasts) use the current device
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return current_dist()


def check_device(name: str, what: str = "TrainConfig.device") -> str:
    """``name`` when this machine can run on it (auto, cpu, cuda, cuda:N), else a ConfigError naming ``what``.

    The one device check: the trainer's (:func:`resolve_device`) and every command's ``--device``
    (:func:`sofkd_lib.cli.argtypes.device`).
    """
    if not re.fullmatch(DEVICE_PATTERN, name):
        raise ConfigError(f"{what} must be {DEVICE_CHOICES}, got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{what} is {name!r} but CUDA is not available")
        index, count = name.partition(":")[2], torch.cuda.device_count()
        if index and int(index) >= count:
            raise ConfigError(f"{what} is {name!r} but this machine has {count} CUDA device(s)")
    return name


def resolve_device(name: str, info: DistInfo | None = None) -> torch.device:
    """``auto`` → CUDA when present, else CPU; under DDP on CUDA each process takes ``cuda:LOCAL_RANK``."""
    info = info or DistInfo()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if check_device(name).startswith("cuda"):
        if name == "cuda":
            name = f"cuda:{info.local_rank if info.world_size > 1 else torch.cuda.current_device()}"
    return torch.device(name)


def reduce_terms(terms: Mapping[str, torch.Tensor], names: tuple[str, ...], info: DistInfo) -> dict[str, float]:
    """Loss values as floats, averaged over DDP processes (so every rank sees the same numbers)."""
    stacked = torch.stack([terms[n].detach().float() for n in names])
    if info.world_size > 1:
        dist.all_reduce(stacked)
        stacked = stacked / info.world_size
    return dict(zip(names, stacked.tolist()))


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    if info.world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
