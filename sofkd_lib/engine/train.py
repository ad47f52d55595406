"""Trainers for the teacher and the four student variants of Table 1.

What each variant builds, trains, freezes and minimises is declared once in
:mod:`sofkd_lib.method.variants`; :func:`prepare_models` and :func:`variant_losses` read
those records. The teacher (phase1, phase2, phase1+2) is a separate copy, in eval mode, run
under ``torch.no_grad``; frozen parts have ``requires_grad=False`` and are not
given to the optimiser. Every loss comes from :mod:`sofkd_lib.method.losses`.

The core, :func:`train`, takes any *batch source* (``sample(batch_size)`` →
``(lr (B,T,1,p,p), hr (B,T,1,sp,sp))``, ``state_dict()``, ``load_state_dict()``)
and an optional validation callable, so it runs on the real sampler
(:func:`make_source`) or on :class:`SyntheticSource`.

Run folder: ``last.pt`` and ``best.pt`` (see :mod:`sofkd_lib.weights.checkpoint`;
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

import argparse
import copy
import csv
import io
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from sofkd_lib.archs.sofvsr_arch import SOFVSR, FlowPyramid, SOFVSROutput
from sofkd_lib.engine.config import (
    ConfigError,
    TrainConfig,
    diff,
    make_config,
    parse_overrides,
    parse_value,
)
from sofkd_lib.engine.prefetch import PrefetchSource
from sofkd_lib.method import losses
from sofkd_lib.method.variants import PART_LABELS, PARTS, TABLE1, Variant, variant_spec
from sofkd_lib.weights.checkpoint import (
    FORMAT,
    VERSION,
    Architecture,
    CheckpointError,
    architecture_of,
    build_model,
    check_architecture,
    encode_state,
    load_checkpoint,
    load_model_checkpoint,
    non_finite_tensors,
    save_atomic,
)
from sofkd_lib.weights.pretrained import resolve_checkpoint

#: Loss terms logged per variant, components first, the optimised total last (from its equation).
LOSS_TERMS: dict[str, tuple[str, ...]] = {v.name: v.loss_terms for v in TABLE1}
#: Config fields that may change when resuming (they do not alter the weights' trajectory).
RESUMABLE_CHANGES = frozenset({
    "profile", "iterations", "phase_iterations", "teacher_iterations", "student_iterations",
    "log_every", "checkpoint_every", "val_every", "val_max_frames", "data_root", "device", "compile", "prefetch",
})
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "validation.csv", "config.json", "summary.json")


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the iteration and the term."""


class BatchSource(Protocol):
    def sample(self, batch_size: int) -> tuple[Any, Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


#: ``validate(model) -> {"psnr": dB, ...}``; called on rank 0 with the model in eval mode.
Validator = Callable[[SOFVSR], Mapping[str, float]]


# --------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_dist() -> DistInfo:
    """Rank and world size of the initialised process group (or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1): nccl on CUDA, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:  # nccl collectives (barrier, object broadcasts) use the current device
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return current_dist()


def resolve_device(name: str, info: DistInfo | None = None) -> torch.device:
    """``auto`` → CUDA when present, else CPU; under DDP on CUDA each process takes ``cuda:LOCAL_RANK``."""
    info = info or DistInfo()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"TrainConfig.device is {name!r} but CUDA is not available")
        if name == "cuda":
            name = f"cuda:{info.local_rank if info.world_size > 1 else torch.cuda.current_device()}"
    return torch.device(name)


# --------------------------------------------------------------------------- synthetic data
class SyntheticSource:
    """Moving smooth random textures: a data-free batch source for tests and CI.

    Each sample is a bicubic-upsampled noise image; frame t is a crop shifted by
    ``(t - c)·v`` HR pixels, v a random integer velocity in [-2, 2]²; LR frames
    are the HR frames average-pooled by ``scale``. Deterministic from ``seed``.
    """

    def __init__(self, scale: int = 4, patch_size: int = 32, n_frames: int = 3, seed: int = 0):
        self.scale, self.patch_size, self.n_frames = scale, patch_size, n_frames
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        s, p, t = self.scale, self.patch_size, self.n_frames
        hp, c, margin = s * p, t // 2, 2 * (t // 2)
        size = hp + 2 * margin
        grid = max(2, hp // 8)
        noise = torch.rand(batch_size, 1, grid, grid, generator=self.generator)
        big = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        velocity = torch.randint(-2, 3, (batch_size, 2), generator=self.generator)
        hr = torch.empty(batch_size, t, 1, hp, hp)
        for b in range(batch_size):
            for i in range(t):
                dy, dx = (margin + (i - c) * velocity[b]).tolist()
                hr[b, i] = big[b, :, dy : dy + hp, dx : dx + hp]
        lr = F.avg_pool2d(hr.view(-1, 1, hp, hp), s).view(batch_size, t, 1, p, p)
        return lr, hr

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (a plain MSE over all pixels)."""
    mse = F.mse_loss(a.float().clamp(0, 1), b.float()).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def synthetic_validator(config: TrainConfig, n_samples: int = 4) -> Validator:
    """PSNR on a fixed synthetic batch (seed apart from training's)."""
    lr, hr = SyntheticSource(config.scale, config.patch_size, config.n_frames, 10_007 + config.seed).sample(n_samples)

    def validate(model: SOFVSR) -> dict[str, float]:
        device = next(model.parameters()).device
        return {"psnr": psnr(model(lr.to(device)).cpu(), hr[:, config.n_frames // 2])}

    return validate


# --------------------------------------------------------------------------- real data
def make_source(config: TrainConfig, info: DistInfo | None = None) -> BatchSource:
    """The training batch source ``config`` names, seeded per DDP rank."""
    info = info or DistInfo()
    seed = config.seed + 1_000_003 * info.rank
    if config.dataset == "synthetic":
        return SyntheticSource(config.scale, config.patch_size, config.n_frames, seed)
    from sofkd_lib.data import TrainSampler, load_split

    clips = load_split(config.dataset, "train", root=config.data_root)
    kwargs = {"scale": config.scale, "patch_size": config.patch_size, "n_frames": config.n_frames, "seed": seed,
              "degradation": config.degradation, "augment": config.augment}
    if config.sampler == "device":
        from sofkd_lib.data.device_sampler import DeviceSampler

        return DeviceSampler(clips, **kwargs, device=resolve_device(config.device, info))
    return TrainSampler(clips, **kwargs)


def make_validator(config: TrainConfig, device: torch.device) -> Validator | None:
    """Validation on the val split of ``config.dataset`` (embedded: its test split; None when ``val_every`` is 0)."""
    if config.val_every == 0:
        return None
    if config.dataset == "synthetic":
        return synthetic_validator(config)
    from sofkd_lib.data import load_split
    from sofkd_lib.evaluation.evaluate import evaluate_model

    clips = load_split(config.dataset, "val", root=config.data_root)  # DAVIS: val, never the test sets

    def validate(model: SOFVSR) -> dict[str, float]:
        result = evaluate_model(model, clips, config.scale, device=device, max_frames=config.val_max_frames)
        average = result["average"]
        return {k: float(v) for k, v in average.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return validate


# --------------------------------------------------------------------------- models
def _as_model(source: SOFVSR | str | os.PathLike, expect: Architecture, what: str) -> tuple[SOFVSR, dict | None]:
    """A model (deep-copied) or a checkpoint file, checked against ``expect``; also the checkpoint dict."""
    if isinstance(source, nn.Module):
        check_architecture(architecture_of(source), expect, what)
        return copy.deepcopy(source).cpu(), None
    path = Path(resolve_checkpoint(source))  # "pretrained:NAME" → its recorded weights file
    if not path.is_file():
        raise CheckpointError(f"{what}: checkpoint not found: {path}")
    data = None
    try:
        data = load_checkpoint(path)
    except CheckpointError:
        pass  # maybe the authors' release; load_model_checkpoint decides
    model = load_model_checkpoint(path, expect=None, scale=expect.scale)
    check_architecture(architecture_of(model), expect, f"{what} {path}")
    return model, data


def prepare_models(config: TrainConfig, teacher: SOFVSR | str | os.PathLike | None = None,
                   init: SOFVSR | str | os.PathLike | None = None) -> tuple[SOFVSR, SOFVSR | None]:
    """Check the inputs ``config.variant`` needs and build (model, frozen teacher or None).

    Every error (unexpected or missing checkpoint, wrong architecture, a phase-1
    init trained with another teacher) is raised here, before any training. The
    model's fresh weights come from ``torch.manual_seed(config.seed)``.
    """
    spec = variant_spec(config.variant)
    name, init_from = spec.name, spec.init_from
    if spec.needs_teacher and teacher is None:
        raise ConfigError(f"variant {name!r} needs a teacher checkpoint (--teacher / teacher_checkpoint)")
    if not spec.needs_teacher and teacher is not None:
        raise ConfigError(f"variant {name!r} trains without a teacher; do not pass --teacher / teacher_checkpoint")
    if init_from is not None and init is None:
        raise ConfigError(f"variant {name!r} needs a {init_from} checkpoint (--init / init_checkpoint)")
    if init_from is None and init is not None:
        starts = " and ".join(v.name for v in TABLE1 if v.init_from)
        raise ConfigError(f"only {starts} starts from an --init / init_checkpoint; variant {name!r} does not")
    s, n, tc, sc = config.scale, config.n_frames, config.teacher_channels, config.student_channels

    def arch(v: Variant) -> Architecture:
        return Architecture(s, n, *v.widths(tc, sc))

    sources: dict[str, SOFVSR] = {}  # run name → its frozen model, the source of this variant's frozen parts
    teacher_model = None
    if teacher is not None:
        teacher_model, _ = _as_model(teacher, arch(variant_spec("teacher")), "teacher")
        sources["teacher"] = teacher_model.eval().requires_grad_(False)
    if init is not None:
        source = variant_spec(init_from)
        init_model, data = _as_model(init, arch(source), f"init ({init_from}) checkpoint")
        if data is not None and data["variant"] != init_from:
            raise CheckpointError(f"init checkpoint {init} was trained as variant {data['variant']!r}; "
                                  f"{name} needs a {init_from!r} checkpoint")
        for part, origin in source.frozen_from.items():  # what the init run froze must be this teacher's
            if origin == "teacher" and teacher_model is not None:
                ours, theirs = getattr(init_model, part).state_dict(), getattr(teacher_model, part).state_dict()
                if any(not torch.equal(ours[k], theirs[k]) for k in ours):
                    raise CheckpointError(f"init checkpoint {init}: its {PART_LABELS[part]} is not the teacher's ({teacher}); "
                                          f"{init_from} was trained with another teacher")
        sources[init_from] = init_model

    torch.manual_seed(config.seed)
    model = build_model(arch(spec))
    if config.warm_start is not None:  # the teacher only (TrainConfig checks)
        warm_start_official(model, config.warm_start, config.warm_start_derive)
    for part, origin in spec.frozen_from.items():
        getattr(model, part).load_state_dict(getattr(sources[origin], part).state_dict())
    for part in PARTS:
        if part not in spec.trains:
            getattr(model, part).requires_grad_(False).eval()
    return model, teacher_model


# --------------------------------------------------------------------------- warm start
def _official_any_scale(path: Path) -> SOFVSR:
    """The authors' weights at whatever scale the file holds (tried x2, x3, x4)."""
    from sofkd_lib.weights.official import load_official

    errors = []
    for scale in (2, 3, 4):
        try:
            return load_official(path, scale)
        except (KeyError, ValueError) as exc:
            errors.append(f"x{scale}: {exc}")
    raise CheckpointError(f"warm_start {path}: not a SOF-VSR release at x2, x3 or x4 ({'; '.join(errors)})")


def _final_conv_keys(model: SOFVSR) -> dict[str, str]:
    """Role → key prefix of the last conv of OFRnet's head and of SRnet (their index depends on the scale)."""
    return {"ofrnet_last": f"ofrnet.upsampler.{len(model.ofrnet.upsampler) - 1}.",
            "srnet_last": f"srnet.body.{len(model.srnet.body) - 1}."}


def _source_key(key: str, target: dict[str, str], source: dict[str, str]) -> str | None:
    """The source tensor playing ``key``'s role: the same name, except that final convs map to final convs."""
    for role, prefix in target.items():
        if key.startswith(prefix):
            return source[role] + key[len(prefix):]
    if any(key.startswith(prefix) for prefix in source.values()):
        return None  # same name, other role (e.g. a x2 final conv vs a x4 second sub-pixel stage)
    return key


@torch.no_grad()
def warm_start_official(model: SOFVSR, path: str | os.PathLike, derive: bool = False) -> dict[str, Any]:
    """Initialise ``model`` from the authors' SOF-VSR weights at ``path`` (any scale); returns a report.

    Every tensor whose role (the same layer; the last conv of each part counts as
    the same layer whatever the scale) and shape match is copied. At another scale
    the first SRnet conv (its input holds s² warped copies per neighbour) and, x2 → x4,
    the second sub-pixel stage have no counterpart: they keep their fresh values,
    or with ``derive``: the first conv takes, for each of the s×s sub-positions, the
    source's weight of the sub-position covering it divided by how many share it, and
    the extra stage starts as nearest-neighbour replication (PixelShuffle of copies).
    The global torch RNG is left as it was (loading builds a model).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"warm_start: official checkpoint not found: {path}")
    rng = torch.get_rng_state()
    try:
        src_model = _official_any_scale(path)
    finally:
        torch.set_rng_state(rng)
    theirs, mine = architecture_of(src_model), architecture_of(model)
    if (theirs.ofrnet_channels, theirs.srnet_channels) != (mine.ofrnet_channels, mine.srnet_channels):
        raise CheckpointError(f"warm_start {path}: it holds {theirs.describe()}, the model is {mine.describe()}; "
                              f"the ResBlock widths must match")
    src, ours = src_model.state_dict(), model.state_dict()
    target_roles, source_roles = _final_conv_keys(model), _final_conv_keys(src_model)
    transferred, derived, fresh = [], [], []
    for key, value in ours.items():
        skey = _source_key(key, target_roles, source_roles)
        if skey is not None and skey in src and tuple(src[skey].shape) == tuple(value.shape):
            value.copy_(src[skey])
            transferred.append(key if skey == key else f"{key} <- {skey}")
        else:
            fresh.append(key)
    if derive:
        derived = _derive_scale_specific(model, src_model, ours, src, fresh)
        fresh = [k for k in fresh if k not in {d.split(" ")[0] for d in derived}]
    if not transferred:
        raise CheckpointError(f"warm_start {path}: no tensor matches the model ({architecture_of(model).describe()})")
    return {"source": str(path), "source_scale": src_model.scale, "target_scale": model.scale,
            "derive": derive, "transferred": transferred, "derived": derived, "fresh": fresh,
            "transferred_parameters": int(sum(ours[k.split(" ")[0]].numel() for k in transferred)),
            "total_parameters": int(sum(v.numel() for v in ours.values()))}


def _derive_scale_specific(model: SOFVSR, src_model: SOFVSR, ours: dict[str, torch.Tensor],
                           src: dict[str, torch.Tensor], fresh: list[str]) -> list[str]:
    """See :func:`warm_start_official` (``derive``); returns the derived keys, each with its rule."""
    done = []
    s, k = model.scale, src_model.scale
    first = "srnet.body.0.weight"
    w_t, w_s = ours[first], src[first]
    n_neigh = model.n_frames - 1
    if first in fresh and w_t.shape[0] == w_s.shape[0] and w_s.shape[1] == 1 + n_neigh * k * k:
        w_t[:, 0] = w_s[:, 0]
        cover = [[(i * k // s, j * k // s) for j in range(s)] for i in range(s)]
        share = {}
        for row in cover:
            for ij in row:
                share[ij] = share.get(ij, 0) + 1
        for n in range(n_neigh):
            for i in range(s):
                for j in range(s):
                    a, b = cover[i][j]
                    w_t[:, 1 + n * s * s + i * s + j] = w_s[:, 1 + n * k * k + a * k + b] / share[(a, b)]
        done.append(f"{first} (sub-position average of the x{k} source)")
    if s == 4 and k == 2:
        for key in ("ofrnet.upsampler.4.weight", "srnet.body.6.weight"):
            w = ours[key]  # (64·4, 64, 1, 1) before PixelShuffle(2): out channel c·4 + q reads channel c
            if key in fresh and tuple(w.shape) == (256, 64, 1, 1):
                w.zero_()
                for c in range(64):
                    w[c * 4 : c * 4 + 4, c, 0, 0] = 1.0
                done.append(f"{key} (nearest-neighbour replication)")
    return done


class StudentStep(nn.Module):
    """The trained model's forward for one step (the module DDP wraps).

    With ``flows`` (phase 1: the frozen teacher OFRnet's), only SRnet runs;
    otherwise the model estimates its own flows.
    """

    def __init__(self, model: SOFVSR):
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, flows: FlowPyramid | None = None) -> SOFVSROutput:
        if flows is None:
            return self.model.forward_with_flows(lr)
        return SOFVSROutput(self.model.super_resolve(lr, flows), flows)


def _float32(out: SOFVSROutput) -> SOFVSROutput:
    return SOFVSROutput(out.sr.float(), FlowPyramid(*(f.float() for f in out.flows)))


def variant_losses(variant: str, step: nn.Module, lr: torch.Tensor, hr: torch.Tensor,
                   teacher: SOFVSR | None = None, alpha: float = losses.ALPHA,
                   autocast: Callable[[], Any] = nullcontext) -> dict[str, torch.Tensor]:
    """Every loss term of ``variant`` on one batch; ``"loss"`` is the one optimised.

    teacher, student: Eq. 1. phase1: Eq. 6 = α·L_SOF + (1−α)·L_KD-SR, with the
    flows of the frozen teacher OFRnet (the model's OFRnet is a copy of it).
    phase2, phase1+2: Eq. 8 = α·L_SOF + (1−α)·(L_KD-OFR + L_KD-SR), the teacher's
    SR frame and flows both computed from the same batch.
    ``autocast`` wraps the forward passes only (bf16 on CUDA); the losses are
    always computed in float32.
    """
    try:
        spec = variant_spec(variant)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    centre = hr[:, hr.shape[1] // 2]
    teacher_out = None
    if spec.needs_teacher:
        if teacher is None:
            raise ConfigError(f"variant {variant!r} needs a teacher")
        with torch.no_grad(), autocast():
            teacher_out = _float32(teacher.forward_with_flows(lr))
    with autocast():  # an OFRnet frozen from the teacher's gives the teacher's flows: reuse them
        out = step(lr, teacher_out.flows) if spec.frozen_from.get("ofrnet") == "teacher" else step(lr)
    out = _float32(out)
    terms = {"loss_sr": losses.sr_loss(out.sr, centre), "loss_ofr": losses.ofr_loss(lr, hr, out.flows)}
    terms["loss_sof"] = losses.sof_loss(terms["loss_sr"], terms["loss_ofr"])
    if spec.equation == "Eq. 1":
        terms["loss"] = terms["loss_sof"]
    elif spec.equation == "Eq. 6":
        terms["loss_kd_sr"] = losses.sr_distillation_loss(out.sr, teacher_out.sr)
        terms["loss"] = losses.phase1_loss(terms["loss_sof"], terms["loss_kd_sr"], alpha)
    elif spec.equation == "Eq. 8":
        terms["loss_kd_ofr"] = losses.flow_distillation_loss(out.flows, teacher_out.flows)
        terms["loss_kd_sr"] = losses.sr_distillation_loss(out.sr, teacher_out.sr)
        terms["loss"] = losses.phase2_loss(terms["loss_sof"], terms["loss_kd_ofr"], terms["loss_kd_sr"], alpha)
    else:
        raise ConfigError(f"variant {variant!r}: no loss for {spec.equation!r}")
    return {k: terms[k] for k in spec.loss_terms}


def adam(params: list[torch.Tensor], **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam``, as the fused single-kernel implementation where it exists.

    Same update rule; on CPU one fused pass instead of a dozen foreach passes over
    every parameter (2.8 → 0.8 ms per teacher step here, ``bench/README.md``).
    """
    fused = bool(params) and all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda")
                                 for p in params)
    return torch.optim.Adam(params, fused=fused or None, **kwargs)


def make_optimizer(model: nn.Module, config: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.StepLR]:
    """Adam over the trainable parameters only, and StepLR stepped once per iteration.

    A warm-started run starts from ``warm_start_lr`` when it is set (fine-tuning), else from ``lr``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.warm_start_lr if config.warm_start is not None and config.warm_start_lr is not None else config.lr
    optimizer = adam(params, lr=lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    return optimizer, scheduler


# --------------------------------------------------------------------------- run folder
def _write_text_atomic(path: Path, text: str) -> None:
    from sofkd_lib.data.io import atomic_write_bytes

    atomic_write_bytes(path, lambda tmp: tmp.write_text(text))


def _write_json_atomic(path: Path, data: Any) -> None:
    _write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


class _CsvLog:
    """An append-only CSV with a fixed header; on resume, rows past the checkpoint are dropped."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path, self.columns = path, columns

    def start(self, keep_until: int | None) -> None:
        rows: list[dict[str, str]] = []
        if keep_until is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) <= keep_until]
        buf = [",".join(self.columns)]
        buf += [",".join(r.get(c, "") for c in self.columns) for r in rows]
        _write_text_atomic(self.path, "\n".join(buf) + "\n")

    def append(self, row: Mapping[str, Any]) -> None:
        with self.path.open("a", newline="") as fh:
            fh.write(",".join(_fmt(row.get(c, "")) for c in self.columns) + "\n")
            fh.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_history(out_dir: str | os.PathLike) -> tuple[Any, Any]:
    """``(metrics, validation)`` of a run folder as pandas DataFrames (validation may be empty)."""
    import pandas as pd

    out_dir = Path(out_dir)
    metrics = pd.read_csv(out_dir / "metrics.csv")
    val_path = out_dir / "validation.csv"
    validation = pd.read_csv(val_path) if val_path.is_file() else pd.DataFrame(columns=["iteration", "psnr"])
    return metrics, validation


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
@dataclass
class TrainResult:
    """What a finished (or stopped) run leaves behind."""

    out_dir: Path
    variant: str
    iteration: int
    total_iterations: int
    final_losses: dict[str, float]
    best_psnr: float | None
    best_iteration: int | None
    last_psnr: float | None
    seconds: float
    iterations_per_second: float
    model: SOFVSR | None = field(default=None, repr=False)
    teacher: SOFVSR | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields (non-finite numbers become None)."""
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            return {k: clean(v) for k, v in x.items()} if isinstance(x, dict) else x

        return clean({
            "variant": self.variant, "iteration": self.iteration, "total_iterations": self.total_iterations,
            "final_losses": self.final_losses, "best_psnr": self.best_psnr, "best_iteration": self.best_iteration,
            "last_psnr": self.last_psnr, "seconds": self.seconds,
            "iterations_per_second": self.iterations_per_second,
        })


def _prepare_out_dir(out_dir: Path, resume: str) -> bool:
    """Apply the resume mode; True when training continues from ``last.pt``."""
    if resume not in ("no", "yes", "auto", "overwrite"):
        raise ValueError(f"resume must be 'no', 'yes', 'auto' or 'overwrite', got {resume!r}")
    last = out_dir / "last.pt"
    if resume == "overwrite":
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        return False
    if resume == "yes" and not last.is_file():
        raise CheckpointError(f"cannot resume: {last} not found")
    if resume == "no" and last.is_file():
        raise FileExistsError(f"{out_dir} already holds a run (last.pt); resume it or overwrite it "
                              f"(--resume / --overwrite)")
    return last.is_file() and resume in ("yes", "auto")


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
    """
    info = current_dist()
    device = device or resolve_device(config.device, info)
    if config.batch_size % info.world_size:
        raise ConfigError(f"TrainConfig.batch_size {config.batch_size} does not split over {info.world_size} processes")
    per_rank = config.batch_size // info.world_size
    out_dir = Path(out_dir)
    # Inputs first: every check before any file is touched or any step is taken.
    model, teacher_model = prepare_models(config, teacher, init)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    resuming = _broadcast_object(_prepare_out_dir(out_dir, resume) if info.is_main else None, info)
    # Only rank 0 validates; all ranks must agree on when (the checkpoint payload is collective).
    has_validation = bool(config.val_every) and bool(_broadcast_object(validate is not None, info))
    checkpoint = None
    if resuming:
        checkpoint = load_checkpoint(out_dir / "last.pt")
        _check_resumable(checkpoint, config, out_dir / "last.pt", info)
    _barrier(info)

    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda and config.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    if teacher_model is not None:
        teacher_model.to(device=device, memory_format=memory_format)
    optimizer, scheduler = make_optimizer(model, config)
    start, seconds, best = 0, 0.0, {"psnr": None, "iteration": None}
    np.random.seed(config.seed + info.rank)
    random.seed(config.seed + info.rank)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        rng = checkpoint["rng"]
        _set_rng_state(rng["ranks"][info.rank] if "ranks" in rng else rng, source, device)
        start, seconds = int(checkpoint["iteration"]), float(checkpoint.get("seconds", 0.0))
        best = dict(checkpoint.get("best") or best)
    step: nn.Module = StudentStep(model)
    if info.world_size > 1:
        step = nn.parallel.DistributedDataParallel(step, device_ids=[device.index] if cuda else None)
    if cuda and config.compile:
        step = torch.compile(step)  # parameters and state-dict keys stay those of ``model``
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda and config.amp else nullcontext

    total = config.total_iterations
    end = total if stop_at is None else min(total, stop_at)
    terms_order = LOSS_TERMS[config.variant]
    metrics = _CsvLog(out_dir / "metrics.csv", ("iteration", *terms_order, "lr", "seconds"))
    val_log = _CsvLog(out_dir / "validation.csv", ("iteration", "psnr", "ssim", "epe", "seconds"))
    if info.is_main:
        _write_json_atomic(out_dir / "config.json", config.to_dict())
        metrics.start(start if resuming else None)
        val_log.start(start if resuming else None)

    def payload(iteration: int) -> dict[str, Any]:
        states = _rng_state(source, device)
        rng = dict(states)
        if info.world_size > 1:
            # Gather as bytes: all_gather_object cannot carry tensors in every torch build.
            buf = io.BytesIO()
            torch.save(states, buf)
            gathered: list[Any] = [None] * info.world_size
            dist.all_gather_object(gathered, buf.getvalue())
            rng["ranks"] = [torch.load(io.BytesIO(b), weights_only=True) for b in gathered]
        return {
            "format": FORMAT, "version": VERSION, "variant": config.variant,
            "architecture": architecture_of(model).to_dict(),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": config.to_dict(), "iteration": iteration,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "rng": rng, "best": dict(best), "seconds": seconds, "world_size": info.world_size,
        }

    prefetcher = None
    # After the sampler state is restored: the stream continues where it stopped. A device sampler's batches
    # are already on the GPU (nothing to pin or overlap).
    if cuda and config.prefetch and config.sampler == "cpu":
        prefetcher = source = PrefetchSource(source, per_rank, pin_memory=True)
    last_psnr = None
    window: dict[str, float] = {}
    window_n = 0
    final_losses: dict[str, float] = {}
    progress = _progress(total, start, quiet or not info.is_main, config.variant)
    model.train()
    for part in PARTS:
        if part not in variant_spec(config.variant).trains:
            getattr(model, part).eval()
    try:
        for it in range(start + 1, end + 1):
            t0 = time.perf_counter()
            lr_batch, hr_batch = source.sample(per_rank)
            lr_batch = torch.as_tensor(lr_batch).to(device, non_blocking=True)
            hr_batch = torch.as_tensor(hr_batch).to(device, non_blocking=True)
            lr_now = optimizer.param_groups[0]["lr"]
            terms = variant_losses(config.variant, step, lr_batch, hr_batch, teacher_model, config.alpha, autocast)
            values = _reduce_terms(terms, terms_order, info)
            for name in terms_order:  # components first: name the root cause
                if not math.isfinite(values[name]):
                    raise NonFiniteLossError(
                        f"non-finite loss at iteration {it}: {name} = {values[name]} ({config.variant}); "
                        f"training stopped, {_kept_checkpoint(out_dir)}")
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            scheduler.step()
            seconds += time.perf_counter() - t0
            for name in terms_order:
                window[name] = window.get(name, 0.0) + values[name]
            window_n += 1
            progress.update(1)

            checkpoint_now = it % config.checkpoint_every == 0 or it == end
            validate_now = has_validation and (it % config.val_every == 0 or it == total)
            if checkpoint_now or validate_now:
                # A finite loss can still be followed by an update to inf/NaN weights: never score or keep those.
                bad = non_finite_tensors(model.state_dict())
                if bad:
                    raise NonFiniteLossError(
                        f"non-finite weights after iteration {it}: {len(bad)} tensor(s) hold NaN or inf (first "
                        f"{bad[0]!r}; {config.variant}, lr {config.lr:g}); training stopped before writing them, "
                        f"{_kept_checkpoint(out_dir)}")
            if it % config.log_every == 0 or checkpoint_now:
                final_losses = {name: window[name] / window_n for name in terms_order}
                if info.is_main:
                    metrics.append({"iteration": it, **final_losses, "lr": lr_now, "seconds": round(seconds, 4)})
                progress.set_postfix(loss=f"{final_losses['loss']:.3e}", lr=f"{lr_now:.1e}", refresh=False)
                window, window_n = {}, 0
            if validate_now:
                improved = False
                if info.is_main:
                    scores = _run_validation(validate, model)
                    last_psnr = scores["psnr"]
                    val_log.append({"iteration": it, **scores, "seconds": round(seconds, 4)})
                    improved = best["psnr"] is None or last_psnr > best["psnr"]
                    if improved:
                        best = {"psnr": last_psnr, "iteration": it}
                    progress.set_postfix(loss=f"{final_losses.get('loss', float('nan')):.3e}", lr=f"{lr_now:.1e}",
                                         psnr=f"{last_psnr:.2f}", refresh=False)
                best, improved = _broadcast_object((best, improved), info)
                if improved:
                    data = payload(it)  # every rank: the payload gathers their RNG states
                    if info.is_main:
                        save_atomic(data, out_dir / "best.pt")
            if checkpoint_now:
                data = payload(it)
                if info.is_main:
                    save_atomic(data, out_dir / "last.pt")
    finally:
        progress.close()
        if prefetcher is not None:
            prefetcher.close()
    _barrier(info)
    done = max(start, end)
    rate = done / seconds if seconds > 0 else 0.0
    result = TrainResult(out_dir, config.variant, done, total, final_losses or _last_logged(out_dir, terms_order),
                         best["psnr"], best["iteration"], last_psnr, seconds, rate, model, teacher_model)
    if info.is_main:
        _write_json_atomic(out_dir / "summary.json", result.summary())
    return result


def _kept_checkpoint(out_dir: Path) -> str:
    """What a stopped run leaves to resume from, for its error message (``last.pt`` and its iteration)."""
    last = out_dir / "last.pt"
    if not last.is_file():
        return "no checkpoint written yet; lower the learning rate (--lr) and start again"
    try:
        data = torch.load(last, map_location="cpu", weights_only=True)
        iteration, finite = data["iteration"], not non_finite_tensors(data["model"])
    except Exception:
        return f"{last} kept"
    if not finite:  # written before checkpoints were checked
        return f"{last} (iteration {iteration}) holds non-finite weights too: do not resume it"
    return f"last good checkpoint {last} (iteration {iteration}) kept, its weights finite; resume it with a lower --lr"


def _last_logged(out_dir: Path, names: tuple[str, ...]) -> dict[str, float]:
    path = out_dir / "metrics.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {n: float(rows[-1][n]) for n in names} if rows else {}


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


def _reduce_terms(terms: Mapping[str, torch.Tensor], names: tuple[str, ...], info: DistInfo) -> dict[str, float]:
    """Loss values as floats, averaged over DDP processes (so every rank sees the same numbers)."""
    stacked = torch.stack([terms[n].detach().float() for n in names])
    if info.world_size > 1:
        dist.all_reduce(stacked)
        stacked = stacked / info.world_size
    return dict(zip(names, stacked.tolist()))


def _broadcast_object(obj: Any, info: DistInfo) -> Any:
    if info.world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()


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

    Inputs are checked (:func:`prepare_models`) before the data is loaded.
    """
    info = init_distributed(config.device)
    device = resolve_device(config.device, info)
    prepare_models(config, teacher, init)  # fail fast: before loading any data
    source = make_source(config, info)
    validate = make_validator(config, device) if info.is_main else None
    return train(config, source, out_dir, teacher=teacher, init=init, validate=validate, resume=resume,
                 stop_at=stop_at, quiet=quiet, device=device)


_FLAG_FIELDS = ("iterations", "batch_size", "patch_size", "lr", "alpha", "seed", "device", "dataset", "data_root")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config the command line describes; wrong names, types or values name the field."""
    overrides = parse_overrides(args.overrides)
    for name in _FLAG_FIELDS:
        text = getattr(args, f"flag_{name}")
        if text is not None:
            if name in overrides:
                raise ConfigError(f"TrainConfig.{name} given both as --{name.replace('_', '-')} and --set")
            overrides[name] = parse_value(name, text)
    return make_config(args.profile, overrides, variant=args.variant)
