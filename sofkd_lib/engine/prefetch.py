"""A batch source that draws the next batch in a background thread while the GPU trains on this one.

The trainer's patch sampler runs on the CPU between steps; on an H100 that is
13 ms of every ~55 ms iteration at batch 64 (``results/bench/gpu.json``). One
producer thread hides it: batches come out in exactly the order the wrapped source
gives them (one thread, one generator), and :meth:`PrefetchSource.state_dict` is
the source's state right after the last batch *handed out*, not after the ones
drawn ahead, so a checkpoint resumes the identical stream.
"""
from __future__ import annotations

import queue
import threading
from typing import Any

import torch


class PrefetchSource:
    """Wraps a batch source (``sample``, ``state_dict``, ``load_state_dict``) with ``depth`` batches drawn ahead.

    Restore the wrapped source's state *before* wrapping it; call :meth:`close`
    when done (the trainer does, in a ``finally``). An exception in the producer
    is raised by the next :meth:`sample`.
    """

    def __init__(self, source: Any, batch_size: int, depth: int = 2, pin_memory: bool = False):
        if batch_size < 1 or depth < 1:
            raise ValueError(f"batch_size and depth must be >= 1, got {batch_size} and {depth}")
        self.source, self.batch_size, self.pin_memory = source, int(batch_size), bool(pin_memory)
        self._state = source.state_dict()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="sofkd-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                lr, hr = self.source.sample(self.batch_size)
                if self.pin_memory:  # page-locked: the host→GPU copy can overlap the step
                    lr, hr = lr.pin_memory(), hr.pin_memory()
                if not self._put((lr, hr, self.source.state_dict())):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        if batch_size != self.batch_size:
            raise ValueError(f"this prefetcher draws batches of {self.batch_size}, asked for {batch_size}")
        if self._stop.is_set():
            raise RuntimeError("sample() after close()")
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise RuntimeError(f"the background batch sampler failed: {item!r}") from item
        lr, hr, self._state = item
        return lr, hr

    def state_dict(self) -> dict[str, Any]:
        """The wrapped source's state after the last batch handed out (what a resume must continue from)."""
        return self._state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise RuntimeError("restore the wrapped source's state before wrapping it in a PrefetchSource")

    def close(self) -> None:
        """Stop the producer and wait for it (batches drawn ahead are dropped)."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=10)
