"""The map a newcomer uses: README's "Where things are" names real files and functions, and the book's
pages define no logic of their own (what they teach is library code, where tests reach it)."""
from __future__ import annotations

import ast
import json
import re

from sofkd_lib.settings import REPO_ROOT

#: Functions a book page may define: display wrappers around library calls, nothing to test.
PAGE_DISPLAY_HELPERS = {
    "losses.md": {"show"},  # glue a value and print it beside the number computed by hand on the page
    "results.md": {"say", "show_table1", "show_crops"},  # wrap text; print the library's tables; show crop panels
    "training.md": {"show_run"},  # print one run's record and plot its curves
    "train.ipynb": {"check"},  # name a bad papermill parameter in the notebook's own words
}


def _where_things_are() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("## Where things are")
    return text[start : text.index("\n## ", start + 3)]


def test_readme_map_names_files_that_exist():
    section = _where_things_are()
    paths = set(re.findall(r"`((?:sofkd_lib|bench)/[\w/.]+\.py)`", section))
    folders = set(re.findall(r"`(sofkd_lib/\w+)/`", section))
    assert len(paths) >= 6 and len(folders) >= 5
    for rel in sorted(paths | folders):
        if "COMMAND" in rel:  # one module per command
            from sofkd_lib.cli.main import COMMANDS

            for module, _ in COMMANDS.values():
                assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file(), module
                assert module.startswith("sofkd_lib.cli."), module
            continue
        assert (REPO_ROOT / rel).exists(), rel


def test_readme_map_reaches_every_equation_and_table1_row_in_one_hop():
    from sofkd_lib.method import distill, losses, variants

    section = _where_things_are()
    for name in re.findall(r"`(\w+_loss)`", section):
        assert callable(getattr(losses, name)), name
    equations = {ln for f in vars(losses).values() if callable(f) and f.__doc__
                 for ln in re.findall(r"Eq\. (\d)", f.__doc__)}
    assert equations >= {str(i) for i in range(1, 9)}  # every equation has a function naming it
    assert "`TABLE1`" in section and {v.paper_label for v in variants.TABLE1} >= {"Proposed Phase 1"}
    assert callable(distill.prepare_models) and callable(distill.variant_losses)


def _page_functions() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for page in sorted((REPO_ROOT / "book").glob("*.md")):
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page.read_text(), flags=re.S)
        source = "\n".join("\n".join(ln for ln in c.splitlines() if not ln.startswith((":", "%"))) for c in cells)
        found[page.name] = {n.name for n in ast.walk(ast.parse(source))
                            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    nb = json.loads((REPO_ROOT / "book" / "train.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    found["train.ipynb"] = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return found


def test_book_pages_define_only_display_helpers():
    defined = _page_functions()
    assert len(defined) >= 10  # every page was read
    for page, names in defined.items():
        extra = names - PAGE_DISPLAY_HELPERS.get(page, set())
        assert not extra, f"book/{page} defines {sorted(extra)}: move the logic into sofkd_lib and test it there"


#: The most lines one module may hold (issue 28: a module that grows past it is given jobs of its own).
MAX_MODULE_LINES = 600


def test_no_module_passes_the_line_limit():
    sizes = {str(p.relative_to(REPO_ROOT)): len(p.read_text().splitlines())
             for folder in ("sofkd_lib", "bench") for p in (REPO_ROOT / folder).rglob("*.py")}
    assert len(sizes) >= 40 and "bench/davis_table1.py" in sizes
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}
