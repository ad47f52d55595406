"""``python -m sofkd_lib chapter``: a MyST chapter executed with papermill parameters."""
from __future__ import annotations

import re

import nbformat
import pytest

from sofkd_lib.cli.main import main
from sofkd_lib.companion import chapter as C
from sofkd_lib.settings import REPO_ROOT

FRONT = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
         "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n")


def _outputs(nb) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_parameter_value_types_like_papermill_and_json():
    assert C.parameter_value("smoke") == "smoke"
    assert C.parameter_value("3") == 3 and C.parameter_value("0.5") == 0.5
    assert C.parameter_value("True") is True and C.parameter_value("None") is None
    assert C.parameter_value('{"lr": 0.0005}') == {"lr": 0.0005} and C.parameter_value("true") is True


def test_parameters_are_read_as_the_page_declares_them():
    declared = {"profile": {"inferred_type_name": "str"}, "n": {"inferred_type_name": "int"},
                "alpha": {"inferred_type_name": "Optional[float]"}, "on": {"inferred_type_name": "bool"},
                "extra": {"inferred_type_name": "dict"}, "free": {"inferred_type_name": "None"}}
    given = {"profile": "2026", "n": "3", "alpha": "None", "on": "false", "extra": '{"a": 1}', "free": "0.5"}
    assert C.coerce_parameters(given, declared, "p.md") == \
        {"profile": "2026", "n": 3, "alpha": None, "on": False, "extra": {"a": 1}, "free": 0.5}
    assert C.coerce_parameters({"n": 4, "alpha": 1}, declared, "p.md") == {"n": 4, "alpha": 1.0}  # typed values kept
    for name, value in (("n", "three"), ("n", "1.5"), ("n", True), ("on", "maybe"), ("extra", "[1]"), ("alpha", "x")):
        with pytest.raises(C.ChapterError, match=rf"^-p {name}: p.md declares {name}: \S+, got "):
            C.coerce_parameters({name: value}, declared, "p.md")
    with pytest.raises(C.ChapterError, match="p.md has no parameter 'm'; its parameters: profile, n, alpha, on, extra, free"):
        C.coerce_parameters({"m": "1"}, declared, "p.md")


@pytest.mark.timeout(300)
def test_book_chapter_runs_with_a_profile_parameter(tmp_path):
    # The reader's command from the parameters page, on the smallest chapter (it needs no runs).
    out = tmp_path / "sub" / "full_scale.ipynb"
    assert main(["chapter", str(REPO_ROOT / "book" / "full_scale.md"), "-p", "profile", "smoke", "-o", str(out)]) == 0
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'profile = "smoke"' in injected[0].source
    text = _outputs(nb)
    assert "rendered from the runs of profile 'smoke'" in text
    assert "gpu-short" in text  # the profile table was rendered
    assert [p.name for p in out.parent.iterdir()] == ["full_scale.ipynb"]  # no partial file left


def test_chapter_errors_leave_no_output(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(FRONT + "# p\n\n```{code-cell} ipython3\n:tags: [parameters]\nn: int = 1\n```\n\n"
                    "```{code-cell} ipython3\nassert n == 1, f'n is {n}'\n```\n")
    out = tmp_path / "out.ipynb"
    with pytest.raises(C.ChapterError, match="has no parameter 'm'; its parameters: n"):
        C.run_chapter(page, out, {"m": 2})
    with pytest.raises(C.ChapterError, match="partly executed notebook is .*out.partial.ipynb") as failed:
        C.run_chapter(page, out, {"n": "2"})  # text, as -p gives it: read as the declared int
    # the cell's exception, not papermill's traceback of it
    assert re.match(r"chapter page.md failed in cell \[\d+\]: AssertionError: n is 2 \(the partly", str(failed.value))
    assert "\n" not in str(failed.value) and "Traceback" not in str(failed.value)
    assert not out.exists() and (tmp_path / ".out.partial.ipynb").is_file()
    assert C.run_chapter(page, out, {"n": 1}) == out and out.is_file()
    (tmp_path / "plain.md").write_text("# not a notebook\n")
    with pytest.raises(C.ChapterError, match="plain.md is not a MyST notebook"):
        C.read_chapter(tmp_path / "plain.md")
    with pytest.raises(C.ChapterError, match="must be a notebook file name ending in .ipynb"):
        C.run_chapter(page, tmp_path / "out.html")
    with pytest.raises(C.ChapterError, match="not found"):
        C.read_chapter(tmp_path / "missing.md")
