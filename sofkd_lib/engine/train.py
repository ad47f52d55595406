"""The training engine: :func:`train` is a short loop over the named parts of a :class:`TrainingRun`.

What each variant builds, trains, freezes and minimises is declared once in
:mod:`sofkd_lib.method.variants` and executed by :mod:`sofkd_lib.method.distill`
(:func:`~sofkd_lib.method.distill.prepare_models`, :func:`~sofkd_lib.method.distill.variant_losses`).
The teacher (phase1, phase2, phase1+2) is a separate copy, in eval mode, run under
``torch.no_grad``; frozen parts have ``requires_grad=False`` and are not given to the optimiser.

:func:`train` takes any *batch source* (``sample(batch_size)`` →
``(lr (B,T,1,p,p), hr (B,T,1,sp,sp))``, ``state_dict()``, ``load_state_dict()``)
and an optional validation callable, so it runs on the real sampler or on the
synthetic one (:mod:`sofkd_lib.engine.sources`).

Run folder (:mod:`sofkd_lib.engine.run_folder`): ``last.pt`` and ``best.pt`` (see :mod:`sofkd_lib.weights.checkpoint`;
``best.pt`` is chosen on the validation split, so score ``last.pt`` on it),
``metrics.csv`` (iteration, every loss term averaged over the rows' window, the
lr of the row's last iteration, and ``seconds``: training time so far, sampling
included, validation and checkpoint writes excluded, summed over resumes),
``validation.csv`` (iteration, psnr, ssim, epe), ``config.json``, ``summary.json``.

Determinism: on CPU one seed fixes the run, and a run stopped and resumed ends
bit-identical to an uninterrupted one (RNG, sampler, optimiser and scheduler
states are checkpointed). On CUDA, bf16 autocast (forward passes only; losses in
float32), channels_last and background batch sampling are on by default (``amp``,
``channels_last``, ``prefetch``: :mod:`sofkd_lib.engine.prefetch`); ``compile`` wraps the
step in ``torch.compile``.

Multi-process data parallel: ``torchrun --nproc_per_node N -m sofkd_lib train …``
(gloo on CPU, nccl on CUDA). ``batch_size`` is the global batch, split evenly.
"""
from __future__ import annotations

import errno
import io
import math
import os
import random
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from sofkd_lib.archs.sofvsr_arch import SOFVSR
from sofkd_lib.data.io import write_json_atomic
from sofkd_lib.engine.config import (
    PHASE_SHAPE_MILESTONES,
    ConfigError,
    TrainConfig,
    diff,
)
from sofkd_lib.engine.distributed import (
    DistInfo,
    barrier,
    broadcast_object,
    current_dist,
    init_distributed,
    reduce_terms,
    resolve_device,
)
from sofkd_lib.engine.prefetch import PrefetchSource
from sofkd_lib.engine.run_folder import (
    CsvLog,
    RunFolderLock,
    TrainResult,
    check_run_folder,
    kept_checkpoint,
    last_logged,
    prepare_out_dir,
)
from sofkd_lib.engine.sources import BatchSource, Validator, make_source, make_validator
from sofkd_lib.method.distill import StudentStep, prepare_models, variant_losses
from sofkd_lib.method.variants import PARTS, TABLE1, variant_spec
from sofkd_lib.ops.cpu_execution import use_fast_execution
from sofkd_lib.weights.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    architecture_of,
    encode_state,
    load_checkpoint,
    non_finite_tensors,
    save_atomic,
)

#: Loss terms logged per variant, components first, the optimised total last (from its equation).
LOSS_TERMS: dict[str, tuple[str, ...]] = {v.name: v.loss_terms for v in TABLE1}
#: Config fields that may change when resuming (they do not alter the weights' trajectory).
RESUMABLE_CHANGES = frozenset({
    "profile", "iterations", "phase_iterations", "teacher_iterations", "student_iterations", "student_budget",
    "phase1_iterations", "phase1_budget", "phase2_iterations", "phase2_budget",
    "log_every", "checkpoint_every", "val_every", "val_max_frames", "data_root", "device", "compile", "prefetch",
    "lr_milestones_at",  # a resumed run's scheduler state, milestones included, is the checkpoint's
    "lr_frame_cache",
})


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the iteration and the term."""












def adam(params: list[torch.Tensor], **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam``, as the fused single-kernel implementation where it exists.

    Same update rule; on CPU one fused pass instead of a dozen foreach passes over
    every parameter (2.8 → 0.8 ms per teacher step here, ``bench/README.md``).
    """
    fused = bool(params) and all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda")
                                 for p in params)
    return torch.optim.Adam(params, fused=fused or None, **kwargs)


def lr_milestones(config: TrainConfig) -> list[int]:
    """The iterations after which ``lr_schedule="phase-shape"`` multiplies the lr by ``lr_gamma``: 40 % and
    80 % of the run's budget (the paper's 80k and 160k of a 200k phase), or of ``lr_milestones_at`` when set."""
    base = config.lr_milestones_at or config.total_iterations
    return [round(f * base) for f in PHASE_SHAPE_MILESTONES]


def make_optimizer(model: nn.Module, config: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam over the trainable parameters only, and the lr schedule (``lr_schedule``) stepped once per iteration:
    StepLR every ``lr_step``, or MultiStepLR at :func:`lr_milestones`.

    A resumed run's scheduler state replaces this one's, milestones included: a phase-shape run extended by
    resuming keeps the milestones of the budget it started with, and trains its extra iterations at the last lr.
    A warm-started run starts from ``warm_start_lr`` when it is set (fine-tuning), else from ``lr``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.warm_start_lr if config.warm_start is not None and config.warm_start_lr is not None else config.lr
    optimizer = adam(params, lr=lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps)
    if config.lr_schedule == "phase-shape":
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=lr_milestones(config), gamma=config.lr_gamma)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    return optimizer, scheduler




def lr_trajectory(config: TrainConfig, until: int | None = None) -> np.ndarray:
    """The lr of each iteration 1 … ``until`` (default ``config.total_iterations``), from :func:`make_optimizer`'s
    schedule stepped once per iteration as :func:`train` steps it (no weights are trained). ``until`` beyond the
    budget is a run extended by resuming: its milestones stay those of ``config``'s budget."""
    import warnings

    until = config.total_iterations if until is None else until
    if until < 1:
        raise ValueError(f"until must be >= 1, got {until}")
    optimizer, scheduler = make_optimizer(nn.Linear(1, 1), config)
    out = np.empty(until)
    with warnings.catch_warnings():  # the scheduler is stepped without optimiser steps on purpose
        warnings.simplefilter("ignore", UserWarning)
        for i in range(until):
            out[i] = optimizer.param_groups[0]["lr"]
            scheduler.step()
    return out


# --------------------------------------------------------------------------- RNG state
def _rng_state(source: BatchSource, device: torch.device) -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "sampler": source.state_dict(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return encode_state(state)


def _set_rng_state(state: Mapping[str, Any], source: BatchSource, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    source.load_state_dict(state["sampler"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------- training


def train(config: TrainConfig, source: BatchSource, out_dir: str | os.PathLike, *,
          teacher: SOFVSR | str | os.PathLike | None = None, init: SOFVSR | str | os.PathLike | None = None,
          validate: Validator | None = None, resume: str = "no", stop_at: int | None = None,
          quiet: bool = False, device: torch.device | None = None) -> TrainResult:
    """Train ``config.variant`` on batches from ``source``; write the run folder ``out_dir``.

    ``resume``: ``"no"`` (refuse an existing run), ``"yes"`` (continue ``last.pt``),
    ``"auto"`` (continue if present) or ``"overwrite"`` (delete the run's files
    first). ``stop_at`` stops after that iteration as an interruption would, with
    ``last.pt`` written. Under an initialised process group every rank calls this
    with its own ``source``; rank 0 writes the files. Raises
    :class:`NonFiniteLossError` on a NaN/inf loss, or on NaN/inf weights due to be
    validated or checkpointed, without touching ``last.pt``: a kept checkpoint is finite.
    The run folder is held by this process for the call (:class:`RunFolderLock`): a second
    trainer on it is refused with :class:`~sofkd_lib.engine.run_folder.RunFolderInUse`.
    """
    if stop_at is not None and stop_at < 1:
        raise ValueError(f"stop_at (--stop-at) must be at least 1, got {stop_at}")
    with RunFolderLock(out_dir, enabled=current_dist().is_main) as lock:  # released on any exit
        run = TrainingRun(config, source, Path(out_dir), lock, teacher=teacher, init=init, validate=validate,
                          resume=resume, stop_at=stop_at, quiet=quiet, device=device)
        try:
            for it in range(run.start + 1, run.end + 1):
                run.optimise(it)  # one step of the variant's equation (sofkd_lib.method.distill)
                checkpoint_now = it % config.checkpoint_every == 0 or it == run.end
                validate_now = run.has_validation and (it % config.val_every == 0 or it == run.total)
                if checkpoint_now or validate_now:
                    run.refuse_non_finite_weights(it)  # a finite loss can still leave inf/NaN weights
                if it % config.log_every == 0 or checkpoint_now:
                    run.log_losses(it)
                if validate_now:
                    run.validate(it)  # and best.pt when the score improved
                if checkpoint_now:
                    run.save_checkpoint("last.pt", it)
        finally:
            run.close()
        return run.finish()


class TrainingRun:
    """One call of :func:`train`: its models, optimiser, logs and counters, set up in order; each
    method below is one named part of the loop.

    Setup order is part of the result (it fixes the RNG streams): inputs checked and models
    built from ``config.seed`` (:func:`~sofkd_lib.method.distill.prepare_models`) before any
    file is touched, the run folder's lock (``lock``, acquired here) and resume mode, the
    optimiser, then the NumPy/Python seeds, then a resumed run's states.
    """

    def __init__(self, config: TrainConfig, source: BatchSource, out_dir: Path, lock: RunFolderLock, *,
                 teacher: SOFVSR | str | os.PathLike | None, init: SOFVSR | str | os.PathLike | None,
                 validate: Validator | None, resume: str, stop_at: int | None, quiet: bool,
                 device: torch.device | None):
        self.config, self.out_dir, self.validator = config, out_dir, validate
        self.info = info = current_dist()
        self.device = device = device or resolve_device(config.device, info)
        if config.batch_size % info.world_size:
            raise ConfigError(f"TrainConfig.batch_size {config.batch_size} does not split over "
                              f"{info.world_size} processes")
        self.per_rank = config.batch_size // info.world_size
        # Inputs first: every check before any file is touched or any step is taken.
        self.model, self.teacher = prepare_models(config, teacher, init)
        # The CPU fast path and the channels_last ResBlock (sofkd_lib.ops): same numbers as the plain forward.
        for model in (self.model, self.teacher):
            if model is not None:
                use_fast_execution(model)
        if info.is_main:
            check_run_folder(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        resuming = broadcast_object(prepare_out_dir(out_dir, resume) if info.is_main else None, info)
        # Only rank 0 validates; all ranks must agree on when (the checkpoint payload is collective).
        self.has_validation = bool(config.val_every) and bool(broadcast_object(validate is not None, info))
        checkpoint = None
        if resuming:
            checkpoint = load_checkpoint(out_dir / "last.pt")
            _check_resumable(checkpoint, config, out_dir / "last.pt", info)
        barrier(info)
        self._place_models()
        self.optimizer, self.scheduler = make_optimizer(self.model, config)
        self.start, self.seconds, self.best = 0, 0.0, {"psnr": None, "iteration": None}
        np.random.seed(config.seed + info.rank)
        random.seed(config.seed + info.rank)
        self.source = source
        if checkpoint is not None:
            self._restore(checkpoint)
        self.saved: int | None = self.start if resuming else None  # iteration of the last.pt on disk
        self.step, self.autocast = self._wrap_step()
        self.total = config.total_iterations
        self.end = self.total if stop_at is None else min(self.total, stop_at)
        self.terms = LOSS_TERMS[config.variant]
        self._open_logs(resuming)
        self.prefetcher = None
        # After the sampler state is restored: the stream continues where it stopped. A device sampler's batches
        # are already on the GPU (nothing to pin or overlap).
        if device.type == "cuda" and config.prefetch and config.sampler == "cpu":
            self.prefetcher = self.source = PrefetchSource(self.source, self.per_rank, pin_memory=True)
        self.last_psnr: float | None = None
        self.window: dict[str, float] = {}
        self.window_n = 0
        self.final_losses: dict[str, float] = {}
        self.progress = _progress(self.total, self.start, quiet or not info.is_main, config.variant)
        self.model.train()
        for part in PARTS:
            if part not in variant_spec(config.variant).trains:
                getattr(self.model, part).eval()

    # ------------------------------------------------------------------ setup parts
    def _place_models(self) -> None:
        cuda = self.device.type == "cuda"
        memory_format = torch.channels_last if cuda and self.config.channels_last else torch.contiguous_format
        self.model.to(device=self.device, memory_format=memory_format)
        if self.teacher is not None:
            self.teacher.to(device=self.device, memory_format=memory_format)

    def _restore(self, checkpoint: Mapping[str, Any]) -> None:
        """Continue a stopped run: weights, optimiser, scheduler, RNG and sampler states, counters."""
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        rng = checkpoint["rng"]
        _set_rng_state(rng["ranks"][self.info.rank] if "ranks" in rng else rng, self.source, self.device)
        self.start, self.seconds = int(checkpoint["iteration"]), float(checkpoint.get("seconds", 0.0))
        self.best = dict(checkpoint.get("best") or self.best)

    def _wrap_step(self) -> tuple[nn.Module, Any]:
        """The module the optimiser steps through (DDP, torch.compile on CUDA) and the forward's autocast."""
        cuda = self.device.type == "cuda"
        step: nn.Module = StudentStep(self.model)
        if self.info.world_size > 1:
            step = nn.parallel.DistributedDataParallel(step, device_ids=[self.device.index] if cuda else None)
        if cuda and self.config.compile:
            step = torch.compile(step)  # parameters and state-dict keys stay those of ``model``
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda and self.config.amp else nullcontext
        return step, autocast

    def _open_logs(self, resuming: bool) -> None:
        self.metrics = CsvLog(self.out_dir / "metrics.csv", ("iteration", *self.terms, "lr", "seconds"))
        self.val_log = CsvLog(self.out_dir / "validation.csv", ("iteration", "psnr", "ssim", "epe", "seconds"))
        if self.info.is_main:
            write_json_atomic(self.out_dir / "config.json", self.config.to_dict())
            self.metrics.start(self.start if resuming else None)
            self.val_log.start(self.start if resuming else None)

    # ------------------------------------------------------------------ loop parts
    def optimise(self, it: int) -> None:
        """One optimiser step on one batch: the variant's loss, its gradient, Adam, the lr schedule."""
        config = self.config
        t0 = time.perf_counter()
        lr_batch, hr_batch = self.source.sample(self.per_rank)
        lr_batch = torch.as_tensor(lr_batch).to(self.device, non_blocking=True)
        hr_batch = torch.as_tensor(hr_batch).to(self.device, non_blocking=True)
        self.lr_now = self.optimizer.param_groups[0]["lr"]
        terms = variant_losses(config.variant, self.step, lr_batch, hr_batch, self.teacher, config.alpha,
                               self.autocast)
        values = reduce_terms(terms, self.terms, self.info)
        for name in self.terms:  # components first: name the root cause
            if not math.isfinite(values[name]):
                raise NonFiniteLossError(
                    f"non-finite loss at iteration {it}: {name} = {values[name]} ({config.variant}); "
                    f"training stopped, {kept_checkpoint(self.out_dir)}")
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        self.seconds += time.perf_counter() - t0
        for name in self.terms:
            self.window[name] = self.window.get(name, 0.0) + values[name]
        self.window_n += 1
        self.progress.update(1)

    def refuse_non_finite_weights(self, it: int) -> None:
        """Stop before NaN/inf weights are scored or kept (``last.pt`` stays the last finite one)."""
        bad = non_finite_tensors(self.model.state_dict())
        if bad:
            config = self.config
            raise NonFiniteLossError(
                f"non-finite weights after iteration {it}: {len(bad)} tensor(s) hold NaN or inf (first "
                f"{bad[0]!r}; {config.variant}, lr {config.lr:g}); training stopped before writing them, "
                f"{kept_checkpoint(self.out_dir)}")

    def log_losses(self, it: int) -> None:
        """One ``metrics.csv`` row: every loss term averaged over the iterations since the last row."""
        self.final_losses = {name: self.window[name] / self.window_n for name in self.terms}
        if self.info.is_main:
            self.metrics.append({"iteration": it, **self.final_losses, "lr": self.lr_now,
                                 "seconds": round(self.seconds, 4)})
        self.progress.set_postfix(loss=f"{self.final_losses['loss']:.3e}", lr=f"{self.lr_now:.1e}", refresh=False)
        self.window, self.window_n = {}, 0

    def validate(self, it: int) -> None:
        """Score the model on the validation split (rank 0); keep ``best.pt`` when PSNR improved."""
        improved = False
        if self.info.is_main:
            scores = _run_validation(self.validator, self.model)
            self.last_psnr = scores["psnr"]
            self.val_log.append({"iteration": it, **scores, "seconds": round(self.seconds, 4)})
            improved = self.best["psnr"] is None or self.last_psnr > self.best["psnr"]
            if improved:
                self.best = {"psnr": self.last_psnr, "iteration": it}
            self.progress.set_postfix(loss=f"{self.final_losses.get('loss', float('nan')):.3e}",
                                      lr=f"{self.lr_now:.1e}", psnr=f"{self.last_psnr:.2f}", refresh=False)
        self.best, improved = broadcast_object((self.best, improved), self.info)
        if improved:
            self.save_checkpoint("best.pt", it)

    def save_checkpoint(self, name: str, it: int) -> None:
        """Write ``name`` (rank 0); every rank takes part, as the payload gathers their RNG states."""
        data = self.payload(it)
        if self.info.is_main:
            try:
                save_atomic(data, self.out_dir / name)
            except OSError as exc:  # e.g. a full disk: the atomic writer kept the old file
                kept = f"last.pt of iteration {self.saved}" if self.saved is not None else "no last.pt yet"
                fix = "free some space, then" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "then"
                raise OSError(f"run folder {self.out_dir}: cannot write {name} ({exc.strerror or exc}); it keeps "
                              f"{kept}: {fix} resume (--resume)") from exc
            if name == "last.pt":
                self.saved = it

    def payload(self, iteration: int) -> dict[str, Any]:
        """The checkpoint dict (:mod:`sofkd_lib.weights.checkpoint`) at ``iteration``."""
        states = _rng_state(self.source, self.device)
        rng = dict(states)
        if self.info.world_size > 1:
            # Gather as bytes: all_gather_object cannot carry tensors in every torch build.
            buf = io.BytesIO()
            torch.save(states, buf)
            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, buf.getvalue())
            rng["ranks"] = [torch.load(io.BytesIO(b), weights_only=True) for b in gathered]
        return {
            "format": FORMAT, "version": VERSION, "variant": self.config.variant,
            "architecture": architecture_of(self.model).to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "config": self.config.to_dict(), "iteration": iteration,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "rng": rng, "best": dict(self.best), "seconds": self.seconds, "world_size": self.info.world_size,
        }

    # ------------------------------------------------------------------ end
    def close(self) -> None:
        self.progress.close()
        if self.prefetcher is not None:
            self.prefetcher.close()

    def finish(self) -> TrainResult:
        """After the last iteration: the result, and ``summary.json`` (rank 0)."""
        barrier(self.info)
        done = max(self.start, self.end)
        rate = done / self.seconds if self.seconds > 0 else 0.0
        result = TrainResult(self.out_dir, self.config.variant, done, self.total,
                             self.final_losses or last_logged(self.out_dir, self.terms), self.best["psnr"],
                             self.best["iteration"], self.last_psnr, self.seconds, rate, self.model, self.teacher)
        if self.info.is_main:
            write_json_atomic(self.out_dir / "summary.json", result.summary())
        return result


def _run_validation(validate: Validator, model: SOFVSR) -> dict[str, float]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            scores = dict(validate(model))
    finally:
        for m, training in modes.items():
            m.train(training)
    if "psnr" not in scores:
        raise KeyError(f"validation callable returned {sorted(scores)}; it must include 'psnr'")
    return {k: float(v) for k, v in scores.items()}


def _check_resumable(checkpoint: Mapping[str, Any], config: TrainConfig, path: Path, info: DistInfo) -> None:
    if checkpoint["variant"] != config.variant:
        raise CheckpointError(f"cannot resume {path}: it trains {checkpoint['variant']!r}, not {config.variant!r}")
    try:
        stored = TrainConfig.from_dict(checkpoint["config"])
    except ConfigError as exc:
        raise CheckpointError(f"cannot resume {path}: its config is not valid here: {exc}") from exc
    changed = {k: v for k, v in diff(stored, config).items() if k not in RESUMABLE_CHANGES}
    if changed:
        text = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in changed.items())
        raise CheckpointError(f"cannot resume {path}: the configuration changed ({text})")
    if int(checkpoint["iteration"]) > config.total_iterations:
        raise CheckpointError(f"cannot resume {path}: it is at iteration {checkpoint['iteration']}, past this "
                              f"run's {config.total_iterations} iterations")
    saved_world = int(checkpoint.get("world_size", 1))
    if saved_world != info.world_size:
        raise CheckpointError(f"cannot resume {path}: written by {saved_world} process(es), "
                              f"now {info.world_size}; the per-process data streams would not continue")


class _NoProgress:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, start: int, quiet: bool, variant: str):
    if quiet:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=variant, unit="it", dynamic_ncols=True, mininterval=1.0)


# --------------------------------------------------------------------------- high level
def run_training(config: TrainConfig, out_dir: str | os.PathLike, teacher: str | os.PathLike | None = None,
                 init: str | os.PathLike | None = None, resume: str = "no", stop_at: int | None = None,
                 quiet: bool = False) -> TrainResult:
    """Train on the data ``config`` names (the CLI's and the notebook's entry point).

    Inputs and the run folder (:func:`check_run_folder`: a folder another trainer holds is
    refused) are checked before the data is loaded.
    """
    info = init_distributed(config.device)
    device = resolve_device(config.device, info)
    prepare_models(config, teacher, init)  # fail fast: before loading any data
    if info.is_main:
        check_run_folder(out_dir)
    source = make_source(config, info)
    validate = make_validator(config, device) if info.is_main else None
    return train(config, source, out_dir, teacher=teacher, init=init, validate=validate, resume=resume,
                 stop_at=stop_at, quiet=quiet, device=device)


