"""The distillation method, executed: a Table 1 record made into models, and one step's losses.

:func:`prepare_models` builds the row's model from :mod:`sofkd_lib.method.variants`
(its widths, its frozen parts copied from the runs they come from, the rest fresh
from the seed) and the frozen teacher; :func:`variant_losses` is the step: the
teacher's outputs under ``torch.no_grad``, the student's forward, and every term of
the row's equation from :mod:`sofkd_lib.method.losses`. The engine
(:mod:`sofkd_lib.engine.train`) only adds the optimiser, logs and checkpoints.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn

from sofkd_lib.archs.sofvsr_arch import SOFVSR, FlowPyramid, SOFVSROutput
from sofkd_lib.engine.config import (
    ConfigError,
    TrainConfig,
)
from sofkd_lib.method import losses
from sofkd_lib.method.variants import PART_LABELS, PARTS, TABLE1, Variant, variant_spec
from sofkd_lib.weights.checkpoint import (
    Architecture,
    CheckpointError,
    build_model,
    load_model,
)
from sofkd_lib.weights.warm_start import warm_start_official


def _as_model(source: SOFVSR | str | os.PathLike, expect: Architecture, what: str) -> tuple[SOFVSR, dict | None]:
    """A model (deep-copied) or any checkpoint :func:`~sofkd_lib.weights.checkpoint.load_model` reads, checked
    against ``expect``; also the training-checkpoint dict (None for other sources)."""
    model, data = load_model(source, expect=expect, role=what, with_checkpoint=True)
    return (copy.deepcopy(model).cpu() if model is source else model), data


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
