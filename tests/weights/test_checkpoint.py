"""The one model loader (weights.checkpoint.load_model) and the one atomic writer (data.io.write_atomic).

Every accepted source must give back, bit for bit, the tensors the file holds (the
"before" path of issue 15 loaded exactly these; see results/recorded hashes in the
issue's notes); errors name the file and what differs.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.data.io import json_ready, write_atomic, write_json_atomic, write_text_atomic
from sofkd_lib.engine.config import make_config
from sofkd_lib.settings import REPO_ROOT
from sofkd_lib.weights.checkpoint import (
    Architecture,
    CheckpointError,
    architecture_from_state,
    architecture_of,
    build_model,
    load_model,
    save_atomic,
)
from sofkd_lib.weights.official import _PREFIXES, load_official, ours_key_to_official
from sofkd_lib.weights.pretrained import RECORDED_ENV
from tests.conftest import require


def _same(model: SOFVSR, state: dict[str, torch.Tensor]) -> bool:
    ours = model.state_dict()
    return set(ours) == set(state) and all(torch.equal(ours[k], state[k].float()) for k in state)


def _train_file(path, model: SOFVSR, variant: str = "phase1", dtype: torch.dtype | None = None):
    arch = architecture_of(model)
    state = {k: v.to(dtype) if dtype else v for k, v in model.state_dict().items()}
    save_atomic({"format": "sofkd-train", "version": 1, "variant": variant, "architecture": arch.to_dict(),
                 "model": state, "config": make_config("smoke", variant=variant).to_dict(), "iteration": 3}, path)
    return state


def _authors_layout(model: SOFVSR) -> dict[str, torch.Tensor]:
    return {ours_key_to_official(k): v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def hybrid():
    """A phase-1-like model: a wider OFRnet (12 ch) before a narrower SRnet (8 ch), x2."""
    return build_model(Architecture(2, 3, 12, 8))


def test_training_checkpoint_and_bare_state_dicts_give_the_file_s_tensors(tmp_path, hybrid):
    state = _train_file(tmp_path / "last.pt", hybrid)
    model, checkpoint = load_model(tmp_path / "last.pt", with_checkpoint=True)
    assert _same(model, state) and not model.training
    assert checkpoint["variant"] == "phase1" and checkpoint["iteration"] == 3
    assert checkpoint["architecture"] == Architecture(2, 3, 12, 8)
    # The same weights as a plain state dict, and under each usual key: the widths come from the shapes.
    for i, layout in enumerate([state, {"model": state}, {"state_dict": state, "step": 9}, {"ema": state}]):
        torch.save(layout, tmp_path / f"bare{i}.pt")
        bare, none = load_model(tmp_path / f"bare{i}.pt", with_checkpoint=True)
        assert none is None and _same(bare, state) and architecture_of(bare) == Architecture(2, 3, 12, 8)


def test_recorded_float16_weights_and_the_dtype_cast(tmp_path, monkeypatch, hybrid):
    state32 = hybrid.state_dict()
    _train_file(tmp_path / "r1" / "phase1" / "weights.pt", hybrid, dtype=torch.float16)
    model = load_model(tmp_path / "r1" / "phase1" / "weights.pt")
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())  # computes in float32
    assert all(torch.equal(model.state_dict()[k], v.half().float()) for k, v in state32.items())
    # dtype=float16 on the float32 file gives exactly what the float16 file holds (what record evaluates).
    _train_file(tmp_path / "last.pt", hybrid)
    rounded = load_model(tmp_path / "last.pt", dtype=torch.float16)
    assert all(torch.equal(rounded.state_dict()[k], model.state_dict()[k]) for k in state32)
    assert not torch.equal(rounded.state_dict()["srnet.body.0.weight"], state32["srnet.body.0.weight"])
    # pretrained:NAME is the same file.
    (tmp_path / "index.json").write_text(json.dumps({
        "format": "sofkd-recorded-index", "version": 1, "runs": {"r1": {"date": "2026-12-01"}},
        "names": {"phase1-x2": {"run_id": "r1", "variant": "phase1", "scale": 2, "date": "2026-12-01",
                                "weights": "r1/phase1/weights.pt"}}}))
    monkeypatch.setenv(RECORDED_ENV, str(tmp_path))
    named = load_model("pretrained:phase1-x2")
    assert all(torch.equal(named.state_dict()[k], v) for k, v in model.state_dict().items())


def test_authors_layout_is_detected_or_forced(tmp_path):
    src = SOFVSR(3, 16)
    torch.save(_authors_layout(src), tmp_path / "x3.pth")
    detected = load_model(tmp_path / "x3.pth")  # official=None: the OFR./SR. keys say what it is
    forced = load_model(tmp_path / "x3.pth", official=True)
    for model in (detected, forced, load_official(tmp_path / "x3.pth")):
        assert model.scale == 3 and _same(model, src.state_dict())
    with pytest.raises(CheckpointError, match=r"x3.pth: no SOFVSR state dict .*for the authors' .pth files add --official"):
        load_model(tmp_path / "x3.pth", official=False)
    with pytest.raises(CheckpointError, match=r"x3.pth holds SOF-VSR weights for scale x3, not the requested x4; "
                                              r"pass --scale 3"):
        load_model(tmp_path / "x3.pth", scale=4)
    torch.save(src.state_dict(), tmp_path / "ours.pt")
    with pytest.raises(CheckpointError, match="ours.pt is a sofkd checkpoint, not one of the authors' releases"):
        load_model(tmp_path / "ours.pt", official=True)


def test_model_in_memory_is_returned_as_is_after_the_check(hybrid):
    assert load_model(hybrid) is hybrid
    assert load_model(hybrid, expect=Architecture(2, 3, 12, 8), with_checkpoint=True) == (hybrid, None)
    with pytest.raises(CheckpointError, match=r"^teacher: wrong architecture \(ofrnet_channels is 12, expected 8\)"):
        load_model(hybrid, expect=Architecture(2, 3, 8, 8), role="teacher")
    with pytest.raises(CheckpointError, match="model upscales x2, not the requested x4"):
        load_model(hybrid, scale=4)
    with pytest.raises(ValueError, match="dtype applies to weights read from a file"):
        load_model(hybrid, dtype=torch.float16)


def test_expect_mismatch_names_the_file_and_each_differing_field(tmp_path, hybrid):
    _train_file(tmp_path / "p1.pt", hybrid)
    with pytest.raises(CheckpointError, match=r"p1.pt: wrong architecture \(scale is 2, expected 4; "
                                              r"ofrnet_channels is 12, expected 8\); it holds x2, 3 frames, "
                                              r"OFRnet 12 ch, SRnet 8 ch"):
        load_model(tmp_path / "p1.pt", expect=Architecture(4, 3, 8, 8))
    with pytest.raises(CheckpointError, match=r"^init \S*p1.pt: wrong architecture \(srnet_channels is 8, expected 4\)"):
        load_model(tmp_path / "p1.pt", expect=Architecture(2, 3, 12, 4), role="init")
    with pytest.raises(CheckpointError, match=r"^teacher: checkpoint not found: \S*absent.pt$"):
        load_model(tmp_path / "absent.pt", role="teacher")
    with pytest.raises(CheckpointError, match=r"p1.pt was trained for x2, not x3; pass --scale 2"):
        load_model(tmp_path / "p1.pt", scale=3)


def test_non_finite_and_misshapen_weights_are_refused_naming_the_file(tmp_path):
    state = SOFVSR(2, 8).state_dict()
    state["ofrnet.recurrent_flow.0.weight"][0, 0, 0, 0] = float("inf")
    torch.save(_authors_layout_of_state(state), tmp_path / "inf.pth")
    with pytest.raises(CheckpointError, match=r"inf.pth: 1 of 50 weight tensors hold NaN or inf \(first 'OFR.RNN2.0"):
        load_model(tmp_path / "inf.pth")
    state = SOFVSR(2, 8).state_dict()
    state["ofrnet.recurrent_flow.0.weight"] = torch.zeros(2, 8, 1, 1)
    torch.save({"model": state}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"shape.pt: shape of 'ofrnet.recurrent_flow.0.weight' is \(2, 8, 1, 1\)"):
        load_model(tmp_path / "shape.pt")


def _authors_layout_of_state(state):
    return {ours_key_to_official(k): v for k, v in state.items()}


@pytest.mark.parametrize("arch", [Architecture(4, 3, 320, 240), Architecture(3, 5, 16, 16), Architecture(2, 3, 8, 12)])
def test_architecture_from_state_reads_both_widths(arch):
    assert architecture_from_state(build_model(arch).state_dict()) == arch


def test_official_x2_release_through_the_loader(shared_data):
    path = require(shared_data / "sofvsr_official" / "BI_x2.pth")
    raw = torch.load(path, map_location="cpu", weights_only=True)  # the release was saved from a GPU
    model = load_model(path)  # detected, scale read from the file
    assert architecture_of(model) == Architecture(2, 3, 320, 320)
    inverse = dict((ours, theirs) for theirs, ours in _PREFIXES)
    assert len(raw) == len(model.state_dict()) == 50
    for key, value in model.state_dict().items():
        theirs = next(t + key[len(o):] for o, t in inverse.items() if key.startswith(o))
        assert torch.equal(value, raw[theirs]), key
    with pytest.raises(CheckpointError, match=r"wrong architecture \(scale is 2, expected 4\)"):
        load_model(path, expect=Architecture(4, 3, 320, 320), role="teacher")


# --------------------------------------------------------------------------- the one atomic writer
def test_a_failing_write_leaves_neither_target_nor_temporary(tmp_path):
    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "new.json", fail)
    assert list(tmp_path.iterdir()) == []
    write_text_atomic(tmp_path / "old.txt", "old\n")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "old.txt", fail, fsync=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"] and (tmp_path / "old.txt").read_text() == "old\n"


def test_write_keeps_the_suffix_and_usual_permissions(tmp_path):
    seen = []
    out = write_atomic(tmp_path / "sub" / "a.npy", lambda tmp: (seen.append(tmp.suffix), tmp.write_bytes(b"x")),
                       fsync=True)
    assert seen == [".npy"] and out.read_bytes() == b"x"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_json_nan_becomes_null_or_an_error(tmp_path):
    data = {"psnr": float("nan"), "epe": [1.5, float("inf"), -float("inf")], 3: (tmp_path / "x", "é")}
    assert json_ready(data) == {"psnr": None, "epe": [1.5, None, None], "3": [str(tmp_path / "x"), "é"]}
    path = write_json_atomic(tmp_path / "r.json", data, indent=2)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '"é"' in text and "NaN" not in text
    assert json.loads(text)["epe"] == [1.5, None, None]
    with pytest.raises(ValueError, match=r"r.json: not written, the data holds a number JSON cannot store"):
        write_json_atomic(tmp_path / "r.json", {"psnr": float("nan")}, non_finite="error")
    assert json.loads((tmp_path / "r.json").read_text())["psnr"] is None  # the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_checkpoint_write_that_runs_out_of_space_is_an_oserror_naming_the_file(tmp_path):
    """A real failed write: a child process may write at most 64 KiB per file (RLIMIT_FSIZE, as a full disk
    would stop it). torch.save given a path reported it as a RuntimeError ("unexpected pos …"); now
    it is an OSError naming the checkpoint, the old file kept, no temporary left."""
    script = """
import json, os, resource, signal, sys, torch
from sofkd_lib.weights.checkpoint import save_atomic
path = sys.argv[1]
save_atomic({"iteration": 1}, path)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    save_atomic({"iteration": 2, "model": torch.zeros(1 << 16)}, path)
    print(json.dumps({"raised": None}))
except BaseException as exc:
    print(json.dumps({"raised": type(exc).__name__, "errno": getattr(exc, "errno", None),
                      "filename": getattr(exc, "filename", None)}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    path = tmp_path / "last.pt"
    proc = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"raised": "OSError", "errno": errno.EFBIG,
                                                         "filename": str(path)}
    assert torch.load(path, weights_only=True) == {"iteration": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
