"""Earlier attempts at the DAVIS Table 1 run (:mod:`bench.davis_table1`), and what a new attempt carries from them.

An attempt's checkpoints live outside the repository (the driver's ROOT), on the machine that trains them. What
survives a lost attempt is kept in ``results/recorded/RUN/attempt-N/``: ``attempt.json`` (its budgets, extensions,
decisions to stop, cost, and where each figure comes from) and ``room/``, the room it measured.

``python -m bench.davis_table1 carry`` starts a new attempt at the budgets the last one had reached. A carried
budget keeps the lr milestones of the planned budget (:func:`~sofkd_lib.companion.recording.options.budget_override`),
as an extension by resuming does, so a model trained straight to it follows the schedule the extension would have
given it. The automatic extensions the last attempt spent count as spent. Decisions not to extend a row further
(``settle``) are not carried: they are made again on the new attempt's own curves.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sofkd_lib.companion import stats
from sofkd_lib.weights.pretrained import recorded_root

if TYPE_CHECKING:
    from bench.davis_table1 import DavisDriver

ATTEMPT_FILE = "attempt.json"


def attempt_dirs(run_id: str, root: Path | None = None) -> list[Path]:
    """The folders of ``run_id``'s earlier attempts, oldest first."""
    base = Path(root or recorded_root()) / run_id
    return sorted((p for p in base.glob("attempt-*") if (p / ATTEMPT_FILE).is_file()),
                  key=lambda p: int(p.name.split("-", 1)[1]))


def load_attempts(run_id: str, root: Path | None = None) -> list[dict]:
    """Every earlier attempt's ``attempt.json``, with its measured room under ``"room"`` (None when it has none)."""
    attempts = []
    for folder in attempt_dirs(run_id, root):
        try:
            attempt = json.loads((folder / ATTEMPT_FILE).read_text())
            room = folder / "room" / "room.json"
            attempt["room"] = json.loads(room.read_text()) if room.is_file() else None
        except (OSError, ValueError) as exc:
            raise SystemExit(f"davis_table1: cannot read the earlier attempt {folder / ATTEMPT_FILE}: {exc!r}") from None
        attempts.append(attempt)
    return attempts


def carried(attempt: dict, planned: dict[str, int]) -> tuple[dict[str, int], list[dict]]:
    """The budgets (rows whose budget differs from ``planned``) and extension history a new attempt starts
    with; each history entry names the attempt it comes from and keeps how it was made there."""
    budgets = {row: int(n) for row, n in attempt["budgets"].items() if int(n) != planned[row]}
    history = [{**h, "when": h.get("when") or f"attempt {attempt['attempt']}", "attempt": attempt["attempt"]}
               for h in attempt["extensions"]]
    return budgets, history


def carried_from(extension: dict) -> tuple[int, str | None] | None:
    """The attempt an extension of the driver's history was carried from and its date there (None where that
    went with the machine); None for an extension made in this attempt."""
    if not extension.get("attempt"):
        return None
    return extension["attempt"], None if extension["when"].startswith("attempt") else extension["when"]


def carry(driver: DavisDriver) -> int:
    """Start ``driver``'s attempt at the last earlier attempt's budgets (ROOT/budgets.json); refused once this
    attempt has budgets of its own. Returns an exit status."""
    from bench.davis_table1 import BUDGETS, STUDENTS

    lock = driver.hold_lock()
    if lock is None:
        return 1
    if (driver.root / BUDGETS).is_file():
        print(f"carry: {driver.root / BUDGETS} exists: this attempt has budgets of its own already", file=sys.stderr)
        return 2
    attempts = load_attempts(driver.run_id)
    if not attempts:
        print(f"carry: no earlier attempt of {driver.run_id} is kept ({recorded_root() / driver.run_id}/attempt-N/"
              f"{ATTEMPT_FILE})", file=sys.stderr)
        return 2
    last = attempts[-1]
    driver.budgets, driver.history = carried(last, {row: driver.planned_iterations(row) for row in STUDENTS})
    driver._save_budgets()
    driver.log(f"carry: budgets of attempt {last['attempt']} ({', '.join(f'{r} {n:,}' for r, n in driver.budgets.items())}), "
               f"its {len(driver.history)} extension(s) kept in {driver.root / BUDGETS}")
    return 0


def _room_again(attempt: dict, current: Path) -> list[str]:
    """The NOTES line comparing an earlier attempt's room with the one measured again for the run (none until it
    is): the same to the last bit, or the difference on each column."""
    if not current.is_file():
        return []
    now, before = json.loads(current.read_text()), attempt["room"]
    if now.get("measured") == before.get("measured"):  # the earlier attempt's own copy
        return []
    if now["columns"] == before["columns"]:
        return [f"  - Measured again for this attempt on {now['measured']}: the same scores and room "
                f"on every column, to the last bit."]
    old = {c["dataset"]: c["room"]["estimate"] for c in before["columns"]}
    cells = [f"{stats.DATASET_NAMES.get(c['dataset'], c['dataset'])} {c['room']['estimate']:+.3f} dB "
             f"({c['room']['estimate'] - old[c['dataset']]:+.4f} dB from attempt {attempt['attempt']})"
             for c in now["columns"] if c["dataset"] in old]
    return [f"  - Measured again for this attempt on {now['measured']}: {'; '.join(cells)}."]


def attempt_lines(run_id: str, root: Path | None = None) -> list[str]:
    """NOTES lines on every earlier attempt: what happened to it, what it cost, the room it measured, and
    what this attempt carries from it."""
    lines = []
    for a in load_attempts(run_id, root):
        lines.append(f"- **Attempt {a['attempt']}, lost.** Started {a['started']}; last checkpoint {a['last_checkpoint']}. "
                     f"{a['how_lost'][:1].upper()}{a['how_lost'][1:]}. It had trained about {a['core_hours']:.1f} "
                     f"core-hours ({a['core_hours_source']}), not counted in this run's cost below.")
        if a["room"]:
            cells = [f"{stats.DATASET_NAMES.get(c['dataset'], c['dataset'])} {c['room']['estimate']:+.3f} dB "
                     f"[{c['room']['low']:+.3f}, {c['room']['high']:+.3f}]" for c in a["room"]["columns"]]
            lines.append(f"  - Its room, measured {a['room']['measured']} against {a['room']['student']}: "
                         f"{'; '.join(cells)}.")
            lines += _room_again(a, Path(root or recorded_root()) / run_id / "room" / "room.json")
        reached = ", ".join(f"{stats.label(r)} {n:,}" for r, n in a["budgets"].items())
        done = ", ".join(f"{stats.label(r)} {'/'.join(f'{i:,}' for i in its)}" for r, its in a["iterations_at_loss"].items())
        lines.append(f"  - Budgets it had reached: {reached}; iterations trained per seed when lost: {done}.")
        for s in a.get("settled", []):
            lines.append(f"  - Settled there on {s['when']}: {stats.label(s['row'])} at {s['iterations']:,} "
                         f"iterations, {s['why']}.")
    return lines
