"""Table 1's rows as declared in sofkd_lib.method.variants, and everything that derives from them."""
from __future__ import annotations

import pytest

from sofkd_lib.companion import pipeline
from sofkd_lib.companion.recording import options as record_options
from sofkd_lib.engine import config
from sofkd_lib.engine import train as T
from sofkd_lib.method.variants import EQUATION_TERMS, NAMES, TABLE1, variant_spec


def test_the_five_rows_as_the_paper_describes_them():
    rows = {v.name: (v.ofrnet, v.srnet, v.trains, dict(v.frozen_from), v.equation, v.budget_field) for v in TABLE1}
    assert rows == {
        "teacher": ("teacher", "teacher", ("ofrnet", "srnet"), {}, "Eq. 1", "teacher_iterations"),
        "student": ("student", "student", ("ofrnet", "srnet"), {}, "Eq. 1", "student_iterations"),
        "phase1": ("teacher", "student", ("srnet",), {"ofrnet": "teacher"}, "Eq. 6", "phase1_iterations"),
        "phase2": ("student", "student", ("ofrnet", "srnet"), {}, "Eq. 8", "phase2_iterations"),
        "phase1+2": ("student", "student", ("ofrnet",), {"srnet": "phase1"}, "Eq. 8", "phase_iterations"),
    }
    assert NAMES == ("teacher", "student", "phase1", "phase2", "phase1+2")


def test_dependencies_and_init_sources():
    assert {v.name: v.depends for v in TABLE1} == {
        "teacher": (), "student": (), "phase1": ("teacher",), "phase2": ("teacher",),
        "phase1+2": ("teacher", "phase1"),
    }
    assert {v.name: v.init_from for v in TABLE1} == {
        "teacher": None, "student": None, "phase1": None, "phase2": None, "phase1+2": "phase1"}
    for v in TABLE1:  # dependency order: everything a row needs is declared before it
        assert all(NAMES.index(d) < NAMES.index(v.name) for d in v.depends)
        assert set(v.trains) | set(v.frozen_from) == {"ofrnet", "srnet"} and not set(v.trains) & set(v.frozen_from)


def test_widths_follow_the_declaration():
    assert variant_spec("phase1").widths(320, 240) == (320, 240)
    assert variant_spec("phase1+2").widths(320, 240) == (240, 240)
    assert variant_spec("teacher").widths(64, 48) == (64, 64)


def test_loss_terms_per_equation():
    assert variant_spec("phase1").loss_terms == ("loss_sr", "loss_ofr", "loss_sof", "loss_kd_sr", "loss")
    assert variant_spec("phase2").loss_terms == EQUATION_TERMS["Eq. 8"]
    assert "loss_kd_sr" in EQUATION_TERMS["Eq. 8"] and "loss_kd_ofr" in EQUATION_TERMS["Eq. 8"]


def test_every_consumer_derives_from_the_declaration():
    assert config.VARIANTS == NAMES == pipeline.VARIANTS
    assert pipeline.DEPENDS == record_options.DEPENDENCIES == {v.name: v.depends for v in TABLE1}
    assert T.LOSS_TERMS == {v.name: v.loss_terms for v in TABLE1}
    assert record_options.KD_VARIANTS == ("phase1", "phase2", "phase1+2")
    budgets = {v: config.make_config("cpu-demo", variant=v).total_iterations for v in NAMES}
    c = config.make_config("cpu-demo")
    assert budgets == {"teacher": c.teacher_iterations, "student": c.student_iterations,
                       "phase1": c.phase_iterations, "phase2": c.phase_iterations, "phase1+2": c.phase_iterations}


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown variant 'phase3'.*'phase1\+2'"):
        variant_spec("phase3")


def test_labels_as_the_paper_prints_its_rows():
    assert [v.paper_label for v in TABLE1] == ["SOF-VSR (teacher)", "Student w/o KD", "Proposed Phase 1",
                                              "Proposed Phase 2", "Proposed (Phase 1+Phase 2)"]
    from sofkd_lib.companion.tables import TABLE1_ROWS

    assert list(TABLE1_ROWS) == ["bicubic", *NAMES]
