"""ResBlock chains without performed shuffles (sofkd_lib.ops.resblock_chain) equal the blocks run one by one."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.archs.sofvsr_arch import CascadedResBlocks
from sofkd_lib.ops.resblock_chain import Run, chain_plan, run_chain


def test_plan_of_one_block_by_hand():
    # 4 channels, 1 block: the block processes logical 2, 3 (input 2:4) and outputs
    # interleave(passed = [in0, in1], y = [y0, y1]) = [in0, y0, in1, y1].
    plan = chain_plan(4, 1)
    assert plan.blocks == (((Run(0, 2, 4),), (0, 1)),)
    # Gathered sorted by source: [in0, in1, y0, y1], i.e. logical channels 0, 2, 1, 3.
    assert plan.output == (Run(0, 0, 2), Run(1, 0, 2))
    assert plan.output_logical_at == (0, 2, 1, 3)
    assert plan.splits == ((Run(0, 0, 2), Run(0, 2, 4)), (Run(1, 0, 2),))


@pytest.mark.parametrize("channels,n_blocks", [(320, 8), (240, 3), (16, 6)])
def test_plan_reads_every_channel_once_and_gathers_one_run_per_source(channels, n_blocks):
    plan = chain_plan(channels, n_blocks)
    for j, (runs, columns) in enumerate(plan.blocks, start=1):
        assert sum(r.stop - r.start for r in runs) == channels // 2
        assert sorted(columns) == list(range(channels // 2))
        assert len(runs) <= j  # one contiguous run per earlier source at most
    assert sorted(plan.output_logical_at) == list(range(channels))
    for source, runs in enumerate(plan.splits):
        width = channels if source == 0 else channels // 2
        assert runs[0].start == 0 and runs[-1].stop == width


def test_plan_rejects_bad_input():
    with pytest.raises(ValueError, match="even"):
        chain_plan(5, 2)
    with pytest.raises(ValueError, match="permutation"):
        chain_plan(4, 1, (0, 0, 1, 2))


@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@pytest.mark.parametrize("permuted_input", [False, True])
def test_run_chain_matches_blocks_one_by_one(n_blocks, permuted_input):
    torch.manual_seed(5)
    chain = CascadedResBlocks(n_blocks, 12).double()
    x = torch.randn(2, 12, 4, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 12, 4, 5, dtype=torch.float64)
    x_plain = x.clone().requires_grad_()
    out_plain = chain(x_plain)
    out_plain.backward(g)
    grads_plain = [p.grad.clone() for p in chain.parameters()]
    chain.zero_grad()
    logical_at = tuple(torch.randperm(12).tolist()) if permuted_input else None
    x_fast = (x[:, list(logical_at)] if permuted_input else x).clone().requires_grad_()
    out, out_logical_at = run_chain(list(chain.body), x_fast, logical_at)
    # Position q of the output holds logical channel out_logical_at[q].
    assert torch.allclose(out, out_plain[:, list(out_logical_at)], atol=1e-12)
    out.backward(g[:, list(out_logical_at)])
    expected_x_grad = x_plain.grad[:, list(logical_at)] if permuted_input else x_plain.grad
    assert torch.allclose(x_fast.grad, expected_x_grad, atol=1e-12)
    for a, p in zip(grads_plain, chain.parameters()):
        assert torch.allclose(p.grad, a, atol=1e-10)
