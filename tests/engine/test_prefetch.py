"""The background batch prefetcher: same stream, resumable state, errors surfaced, clean shutdown."""
from __future__ import annotations

import pytest
import torch

from sofkd_lib.engine.prefetch import PrefetchSource
from sofkd_lib.engine.sources import SyntheticSource


def _source(seed: int = 5) -> SyntheticSource:
    return SyntheticSource(scale=2, patch_size=4, n_frames=3, seed=seed)


def test_same_batches_in_the_same_order_and_resumable_state():
    direct = _source()
    expected = [direct.sample(2) for _ in range(5)]
    pre = PrefetchSource(_source(), batch_size=2, depth=2)
    try:
        got = [pre.sample(2) for _ in range(3)]
        state = pre.state_dict()  # after 3 handed out, although more were drawn ahead
    finally:
        pre.close()
    for (lr_a, hr_a), (lr_b, hr_b) in zip(expected, got):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    resumed = _source(seed=99)  # another seed: only the restored state can give the right batches
    resumed.load_state_dict(state)
    for lr_a, hr_a in expected[3:]:
        lr_b, hr_b = resumed.sample(2)
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)


class _Failing:
    def __init__(self):
        self.calls = 0

    def sample(self, batch_size):
        self.calls += 1
        if self.calls == 2:
            raise ValueError("frame 7 of clip x is unreadable")
        return torch.zeros(batch_size, 1), torch.zeros(batch_size, 1)

    def state_dict(self):
        return {"calls": self.calls}


def test_producer_errors_reach_the_consumer_and_close_stops_the_thread():
    pre = PrefetchSource(_Failing(), batch_size=1)
    assert pre.sample(1)[0].shape == (1, 1) and pre.state_dict() == {"calls": 1}
    with pytest.raises(RuntimeError, match="frame 7 of clip x is unreadable"):
        pre.sample(1)
    pre.close()
    assert not pre._thread.is_alive()
    with pytest.raises(RuntimeError, match="after close"):
        pre.sample(1)


def test_bad_use_is_refused():
    pre = PrefetchSource(_source(), batch_size=2)
    try:
        with pytest.raises(ValueError, match="batches of 2, asked for 3"):
            pre.sample(3)
        with pytest.raises(RuntimeError, match="before wrapping"):
            pre.load_state_dict({})
    finally:
        pre.close()
    assert not pre._thread.is_alive()
    with pytest.raises(ValueError, match="depth"):
        PrefetchSource(_source(), batch_size=2, depth=0)
