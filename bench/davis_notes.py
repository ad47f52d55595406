"""The NOTES.md of the DAVIS Table 1 run (:mod:`bench.davis_table1`): how it was made, its data, its
room, its schedule and extensions, every convergence verdict, its results on both test columns, its cost,
and what it can and cannot say about the paper. Every figure is read from the recorded run and from the
driver's files; nothing here is typed in."""
from __future__ import annotations

import json
from collections.abc import Sequence

from bench.davis_attempts import attempt_lines, carried_from
from bench.davis_table1 import (
    COLUMNS,
    DATA_ROOT,
    PLANNED_CORE_HOURS,
    ROOM_UNIT,
    STUDENTS,
    TAIL_FRACTION,
    DavisDriver,
    room_evaluation_seconds,
)
from sofkd_lib.companion import run_cost, stats
from sofkd_lib.companion.recording.options import DAVIS_HELD_OUT
from sofkd_lib.companion.tables import format_duration
from sofkd_lib.data.datasets import DAVIS_HELD_OUT as HELD_OUT_SEQUENCES
from sofkd_lib.data.datasets import DAVIS_VALIDATION
from sofkd_lib.engine.train import lr_milestones


def result_lines(rec: stats.SeededRun, columns: Sequence[str] = COLUMNS, level: float = 0.95) -> list[str]:
    """Table 1 on each test column (PSNR mean ± SD over seeds), each student − the no-KD student with its
    interval (hierarchical bootstrap over seeds and frames, paired by frame), and the one-sentence answer."""
    lines = []
    for column in columns:
        name = stats.DATASET_NAMES.get(column, column)
        cells = [f"{r['model']} {stats.fmt_mean_spread(r['psnr_mean'], r['psnr_sd'], r['n'], 3)}"
                 for r in stats.summary_rows(rec, column)]
        lines.append(f"- **{name[:1].upper()}{name[1:]}**, PSNR in dB, mean ± SD over seeds: {'; '.join(cells)}.")
        lines.append(f"  - Each student − {stats.baseline_words(rec, stats.BASELINE)}, {level:.0%} interval:")
        for r in stats.kd_differences(rec, column, level=level):
            if r["sequence"] == "average":
                lines.append(f"    - {stats.label(r['entry'])}: {r['estimate']:+.3f} dB [{r['low']:+.3f}, "
                             f"{r['high']:+.3f}] ({r['seeds']} and {r['baseline_seeds']} seeds).")
        lines.append(f"  - Does two-phase KD help here? {stats.kd_answer(rec, column, level=level)}")
    return lines


def extension_line(h: dict) -> str:
    """The NOTES line of one extension of the driver's history, made in this attempt or carried from an earlier
    one (:mod:`bench.davis_attempts`; the date is known for some carried extensions only)."""
    how = "automatically (the rule, fixed before the run)" if h["by"] == "auto" else "by hand (`extend`)"
    when = f"on {h['when']}"
    if carried := carried_from(h):
        when = f"in attempt {carried[0]}{'' if carried[1] is None else ' ' + when}, carried (`carry`)"
    return (f"  - Extended {how} {when}: {stats.label(h['row'])} from {h['from']:,} to {h['to']:,} iterations, "
            f"every seed, because {h['reason']}.")


def notes(driver: DavisDriver) -> str:
    """The record's NOTES.md, every figure read from the recorded run, the room and the driver's files."""
    rec = stats.load_seeded_run(driver.run_id)
    room = json.loads((driver.root / "room.json").read_text())
    total = next(r for r in run_cost.compute_rows(rec) if r["entry"] == "all")
    room_seconds = room_evaluation_seconds(driver.root / "room")
    data_root = driver.overrides.get("data_root", str(DATA_ROOT))
    lines = [
        f"**How this run was made.** `python -m {driver.module} run` trained every model on the project's 2-core "
        f"CPU at nice 19, in the background, across sessions, resuming from checkpoints kept outside the "
        f"repository: first the no-KD student of seed {ROOM_UNIT[1]} with {driver.room_threads} threads, then, "
        f"once the room was measured, the other students {driver.jobs} at a time with {driver.threads} thread(s) "
        f"each. Trainers were paused (SIGSTOP, `python -m {driver.module} pause`) while test suites ran on the "
        f"same cores; those minutes are in the wall times and not in the core-hours. `python -m {driver.module} "
        f"record` evaluated and recorded them with the command above. "
        f"`book/davis.md` tells the whole story.",
        "",
        f"- **Data.** Trained on `{data_root}` (`davis_pool=train+val`): every DAVIS-2017 train and val sequence "
        f"there except the held-out and validation ones (`sofkd_lib.data.datasets`). Validation curves: "
        f"{', '.join(DAVIS_VALIDATION)} (training footage, never reported). Test columns: Vid4 x4 and "
        f"\"{DAVIS_HELD_OUT.label}\" ({', '.join(HELD_OUT_SEQUENCES)}), which stands where the paper's "
        f"DAVIS-2017 test column stands and is not that set. Vid4 and the held-out sequences were never trained on.",
        f"- **Teacher.** `{room['teacher']}` (sha256 `{room['teacher_sha256'][:16]}…`), the recorded 320-channel "
        f"x4 teacher, not trained here: warm-started from the SOF-VSR authors' x2 weights and fine-tuned on the "
        f"embedded split on a GPU. Its advantage over the students is width, the authors' training data and "
        f"compute, not width alone as in the paper.",
        f"- **Room, measured {room['measured']} before any other student was trained** (teacher − no-KD student "
        f"seed {ROOM_UNIT[1]}, paired bootstrap over frames; rule: {room['rule']}):",
    ]
    for c in room["columns"]:
        r = c["room"]
        lines.append(f"  - {stats.DATASET_NAMES.get(c['dataset'], c['dataset'])}: teacher {c['teacher_psnr']:.3f} dB, "
                     f"student {c['student_psnr']:.3f} dB, room {r['estimate']:+.3f} dB [{r['low']:+.3f}, "
                     f"{r['high']:+.3f}]: {'enough' if c['enough'] else 'not enough'}.")
    lines += attempt_lines(driver.run_id)
    if driver.overrides.get("lr_frame_cache"):
        room_too = room["student_config"].get("lr_frame_cache")
        lines.append(f"- **Speed.** The models trained {'' if room_too else 'after the room '}kept the degraded LR "
                     f"frames on disk (`lr_frame_cache`), so each training frame was degraded once, not once per run; "
                     f"the batches are the same (`tests/data/test_sampler.py`)."
                     f"{'' if room_too else ' The room unit ran without it.'}")
    lines.append(f"- **Schedule.** Profile `{driver.profile}`: lr 1e-3 halved at 40 % and 80 % of each run's budget; "
                 f"batch {driver.config('phase1', 0).batch_size} of {driver.config('phase1', 0).patch_size}² LR patches.")
    for unit in STUDENTS:
        c = driver.config(unit, driver.seeds[0])
        planned = "" if unit not in driver.budgets else f" (planned {driver.planned_iterations(unit):,})"
        lines.append(f"  - {stats.label(unit)}: {c.total_iterations:,} iterations{planned}, lr multiplied by "
                     f"{c.lr_gamma:g} after {' and '.join(f'{m:,}' for m in lr_milestones(driver.planned_config(unit)))}.")
    lines += [extension_line(h) for h in driver.history]
    for s in driver.settled:
        lines.append(f"  - Not extended further, decided by hand (`settle`) on {s['when']}: {stats.label(s['row'])} at "
                     f"{s['iterations']:,} iterations is reported as not trained out, because {s['why']}")
    last_drop = {unit: driver.last_lr_drop(unit) for unit in STUDENTS}
    rows = stats.convergence_rows(rec, trend_since=last_drop, tail_fraction=TAIL_FRACTION)
    passed = sum(r["plateaued"] for r in rows)
    lines.append(f"- **Convergence** (validation PSNR gains under 0.05 dB over the last {TAIL_FRACTION:.0%} of a run): "
                 f"{passed} of {len(rows)} curves pass. After each verdict, the slope of PSNR against log2(iteration) "
                 f"after the run's last lr drop, with its 95 % interval, and what the rule's last part would gain at "
                 f"that rate in a run of any length (a description, not the rule):")
    for r in rows:
        t = r["trend"]
        trend = "" if t is None else (f"; {t.db_per_doubling:+.3f} dB per doubling [{t.low:+.3f}, {t.high:+.3f}] "
                                      f"after iteration {t.since:,}, last part's gain at that rate "
                                      f"{t.tail_gain_db(TAIL_FRACTION):+.3f} dB")
        lines.append(f"  - {r['model']}, seed {r['seed']}: {r['verdict']}{trend}.")
    lines += result_lines(rec)
    lines += [
        f"- **Cost.** {total['core_hours']:.1f} core-hours of training over {format_duration(total['wall_hours'] * 3600)} "
        f"of machine time (trainers paused {total['paused_hours'] or 0:.1f} h of it, not counted in the core-hours), "
        f"{format_duration(total['evaluation_hours'] * 3600)} of evaluation when recording and "
        f"{format_duration(room_seconds)} of one-thread evaluation for the room (planned: {PLANNED_CORE_HOURS:.0f} "
        f"core-hours).",
        f"- **What it can say.** Whether two-phase KD moves a 240-channel student toward a teacher that is "
        f"measurably better than it, at a CPU budget ({driver.planned_iterations('phase1'):,} iterations a phase as "
        f"planned, the extended rows as listed above, at batch {driver.config('phase1', 0).batch_size}, against the "
        f"paper's 200,000 at 64), with seed "
        f"spread and paired intervals. **What it cannot.** The paper's numbers: its budget, its full DAVIS-2017 "
        f"training set and its test set are out of reach here, and part of the teacher's advantage is knowledge "
        f"from data the students never see.",
    ]
    return "\n".join(lines) + "\n"

