"""The shared plot helpers write real, non-empty PNG files."""

from __future__ import annotations

import numpy as np
import pytest

from magister.bench import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 2000


def _has_colour(path) -> bool:
    """The picture is not blank: it holds more than a couple of distinct colours."""
    from matplotlib.image import imread

    img = imread(path)
    return len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 10


def test_band_kinds():
    y = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 9.0]])
    med, lo, hi = plots.band(y, "minmax")
    np.testing.assert_array_equal(med, [2.0, 3.0])
    np.testing.assert_array_equal(lo, [0.0, 1.0])
    np.testing.assert_array_equal(hi, [4.0, 9.0])
    med, lo, hi = plots.band(y, "iqr")
    np.testing.assert_allclose(lo, [1.0, 2.0])
    np.testing.assert_allclose(hi, [3.0, 6.0])
    with pytest.raises(ValueError):
        plots.band(y, "stdev")


def test_learning_curves(tmp_path):
    x = np.arange(0, 11) * 100
    rng = np.random.default_rng(0)
    panels = {
        "grid": {"a": (x, np.cumsum(rng.random((3, 11)), axis=1)), "b": (x, np.cumsum(rng.random((3, 11)), axis=1))},
        "hard": {"a": (x, rng.random((2, 11)))},
    }
    path = tmp_path / "sub" / "curves.png"
    fig = plots.learning_curves_figure(panels, path, reference={"grid": {"a": (1000, 5.0)}}, band_kind="iqr")
    assert _is_png(path) and _has_colour(path)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert [t.get_text() for t in visible[0].get_legend().get_texts()][:2] == ["a (n=3)", "b (n=3)"]
    with pytest.raises(ValueError):
        plots.learning_curves_figure({}, None)



def test_learning_curves_draw_a_curve_of_one_point(tmp_path):
    # the overhead figure of a run evaluated once (episodes == eval_every) has one point per teacher: a line
    # of one point and a band of zero width drew nothing, an empty panel
    fig = plots.learning_curves_figure({"g": {"a": ([100], np.array([[5.0], [7.0]]))}}, tmp_path / "one.png")
    ax = fig.axes[0]
    assert ax.lines[0].get_marker() not in (None, "None", "", " ")
    segments = [seg for c in ax.collections for seg in getattr(c, "get_segments", lambda: [])()]
    assert any(np.allclose(np.asarray(seg)[:, 1], [5.0, 7.0]) for seg in segments)  # the min-max band


@pytest.mark.parametrize("x, y, counts", [
    ([0, 1, 2], [[0.1, 0.2, 0.3], [0.1, 0.2]], "2 curve(s) of 3, 2 values against 3 x values"),  # a seed cut short
    ([0, 1], np.zeros((2, 3)), "2 curve(s) of 3, 3 values against 2 x values"),
    ([0, 1, 2], [0.1, 0.2], "1 curve(s) of 2 values against 3 x values"),
])
def test_learning_curves_name_a_curve_not_as_long_as_its_x(tmp_path, x, y, counts):
    # seeds' curves of different lengths were numpy's bare "inhomogeneous shape" error, and a curve not as long
    # as x matplotlib's "x and y must have same first dimension", neither naming the panel or the label
    from magister.errors import ConfigError

    panels = {"grid": {"a": ([0, 1], [[0.1, 0.2]])}, "hard": {"ok": ([0, 1], [[0.1, 0.2]]), "b": (x, y)}}
    with pytest.raises(ConfigError, match=r"panel 'hard', label 'b': " + counts.replace("(", r"\(").replace(")", r"\)")
                       + "; give every seed's curve one value per x"):
        plots.learning_curves_figure(panels, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


class _Table:
    """An array of another library read as a table (pandas' DataFrame): numpy reads it whole, iterating it gives
    its column names."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values, dtype=float), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __iter__(self):
        return iter(self.columns)


def test_learning_curves_take_a_one_point_number_and_a_table_as_before(tmp_path):
    # the length check (0ce1ec4) iterated the curves: a one-point curve given as a number raised a raw
    # "'float' object is not iterable", and a table of seeds x points was read by its column names
    import torch

    panels = {"one": {"a": (5, 0.3), "b": (np.array([3.0]), 1)},
              "seeds": {"t": (np.arange(4), _Table(np.full((3, 4), 0.5), "abcd")), "g": (np.arange(4), torch.rand(3, 4))}}
    fig = plots.learning_curves_figure(panels, tmp_path / "c.png")
    assert _is_png(tmp_path / "c.png")
    assert fig.axes[1].get_legend_handles_labels()[1] == ["t (n=3)", "g (n=3)"]
    from magister.errors import ConfigError

    with pytest.raises(ConfigError, match=r"panel 'p', label 't': 3 curve\(s\) of 5, 5, 5 values against 4 x values"):
        plots.learning_curves_figure({"p": {"t": (np.arange(4), _Table(np.zeros((3, 5)), "abcde"))}})

def test_sampling_over_time(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(400)
    rows = {"uniform": (t, rng.random((400, 2))), "focused": (t, 0.1 * rng.random((400, 3)))}
    path = tmp_path / "sampling.png"
    fig = plots.sampling_over_time_figure(rows, path, windows=3, edges=np.linspace(0, 1, 11)[1:-1])
    assert _is_png(path) and _has_colour(path)
    # each of the 2 x 3 panels holds the points of its time window only
    counts = [len(ax.collections[0].get_offsets()) for ax in fig.axes[:6]]
    assert sum(counts[:3]) == 400 and sum(counts[3:]) == 400


def test_mixture_from_samples_and_figure(tmp_path):
    times = np.array([0, 1, 2, 3, 10, 11, 12, 19])
    idx = np.array([0, 0, 1, 0, 2, 2, 2, 1])
    x, w = plots.mixture_from_samples(times, idx, 3, bins=2, total=20)
    np.testing.assert_allclose(x, [5.0, 15.0])
    np.testing.assert_allclose(w, [[0.75, 0.25, 0.0], [0.0, 0.25, 0.75]])
    with pytest.raises(ValueError):
        plots.mixture_from_samples([0, 1], [0, 5], 3)
    path = tmp_path / "mix.png"
    plots.mixture_over_time_figure({"t1": (x, w), "t2": (x, w[::-1])}, path, names=["add", "sub", "mul"])
    assert _is_png(path) and _has_colour(path)


def test_empty_panels_rows_and_zero_bins_are_config_errors_naming_them(tmp_path):
    # before: numpy's bare "cannot reshape array of size 0", an IndexError (a row without maps, bins=0), none
    # naming the panel, row or setting
    from magister.errors import ConfigError

    x, w = plots.mixture_from_samples([0, 1, 2], [0, 1, 0], 2, bins=2)
    path = tmp_path / "mix.png"
    with pytest.raises(ConfigError, match=r"panel 'empty' has 0 x value\(s\) and 0 weight\(s\); give each panel"):
        plots.mixture_over_time_figure({"ok": (x, w), "empty": ([], [])}, path)
    with pytest.raises(ConfigError, match=r"row 'none' has no maps"):
        plots.grid_over_time_figure({"a": ([0], np.zeros((1, 3, 3))), "none": ([], np.zeros((0, 3, 3)))}, path)
    for bins in (0, -1, 2.5):
        with pytest.raises(ConfigError, match=r"mixture_from_samples: bins must be a whole number >= 1"):
            plots.mixture_from_samples([0, 1], [0, 1], 2, bins=bins)
    assert not path.exists()
    assert plots.mixture_from_samples([0, 1], [0, 1], 2, bins=2.0)[1].shape == (2, 2)  # a whole float, as before


def test_grid_over_time_and_bars(tmp_path):
    maps = np.stack([np.full((4, 4), v) for v in (0.0, 20.0, 50.0, 80.0, 100.0)])
    maps[-1, 0, 0] = 0.0
    path = tmp_path / "grid.png"
    blocked = np.zeros((4, 4), dtype=bool)
    blocked[2, 3] = True
    fig = plots.grid_over_time_figure({"a": (np.arange(5) * 10, maps), "b": (np.arange(5) * 10, maps[::-1])}, path,
                                      columns=3, vmax=100, threshold=75, blocked={"b": blocked})
    assert _is_png(path) and _has_colour(path)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:3] == ["a @ 10", "a @ 30", "a @ 40"]
    # row b carries the cross of its blocked cell at (2, 3): x = 2.5 / 4, y = 3.5 / 4
    crosses = [c.get_offsets() for ax in fig.axes[3:6] for c in ax.collections if len(c.get_offsets()) == 1]
    assert len(crosses) == 3 and np.allclose(crosses[0], [[0.625, 0.875]])
    path = tmp_path / "bars.png"
    plots.bar_figure({"a": [1.0, 2.0, 3.0], "b": [10.0, 11.0]}, path, log=True, ylabel="µs")
    assert _is_png(path)


def test_grid_over_time_scales_colours_past_nan_cells(tmp_path):
    # a NaN cell (not measured) made the default colour scale NaN: every cell was drawn blank
    maps = np.stack([np.full((3, 3), v) for v in (10.0, 40.0)])
    maps[:, 1, 1] = np.nan
    fig = plots.grid_over_time_figure({"a": (np.arange(2), maps), "b": (np.arange(2), np.full((2, 3, 3), np.nan))},
                                      tmp_path / "g.png", columns=2)
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert images and all(im.norm.vmax == 40.0 for im in images)


def test_label_colors_are_stable_and_distinct():
    c1 = plots.label_colors(["a", "b", "c"])
    c2 = plots.label_colors(["a", "b", "c"])
    assert c1 == c2 and len(set(c1.values())) == 3


def test_label_colors_never_repeat():
    """With more than 20 labels (``--teachers all`` runs 28 on a finite space) tab20 wrapped round: the 21st
    teacher was drawn in the first one's colour."""
    for n in (3, 12, 21, 28, 60):
        colors = plots.label_colors([f"t{i}" for i in range(n)])
        assert len(set(colors.values())) == n


def test_sampling_over_time_draws_a_label_that_sampled_nothing(tmp_path):
    """A row with no samples (benchmarks/rl_curriculum.py records ``np.zeros((0, 2))`` for a run that ended no
    episode) raised numpy's "cannot reshape array of size 0 into shape (0,newaxis)"."""
    rng = np.random.default_rng(2)
    rows = {"none": ([], np.zeros((0, 2))), "some": (np.arange(50), rng.random((50, 2)))}
    path = tmp_path / "sampling.png"
    fig = plots.sampling_over_time_figure(rows, path, windows=2)
    assert _is_png(path)
    counts = [len(ax.collections[0].get_offsets()) for ax in fig.axes[:4]]
    assert counts[:2] == [0, 0] and sum(counts[2:]) == 50


def test_bar_figure_leaves_out_nan_and_empty_values(tmp_path):
    """A label whose every run failed (no value) raised numpy's "zero-size array to reduction operation minimum";
    one NaN among a label's values made its bar vanish."""
    fig = plots.bar_figure({"failed": [], "one nan": [1.0, np.nan, 3.0], "ok": [2.0]}, tmp_path / "bars.png")
    assert _is_png(tmp_path / "bars.png")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert np.isnan(heights[0]) and heights[1:] == [2.0, 2.0]


def test_labels_with_dollar_signs_are_drawn_as_written(tmp_path):
    # matplotlib reads text between two "$" as math: "run $1 and $2" was drawn with "1 and " in italics, and
    # "a$^$b" (no math) failed every picture holding it with the math parser's ValueError when it was saved
    weird = "a$^$b"
    figs = [
        plots.learning_curves_figure({weird: {weird: ([0, 1], [[0.1, 0.2]])}}, tmp_path / "c.png",
                                     reference={weird: {weird: (1, 0.2)}}),
        plots.sampling_over_time_figure({weird: ([0, 1], [[0.1, 0.2], [0.3, 0.4]])}, tmp_path / "s.png"),
        plots.mixture_over_time_figure({weird: ([0, 1], np.ones((2, 2)))}, tmp_path / "m.png", names=[weird, "x"]),
        plots.grid_over_time_figure({weird: ([0], np.ones((1, 2, 2)))}, tmp_path / "g.png"),
        plots.bar_figure({weird: [1.0], "run $1 and $2": [2.0]}, tmp_path / "b.png"),
    ]
    assert all(_is_png(tmp_path / f"{n}.png") for n in "csmgb")
    texts = [t for fig in figs for t in fig.findobj(lambda o: hasattr(o, "get_text") and "$" in o.get_text())]
    shown = {t.get_text().replace("\\$", "$") for t in texts}  # matplotlib draws "\\$" as "$", outside math
    assert {"a$^$b (n=1)", "a$^$b (published)", "a$^$b", "a$^$b @ 0", "run $1 and $2"} <= shown
    assert all(t.get_text().count("$") == t.get_text().count("\\$") for t in texts)  # every "$" escaped: no math
