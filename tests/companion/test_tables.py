"""Tables 1 and 2 assembled from results and from code."""
from __future__ import annotations

import csv

import pytest

from sofkd_lib.companion import tables as T
from sofkd_lib.method.variants import TABLE1
from sofkd_lib.settings import DATA_ENV, paper_folder


def _results():
    def summary(p_avg, s_avg, p_max, s_max):
        return {"average": {"psnr": p_avg, "ssim": s_avg}, "max": {"psnr": p_max, "ssim": s_max}}

    models = {"bicubic": summary(25.0, 0.7, 26.0, 0.75), "teacher": summary(27.5, 0.8, 29.0, 0.85),
              "student": summary(27.0, 0.78, 28.5, 0.84), "phase1+2": summary(27.25, 0.79, 28.75, 0.845)}
    return {"profile": "smoke", "datasets": {"vid4": {"models": models}}}


def test_table1_rows_in_paper_order_with_paper_column():
    rows = T.table1_rows(_results(), "vid4", paper={})
    assert [r["key"] for r in rows] == ["bicubic", "teacher", "student", "phase1+2"]
    assert rows[1]["psnr_avg"] == 27.5 and rows[1]["ssim_max"] == 0.85
    assert all(r["paper_psnr_avg"] is None for r in rows)
    filled = T.table1_rows(_results(), "vid4", paper={"vid4": {"teacher": {"psnr_avg": 26.01}}})
    assert filled[1]["paper_psnr_avg"] == 26.01 and filled[1]["paper_ssim_avg"] is None
    # A model only the paper has gets a row, with no measured values.
    rows = T.table1_rows(_results(), "vid4")
    assert [r["key"] for r in rows] == ["bicubic", "teacher", "student", "phase1", "phase2", "phase1+2"]
    assert rows[3]["psnr_avg"] is None and rows[3]["paper_psnr_avg"] == 25.6781


def test_shipped_paper_table1_is_the_printed_one():
    # Hand-copied from the article (Lee & Park 2023, Table 1): SOF-VSR on Vid4, the headline row on DAVIS.
    assert T.PAPER_TABLE1["vid4"]["teacher"] == {"psnr_avg": 25.6578, "psnr_max": 28.8419,
                                                 "ssim_avg": 0.7521, "ssim_max": 0.8808}
    assert T.PAPER_TABLE1["davis-2017-test-dev"]["phase1+2"]["psnr_max"] == 43.4571
    assert set(T.PAPER_TABLE1) == set(T.PAPER_DATASETS)
    for models in T.PAPER_TABLE1.values():
        assert list(models) == ["teacher", "student", "phase1", "phase2", "phase1+2"]  # no bicubic in the paper
        assert all(set(v) == set(T.METRIC_COLUMNS) for v in models.values())


def test_paper_table1_matches_the_papers_csv():
    path = paper_folder() / "table1.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found (the paper's folder sits beside the shared data; set {DATA_ENV})")
    csv_rows = {v.paper_label: v.name for v in TABLE1}  # the paper's row names, declared with each variant
    csv_sets = {"vid4": "vid4", "davis2017": "davis-2017-test-dev"}
    with path.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["model"] for r in table] == list(csv_rows)
    checked = 0
    for r in table:
        for column, text in r.items():
            if column == "model":
                continue
            prefix, metric, kind = column.split("_")
            assert T.PAPER_TABLE1[csv_sets[prefix]][csv_rows[r["model"]]][f"{metric}_{kind}"] == float(text), column
            checked += 1
    assert checked == 40


def test_table1_frame_puts_the_paper_beside_each_measured_value():
    frame = T.table1_frame(_results(), "vid4")
    assert list(frame.columns) == [("PSNR (dB)", "paper"), ("PSNR (dB)", "this build (smoke)"),
                                   ("PSNR (dB)", "this build − paper"), ("SSIM", "paper"),
                                   ("SSIM", "this build (smoke)"), ("SSIM", "this build − paper")]
    teacher = frame.loc["Teacher (SOF-VSR)"]
    # The paper as printed (4 decimals), ours to 0.01 dB, the difference ours − paper.
    assert teacher[("PSNR (dB)", "paper")] == "25.6578"
    assert teacher[("PSNR (dB)", "this build (smoke)")] == "27.50"
    assert teacher[("PSNR (dB)", "this build − paper")] == "+1.84"  # 27.5 − 25.6578 = 1.8422
    assert teacher[("SSIM", "this build − paper")] == "+0.0479"  # 0.8 − 0.7521
    student_max = T.table1_frame(_results(), "vid4", "max").loc["Student w/o KD"]
    assert student_max[("PSNR (dB)", "paper")] == "28.2611"
    assert student_max[("PSNR (dB)", "this build − paper")] == "+0.24"  # 28.5 − 28.2611 = 0.2389
    assert student_max[("SSIM", "this build − paper")] == "-0.0282"  # 0.84 − 0.8682
    # Bicubic has no paper value; phase 1 was not run in this build.
    assert frame.loc["Bicubic", ("PSNR (dB)", "paper")] == T.MISSING
    assert frame.loc["Bicubic", ("PSNR (dB)", "this build − paper")] == T.MISSING
    assert frame.loc["Proposed Phase 1", ("SSIM", "this build (smoke)")] == T.MISSING
    with pytest.raises(ValueError, match="kind"):
        T.table1_frame(_results(), "vid4", "median")


def test_table1_frame_without_paper_values_or_measurements():
    frame = T.table1_frame(_results(), "vid4", paper={})
    assert frame.loc["Proposed Phase 1+2", ("PSNR (dB)", "this build (smoke)")] == "27.25"
    assert frame.loc["Teacher (SOF-VSR)", ("SSIM", "this build (smoke)")] == "0.8000"
    assert [c[1] for c in frame.columns] == ["this build (smoke)", "this build (smoke)"]  # no paper, no difference
    davis = T.table1_frame(_results(), "davis-2017-test-dev", "max")  # only the paper scored it
    assert [c[1] for c in davis.columns] == ["paper", "paper"]
    assert davis.loc["Proposed Phase 1+2", ("PSNR (dB)", "paper")] == "43.4571"


def test_table1_errors_name_what_is_missing():
    with pytest.raises(KeyError, match="davis"):
        T.table1_rows(_results(), "davis")
    broken = {"datasets": {"x": {"models": {"teacher": {"average": {"psnr": 1.0}}}}}}
    with pytest.raises(KeyError, match="ssim"):
        T.table1_rows(broken, "x")


def test_table1_long_keeps_unrounded_values_per_source():
    long = T.table1_long(_results(), "vid4", recorded=_recorded())
    teacher = long[(long["model"] == "Teacher (SOF-VSR)") & (long["quantity"] == "PSNR avg (dB)")]
    assert dict(zip(teacher["source"], teacher["value"])) == {"paper": 25.6578, "recorded": 27.0,
                                                              "this build (smoke)": 27.5}
    assert set(long["quantity"]) == {"PSNR avg (dB)", "PSNR max (dB)", "SSIM avg", "SSIM max"}
    assert long["value"].notna().all()


def test_table2_frame_shows_printed_values_beside_exact_counts():
    frame = T.table2_frame()
    assert frame[("", "match")].all()
    assert list(frame.index) == ["Teacher (SOF-VSR)", "Student", "Phase 1 (teacher OFRnet + student SRnet)",
                                 "Phase 2", "Phase 1+2"]
    teacher = frame.loc["Teacher (SOF-VSR)"]
    assert teacher[("OFRnet", "ours (count)")] == "432,576" and teacher[("OFRnet", "paper (M)")] == "0.413"
    # Printed totals are sums of rounded parts: 1 printed (0.413 + 0.587), 1,047,617 / 2^20 = 0.9991 exactly.
    assert teacher[("total", "paper (M)")] == "1" and teacher[("total", "ours (M)")] == "0.9991"
    student = frame.loc["Student"]
    assert student[("total", "paper (M)")] == "0.630" and student[("total", "ours (M)")] == "0.6294"
    assert student[("% of teacher", "paper")] == "63" and student[("% of teacher", "ours")] == "63.0"
    phase1 = frame.loc["Phase 1 (teacher OFRnet + student SRnet)"]
    assert phase1[("total", "ours (count)")] == "821,297" and phase1[("total", "ours (M)")] == "0.7832"
    assert phase1[("% of teacher", "ours")] == "78.4"  # 821,297 / 1,047,617


def test_format_duration():
    assert T.format_duration(4.25) == "4.2 s"
    assert T.format_duration(48.4) == "48 s"
    assert T.format_duration(302.278973) == "5 min 02 s"
    assert T.format_duration(7325) == "2 h 02 min"
    with pytest.raises(ValueError, match="non-negative"):
        T.format_duration(float("nan"))


def test_budget_rows_and_label():
    rows = T.budget_rows("smoke")
    assert [(r["variant"], r["iterations"]) for r in rows] == [
        ("teacher", 10), ("student", 20), ("phase1", 10), ("phase2", 10), ("phase1+2", 10)]
    assert T.budget_label("paper").startswith("profile paper: ResBlocks of 320 (teacher) and 240 (student) channels; "
                                              "teacher 200,000 it, student w/o KD 400,000 it")
    assert "ResBlocks of 64 (teacher) and 48 (student)" in T.budget_label("miniature")
    assert ("each distillation phase 20,000 it (phase 1 40,000 it, phase 2 alone 40,000 it); batch 4"
            in T.budget_label("miniature"))
    assert "phase 1 " not in T.budget_label("paper") and "phase 2 alone" not in T.budget_label("paper")
    assert [r["iterations"] for r in T.budget_rows("miniature")] == [20_000, 40_000, 40_000, 40_000, 20_000]


def _seq_summary(psnrs: dict[str, float]) -> dict:
    avg = sum(psnrs.values()) / len(psnrs)
    return {"average": {"psnr": avg, "ssim": 0.5}, "max": {"psnr": max(psnrs.values()), "ssim": 0.6},
            "sequences": {k: {"psnr_mean": v} for k, v in psnrs.items()}}


def _recorded():
    per = {"teacher": (26.0, 28.0), "student": (25.0, 27.0), "phase1": (25.5, 26.5), "phase2": (24.0, 27.0),
           "phase1+2": (25.0, 27.5)}
    models = {m: _seq_summary({"calendar": a, "city": b}) for m, (a, b) in per.items()}
    return {"run_id": "r1", "profile": "gpu-short", "datasets": {"vid4": {"models": models}}}


def test_table1_frame_with_a_recorded_run():
    frame = T.table1_frame(_results(), "vid4", paper={}, recorded=_recorded())
    assert list(dict.fromkeys(c[1] for c in frame.columns)) == ["recorded", "this build (smoke)"]
    assert frame.loc["Teacher (SOF-VSR)", ("PSNR (dB)", "recorded")] == "27.00"
    # Phase 2 is in the recorded run only; bicubic in this build only.
    assert frame.loc["Proposed Phase 2", ("PSNR (dB)", "this build (smoke)")] == T.MISSING
    assert frame.loc["Bicubic", ("PSNR (dB)", "recorded")] == T.MISSING
    maxima = T.table1_frame(_results(), "vid4", "max", recorded=_recorded())
    assert maxima.loc["Proposed Phase 2", ("PSNR (dB)", "recorded")] == "27.00"
    assert maxima.loc["Proposed Phase 2", ("PSNR (dB)", "recorded − paper")] == "-1.88"  # 27 − 28.8806
    # A dataset only the recorded run has still gives a table (no build columns).
    only = T.table1_frame(None, "vid4", paper={}, recorded=_recorded())
    assert list(dict.fromkeys(c[1] for c in only.columns)) == ["recorded"]


def test_kd_comparison_per_sequence():
    frame = T.kd_comparison(_recorded(), "vid4")
    assert list(frame.index) == ["calendar", "city", "average"]
    assert frame.loc["calendar", "phase1 − student (dB)"] == pytest.approx(0.5)
    assert frame.loc["city", "phase1 − student (dB)"] == pytest.approx(-0.5)
    assert frame.loc["average", "phase2 − student (dB)"] == pytest.approx(25.5 - 26.0)
    assert frame.loc["average", "phase1+2 − student (dB)"] == pytest.approx(0.25)
    with pytest.raises(KeyError, match="phase1"):
        T.kd_comparison(_results(), "vid4")


def test_readable_value_formats_each_kind():
    assert T.readable_value("train_seconds", "75") == T.format_duration(75.0)
    assert T.readable_value("best_psnr", "29.2064") == "29.21 dB"
    assert T.readable_value("iterations", "20000.0") == "20,000"
    assert T.readable_value("loss", "0.00127461") == "0.001275"
    assert T.readable_value("loss", "nan") == T.MISSING
    assert T.readable_value("variant", "phase1") == "phase1"


def test_caveat_lines_group_models_sharing_a_caveat():
    lines = T.caveat_lines({"phase2": "Eq. 8 without SR", "phase1+2": "Eq. 8 without SR", "student": "other"})
    assert lines == ["caveat, recorded phase2 and phase1+2: Eq. 8 without SR", "caveat, recorded student: other"]
