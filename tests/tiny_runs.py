"""Tiny training runs shared by the engine's and the method's tests: teacher 8 and student 4 channels,
8x8 LR patches, a synthetic batch source, so every run takes seconds on one CPU core."""
from __future__ import annotations

import torch

from sofkd_lib.engine import sources as S
from sofkd_lib.engine.config import make_config

TC, SC = 8, 4  # tiny teacher / student widths


def tiny(variant: str, **changes):
    base = dict(teacher_channels=TC, student_channels=SC, patch_size=8, batch_size=2, dataset="synthetic",
                val_every=0, log_every=1, checkpoint_every=100, iterations=3)
    base.update(changes)
    return make_config("smoke", base, variant=variant)


def source(seed: int = 1) -> S.SyntheticSource:
    return S.SyntheticSource(scale=4, patch_size=8, n_frames=3, seed=seed)


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def clone_state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}
