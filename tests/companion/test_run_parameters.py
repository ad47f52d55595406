"""``pipeline --set`` checked before any run (sofkd_lib.companion.run_parameters)."""
from __future__ import annotations

import re

import pytest

from sofkd_lib.cli.main import build_parser
from sofkd_lib.companion import run_parameters as rp


def test_cli_registered_and_overrides_read_as_the_notebook_declares():
    args = build_parser().parse_args(["pipeline", "--profile", "smoke", "--no-build", "--set", "iterations=3",
                                      "--set", "dataset=embedded"])
    assert args.profile == "smoke" and args.no_build and args.overrides == ["iterations=3", "dataset=embedded"]
    assert rp.run_parameters("smoke", "cpu", {"iterations": "3", "dataset": "embedded"}) == \
        {"iterations": 3, "dataset": "embedded"}
    assert rp.run_parameters("smoke", "cpu", {"overrides": '{"lr": 5e-4}', "resume": "True"}) == \
        {"overrides": {"lr": 5e-4}, "resume": True}
    # A TrainConfig field that is no notebook parameter joins the notebook's overrides dict, typed as train types it.
    assert rp.run_parameters("smoke", "cpu", {"lr": "5e-4", "compile": "true", "seed": "2"}) == \
        {"seed": 2, "overrides": {"lr": 5e-4, "compile": True}}
    assert rp.run_parameters("smoke") == {}  # no --set: the runs' parameters, and so their keys, as before
    for given, message in (({"iteratons": "5"}, "--set iteratons: neither a parameter of train.ipynb"),
                           ({"out_dir": "x"}, "--set out_dir: the pipeline sets it for every run (give --runs)"),
                           ({"overrides": '{"seed": 1}'}, "'seed' is a parameter of its own: give --set seed=VALUE"),
                           ({"overrides": '{"lr": 1}', "lr": "2"}, "['lr'] given twice"),
                           ({"batch_size": "0"}, "TrainConfig.batch_size must be >= 1")):
        with pytest.raises(ValueError, match=re.escape(message)):
            rp.run_parameters("smoke", "cpu", given)
