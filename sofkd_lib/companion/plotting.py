"""Figures for the book: flow colour coding, warps, the draft cube, error maps, curves.

Flows are drawn with the Middlebury colour code (Baker et al., IJCV 2011): hue is
the direction, saturation the magnitude relative to a radius ``max_radius`` in
*pixels*. Pass one shared ``max_radius`` to every panel that is to be compared
(teacher vs student), otherwise each panel is normalised to its own maximum and
colours are not comparable. Network flows must be converted first with
:func:`sofkd_lib.archs.warp.model_to_pixels` (1 unit = 15.5 px).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`save_png`
writes one atomically. Nothing here touches global matplotlib state except the
backend-independent ``Figure`` objects it creates.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# Colour wheel segments of the Middlebury code: red→yellow→green→cyan→blue→magenta→red.
_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))


def colour_wheel() -> np.ndarray:
    """The 55 reference colours of the Middlebury wheel, (55, 3) float in [0, 255]."""
    rows: list[tuple[float, float, float]] = []
    for name, n in _SEGMENTS:
        for i in range(n):
            ramp = float(np.floor(255 * i / n))
            rows.append({
                "RY": (255, ramp, 0),
                "YG": (255 - ramp, 255, 0),
                "GC": (0, 255, ramp),
                "CB": (0, 255 - ramp, 255),
                "BM": (ramp, 0, 255),
                "MR": (255, 0, 255 - ramp),
            }[name])
    return np.asarray(rows, dtype=np.float64)


def _as_hw2(flow) -> np.ndarray:
    """Accept (2, H, W) or (H, W, 2), NumPy or torch; return float64 (H, W, 2)."""
    arr = flow.detach().cpu().numpy() if hasattr(flow, "detach") else np.asarray(flow)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 3 or 2 not in (arr.shape[0], arr.shape[-1]):
        raise ValueError(f"flow must have shape (2, H, W) or (H, W, 2); got {arr.shape}")
    if arr.shape[-1] != 2:
        arr = np.moveaxis(arr, 0, -1)
    return arr


def max_flow_radius(*flows) -> float:
    """Largest flow magnitude (pixels) over all ``flows``: a shared colour scale."""
    if not flows:
        raise ValueError("max_flow_radius needs at least one flow")
    radii = [float(np.sqrt((_as_hw2(f) ** 2).sum(-1)).max()) for f in flows]
    return max(radii)


def flow_to_rgb(flow, max_radius: float | None = None) -> np.ndarray:
    """Middlebury colour image (H, W, 3) uint8 of a flow in pixels.

    ``flow`` is (2, H, W) or (H, W, 2) with channel 0 = horizontal (x, rightwards)
    and channel 1 = vertical (y, downwards). Zero flow is white; a flow of length
    ``max_radius`` pointing right is pure red. Magnitudes beyond ``max_radius``
    are drawn darker (the reference convention for out-of-range vectors).
    """
    f = _as_hw2(flow)
    if not np.isfinite(f).all():
        raise ValueError("flow holds non-finite values")
    u, v = f[..., 0], f[..., 1]
    radius = np.sqrt(u * u + v * v)
    if max_radius is None:
        max_radius = float(radius.max())
    if max_radius <= 0:
        max_radius = 1.0  # all-zero flow: white everywhere
    rad = radius / max_radius
    wheel = colour_wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1.0) / 2.0 * n  # wraps continuously: -1 and 1 both map to red
    k0 = np.floor(fk).astype(np.int64) % n
    k1 = (k0 + 1) % n
    frac = (fk - np.floor(fk))[..., None]
    col = ((1 - frac) * wheel[k0] + frac * wheel[k1]) / 255.0
    inside = (rad <= 1)[..., None]
    r = rad[..., None]
    col = np.where(inside, 1 - r * (1 - col), col * 0.75)
    return np.clip(np.round(col * 255), 0, 255).astype(np.uint8)


def wheel_legend(size: int = 101, max_radius: float = 1.0) -> np.ndarray:
    """An RGB key (size, size, 3): the colour of every flow within ``max_radius`` px."""
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack(((xs - c) / c * max_radius, (ys - c) / c * max_radius), -1)
    outside = np.hypot(xs - c, ys - c) > c
    img = flow_to_rgb(flow, max_radius)
    img[outside] = 255
    return img


def _figure(nrows: int, ncols: int, panel: float = 2.6, height: float | None = None):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel * ncols, (height or panel) * nrows), squeeze=False, constrained_layout=True
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def plot_flow_grid(
    rows: Mapping[str, Sequence], level_names: Sequence[str] = ("½ LR", "LR", "HR"),
    max_radius: float | Sequence[float] | None = None, title: str | None = None,
):
    """One row per model, one column per flow level, plus the colour key.

    ``rows`` maps a model name to its flows (pixels, one (2, H, W) or (H, W, 2)
    per level; ``None`` leaves a panel empty). Each column (level) uses one colour
    scale shared by every row, so teacher and student compare directly; its
    radius in pixels is printed in the column title. ``max_radius`` fixes the
    radii instead (one number for all columns, or one per column).
    """
    ncols = max(len(fl) for fl in rows.values())
    if max_radius is None:
        radii = []
        for c in range(ncols):
            col = [fl[c] for fl in rows.values() if c < len(fl) and fl[c] is not None]
            radii.append(max_flow_radius(*col) if col else 1.0)
    elif isinstance(max_radius, (int, float)):
        radii = [float(max_radius)] * ncols
    else:
        radii = [float(r) for r in max_radius]
    fig, axes = _figure(len(rows), ncols + 1)
    for r, (name, fl) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            f = fl[c] if c < len(fl) else None
            if f is None:
                ax.axis("off")
            else:
                ax.imshow(flow_to_rgb(f, radii[c]), interpolation="nearest")
            if r == 0:
                label = level_names[c] if c < len(level_names) else f"level {c + 1}"
                ax.set_title(f"{label} (key radius {radii[c]:.2f} px)", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=9)
        if r == 0:
            axes[r, -1].imshow(wheel_legend(101, 1.0))
            axes[r, -1].set_title("direction key", fontsize=8)
        else:
            axes[r, -1].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_images(
    images: Mapping[str, np.ndarray], cmap: str = "gray", vmin: float | None = 0.0, vmax: float | None = 1.0,
    ncols: int | None = None, title: str | None = None, colorbar: bool = False,
):
    """A row (or grid) of named images; the workhorse for warps, crops and error maps."""
    names = list(images)
    ncols = ncols or len(names)
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = _figure(nrows, ncols)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        img = np.asarray(images[name])
        im = ax.imshow(img, cmap=None if img.ndim == 3 else cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        if colorbar and img.ndim == 2:
            fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_warped_neighbours(centre: np.ndarray, neighbours: Sequence[np.ndarray], warped: Sequence[np.ndarray]):
    """Centre frame; each neighbour before and after warping; |centre − ·| before and after.

    All frames are (H, W) in [0, 1]. The bottom row's mean absolute error shows
    how much of the difference the flow explains.
    """
    import matplotlib.pyplot as plt

    n = len(neighbours)
    fig, axes = _figure(2, 2 * n + 1)
    axes[0, 0].imshow(centre, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("centre")
    axes[1, 0].axis("off")
    errs = [np.abs(centre - x) for pair in zip(neighbours, warped) for x in pair]
    vmax = max(float(e.max()) for e in errs) or 1.0
    for i, (nb, wp) in enumerate(zip(neighbours, warped)):
        for j, (img, label) in enumerate(((nb, f"neighbour {i + 1}"), (wp, f"neighbour {i + 1} warped"))):
            ax = axes[0, 1 + 2 * i + j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=9)
            err = np.abs(centre - img)
            axes[1, 1 + 2 * i + j].imshow(err, cmap="magma", vmin=0, vmax=vmax)
            axes[1, 1 + 2 * i + j].set_title(f"|centre − ·|, mean {err.mean():.4f}", fontsize=8)
    fig.colorbar(plt.cm.ScalarMappable(cmap="magma", norm=plt.Normalize(0, vmax)), ax=axes[1, 1:], shrink=0.8)
    return fig


def plot_draft_cube(cube: np.ndarray, scale: int, n_neighbours: int = 2):
    """The SRnet input of one sample: the centre plus s² warped copies per neighbour.

    ``cube`` is (1 + n·s², h, w) as built by :func:`sofkd_lib.archs.sofvsr_arch.motion_compensate`:
    channel 0 the centre, then each neighbour's s² sub-pixel warps in (row, column)
    offset order. Drawn as one s×s mosaic per neighbour, so that the sub-pixel
    shifts the space-to-depth split introduces can be compared side by side.
    """
    cube = np.asarray(cube)
    expected = 1 + n_neighbours * scale * scale
    if cube.ndim != 3 or cube.shape[0] != expected:
        raise ValueError(f"draft cube must be ({expected}, h, w) for scale {scale}; got {cube.shape}")
    fig, axes = _figure(scale, 1 + n_neighbours * scale, panel=1.9)
    for ax in axes[1:, 0]:
        ax.axis("off")
    axes[0, 0].imshow(cube[0], cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("centre", fontsize=8)
    for k in range(n_neighbours):
        for i in range(scale):
            for j in range(scale):
                ax = axes[i, 1 + k * scale + j]
                ax.imshow(cube[1 + k * scale * scale + i * scale + j], cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"n{k + 1} ({i},{j})", fontsize=8)
    return fig


def error_map(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Absolute error |estimate − reference| (same shapes, any dtype), float64."""
    a, b = np.asarray(estimate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"error_map shapes differ: {a.shape} vs {b.shape}")
    return np.abs(a - b)


def plot_loss_curves(metrics, columns: Sequence[str] | None = None, title: str | None = None, hue: str | None = None,
                     ncols: int | None = None):
    """Loss terms against iteration (log y) with seaborn, one panel per term.

    ``metrics`` is a pandas DataFrame with an ``iteration`` column (the trainer's
    ``metrics.csv``), optionally a ``hue`` column (e.g. ``variant``) to overlay runs.
    ``ncols``: at most this many panels per row (default: all in one row).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if "iteration" not in metrics.columns:
        raise ValueError(f"metrics has no 'iteration' column; columns are {list(metrics.columns)}")
    skip = {"iteration", "lr", "seconds", "time", hue}
    cols = list(columns) if columns else [
        c for c in metrics.columns if c not in skip and metrics[c].notna().any() and np.issubdtype(metrics[c].dtype, np.number)
    ]
    if not cols:
        raise ValueError("metrics has no numeric loss columns to plot")
    if ncols is not None and ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols or len(cols), len(cols))
    nrows = -(-len(cols) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False, constrained_layout=True)
    axes = grid.ravel()
    for ax in axes[len(cols):]:
        ax.set_axis_off()
    for ax, col in zip(axes, cols):
        data = metrics[metrics[col].notna()]
        sns.lineplot(data=data, x="iteration", y=col, hue=hue, ax=ax, marker="o" if len(data) < 30 else None,
                     legend=ax is axes[len(cols) - 1] and hue is not None)
        if (data[col] > 0).all() and "psnr" not in col.lower():
            ax.set_yscale("log")
        ax.set_title(col, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_per_frame(values: Mapping[str, Sequence[float]], labels: Sequence[str] | None = None,
                   ylabel: str = "PSNR (dB)", title: str | None = None):
    """Per-frame metric lines, one per model, against ``labels`` (e.g. "calendar:3"; default 1, 2, …)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = max(len(v) for v in values.values())
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} values")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * n + 3), 3.4), constrained_layout=True)
    palette = sns.color_palette("colorblind", len(values))
    x = np.arange(n)
    for colour, (name, vals) in zip(palette, values.items()):
        ax.plot(x[: len(vals)], vals, marker="o", ms=4, label=name, color=colour)
    step = max(1, n // 20)
    ax.set_xticks(x[::step], labels[::step], rotation=60 if n > 6 else 0, ha="right" if n > 6 else "center",
                  fontsize=7)
    ax.set_xlabel("sequence:frame (1-based)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncols=3)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_paper_comparison(values, reference: str = "paper", title: str | None = None, ncols: int = 2):
    """Dot plot of a published table against measured values: one panel per quantity, one line per row.

    ``values`` is a long pandas DataFrame with columns ``model``, ``quantity``,
    ``source`` and ``value`` (:func:`sofkd_lib.companion.tables.table1_long`). The
    ``reference`` source (the paper) is drawn as a large open black diamond, every
    other source as a coloured dot on the same line, so each measured value sits
    beside the paper's. Rows keep their first-seen order, top to bottom; at most
    ``ncols`` panels per row of panels.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    need = {"model", "quantity", "source", "value"}
    if not need <= set(values.columns):
        raise ValueError(f"values needs columns {sorted(need)}; it has {list(values.columns)}")
    data = values.dropna(subset=["value"])
    if data.empty:
        raise ValueError("values holds no numbers to plot")
    models = list(dict.fromkeys(data["model"]))
    quantities = list(dict.fromkeys(data["quantity"]))
    others = [s for s in dict.fromkeys(data["source"]) if s != reference]
    palette = dict(zip(others, sns.color_palette("colorblind", max(1, len(others)))))
    y = {m: i for i, m in enumerate(models)}
    ncols = max(1, min(ncols, len(quantities)))
    nrows = -(-len(quantities) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(3.0 * ncols + 2.0, (0.36 * len(models) + 1.0) * nrows + 0.6),
                             sharey=True, squeeze=False, constrained_layout=True)
    axes = grid.ravel()
    for ax in axes[len(quantities):]:
        ax.set_axis_off()
    for ax, quantity in zip(axes, quantities):
        part = data[data["quantity"] == quantity]
        # Measured sources slightly apart vertically so that equal values do not hide each other.
        for j, source in enumerate(others):
            pts = part[part["source"] == source]
            offset = 0.12 * (j - (len(others) - 1) / 2)
            ax.scatter(pts["value"], [y[m] + offset for m in pts["model"]], s=28, color=palette[source],
                       label=source, zorder=3)
        ref = part[part["source"] == reference]
        ax.scatter(ref["value"], [y[m] for m in ref["model"]], s=70, marker="D", facecolors="none",
                   edgecolors="black", linewidths=1.4, label=reference, zorder=4)
        ax.set_title(quantity, fontsize=10)
        ax.grid(axis="x", alpha=0.4)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_yticks(range(len(models)), models)
    axes[0].invert_yaxis()  # shared: every panel reads top to bottom
    for ax in axes[::ncols]:
        ax.tick_params(axis="y", labelsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:  # a source absent from the first panel still gets a legend entry
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def save_png(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically (:func:`sofkd_lib.data.io.write_atomic`); return the path."""
    from sofkd_lib.data.io import write_atomic

    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


# --------------------------------------------------------------------------- diagrams
def _box(ax, x: float, y: float, text: str, colour: str, w: float = 2.2, h: float = 0.9, frozen: bool = False):
    from matplotlib.patches import FancyBboxPatch

    # Frozen networks: dashed outline (hatching would hide the label).
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=colour, ec="black",
                                lw=1.6 if frozen else 1.0, ls="--" if frozen else "-"))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "", style: str = "-|>",
           colour: str = "black", dashed: bool = False):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": style, "color": colour, "lw": 1.2,
                                                      "linestyle": "--" if dashed else "-"})
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, ha="center", va="bottom", fontsize=7,
                color=colour)


def plot_distillation_scheme(counts: Mapping[str, float], alpha: float = 0.9):
    """The paper's two-phase distillation in one figure.

    ``counts`` gives parameter counts in M = 2^20 for ``teacher_ofr``,
    ``teacher_sr``, ``student_ofr``, ``student_sr`` (exact, computed from code by the caller).
    Frozen networks have dashed outlines; dashed red arrows are distillation targets.
    """
    import matplotlib.pyplot as plt

    frozen, trained, teacher_c = "#d9d9d9", "#9ecae1", "#fdd0a2"
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.6), constrained_layout=True)
    for ax in axes:
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 4)
        ax.axis("off")
    c = counts
    # Phase 1: teacher OFRnet (frozen) feeds a new student SRnet; SR output distilled from the teacher's SR.
    ax = axes[0]
    ax.set_title(f"Phase 1 (Eq. 6): L = {alpha:g}·L_SOF + {1 - alpha:.1g}·|SR_T − SR_S|₁", fontsize=9)
    ax.text(0.6, 2.0, "LR\nframes", ha="center", va="center", fontsize=8)
    _box(ax, 3.2, 3.0, f"teacher OFRnet\n{c['teacher_ofr']:.3f} M (frozen)", frozen, frozen=True)
    _box(ax, 3.2, 1.0, f"teacher SRnet\n{c['teacher_sr']:.3f} M (frozen)", teacher_c, frozen=True)
    _box(ax, 6.6, 3.0, f"student SRnet\n{c['student_sr']:.3f} M (trained)", trained)
    _arrow(ax, (1.0, 2.2), (2.05, 2.9))
    _arrow(ax, (1.0, 1.8), (2.05, 1.1))
    _arrow(ax, (4.35, 3.0), (5.45, 3.0), "HR flows")
    _arrow(ax, (3.2, 2.52), (3.2, 1.48), "flows")
    ax.text(9.0, 3.0, "SR_S", ha="center", va="center", fontsize=9)
    ax.text(9.0, 1.0, "SR_T", ha="center", va="center", fontsize=9)
    _arrow(ax, (7.75, 3.0), (8.6, 3.0))
    _arrow(ax, (4.35, 1.0), (8.6, 1.0))
    _arrow(ax, (9.0, 1.3), (9.0, 2.7), "target", colour="#d62728", dashed=True)
    # Phase 2 (Eq. 8): a new student OFRnet learns the teacher's flows and, through the frozen
    # phase-1 SRnet, the teacher's SR frame.
    ax = axes[1]
    ax.set_title(f"Phase 2 (Eq. 8): L = {alpha:g}·L_SOF + {1 - alpha:.1g}·(Σ MSE(flow_T, flow_S) + |SR_T − SR_S|₁)",
                 fontsize=9)
    ax.text(0.6, 2.0, "LR\nframes", ha="center", va="center", fontsize=8)
    _box(ax, 3.2, 3.0, f"student OFRnet\n{c['student_ofr']:.3f} M (trained)", trained)
    _box(ax, 3.2, 1.0, f"teacher OFRnet\n{c['teacher_ofr']:.3f} M (frozen)", frozen, frozen=True)
    _box(ax, 6.8, 3.0, f"phase-1 SRnet\n{c['student_sr']:.3f} M (frozen)", frozen, frozen=True)
    _box(ax, 6.8, 1.0, f"teacher SRnet\n{c['teacher_sr']:.3f} M (frozen)", teacher_c, frozen=True)
    _arrow(ax, (1.0, 2.2), (2.05, 2.9))
    _arrow(ax, (1.0, 1.8), (2.05, 1.1))
    _arrow(ax, (4.35, 3.0), (5.65, 3.0), "flow_S")
    _arrow(ax, (4.35, 1.0), (5.65, 1.0), "flow_T")
    _arrow(ax, (3.2, 1.48), (3.2, 2.52), "target", colour="#d62728", dashed=True)
    ax.text(9.1, 3.0, "SR_S", ha="center", va="center", fontsize=9)
    ax.text(9.1, 1.0, "SR_T", ha="center", va="center", fontsize=9)
    _arrow(ax, (7.95, 3.0), (8.7, 3.0))
    _arrow(ax, (7.95, 1.0), (8.7, 1.0))
    _arrow(ax, (9.1, 1.3), (9.1, 2.7), "target", colour="#d62728", dashed=True)
    ax.text(5.0, 0.15, f"result: student {c['student_ofr'] + c['student_sr']:.3f} M vs teacher "
            f"{c['teacher_ofr'] + c['teacher_sr']:.3f} M", ha="center", fontsize=8)
    return fig


def plot_module_chain(stages: Sequence[tuple[str, str]], title: str | None = None, colour: str = "#c6dbef"):
    """A left-to-right chain of boxes, one per stage: (name, detail) pairs drawn from a module tree."""
    import matplotlib.pyplot as plt

    n = len(stages)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.75 * n), 1.9), constrained_layout=True)
    ax.set_xlim(0, 2.0 * n)
    ax.set_ylim(0, 2)
    ax.axis("off")
    for i, (name, detail) in enumerate(stages):
        x = 1.0 + 2.0 * i
        _box(ax, x, 1.0, f"{name}\n{detail}", colour, w=1.7, h=1.3)
        if i:
            _arrow(ax, (x - 1.15, 1.0), (x - 0.87, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def to_image(fig, dpi: int = 100):
    """``fig`` as an IPython PNG image (then closed), so notebooks show it under any backend."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return Image(buf.getvalue())


def plot_seed_curves(curves: Mapping[int, object], column: str = "psnr", title: str | None = None,
                     ylabel: str = "validation PSNR (dB)", tail_fraction: float | None = None,
                     lr: Sequence[float] | None = None):
    """Validation curves of one model, one line per seed, in one figure.

    ``curves`` maps seed → a DataFrame with an ``iteration`` column and ``column``
    (the trainer's ``validation.csv``); a dashed line marks the mean over the seeds
    at the iterations every seed reached. With ``tail_fraction``, the last part of
    the validations that the plateau test reads
    (:func:`sofkd_lib.companion.convergence.tail_length`) is shaded. With ``lr`` (the lr of
    iterations 1 … N, :func:`sofkd_lib.engine.train.lr_trajectory`), the lr is drawn on a second
    axis, so a flat stretch can be read against the step size it was trained at.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if not curves:
        raise ValueError("no curves to plot (no seed recorded a validation.csv)")
    for seed, df in curves.items():
        missing = {"iteration", column} - set(df.columns)
        if missing:
            raise ValueError(f"seed {seed}: validation curve lacks column(s) {sorted(missing)}; "
                             f"columns are {list(df.columns)}")
    fig, ax = plt.subplots(figsize=(5.2, 3.2), constrained_layout=True)
    palette = sns.color_palette("colorblind", len(curves))
    for colour, (seed, df) in zip(palette, sorted(curves.items())):
        ax.plot(df["iteration"], df[column], marker="o", ms=3, color=colour, label=f"seed {seed}")
    common = sorted(set.intersection(*(set(df["iteration"]) for df in curves.values())))
    if len(curves) > 1 and common:
        mean = [np.mean([df.loc[df["iteration"] == i, column].iloc[-1] for df in curves.values()]) for i in common]
        ax.plot(common, mean, ls="--", color="black", lw=1.2, label="mean")
    if tail_fraction is not None:
        from sofkd_lib.companion.convergence import tail_length

        its = list(max(curves.values(), key=len)["iteration"])
        if len(its) >= 2:
            first = its[len(its) - tail_length(len(its), tail_fraction)]
            ax.axvspan(first, its[-1], color="0.85", zorder=0, label="part the plateau test reads")
            # The tail moves by hundredths of a dB after a rise of several dB: zoom into it in an inset
            # (lower right, below a curve that has risen) from the last validation before it on.
            zoom = ax.inset_axes([0.42, 0.08, 0.55, 0.45])
            start = its[max(0, its.index(first) - 1)]
            for colour, (_, df) in zip(palette, sorted(curves.items())):
                part = df[df["iteration"] >= start]
                zoom.plot(part["iteration"], part[column], marker="o", ms=2, lw=0.8, color=colour)
            zoom.axvspan(first, its[-1], color="0.85", zorder=0)
            zoom.tick_params(labelsize=6)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    if lr is not None:
        lr_ax = ax.twinx()
        lr_ax.step(np.arange(1, len(lr) + 1), lr, where="post", color="0.4", lw=0.9, ls=":")
        lr_ax.set_yscale("log")
        lr_ax.set_ylabel("learning rate (dotted)", fontsize=7)
        lr_ax.tick_params(labelsize=6)
    if tail_fraction is None:
        ax.legend(fontsize=7)
    else:  # outside: the inset takes the free corner
        fig.set_size_inches(6.8, 3.2)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_lr_schedules(schedules: Mapping[str, Sequence[float]], tail_fraction: float | None = None):
    """The learning rate of each iteration, one line per schedule (label → lr of iterations 1 … N, e.g.
    :func:`sofkd_lib.engine.train.lr_trajectory`), on a log axis; with ``tail_fraction``, the last part of each
    run that a plateau test reads is drawn thick."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if not schedules:
        raise ValueError("no schedule to plot")
    fig, ax = plt.subplots(figsize=(6.4, 2.8), constrained_layout=True)
    for colour, (label, lrs) in zip(sns.color_palette("colorblind", len(schedules)), schedules.items()):
        lrs = np.asarray(lrs, dtype=float)
        its = np.arange(1, len(lrs) + 1)
        ax.plot(its, lrs, color=colour, lw=1.2, label=label)
        if tail_fraction is not None:
            start = len(lrs) - round(tail_fraction * len(lrs))
            ax.plot(its[start:], lrs[start:], color=colour, lw=4, alpha=0.5, solid_capstyle="butt")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def module_stages(seq: Sequence[object]) -> list[tuple[str, str]]:
    """(name, detail) boxes for :func:`plot_module_chain`, one per layer of an ``nn.Sequential``, read from the modules.

    Convolutions give their kernel and channels, a chain of residual blocks its length
    and width, a pixel shuffle its factor; activations and other layers are left out.
    """
    from torch import nn

    from sofkd_lib.archs.sofvsr_arch import CascadedResBlocks

    out = []
    for m in seq:
        if isinstance(m, nn.Conv2d):
            out.append((f"conv {m.kernel_size[0]}×{m.kernel_size[1]}", f"{m.in_channels}→{m.out_channels}"))
        elif isinstance(m, CascadedResBlocks):
            # A block's first 1×1 convolution sees half of the channels (the other half passes unchanged).
            c = m.body[0].body[0].in_channels * 2
            out.append((f"{len(m.body)}× ResBlock", f"{c} ch"))
        elif isinstance(m, nn.PixelShuffle):
            out.append(("pixel shuffle", f"×{m.upscale_factor}"))
    return out
