"""The losses of Lee & Park (2023), one function per equation.

Conventions follow the SOF-VSR authors' ``train.py``/``data_utils.py``: flows in
network units (1 unit = 15.5 px), frames as Y in [0, 1]. Tensors: ``lr``
(B, T, 1, h, w), ``hr`` (B, T, 1, s·h, s·w), flows as returned by
:meth:`sofkd_lib.archs.sofvsr_arch.SOFVSR.estimate_flows` (each level (B, T-1, 2, h_l, w_l)).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from sofkd_lib.archs.sofvsr_arch import FlowPyramid
from sofkd_lib.archs.warp import flow_warp

#: λ4 of Eq. 1 (weight of the OFR loss).
LAMBDA_OFR = 0.01
#: α of Eq. 4, 6 and 8 (weight of the student's own loss).
ALPHA = 0.9
#: Eq. 3 level weights for (½ LR, LR, HR).
LEVEL_WEIGHTS = (0.1, 0.2, 1.0)
#: Eq. 3 weight of the flow-smoothness term.
SMOOTHNESS_WEIGHT = 0.1


def flow_smoothness(flow: torch.Tensor) -> torch.Tensor:
    """L1 total variation of a flow (B, 2, h, w), the regulariser inside Eq. 3.

    Sum over both flow channels of |vertical| + |horizontal| forward differences on
    the (h-1)×(w-1) interior, divided by B·(h-1)·(w-1) (the authors' normalisation).
    """
    b, _, h, w = flow.shape
    dy = flow[:, :, : h - 1, : w - 1] - flow[:, :, 1:, : w - 1]
    dx = flow[:, :, : h - 1, : w - 1] - flow[:, :, : h - 1, 1:]
    return (dy.abs() + dx.abs()).sum() / (b * (h - 1) * (w - 1))


def ofr_level_loss(
    neighbour: torch.Tensor, centre: torch.Tensor, flow: torch.Tensor,
    smoothness_weight: float = SMOOTHNESS_WEIGHT,
) -> torch.Tensor:
    """One level, one neighbour of Eq. 3: mean |centre − warp(neighbour, flow)| + 0.1·smoothness."""
    warped = flow_warp(neighbour, flow)
    return (centre - warped).abs().mean() + smoothness_weight * flow_smoothness(flow)


def sr_loss(sr: torch.Tensor, hr_centre: torch.Tensor) -> torch.Tensor:
    """Eq. 2: L_SR = MSE between the SR frame and the ground-truth centre frame."""
    return F.mse_loss(sr, hr_centre)


def ofr_loss(
    lr: torch.Tensor, hr: torch.Tensor, flows: FlowPyramid,
    level_weights: Sequence[float] = LEVEL_WEIGHTS, smoothness_weight: float = SMOOTHNESS_WEIGHT,
) -> torch.Tensor:
    """Eq. 3: L_OFR, averaged over the 2N neighbours.

    For each neighbour i: 0.1·L(½ LR) + 0.2·L(LR) + 1·L(HR), each level compared at
    its own resolution (½ LR frames are the LR frames average-pooled by 2).
    """
    t = lr.shape[1]
    c = t // 2
    neighbours = [i for i in range(t) if i != c]
    w_half, w_lr, w_hr = level_weights
    lr_half_centre = F.avg_pool2d(lr[:, c], 2)
    total = lr.new_zeros(())
    for k, i in enumerate(neighbours):
        total = total + w_half * ofr_level_loss(F.avg_pool2d(lr[:, i], 2), lr_half_centre, flows.half[:, k], smoothness_weight)
        total = total + w_lr * ofr_level_loss(lr[:, i], lr[:, c], flows.lr[:, k], smoothness_weight)
        total = total + w_hr * ofr_level_loss(hr[:, i], hr[:, c], flows.hr[:, k], smoothness_weight)
    return total / len(neighbours)


def sof_loss(loss_sr: torch.Tensor, loss_ofr: torch.Tensor, lambda_ofr: float = LAMBDA_OFR) -> torch.Tensor:
    """Eq. 1: L_SOF = L_SR + λ4·L_OFR (λ4 = 0.01)."""
    return loss_sr + lambda_ofr * loss_ofr


def kd_loss(loss_student: torch.Tensor, loss_distill: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """Eq. 4: L = α·L_student + (1 − α)·L_distill (α = 0.9)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha * loss_student + (1.0 - alpha) * loss_distill


def sr_distillation_loss(sr_student: torch.Tensor, sr_teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 5: L_KD-SR = mean |SR_teacher − SR_student| (L1)."""
    return (sr_teacher.detach() - sr_student).abs().mean()


def phase1_loss(loss_sof_student: torch.Tensor, loss_sr_distill: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """Eq. 6: phase-1 loss α·L_SOF(student) + (1 − α)·L_KD-SR (Eq. 4 with Eq. 5).

    In phase 1 the OFRnet is the frozen teacher's, so only the SR part of L_SOF
    carries gradient; the OFR term is kept so logged values match the equation.
    """
    return kd_loss(loss_sof_student, loss_sr_distill, alpha)


def flow_distillation_loss(flows_student: FlowPyramid, flows_teacher: FlowPyramid) -> torch.Tensor:
    """Eq. 7: L_KD-OFR = Σ over the three levels of MSE(teacher flow, student flow), network units."""
    return sum(F.mse_loss(s, t.detach()) for s, t in zip(flows_student, flows_teacher))


def phase2_loss(loss_sof_student: torch.Tensor, loss_flow_distill: torch.Tensor, loss_sr_distill: torch.Tensor,
                alpha: float = ALPHA) -> torch.Tensor:
    """Eq. 8: phase-2 loss α·L_SOF(student) + (1 − α)·(L_KD-OFR + L_KD-SR).

    Eq. 4 with both distillation terms: the teacher's flows (Eq. 7) and its SR frame
    (Eq. 5), as the paper keeps the SR term of phase 1 in phase 2.
    """
    return kd_loss(loss_sof_student, loss_flow_distill + loss_sr_distill, alpha)
