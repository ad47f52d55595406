"""The executable book: the smoke build end to end (warnings as errors), and a missing run failing a page.

Both build with Jupyter Book, hence slow; the smoke build reuses `book/runs/smoke/` when the library
is unchanged (content keys), otherwise it trains the five variants first (minutes on two cores).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from sofkd_lib.companion import pipeline as pl

REPO = pl.REPO_ROOT
CHAPTERS = ("intro", "architecture", "data", "flows", "losses", "training", "results", "seeds", "miniature",
            "reproducibility", "efficiency", "full_scale", "parameters", "bibliography", "index")


def _run(cmd, env, cwd=REPO, timeout=1500):
    return subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_chapter_numbers_come_from_the_table_of_contents():
    """Typed chapter numbers go stale when a chapter is inserted (adding the seeds and miniature chapters
    shifted three of them): pages number chapters with {numref}`chapter %s <label>`, the README by name."""
    pages = [*sorted((REPO / "book").glob("*.md")), REPO / "README.md"]
    typed = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in pages
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\b[Cc]hapters? \d", line)]
    assert typed == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_smoke_book_builds_with_warnings_as_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(pl.RUNS_ENV, None)
    proc = _run([sys.executable, "-m", "sofkd_lib", "pipeline", "--profile", "smoke", "--build-dir", str(tmp_path)],
                env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "-W -n --keep-going" in log  # warnings are errors
    html = tmp_path / "_build" / "html" / "book"
    for page in CHAPTERS:
        assert (html / f"{page}.html").is_file(), page
    results = json.loads((REPO / "book" / "runs" / "smoke" / "results.json").read_text())
    assert results["profile"] == "smoke"
    assert set(results["datasets"]["embedded"]["models"]) == {"bicubic", *pl.VARIANTS}
    table1 = (html / "results.html").read_text()
    assert "this build (smoke)" in table1 and "not transcribed" not in table1
    # The paper's SOF-VSR row on Vid4 (Table 1 as printed) beside the measured values and their differences.
    for printed in ("25.6578", "28.8419", "0.7521", "0.8808", "43.4571"):
        assert printed in table1, printed
    assert "recorded − paper" in table1 and "this build − paper" in table1
    training = (html / "training.html").read_text()
    for variant in pl.VARIANTS:
        record = json.loads((REPO / "book" / "runs" / "smoke" / variant / "run.json").read_text())
        assert record["key"][:12] in training, variant  # each executed run is shown with its key
    params = (html / "parameters.html").read_text()
    assert "teacher_checkpoint" in params and "init_checkpoint" in params
    assert "Traceback" not in table1 + training


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_page_needing_a_missing_run_fails_the_build(tmp_path):
    # The book's own configuration, with a single page that needs a run nobody trained.
    shutil.copy(REPO / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book").mkdir()
    shutil.copy(REPO / "book" / "references.bib", tmp_path / "book" / "references.bib")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\n")
    (tmp_path / "book" / "index.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "# Needs a run\n\n```{code-cell} ipython3\nfrom sofkd_lib.companion import pipeline\n"
        "pipeline.require_run('teacher', 'nosuchprofile')\n```\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), **{pl.RUNS_ENV: str(tmp_path / "runs")})
    proc = _run(pl.jupyter_book_command() + ["build", str(tmp_path), "--all", "-W", "-n", "--keep-going"], env,
                cwd=tmp_path, timeout=500)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "run nosuchprofile/teacher is missing" in log, log[-4000:]
