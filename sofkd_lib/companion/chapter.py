"""``python -m sofkd_lib chapter PAGE -p NAME VALUE -o OUT.ipynb``: execute one book chapter with parameters.

The chapters in ``book/`` are MyST Markdown notebooks, which papermill cannot read
directly. This command converts one with myst-nb's reader (the one the book build
uses), then executes it with papermill in the chapter's folder, as the book build
does, with the given values replacing the defaults of its ``parameters`` cell (read as
the types that cell declares). The output appears only when every cell ran; a
failed run leaves the partly executed notebook beside it, named in the one-line
error, except when the chapter needs runs its profile does not have yet: then the
error gives the command that makes them.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sofkd_lib.settings import REPO_ROOT, require_checkout


class ChapterError(ValueError):
    """A chapter could not be read, was given an unknown parameter or output, or failed to execute.

    A ValueError, so that the command line reports it in one line like every bad input.
    """


def parameter_value(text: str) -> Any:
    """A command-line value for a parameter whose type its notebook does not declare.

    Papermill's own ``-p`` reading (True/False/None, int, float, else the string), and
    JSON besides, so that a dict can be given (declared types: :func:`coerce_parameters`).
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


#: Declared parameter types (papermill's ``inferred_type_name``) a command-line text is read as.
_READERS: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}


def _read_as(text: str, kind: type) -> Any:
    """``text`` as a ``kind`` value; ValueError when it is not one."""
    if kind is str:
        return text
    if kind is bool:
        value = {"true": True, "false": False}.get(text.strip().lower())
    elif kind in (int, float):
        return kind(text)
    else:
        value = json.loads(text)
    if not isinstance(value, kind):
        raise ValueError(text)
    return value


def coerce_parameters(values: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]], source: str,
                      flag: str = "-p") -> dict[str, Any]:
    """``values`` checked against the parameters ``source`` declares (``papermill.inspect_notebook``).

    An unknown name is refused, listing the declared ones. A string is read as the declared type
    (``int``, ``float``, ``bool``, ``str``, ``dict``, ``list``, ``Optional[...]`` also taking ``None``),
    as the command line gives every value; any other value must already be of that type. An
    undeclared type is read by :func:`parameter_value`. Errors name ``flag`` and the parameter.
    """
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ChapterError(f"{source} has no parameter {', '.join(map(repr, unknown))}; "
                           f"its parameters: {', '.join(declared) or 'none'}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        type_name = str(declared[name].get("inferred_type_name", "None"))
        optional = type_name.startswith("Optional[") and type_name.endswith("]")
        kind = _READERS.get(type_name[len("Optional["):-1] if optional else type_name)
        if kind is None:  # no annotation papermill can read: its own typing of the text
            out[name] = parameter_value(value) if isinstance(value, str) else value
            continue
        try:
            if optional and value in (None, "None"):
                out[name] = None
            elif isinstance(value, str):
                out[name] = _read_as(value, kind)
            elif isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool)):
                out[name] = float(value) if kind is float else value
            elif kind is float and isinstance(value, int) and not isinstance(value, bool):
                out[name] = float(value)
            else:
                raise ValueError(value)
        except ValueError:
            raise ChapterError(f"{flag} {name}: {source} declares {name}: {type_name}, got {value!r}") from None
    return out


def _failure(exc: BaseException, page: str, partial: Path) -> str:
    """One readable line for a chapter whose execution failed: the cell's exception, not its traceback."""
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    cell = getattr(exc, "exec_count", None)
    where = f" in cell [{cell}]" if cell is not None else ""
    return f"chapter {page} failed{where}: {ename}: {evalue} (the partly executed notebook is {partial})"


def run_chapter(path: str | os.PathLike, output: str | os.PathLike, parameters: Mapping[str, Any] | None = None,
                log_output: bool = False) -> Path:
    """Execute chapter ``path`` with ``parameters`` into the notebook ``output``; return its path.

    Parameters are checked against the chapter's parameters cell (:func:`coerce_parameters`;
    strings, as ``-p`` gives them, are read as the declared type) and a ``profile`` must be a
    known one, before the kernel starts. The kernel runs in the chapter's folder with this
    checkout importable. A failure is one line: the cell's exception, or, when the chapter needs
    runs the profile does not have yet, the command that makes them (no output is left then).
    """
    require_checkout("chapter")  # the pages read book/runs of the checkout and import it
    import nbformat
    import papermill as pm

    from sofkd_lib.companion.pipeline import RESULTS_NAME, book_profile, pipeline_command, profile_dir
    from sofkd_lib.engine.config import PROFILES

    path, output = Path(path).resolve(), Path(output).resolve()
    if output.suffix != ".ipynb" or output.is_dir():
        raise ChapterError(f"output {output} must be a notebook file name ending in .ipynb")
    nb = read_chapter(path)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{path.stem}.ipynb"
        nbformat.write(nb, source)
        params = coerce_parameters(dict(parameters or {}), pm.inspect_notebook(str(source)), path.name)
        profile = params.get("profile") or book_profile()
        if "profile" in params and profile not in PROFILES:
            raise ChapterError(f"-p profile: unknown profile {profile!r}; choose from {list(PROFILES)}")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.stem}.partial.ipynb")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        try:
            pm.execute_notebook(str(source), str(partial), parameters=params, cwd=str(path.parent),
                                progress_bar=False, log_output=log_output,
                                # the kernel's start-up warnings would be more lines beside the one error line
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except Exception as exc:
            if getattr(exc, "ename", None) == "MissingRunError" and not (profile_dir(profile) / RESULTS_NAME).is_file():
                partial.unlink(missing_ok=True)  # it holds nothing but that error
                raise ChapterError(f"no {profile} runs yet: run `{pipeline_command(profile)}` first "
                                   f"({path.name} reads them)") from exc
            raise ChapterError(_failure(exc, path.name, partial)) from exc
    os.replace(partial, output)
    return output
