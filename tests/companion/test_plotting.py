"""Flow colour code (values computed by hand from the Middlebury wheel), figure helpers, atomic PNGs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from sofkd_lib.companion import plotting as P


def _flow(u: float, v: float, h: int = 1, w: int = 1) -> np.ndarray:
    f = np.zeros((2, h, w))
    f[0], f[1] = u, v
    return f


def test_colour_wheel_segment_starts():
    wheel = P.colour_wheel()
    assert wheel.shape == (55, 3)
    # Segment starts: red, yellow, green, cyan, blue, magenta (15, 6, 4, 11, 13, 6 colours).
    starts = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255), 36: (0, 0, 255), 49: (255, 0, 255)}
    for i, rgb in starts.items():
        assert tuple(wheel[i]) == rgb, i
    # Inside a segment: RY ramps green as floor(255 * i / 15).
    assert tuple(wheel[13]) == (255, 221, 0)


def test_flow_to_rgb_hand_values():
    assert P.flow_to_rgb(_flow(0, 0)).tolist() == [[[255, 255, 255]]]
    assert P.flow_to_rgb(_flow(2.0, 0), 2.0).tolist() == [[[255, 0, 0]]]  # right, full length: red
    # Left: angle 0 -> position 27.5 on the wheel, halfway between CB colours 27 (G 209) and 28 (G 186).
    assert P.flow_to_rgb(_flow(-2.0, 0), 2.0).tolist() == [[[0, 198, 255]]]
    # Down (+y): position 13.75, between RY 13 (G 221) and 14 (G 238): 221/4 + 238·3/4 = 233.75.
    assert P.flow_to_rgb(_flow(0, 1.0), 1.0).tolist() == [[[255, 234, 0]]]
    # Half the radius: 1 - 0.5·(1 - colour) = (1, .5, .5).
    assert P.flow_to_rgb(_flow(1.0, 0), 2.0).tolist() == [[[255, 128, 128]]]
    # Beyond the radius: the colour darkened to 75 %.
    assert P.flow_to_rgb(_flow(4.0, 0), 2.0).tolist() == [[[191, 0, 0]]]


def test_flow_to_rgb_layouts_and_errors():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 4, 5))
    a = P.flow_to_rgb(f, 3.0)
    b = P.flow_to_rgb(np.moveaxis(f, 0, -1), 3.0)
    assert a.shape == (4, 5, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        P.flow_to_rgb(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        P.flow_to_rgb(_flow(np.nan, 0))


def test_shared_radius_and_legend():
    assert P.max_flow_radius(_flow(3, 4), _flow(1, 0)) == 5.0
    key = P.wheel_legend(101, 2.0)
    assert key[50, 50].tolist() == [255, 255, 255]  # centre: zero flow
    assert key[50, 100].tolist() == [255, 0, 0]  # right edge: (2 px, 0) at radius 2
    assert key[0, 0].tolist() == [255, 255, 255]  # outside the disc


def test_error_map():
    # The end-point error lives in sofkd_lib.evaluation.metrics (tests/evaluation/test_metrics.py: a (3, 4) px error is 5.0).
    assert P.error_map(np.array([1, 5]), np.array([4, 4])).tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match="differ"):
        P.error_map(np.zeros(2), np.zeros(3))


def test_flow_grid_shares_one_scale_per_column():
    fig = P.plot_flow_grid({"teacher": [_flow(2, 0, 4, 4)], "student": [_flow(0, 4, 4, 4)]}, level_names=("HR",))
    titles = [ax.get_title() for ax in fig.axes]
    assert "HR (key radius 4.00 px)" in titles
    fig = P.plot_flow_grid({"a": [_flow(1, 0, 2, 2), _flow(3, 0, 2, 2)]}, max_radius=[1.0, 6.0])
    titles = [ax.get_title() for ax in fig.axes]
    assert any("1.00 px" in t for t in titles) and any("6.00 px" in t for t in titles)


def test_draft_cube_layout():
    cube = np.zeros((1 + 2 * 4, 6, 6))
    fig = P.plot_draft_cube(cube, scale=2)
    assert len(fig.axes) == 2 * (1 + 2 * 2)
    assert {"centre", "n1 (0,0)", "n2 (1,1)"} <= {ax.get_title() for ax in fig.axes}
    with pytest.raises(ValueError, match=r"\(9, h, w\)"):
        P.plot_draft_cube(np.zeros((8, 6, 6)), scale=2)


def test_loss_curves_panels_and_scales():
    m = pd.DataFrame({"iteration": [1, 2, 3], "loss": [1.0, 0.5, 0.25], "val_psnr": [20.0, 21.0, 22.0],
                      "lr": [1e-3] * 3, "seconds": [1.0, 2.0, 3.0]})
    fig = P.plot_loss_curves(m)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val_psnr"]  # lr and seconds are not losses
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"
    with pytest.raises(ValueError, match="iteration"):
        P.plot_loss_curves(m.drop(columns="iteration"))


def test_per_frame_labels_checked():
    fig = P.plot_per_frame({"a": [1.0, 2.0]}, ["s:3", "s:4"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["s:3", "s:4"]
    with pytest.raises(ValueError, match="labels"):
        P.plot_per_frame({"a": [1.0, 2.0]}, ["only one"])


def test_save_png_is_atomic_and_png(tmp_path):
    fig = P.plot_images({"x": np.zeros((4, 4))})
    path = P.save_png(fig, tmp_path / "sub" / "fig.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]  # no temporary file left
    image = P.to_image(P.plot_images({"x": np.zeros((4, 4))}))
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_paper_comparison_puts_each_value_on_its_row():
    values = pd.DataFrame([
        ("teacher", "PSNR avg (dB)", "paper", 25.6578), ("teacher", "PSNR avg (dB)", "recorded", 25.82),
        ("student", "PSNR avg (dB)", "paper", 25.1063), ("student", "PSNR avg (dB)", "recorded", 24.59),
        ("bicubic", "PSNR avg (dB)", "recorded", 23.76),
        ("teacher", "SSIM avg", "paper", 0.7521), ("student", "SSIM avg", "build", None),
    ], columns=["model", "quantity", "source", "value"])
    fig = P.plot_paper_comparison(values, title="t")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["PSNR avg (dB)", "SSIM avg"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["teacher", "student", "bicubic"]
    recorded, paper = (c.get_offsets() for c in axes[0].collections)
    # One measured source: no vertical offset; rows 0, 1, 2 top to bottom; the paper has no bicubic.
    assert recorded.tolist() == [[25.82, 0.0], [24.59, 1.0], [23.76, 2.0]]
    assert paper.tolist() == [[25.6578, 0.0], [25.1063, 1.0]]
    assert axes[0].yaxis_inverted()
    # The legend names both sources once although the second panel lacks "recorded".
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["recorded", "paper"]
    with pytest.raises(ValueError, match="source"):
        P.plot_paper_comparison(values.drop(columns="source"))
    with pytest.raises(ValueError, match="no numbers"):
        P.plot_paper_comparison(values.assign(value=None))


def test_seed_curves_one_line_per_seed_and_the_mean():
    curves = {1: pd.DataFrame({"iteration": [10, 20, 30], "psnr": [20.0, 21.0, 22.0]}),
              0: pd.DataFrame({"iteration": [10, 20], "psnr": [19.0, 23.0]})}
    fig = P.plot_seed_curves(curves, title="phase1")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["seed 0", "seed 1", "mean"]
    # the mean only where every seed has a value: (19 + 20) / 2 and (23 + 21) / 2
    assert ax.lines[-1].get_xydata().tolist() == [[10.0, 19.5], [20.0, 22.0]]
    assert ax.get_title() == "phase1"
    one = P.plot_seed_curves({0: curves[0]})
    assert [line.get_label() for line in one.axes[0].lines] == ["seed 0"]
    with pytest.raises(ValueError, match=r"seed 3: validation curve lacks column\(s\) \['psnr'\]"):
        P.plot_seed_curves({3: pd.DataFrame({"iteration": [1]})})
    with pytest.raises(ValueError, match="no curves"):
        P.plot_seed_curves({})


def test_seed_curves_shade_and_zoom_the_part_the_plateau_test_reads():
    # 6 validations, last third = 2 points: shaded from iteration 50 to 60; the inset starts one validation
    # earlier (40) and holds one line per seed.
    curves = {0: pd.DataFrame({"iteration": [10, 20, 30, 40, 50, 60], "psnr": [20.0, 25.0, 26.0, 26.1, 26.1, 26.2]}),
              1: pd.DataFrame({"iteration": [10, 20, 30, 40, 50, 60], "psnr": [21.0, 25.5, 26.0, 26.0, 26.1, 26.1]})}
    fig = P.plot_seed_curves(curves, tail_fraction=1 / 3)
    (ax,) = fig.axes
    (zoom,) = ax.child_axes
    span = [p for p in ax.patches if p.get_label() == "part the plateau test reads"]
    assert len(span) == 1 and span[0].get_x() == 50 and span[0].get_width() == 10
    assert [line.get_xdata().tolist() for line in zoom.lines] == [[40, 50, 60], [40, 50, 60]]
    assert zoom.lines[1].get_ydata().tolist() == [26.0, 26.1, 26.1]
    assert not P.plot_seed_curves(curves).axes[0].child_axes  # no inset without tail_fraction


def test_loss_curves_wrap_into_rows():
    m = pd.DataFrame({"iteration": [1, 2], "loss": [1.0, 0.5], "loss_sr": [0.5, 0.25], "val_psnr": [20.0, 21.0]})
    fig = P.plot_loss_curves(m, ncols=2)
    visible = [ax.get_title() for ax in fig.axes if ax.axison]
    assert visible == ["loss", "loss_sr", "val_psnr"] and len(fig.axes) == 4  # 2 x 2 grid, the last panel off
    assert fig.get_size_inches().tolist() == [6.8, 6.0]
    with pytest.raises(ValueError, match="ncols"):
        P.plot_loss_curves(m, ncols=0)


def test_lr_schedules_draw_each_schedule_and_thicken_its_tail():
    import matplotlib.pyplot as plt

    from sofkd_lib.companion.plotting import plot_lr_schedules

    fig = plot_lr_schedules({"a": [1e-3] * 4 + [5e-4] * 4 + [2.5e-4] * 2, "b": [1e-3] * 5}, tail_fraction=0.2)
    lines = fig.axes[0].get_lines()
    # Per schedule: the whole line, then its last 20 % (2 of 10 and 1 of 5 iterations).
    assert [len(line.get_xdata()) for line in lines] == [10, 2, 5, 1]
    assert list(lines[1].get_ydata()) == [2.5e-4, 2.5e-4] and fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="no schedule"):
        plot_lr_schedules({})


def test_seed_curves_draw_the_lr_on_a_second_axis():
    curves = {0: pd.DataFrame({"iteration": [2, 4, 6, 8, 10], "psnr": [20.0, 25.0, 26.0, 26.1, 26.1]})}
    lr = [1e-3] * 4 + [5e-4] * 4 + [2.5e-4] * 2
    fig = P.plot_seed_curves(curves, lr=lr)
    _, lr_ax = fig.axes
    (line,) = lr_ax.get_lines()
    assert line.get_ydata().tolist() == lr and lr_ax.get_yscale() == "log"
    assert len(P.plot_seed_curves(curves).axes) == 1  # no lr axis unless asked
