"""The papermill training notebook book/train.ipynb: parameters with help, execution, glue, errors."""
from __future__ import annotations

import os

import nbformat
import papermill as pm
import pytest

from sofkd_lib.settings import REPO_ROOT
from sofkd_lib.weights.checkpoint import load_checkpoint

NOTEBOOK = REPO_ROOT / "book" / "train.ipynb"
PARAMETERS = ("variant", "profile", "iterations", "batch_size", "device", "dataset", "data_root",
              "teacher_checkpoint", "init_checkpoint", "alpha", "seed", "out_dir", "resume", "overrides", "quiet")
TINY = {"teacher_channels": 8, "student_channels": 4, "patch_size": 8}


def test_parameters_are_listed_with_help():
    params = pm.inspect_notebook(str(NOTEBOOK))
    assert tuple(params) == PARAMETERS
    for name, p in params.items():
        assert len(p["help"]) > 15, name
    assert params["variant"]["default"] == '"teacher"' and params["iterations"]["inferred_type_name"] == "Optional[int]"


def _glued(nb) -> dict[str, str]:
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = next(v for k, v in o["data"].items() if k.endswith("text/plain"))
    return out


@pytest.mark.slow
def test_notebook_trains_plots_and_glues(tmp_path, monkeypatch):
    # The kernel must import this checkout's library even when it is not pip-installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out_dir = tmp_path / "run"
    nb = pm.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
        parameters=dict(variant="student", profile="smoke", dataset="synthetic", iterations=3, batch_size=2,
                        out_dir=str(out_dir), overrides={**TINY, "val_every": 3}),
    )
    assert load_checkpoint(out_dir / "last.pt")["iteration"] == 3
    glued = _glued(nb)
    assert glued["variant"] == "'student'" and glued["iterations"] == "3.0" and glued["batch_size"] == "2.0"
    assert float(glued["final_loss"]) == pytest.approx(float(glued["final_loss_sof"]))
    assert float(glued["best_psnr"]) > 0
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    # Bad parameters stop in the checking cell with the parameter named.
    with pytest.raises(pm.PapermillExecutionError, match="notebook parameter teacher_checkpoint = None: expected a teacher"):
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "bad.ipynb"), kernel_name="python3", progress_bar=False,
                            cwd=str(tmp_path), parameters=dict(variant="phase1", profile="smoke",
                                                               out_dir=str(tmp_path / "bad")))
    with pytest.raises(pm.PapermillExecutionError, match=r"TrainConfig.batch_size must be int, got str"):
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "bad2.ipynb"), kernel_name="python3", progress_bar=False,
                            cwd=str(tmp_path), parameters=dict(profile="smoke", batch_size="4",
                                                               out_dir=str(tmp_path / "bad2")))
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()
    assert nbformat.read(str(NOTEBOOK), as_version=4).cells[1].metadata["tags"] == ["parameters"]
