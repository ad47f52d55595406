"""Scoring a recorded unit: the test columns (data-driven), bicubic, the precision gap, the teacher-gain rule."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sofkd_lib.companion.recording.evaluate import (
    check_teacher_gain,
    load_columns,
    precision_gap,
    record_bicubic,
    teacher_gain,
    unit_files,
)
from sofkd_lib.companion.recording.options import ColumnData, RecordError, RecordOptions, TestColumn, variant_config
from sofkd_lib.data.datasets import Clip


def _clip(name: str, n_frames: int = 5, h: int = 48, w: int = 64) -> Clip:
    rng = np.random.default_rng(len(name))
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(base).resize((8 * (w // 8 + 2), 8 * (h // 8 + 2)), Image.BICUBIC))
    return Clip(name, np.stack([big[t : t + h, t : t + w] for t in range(n_frames)]), "test")


def _tiny(options, config):
    return ColumnData([_clip("tiny")], source="in memory", notes={"frames_note": "five"})


TINY = TestColumn("tiny", "Tiny set", _tiny)


def _fake_embedded(monkeypatch):
    from sofkd_lib import data

    monkeypatch.setattr(data, "load_split", lambda name="embedded", split="train", root=None: [_clip("emb")])


def test_bicubic_is_scored_on_every_column_that_loads(tmp_path, monkeypatch):
    _fake_embedded(monkeypatch)
    options = RecordOptions(run_id="r", profile="smoke", results_root=tmp_path, vid4_root=tmp_path / "none",
                            extra_columns=(TINY,))
    messages: list[str] = []
    data = load_columns(options, variant_config(options, "teacher"), messages.append)
    assert messages == [f"record: Vid4 not found at {tmp_path / 'none'} (set SOFKD_DATA or --vid4); "
                        f"Vid4 evaluation skipped"]
    assert unit_files(options) == ("config.json", "metrics.csv", "weights.pt", "eval_embedded.json",
                                   "eval_vid4.json", "eval_tiny.json", "provenance.json")
    assert unit_files(options, trained=False) == ("config.json", "eval_embedded.json", "eval_vid4.json",
                                                  "eval_tiny.json", "provenance.json")
    record_bicubic(options, data, 4)
    folder = tmp_path / "r" / "bicubic"
    # a skipped column leaves no file: bicubic is scored again once the set is there
    assert sorted(p.name for p in folder.iterdir()) == ["eval_embedded.json", "eval_tiny.json"]
    tiny = json.loads((folder / "eval_tiny.json").read_text())
    assert (tiny["split"], tiny["frames_note"], list(tiny["sequences"])) == ("Tiny set", "five", ["tiny"])
    assert tiny["sequences"]["tiny"]["frames"] == [3]  # frames 3 … n−2 of 5, the authors' protocol
    emb = json.loads((folder / "eval_embedded.json").read_text())
    assert emb["split"] == "embedded test" and "max_frames" not in emb
    assert emb["average"]["psnr"] != tiny["average"]["psnr"]
    before = (folder / "eval_tiny.json").stat().st_mtime_ns
    record_bicubic(options, data, 4)  # every loaded column recorded: nothing scored again
    assert (folder / "eval_tiny.json").stat().st_mtime_ns == before


def test_precision_column_must_load(monkeypatch):
    from sofkd_lib.companion.recording import options as O

    monkeypatch.setattr(O, "TEST_COLUMNS", (TestColumn("emb", "embedded test", lambda o, c: ColumnData(None, "gone")),))
    with pytest.raises(RecordError, match="the embedded test set decides the stored precision and must load: gone"):
        load_columns(RecordOptions(run_id="r", profile="smoke"), None)  # the loader ignores the config


def test_teacher_gain_reads_the_vid4_results(tmp_path):
    options = RecordOptions(run_id="r", profile="smoke", results_root=tmp_path)
    assert teacher_gain(options) is None
    with pytest.raises(RecordError, match=r"must beat bicubic on Vid4 by ≥ 1.0 dB \(no Vid4 result for the teacher\)"):
        check_teacher_gain(options, "phase1")
    for name, psnr in (("teacher", 25.5), ("bicubic", 25.0)):
        (tmp_path / "r" / name).mkdir(parents=True)
        (tmp_path / "r" / name / "eval_vid4.json").write_text(json.dumps({"average": {"psnr": psnr}}))
    assert teacher_gain(options) == pytest.approx(0.5)
    with pytest.raises(RecordError, match=r"not distilling 'phase2'.*\(it beats bicubic by 0.50 dB\)"):
        check_teacher_gain(options, "phase2")
    check_teacher_gain(RecordOptions(run_id="r", profile="smoke", results_root=tmp_path, min_teacher_gain=0.4), "x")
    check_teacher_gain(RecordOptions(run_id="r", profile="smoke", results_root=tmp_path, min_teacher_gain=None), "x")


def test_precision_gap_is_the_largest_difference():
    a = {"average": {"psnr": 30.0}, "sequences": {"s": {"psnr_mean": 29.0}, "t": {"psnr_mean": 31.0}}}
    b = {"average": {"psnr": 30.004}, "sequences": {"s": {"psnr_mean": 29.02}, "t": {"psnr_mean": 31.0}}}
    assert precision_gap(a, b) == pytest.approx(0.02)


