"""Where shared data lives: one setting, ``SOFKD_DATA``, with ``../shared/data`` as fallback."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that points at the shared data folder.
DATA_ENV = "SOFKD_DATA"
#: The repository root (the folder holding ``sofkd_lib``).
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """The shared data folder: ``$SOFKD_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def shared_path(*parts: str) -> Path:
    """A path inside :func:`shared_data_root` (it may not exist; callers check)."""
    return shared_data_root().joinpath(*parts)


def paper_folder() -> Path:
    """The paper's text and its tables as printed: ``paper/`` beside the shared data folder (may not exist)."""
    return shared_data_root().parent / "paper"


def official_checkpoint(scale: int = 2, degradation: str = "BI") -> Path:
    """Path of the authors' released checkpoint in the shared data folder."""
    return shared_path("sofvsr_official", f"{degradation}_x{scale}.pth")


def cache_dir() -> Path:
    """Folder for generated, re-creatable data (``$SOFKD_CACHE`` or ``<repo>/.cache``)."""
    env = os.environ.get("SOFKD_CACHE")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".cache"
