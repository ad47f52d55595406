"""``pipeline --set``: the training notebook's parameters for every run, checked before the first one starts.

A typo in ``--set`` must not cost hours of retraining: every key is a parameter of
``book/train.ipynb`` (read as the type it declares) or a TrainConfig field, and every
variant's config is made, as the notebook makes it, before anything runs.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sofkd_lib.companion.pipeline import TRAIN_NOTEBOOK, VARIANTS

#: Training-notebook parameters :func:`plan_runs` sets for every run, with what the user gives instead.
PLANNED: dict[str, str] = {"variant": "every variant is trained", "profile": "give --profile",
                           "device": "give --device", "out_dir": "give --runs",
                           "teacher_checkpoint": "each run distils from this profile's teacher",
                           "init_checkpoint": "phase1+2 starts from this profile's phase1"}
#: Training-notebook parameters that are TrainConfig fields too (the notebook passes them to make_config).
_NAMED_FIELDS = ("iterations", "batch_size", "alpha", "seed", "device", "dataset", "data_root")


def run_parameters(profile: str, device: str = "cpu", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``overrides`` (``pipeline --set``) checked before any run, as ``train`` checks its own; returns the
    notebook parameters of every run (:func:`sofkd_lib.companion.pipeline.plan_runs`). A key is a
    ``book/train.ipynb`` parameter (read as declared:
    :func:`~sofkd_lib.companion.chapter.coerce_parameters`) or a TrainConfig field (typed as ``train`` types
    it, moved into the notebook's ``overrides``); each run's config is then made as the notebook makes it.
    """
    import papermill as pm

    from sofkd_lib.companion.chapter import coerce_parameters
    from sofkd_lib.engine.config import PROFILES, ConfigError, field_names, make_config, parse_value
    from sofkd_lib.engine.distributed import check_device

    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILES)}")
    check_device(device, what="device")
    declared = pm.inspect_notebook(str(TRAIN_NOTEBOOK))
    params, fields = {}, {}
    for key, value in (overrides or {}).items():
        if key in PLANNED:
            raise ConfigError(f"--set {key}: the pipeline sets it for every run ({PLANNED[key]})")
        if key in declared:
            params[key] = value
        elif key in field_names():
            fields[key] = parse_value(key, value) if isinstance(value, str) else value
        else:
            settable = [k for k in declared if k not in PLANNED]
            raise ConfigError(f"--set {key}: neither a parameter of {TRAIN_NOTEBOOK.name} ({', '.join(settable)}) "
                              f"nor a TrainConfig field (see `python -m sofkd_lib train --list-fields`)")
    params = coerce_parameters(params, declared, TRAIN_NOTEBOOK.name, flag="--set")
    nested = dict(params.get("overrides", {}))
    own = sorted(set(nested) & set(_NAMED_FIELDS))  # the notebook refuses them in its overrides dict
    if own:
        hint = "--device" if own[0] == "device" else f"--set {own[0]}=VALUE"
        raise ConfigError(f"--set overrides: {own[0]!r} is a parameter of its own: give {hint}")
    twice = sorted(set(nested) & set(fields))
    if twice:
        raise ConfigError(f"--set: TrainConfig field(s) {twice} given twice (on their own and in overrides)")
    if fields:
        params["overrides"] = {**nested, **fields}
    # The training notebook's own configuration of each run, here before the first one starts.
    named = {k: params.get(k) for k in _NAMED_FIELDS if k != "device"}
    for variant in VARIANTS:
        make_config(profile, {**params.get("overrides", {}), **named, "device": device}, variant=variant)
    return params
