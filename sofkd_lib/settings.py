"""Where shared data lives: one setting, ``SOFKD_DATA``, with ``../shared/data`` as fallback; and whether
this ``sofkd_lib`` runs from its source checkout or from an installed package (a wheel)."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that points at the shared data folder.
DATA_ENV = "SOFKD_DATA"
#: The repository root (the folder holding ``sofkd_lib``); site-packages when installed from a wheel.
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Environment variable that moves the cache of generated data.
CACHE_ENV = "SOFKD_CACHE"


class CheckoutRequiredError(RuntimeError):
    """A command that needs the source checkout (the book, ``book/runs``) was run from an installed package."""


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the checkout when inside it (what records keep, so that they do not depend on
    where the clone lives), else as given."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def in_checkout() -> bool:
    """True when ``sofkd_lib`` runs from its source tree (``pyproject.toml`` beside it, an editable install
    included), False when it is an installed copy, e.g. in site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "sofkd_lib").is_dir()


def require_checkout(what: str) -> None:
    """Raise :class:`CheckoutRequiredError` naming ``what`` unless :func:`in_checkout`."""
    if not in_checkout():
        raise CheckoutRequiredError(
            f"{what} needs the sofkd source checkout (its book/ folder), but this sofkd_lib is an installed copy "
            f"in {REPO_ROOT}: clone the repository and run it from there")


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
    """Folder for generated, re-creatable data: ``$SOFKD_CACHE``, else ``<repo>/.cache`` in a checkout, else
    the user's cache folder (``$XDG_CACHE_HOME/sofkd`` or ``~/.cache/sofkd``), never inside site-packages."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if in_checkout():
        return REPO_ROOT / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache").resolve() / "sofkd"
