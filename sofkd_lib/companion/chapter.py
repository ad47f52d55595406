"""``python -m sofkd_lib chapter PAGE -p NAME VALUE -o OUT.ipynb``: execute one book chapter with parameters.

The chapters in ``book/`` are MyST Markdown notebooks, which papermill cannot read
directly. This command converts one with myst-nb's reader (the one the book build
uses), then executes it with papermill in the chapter's folder, as the book build
does, with the given values replacing the defaults of its ``parameters`` cell.
The output appears only when every cell ran; a failed run leaves the partly
executed notebook beside it, named in the error.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sofkd_lib.settings import REPO_ROOT, require_checkout


class ChapterError(ValueError):
    """A chapter could not be read, was given an unknown parameter or output, or failed to execute.

    A ValueError, so that the command line reports it in one line like every bad input.
    """


def parameter_value(text: str) -> Any:
    """A notebook parameter given on the command line (``chapter -p``, ``pipeline --set``).

    Papermill's own ``-p`` reading (True/False/None, int, float, else the string), and
    JSON besides, so that a dict such as the training notebook's ``overrides`` can be given.
    """
    special = {"True": True, "False": False, "None": None}
    if text in special:
        return special[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_chapter(path: str | os.PathLike):
    """The chapter at ``path`` (MyST ``.md`` or ``.ipynb``) as an nbformat notebook."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise ChapterError(f"chapter {path} not found")
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    text = path.read_text()
    if path.suffix != ".md" or not text.startswith("---") or "format_name: myst" not in text.split("\n---", 1)[0]:
        raise ChapterError(f"{path} is not a MyST notebook (a .md file whose front matter says format_name: myst) "
                           "or an .ipynb file")
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(text, path=str(path))


def run_chapter(path: str | os.PathLike, output: str | os.PathLike, parameters: Mapping[str, Any] | None = None,
                log_output: bool = False) -> Path:
    """Execute chapter ``path`` with ``parameters`` into the notebook ``output``; return its path.

    Unknown parameter names are an error naming the chapter's parameters. The kernel
    runs in the chapter's folder with this checkout importable.
    """
    require_checkout("chapter")  # the pages read book/runs of the checkout and import it
    import nbformat
    import papermill as pm

    path, output = Path(path).resolve(), Path(output).resolve()
    params = dict(parameters or {})
    if output.suffix != ".ipynb" or output.is_dir():
        raise ChapterError(f"output {output} must be a notebook file name ending in .ipynb")
    nb = read_chapter(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{path.stem}.ipynb"
        nbformat.write(nb, source)
        known = pm.inspect_notebook(str(source))
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ChapterError(f"{path.name} has no parameter {', '.join(map(repr, unknown))}; "
                               f"its parameters: {', '.join(known) or 'none'}")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        try:
            pm.execute_notebook(str(source), str(partial), parameters=params, cwd=str(path.parent),
                                progress_bar=False, log_output=log_output)
        except Exception as exc:
            raise ChapterError(f"chapter {path.name} failed; the partly executed notebook is {partial}: {exc}") from exc
    os.replace(partial, output)
    return output


def parse_parameters(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``[(name, value), ...]`` from ``-p`` to a parameter dict (values typed by :func:`parameter_value`)."""
    return {name: parameter_value(value) for name, value in pairs}
