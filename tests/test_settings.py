"""Settings: where the checkout, the shared data and the records are, and paths as records keep them."""
from __future__ import annotations

from pathlib import Path

from sofkd_lib.settings import REPO_ROOT, repo_relative


def test_paths_inside_the_checkout_are_kept_relative_to_it_and_others_as_given():
    assert repo_relative(REPO_ROOT / "book" / "runs" / "smoke" / "teacher") == "book/runs/smoke/teacher"
    assert repo_relative(str(REPO_ROOT / "results" / ".." / "bench")) == "bench"
    assert repo_relative(Path("/elsewhere/x")) == "/elsewhere/x"
