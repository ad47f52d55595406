"""The book pipeline: run order and parameters, content keys, reuse, atomic results, missing-run errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sofkd_lib.companion import pipeline as pl


def _fake_executor(calls: list):
    """An executor that records the variant and leaves what a real run leaves (notebook, checkpoint)."""

    def run(spec: pl.RunSpec) -> None:
        calls.append(spec.variant)
        spec.out_dir.mkdir(parents=True, exist_ok=True)
        spec.checkpoint.write_bytes(b"weights")
        spec.notebook.write_text("{}")

    return run


def test_plan_order_and_checkpoint_parameters(tmp_path):
    specs = pl.plan_runs("smoke", tmp_path)
    assert [s.variant for s in specs] == ["teacher", "student", "phase1", "phase2", "phase1+2"]
    by = {s.variant: s.parameters for s in specs}
    teacher_ckpt = str(tmp_path / "smoke" / "teacher" / "last.pt")
    assert "teacher_checkpoint" not in by["teacher"] and "teacher_checkpoint" not in by["student"]
    assert by["phase1"]["teacher_checkpoint"] == by["phase2"]["teacher_checkpoint"] == teacher_ckpt
    assert by["phase1+2"]["init_checkpoint"] == str(tmp_path / "smoke" / "phase1" / "last.pt")
    assert "init_checkpoint" not in by["phase1"]
    assert by["phase2"]["out_dir"] == str(tmp_path / "smoke" / "phase2")
    assert specs[4].notebook == tmp_path / "smoke" / "phase1+2.ipynb"


def test_plan_pulls_in_dependencies_and_rejects_unknown(tmp_path):
    assert [s.variant for s in pl.plan_runs("smoke", tmp_path, variants=["phase1+2"])] == ["teacher", "phase1", "phase1+2"]
    with pytest.raises(ValueError, match="phase3"):
        pl.plan_runs("smoke", tmp_path, variants=["phase3"])


def test_run_key_depends_on_every_input():
    base = pl.run_key({"a": 1, "b": "x"}, "lib", "nb", {"teacher": "k"})
    assert base == pl.run_key({"b": "x", "a": 1}, "lib", "nb", {"teacher": "k"})  # order does not matter
    for other in (pl.run_key({"a": 2, "b": "x"}, "lib", "nb", {"teacher": "k"}),
                  pl.run_key({"a": 1, "b": "x"}, "lib2", "nb", {"teacher": "k"}),
                  pl.run_key({"a": 1, "b": "x"}, "lib", "nb2", {"teacher": "k"}),
                  pl.run_key({"a": 1, "b": "x"}, "lib", "nb", {"teacher": "k2"})):
        assert other != base


def test_hash_tree_sees_edits_not_caches(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    first = pl.hash_tree(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"junk")
    assert pl.hash_tree(tmp_path) == first
    (tmp_path / "m.py").write_text("x = 2\n")
    assert pl.hash_tree(tmp_path) != first


def test_library_hash_ignores_docs_and_presentation_modules(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "losses.py").write_text('"""Eq. 1."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # why\n')
    (lib / "companion").mkdir()
    (lib / "companion" / "plotting.py").write_text("def plot():\n    return 1\n")
    first = pl.library_hash(lib)
    # Docstrings, comments and blank lines of result-relevant code: same key.
    (lib / "losses.py").write_text('"""Eq. 1, reworded."""\n\n\ndef f(x):\n    """Other doc."""\n    return x + 1\n')
    assert pl.library_hash(lib) == first
    # Any edit of a presentation module: same key.
    (lib / "companion" / "plotting.py").write_text("def plot():\n    return 2\n")
    assert pl.library_hash(lib) == first
    # A change of code that runs in training or scoring: new key.
    (lib / "losses.py").write_text('"""Eq. 1."""\n\ndef f(x):\n    """Doc."""\n    return x + 2\n')
    assert pl.library_hash(lib) != first
    # A new result-relevant module: new key.
    (lib / "losses.py").write_text('"""Eq. 1."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    assert pl.library_hash(lib) == first
    (lib / "warp.py").write_text("W = 31\n")
    assert pl.library_hash(lib) != first


def test_result_neutral_subpackages_are_not_imported_by_result_relevant_code():
    """What the key leaves out must not be reachable from any module it covers (training, scoring)."""
    import ast

    lib = pl.REPO_ROOT / "sofkd_lib"
    covered = [p for p in lib.rglob("*.py") if p.relative_to(lib).parts[0] not in pl.RESULT_NEUTRAL]
    assert any(p.name == "train.py" for p in covered) and any(p.name == "losses.py" for p in covered)
    reached = set()
    for path in covered:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sofkd_lib."):
                reached.add(node.module.split(".")[1])
            elif isinstance(node, ast.ImportFrom) and node.module == "sofkd_lib":
                reached.update(a.name for a in node.names)
    assert not reached & pl.RESULT_NEUTRAL, reached & pl.RESULT_NEUTRAL


def test_runs_reused_until_library_or_parameters_change(tmp_path):
    specs = pl.plan_runs("smoke", tmp_path)
    pl.assign_keys(specs, "lib-1", "nb-1")
    calls: list = []
    pl.run_training(specs, _fake_executor(calls), log=lambda _: None)
    assert calls == list(pl.VARIANTS)
    record = json.loads(specs[0].record_path.read_text())
    assert record["key"] == specs[0].key and record["variant"] == "teacher"

    calls.clear()
    pl.run_training(specs, _fake_executor(calls), log=lambda _: None)
    assert calls == []  # everything current

    # Changing phase1's parameters reruns phase1 and, through its key, phase1+2 only.
    specs[2].parameters["alpha"] = 0.5
    pl.assign_keys(specs, "lib-1", "nb-1")
    pl.run_training(specs, _fake_executor(calls), log=lambda _: None)
    assert calls == ["phase1", "phase1+2"]

    # A library edit invalidates every run.
    calls.clear()
    pl.assign_keys(specs, "lib-2", "nb-1")
    pl.run_training(specs, _fake_executor(calls), log=lambda _: None)
    assert calls == list(pl.VARIANTS)


def test_keys_use_repository_relative_paths():
    # Runs inside the repository are keyed by relative paths, so a clone elsewhere reuses nothing wrongly
    # and a moved clone keeps its keys.
    specs = pl.plan_runs("smoke", pl.REPO_ROOT / "book" / "runs", variants=["phase1"])
    pl.assign_keys(specs, "lib", "nb")
    teacher = pl.run_key({"variant": "teacher", "profile": "smoke", "device": "cpu",
                          "out_dir": "book/runs/smoke/teacher"}, "lib", "nb", {})
    phase1 = pl.run_key({"variant": "phase1", "profile": "smoke", "device": "cpu", "out_dir": "book/runs/smoke/phase1",
                         "teacher_checkpoint": "book/runs/smoke/teacher/last.pt"}, "lib", "nb", {"teacher": teacher})
    assert [s.key for s in specs] == [teacher, phase1]


def test_failed_run_leaves_no_record(tmp_path):
    specs = pl.plan_runs("smoke", tmp_path, variants=["teacher"])
    pl.assign_keys(specs, "lib", "nb")
    pl.run_training(specs, _fake_executor([]), log=lambda _: None)
    pl.assign_keys(specs, "lib-new", "nb")

    def boom(spec):
        raise RuntimeError("kernel died")

    with pytest.raises(RuntimeError, match="kernel died"):
        pl.run_training(specs, boom, log=lambda _: None)
    assert not specs[0].record_path.exists()  # the stale record is gone
    assert not pl.is_current(specs[0])


def test_run_without_checkpoint_is_an_error(tmp_path):
    specs = pl.plan_runs("smoke", tmp_path, variants=["student"])
    pl.assign_keys(specs, "lib", "nb")
    with pytest.raises(pl.MissingRunError, match="smoke/student.*last.pt"):
        pl.run_training(specs, lambda spec: None, log=lambda _: None)


def test_write_json_atomic(tmp_path):
    """How the pipeline writes its run records and results.json: NaN is an error, never null."""
    from sofkd_lib.data.io import write_json_atomic

    path = tmp_path / "r.json"
    write_json_atomic(path, {"psnr": 30.5}, non_finite="error")
    assert json.loads(path.read_text()) == {"psnr": 30.5}
    with pytest.raises(ValueError, match="r.json: not written"):
        write_json_atomic(path, {"psnr": float("nan")}, non_finite="error")  # NaN is not JSON
    assert json.loads(path.read_text()) == {"psnr": 30.5}  # the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_missing_run_and_results_name_the_run(tmp_path):
    with pytest.raises(pl.MissingRunError, match=r"run smoke/phase1\+2 is missing.*--profile smoke"):
        pl.require_run("phase1+2", "smoke", tmp_path)
    with pytest.raises(pl.MissingRunError, match="results of profile 'cpu-demo' are missing"):
        pl.load_results("cpu-demo", tmp_path)
    with pytest.raises(pl.MissingRunError, match="table1_psnr.png"):
        pl.figure_path("table1_psnr.png", "smoke", tmp_path)


def test_book_profile_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(pl.PROFILE_ENV, raising=False)
    assert pl.book_profile() == "cpu-demo"
    monkeypatch.setenv(pl.PROFILE_ENV, "smoke")
    assert pl.book_profile() == "smoke"
    monkeypatch.setenv(pl.RUNS_ENV, str(tmp_path))
    assert pl.profile_dir("smoke") == tmp_path / "smoke"
    env = pl.book_environment("paper", tmp_path)
    assert env[pl.PROFILE_ENV] == "paper" and env[pl.RUNS_ENV] == str(tmp_path)
    assert env["PYTHONPATH"].split(":")[0] == str(pl.REPO_ROOT)


def test_evaluate_all_writes_and_reuses_results(tmp_path):
    from sofkd_lib.data import Clip

    rng = np.random.default_rng(0)
    clip = Clip("noise", rng.integers(0, 256, size=(5, 48, 48, 3), dtype=np.uint8), "test noise")
    sets = [pl.EvalSet("tiny", "five random 48×48 frames", lambda: [clip], None)]
    res = pl.evaluate_all("smoke", {}, tmp_path, sets=sets, log=lambda _: None)
    on_disk = json.loads((tmp_path / "smoke" / "results.json").read_text())
    assert on_disk["profile"] == "smoke" and on_disk["checkpoint"] == "last.pt"
    bic = on_disk["datasets"]["tiny"]["models"]["bicubic"]
    assert bic["sequences"]["noise"]["frames"] == [3]  # frames 3..n-2 of five
    assert bic["average"]["psnr"] == pytest.approx(bic["sequences"]["noise"]["psnr"][0])
    again = pl.evaluate_all("smoke", {}, tmp_path, sets=sets, log=lambda _: None)
    assert again["created"] == res["created"] and again["key"] == res["key"]  # reused, not recomputed


def test_glued_values_reads_scrapbook_outputs():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": "'phase1'"},
                               metadata={"scrapbook": {"name": "variant", "mime_prefix": ""}}),
        nbformat.v4.new_output("display_data", data={"text/plain": "29.5"},
                               metadata={"scrapbook": {"name": "best_psnr", "mime_prefix": ""}}),
        nbformat.v4.new_output("display_data", data={"text/plain": "ignored"}, metadata={}),
    ]
    nb.cells.append(cell)
    assert pl.glued_values(nb) == {"variant": "phase1", "best_psnr": "29.5"}
