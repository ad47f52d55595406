"""Shared fixtures: the shared-data root (skipped with a reason when absent), seeds."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.settings import DATA_ENV, shared_data_root


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
