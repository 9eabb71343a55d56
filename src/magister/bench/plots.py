"""Plotting helpers for the benchmark report (`magister bench`) and the benchmark scripts.

Everything here is generic: it takes plain arrays keyed by label and returns a
matplotlib ``Figure`` (saved to ``path`` when given). Figures are built with
``matplotlib.figure.Figure`` directly, never ``pyplot``, so nothing touches a
global backend or opens a window, and they work in worker processes and on
headless machines.

* :func:`learning_curves_figure` - one panel per group (student, task...), one
  line per label: the median across seeds with a min-max or IQR band;
* :func:`sampling_over_time_figure` - where each label (teacher) sampled a 2-D
  space, as small multiples per time window, points coloured by time;
* :func:`mixture_over_time_figure` - stacked areas of a discrete mixture
  (which task was chosen how often) over time; :func:`mixture_from_samples`
  turns (time, task index) samples into such a mixture;
* :func:`grid_over_time_figure` - a 2-D map (for example a grid student's
  competence) at a few times, one row per label;
* :func:`bar_figure` - a value per label with an error bar (overheads...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# (the one copy of each: opponents/ and the benchmark scripts write and label their pictures with them)
from ..checkpoint import literal_text as _literal, save_figure
from ..errors import ConfigError

__all__ = [
    "label_colors",
    "band",
    "learning_curves_figure",
    "sampling_over_time_figure",
    "mixture_from_samples",
    "mixture_over_time_figure",
    "grid_over_time_figure",
    "bar_figure",
    "save_figure",
]

Curves = Mapping[str, tuple[Sequence[float], Any]]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def label_colors(labels: Sequence[str]) -> dict[str, Any]:
    """A stable colour per label (``tab10``, then ``tab20``, then evenly spaced ``turbo`` colours: never two labels
    alike), so figures of one report agree."""
    from matplotlib import colormaps

    if len(labels) > 20:  # tab20 has 20 colours: the 21st label would reuse the first's
        turbo = colormaps["turbo"]
        return {lab: turbo(0.05 + 0.9 * i / (len(labels) - 1)) for i, lab in enumerate(labels)}
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}


def band(values: Any, kind: str = "minmax") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and band (``"minmax"``, ``"iqr"`` or ``"none"``) across seeds (rows) of ``values``."""
    y = np.atleast_2d(np.asarray(values, dtype=float))
    med = np.nanmedian(y, axis=0)
    if kind == "minmax":
        lo, hi = np.nanmin(y, axis=0), np.nanmax(y, axis=0)
    elif kind == "iqr":
        lo, hi = np.nanquantile(y, 0.25, axis=0), np.nanquantile(y, 0.75, axis=0)
    elif kind == "none":
        lo, hi = med, med
    else:
        raise ValueError(f"band must be 'minmax', 'iqr' or 'none', got {kind!r}")
    return med, lo, hi


def _check_curves(panel: str, label: str, x: Any, y: Any) -> None:
    """``ConfigError`` unless ``y`` is one curve or one per seed, each as long as ``x``: seeds' curves of different
    lengths were numpy's "inhomogeneous shape" error, and a curve longer than ``x`` matplotlib's "x and y must
    have same first dimension", neither naming the curve."""
    from ..errors import ConfigError

    n = len(np.atleast_1d(np.asarray(x, dtype=float)))
    if not isinstance(y, np.ndarray) and (hasattr(y, "__array__") or not isinstance(y, Iterable)):
        y = np.asarray(y)  # a number (a one-point curve), or another library's array read whole as band() reads it
    if isinstance(y, np.ndarray):
        rows = [y] if y.ndim <= 1 else list(y)
    else:
        seq = list(y)
        rows = [seq] if not seq or np.ndim(seq[0]) == 0 else seq
    lengths = [len(np.atleast_1d(np.asarray(r, dtype=float))) for r in rows]
    if any(m != n for m in lengths):
        raise ConfigError(f"learning_curves_figure: panel {panel!r}, label {label!r}: {len(rows)} curve(s) of "
                          f"{', '.join(map(str, lengths))} values against {n} x values; give every seed's curve one "
                          "value per x (cut the curves to their common length, or pad the shorter with NaN)")


def learning_curves_figure(
    panels: Mapping[str, Curves],
    path: str | os.PathLike | None = None,
    *,
    band_kind: str = "minmax",
    xlabel: str = "episode",
    ylabel: str = "mastery",
    ylim: tuple[float, float] | None = None,
    reference: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    colors: Mapping[str, Any] | None = None,
    ncols: int = 3,
):
    """Learning curves, one panel per key of ``panels``.

    ``panels[panel][label] = (x, Y)`` with ``Y`` of shape ``(seeds, len(x))``;
    each label is drawn as its median with a shaded band across seeds.
    ``reference[panel][label] = (x, y)`` adds a marker (a published figure).
    """
    if not panels:
        raise ValueError("learning_curves_figure needs at least one panel")
    for title, curves in panels.items():  # (numpy's or matplotlib's error named neither panel nor label)
        for label, (x, y) in curves.items():
            _check_curves(title, label, x, y)
    labels = list(dict.fromkeys(lab for p in panels.values() for lab in p))
    colors = dict(colors or label_colors(labels))
    n = len(panels)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(4.6 * ncols, 3.4 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (title, curves) in zip(axes, panels.items()):
        for label, (x, y) in curves.items():
            med, lo, hi = band(y, band_kind)
            x = np.asarray(x, dtype=float)
            c = colors.get(label)
            n_seeds = np.atleast_2d(np.asarray(y)).shape[0]
            # (a curve of one point, e.g. the overhead of a run evaluated once, drew neither line nor band: an
            # empty panel) it is drawn as a marker, its band as an error bar
            one = x.size == 1
            ax.plot(x, med, color=c, lw=1.8, marker="o" if one else None, label=f"{_literal(label)} (n={n_seeds})")
            if band_kind != "none" and one:
                ax.errorbar(x, med, yerr=[np.abs(med - lo), np.abs(hi - med)], color=c, fmt="none", capsize=4)
            elif band_kind != "none":
                ax.fill_between(x, lo, hi, color=c, alpha=0.18, lw=0)
        for label, (rx, ry) in (reference or {}).get(title, {}).items():
            ax.scatter([rx], [ry], marker="*", s=90, color=colors.get(label, "black"), edgecolor="black",
                       zorder=5, label=f"{_literal(label)} (published)")
        ax.set_title(_literal(title))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.locator_params(axis="x", nbins=5)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"median across seeds, band = {'min-max' if band_kind == 'minmax' else band_kind}", fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig


def sampling_over_time_figure(
    rows: Mapping[str, tuple[Sequence[float], Any]],
    path: str | os.PathLike | None = None,
    *,
    windows: int = 4,
    dims: tuple[int, int] = (0, 1),
    edges: Sequence[float] | None = None,
    axis_labels: tuple[str, str] | None = None,
    total: float | None = None,
    point_size: float = 4.0,
):
    """Where each label sampled a space over time: rows = labels, columns = time windows.

    ``rows[label] = (times, points)`` with ``points`` of shape ``(n, d)`` in
    unit coordinates; ``dims`` picks the two coordinates drawn. Points are
    coloured by time (viridis: dark = early). ``edges`` draws grid lines (for
    example a grid student's cells). ``total`` is the end of the time axis
    (default: the largest time seen).
    """
    if not rows:
        raise ValueError("sampling_over_time_figure needs at least one row")
    windows = max(1, int(windows))
    all_t = [np.asarray(t, dtype=float) for t, _ in rows.values()]
    end = float(total) if total is not None else max((float(t.max()) + 1 if t.size else 1.0) for t in all_t)
    bounds = np.linspace(0.0, end, windows + 1)
    fig = _figure(2.3 * windows + 0.8, 2.3 * len(rows) + 0.4)
    axes = fig.subplots(len(rows), windows, squeeze=False)
    scatter = None
    for r, (label, (t, pts)) in enumerate(rows.items()):
        t = np.asarray(t, dtype=float)
        pts = np.asarray(pts, dtype=float)  # (a label that sampled nothing: numpy cannot reshape 0 into (0, -1))
        pts = pts.reshape(len(t), -1) if len(t) else np.empty((0, max(dims) + 1))
        for w in range(windows):
            ax = axes[r, w]
            lo, hi = bounds[w], bounds[w + 1]
            sel = (t >= lo) & ((t < hi) | (w == windows - 1))
            if pts.shape[1] > max(dims):
                scatter = ax.scatter(pts[sel, dims[0]], pts[sel, dims[1]], c=t[sel], cmap="viridis", vmin=0,
                                     vmax=end, s=point_size, lw=0)
            for e in edges if edges is not None else ():
                ax.axhline(e, color="0.85", lw=0.4, zorder=0)
                ax.axvline(e, color="0.85", lw=0.4, zorder=0)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(f"{int(lo)}-{int(hi)}", fontsize=8)
            if w == 0:
                ax.set_ylabel(_literal(label) if axis_labels is None else f"{_literal(label)}\n{axis_labels[1]}",
                              fontsize=8)
            if axis_labels is not None and r == len(rows) - 1:
                ax.set_xlabel(axis_labels[0], fontsize=7)
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, shrink=0.6, label="time")
    if path is not None:
        save_figure(fig, path)
    return fig


def mixture_from_samples(times: Sequence[float], indices: Sequence[int], n: int, *, bins: int = 20,
                         total: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Share of each of ``n`` tasks per time bin: returns ``(bin centres, weights (bins, n))``."""
    from ..settings import whole

    bins = whole("mixture_from_samples: bins", bins, floats=True, hint="the number of time bins")  # (0: an IndexError)
    t = np.asarray(times, dtype=float)
    idx = np.asarray(indices, dtype=np.int64)
    if t.shape != idx.shape:
        raise ValueError(f"times and indices differ in length ({t.size} vs {idx.size})")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"task indices must lie in 0..{n - 1}")
    end = float(total) if total is not None else (float(t.max()) + 1 if t.size else 1.0)
    edges = np.linspace(0.0, end, int(bins) + 1)
    b = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    counts = np.zeros((bins, n))
    np.add.at(counts, (b, idx), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    weights = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return 0.5 * (edges[:-1] + edges[1:]), weights


def mixture_over_time_figure(
    panels: Mapping[str, tuple[Sequence[float], Any]],
    path: str | os.PathLike | None = None,
    *,
    names: Sequence[str] | None = None,
    xlabel: str = "episode",
    ylabel: str = "share",
    ncols: int = 3,
    max_legend: int = 12,
):
    """Stacked areas of a discrete mixture over time, one panel per key.

    ``panels[title] = (x, weights)`` with ``weights`` of shape ``(len(x), K)``
    (rows need not be normalised). ``names`` labels the K components.
    """
    if not panels:
        raise ValueError("mixture_over_time_figure needs at least one panel")
    for title, (x, w) in panels.items():  # (numpy's bare "cannot reshape array of size 0" named no panel)
        n_x, size = len(x), np.asarray(w).size
        if n_x == 0 or size == 0 or size % n_x:
            raise ConfigError(f"mixture_over_time_figure: panel {title!r} has {n_x} x value(s) and {size} weight(s); "
                              "give each panel at least one point and weights of shape (len(x), K), or leave it out")
    k = max(np.asarray(w).reshape(len(x), -1).shape[1] for x, w in panels.values())
    names = list(names) if names is not None else [str(i) for i in range(k)]
    from matplotlib import colormaps

    cmap = colormaps["tab20" if k > 10 else "tab10"]
    colors = [cmap(i % cmap.N) for i in range(k)]
    n = len(panels)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(4.6 * ncols + 1.2, 3.2 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (title, (x, w)) in zip(axes, panels.items()):
        x = np.asarray(x, dtype=float)
        w = np.asarray(w, dtype=float).reshape(len(x), -1)
        ax.stackplot(x, w.T, colors=colors[: w.shape[1]], labels=[_literal(n) for n in names[: w.shape[1]]], lw=0)
        ax.set_title(_literal(title))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xlim(x.min() if x.size else 0, x.max() if x.size else 1)
    for ax in axes[n:]:
        ax.set_visible(False)
    if k <= max_legend:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig


def grid_over_time_figure(
    rows: Mapping[str, tuple[Sequence[float], Any]],
    path: str | os.PathLike | None = None,
    *,
    columns: int = 4,
    vmin: float = 0.0,
    vmax: float | None = None,
    threshold: float | None = None,
    cbar_label: str = "value",
    blocked: Mapping[str, Any] | None = None,
):
    """2-D maps at a few times, rows = labels: ``rows[label] = (times, maps (T, H, W))``.

    ``columns`` evenly spaced times are shown (always including the last).
    Cells above ``threshold`` are marked with a dot; ``blocked[label]`` (a
    boolean ``(H, W)`` mask) marks cells that can never change with a grey cross.
    """
    if not rows:
        raise ValueError("grid_over_time_figure needs at least one row")
    columns = max(1, int(columns))
    if vmax is None:  # NaN cells (not measured) left out: np.max gave a NaN colour scale, every cell blank
        finite = [float(np.nanmax(m)) for _, m in rows.values() if np.isfinite(np.asarray(m, dtype=float)).any()]
        vmax = max(finite, default=0.0) or 1.0
    fig = _figure(2.2 * columns + 0.9, 2.2 * len(rows) + 0.3)
    axes = fig.subplots(len(rows), columns, squeeze=False)
    image = None
    for label, (_, maps) in rows.items():  # (a row without maps was a bare IndexError, after the colour scale)
        if len(maps) == 0:
            raise ConfigError(f"grid_over_time_figure: row {label!r} has no maps; give it at least one (H, W) map "
                              "and its time, or leave the row out")
    for r, (label, (t, maps)) in enumerate(rows.items()):
        maps = np.asarray(maps, dtype=float)
        t = np.asarray(t)
        picks = np.unique(np.linspace(0, len(maps) - 1, columns + 1).round().astype(int)[1:]) if len(maps) > 1 \
            else np.array([0])
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(picks):
                ax.set_visible(False)
                continue
            i = picks[c]
            m = maps[i]
            # maps are indexed [dim0, dim1]; draw dim0 on x, dim1 on y
            image = ax.imshow(m.T, origin="lower", extent=(0, 1, 0, 1), vmin=vmin, vmax=vmax, cmap="magma")
            h, w = m.shape
            if threshold is not None:
                ii, jj = np.nonzero(m > threshold)
                ax.scatter((ii + 0.5) / h, (jj + 0.5) / w, s=3, c="cyan", lw=0)
            if blocked is not None and label in blocked:
                ii, jj = np.nonzero(np.asarray(blocked[label], dtype=bool))
                ax.scatter((ii + 0.5) / h, (jj + 0.5) / w, s=14, c="0.55", marker="x", lw=0.8)
            ax.set_title(f"{_literal(label)} @ {int(t[i])}", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label=cbar_label)
    if path is not None:
        save_figure(fig, path)
    return fig


def bar_figure(
    values: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    ylabel: str = "value",
    log: bool = False,
    title: str | None = None,
    colors: Mapping[str, Any] | None = None,
):
    """One bar per label at the median of its values, with a min-max error bar (NaN values left out; a label
    with none left has no bar)."""
    if not values:
        raise ValueError("bar_figure needs at least one value")
    labels = list(values)
    colors = dict(colors or label_colors(labels))
    meds, los, his = [], [], []
    for lab in labels:
        v = np.atleast_1d(np.asarray(values[lab], dtype=float)).ravel()
        v = v[~np.isnan(v)]  # a failed run's NaN hid the others; a label with no value at all gets no bar
        med = float(np.median(v)) if v.size else float("nan")
        meds.append(med)
        los.append(med - v.min() if v.size else 0.0)
        his.append(v.max() - med if v.size else 0.0)
    fig = _figure(max(3.5, 0.8 * len(labels) + 1.5), 3.2)
    ax = fig.subplots()
    ax.bar([_literal(lab) if isinstance(lab, str) else lab for lab in labels], meds, yerr=[los, his],
           color=[colors.get(l) for l in labels], capsize=3)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    if path is not None:
        save_figure(fig, path)
    return fig
