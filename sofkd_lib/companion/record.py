"""Recorded runs: train the variants, evaluate them, and keep weights and results with provenance.

``python -m sofkd_lib record --run-id ID --profile P [KEY=VALUE …] [--variants …]
[--teacher-init-official PATH]`` trains the requested variants (and the ones they
need) in dependency order, teacher → student, phase1, phase2 → phase1+2, each in
``WORK/<run-id>/<variant>/`` (default ``.cache/recorded-work``; re-running the
same command resumes where it stopped), then writes for each variant::

    results/recorded/<run-id>/<variant>/
        config.json          the resolved TrainConfig
        metrics.csv          the trainer's loss log (validation.csv beside it)
        weights.pt           final weights, float16 when that costs ≤ 0.01 dB, else float32
        eval_embedded.json   the embedded test split, authors' protocol (both precisions' PSNR kept)
        eval_vid4.json       Vid4 x<scale>, authors' protocol (or the reason it was skipped)
        provenance.json      hardware, commit, wall and training time, date, command line, warm start

(one ``eval_<key>.json`` per test column: :data:`~sofkd_lib.companion.recording.options.TEST_COLUMNS`,
plus :attr:`~sofkd_lib.companion.recording.options.RecordOptions.extra_columns`),
plus ``results/recorded/<run-id>/bicubic/`` (the baseline on the same frames),
``results/recorded/index.json`` (name → newest run, see :mod:`sofkd_lib.weights.pretrained`)
and ``results/recorded/README.md`` (regenerated from the index: how each run was
made and the one command that repeats it).

Students are distilled only from a teacher that beats bicubic on Vid4 by
``min_teacher_gain`` dB (1 dB by default; ``None`` turns the check off).

Several seeds (``--seeds 0,1,2``): every requested entry except the teacher is
trained, evaluated and recorded once per seed, in ``<entry>/seed<k>/`` (work and
results alike; each seed resumes on its own and has its own provenance), while
the one teacher, in ``<run-id>/teacher/``, is shared by all seeds. Without
``--seeds`` the layout is the single-seed one above; both go through the same
steps. ``--teacher SPEC`` (a
checkpoint file or ``pretrained:teacher-x4``) distils every student from an
existing teacher instead of training one: its folder then holds its evaluation on
this run's frames, its config and a provenance naming the source and its SHA-256
(no second copy of the weights). What can be recorded is declared once, in
:data:`~sofkd_lib.companion.recording.options.ENTRIES`: the five Table 1 variants and ablations such as
``phase1-alpha1`` (phase 1 with α = 1). Multi-seed runs are listed in ``index.json`` under
``runs`` (with their seeds and entries), not under ``names``, so
``pretrained("teacher-x4")`` and the other names keep their single-seed weights.

A model trained for a run and then set aside (trained from a row whose budget
changed, say) leaves the run's tables but not its cost:
:func:`~sofkd_lib.companion.recording.index.record_set_aside` lists it, with its training invocations and
the reason, in ``<run-id>/set_aside.json``, which :mod:`sofkd_lib.companion.stats` adds to the run's compute.

The parts live in :mod:`sofkd_lib.companion.recording`; this module runs them in order.
"""
from __future__ import annotations

from typing import Any

from sofkd_lib.companion.recording.evaluate import check_teacher_gain, load_columns, record_bicubic, record_unit
from sofkd_lib.companion.recording.index import check_index, update_index, write_readme
from sofkd_lib.companion.recording.options import KD_VARIANTS, RecordOptions, entry, variant_config
from sofkd_lib.companion.recording.train import train_unit
from sofkd_lib.data.io import check_writable


def record(options: RecordOptions, log=print) -> dict[str, dict[str, Any]]:
    """Record every requested entry (and its dependencies), of every seed; returns unit → provenance
    (with ``train_only``: unit → its training wall-time log, nothing evaluated or recorded).

    A unit whose results folder is complete and whose training is finished is skipped, so re-running the
    same command only does what is left. With ``train_only`` (for training on one machine, a GPU, and
    recording on another: copy ``WORK/<run-id>`` back, then run the same command without it, which finds
    the training finished and evaluates) the teacher-gain rule still applies: a KD entry trains only if
    the recorded teacher's Vid4 result is there.
    """
    units = options.units()
    configs = {u: variant_config(options, *u) for u in units}  # every config error before any work
    first = configs[units[0]]
    if options.teacher is not None:
        options.teacher_checkpoint()  # a missing --teacher fails before any work too
    check_writable(options.work_dir(), folder=True, what="--work")  # outputs too
    if not options.train_only:
        check_writable(options.run_dir(), folder=True, what="--results")
    kd = [v for v, _ in units if entry(v).variant in KD_VARIANTS]
    data = None
    if options.train_only:
        if kd:  # before any training: nothing here records the teacher's Vid4 result that the gate reads
            check_teacher_gain(options, kd[0])
    else:
        check_index(options)  # a run id taken by a run of the other kind fails before any work
        data = load_columns(options, first, log)
        record_bicubic(options, data, first.scale)
    done: dict[str, dict[str, Any]] = {}
    for variant, seed in units:
        unit = options.unit(variant, seed)
        if variant == "teacher" and options.teacher is not None and options.train_only:
            log(f"teacher: existing checkpoint {options.teacher_checkpoint()} (--teacher), not trained")
            continue
        if entry(variant).variant in KD_VARIANTS:
            check_teacher_gain(options, variant)
        if options.train_only:
            done[unit] = train_unit(options, variant, configs[variant, seed], seed)
            log(f"{unit}: trained in {options.work_dir() / unit} (not recorded: --train-only)")
            continue
        done[unit] = record_unit(options, variant, seed, configs[variant, seed], data, log)
        update_index(options, done[unit], first.scale)
    if not options.train_only:
        write_readme(options.results_dir())
    return done
