"""Works when installed (issue 29, item 3): a wheel carries the recorded weights, caches in the user's folder,
and the commands that need the checkout say so in one line.

The slow test builds the wheel offline (``pip wheel --no-build-isolation --no-index`` from a
copy of the sources), installs it into a fresh venv that reuses this interpreter's packages,
and runs the console script ``sofkd`` from a temporary folder with the checkout not importable.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sofkd_lib import settings
from sofkd_lib.cli.main import main
from sofkd_lib.companion.recording.options import RecordError, RecordOptions
from sofkd_lib.weights import pretrained as pretrained_mod

FRAMES, SIZE, SCALE = 5, 32, 4


# --------------------------------------------------------------------------- checkout vs installed, in process
def test_checkout_keeps_its_folders(monkeypatch):
    monkeypatch.delenv(settings.CACHE_ENV, raising=False)
    monkeypatch.delenv(pretrained_mod.RECORDED_ENV, raising=False)
    assert settings.in_checkout()
    assert settings.cache_dir() == settings.REPO_ROOT / ".cache"
    assert pretrained_mod.recorded_root() == settings.REPO_ROOT / "results" / "recorded"
    assert not pretrained_mod.PACKAGED_DIR.exists()  # the wheel's copy is made at build time, never in git


@pytest.fixture
def installed(monkeypatch, tmp_path) -> Path:
    """This process as if sofkd_lib were installed: its root holds no pyproject.toml; HOME is tmp_path/home."""
    root = tmp_path / "site-packages"
    (root / "sofkd_lib").mkdir(parents=True)
    monkeypatch.setattr(settings, "REPO_ROOT", root)
    for name in (settings.CACHE_ENV, pretrained_mod.RECORDED_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root


def test_installed_cache_goes_to_the_user_cache(installed, monkeypatch, tmp_path):
    assert not settings.in_checkout()
    assert settings.cache_dir() == tmp_path / "home" / ".cache" / "sofkd"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_dir() == tmp_path / "xdg" / "sofkd"
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "mine"))  # still overrides
    assert settings.cache_dir() == tmp_path / "mine"


def test_installed_reads_the_packaged_weights(installed, monkeypatch, tmp_path):
    assert pretrained_mod.recorded_root() == pretrained_mod.PACKAGED_DIR
    monkeypatch.setenv(pretrained_mod.RECORDED_ENV, str(tmp_path))
    assert pretrained_mod.recorded_root() == tmp_path


def test_installed_record_needs_a_results_folder(installed, tmp_path):
    with pytest.raises(RecordError, match=r"installed copy: give --results DIR"):
        RecordOptions(run_id="r1", profile="smoke")
    assert RecordOptions(run_id="r1", profile="smoke", results_root=tmp_path).results_dir() == tmp_path


@pytest.mark.parametrize("argv", [["pipeline", "--no-build"], ["chapter", "book/results.md", "-o", "out.ipynb"],
                                  ["record", "--run-id", "r1", "--profile", "smoke"]])
def test_installed_checkout_commands_fail_in_one_line(installed, capsys, monkeypatch, tmp_path, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{argv[0]}: error: "), err
    assert ("needs the sofkd source checkout" if argv[0] != "record" else "give --results DIR") in err
    assert [p.name for p in tmp_path.iterdir()] == ["site-packages"]  # nothing written, no cache made


# --------------------------------------------------------------------------- the wheel in a clean venv
def _tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` → (size, mtime) (folders in ``skip`` left out)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            st = (Path(folder) / name).stat()
            found[os.path.relpath(Path(folder) / name, root)] = (st.st_size, st.st_mtime_ns)
    return found


def _sources(dest: Path) -> Path:
    """The files a wheel is built from, copied (pip builds in place: build/ and *.egg-info stay out of the checkout)."""
    root = settings.REPO_ROOT
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "sofkd_lib", dest / "sofkd_lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(root / "results" / "recorded", dest / "results" / "recorded")
    return dest


@pytest.mark.slow
def test_wheel_in_a_clean_venv_upscales_with_pretrained_weights(tmp_path):
    src = _sources(tmp_path / "src")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("sofkd_lib-*.whl")
    assert wheel.stat().st_size < 12 * 2**20  # float16 weights of the named models, a few MB
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr

    work, frames = tmp_path / "work", tmp_path / "work" / "frames"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(frames / f"f{i}.png")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SOFKD_")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"))

    def sofkd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "sofkd"), *args], cwd=work, env=env, capture_output=True, text=True)

    probe = subprocess.run([str(python), "-c", "import json, sofkd_lib; from sofkd_lib import settings; "
                            "from sofkd_lib.weights.pretrained import pretrained_path; print(json.dumps("
                            "[sofkd_lib.__file__, settings.in_checkout(), str(settings.cache_dir()), "
                            "str(pretrained_path('teacher-x4'))]))"],
                           cwd=work, env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    module, in_checkout, cache, weights = json.loads(probe.stdout)
    site = Path(module).parent.parent
    assert site.is_relative_to(venv) and not Path(module).is_relative_to(settings.REPO_ROOT)
    assert not in_checkout and Path(cache) == tmp_path / "xdg" / "sofkd"
    recorded = pretrained_mod.list_pretrained(settings.REPO_ROOT / "results" / "recorded")
    assert Path(weights) == site / "sofkd_lib" / "weights" / "_recorded" / recorded["teacher-x4"]["weights"]

    installed_before = _tree(venv)
    checkout_before = _tree(settings.REPO_ROOT, skip=(".git", ".pytest_cache", "__pycache__"))

    up = sofkd("upscale", "frames", "-o", "out", "--checkpoint", "pretrained:teacher-x4")
    assert up.returncode == 0, up.stderr
    outputs = sorted((work / "out").iterdir())
    assert [p.name for p in outputs] == [f"f{i}_x4.png" for i in range(FRAMES)]
    assert {Image.open(p).size for p in outputs} == {(SIZE * SCALE, SIZE * SCALE)}

    params = sofkd("params")
    assert params.returncode == 0 and "Teacher (SOF-VSR)" in params.stdout and "1,047,617" in params.stdout

    pipe = sofkd("pipeline", "--no-build")
    assert pipe.returncode == 2 and pipe.stderr.count("\n") == 1, pipe.stderr
    assert pipe.stderr.startswith("pipeline: error: pipeline needs the sofkd source checkout")

    assert _tree(venv) == installed_before  # nothing written into the install
    assert _tree(settings.REPO_ROOT, skip=(".git", ".pytest_cache", "__pycache__")) == checkout_before
    assert sorted(p.name for p in work.iterdir()) == ["frames", "out"]
