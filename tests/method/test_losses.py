"""Eq. 1-8 on hand-built tensors against hand-computed values."""
import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import FlowPyramid
from sofkd_lib.archs.warp import flow_warp, pixels_to_model
from sofkd_lib.method import losses as L


def _const(shape, v):
    return torch.full(shape, float(v), dtype=torch.float64)


def _zero_pyramid(b, n, h, w, s):
    z = torch.zeros
    return FlowPyramid(z(b, n, 2, h // 2, w // 2, dtype=torch.float64), z(b, n, 2, h, w, dtype=torch.float64),
                       z(b, n, 2, h * s, w * s, dtype=torch.float64))


def test_eq2_sr_mse():
    sr = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    hr = torch.tensor([[1.0, 1.0], [0.5, 0.0]])
    # (1 + 0 + 0 + 0.25) / 4
    assert L.sr_loss(sr, hr).item() == pytest.approx(0.3125)


def test_flow_smoothness_by_hand():
    f = torch.zeros(1, 2, 2, 2)
    f[0, 0] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    # one interior pixel: |0 - 2| + |0 - 1| = 3, divided by B (h-1) (w-1) = 1
    assert L.flow_smoothness(f).item() == pytest.approx(3.0)
    f2 = torch.zeros(2, 2, 3, 3)
    f2[:, 1, :, 2] = 1.0  # right column of the y channel: each interior row sees |0-1| horizontally once
    # per sample: rows 0,1 at column 1: dx = f[.,1]-f[.,2] = -1 → 2; divide by 2*2*2 = 8 → 4/8
    assert L.flow_smoothness(f2).item() == pytest.approx(0.5)


def test_eq3_constant_frames_zero_flow_by_hand():
    b, h, w, s = 1, 4, 4, 2
    lr = torch.cat([_const((b, 1, 1, h, w), v) for v in (0.25, 0.5, 1.0)], 1)
    hr = torch.cat([_const((b, 1, 1, h * s, w * s), v) for v in (0.25, 0.5, 1.0)], 1)
    loss = L.ofr_loss(lr, hr, _zero_pyramid(b, 2, h, w, s))
    # each neighbour: (0.1 + 0.2 + 1) |c - n|; averaged over 2 neighbours: 1.3 (0.25 + 0.5) / 2
    assert loss.item() == pytest.approx(0.4875)


def test_eq3_smoothness_term_weighted_by_level():
    b, h, w, s = 1, 4, 4, 2
    lr = _const((b, 3, 1, h, w), 0.5)
    hr = _const((b, 3, 1, h * s, w * s), 0.5)
    flows = _zero_pyramid(b, 2, h, w, s)
    hr_flow = flows.hr.clone()
    hr_flow[:, 0, 0, :, 1::2] = 1e-3  # alternating columns: smoothness of neighbour 0 at HR
    tv = L.flow_smoothness(hr_flow[:, 0]).item()
    warped_err = (0.5 - flow_warp(hr[:, 0], hr_flow[:, 0])).abs().mean().item()  # constant frame: 0
    loss = L.ofr_loss(lr, hr, FlowPyramid(flows.half, flows.lr, hr_flow))
    assert warped_err == pytest.approx(0.0, abs=1e-12)
    assert loss.item() == pytest.approx(1.0 * 0.1 * tv / 2)


def test_eq3_is_zero_for_a_perfectly_warped_pair_with_constant_flow():
    # Neighbour: a ramp in x that saturates before the right border, so border clamping is exact.
    def ramp(w, k):
        x = torch.arange(w, dtype=torch.float64)
        return torch.minimum(x, torch.tensor(float(k))) / w

    h, w, s, d = 8, 16, 4, 2  # LR shift 2 px → ½ LR 1 px, HR 8 px
    n_lr = ramp(w, 8).view(1, 1, 1, 1, w).expand(1, 1, 1, h, w)
    n_hr = ramp(w * s, 8 * s).view(1, 1, 1, 1, w * s).expand(1, 1, 1, h * s, w * s)

    def flow(hh, ww, px):
        f = torch.zeros(1, 1, 2, hh, ww, dtype=torch.float64)
        f[:, :, 0] = pixels_to_model(torch.tensor(float(px), dtype=torch.float64))
        return f

    f_half, f_lr, f_hr = flow(h // 2, w // 2, d / 2), flow(h, w, d), flow(h * s, w * s, d * s)
    c_lr = flow_warp(n_lr[:, 0], f_lr[:, 0]).unsqueeze(1)
    c_hr = flow_warp(n_hr[:, 0], f_hr[:, 0]).unsqueeze(1)
    lr = torch.cat((n_lr, c_lr, n_lr), 1)
    hr = torch.cat((n_hr, c_hr, n_hr), 1)
    pyr = FlowPyramid(f_half.repeat(1, 2, 1, 1, 1), f_lr.repeat(1, 2, 1, 1, 1), f_hr.repeat(1, 2, 1, 1, 1))
    assert L.ofr_loss(lr, hr, pyr).item() < 1e-6
    # The same frames with zero flow are clearly penalised, so the test can fail.
    assert L.ofr_loss(lr, hr, _zero_pyramid(1, 2, h, w, s)).item() > 1e-2


def test_eq1_sof_loss():
    assert L.sof_loss(torch.tensor(0.5), torch.tensor(3.0)).item() == pytest.approx(0.53)
    assert L.sof_loss(torch.tensor(0.5), torch.tensor(3.0), lambda_ofr=0.1).item() == pytest.approx(0.8)


def test_eq4_kd_mix_and_alpha_validation():
    assert L.kd_loss(torch.tensor(2.0), torch.tensor(4.0)).item() == pytest.approx(2.2)
    assert L.kd_loss(torch.tensor(2.0), torch.tensor(4.0), alpha=0.5).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="alpha"):
        L.kd_loss(torch.tensor(1.0), torch.tensor(1.0), alpha=1.5)


def test_eq5_sr_distillation_l1():
    t = torch.tensor([0.0, 1.0, 0.5, 0.5])
    s = torch.tensor([0.5, 1.0, 0.0, 0.5])
    assert L.sr_distillation_loss(s, t).item() == pytest.approx(0.25)
    assert L.sr_distillation_loss(t.clone(), t).item() == 0.0


def test_eq5_gradient_flows_to_student_only():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    s = torch.tensor([0.0, 0.0], requires_grad=True)
    L.sr_distillation_loss(s, t).backward()
    assert t.grad is None
    assert s.grad.tolist() == [-0.5, -0.5]


def test_eq6_phase1():
    assert L.phase1_loss(torch.tensor(1.0), torch.tensor(0.5)).item() == pytest.approx(0.95)


def test_eq7_flow_distillation_sum_of_level_mse():
    t = FlowPyramid(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 8, 8))
    s = FlowPyramid(torch.ones(1, 2, 2, 2), torch.full((1, 2, 4, 4), 2.0), torch.zeros(1, 2, 8, 8))
    assert L.flow_distillation_loss(s, t).item() == pytest.approx(1.0 + 4.0 + 0.0)
    assert L.flow_distillation_loss(t, t).item() == 0.0


def test_eq8_phase2_keeps_both_distillation_terms():
    # α·L_SOF + (1 − α)(L_KD-OFR + L_KD-SR) = 0.8·1 + 0.2·(0.5 + 0.25) = 0.95
    assert L.phase2_loss(torch.tensor(1.0), torch.tensor(0.5), torch.tensor(0.25), alpha=0.8).item() \
        == pytest.approx(0.95)


def test_eq8_on_hand_built_tensors():
    # Student SR [0, 1] vs GT [0, 0]: L_SR = 0.5. All flows zero and frames constant: L_OFR = 0, so L_SOF = 0.5.
    # Teacher SR [1, 1]: L_KD-SR = mean(|1 − 0|, |1 − 1|) = 0.5.
    # Teacher flows 1 at ½ LR (2×2), 0 at LR, 2 at HR (only the first of two channels): Σ MSE = 1 + 0 + 2 = 3.
    sr_s, sr_t, gt = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.zeros(2)
    student = FlowPyramid(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 8, 8))
    hr_t = torch.zeros(1, 2, 8, 8)
    hr_t[:, 0] = 2.0
    teacher = FlowPyramid(torch.ones(1, 2, 2, 2), torch.zeros(1, 2, 4, 4), hr_t)
    loss_sof = L.sof_loss(L.sr_loss(sr_s, gt), torch.tensor(0.0))
    loss = L.phase2_loss(loss_sof, L.flow_distillation_loss(student, teacher), L.sr_distillation_loss(sr_s, sr_t))
    assert loss.item() == pytest.approx(0.9 * 0.5 + 0.1 * (3.0 + 0.5))
    # Both distillation terms vanish when the student reproduces the teacher: Eq. 8 falls back to α·L_SOF.
    same = L.phase2_loss(loss_sof, L.flow_distillation_loss(teacher, teacher), L.sr_distillation_loss(sr_t, sr_t))
    assert same.item() == pytest.approx(0.9 * 0.5)


def test_defaults_are_the_papers():
    assert L.LAMBDA_OFR == 0.01 and L.ALPHA == 0.9
    assert L.LEVEL_WEIGHTS == (0.1, 0.2, 1.0) and L.SMOOTHNESS_WEIGHT == 0.1
