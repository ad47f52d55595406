"""Run-time weight permutations (sofkd_lib.ops.weight_order)."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.ops.weight_order import reorder


def test_reorder_values_and_gradient_by_hand():
    w = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    out = reorder(w, 1, (2, 0, 1))
    assert out.tolist() == [[3.0, 1.0, 2.0]]
    out.backward(torch.tensor([[10.0, 20.0, 30.0]]))
    # Column 2 went to position 0, so it receives the gradient of position 0.
    assert w.grad.tolist() == [[20.0, 30.0, 10.0]]


def test_reorder_rows_matches_indexing():
    w = torch.randn(6, 4, 1, 1, requires_grad=True)
    order = (5, 3, 1, 0, 2, 4)
    g = torch.randn(6, 4, 1, 1)
    reorder(w, 0, order).backward(g)
    w2 = w.detach().clone().requires_grad_()
    w2[list(order)].backward(g)
    assert torch.equal(w.grad, w2.grad)


def test_reorder_rejects_a_non_permutation():
    with pytest.raises(ValueError, match="permutation"):
        reorder(torch.zeros(3, 3), 0, (0, 0, 1))


def test_cached_index_survives_inference_mode():
    w = torch.randn(3, 2, requires_grad=True)
    with torch.inference_mode():
        reorder(w, 0, (1, 2, 0))  # first use builds the cached index here
    reorder(w, 0, (1, 2, 0)).sum().backward()  # and autograd may still save it
    assert w.grad is not None
