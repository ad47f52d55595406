"""Tables 1 and 2 assembled from results and from code."""
from __future__ import annotations

import pytest

from sofkd_lib import tables as T


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


def test_table1_frame_labels_profile_and_untranscribed_paper():
    frame = T.table1_frame(_results(), "vid4", paper={})
    assert frame.loc["Proposed Phase 1+2", ("this build (smoke)", "PSNR avg")] == "27.25"
    assert frame.loc["Teacher (SOF-VSR, 320 ch.)", ("this build (smoke)", "SSIM max")] == "0.8500"
    assert frame.loc["Bicubic", ("paper", "PSNR avg")] == T.NOT_TRANSCRIBED
    # The shipped paper table is empty on purpose (no invented numbers).
    assert T.PAPER_TABLE1 == {}


def test_table1_errors_name_what_is_missing():
    with pytest.raises(KeyError, match="davis"):
        T.table1_rows(_results(), "davis")
    broken = {"datasets": {"x": {"models": {"teacher": {"average": {"psnr": 1.0}}}}}}
    with pytest.raises(KeyError, match="ssim"):
        T.table1_rows(broken, "x")


def test_table2_frame_matches_paper():
    frame = T.table2_frame()
    assert frame["match"].all()
    assert frame.loc["Teacher (SOF-VSR)", "OFRnet (count)"] == "432,576"
    assert frame.loc["Student", "total M"] == "0.629"
    assert frame.loc["Phase 1 (teacher OFRnet + student SRnet)", "total M"] == "0.784"  # sum of rounded parts


def test_budget_rows_and_label():
    rows = T.budget_rows("smoke")
    assert [(r["variant"], r["iterations"]) for r in rows] == [
        ("teacher", 10), ("student", 20), ("phase1", 10), ("phase2", 10), ("phase1+2", 10)]
    assert T.budget_label("paper").startswith("profile paper: teacher 200,000 it, student w/o KD 400,000 it")


def _seq_summary(psnrs: dict[str, float]) -> dict:
    avg = sum(psnrs.values()) / len(psnrs)
    return {"average": {"psnr": avg, "ssim": 0.5}, "max": {"psnr": max(psnrs.values()), "ssim": 0.6},
            "sequences": {k: {"psnr_mean": v} for k, v in psnrs.items()}}


def _recorded():
    per = {"teacher": (26.0, 28.0), "student": (25.0, 27.0), "phase1": (25.5, 26.5), "phase2": (24.0, 27.0),
           "phase1+2": (25.0, 27.5)}
    models = {m: _seq_summary({"calendar": a, "city": b}) for m, (a, b) in per.items()}
    return {"run_id": "r1", "profile": "gpu-short", "datasets": {"vid4": {"models": models}}}


def test_table1_frame_has_three_column_groups():
    frame = T.table1_frame(_results(), "vid4", paper={}, recorded=_recorded())
    groups = list(dict.fromkeys(c[0] for c in frame.columns))
    assert groups == ["paper", "recorded (r1)", "this build (smoke)"]
    assert frame.loc["Teacher (SOF-VSR, 320 ch.)", ("recorded (r1)", "PSNR avg")] == "27.00"
    assert frame.loc["Proposed Phase 2", ("recorded (r1)", "PSNR max")] == "27.00"
    # Phase 2 is in the recorded run only; bicubic in this build only.
    assert frame.loc["Proposed Phase 2", ("this build (smoke)", "PSNR avg")] == "not run"
    assert frame.loc["Bicubic", ("recorded (r1)", "PSNR avg")] == "not recorded"
    # A dataset only the recorded run has still gives a table (no build column group).
    only = T.table1_frame(None, "vid4", paper={}, recorded=_recorded())
    assert list(dict.fromkeys(c[0] for c in only.columns)) == ["paper", "recorded (r1)"]


def test_kd_comparison_per_sequence():
    frame = T.kd_comparison(_recorded(), "vid4")
    assert list(frame.index) == ["calendar", "city", "average"]
    assert frame.loc["calendar", "phase1 − student (dB)"] == pytest.approx(0.5)
    assert frame.loc["city", "phase1 − student (dB)"] == pytest.approx(-0.5)
    assert frame.loc["average", "phase2 − student (dB)"] == pytest.approx(25.5 - 26.0)
    assert frame.loc["average", "phase1+2 − student (dB)"] == pytest.approx(0.25)
    with pytest.raises(KeyError, match="phase1"):
        T.kd_comparison(_results(), "vid4")
