"""Trainers (sofkd_lib.engine.train): freezing, loss equations, resume, errors before training, CLI.

Tiny networks (teacher 8, student 4 channels), 8x8 LR patches and a synthetic
batch source keep every test to seconds on one CPU core.
"""
from __future__ import annotations

import csv
import math
import os
import socket
import subprocess
import sys

import pytest
import torch

from sofkd_lib.engine import distributed as DI
from sofkd_lib.engine import run_folder as RF
from sofkd_lib.engine import sources as S
from sofkd_lib.engine import train as T
from sofkd_lib.engine.config import ConfigError
from sofkd_lib.method import distill as D
from sofkd_lib.weights.checkpoint import Architecture, CheckpointError, load_checkpoint, load_model
from tests.tiny_runs import SC, TC, clone_state, source, states_equal, tiny


# --------------------------------------------------------------------------- freezing
def test_phase1_keeps_teacher_ofrnet_and_teacher_bit_for_bit(runs, tmp_path):
    teacher = load_model(runs / "teacher" / "last.pt")
    before = clone_state(teacher)
    cfg = tiny("phase1", iterations=4)
    fresh, _ = D.prepare_models(cfg, teacher)
    result = T.train(cfg, source(), tmp_path / "p1", teacher=teacher, quiet=True)
    model = result.model
    assert states_equal(model.ofrnet, teacher.ofrnet)  # frozen teacher OFRnet, unchanged
    assert not states_equal(model.srnet, fresh.srnet)  # the student SRnet did learn
    for k, v in result.teacher.state_dict().items():  # the teacher copy used in training
        assert torch.equal(v, before[k]), k
    assert not result.teacher.training
    assert all(not p.requires_grad for p in result.teacher.parameters())
    assert all(not p.requires_grad for p in model.ofrnet.parameters())
    assert all(p.requires_grad for p in model.srnet.parameters())
    # The hybrid of Table 2: teacher-width OFRnet, student-width SRnet.
    assert load_checkpoint(tmp_path / "p1" / "last.pt")["architecture"] == Architecture(4, 3, TC, SC)


def test_phase1_plus_2_keeps_phase1_srnet_bit_for_bit(runs, tmp_path):
    phase1 = load_model(runs / "phase1" / "last.pt")
    teacher = load_model(runs / "teacher" / "last.pt")
    cfg = tiny("phase1+2", iterations=4)
    fresh, _ = D.prepare_models(cfg, teacher, phase1)
    result = T.train(cfg, source(), tmp_path / "p12", teacher=runs / "teacher" / "last.pt",
                     init=runs / "phase1" / "last.pt", quiet=True)
    model = result.model
    assert states_equal(model.srnet, phase1.srnet)
    assert not states_equal(model.ofrnet, fresh.ofrnet)
    assert states_equal(result.teacher, teacher)
    assert load_checkpoint(tmp_path / "p12" / "last.pt")["architecture"] == Architecture(4, 3, SC, SC)


@pytest.mark.parametrize("variant", ["teacher", "student", "phase2"])
def test_unfrozen_variants_train_both_parts(runs, tmp_path, variant):
    teacher = runs / "teacher" / "last.pt" if variant == "phase2" else None
    cfg = tiny(variant, iterations=2)
    fresh, _ = D.prepare_models(cfg, teacher)
    model = T.train(cfg, source(), tmp_path / variant, teacher=teacher, quiet=True).model
    assert not states_equal(model.ofrnet, fresh.ofrnet)
    assert not states_equal(model.srnet, fresh.srnet)


@pytest.mark.parametrize("variant,trained", [
    ("teacher", ("ofrnet", "srnet")), ("phase1", ("srnet",)), ("phase1+2", ("ofrnet",)),
])
def test_optimizer_holds_only_trainable_parts(runs, variant, trained):
    teacher = runs / "teacher" / "last.pt" if variant != "teacher" else None
    init = runs / "phase1" / "last.pt" if variant == "phase1+2" else None
    model, _ = D.prepare_models(tiny(variant), teacher, init)
    optimizer, scheduler = T.make_optimizer(model, tiny(variant))
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    expected = {id(p) for part in trained for p in getattr(model, part).parameters()}
    assert held == expected
    group = optimizer.param_groups[0]
    assert (group["betas"], group["eps"], group["lr"]) == ((0.9, 0.999), 1e-8, 1e-3)
    assert (scheduler.step_size, scheduler.gamma) == (4, 0.5)


# --------------------------------------------------------------------------- schedule, logs
def test_metrics_csv_lr_schedule_and_columns(tmp_path):
    T.train(tiny("student", iterations=10, log_every=2), source(), tmp_path / "s", quiet=True)
    with (tmp_path / "s" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["iteration", "loss_sr", "loss_ofr", "loss_sof", "loss", "lr", "seconds"]
    assert [int(r["iteration"]) for r in rows] == [2, 4, 6, 8, 10]
    # StepLR, step 4, gamma 0.5: iterations 1-4 at 1e-3, 5-8 at 5e-4, 9-10 at 2.5e-4 (the row's last).
    assert [float(r["lr"]) for r in rows] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    seconds = [float(r["seconds"]) for r in rows]
    assert seconds == sorted(seconds) and seconds[0] > 0
    for r in rows:  # Eq. 1 holds on the logged window means too (means are linear)
        assert float(r["loss_sof"]) == pytest.approx(float(r["loss_sr"]) + 0.01 * float(r["loss_ofr"]), rel=1e-6)


def test_validation_keeps_best_checkpoint(tmp_path):
    scores = iter([20.0, 25.0, 22.0])
    seen = []

    def validate(model):
        seen.append(model.training)
        return {"psnr": next(scores)}

    result = T.train(tiny("student", iterations=6, val_every=2), source(), tmp_path / "v", validate=validate,
                     quiet=True)
    assert seen == [False, False, False]  # validated in eval mode
    assert (result.best_psnr, result.best_iteration, result.last_psnr) == (25.0, 4, 22.0)
    best = load_checkpoint(tmp_path / "v" / "best.pt")
    assert best["iteration"] == 4 and best["best"] == {"psnr": 25.0, "iteration": 4}
    assert load_checkpoint(tmp_path / "v" / "last.pt")["iteration"] == 6
    metrics, validation = RF.load_history(tmp_path / "v")
    assert validation["psnr"].tolist() == [20.0, 25.0, 22.0]
    assert validation["iteration"].tolist() == [2, 4, 6]
    assert len(metrics) == 6


# --------------------------------------------------------------------------- resume
@pytest.mark.parametrize("variant", ["phase2", "phase1+2"])
def test_resume_is_bit_exact(runs, tmp_path, variant):
    teacher = runs / "teacher" / "last.pt"
    init = runs / "phase1" / "last.pt" if variant == "phase1+2" else None
    cfg = tiny(variant, iterations=7, checkpoint_every=2)
    whole = T.train(cfg, source(3), tmp_path / "whole", teacher=teacher, init=init, quiet=True)
    T.train(cfg, source(3), tmp_path / "split", teacher=teacher, init=init, stop_at=3, quiet=True)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["iteration"] == 3
    # A fresh process would start with other RNG states and a new source: mimic it.
    torch.manual_seed(123)
    resumed = T.train(cfg, source(99), tmp_path / "split", teacher=teacher, init=init, resume="yes", quiet=True)
    assert resumed.iteration == 7
    assert states_equal(whole.model, resumed.model)
    a = load_checkpoint(tmp_path / "whole" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    for (ka, va), (kb, vb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        assert ka == kb and all(torch.equal(va[n], vb[n]) for n in ("exp_avg", "exp_avg_sq", "step"))
    strip = lambda p: [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(p.open())]  # noqa: E731
    assert strip(tmp_path / "whole" / "metrics.csv") == strip(tmp_path / "split" / "metrics.csv")


def test_phase_shape_halves_the_lr_at_40_and_80_percent_and_an_extension_keeps_the_milestones(tmp_path):
    # 10 iterations: milestones after iterations 4 and 8 (lr_step, 4 here, is not used).
    cfg = tiny("student", iterations=10, lr_schedule="phase-shape", lr_step=3, checkpoint_every=5)
    assert T.lr_milestones(cfg) == [4, 8]
    T.train(cfg, source(), tmp_path / "s", quiet=True)
    lrs = [float(r["lr"]) for r in csv.DictReader((tmp_path / "s" / "metrics.csv").open())]
    assert lrs == [1e-3] * 4 + [5e-4] * 4 + [2.5e-4] * 2
    assert T.lr_trajectory(cfg).tolist() == lrs  # the same schedule, without training
    assert T.lr_trajectory(tiny("student", iterations=6, lr_step=2)).tolist() == [1e-3] * 2 + [5e-4] * 2 + [2.5e-4] * 2
    # Extended to 15 by resuming: the milestones stay at 4 and 8 (not 6 and 12), the extra iterations at 2.5e-4.
    T.train(cfg.replace(iterations=15), source(), tmp_path / "s", resume="auto", quiet=True)
    lrs = [float(r["lr"]) for r in csv.DictReader((tmp_path / "s" / "metrics.csv").open())]
    assert lrs == [1e-3] * 4 + [5e-4] * 4 + [2.5e-4] * 7
    assert T.lr_trajectory(cfg, until=15).tolist() == lrs  # what the book draws beside an extended run
    # A seed that starts after its row was extended gets the same schedule from the start (lr_milestones_at).
    late = cfg.replace(iterations=15, lr_milestones_at=10)
    assert T.lr_milestones(late) == [4, 8] and T.lr_trajectory(late).tolist() == lrs
    T.train(late, source(), tmp_path / "late", quiet=True)
    assert [float(r["lr"]) for r in csv.DictReader((tmp_path / "late" / "metrics.csv").open())] == lrs
    with pytest.raises(ValueError, match="until must be >= 1"):
        T.lr_trajectory(cfg, until=0)
    # The schedule cannot change on resume.
    with pytest.raises(CheckpointError, match="lr_schedule"):
        T.train(cfg.replace(iterations=20, lr_schedule="step"), source(), tmp_path / "s", resume="auto", quiet=True)


def test_extending_the_budget_continues_as_if_it_had_been_given_from_the_start(tmp_path):
    # The miniature run doubled every budget after its first plan (book/miniature.md): the lr schedule and
    # the data stream must not depend on the budget, across an lr halving (every 2 iterations here).
    whole = T.train(tiny("student", iterations=6, lr_step=2, checkpoint_every=1), source(), tmp_path / "whole",
                    quiet=True)
    T.train(tiny("student", iterations=3, lr_step=2, checkpoint_every=1), source(), tmp_path / "grown", quiet=True)
    torch.manual_seed(123)
    grown = T.train(tiny("student", iterations=6, lr_step=2, checkpoint_every=1), source(7), tmp_path / "grown",
                    resume="auto", quiet=True)
    assert grown.iteration == 6 and states_equal(whole.model, grown.model)
    lrs = [float(r["lr"]) for r in csv.DictReader((tmp_path / "grown" / "metrics.csv").open())]
    assert lrs == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4]
    # Phase 2 alone given two phases (phase2_budget) resumes a run trained with one.
    one = tiny("phase2", iterations=0, phase_iterations=2, lr_step=2, checkpoint_every=1)
    teacher = tmp_path / "teacher"
    T.train(tiny("teacher", iterations=1), source(), teacher, quiet=True)
    T.train(one, source(), tmp_path / "p2", teacher=teacher / "last.pt", quiet=True)
    two = one.replace(phase2_budget="two-phases")
    assert T.train(two, source(), tmp_path / "p2", teacher=teacher / "last.pt", resume="auto",
                   quiet=True).iteration == 4
    # So does phase 1 (phase1_budget), and its phase 1+2 trains one phase.
    p1 = one.replace(variant="phase1")
    T.train(p1, source(), tmp_path / "p1", teacher=teacher / "last.pt", quiet=True)
    p1_two = p1.replace(phase1_budget="two-phases")
    assert T.train(p1_two, source(), tmp_path / "p1", teacher=teacher / "last.pt", resume="auto",
                   quiet=True).iteration == 4
    assert T.train(p1_two.replace(variant="phase1+2"), source(), tmp_path / "p12", teacher=teacher / "last.pt",
                   init=tmp_path / "p1" / "last.pt", quiet=True).iteration == 2


def test_resume_drops_metric_rows_after_the_checkpoint(tmp_path):
    cfg = tiny("student", iterations=6, checkpoint_every=2)
    T.train(cfg, source(), tmp_path / "r", stop_at=4, quiet=True)
    # Simulate a crash after iteration 5 was logged but before it was checkpointed.
    with (tmp_path / "r" / "metrics.csv").open("a") as fh:
        fh.write("5,9,9,9,9,0.001,1.0\n")
    T.train(cfg, source(), tmp_path / "r", resume="yes", quiet=True)
    rows = list(csv.DictReader((tmp_path / "r" / "metrics.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert float(rows[4]["loss"]) != 9.0


def test_resume_refuses_changed_config_and_missing_run(tmp_path):
    T.train(tiny("student", iterations=2), source(), tmp_path / "r", quiet=True)
    with pytest.raises(CheckpointError, match=r"configuration changed \(lr: 0.001 in the checkpoint, 0.002 now\)"):
        T.train(tiny("student", iterations=4, lr=2e-3), source(), tmp_path / "r", resume="yes", quiet=True)
    with pytest.raises(CheckpointError, match="trains 'student', not 'teacher'"):
        T.train(tiny("teacher", iterations=4), source(), tmp_path / "r", resume="yes", quiet=True)
    with pytest.raises(CheckpointError, match="cannot resume: .*last.pt not found"):
        T.train(tiny("student"), source(), tmp_path / "none", resume="yes", quiet=True)
    with pytest.raises(FileExistsError, match="already holds a run"):
        T.train(tiny("student"), source(), tmp_path / "r", quiet=True)
    # A longer budget is allowed, and "overwrite" starts again.
    assert T.train(tiny("student", iterations=4), source(), tmp_path / "r", resume="auto", quiet=True).iteration == 4
    assert T.train(tiny("student", iterations=1), source(), tmp_path / "r", resume="overwrite",
                   quiet=True).iteration == 1


# --------------------------------------------------------------------------- non-finite loss
class NaNAfter:
    """Wraps a source; batch ``k`` (1-based) and later are NaN."""

    def __init__(self, inner, k):
        self.inner, self.k, self.n = inner, k, 0

    def sample(self, b):
        self.n += 1
        lr, hr = self.inner.sample(b)
        return (lr * math.nan, hr) if self.n >= self.k else (lr, hr)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, s):
        self.inner.load_state_dict(s)


def test_non_finite_loss_stops_naming_iteration_and_term(tmp_path):
    cfg = tiny("student", iterations=8, checkpoint_every=2)
    with pytest.raises(T.NonFiniteLossError, match=r"iteration 5: loss_sr = nan .*iteration 4\) kept"):
        T.train(cfg, NaNAfter(source(), 5), tmp_path / "n", quiet=True)
    last = load_checkpoint(tmp_path / "n" / "last.pt")
    assert last["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in last["model"].values())


# --------------------------------------------------------------------------- errors before training
@pytest.mark.parametrize("variant,teacher,init,message", [
    ("student", "teacher", None, "trains without a teacher"),
    ("phase1", None, None, "needs a teacher checkpoint"),
    ("phase2", "missing", None, "teacher: checkpoint not found"),
    ("phase1", "phase1", None, r"teacher .*wrong architecture \(srnet_channels is 4, expected 8\)"),
    ("phase1+2", "teacher", None, "needs a phase1 checkpoint"),
    ("phase1+2", "teacher", "teacher", r"init .*wrong architecture \(srnet_channels is 8, expected 4\)"),
    ("phase1+2", "other", "phase1", "its OFRnet is not the teacher's"),
    ("phase2", "teacher", "phase1", "only phase1\\+2 starts from an --init"),
    ("phase1", "garbage", None, "not a sofkd training checkpoint|cannot read"),
])
def test_bad_inputs_fail_before_training(runs, tmp_path, variant, teacher, init, message):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    other = tmp_path / "other"
    if teacher == "other":
        T.train(tiny("teacher", iterations=1, seed=7), source(), other, quiet=True)
    paths = {"teacher": runs / "teacher" / "last.pt", "phase1": runs / "phase1" / "last.pt",
             "missing": tmp_path / "nope.pt", "garbage": garbage, "other": other / "last.pt", None: None}
    out = tmp_path / "out"
    with pytest.raises((ConfigError, CheckpointError), match=message):
        T.train(tiny(variant), source(), out, teacher=paths[teacher], init=paths[init], quiet=True)
    assert not out.exists()  # nothing written, nothing trained


def test_resolve_device():
    assert DI.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="TrainConfig.device is 'cuda' but CUDA is not available"):
            DI.resolve_device("cuda")


# --------------------------------------------------------------------------- command line
def _cli(argv):
    """``python -m sofkd_lib train ARGV`` in process: errors go through the CLI's one error path (exit 2)."""
    from sofkd_lib.cli.main import main

    return main(["train", *argv])


def test_cli_trains_resumes_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    common = ["--profile", "smoke", "--dataset", "synthetic", "--set", f"teacher_channels={TC}",
              "--set", f"student_channels={SC}", "--patch-size", "8", "--quiet"]
    assert _cli(["--variant", "student", "--out", str(out), "--iterations", "3", "--stop-at", "2", *common]) == 0
    assert load_checkpoint(out / "last.pt")["iteration"] == 2
    assert _cli(["--variant", "student", "--out", str(out), "--iterations", "3", "--resume", *common]) == 0
    assert load_checkpoint(out / "last.pt")["iteration"] == 3
    assert "student: 3/3 iterations" in capsys.readouterr().out
    assert _cli(["--variant", "student", "--out", str(out), "--set", "batch_size=abc", *common]) == 2
    assert "TrainConfig.batch_size must be int, got 'abc'" in capsys.readouterr().err
    assert _cli(["--variant", "phase1", "--out", str(tmp_path / "x"), *common]) == 2
    assert "needs a teacher checkpoint" in capsys.readouterr().err
    assert _cli(["--variant", "student", "--out", str(out), *common]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert _cli(["--variant", "phase2", "--profile", "paper", "--data-root", "/data/DAVIS", "--show-config"]) == 0
    assert '"phase_iterations": 200000' in capsys.readouterr().out
    assert _cli(["--list-fields"]) == 0
    assert "alpha" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _cli(["--variant", "phase3"])


def test_compile_and_prefetch_are_cuda_settings_ignored_on_cpu(tmp_path, monkeypatch):
    """compile=True on the CPU trains the eager step and prefetch (default True) is not used: weights match."""
    calls = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: calls.append(a) or a[0])
    monkeypatch.setattr(T, "PrefetchSource", lambda *a, **k: calls.append(a))  # prefetch is on by default
    eager = T.train(tiny("teacher", iterations=2), source(), tmp_path / "eager", quiet=True).model
    flagged = T.train(tiny("teacher", iterations=2, compile=True), source(), tmp_path / "flagged", quiet=True).model
    assert calls == [] and states_equal(eager, flagged)
    # A speed setting: a run may resume with it switched.
    T.train(tiny("teacher", iterations=3), source(), tmp_path / "flagged", resume="yes", quiet=True)


# --------------------------------------------------------------------------- the run folder: one trainer, its leftovers
class _Interrupted(S.SyntheticSource):
    """Batches until the ``at``-th, where Ctrl-C arrives; notes the run folder's lock as it was while training."""

    def __init__(self, lock, at: int):
        super().__init__(scale=4, patch_size=8, n_frames=3, seed=1)
        self.lock, self.at, self.calls, self.seen = lock, at, 0, None

    def sample(self, batch_size):
        self.calls += 1
        self.seen = self.lock.read_text() if self.lock.exists() else None
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().sample(batch_size)


def test_the_run_folder_is_held_while_training_and_released_even_on_ctrl_c(tmp_path):
    out = tmp_path / "run"
    src = _Interrupted(out / RF.LOCK_NAME, at=3)
    with pytest.raises(KeyboardInterrupt):
        T.train(tiny("teacher", iterations=4, checkpoint_every=1), src, out, quiet=True)
    assert src.seen is not None and src.seen.split()[0] == str(os.getpid())
    assert load_checkpoint(out / "last.pt")["iteration"] == 2  # the last save before Ctrl-C
    assert not (out / RF.LOCK_NAME).exists()
    T.train(tiny("teacher", iterations=4), source(), out, resume="yes", quiet=True)  # the folder is free again
    assert not (out / RF.LOCK_NAME).exists() and load_checkpoint(out / "last.pt")["iteration"] == 4


def test_a_second_trainer_is_refused_before_it_writes_anything(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        out = tmp_path / "run"
        out.mkdir()
        (out / RF.LOCK_NAME).write_text(f"{sleeper.pid} {socket.gethostname()}\n")
        with pytest.raises(RF.RunFolderInUse, match=f"run folder {out} is in use by pid {sleeper.pid}"):
            T.train(tiny("teacher", iterations=2), source(), out, quiet=True)
        assert [p.name for p in out.iterdir()] == [RF.LOCK_NAME]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_resume_removes_what_a_killed_checkpoint_write_left(tmp_path):
    out = tmp_path / "run"
    T.train(tiny("teacher", iterations=3), source(), out, stop_at=2, quiet=True)
    (out / ".last.k1ll3d00.pt").write_bytes(b"half a checkpoint")  # the temporary of a write SIGKILL stopped
    T.train(tiny("teacher", iterations=3), source(), out, resume="yes", quiet=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(["last.pt", "metrics.csv", "validation.csv",
                                                            "config.json", "summary.json"])


@pytest.mark.parametrize("stop_at", [0, -1])
def test_stop_at_below_one_is_refused_before_any_file(tmp_path, stop_at):
    with pytest.raises(ValueError, match=rf"stop_at \(--stop-at\) must be at least 1, got {stop_at}"):
        T.train(tiny("teacher"), source(), tmp_path / "run", stop_at=stop_at, quiet=True)
    assert not (tmp_path / "run").exists()
