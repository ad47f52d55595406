"""Training units of a recorded run: when a unit counts as finished, and which trained configs are accepted."""
from __future__ import annotations

import json

import pytest

from sofkd_lib.companion.recording.options import RecordError, RecordOptions, variant_config
from sofkd_lib.companion.recording.train import check_trained_config, finished, training_inputs


def test_check_trained_config_accepts_speed_and_other_budgets_only(tmp_path):
    options = RecordOptions(run_id="r", profile="smoke", overrides={"phase_iterations": 4})
    config = variant_config(options, "teacher")
    trained = variant_config(RecordOptions(run_id="r", profile="smoke", overrides={"phase_iterations": 3,
                                                                                   "compile": True}), "teacher")
    diffs = check_trained_config(tmp_path / "last.pt", trained.to_dict(), config)
    assert diffs["compile"] == [True, False] and diffs["phase_iterations"] == [3, 4]
    other = variant_config(RecordOptions(run_id="r", profile="smoke", overrides={"phase_iterations": 4, "lr": 0.5}),
                           "teacher")
    with pytest.raises(RecordError, match=r"last.pt was trained with another config .*\(fields \['lr'\]\)"):
        check_trained_config(tmp_path / "last.pt", other.to_dict(), config)


def test_finished_reads_the_units_summary(tmp_path):
    options = RecordOptions(run_id="r", profile="smoke", overrides={"iterations": 3}, work_root=tmp_path, seeds=(2,))
    config = variant_config(options, "phase1", 2)
    out = tmp_path / "r" / "phase1" / "seed2"
    assert not finished(options, "phase1", 2, config)
    out.mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps({"iteration": 2}))
    assert not finished(options, "phase1", 2, config)
    (out / "summary.json").write_text(json.dumps({"iteration": 3}))
    assert finished(options, "phase1", 2, config)
    # phase1+2 of seed 2 starts from phase 1 of the same seed, and distils from the run's teacher
    teacher, init = training_inputs(options, "phase1+2", 2)
    assert (teacher, init) == (tmp_path / "r" / "teacher" / "last.pt", out / "last.pt")
