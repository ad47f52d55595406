"""Recorded weights by name: fp16 round trip, index lookup, newest-run rule, errors."""
from __future__ import annotations

import json

import pytest
import torch

from sofkd_lib.companion.recording.evaluate import weights_payload
from sofkd_lib.engine.config import make_config
from sofkd_lib.weights.checkpoint import Architecture, build_model, load_model, save_atomic
from sofkd_lib.weights.pretrained import (
    PretrainedError,
    empty_index,
    list_pretrained,
    pretrained,
    pretrained_path,
    read_index,
    register,
    resolve_checkpoint,
)


def tiny_checkpoint(variant: str = "teacher", seed: int = 0) -> dict:
    torch.manual_seed(seed)
    arch = Architecture(4, 3, 8, 8)
    model = build_model(arch)
    return {"format": "sofkd-train", "version": 1, "variant": variant, "architecture": arch,
            "model": model.state_dict(), "config": make_config("smoke", variant=variant).to_dict(), "iteration": 7}


def write_run(root, run_id: str, date: str, variant: str = "teacher", seed: int = 0):
    ck = tiny_checkpoint(variant, seed)
    path = root / run_id / variant / "weights.pt"
    save_atomic(weights_payload(ck, torch.float16), path)
    index = read_index(root)
    register(index, {"name": f"{variant}-x4", "run_id": run_id, "variant": variant, "scale": 4,
                     "weights": f"{run_id}/{variant}/weights.pt", "date": date})
    (root / "index.json").write_text(json.dumps(index))
    return ck


def test_fp16_round_trip(tmp_path):
    ck = tiny_checkpoint()
    save_atomic(weights_payload(ck, torch.float16), tmp_path / "w.pt")
    stored = torch.load(tmp_path / "w.pt", weights_only=True)
    assert stored["dtype"] == "float16"
    assert all(v.dtype == torch.float16 for v in stored["model"].values())
    model = load_model(tmp_path / "w.pt")
    for key, value in model.state_dict().items():
        assert value.dtype == torch.float32
        # Loading gives back exactly the float16-rounded weights, in float32.
        assert torch.equal(value, ck["model"][key].half().float()), key
    # What record evaluates as "float16" (its float32 last.pt loaded with dtype=float16) is exactly what
    # weights.pt loads to.
    save_atomic({**ck, "architecture": ck["architecture"].to_dict()}, tmp_path / "last.pt")
    evaluated = load_model(tmp_path / "last.pt", dtype=torch.float16)
    assert all(v.dtype == torch.float32 for v in evaluated.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(evaluated.state_dict().values(), model.state_dict().values()))
    # Rounding error is within half an fp16 ulp (relative 2^-11) of each weight.
    w = ck["model"]["srnet.body.0.weight"]
    assert (model.state_dict()["srnet.body.0.weight"] - w).abs().max() <= w.abs().max() * 2.0**-11
    assert not torch.equal(model.state_dict()["srnet.body.0.weight"], w)  # the test would notice no rounding


def test_index_lookup_and_newest_run(tmp_path):
    old = write_run(tmp_path, "run-a", "2026-11-24T10:00:00+00:00", seed=1)
    new = write_run(tmp_path, "run-b", "2026-11-25T10:00:00+00:00", seed=2)
    # An older run recorded afterwards does not take the name back.
    write_run(tmp_path, "run-c", "2026-11-23T10:00:00+00:00", seed=3)
    names = list_pretrained(tmp_path)
    assert list(names) == ["teacher-x4"]
    assert names["teacher-x4"]["run_id"] == "run-b"
    assert pretrained_path("teacher-x4", tmp_path) == tmp_path / "run-b" / "teacher" / "weights.pt"
    model = pretrained("teacher-x4", tmp_path)
    assert not model.training
    w = model.state_dict()["ofrnet.recurrent_flow.0.weight"]
    assert torch.equal(w, new["model"]["ofrnet.recurrent_flow.0.weight"].half().float())
    assert not torch.equal(w, old["model"]["ofrnet.recurrent_flow.0.weight"].half().float())


def test_env_root_and_resolver(tmp_path, monkeypatch):
    write_run(tmp_path, "r1", "2026-11-25T00:00:00+00:00", variant="student")
    monkeypatch.setenv("SOFKD_RECORDED", str(tmp_path))
    assert resolve_checkpoint("pretrained:student-x4") == str(tmp_path / "r1" / "student" / "weights.pt")
    assert resolve_checkpoint("some/file.pt") == "some/file.pt"
    assert resolve_checkpoint("bicubic") == "bicubic"
    assert pretrained("student-x4").ofrnet.recurrent_features[0].out_channels == 8


def test_unknown_name_lists_available(tmp_path):
    write_run(tmp_path, "r1", "2026-11-25T00:00:00+00:00", variant="teacher")
    write_run(tmp_path, "r1", "2026-11-25T00:00:00+00:00", variant="phase1")
    with pytest.raises(PretrainedError, match=r"'teacher-x2'.*available: phase1-x4, teacher-x4"):
        pretrained("teacher-x2", tmp_path)
    with pytest.raises(PretrainedError, match="available: phase1-x4, teacher-x4"):
        resolve_checkpoint("pretrained:nope", tmp_path)


def test_no_run_recorded_yet(tmp_path):
    assert read_index(tmp_path) == empty_index()
    with pytest.raises(PretrainedError, match="no run is recorded yet"):
        pretrained("teacher-x4", tmp_path)


def test_missing_weights_and_bad_index(tmp_path):
    write_run(tmp_path, "r1", "2026-11-25T00:00:00+00:00")
    (tmp_path / "r1" / "teacher" / "weights.pt").unlink()
    with pytest.raises(PretrainedError, match="missing"):
        pretrained_path("teacher-x4", tmp_path)
    (tmp_path / "index.json").write_text('{"format": "other"}')
    with pytest.raises(PretrainedError, match="not a recorded-runs index"):
        list_pretrained(tmp_path)


def test_no_complete_run_gives_no_recorded_results(tmp_path):
    from sofkd_lib.weights.pretrained import complete_runs, recorded_results

    assert complete_runs(tmp_path) == [] and recorded_results(root=tmp_path) is None


def test_recorded_results_carry_provenance_caveats():
    """The shipped H100 run's phase2 / phase1+2 were trained on the pre-fix Eq. 8; the results say so."""
    from sofkd_lib.weights.pretrained import recorded_results

    rec = recorded_results("2026-11-25-h100")
    assert set(rec["caveats"]) == {"phase2", "phase1+2"}
    assert all("L_KD-SR" in text and "1c84602" in text for text in rec["caveats"].values())
    assert "caveats" not in recorded_results("2026-11-25-cpu-warm")
