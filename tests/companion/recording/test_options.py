"""Options of a recorded run: entries, dependencies, seeds, configs, the test columns and the repeat command."""
from __future__ import annotations

import pytest

from sofkd_lib.companion.recording.options import (
    DAVIS_HELD_OUT,
    EMBEDDED,
    ENTRIES,
    EXTRA_COLUMNS,
    TEST_COLUMNS,
    VID4,
    ColumnData,
    RecordError,
    RecordOptions,
    TestColumn,
    budget_override,
    entry,
    eval_files,
    parse_seeds,
    repeat_command,
    variant_config,
    with_dependencies,
)
from sofkd_lib.engine.config import VARIANTS


def test_dependencies_in_order():
    assert with_dependencies(["phase1+2"]) == ("teacher", "phase1", "phase1+2")
    assert with_dependencies(["student", "phase2"]) == ("teacher", "student", "phase2")
    assert with_dependencies(VARIANTS) == VARIANTS


def test_options_errors():
    with pytest.raises(RecordError, match="run id"):
        RecordOptions(run_id="../x", profile="smoke")
    with pytest.raises(RecordError, match="unknown variant"):
        RecordOptions(run_id="r", profile="smoke", variants=("teachr",))
    with pytest.raises(RecordError, match="warm_start"):
        RecordOptions(run_id="r", profile="smoke", overrides={"warm_start": "x.pth"})


def test_entries_seeds_and_the_ablation_config():
    assert [e.name for e in ENTRIES] == [*VARIANTS, "student-1phase", "phase1-alpha1"]
    assert entry("phase1-alpha1").variant == "phase1" and dict(entry("phase1-alpha1").overrides) == {"alpha": 1.0}
    assert with_dependencies(["phase1-alpha1"]) == ("teacher", "phase1-alpha1")
    assert with_dependencies(["phase1-alpha1", "phase1+2"]) == ("teacher", "phase1", "phase1+2", "phase1-alpha1")
    assert parse_seeds("0,1,2") == parse_seeds("0-2") == (0, 1, 2) and parse_seeds("3, 5") == (3, 5)
    for bad in ("1,1", "x", "-1", ""):
        with pytest.raises(RecordError, match="--seeds"):
            parse_seeds(bad)
    options = RecordOptions(run_id="r", profile="smoke", overrides={"lr": 0.002}, seeds=(4, 7),
                            variants=("phase1-alpha1",), teacher="pretrained:teacher-x4")
    config = variant_config(options, "phase1-alpha1", 7)
    assert (config.variant, config.alpha, config.seed, config.lr) == ("phase1", 1.0, 7, 0.002)
    assert variant_config(options, "phase1", 4).alpha == 0.9
    assert options.unit("phase1-alpha1", 7) == "phase1-alpha1/seed7" and options.unit("teacher") == "teacher"
    assert options.seeds_of("teacher") == (None,) and options.seeds_of("student") == (4, 7)
    assert repeat_command(options).endswith("--variants phase1-alpha1 --seeds 4,7 --teacher pretrained:teacher-x4")
    with pytest.raises(RecordError, match="'seed' is set by --seeds"):
        RecordOptions(run_id="r", profile="smoke", overrides={"seed": 1}, seeds=(0, 1))
    with pytest.raises(RecordError, match="give one or the other"):
        RecordOptions(run_id="r", profile="smoke", teacher="t.pt", teacher_init_official="BI_x2.pth")


def test_an_entry_extended_alone_keeps_every_other_entrys_budget():
    """A row extended by resuming (issue 28) gets its own budget and keeps its planned lr milestones; the entries
    sharing its budget field (both no-KD students: student_iterations) or deriving from it (phase_iterations)
    keep theirs."""
    variants = ("student", "student-1phase", "phase1", "phase2", "phase1+2")
    davis = {"data_root": "/data/davis"}  # resolved, never read
    plain = RecordOptions(run_id="r", profile="davis-cpu", overrides=davis, variants=variants, seeds=(0, 1))
    before = {v: variant_config(plain, v, 0).total_iterations for v in variants}
    assert before == {"student": 16_000, "student-1phase": 8_000, "phase1": 8_000, "phase2": 8_000,
                      "phase1+2": 8_000}
    for name, iterations in (("student", 24_000), ("student-1phase", 12_000), ("phase1+2", 12_000)):
        options = RecordOptions(run_id="r", profile="davis-cpu", overrides=davis, variants=variants, seeds=(0, 1),
                                budgets={name: iterations})
        after = {v: variant_config(options, v, 1).total_iterations for v in variants}
        assert after == {**before, name: iterations}
        assert repeat_command(options).endswith(f"--budget {name}={iterations}")
        assert variant_config(options, name, 0).lr_milestones_at == before[name]  # every seed: one schedule
    assert budget_override("phase1+2", 12_000, 8_000) == {"iterations": 12_000, "lr_milestones_at": 8_000}
    for bad, message in (({"teacher": 5}, "not a student entry"), ({"phase1-alpha1": 5}, "not a student entry"),
                         ({"phase2": 0}, "integer >= 1"), ({"phase2": 2.5}, "integer >= 1")):
        with pytest.raises(RecordError, match=message):
            RecordOptions(run_id="r", profile="davis-cpu", variants=variants, budgets=bad)


def test_record_budget_argument_reads_entry_equals_iterations():
    import argparse

    from sofkd_lib.cli.argtypes import entry_budget

    assert entry_budget("phase2=12000") == ("phase2", 12_000) and entry_budget("student=24_000") == ("student", 24_000)
    for bad in ("phase2", "phase2=0", "=5", "phase2=x"):
        with pytest.raises(argparse.ArgumentTypeError, match="ENTRY=N"):
            entry_budget(bad)


def _tiny_set(options, config):
    return ColumnData([], source="here", notes={"note": 1})


def test_test_columns_are_data():
    """The evaluated test sets are one declaration: key, label, loader; a run can add columns to it."""
    assert [(c.key, c.label, c.file) for c in TEST_COLUMNS] == [
        ("embedded", "embedded test", "eval_embedded.json"), ("vid4", "Vid4", "eval_vid4.json")]
    assert TEST_COLUMNS[0] is EMBEDDED and VID4 in TEST_COLUMNS
    tiny = TestColumn("tiny-2", "Tiny", _tiny_set)
    options = RecordOptions(run_id="r", profile="smoke", extra_columns=[tiny])
    assert options.columns == (EMBEDDED, VID4, tiny) and tiny.file == "eval_tiny-2.json"
    assert RecordOptions(run_id="r", profile="smoke").columns == TEST_COLUMNS
    for bad in ("vid4", "Tiny", "a/b", ""):
        with pytest.raises(RecordError, match="test column keys must be distinct"):
            RecordOptions(run_id="r", profile="smoke", extra_columns=(TestColumn(bad, "x", _tiny_set),))


def test_vid4_column_loads_or_says_why_not(tmp_path):
    options = RecordOptions(run_id="r", profile="smoke", vid4_root=tmp_path / "none", vid4_max_frames=5)
    missing = VID4.load(options, variant_config(options, "teacher"))
    assert (missing.clips, missing.skipped, missing.source) == (
        None, f"Vid4 not found at {tmp_path / 'none'} (set SOFKD_DATA or --vid4)", None)
    (tmp_path / "empty").mkdir()
    options = RecordOptions(run_id="r", profile="smoke", vid4_root=tmp_path / "empty", vid4_max_frames=5)
    assert VID4.load(options, variant_config(options, "teacher")).skipped.startswith("Vid4 unreadable: ")


def test_davis_held_out_column_reads_the_runs_davis_folder_or_says_why_not(tmp_path):
    from sofkd_lib.data.datasets import DAVIS_HELD_OUT as HELD_OUT_SEQUENCES
    from tests.fake_data import write_davis

    assert EXTRA_COLUMNS == {"davis-2017-val-held-out": DAVIS_HELD_OUT}
    assert DAVIS_HELD_OUT.label == "DAVIS-2017 val, 5 held-out sequences"
    options = RecordOptions(run_id="r", profile="smoke", extra_columns=(DAVIS_HELD_OUT,))
    skipped = DAVIS_HELD_OUT.load(options, variant_config(options, "teacher"))
    assert skipped.clips is None and "not on a DAVIS folder" in skipped.skipped
    root = write_davis(tmp_path / "DAVIS", {"train": ["bear"], "val": ["camel", *HELD_OUT_SEQUENCES]}, n=5)
    options = RecordOptions(run_id="r", profile="smoke", overrides={"dataset": "davis", "data_root": str(root)},
                            extra_columns=(DAVIS_HELD_OUT,), seeds=(0, 1))
    data = DAVIS_HELD_OUT.load(options, variant_config(options, "student", 0))
    assert [c.name for c in data.clips] == list(HELD_OUT_SEQUENCES) and data.source == str(root)
    assert repeat_command(options).endswith("--seeds 0,1 --column davis-2017-val-held-out")


def test_eval_files_finds_every_column_result(tmp_path):
    for name in ("eval_vid4.json", "eval_embedded.json", "eval_tiny-2.json", ".eval_vid4.tmp.json", "evalx.json"):
        (tmp_path / name).write_text("{}")
    assert eval_files(tmp_path) == {"embedded": tmp_path / "eval_embedded.json",
                                    "tiny-2": tmp_path / "eval_tiny-2.json", "vid4": tmp_path / "eval_vid4.json"}


def test_units_single_and_seeded():
    single = RecordOptions(run_id="r", profile="smoke", variants=("phase1+2",))
    assert single.units() == [("teacher", None), ("phase1", None), ("phase1+2", None)]
    seeded = RecordOptions(run_id="r", profile="smoke", variants=("phase1+2",), seeds=(3, 1))
    assert seeded.units() == [("teacher", None), ("phase1", 3), ("phase1+2", 3), ("phase1", 1), ("phase1+2", 1)]
    assert [seeded.unit(*u) for u in seeded.units()][:2] == ["teacher", "phase1/seed3"]
