"""Shared fixtures: the shared-data root (skipped with a reason when absent), seeds, tiny trained runs."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.engine.train import train
from sofkd_lib.settings import DATA_ENV, shared_data_root
from tests.tiny_runs import source, tiny


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data():
    """The shared data folder, or a skip naming where it was looked for."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}; set {DATA_ENV} to the folder holding vid4/ and sofvsr_official/")
    return root


def require(path):
    """Skip the calling test with a clear reason when ``path`` does not exist."""
    if not path.exists():
        pytest.skip(f"{path} not found; set {DATA_ENV} to the shared data folder")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny teacher checkpoint and a phase-1 checkpoint trained from it."""
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    train(tiny("teacher", iterations=2), source(0), root / "teacher", quiet=True)
    train(tiny("phase1", iterations=2), source(0), root / "phase1", teacher=root / "teacher" / "last.pt",
            quiet=True)
    return root
