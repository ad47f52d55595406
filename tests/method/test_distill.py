"""The distillation step (sofkd_lib.method.distill): each variant's loss is the paper's equation, gradients reach
only the trained parts, and prepare_models refuses inputs that do not fit the variant's record."""
from __future__ import annotations

import copy

import pytest
import torch

from sofkd_lib.engine import train as T
from sofkd_lib.engine.config import ConfigError
from sofkd_lib.method import distill as D
from sofkd_lib.method import losses as L
from sofkd_lib.weights.checkpoint import Architecture, CheckpointError, build_model
from tests.tiny_runs import SC, source, tiny


def _expected(variant, model, teacher, lr, hr, alpha):
    """The paper's equations, written out again from sofkd_lib.method.losses' primitives."""
    out = model.forward_with_flows(lr)  # phase 1: the model's OFRnet *is* the teacher's copy
    sof = L.sr_loss(out.sr, hr[:, 1]) + 0.01 * L.ofr_loss(lr, hr, out.flows)  # Eq. 1
    if variant in ("teacher", "student"):
        return sof
    with torch.no_grad():
        t = teacher.forward_with_flows(lr)
    if variant == "phase1":  # Eq. 6 = Eq. 4 with Eq. 5
        return alpha * sof + (1 - alpha) * (t.sr - out.sr).abs().mean()
    kd_ofr = sum(torch.mean((s - f) ** 2) for s, f in zip(out.flows, t.flows))  # Eq. 7
    kd_sr = (t.sr - out.sr).abs().mean()  # Eq. 5
    return alpha * sof + (1 - alpha) * (kd_ofr + kd_sr)  # Eq. 8


@pytest.mark.parametrize("variant", ["teacher", "student", "phase1", "phase2", "phase1+2"])
def test_optimised_loss_is_the_papers_equation(runs, variant):
    teacher = runs / "teacher" / "last.pt" if variant not in ("teacher", "student") else None
    init = runs / "phase1" / "last.pt" if variant == "phase1+2" else None
    alpha = 0.7  # not the default, so a dropped alpha would show
    model, teacher_model = D.prepare_models(tiny(variant, alpha=alpha), teacher, init)
    lr, hr = source(5).sample(2)
    terms = D.variant_losses(variant, D.StudentStep(model), lr, hr, teacher_model, alpha)
    assert tuple(terms) == T.LOSS_TERMS[variant]
    expected = _expected(variant, model, teacher_model, lr, hr, alpha)
    torch.testing.assert_close(terms["loss"], expected, rtol=1e-6, atol=0)
    # Same gradients on every trained parameter.
    params = [p for p in model.parameters() if p.requires_grad]
    got = torch.autograd.grad(terms["loss"], params)
    want = torch.autograd.grad(expected, params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-9)
    if variant == "phase1":
        assert terms["loss"].item() == pytest.approx(alpha * terms["loss_sof"].item()
                                                     + (1 - alpha) * terms["loss_kd_sr"].item(), rel=1e-6)
    if variant in ("phase2", "phase1+2"):  # Eq. 8 from the logged terms
        distill = terms["loss_kd_ofr"].item() + terms["loss_kd_sr"].item()
        assert terms["loss"].item() == pytest.approx(alpha * terms["loss_sof"].item() + (1 - alpha) * distill,
                                                     rel=1e-6)
        assert terms["loss_kd_sr"].item() > 0 and terms["loss_kd_ofr"].item() > 0


@pytest.mark.parametrize("variant", ["phase1", "phase2", "phase1+2"])
def test_distillation_terms_vanish_when_the_student_is_the_teacher(runs, variant):
    """A student that reproduces its teacher's SR frame and flows has zero distillation terms."""
    teacher = D.prepare_models(tiny("phase1"), runs / "teacher" / "last.pt")[1]
    lr, hr = source(6).sample(2)
    terms = D.variant_losses(variant, D.StudentStep(copy.deepcopy(teacher)), lr, hr, teacher, alpha=0.9)
    for name in ("loss_kd_sr", "loss_kd_ofr"):
        if name in terms:
            assert terms[name].item() == 0.0
    assert terms["loss"].item() == pytest.approx(0.9 * terms["loss_sof"].item(), rel=1e-6)


@pytest.mark.parametrize("variant, trained", [
    ("phase1", ("srnet",)), ("phase2", ("ofrnet", "srnet")), ("phase1+2", ("ofrnet",)),
])
def test_gradients_reach_only_the_trained_parts(runs, variant, trained):
    teacher = runs / "teacher" / "last.pt"
    init = runs / "phase1" / "last.pt" if variant == "phase1+2" else None
    model, teacher_model = D.prepare_models(tiny(variant), teacher, init)
    lr, hr = source(7).sample(2)
    D.variant_losses(variant, D.StudentStep(model), lr, hr, teacher_model)["loss"].backward()
    for part in ("ofrnet", "srnet"):
        grads = [p.grad for p in getattr(model, part).parameters()]
        if part in trained:
            assert all(g is not None and g.abs().sum() > 0 for g in grads), part
        else:
            assert all(g is None for g in grads), part
    assert all(p.grad is None for p in teacher_model.parameters())


def test_variant_losses_rejects_unknown_variant():
    model = build_model(Architecture(4, 3, SC, SC))
    lr, hr = source().sample(1)
    with pytest.raises(ConfigError, match="unknown variant 'phase3'"):
        D.variant_losses("phase3", D.StudentStep(model), lr, hr)


def test_init_must_be_a_phase1_run(runs, tmp_path):
    # A hybrid-width checkpoint that was not trained as phase1 (relabelled).
    data = torch.load(runs / "phase1" / "last.pt", weights_only=True)
    data["variant"] = "phase2"
    torch.save(data, tmp_path / "relabelled.pt")
    with pytest.raises(CheckpointError, match="trained as variant 'phase2'; phase1\\+2 needs a 'phase1'"):
        D.prepare_models(tiny("phase1+2"), runs / "teacher" / "last.pt", tmp_path / "relabelled.pt")
