"""A driver's trainers paused (SIGSTOP) while other work needs the cores, and the pauses kept out of the cost.

    python -m bench.davis_table1 pause --why "CI of 1c29384"   # stop every running trainer
    python -m bench.davis_table1 unpause                        # let them go on

The driver keeps ``ROOT/trainers.json`` (each running trainer's name → pid). ``pause`` stops those
trainers and opens an entry in ``ROOT/pauses.json``; a trainer the driver starts while the pause is
open is stopped as it starts and joins the entry; ``unpause`` continues them all and closes it.
Each training invocation's entry in its ``record_wall.json`` carries the seconds its trainer spent
stopped (``paused_seconds``), so that the recorded core-hours count only the time a trainer could
run (:func:`sofkd_lib.companion.run_cost.compute_rows`).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from sofkd_lib.companion.recording.train import now as _now
from sofkd_lib.data.io import write_json_atomic

TRAINERS = "trainers.json"
PAUSES = "pauses.json"


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the pid
        return False
    return True


class Pauses:
    """The running trainers and the pauses of one driver's ROOT."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ files
    def _read(self, name: str, empty):
        path = self.root / name
        if not path.is_file():
            return empty
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"pauses: cannot read {path}: {exc}") from None

    def trainers(self) -> dict[str, int]:
        """Running trainer's name → pid, as the driver keeps them."""
        return dict(self._read(TRAINERS, {}))

    def entries(self) -> list[dict]:
        """Every pause: ``start``, ``end`` (None while open), ``why``, ``trainers`` (name → {pid, from})."""
        return list(self._read(PAUSES, {"pauses": []})["pauses"])

    def _write_entries(self, entries: list[dict]) -> None:
        write_json_atomic(self.root / PAUSES, {"pauses": entries})

    def open_entry(self) -> dict | None:
        return next((e for e in self.entries() if e.get("end") is None), None)

    # ------------------------------------------------------------------ the driver's side
    def started(self, name: str, pid: int) -> None:
        """A trainer started: keep its pid; stop it at once when a pause is open (it joins the pause)."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.root / TRAINERS, {**self.trainers(), name: pid})
            entries = self.entries()
            open_ = next((e for e in entries if e.get("end") is None), None)
            if open_ is not None:
                os.kill(pid, signal.SIGSTOP)
                open_["trainers"][name] = {"pid": pid, "from": _now()}
                self._write_entries(entries)

    def ended(self, name: str) -> None:
        with self._lock:
            kept = self.trainers()
            kept.pop(name, None)
            write_json_atomic(self.root / TRAINERS, kept)

    # ------------------------------------------------------------------ the commands
    def pause(self, why: str) -> int:
        """Stop every running trainer; an exit status."""
        if not why.strip():
            print("pause: say why (--why)", file=sys.stderr)
            return 2
        with self._lock:
            entries = self.entries()
            if any(e.get("end") is None for e in entries):
                print(f"pause: a pause is open already ({self.root / PAUSES}); unpause first", file=sys.stderr)
                return 2
            now = _now()
            stopped = {}
            for name, pid in self.trainers().items():
                if _alive(pid):
                    os.kill(pid, signal.SIGSTOP)
                    stopped[name] = {"pid": pid, "from": now}
            entries.append({"start": now, "end": None, "why": why, "trainers": stopped})
            self._write_entries(entries)
        print(f"paused {', '.join(stopped) or 'no trainer (none running)'}; `unpause` lets them go on")
        return 0

    def unpause(self) -> int:
        with self._lock:
            entries = self.entries()
            open_ = next((e for e in entries if e.get("end") is None), None)
            if open_ is None:
                print("unpause: no pause is open", file=sys.stderr)
                return 2
            for t in open_["trainers"].values():
                if _alive(t["pid"]):
                    os.kill(t["pid"], signal.SIGCONT)
            open_["end"] = _now()
            self._write_entries(entries)
        print(f"unpaused {', '.join(open_['trainers']) or 'nothing'} after {open_['start']}")
        return 0

    # ------------------------------------------------------------------ the cost
    def paused_seconds(self, name: str, start: str, end: str) -> float:
        """Seconds trainer ``name`` was stopped between ``start`` and ``end`` (ISO times); an open pause
        counts until now."""
        a, b, total = _seconds(start), _seconds(end), 0.0
        for e in self.entries():
            t = e["trainers"].get(name)
            if t is None:
                continue
            s = max(a, _seconds(t.get("from") or e["start"]))
            f = min(b, _seconds(e["end"]) if e.get("end") else datetime.now(timezone.utc).timestamp())
            total += max(0.0, f - s)
        return total

    def annotate(self, wall_log: Path, name: str) -> None:
        """Set ``paused_seconds`` of every invocation in ``wall_log`` (a ``record_wall.json``) of trainer
        ``name`` from the pauses kept."""
        if not wall_log.is_file():
            return
        log = json.loads(wall_log.read_text())
        for inv in log["invocations"]:
            if "start" in inv and "end" in inv:
                inv["paused_seconds"] = round(self.paused_seconds(name, inv["start"], inv["end"]), 1)
        write_json_atomic(wall_log, log)
