"""Build step of the wheel: it carries the recorded weights that ``pretrained:NAME`` resolves to.

The one copy in git is ``results/recorded/``. Building a wheel copies the weights of
every name in ``results/recorded/index.json`` (float16, a few MB) into the build's
``sofkd_lib/weights/_recorded/``, with an index of those names only; an sdist carries
the same files under ``results/recorded/`` so a wheel built from it has them too.
Nothing is written into the source tree. Metadata lives in ``pyproject.toml``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
RECORDED = Path("results") / "recorded"
PACKAGED = Path("sofkd_lib") / "weights" / "_recorded"  # pretrained.PACKAGED_DIR


def named_weights() -> tuple[dict, list[Path]]:
    """The checkout's index reduced to its names (no whole runs: their scores stay in the checkout), and the
    weights files those names point at, relative to ``results/recorded``."""
    path = HERE / RECORDED / "index.json"
    if not path.is_file():
        raise SystemExit(f"setup.py: {path} not found: the wheel must carry the recorded weights")
    index = json.loads(path.read_text(encoding="utf-8"))
    files = sorted({Path(entry["weights"]) for entry in index["names"].values()})
    for rel in files:
        if not (HERE / RECORDED / rel).is_file():
            raise SystemExit(f"setup.py: {HERE / RECORDED / rel} (listed in {path}) not found")
    return {**index, "runs": {}}, files


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads results/recorded of the checkout itself
            return
        index, files = named_weights()
        dest = Path(self.build_lib) / PACKAGED
        shutil.rmtree(dest, ignore_errors=True)  # no stale weights from an earlier build
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / RECORDED / rel, dest / rel)
        (dest / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _, weights = named_weights()
        for rel in [Path("index.json"), *weights]:
            target = Path(base_dir) / RECORDED / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / RECORDED / rel, target)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
