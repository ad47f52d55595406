"""Bad input to every command (issue 18): one line on stderr naming the culprit, exit status 2, no partial output.

The table runs ``python -m sofkd_lib …`` in process (``sofkd_lib.cli.main.main``) on tiny
inputs made here: 5 frames of 32×32, x2 models of 8 channels, a 320-channel x2 file
in the authors' layout, a recorded-runs folder holding tiny ``teacher-x4`` and
``phase1-x4`` weights. Where a row also passes a bad checkpoint, its message proves
that the output location was checked first, before any loading or work.
"""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.cli.main import main
from sofkd_lib.companion.pipeline import RUNS_ENV
from sofkd_lib.engine.config import make_config
from sofkd_lib.settings import REPO_ROOT
from sofkd_lib.weights.checkpoint import (
    Architecture,
    CheckpointError,
    build_model,
    load_model,
    load_weights_file,
    save_atomic,
)
from sofkd_lib.weights.official import _PREFIXES, load_official
from sofkd_lib.weights.pretrained import RECORDED_ENV
from tests.special_files import identity, make_special

FRAMES, SIZE = 5, 32


class Evil:
    """A pickled object whose unpickling would call a function: here a harmless print."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


def _official_layout(model: SOFVSR) -> dict[str, torch.Tensor]:
    inverse = {ours: theirs for theirs, ours in _PREFIXES}
    return {theirs + k[len(ours):]: v.clone() for k, v in model.state_dict().items()
            for ours, theirs in inverse.items() if k.startswith(ours)}


def _train_payload(model: SOFVSR, variant: str) -> dict:
    arch = Architecture(4, 3, model.ofrnet.recurrent_features[0].out_channels, model.srnet.body[0].out_channels)
    return {"format": "sofkd-train", "version": 1, "variant": variant, "architecture": arch.to_dict(),
            "model": model.state_dict(), "config": make_config("smoke", variant=variant).to_dict(), "iteration": 1}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Every input the table names, made once: {name: path}."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    frames = root / "frames"
    frames.mkdir()
    for i in range(FRAMES):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(frames / f"f{i + 1}.png")
    data = root / "data" / "s1"  # a one-sequence dataset folder for evaluate
    data.mkdir(parents=True)
    for f in frames.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    paths = {"frames": frames, "data": data.parent}
    # Frame 3 of 5 corrupt / of another size / two frames only / one transparent frame.
    for name, change in (("corrupt", "bytes"), ("resized", "size"), ("short", "count"), ("alpha", "alpha")):
        folder = root / name
        folder.mkdir()
        for f in frames.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        if change == "bytes":
            (folder / "f3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
        elif change == "size":
            Image.fromarray(np.zeros((SIZE + 2, SIZE, 3), np.uint8)).save(folder / "f3.png")
        elif change == "count":
            for f in ("f3.png", "f4.png", "f5.png"):
                (folder / f).unlink()
        else:
            Image.fromarray(np.zeros((SIZE, SIZE, 4), np.uint8)).save(folder / "f3.png")
        paths[name] = folder
    torch.manual_seed(0)
    good = SOFVSR(2, 8).state_dict()
    torch.save({"model": good}, root / "tiny.pt")
    nan = {k: v.clone() for k, v in good.items()}
    nan["srnet.body.3.weight"][0, 0, 0, 0] = float("nan")
    torch.save({"model": nan}, root / "nan.pt")
    # Finite weights whose output is not: the first SRnet conv overflows float32.
    overflow = {k: v.clone() for k, v in good.items()}
    overflow["srnet.body.0.weight"].fill_(3e38)
    torch.save({"model": overflow}, root / "overflow.pt")
    (root / "zero.pt").write_bytes(b"")
    (root / "random.pt").write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
    torch.save({"model": good, "hook": Evil()}, root / "evil.pt")
    torch.save(_official_layout(SOFVSR(2)), root / "BI_x2.pth")
    (root / "afile").write_text("a file, not a folder\n")
    (root / "oldrun").mkdir()
    (root / "oldrun" / "last.pt").write_bytes(b"")  # any last.pt makes a run folder
    # Recorded weights by name: a tiny teacher and the phase-1 model trained from it.
    rec = root / "recorded"
    teacher = build_model(Architecture(4, 3, 8, 8))
    phase1 = build_model(Architecture(4, 3, 8, 4))
    phase1.ofrnet.load_state_dict(teacher.ofrnet.state_dict())
    index = {"format": "sofkd-recorded-index", "version": 1, "names": {}, "runs": {"r1": {"date": "2026-12-01"}}}
    for variant, model in (("teacher", teacher), ("phase1", phase1)):
        save_atomic(_train_payload(model, variant), rec / "r1" / variant / "weights.pt")
        index["names"][f"{variant}-x4"] = {"run_id": "r1", "variant": variant, "scale": 4, "date": "2026-12-01",
                                           "weights": f"r1/{variant}/weights.pt"}
    (rec / "index.json").write_text(json.dumps(index))
    for name in ("tiny.pt", "nan.pt", "overflow.pt", "zero.pt", "random.pt", "evil.pt", "BI_x2.pth", "afile",
                 "oldrun", "recorded"):
        paths[Path(name).stem] = root / name
    paths.update(_inputs_29b(root))
    # issue 29: outputs that are not regular files, and run folders another live process holds
    paths.update(make_special(root / "special"))  # chardev (as root), fifo, symlink, dangling
    (root / "linkrun").mkdir()
    (root / "linkrun" / "last.pt").symlink_to(root / "tiny.pt")
    holder = f"{os.getppid()} {socket.gethostname()}\n"  # pytest's parent: alive while the table runs
    for run in ("heldrun", "heldwork/r/teacher"):
        (root / run).mkdir(parents=True)
        (root / run / ".lock").write_text(holder)
    paths.update(linkrun=root / "linkrun", heldrun=root / "heldrun", heldwork=root / "heldwork", ppid=os.getppid())
    return {k: str(v) for k, v in paths.items()}


SPECIAL = ("chardev", "fifo", "symlink", "dangling", "linkrun/last.pt", "heldrun/.lock", "heldwork/r/teacher/.lock")


@dataclass(frozen=True)
class Case:
    """One row: the command line (``{name}`` from ``env``, ``{out}`` a fresh folder), what must come out."""

    id: str
    argv: str
    status: int
    fragment: str
    absent: tuple[str, ...] = ()  # outputs that must not exist afterwards
    once: str = ""  # a path the message must name exactly once


TINY = ["--checkpoint", "{tiny}", "--scale", "2"]
EVAL = "evaluate --data {data} --no-progress"
UP = "upscale {frames} --no-progress"
TRAIN = "train --profile smoke --dataset synthetic --quiet --iterations 1 --set val_every=0"
TRAIN_TINY = TRAIN + " --set teacher_channels=8 --set student_channels=4 --patch-size 8"
SR_OUT = "{out}/sr"

CASES = [
    # 1. a diverging run keeps no non-finite checkpoint (the repro, on synthetic batches)
    Case("1-nan-run-keeps-no-checkpoint",  # tiny widths: Adam's first step of lr 1e39 overflows any width
         "train --variant teacher --profile smoke --out {out}/run --lr 1e39 --set checkpoint_every=1 --iterations 8 "
         "--set val_every=0 --dataset synthetic --quiet --set teacher_channels=8 --patch-size 8",
         2, "non-finite weights after iteration 1", ("{out}/run/last.pt", "{out}/run/best.pt")),
    # 2. non-finite weights or outputs are refused, never scored
    Case("2-evaluate-nan-weights", EVAL + " --checkpoint {nan} --output {out}/r.json", 2,
         "1 of 50 weight tensors hold NaN or inf (first 'srnet.body.3.weight')", ("{out}/r.json",), "{nan}"),
    Case("2-evaluate-nonfinite-output", EVAL + " --checkpoint {overflow} --output {out}/r.json", 2,
         "output for sequence 's1' frame 3 holds NaN or inf", ("{out}/r.json",)),
    Case("2-upscale-nan-weights", UP + " -o {out}/sr --checkpoint {nan}", 2, "hold NaN or inf", (SR_OUT,)),
    Case("2-upscale-nonfinite-output", UP + " -o {out}/sr --checkpoint {overflow}", 2,
         "output for frame 1 (f1_x2) holds NaN or inf", (SR_OUT,)),
    Case("2-export-nan-weights", "export --checkpoint {nan} --onnx {out}/m.onnx", 2, "hold NaN or inf",
         ("{out}/m.onnx",)),
    # 3. and 5. every output location is checked before the work (a bad checkpoint is not even read)
    Case("3-evaluate-output-is-a-folder", EVAL + " --checkpoint {nan} --output {out}", 2,
         "--output {out} is an existing folder; give a file name"),
    Case("3-evaluate-output-in-a-file", EVAL + " --checkpoint {nan} --output {afile}/r.json", 2,
         "{afile} is a file, so no folder can be made inside it"),
    Case("5-upscale-output-in-a-file", UP + " -o {afile}/sr --checkpoint {nan}", 2,
         "-o/--output {afile}/sr: {afile} is a file"),
    Case("5-upscale-video-in-a-file", UP + " -o {out}/sr --video {afile}/v.mp4 --checkpoint {nan}", 2,
         "--video {afile}/v.mp4: {afile} is a file", (SR_OUT,)),
    Case("5-train-out-in-a-file", TRAIN + " --variant teacher --out {afile}/run", 2, "--out {afile}/run: {afile} is a file"),
    Case("5-export-onnx-in-a-file", "export --checkpoint {nan} --onnx {afile}/m.onnx", 2, "--onnx {afile}/m.onnx: {afile}"),
    Case("5-export-onnx-is-a-folder", "export --checkpoint {nan} --onnx {out}", 2, "is an existing folder"),
    # 4. export: zero-byte checkpoint, another scale than the file's, odd size
    Case("4-export-zero-byte", "export --checkpoint {zero} --onnx {out}/m.onnx", 2,
         "checkpoint {zero} is empty (0 bytes)", ("{out}/m.onnx",)),
    Case("4-export-official-wrong-scale", "export --checkpoint {BI_x2} --official --scale 4 --onnx {out}/m.onnx", 2,
         "holds SOF-VSR weights for scale x2, not the requested x4; pass --scale 2", ("{out}/m.onnx",), "{BI_x2}"),
    Case("4-export-odd-height", "export --checkpoint {tiny} --height 7 --onnx {out}/m.onnx", 2,
         "argument --height: must be even and at least 4, got 7", ("{out}/m.onnx",)),
    # 6. unknown recorded names
    Case("6-upscale-unknown-pretrained", UP + " -o {out}/sr --checkpoint pretrained:nope", 2,
         "no recorded weights named 'nope'", (SR_OUT,)),
    Case("6-evaluate-unknown-pretrained", EVAL + " --checkpoint pretrained:nope", 2,
         "available: phase1-x4, teacher-x4"),
    Case("6-export-unknown-pretrained", "export --checkpoint pretrained:nope --onnx {out}/m.onnx", 2,
         "no recorded weights named 'nope'", ("{out}/m.onnx",)),
    Case("6-train-unknown-pretrained", TRAIN_TINY + " --variant phase1 --teacher pretrained:nope --out {out}/run", 2,
         "no recorded weights named 'nope'", ("{out}/run/last.pt",)),
    # 7. recorded weights by name wherever a checkpoint is taken
    Case("7-train-teacher-pretrained", TRAIN_TINY + " --variant phase1 --teacher pretrained:teacher-x4 --out {out}/run",
         0, "phase1: 1/1 iterations"),
    Case("7-train-init-pretrained", TRAIN_TINY + " --variant phase1+2 --teacher pretrained:teacher-x4 "
         "--init pretrained:phase1-x4 --out {out}/run", 0, "phase1+2: 1/1 iterations"),
    # 8. a pickle that would run code is refused, by every loader
    Case("8-evaluate-code-in-pickle", EVAL + " --checkpoint {evil}", 2,
         "refused to load checkpoint {evil}: it holds a Python object (print) that would run code", (), "{evil}"),
    Case("8-evaluate-official-code-in-pickle", EVAL + " --checkpoint {evil} --official", 2,
         "refused to load official SOF-VSR checkpoint {evil}"),
    Case("8-export-code-in-pickle", "export --checkpoint {evil} --onnx {out}/m.onnx", 2, "refused to load checkpoint",
         ("{out}/m.onnx",)),
    Case("8-train-teacher-code-in-pickle", TRAIN_TINY + " --variant phase1 --teacher {evil} --out {out}/run", 2,
         "refused to load"),
    # rough edges: every input frame checked before the first output
    Case("r-upscale-corrupt-frame-3", "upscale {corrupt} -o {out}/sr --checkpoint bicubic --no-progress", 2,
         "cannot read image {corrupt}/f3.png", (SR_OUT,)),
    Case("r-upscale-frame-3-other-size", "upscale {resized} -o {out}/sr --checkpoint bicubic --no-progress", 2,
         "f1.png is 32×32 but {resized}/f3.png is 32×34", (SR_OUT,)),
    Case("r-upscale-too-few-frames", "upscale {short} -o {out}/sr --checkpoint bicubic --no-progress", 2,
         "found 2 image frame(s)", (SR_OUT,)),
    # rough edges: messages with something after the colon, paths once, parameters named
    Case("r-evaluate-zero-byte", EVAL + " --checkpoint {zero}", 2, "is empty (0 bytes); copy or download it again"),
    Case("r-evaluate-random-bytes", EVAL + " --checkpoint {random}", 2,
         "cannot read checkpoint {random}: not a PyTorch weights file (unpickling stopped: Unsupported operand"),
    Case("r-evaluate-path-once", EVAL + " --checkpoint {BI_x2} --official --scale 4", 2,
         "holds SOF-VSR weights for scale x2", (), "{BI_x2}"),
    Case("r-evaluate-max-frames-0", EVAL + " --checkpoint bicubic --max-frames 0", 2,
         "argument --max-frames: must be at least 1, got 0"),
    Case("r-train-out-is-a-file", TRAIN + " --variant teacher --out {afile}", 2,
         "--out {afile} is an existing file, not a folder"),
    Case("r-official-x2-without-scale", EVAL + " --checkpoint {BI_x2} --official --output {out}/r.json", 0,
         "SOFVSR(x2, 320 ch, 3 frames)"),
    # already handled before issue 18, kept so
    Case("h-config-bad-type", TRAIN + " --variant teacher --out {out}/run --set batch_size=abc", 2,
         "TrainConfig.batch_size must be int, got 'abc'", ("{out}/run",)),
    Case("h-config-unknown-field", TRAIN + " --variant teacher --out {out}/run --set nope=1", 2,
         "unknown TrainConfig field(s) ['nope']", ("{out}/run",)),
    Case("h-teacher-wrong-architecture", TRAIN + " --variant phase1 --teacher pretrained:teacher-x4 --out {out}/run",
         2, "wrong architecture (ofrnet_channels is 8, expected 320", ("{out}/run/last.pt",)),
    Case("h-existing-run", TRAIN_TINY + " --variant teacher --out {oldrun}", 2, "already holds a run (last.pt)"),
    Case("h-resume-without-run", TRAIN_TINY + " --variant teacher --out {out}/run --resume", 2,
         "cannot resume: {out}/run/last.pt not found"),
    Case("h-evaluate-other-scale", EVAL + " --checkpoint {tiny} --scale 4", 2,
         "{tiny} was trained for x2, not x4; pass --scale 2 or leave --scale out"),
    Case("h-evaluate-official-flag-on-ours", EVAL + " --checkpoint {tiny} --official", 2,
         "{tiny} is a sofkd checkpoint, not one of the authors' releases: leave out --official"),
    Case("h-evaluate-authors-file-without-flag", EVAL + " --checkpoint {BI_x2}", 2,
         "for the authors' .pth files add --official", (), "{BI_x2}"),
    Case("h-evaluate-missing-data", "evaluate --checkpoint bicubic --data {out}/nodata --no-progress", 2, "looked in"),
    Case("h-upscale-input-missing", "upscale {out}/none -o {out}/sr --checkpoint bicubic", 2, "input not found",
         (SR_OUT,)),
    Case("h-upscale-single-image", "upscale {frames}/f1.png -o {out}/sr --checkpoint bicubic", 2,
         "is a single image", (SR_OUT,)),
    Case("h-upscale-transparent-frame", "upscale {alpha} -o {out}/sr --checkpoint bicubic --no-progress", 2,
         "f3.png: has a transparent alpha channel", (SR_OUT,)),
    Case("h-upscale-odd-tile", UP + " -o {out}/sr --checkpoint bicubic --tile 5", 2,
         "argument --tile: must be even and at least 2, got 5", (SR_OUT,)),
    Case("h-unknown-option", "evaluate --checkpoint bicubic --bogus", 2, "unrecognized arguments: --bogus"),
    # ---- issue 29, part A -------------------------------------------------------------------------------
    # 1. an output that exists and is not a regular file (a device, a FIFO, a symbolic link) is refused before
    # any work (the bad checkpoint is never read) and stays what it was (checked after every row)
    Case("i29-1-evaluate-output-char-device", EVAL + " --checkpoint {nan} --output {chardev}", 2,
         "--output {chardev} is a character device, not a regular file"),
    Case("i29-1-evaluate-output-symlink", EVAL + " --checkpoint {nan} --output {symlink}", 2,
         "--output {symlink} is a symbolic link, not a regular file"),
    Case("i29-1-evaluate-output-dangling-symlink", EVAL + " --checkpoint {nan} --output {dangling}", 2,
         "--output {dangling} is a symbolic link, not a regular file"),
    Case("i29-1-export-onnx-fifo", "export --checkpoint {nan} --onnx {fifo}", 2,
         "--onnx {fifo} is a named pipe (FIFO), not a regular file"),
    Case("i29-1-upscale-video-char-device", UP + " -o {out}/sr --video {chardev} --checkpoint {nan}", 2,
         "--video {chardev} is a character device, not a regular file", (SR_OUT,)),
    Case("i29-1-upscale-output-char-device", UP + " -o {chardev} --checkpoint {nan}", 2,
         "-o/--output {chardev} is a character device, not a folder"),
    Case("i29-1-train-out-fifo", TRAIN_TINY + " --variant teacher --out {fifo}", 2,
         "--out {fifo} is a named pipe (FIFO), not a folder"),
    Case("i29-1-train-last-pt-symlink", TRAIN_TINY + " --variant teacher --out {linkrun} --resume", 2,
         "--out {linkrun}: {linkrun}/last.pt is a symbolic link, not a regular file"),
    Case("i29-1-record-work-char-device", "record --run-id r --profile smoke --variants teacher --work {chardev} "
         "--results {out}/res", 2, "--work {chardev}/r: {chardev} is a character device", ("{out}/res",)),
    # 4. a run folder another live process holds (its lock names pytest's parent pid) is refused
    Case("i29-4-train-folder-held", TRAIN_TINY + " --variant teacher --out {heldrun}", 2,
         "run folder {heldrun} is in use by pid {ppid}", ("{heldrun}/config.json", "{heldrun}/metrics.csv")),
    Case("i29-4-record-folder-held", "record --run-id r --profile smoke --variants teacher --train-only --quiet "
         "--work {heldwork} dataset=synthetic teacher_channels=8 patch_size=8 iterations=1 val_every=0", 2,
         "run folder {heldwork}/r/teacher is in use by pid {ppid}", ("{heldwork}/r/teacher/record_wall.json",)),
    # 9. --stop-at below 1
    Case("i29-9-train-stop-at-0", TRAIN_TINY + " --variant teacher --out {out}/run --stop-at 0", 2,
         "argument --stop-at: must be at least 1, got 0", ("{out}/run",)),
    Case("i29-9-train-stop-at-negative", TRAIN_TINY + " --variant teacher --out {out}/run --stop-at -3", 2,
         "argument --stop-at: must be at least 1, got -3", ("{out}/run",)),
    # 11. upscale -o the input folder or inside it
    Case("i29-11-upscale-output-is-the-input", UP + " -o {frames} --checkpoint {nan}", 2,
         "-o/--output {frames} is the input folder; the SR frames would mix with the input frames",
         ("{frames}/f1_x2.png",)),
    Case("i29-11-upscale-output-inside-the-input", UP + " -o {frames}/sr --checkpoint {nan}", 2,
         "-o/--output {frames}/sr is inside the input folder {frames}", ("{frames}/sr",)),
    # ---- end of issue 29, part A ------------------------------------------------------------------------
]

# --------------------------------------------------------------------------- issue 29, part B
def _inputs_29b(root: Path) -> dict[str, Path]:
    """A bare state dict whose first SRnet conv weight is 1-D, and the book's folder."""
    state = SOFVSR(2, 8).state_dict()
    state["srnet.body.0.weight"] = state["srnet.body.0.weight"].flatten()[:8]
    torch.save(state, root / "rank.pth")
    return {"rank": root / "rank.pth", "book": REPO_ROOT / "book"}


PIPE = "pipeline --profile smoke --no-build --runs {out}/runs"
CASES += [
    # 2. pipeline --set, --profile and --device are checked as train checks its own, before any run
    Case("29b-2-pipeline-unknown-set-key", PIPE + " --set iteratons=5", 2,
         "--set iteratons: neither a parameter of train.ipynb", ("{out}/runs",)),
    Case("29b-2-pipeline-bad-set-value", PIPE + " --set iterations=abc", 2,
         "--set iterations: train.ipynb declares iterations: Optional[int], got 'abc'", ("{out}/runs",)),
    Case("29b-2-pipeline-bad-trainconfig-value", PIPE + " --set lr=-1", 2,
         "TrainConfig.lr must be a positive number, got -1.0", ("{out}/runs",)),
    Case("29b-2-pipeline-unknown-profile", "pipeline --profile nope --no-build --runs {out}/runs", 2,
         "unknown profile 'nope'", ("{out}/runs",)),
    Case("29b-2-pipeline-device-not-here", PIPE + " --device cuda:99", 2,
         "argument --device: device is 'cuda:99' but", ("{out}/runs",)),
    # 5. one --device check, shared by every command
    Case("29b-5-upscale-device-bogus", UP + " -o {out}/sr --checkpoint {tiny} --device bogus", 2,
         "argument --device: device must be auto, cpu, cuda or cuda:N, got 'bogus'", (SR_OUT,)),
    Case("29b-5-evaluate-device-not-here", EVAL + " --checkpoint {tiny} --device cuda:99 --output {out}/r.json", 2,
         "argument --device: device is 'cuda:99' but", ("{out}/r.json",)),
    # 7. chapter: the cause in one line, parameters read as the page declares them
    Case("29b-7-chapter-no-runs-yet", "chapter {book}/results.md -p profile smoke -o {out}/c.ipynb", 2,
         "no smoke runs yet: run `python -m sofkd_lib pipeline --profile smoke --no-build` first",
         ("{out}/c.ipynb", "{out}/.c.partial.ipynb")),
    Case("29b-7-chapter-parameter-type", "chapter {book}/train.ipynb -p seed abc -o {out}/t.ipynb", 2,
         "-p seed: train.ipynb declares seed: int, got 'abc'", ("{out}/t.ipynb", "{out}/.t.partial.ipynb")),
    Case("29b-7-chapter-unknown-profile", "chapter {book}/results.md -p profile nope -o {out}/c.ipynb", 2,
         "-p profile: unknown profile 'nope'", ("{out}/c.ipynb",)),
    # 10. a tensor of the wrong rank in a bare state dict: the file and the tensor named
    Case("29b-10-upscale-wrong-rank", UP + " -o {out}/sr --checkpoint {rank}", 2,
         "{rank}: 'srnet.body.0.weight' is a 1-D tensor of shape (8,), not the 4-D weight of a conv layer", (SR_OUT,)),
    Case("29b-10-export-wrong-rank", "export --checkpoint {rank} --onnx {out}/m.onnx", 2,
         "{rank}: 'srnet.body.0.weight' is a 1-D tensor", ("{out}/m.onnx",)),
    Case("29b-10-evaluate-wrong-rank", EVAL + " --checkpoint {rank} --output {out}/r.json", 2,
         "{rank}: 'srnet.body.0.weight' is a 1-D tensor", ("{out}/r.json",)),
    # 11. --seed and --fps named; one wording for a checkpoint that is a folder, whichever command
    Case("29b-11-train-seed-too-large", TRAIN + " --variant teacher --out {out}/run --seed 4294967296", 2,
         "TrainConfig.seed must lie in [0, 2**32 - 1], got 4294967296", ("{out}/run",)),
    Case("29b-11-upscale-fps-zero", UP + " -o {out}/sr --checkpoint bicubic --video {out}/v.mp4 --fps 0", 2,
         "argument --fps: must be a positive number, got '0'", (SR_OUT, "{out}/v.mp4")),
    Case("29b-11-evaluate-checkpoint-is-a-folder", EVAL + " --checkpoint {out}", 2,
         "checkpoint {out} is a folder, not a file"),
    Case("29b-11-train-teacher-is-a-folder", TRAIN_TINY + " --variant phase1 --teacher {out} --out {out}/run", 2,
         "teacher: checkpoint {out} is a folder, not a file", ("{out}/run/last.pt",)),
]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_is_refused_where_there_is_none(env, tmp_path, capsys):
    for argv in (["upscale", env["frames"], "-o", str(tmp_path / "sr"), "--checkpoint", env["tiny"]],
                 ["evaluate", "--data", env["data"], "--checkpoint", env["tiny"]],
                 ["pipeline", "--profile", "smoke", "--no-build", "--runs", str(tmp_path / "runs")]):
        status, out, err = run_cli([*argv, "--device", "cuda"], capsys)
        assert status == 2 and out == "" and len(err.splitlines()) == 1, err
        assert "argument --device: device is 'cuda' but CUDA is not available" in err
    assert list(tmp_path.iterdir()) == []


def test_record_debug_shows_the_traceback(tmp_path, capsys):
    """record reports through the one error path: one line, or with --debug the exception itself."""
    from sofkd_lib.engine.config import ConfigError

    argv = ["record", "--run-id", "r", "--profile", "smoke", "--set", "nope=1", "--work", str(tmp_path / "w"),
            "--results", str(tmp_path / "res")]
    assert run_cli(argv, capsys)[0] == 2
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field\(s\) \['nope'\]"):
        main(["--debug", *argv])
    assert list(tmp_path.iterdir()) == []
# --------------------------------------------------------------------------- end of issue 29, part B


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``python -m sofkd_lib ARGV`` in process: (exit status, stdout, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's parameter errors
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_table(case, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(RECORDED_ENV, env["recorded"])
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "runs"))  # no runs: the book's own never reach a row
    names = {**env, "out": str(tmp_path)}
    for key in re.findall(r"{(\w+)}", case.argv):
        if key not in names:
            pytest.skip(f"no {key} could be made here (mknod needs root)")
    argv = [part.format(**names) for part in case.argv.split()]
    root = Path(env["afile"]).parent
    before = {name: identity(root / name) for name in SPECIAL if os.path.lexists(root / name)}
    status, out, err = run_cli(argv, capsys)
    # Nothing outside the output path is touched: the special files stay what they were.
    assert {name: identity(root / name) for name in before} == before
    assert status == case.status, err
    fragment = case.fragment.format(**names)
    assert "Traceback" not in err
    if case.status == 0:
        assert fragment in out
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, naming the culprit
    assert re.match(rf"(python -m sofkd_lib)?( ?{argv[0]})?: error: ", lines[0]), lines[0]
    assert fragment in lines[0]
    assert not re.search(r":\s*$", lines[0])  # never nothing after the colon
    assert out == ""  # no work was reported done
    if case.once:
        assert lines[0].count(case.once.format(**names)) == 1, lines[0]
    for path in case.absent:
        assert not Path(path.format(**names)).exists(), path


def test_weights_turning_non_finite_keep_the_last_finite_checkpoint(tmp_path, capsys, monkeypatch):
    """The loss is finite at iteration 3, the update after it is not: last.pt stays the finite iteration 2."""
    from sofkd_lib.engine import train as T
    real = T.make_optimizer

    def poisoned(model, config):
        optimizer, scheduler = real(model, config)
        calls = []

        def poison_third_update(*_):
            calls.append(1)
            if len(calls) == 3:
                with torch.no_grad():
                    next(model.parameters()).fill_(float("inf"))

        optimizer.register_step_post_hook(poison_third_update)
        return optimizer, scheduler

    monkeypatch.setattr(T, "make_optimizer", poisoned)
    run = tmp_path / "run"
    status, out, err = run_cli(["train", "--variant", "teacher", "--profile", "smoke", "--dataset", "synthetic",
                                "--quiet", "--set", "teacher_channels=8", "--patch-size", "8", "--iterations", "4",
                                "--set", "checkpoint_every=1", "--set", "val_every=0", "--out", str(run)], capsys)
    assert status == 2 and out == ""
    assert "non-finite weights after iteration 3" in err
    assert f"last good checkpoint {run / 'last.pt'} (iteration 2) kept, its weights finite" in err
    kept = load_weights_file(run / "last.pt")
    assert kept["iteration"] == 2 and all(bool(torch.isfinite(v).all()) for v in kept["model"].values())
    assert not (run / "best.pt").exists()


def test_output_folder_without_permission(env, tmp_path, capsys, monkeypatch):
    """A folder this process may not write to (as root, chmod does not stop writes: os.access is patched)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real_access(p, mode, **kw))
    status, _, err = run_cli(["evaluate", "--checkpoint", env["nan"], "--output", str(locked / "r.json")], capsys)
    assert status == 2 and f"no permission to write in {locked}" in err
    status, _, err = run_cli(["upscale", env["frames"], "-o", str(locked / "sr"), "--checkpoint", "bicubic"], capsys)
    assert status == 2 and f"-o/--output {locked / 'sr'}: no permission to write in {locked}" in err
    assert list(locked.iterdir()) == []


def test_upscale_failure_keeps_what_was_there(env, tmp_path, capsys):
    """An existing output folder keeps the user's files; the frames this run wrote before failing are removed."""
    out = tmp_path / "sr"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    status, _, err = run_cli(["upscale", env["frames"], "-o", str(out), "--checkpoint", env["overflow"],
                              "--no-progress"], capsys)
    assert status == 2 and "holds NaN or inf" in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_upscale_shows_progress_per_tile(env, tmp_path, capsys):
    """Three 16×16 LR frames in 8-pixel tiles: 4 tiles a frame, so the bar counts 3 × 4 = 12 tiles."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(src / f"f{i + 1}.png")
    status, out, err = run_cli(["upscale", str(src), "-o", str(tmp_path / "sr"), "--checkpoint", env["tiny"],
                                "--tile", "8", "--tile-pad", "2"], capsys)
    assert status == 0 and "wrote 3 frames" in out
    assert "3 frames of 16×16, 4 tiles of 8² LR pixels each" in err and "ETA is the expected time" in err
    assert "12/12" in err and "tile" in err


def test_debug_shows_the_traceback(env):
    for argv in (["--debug", "evaluate", "--checkpoint", env["zero"]], ["evaluate", "--checkpoint", env["zero"], "--debug"]):
        with pytest.raises(CheckpointError, match="is empty"):
            main(argv)


def test_every_torch_load_is_weights_only():
    """No loader in the package or the benchmarks unpickles code: every torch.load passes weights_only=True."""
    calls = []
    for folder in ("sofkd_lib", "bench"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "weights_only=False" not in text, path
            calls += [(path, m.group(0)) for m in re.finditer(r"torch\.load\([^()]*(\([^()]*\)[^()]*)*\)", text)]
    assert calls
    assert [c for c in calls if "weights_only=True" not in c[1]] == []


def test_code_in_pickle_is_refused_by_the_loader(env, capsys):
    with pytest.raises(CheckpointError, match=r"refused to load checkpoint .*evil\.pt: it holds a Python object"):
        load_weights_file(env["evil"])
    assert "this ran while loading" not in capsys.readouterr().out  # the callable never ran


def test_export_accepts_recorded_names_and_infers_the_official_scale(env, monkeypatch):
    monkeypatch.setenv(RECORDED_ENV, env["recorded"])
    teacher = load_model("pretrained:teacher-x4")
    assert teacher.config.scale == 4 and teacher.config.channels == 8
    assert load_model(env["BI_x2"], official=True).config.scale == 2  # no --scale: the file's x2


def test_authors_weights_load_weights_only(shared_data):
    from tests.conftest import require

    path = require(shared_data / "sofvsr_official" / "BI_x2.pth")
    state = load_weights_file(path)
    assert len(state) == 50 and all(isinstance(v, torch.Tensor) for v in state.values())
    model = load_official(path)  # the scale comes from the file
    assert model.scale == 2 and torch.equal(model.state_dict()["srnet.body.0.weight"], state["SR.body.0.weight"])


def test_export_reports_its_onnx_runtime_check_quietly(env, tmp_path, capfd, monkeypatch):
    """One real export (a recorded name): the ORT check is reported, exporter noise is not; an odd
    size given to the exported graph gets a clear message instead of ONNX Runtime's broadcast error."""
    pytest.importorskip("onnxruntime")
    from sofkd_lib.inference.export import run_onnx

    monkeypatch.setenv(RECORDED_ENV, env["recorded"])
    onnx = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", "pretrained:teacher-x4", "--onnx", str(onnx), "--static",  # 5x faster
                 "--height", "8", "--width", "8"]) == 0
    out, err = capfd.readouterr()
    diff = float(re.search(r"ONNX Runtime check: max \|ORT - PyTorch\| = (\S+) on a 8x8 LR input", out).group(1))
    assert diff <= 1e-3 and "(x4, 8 channels, 3 frames, opset 18)" in out
    assert "torchvision" not in err + out and "FutureWarning" not in err and "[torch.onnx]" not in out
    with pytest.raises(ValueError, match=r"m\.onnx: LR height and width must be even .* got 7x8"):
        run_onnx(onnx, np.zeros((1, 3, 1, 7, 8), np.float32), onnx)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_end_to_end_exit_status_and_no_traceback(env, tmp_path):
    """Two real processes: exit status 2 and one line on stderr, no traceback."""
    cmds = [[sys.executable, "-m", "sofkd_lib", "evaluate", "--checkpoint", env["zero"]],
            [sys.executable, "-m", "sofkd_lib", "upscale", env["frames"], "-o", f"{env['afile']}/sr",
             "--checkpoint", "bicubic"]]
    run_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen(c, cwd=tmp_path, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for (status, out, err), expected in zip(results, ("is empty (0 bytes)", "is a file, so no folder")):
        assert status == 2 and "Traceback" not in err and out == ""
        assert len(err.strip().splitlines()) == 1 and expected in err, err


# ---- issue 29, part A: what a row cannot express ---------------------------------------------------------------
TRAIN_ARGS = ["--variant", "teacher", "--profile", "smoke", "--dataset", "synthetic", "--quiet", "--set",
              "teacher_channels=8", "--patch-size", "8", "--set", "checkpoint_every=1", "--set", "val_every=0"]


def test_full_disk_during_a_checkpoint_save_keeps_the_previous_last_pt(tmp_path, capsys, monkeypatch):
    """6. The disk fills while last.pt of iteration 2 is written: one line naming the run folder, exit 2,
    last.pt of iteration 1 kept byte for byte, no temporary left."""
    run, real, seen = tmp_path / "run", torch.save, {}

    def fills_the_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("iteration") == 2:
            seen["kept"] = (run / "last.pt").read_bytes()
            (f.write if hasattr(f, "write") else Path(f).write_bytes)(b"half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_the_disk)
    status, out, err = run_cli(["train", *TRAIN_ARGS, "--iterations", "3", "--out", str(run)], capsys)
    assert status == 2 and out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == (f"train: error: run folder {run}: cannot write last.pt (No space left on device); it keeps "
                        f"last.pt of iteration 1: free some space, then resume (--resume)")
    assert (run / "last.pt").read_bytes() == seen["kept"]
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt", "metrics.csv", "validation.csv"]


def test_a_checkpoint_write_killed_by_sigkill_leaves_nothing_after_the_next_run(tmp_path, capsys):
    """11. A trainer killed (SIGKILL) mid-write of last.pt leaves its hidden temporary and its lock; the next
    run on the folder takes the stale lock over with a note, removes the temporary and resumes."""
    run = tmp_path / "run"
    script = ("import os, signal, sys, torch\n"
              "from sofkd_lib.cli.main import main\n"
              "real = torch.save\n"
              "def killed(obj, f, *a, **k):\n"
              "    if isinstance(obj, dict) and obj.get('iteration') == 2:\n"
              "        f.write(b'half a checkpoint'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
              "    return real(obj, f, *a, **k)\n"
              "torch.save = killed\n"
              "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, "train", *TRAIN_ARGS, "--iterations", "3", "--out",
                             str(run)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stderr=subprocess.PIPE)
    _, child_err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, child_err
    hidden = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    assert len(hidden) == 2 and re.fullmatch(r"\.last\.\w{8}\.pt", hidden[0]) and hidden[1] == ".lock", hidden
    assert (run / ".lock").read_text().split()[0] == str(proc.pid)
    status, out, err = run_cli(["train", *TRAIN_ARGS, "--iterations", "3", "--out", str(run), "--resume"], capsys)
    assert status == 0 and "teacher: 3/3 iterations" in out
    assert f"note: {run} was held by pid {proc.pid}, which is no longer running; taking it over" in err
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert load_weights_file(run / "last.pt")["iteration"] == 3


def test_ctrl_c_ends_a_command_in_one_line_with_status_130_and_upscale_removes_its_frames(env, tmp_path, capsys,
                                                                                            monkeypatch):
    """11. Ctrl-C while upscale writes frame 3: "upscale: interrupted", 130, the frames it wrote removed, the
    user's file kept; in train: the lock released and last.pt of the last save kept."""
    from sofkd_lib.engine import train as T
    from sofkd_lib.inference import upscale as U

    out, real, calls = tmp_path / "sr", U.write_image, []
    out.mkdir()
    (out / "mine.txt").write_text("keep")

    def ctrl_c_at_frame_3(path, rgb):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(path, rgb)

    monkeypatch.setattr(U, "write_image", ctrl_c_at_frame_3)
    status, stdout, err = run_cli(["upscale", env["frames"], "-o", str(out), "--checkpoint", "bicubic",
                                   "--no-progress"], capsys)
    assert (status, stdout, err) == (130, "", "upscale: interrupted\n")
    assert len(calls) == 3 and [p.name for p in out.iterdir()] == ["mine.txt"]

    real_optimise = T.TrainingRun.optimise

    def ctrl_c_at_iteration_3(self, it):
        if it == 3:
            raise KeyboardInterrupt
        real_optimise(self, it)

    monkeypatch.setattr(T.TrainingRun, "optimise", ctrl_c_at_iteration_3)
    run = tmp_path / "run"
    status, stdout, err = run_cli(["train", *TRAIN_ARGS, "--iterations", "4", "--out", str(run)], capsys)
    assert (status, stdout, err) == (130, "", "train: interrupted\n")
    assert not (run / ".lock").exists() and load_weights_file(run / "last.pt")["iteration"] == 2


def test_upscale_full_disk_names_the_frame_and_removes_what_it_wrote(env, tmp_path, capsys, monkeypatch):
    """11. The disk fills while frame 3 is written: the message names that file; frames 1-2 are removed."""
    real, calls = Image.Image.save, []

    def fills_the_disk(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            Path(fp).write_bytes(b"half a png")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fills_the_disk)
    out = tmp_path / "sr"
    status, stdout, err = run_cli(["upscale", env["frames"], "-o", str(out), "--checkpoint", "bicubic",
                                   "--no-progress"], capsys)
    assert (status, stdout) == (2, "")
    assert err == f"upscale: error: {out / 'f3_x4.png'}: No space left on device\n"
    assert not out.exists()
