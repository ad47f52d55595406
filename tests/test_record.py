"""Recorded runs at smoke size: every file written, the index, the teacher gate, resuming."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sofkd_lib.config import VARIANTS
from sofkd_lib.pretrained import (
    PretrainedError, complete_runs, list_pretrained, pretrained, recorded_label, recorded_model, recorded_results,
)
from sofkd_lib.record import (
    VARIANT_FILES, RecordError, RecordOptions, precision_gap, record, repeat_command, with_dependencies,
)

TINY = {"teacher_channels": 8, "student_channels": 4, "iterations": 2, "val_every": 0}


def fake_vid4(root, n_frames: int = 6, h: int = 48, w: int = 64):
    """One smooth moving sequence in the Vid4 layout ROOT/<seq>/hr/*.png."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(base).resize((8 * (w // 8 + 2), 8 * (h // 8 + 2)), Image.BICUBIC))
    folder = root / "seq" / "hr"
    folder.mkdir(parents=True)
    for t in range(n_frames):
        Image.fromarray(np.ascontiguousarray(big[t : t + h, t : t + w])).save(folder / f"hr_{t + 1:02d}.png")
    return root


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


def test_precision_gap_is_the_largest_difference():
    a = {"average": {"psnr": 30.0}, "sequences": {"s": {"psnr_mean": 29.0}, "t": {"psnr_mean": 31.0}}}
    b = {"average": {"psnr": 30.004}, "sequences": {"s": {"psnr_mean": 29.02}, "t": {"psnr_mean": 31.0}}}
    assert precision_gap(a, b) == pytest.approx(0.02)


@pytest.mark.slow
def test_record_smoke_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFKD_RECORDED", str(tmp_path / "results"))
    options = dict(run_id="smoke-run", profile="smoke", overrides=TINY, work_root=tmp_path / "work",
                   vid4_root=fake_vid4(tmp_path / "vid4"), quiet=True, command="pytest")
    messages: list[str] = []
    # The gate: a 2-step teacher is no better than bicubic, so phase1 is refused (after the teacher is recorded).
    with pytest.raises(RecordError, match="must beat bicubic on Vid4 by ≥ 1.0 dB"):
        record(RecordOptions(**options, variants=("phase1",)), log=messages.append)
    root = tmp_path / "results"
    assert sorted(p.name for p in (root / "smoke-run").iterdir()) == ["bicubic", "teacher"]

    done = record(RecordOptions(**options, min_teacher_gain=None), log=messages.append)
    assert list(done) == list(VARIANTS)
    assert "teacher: already recorded in" in " ".join(messages)  # resumed, not retrained
    for variant in VARIANTS:
        folder = root / "smoke-run" / variant
        for name in VARIANT_FILES:
            assert (folder / name).is_file(), f"{variant}/{name}"
        prov = json.loads((folder / "provenance.json").read_text())
        assert prov["budget"]["iterations"] == 2 and prov["variant"] == variant
        assert prov["hardware"]["torch"] == torch.__version__
        assert prov["hardware"]["cpu_count"] >= 1 and "commit" in prov["git"]
        assert prov["training_seconds"] > 0 and prov["date"].endswith("+00:00")
        emb = json.loads((folder / "eval_embedded.json").read_text())
        check = emb["precision_check"]
        stored = "float16" if check["max_abs_psnr_gap_db"] <= 0.01 else "float32"
        assert check["stored"] == stored == prov["weights_dtype"]
        assert emb["average"]["psnr"] == check[stored]["average"]["psnr"]
        vid4 = json.loads((folder / "eval_vid4.json").read_text())
        assert list(vid4["sequences"]) == ["seq"] and vid4["sequences"]["seq"]["frames"] == [3, 4]
        assert json.loads((folder / "config.json").read_text())["student_channels"] == 4
        weights = torch.load(folder / "weights.pt", weights_only=True)
        assert {str(v.dtype) for v in weights["model"].values()} == {f"torch.{stored}"}
        assert "optimizer" not in weights
    assert (root / "smoke-run" / "bicubic" / "eval_vid4.json").is_file()
    names = list_pretrained(root)
    assert sorted(names) == sorted(f"{v}-x4" for v in VARIANTS)
    assert pretrained("phase1+2-x4").srnet.body[0].out_channels == 4
    # phase1+2 keeps phase 1's SRnet: the recorded weights say so.
    p1 = torch.load(root / "smoke-run" / "phase1" / "weights.pt", weights_only=True)["model"]
    p12 = torch.load(root / "smoke-run" / "phase1+2" / "weights.pt", weights_only=True)["model"]
    assert all(torch.equal(p1[k], p12[k]) for k in p1 if k.startswith("srnet."))
    # The whole run in the results.json layout (the book's Table 1 "recorded" column group).
    assert complete_runs(root) == ["smoke-run"]
    rec = recorded_results(root=root)
    assert rec["run_id"] == "smoke-run" and rec["profile"] == "smoke"
    assert set(rec["datasets"]["vid4"]["models"]) == {"bicubic", *VARIANTS}
    assert set(rec["datasets"]["embedded"]["models"]) == {"bicubic", *VARIANTS}
    assert rec["budget"]["phase1"]["iterations"] == 2 and rec["budget"]["phase1"]["trained_on"] == "CPU"
    assert recorded_label(rec).startswith("recorded run smoke-run (smoke profile, batch ")
    assert recorded_model("smoke-run", "phase1+2", root).srnet.body[0].out_channels == 4
    with pytest.raises(PretrainedError, match="no recorded run 'nope'"):
        recorded_results("nope", root)
    readme = (root / "README.md").read_text()
    assert "## smoke-run" in readme and repeat_command(RecordOptions(**options, min_teacher_gain=None)) in readme
    assert "--min-teacher-gain none" in readme
    assert "| teacher | " in readme and "| bicubic | " in readme and "| | seq | average |" in readme


def test_cli_vid4_absent_is_recorded(tmp_path, capsys):
    from sofkd_lib.cli import main

    results = tmp_path / "res"
    argv = ["record", "--run-id", "no-vid4", "--profile", "smoke", *(f"{k}={v}" for k, v in TINY.items()),
            "--variants", "teacher", "--work", str(tmp_path / "work"), "--results", str(results),
            "--vid4", str(tmp_path / "missing"), "--quiet"]
    assert main(argv) == 0
    vid4 = json.loads((results / "no-vid4" / "teacher" / "eval_vid4.json").read_text())
    assert vid4 == {"skipped": f"Vid4 not found at {tmp_path / 'missing'} (set SOFKD_DATA or --vid4)"}
    assert "skipped: Vid4 not found" in (results / "README.md").read_text()
    prov = json.loads((results / "no-vid4" / "teacher" / "provenance.json").read_text())
    assert prov["command"].startswith("python -m sofkd_lib record --run-id no-vid4")
    assert prov["repeat"] == ("python -m sofkd_lib record --run-id no-vid4 --profile smoke teacher_channels=8 "
                              "student_channels=4 iterations=2 val_every=0 --variants teacher")
    assert main([*argv, "--min-teacher-gain", "x"]) == 2
    assert "--min-teacher-gain must be a number" in capsys.readouterr().err
    assert main([*argv[:5], "lr=-1", *argv[5:]]) == 2
    assert "TrainConfig.lr must be a positive number" in capsys.readouterr().err


def test_train_only_then_record_and_config_guard(tmp_path):
    """Train on one machine (--train-only: nothing recorded), record on another; other overrides are refused."""
    from sofkd_lib.cli import main

    results, work = tmp_path / "res", tmp_path / "work"
    base = ["record", "--run-id", "split", "--profile", "smoke", *(f"{k}={v}" for k, v in TINY.items()),
            "--variants", "teacher", "--work", str(work), "--results", str(results),
            "--vid4", str(tmp_path / "missing"), "--quiet"]
    assert main([*base, "--train-only"]) == 0
    assert (work / "split" / "teacher" / "last.pt").is_file() and not results.exists()
    wall = json.loads((work / "split" / "teacher" / "record_wall.json").read_text())
    assert wall["invocations"][0]["hardware"]["torch"] == torch.__version__
    before = (work / "split" / "teacher" / "last.pt").read_bytes()
    # Different overrides resolve another config: the checkpoint is not recorded under it.
    wrong = [a if a != "student_channels=4" else "student_channels=6" for a in base]
    assert main(wrong) == 2
    assert not (results / "split" / "teacher" / "provenance.json").exists()
    assert main([*base, "--set", "compile=true"]) == 0  # a speed setting is no other config: finds the run
    # finished, evaluates and records it, no retraining
    assert (work / "split" / "teacher" / "last.pt").read_bytes() == before
    prov = json.loads((results / "split" / "teacher" / "provenance.json").read_text())
    assert prov["training_invocations"][0]["hardware"]["cpu_count"] >= 1 and prov["budget"]["iterations"] == 2
    # A KD variant trains only behind a teacher that beats bicubic on Vid4 (here: no Vid4 result at all).
    kd = [a if a != "teacher" else "phase1" for a in base]
    assert main([*kd, "--train-only"]) == 2
    assert not (work / "split" / "phase1").exists()
