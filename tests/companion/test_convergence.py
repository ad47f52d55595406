"""The plateau criterion on validation curves (sofkd_lib.companion.convergence), on hand-made curves."""
from __future__ import annotations

import pytest

from sofkd_lib.companion import convergence
from sofkd_lib.companion.convergence import plateau, run_plateau, tail_length


def test_still_improving_curve_is_not_a_plateau():
    # 6 points: tail = the last 2; best before 23.5, best in the tail 23.62 → +0.12 dB > 0.05.
    p = plateau([20.0, 22.0, 23.0, 23.5, 23.6, 23.62])
    assert not p.plateaued
    assert (p.n_points, p.n_tail, p.best_before, p.best_tail) == (6, 2, 23.5, 23.62)
    assert p.gain_db == pytest.approx(0.12)
    assert p.describe().startswith("still improving: best of the last 2 of 6 validations 23.620 dB vs 23.500 dB")


def test_flat_tail_is_a_plateau():
    p = plateau([20.0, 22.0, 23.0, 23.5, 23.52, 23.54])
    assert p.plateaued and p.gain_db == pytest.approx(0.04)
    assert p.describe().startswith("plateaued:")


def test_falling_tail_is_a_plateau():
    # 7 points: tail = ceil(7/3) = 3 → before max(20, 24, 23.9, 23.8) = 24, tail max 23.7.
    p = plateau([20.0, 24.0, 23.9, 23.8, 23.7, 23.6, 23.5])
    assert p.plateaued and (p.n_tail, p.best_before, p.best_tail) == (3, 24.0, 23.7)
    assert p.gain_db == pytest.approx(-0.3)


def test_gain_equal_to_the_tolerance_counts_as_flat():
    # 4.25 - 4.0 = 0.25 exactly in binary floating point.
    assert plateau([1.0, 2.0, 3.0, 4.0, 4.25, 4.0], tolerance_db=0.25).plateaued
    assert not plateau([1.0, 2.0, 3.0, 4.0, 4.25, 4.0], tolerance_db=0.125).plateaued


def test_tail_fraction_and_too_few_points():
    # tail_fraction 0.5 on 6 points: the tail is 3 points, the best before it 3.0.
    p = plateau([1.0, 2.0, 3.0, 3.01, 3.02, 3.03], tail_fraction=0.5)
    assert (p.n_tail, p.best_before, p.best_tail) == (3, 3.0, 3.03) and p.plateaued
    few = plateau([1.0, 2.0, 3.0, 3.0, 3.0])
    assert not few.plateaued and few.gain_db is None and few.n_points == 5
    assert few.describe() == "not enough validations to judge (5 < 6 needed)"
    # the message names the min_points the test was given, and an empty curve says so
    assert plateau([1.0, 2.0, 3.0], min_points=4).describe() == "not enough validations to judge (3 < 4 needed)"
    assert plateau([]).describe() == "no validations yet"
    assert plateau([1.0, 1.0], min_points=2).plateaued


def test_tail_length_keeps_a_point_on_each_side():
    assert [tail_length(n) for n in (2, 3, 6, 7, 80)] == [1, 1, 2, 3, 27]
    assert tail_length(6, 0.5) == 3 and tail_length(4, 0.99) == 3


@pytest.mark.parametrize("kwargs,match", [({"tail_fraction": 1.0}, "tail_fraction"),
                                          ({"tolerance_db": -0.1}, "tolerance_db"),
                                          ({"min_points": 1}, "min_points")])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plateau([1.0] * 6, **kwargs)


def test_non_finite_psnr_is_refused():
    with pytest.raises(ValueError, match="finite"):
        plateau([1.0, 2.0, float("nan"), 3.0, 3.0, 3.0])


def test_run_plateau_reads_validation_csv(tmp_path):
    (tmp_path / "validation.csv").write_text(
        "iteration,psnr,ssim,epe,seconds\n" + "".join(f"{250 * (i + 1)},{v},0.8,1.0,{i}\n"
                                                      for i, v in enumerate([24.0, 26.0, 27.0, 27.2, 27.21, 27.22])))
    p = run_plateau(tmp_path)
    assert p.plateaued and (p.best_before, p.best_tail) == (27.2, 27.22)
    assert not run_plateau(tmp_path, tolerance_db=0.01).plateaued
    with pytest.raises(FileNotFoundError, match="validation.csv"):
        run_plateau(tmp_path / "missing")


def test_run_trend_reads_validation_csv_after_the_given_iteration(tmp_path):
    # 27.0 at 1,000, then 0.3 dB per doubling: 27.3 at 2,000, 27.6 at 4,000, 27.9 at 8,000
    (tmp_path / "validation.csv").write_text("iteration,psnr,ssim,epe,seconds\n" + "".join(
        f"{i},{v},0.8,1.0,0\n" for i, v in ((500, 20.0), (1000, 27.0), (2000, 27.3), (4000, 27.6), (8000, 27.9))))
    trend = convergence.run_trend(tmp_path, since=500)
    assert trend.db_per_doubling == pytest.approx(0.3) and trend.n_points == 4
    assert convergence.run_trend(tmp_path, since=1000).n_points == 3
    assert convergence.run_trend(tmp_path, since=2000) is None  # two validations after 2,000
    with pytest.raises(FileNotFoundError, match="validation.csv"):
        convergence.run_trend(tmp_path / "missing", since=0)


def test_tail_lr_share_is_the_tails_part_of_the_summed_lr():
    from sofkd_lib.engine.config import make_config

    base = dict(dataset="synthetic", teacher_channels=8, student_channels=4)
    # 10 iterations, halved after 4 and 8: 4 + 4/2 + 2/4 = 6.5 lr units, the last two hold 0.5 of them.
    shaped = make_config("smoke", base, iterations=10, lr_schedule="phase-shape", variant="student")
    assert convergence.tail_lr_share(shaped, 0.2) == pytest.approx(0.5 / 6.5)
    # StepLR every 2 over 6 iterations: 2 + 1 + 0.5 = 3.5 units, the last third (2 iterations) 0.5.
    stepped = make_config("smoke", base, iterations=6, lr_step=2, variant="student")
    assert convergence.tail_lr_share(stepped, 1 / 3) == pytest.approx(0.5 / 3.5)
    with pytest.raises(ValueError, match="tail_fraction"):
        convergence.tail_lr_share(stepped, 1.0)


def test_log_trend_of_a_straight_line_in_log_iterations():
    trend = convergence.log_trend([500, 1000, 2000, 4000, 8000], [27.0, 28.0, 28.2, 28.4, 28.6], since=500)
    assert trend.n_points == 4 and trend.since == 500  # the 500 point is left out
    assert trend.db_per_doubling == pytest.approx(0.2)
    assert (trend.low, trend.high) == pytest.approx((0.2, 0.2))
    # from 0.8·N to N the line rises 0.2·log2(1.25), whatever N is
    assert trend.tail_gain_db(0.2) == pytest.approx(0.2 * 0.321928, abs=1e-6)


def test_log_trend_slope_and_interval_by_hand():
    # x = log2(i) = 0, 1, 2, 3; y = 0, 1, 1, 2: slope 3/5, residuals -0.1, 0.3, -0.3, 0.1, s² = 0.2/2,
    # standard error sqrt(0.1/5), t(0.975, 2 df) = 4.302653
    trend = convergence.log_trend([1, 2, 4, 8], [0.0, 1.0, 1.0, 2.0])
    half = 4.302653 * (0.1 / 5) ** 0.5
    assert trend.db_per_doubling == pytest.approx(0.6)
    assert (trend.low, trend.high) == pytest.approx((0.6 - half, 0.6 + half), abs=1e-6)
    assert trend.level == 0.95


def test_log_trend_refuses_too_few_points_and_bad_levels():
    with pytest.raises(ValueError, match="at least 3 validations after iteration 1000"):
        convergence.log_trend([500, 1000, 1500, 2000], [1.0, 2.0, 3.0, 4.0], since=1000)
    with pytest.raises(ValueError, match="level"):
        convergence.log_trend([1, 2, 4], [0.0, 1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="tail_fraction"):
        convergence.log_trend([1, 2, 4], [0.0, 1.0, 2.0]).tail_gain_db(1.0)
