"""Data-parallel training: 2 CPU processes (gloo) end with identical weights, equal to one
process training on both processes' batches at once."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from sofkd_lib.engine import sources as S
from sofkd_lib.engine import train as T
from sofkd_lib.engine.config import make_config
from sofkd_lib.method import distill as D
from sofkd_lib.weights.checkpoint import load_checkpoint

WORLD = 2


def _config():
    return make_config("smoke", dict(teacher_channels=8, student_channels=4, patch_size=8, batch_size=WORLD,
                                     dataset="synthetic", iterations=3, val_every=3, log_every=1,
                                     checkpoint_every=2, device="cpu"), variant="student")


def _worker(rank: int, port: int, out: str) -> None:
    # What torchrun sets for each process.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = T.run_training(_config(), out, quiet=True)
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


class _Merged:
    """One process seeing both ranks' streams: rank r's sampler is seeded seed + 1_000_003·r."""

    def __init__(self, config):
        self.sources = [S.SyntheticSource(4, 8, 3, config.seed + 1_000_003 * r) for r in range(WORLD)]

    def sample(self, batch_size):
        parts = [s.sample(batch_size // WORLD) for s in self.sources]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def state_dict(self):
        return {"sources": [s.state_dict() for s in self.sources]}

    def load_state_dict(self, state):
        for s, st in zip(self.sources, state["sources"]):
            s.load_state_dict(st)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # spawns two Python processes
@pytest.mark.timeout(300)
def test_two_processes_hold_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True, start_method="spawn")
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # Rank 0 wrote the run folder, with both ranks' RNG states for a resume.
    last = load_checkpoint(out / "last.pt")
    assert last["world_size"] == WORLD and len(last["rng"]["ranks"]) == WORLD
    assert all(torch.equal(last["model"][k], w0[k]) for k in w0)
    assert (out / "validation.csv").read_text().count("\n") == 2  # header + one validation, by rank 0 only
    # Averaged gradients: the same as one process on the concatenated batch (up to float rounding).
    config = _config()
    single = T.train(config, _Merged(config), tmp_path / "single", quiet=True, device=torch.device("cpu"))
    fresh, _ = D.prepare_models(config)
    moved = False
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(w0[k], v, rtol=1e-4, atol=1e-6)
        moved |= not torch.equal(v, fresh.state_dict()[k])
    assert moved
