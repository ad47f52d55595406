"""index.json, README.md and set_aside.json: one registration for single- and multi-seed runs alike."""
from __future__ import annotations

import json

import pytest

from sofkd_lib.companion.recording.index import (
    SET_ASIDE_NAME,
    check_index,
    readme_text,
    record_set_aside,
    update_index,
)
from sofkd_lib.companion.recording.options import RecordError, RecordOptions
from sofkd_lib.settings import REPO_ROOT


def _provenance(variant: str, date: str, dtype: str = "float16", iterations: int = 2) -> dict:
    return {"variant": variant, "date": date, "weights_dtype": dtype, "budget": {"iterations": iterations}}


def test_single_and_multi_seed_units_register_through_one_function(tmp_path):
    single = RecordOptions(run_id="one", profile="smoke", variants=("phase1",), results_root=tmp_path)
    (tmp_path / "one" / "teacher").mkdir(parents=True)
    (tmp_path / "one" / "teacher" / "eval_vid4.json").write_text(json.dumps({"average": {"psnr": 25.5}}))
    update_index(single, _provenance("teacher", "2026-01-01T10:00:00+00:00"), 4)
    update_index(single, _provenance("phase1", "2026-01-01T11:00:00+00:00", "float32", 3), 4)
    seeded = RecordOptions(run_id="many", profile="smoke", variants=("phase1",), results_root=tmp_path, seeds=(1, 0),
                           teacher="pretrained:teacher-x4")
    update_index(seeded, _provenance("teacher", "2026-01-02T10:00:00+00:00"), 4)
    update_index(seeded, _provenance("phase1", "2026-01-02T09:00:00+00:00"), 4)  # an older unit: date stays
    # a later call with another seed adds it and keeps what was listed
    update_index(RecordOptions(run_id="many", profile="smoke", variants=("teacher",), results_root=tmp_path,
                               seeds=(2,), teacher="pretrained:teacher-x4"),
                 _provenance("teacher", "2026-01-03T10:00:00+00:00"), 4)

    index = json.loads((tmp_path / "index.json").read_text())
    assert index["runs"] == {
        "one": {"variants": ["teacher", "phase1"], "date": "2026-01-01T11:00:00+00:00", "profile": "smoke",
                "repeat": "python -m sofkd_lib record --run-id one --profile smoke --variants teacher phase1"},
        "many": {"date": "2026-01-03T10:00:00+00:00", "profile": "smoke",
                 "repeat": "python -m sofkd_lib record --run-id many --profile smoke --variants teacher phase1 "
                           "--seeds 0,1,2 --teacher pretrained:teacher-x4",
                 "seeds": [0, 1, 2], "entries": ["teacher", "phase1"], "teacher": "pretrained:teacher-x4"},
    }
    # names: the single-seed run's models only
    assert index["names"] == {
        "teacher-x4": {"run_id": "one", "variant": "teacher", "scale": 4, "weights": "one/teacher/weights.pt",
                       "date": "2026-01-01T10:00:00+00:00", "dtype": "float16", "iterations": 2, "vid4_psnr": 25.5},
        "phase1-x4": {"run_id": "one", "variant": "phase1", "scale": 4, "weights": "one/phase1/weights.pt",
                      "date": "2026-01-01T11:00:00+00:00", "dtype": "float32", "iterations": 3, "vid4_psnr": None},
    }


def test_a_run_id_keeps_its_kind(tmp_path):
    single = RecordOptions(run_id="one", profile="smoke", variants=("teacher",), results_root=tmp_path)
    update_index(single, _provenance("teacher", "2026-01-01T10:00:00+00:00"), 4)
    seeded = RecordOptions(run_id="one", profile="smoke", variants=("teacher",), results_root=tmp_path, seeds=(0,))
    with pytest.raises(RecordError, match="run 'one' is a single-seed run in .*index.json; record several seeds"):
        check_index(seeded)
    with pytest.raises(RecordError, match="is a single-seed run"):
        update_index(seeded, _provenance("teacher", "2026-01-01T12:00:00+00:00"), 4)
    update_index(RecordOptions(run_id="two", profile="smoke", results_root=tmp_path, seeds=(0,)),
                 _provenance("teacher", "2026-01-01T10:00:00+00:00"), 4)
    with pytest.raises(RecordError, match="run 'two' is a multi-seed run in .*index.json; pass its --seeds"):
        check_index(RecordOptions(run_id="two", profile="smoke", results_root=tmp_path))
    check_index(RecordOptions(run_id="three", profile="smoke", results_root=tmp_path))


def test_readme_of_the_recorded_runs_regenerates_as_committed():
    root = REPO_ROOT / "results" / "recorded"
    assert readme_text(root) == (root / "README.md").read_text(encoding="utf-8")


def test_record_set_aside_lists_a_model_once_with_its_compute(tmp_path):
    inv = {"start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T11:00:00+00:00", "wall_seconds": 3600.0,
           "threads": 1}
    prov = tmp_path / "provenance.json"
    prov.write_text(json.dumps({"budget": {"iterations": 20}, "git": {"commit": "abc", "dirty": False},
                                "training_invocations": [inv], "training_seconds": 3500.0,
                                "evaluation_seconds": 60.0}))
    run = tmp_path / "run"
    with pytest.raises(RecordError, match=r"run folder .*run does not exist"):
        record_set_aside(run, "phase1+2/seed0", prov, "trained from a shorter phase 1")
    run.mkdir()
    with pytest.raises(RecordError, match="give the reason"):
        record_set_aside(run, "phase1+2/seed0", prov, " ")
    entry = record_set_aside(run, "phase1+2/seed0", prov, "trained from a shorter phase 1")
    assert entry == {"unit": "phase1+2/seed0", "reason": "trained from a shorter phase 1", "iterations": 20,
                     "git_commit": "abc", "training_invocations": [inv], "training_seconds": 3500.0,
                     "evaluation_seconds": 60.0}
    assert json.loads((run / SET_ASIDE_NAME).read_text())["models"] == [entry]
    with pytest.raises(RecordError, match=r"phase1\+2/seed0 is already listed"):
        record_set_aside(run, "phase1+2/seed0", prov, "again")
    prov.write_text(json.dumps({"budget": {"iterations": 20}, "training_invocations": []}))
    with pytest.raises(RecordError, match="has no training_invocations"):
        record_set_aside(run, "phase1+2/seed1", prov, "empty")
    assert len(json.loads((run / SET_ASIDE_NAME).read_text())["models"]) == 1  # nothing half-written
