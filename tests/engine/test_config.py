"""TrainConfig, profiles and typed overrides (sofkd_lib.engine.config)."""
from __future__ import annotations

import pytest

from sofkd_lib.engine.config import (
    PROFILES,
    ConfigError,
    TrainConfig,
    diff,
    field_help,
    make_config,
    parse_override,
    parse_overrides,
    parse_value,
    profile_config,
    profile_notes,
)


def test_paper_profile_is_the_papers_recipe():
    c = make_config("paper", data_root="/data/DAVIS")
    assert (c.dataset, c.data_root) == ("davis", "/data/DAVIS")  # DAVIS-2017 train, as the paper
    assert (c.batch_size, c.patch_size, c.lr, c.lr_step, c.lr_gamma) == (64, 32, 1e-3, 80_000, 0.5)
    assert (c.adam_beta1, c.adam_beta2, c.adam_eps, c.alpha) == (0.9, 0.999, 1e-8, 0.9)
    assert (c.scale, c.n_frames, c.teacher_channels, c.student_channels) == (4, 3, 320, 240)
    assert c.phase_iterations == 200_000
    # Our choices where the paper is silent: teacher = one phase, no-KD student = both phases.
    assert (c.teacher_iterations, c.student_iterations) == (200_000, 400_000)


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_keeps_the_papers_ratios(name):
    c, paper = profile_config(name), profile_config("paper")
    assert c.profile == name
    assert c.student_iterations == 2 * c.phase_iterations
    assert paper.phase_iterations % c.phase_iterations == 0
    same = ["lr", "lr_gamma", "alpha", "adam_beta1", "adam_beta2", "adam_eps", "scale", "n_frames"]
    if name == "miniature":  # its own width (4 : 3 kept), trained to a plateau: lr step a fifth of a phase (issue 19)
        assert (c.teacher_channels, c.student_channels, c.teacher_iterations) == (64, 48, c.phase_iterations)
        assert c.lr_step * 5 == c.phase_iterations
    else:
        assert c.lr_step * 5 == c.phase_iterations * 2  # lr halved at 40 % of a phase
        assert c.teacher_iterations == c.phase_iterations
        same += ["teacher_channels", "student_channels"]
    for f in same:
        assert getattr(c, f) == getattr(paper, f), f


def test_profile_sizes():
    assert make_config("gpu-short").phase_iterations == 20_000 and make_config("gpu-short").batch_size == 64
    demo = make_config("cpu-demo")
    assert (demo.phase_iterations, demo.lr_step, demo.batch_size, demo.patch_size) == (250, 100, 4, 32)
    smoke = make_config("smoke")
    assert (smoke.phase_iterations, smoke.lr_step, smoke.batch_size, smoke.patch_size) == (10, 4, 2, 16)
    assert "batch_size 4 instead of 64" in profile_notes("cpu-demo")
    assert profile_notes("paper") == (
        "paper: the paper's schedule and batch; trains on DAVIS-2017 train, from the folder given as data_root, "
        "as in the paper; student w/o KD trained as long as both KD phases together (student_budget=two-phases; "
        "our choice: the paper states no budget)")


def test_paper_profile_needs_its_training_data():
    with pytest.raises(ConfigError) as err:
        make_config("paper")
    msg = str(err.value)
    for how in ("TrainConfig.data_root", "--data-root DIR", "--set data_root=DIR", "ImageSets/2017/train.txt",
                "dataset=folder", "dataset=embedded"):
        assert how in msg, how
    with pytest.raises(ConfigError, match=r"TrainConfig\.data_root must name the folder of clips"):
        make_config("paper", dataset="folder", val_every=0)
    with pytest.raises(ConfigError, match=r"TrainConfig\.val_every must be 0 for dataset='folder'"):
        make_config("paper", dataset="folder", data_root="/clips")
    folder = make_config("paper", dataset="folder", data_root="/clips", val_every=0)
    assert "trains on the clips in /clips, not on the paper's DAVIS-2017 train" in profile_notes("paper", folder)
    # The paper's schedule on the embedded split: allowed when asked for, and every label says so.
    embedded = make_config("paper", dataset="embedded")
    assert embedded.phase_iterations == 200_000
    assert ("trains on the offline embedded split, not on the paper's DAVIS-2017 train (chosen explicitly: "
            "dataset=embedded)") in profile_notes("paper", embedded)
    # Profiles that default to the embedded split say so without the "chosen explicitly".
    assert "trains on the offline embedded split, not on the paper's DAVIS-2017 train;" in profile_notes("gpu-short")
    assert "trains on DAVIS-2017 train at /d, as in the paper;" in profile_notes("paper", make_config("paper",
                                                                                                      data_root="/d"))
    with pytest.raises(ConfigError, match=r"TrainConfig\.dataset must be one of"):
        make_config("smoke", dataset="vid4")


@pytest.mark.parametrize("budget,factor", [("two-phases", 2), ("one-phase", 1)])
def test_student_budget_selects_the_no_kd_students_iterations(budget, factor):
    paper = make_config("paper", data_root="/d", student_budget=budget, variant="student")
    assert paper.student_iterations == paper.total_iterations == factor * 200_000
    # The profiles' divisors (10, 800, 20,000) still hold: phase 20,000 / 250 / 10.
    for name, phase in (("gpu-short", 20_000), ("cpu-demo", 250), ("smoke", 10)):
        c = make_config(name, student_budget=budget)
        assert (c.phase_iterations, c.student_iterations) == (phase, factor * phase)
    assert f"student_budget={budget}" in profile_notes("paper", paper)
    assert ("both KD phases together" if factor == 2 else "one KD phase") in profile_notes("paper", paper)


def test_student_iterations_follows_and_is_checked_against_the_budget():
    c = make_config("smoke", phase_iterations=7)
    assert (c.student_budget, c.student_iterations) == ("two-phases", 14)
    assert make_config("smoke", phase_iterations=7, student_iterations=14) == c  # a consistent value is accepted
    with pytest.raises(ConfigError, match=r"TrainConfig\.student_iterations must be 2 x phase_iterations = 14"):
        make_config("smoke", phase_iterations=7, student_iterations=10)
    with pytest.raises(ConfigError, match=r"TrainConfig\.student_budget must be one of \['two-phases', 'one-phase'\]"):
        make_config("smoke", student_budget="three-phases")
    one = c.replace(student_budget="one-phase")  # replace derives it again
    assert one.student_iterations == 7 and c.replace(phase_iterations=3).student_iterations == 6
    assert TrainConfig.from_dict(one.to_dict()) == one
    # A config saved before the field existed (2 x phase) reads as two-phases.
    old = {k: v for k, v in c.to_dict().items() if k != "student_budget"}
    assert TrainConfig.from_dict(old).student_budget == "two-phases"


def test_phase2_budget_sets_phase_2_alones_iterations_only():
    c = make_config("smoke", phase_iterations=7)
    assert (c.phase2_budget, c.phase2_iterations) == ("one-phase", 7)  # the default: one phase
    assert [c.replace(variant=v).total_iterations for v in ("phase1", "phase2", "phase1+2")] == [7, 7, 7]
    two = c.replace(phase2_budget="two-phases")  # replace derives it again; no other row's budget moves
    assert [two.replace(variant=v).total_iterations for v in ("teacher", "student", "phase1", "phase2", "phase1+2")] \
        == [c.teacher_iterations, 14, 7, 14, 7]
    assert two.replace(phase_iterations=3).phase2_iterations == 6
    with pytest.raises(ConfigError, match=r"TrainConfig\.phase2_iterations must be 1 x phase_iterations = 7"):
        make_config("smoke", phase_iterations=7, phase2_iterations=14)
    with pytest.raises(ConfigError, match=r"TrainConfig\.phase2_budget must be one of \['two-phases', 'one-phase'\]"):
        make_config("smoke", phase2_budget="all")
    # A config saved before the fields existed reads as one phase; only a profile that departs says so.
    old = {k: v for k, v in c.to_dict().items() if not k.startswith("phase2_")}
    assert TrainConfig.from_dict(old) == c
    assert "phase 2 alone" not in profile_notes("smoke", c)
    mini = make_config("miniature", variant="phase2")
    assert (mini.phase_iterations, mini.total_iterations) == (20_000, 40_000)
    assert profile_notes("miniature").endswith(
        "; phase 2 alone trained as long as both KD phases together, 40,000 (phase2_budget=two-phases; our "
        "choice: the paper states no budget)")


def test_phase1_budget_sets_phase_1s_iterations_only():
    c = make_config("smoke", phase_iterations=7)
    assert (c.phase1_budget, c.phase1_iterations) == ("one-phase", 7)  # the paper's: one phase
    two = c.replace(phase1_budget="two-phases")  # phase 1+2 keeps one phase
    assert [two.replace(variant=v).total_iterations for v in ("teacher", "student", "phase1", "phase2", "phase1+2")] \
        == [c.teacher_iterations, 14, 14, 7, 7]
    assert two.replace(phase_iterations=3).phase1_iterations == 6
    with pytest.raises(ConfigError, match=r"TrainConfig\.phase1_iterations must be 2 x phase_iterations = 14"):
        make_config("smoke", phase_iterations=7, phase1_budget="two-phases", phase1_iterations=7)
    with pytest.raises(ConfigError, match=r"TrainConfig\.phase1_budget must be one of \['two-phases', 'one-phase'\]"):
        make_config("smoke", phase1_budget="two")
    old = {k: v for k, v in c.to_dict().items() if not k.startswith("phase1_")}
    assert TrainConfig.from_dict(old) == c
    assert "phase 1 trained" not in profile_notes("smoke", c)
    assert make_config("miniature", variant="phase1").total_iterations == 40_000
    assert make_config("miniature", variant="phase1+2").total_iterations == 20_000
    assert ("; phase 1 trained as long as both KD phases together, 40,000 (phase1_budget=two-phases; the paper "
            "gives it one phase, as it does phase 1+2); phase 2 alone") in profile_notes("miniature")


@pytest.mark.parametrize("degradation", ["bicubic-matlab", "bicubic-pil", "bd"])
def test_degradation_is_a_checked_training_choice(degradation):
    c = make_config("smoke", degradation=degradation)
    assert c.degradation == degradation
    assert make_config("smoke").degradation == "bicubic-matlab"  # the default, as the test LR is made
    notes = profile_notes("smoke", c)
    assert ("training LR made by" in notes) == (degradation != "bicubic-matlab")
    with pytest.raises(ConfigError, match=r"TrainConfig\.degradation must be one of"):
        make_config("smoke", degradation="bicubic")


@pytest.mark.parametrize("variant,expected", [
    ("teacher", 250), ("student", 500), ("phase1", 250), ("phase2", 250), ("phase1+2", 250),
])
def test_total_iterations_per_variant(variant, expected):
    assert make_config("cpu-demo", variant=variant).total_iterations == expected
    assert make_config("cpu-demo", variant=variant, iterations=7).total_iterations == 7


def test_overrides_apply_and_none_keeps_profile_value():
    c = make_config("smoke", {"lr": 5e-4, "batch_size": None, "data_root": None}, seed=3)
    assert (c.lr, c.batch_size, c.seed, c.data_root) == (5e-4, 2, 3, None)


def test_int_for_float_becomes_float():
    c = make_config("smoke", alpha=1)
    assert c.alpha == 1.0 and isinstance(c.alpha, float)


@pytest.mark.parametrize("name,value", [
    ("batch_size", "64"), ("batch_size", 64.0), ("batch_size", True), ("alpha", "0.5"), ("augment", 1),
    ("device", 0), ("val_max_frames", 5.0),
])
def test_wrong_type_names_the_field(name, value):
    with pytest.raises(ConfigError, match=rf"TrainConfig\.{name} must be"):
        make_config("smoke", {name: value})


@pytest.mark.parametrize("name,value", [
    ("alpha", 1.5), ("patch_size", 7), ("patch_size", 2), ("batch_size", 0), ("variant", "phase3"),
    ("lr", -1.0), ("lr_gamma", 0.0), ("device", "gpu"), ("student_channels", 3), ("n_frames", 4),
    ("val_max_frames", 4), ("dataset", "vid4"), ("degradation", "nearest"), ("student_budget", "none"),
    ("lr_schedule", "cosine"), ("davis_pool", "val"),
])
def test_out_of_range_value_names_the_field(name, value):
    with pytest.raises(ConfigError, match=rf"TrainConfig\.{name}"):
        make_config("smoke", {name: value})


def test_unknown_field_and_profile():
    with pytest.raises(ConfigError, match="batchsize"):
        make_config("smoke", {"batchsize": 4})
    with pytest.raises(ConfigError, match="unknown profile 'laptop'"):
        make_config("laptop")
    with pytest.raises(ConfigError, match="profile is set by the profile argument"):
        make_config("smoke", {"profile": "paper"})
    with pytest.raises(ConfigError, match=r"\['seed'\] given twice"):
        make_config("smoke", {"seed": 1}, seed=2)


@pytest.mark.parametrize("name,text,expected", [
    ("batch_size", "16", 16), ("phase_iterations", "2e5", 200_000), ("phase_iterations", "200_000", 200_000),
    ("lr", "5e-4", 5e-4), ("augment", "false", False), ("augment", "Yes", True), ("amp", "0", False),
    ("data_root", "none", None), ("data_root", "/x/y", "/x/y"), ("val_max_frames", "null", None),
    ("val_max_frames", "7", 7), ("device", "cuda:1", "cuda:1"),
])
def test_parse_value(name, text, expected):
    value = parse_value(name, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("name,text", [("batch_size", "1.5"), ("batch_size", "abc"), ("augment", "maybe"),
                                       ("lr", "fast")])
def test_parse_value_errors_name_the_field(name, text):
    with pytest.raises(ConfigError, match=rf"TrainConfig\.{name} must be .*{text!r}"):
        parse_value(name, text)


def test_parse_overrides():
    assert parse_override("batch-size=8") == ("batch_size", 8)
    assert parse_overrides(["lr=1e-4", "seed=2"]) == {"lr": 1e-4, "seed": 2}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("lr")
    with pytest.raises(ConfigError, match="overridden twice"):
        parse_overrides(["seed=1", "seed=2"])
    with pytest.raises(ConfigError, match="unknown TrainConfig field"):
        parse_override("nope=1")


def test_dict_round_trip_replace_and_diff():
    c = make_config("cpu-demo", variant="phase2", seed=4)
    assert TrainConfig.from_dict(c.to_dict()) == c
    d = c.replace(seed=5, lr=2e-3)
    assert diff(c, d) == {"seed": (4, 5), "lr": (1e-3, 2e-3)}
    with pytest.raises(ConfigError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({**c.to_dict(), "extra": 1})
    with pytest.raises(ConfigError):
        c.replace(seed="5")


def test_field_help_covers_every_field():
    helps = field_help()
    assert set(helps) == set(TrainConfig.__dataclass_fields__)
    assert helps["batch_size"].startswith("int, default 64:")
    assert helps["data_root"].startswith("str | None, default None:")


def test_miniature_profile_is_the_paper_at_three_quarters_width_ratio():
    c, paper = make_config("miniature"), profile_config("paper")
    assert (c.teacher_channels, c.student_channels) == (64, 48)
    assert c.student_channels * 4 == c.teacher_channels * 3  # the paper's 240 : 320
    assert paper.student_channels * 4 == paper.teacher_channels * 3
    assert (c.phase_iterations, c.teacher_iterations, c.student_iterations, c.lr_step) == (20_000, 20_000, 40_000, 4_000)
    assert c.lr_step * 20 == paper.lr_step and c.lr_step * 5 == c.phase_iterations  # halved at 4k, 8k, 12k, 16k of 20k
    assert (c.batch_size, c.patch_size, c.val_every, c.val_max_frames, c.dataset) == (4, 32, 250, None, "embedded")
    for f in ("lr", "lr_gamma", "alpha", "adam_beta1", "adam_beta2", "adam_eps", "scale", "n_frames"):
        assert getattr(c, f) == getattr(paper, f), f
    assert TrainConfig.from_dict(c.to_dict()) == c  # validates
    assert make_config("miniature", variant="phase1+2", seed=2).total_iterations == 20_000
    notes = profile_notes("miniature")
    assert "teacher_channels 64 instead of 320; student_channels 48 instead of 240" in notes
    assert "teacher_iterations 20,000" in notes and "batch_size 4 instead of 64" in notes


def test_davis_cpu_profile_is_the_papers_widths_and_schedule_shape_on_davis_footage():
    c, paper = make_config("davis-cpu", data_root="/data/davis_subset"), profile_config("paper")
    assert (c.teacher_channels, c.student_channels, c.patch_size, c.batch_size) == (320, 240, 32, 4)
    assert (c.dataset, c.davis_pool, c.lr_schedule) == ("davis", "train+val", "phase-shape")
    assert (c.phase_iterations, c.student_iterations, c.phase1_iterations, c.phase2_iterations) == (8_000, 16_000,
                                                                                                     8_000, 8_000)
    assert paper.phase_iterations == 25 * c.phase_iterations and paper.lr_schedule == "step"
    for f in ("lr", "lr_gamma", "alpha", "adam_beta1", "adam_beta2", "adam_eps", "scale", "n_frames", "degradation"):
        assert getattr(c, f) == getattr(paper, f), f
    assert c.val_every * 16 == c.phase_iterations  # 16 validations a phase: the last 20 % holds 4 of them
    notes = profile_notes("davis-cpu", c)
    assert "lr halved at 40 % and 80 % of each run's budget" in notes
    assert "trains on DAVIS-2017 train and val less the 7 held-out and validation sequences" in notes
    with pytest.raises(ConfigError, match="data_root"):
        make_config("davis-cpu")
