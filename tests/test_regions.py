"""The region tree: learning progress, splits, lookups and state."""

from __future__ import annotations

import numpy as np
import pytest

from magister.errors import ConfigError, InvalidTaskError
from magister.regions import RegionTree, UnknownNodeError, learning_progress


# ------------------------------------------------------------------ learning progress
def test_learning_progress_by_hand():
    assert learning_progress([0.0, 0.0, 1.0, 1.0]) == pytest.approx(1.0)
    # odd count: newer half = last 2 (mean 0.9), older = 3 before (mean 0.4)
    assert learning_progress([0.2, 0.4, 0.6, 0.8, 1.0]) == pytest.approx(0.5)
    # a window keeps the last 4: older (0.4, 0.6) -> 0.5, newer (0.8, 1.0) -> 0.9
    assert learning_progress([0.2, 0.4, 0.6, 0.8, 1.0], window=4) == pytest.approx(0.4)
    # falling scores count as progress too (absolute value)
    assert learning_progress([1.0, 1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert learning_progress([0.3, 0.9]) == 0.0  # fewer than 3 scores: no trend yet
    assert learning_progress([0.5] * 10) == 0.0


def test_equal_scores_show_exactly_no_progress():
    # means of equal scores over different counts or sums in different orders round differently
    # (0.1 * 4 / 4 != 0.1 * 3 / 3): that rounding used to come out as progress (~1e-17) that region
    # sampling and cut choice then followed
    for c in (0.1, 0.3, 1 / 3, 0.7):
        for n in range(3, 40):
            assert learning_progress([c] * n) == 0.0
            assert learning_progress([c] * n, z=1.0) == 0.0
    rng = np.random.default_rng(1)
    x = rng.random((600, 2))
    for kwargs in ({"balance": False, "cuts": "region", "child_lp": "last"}, {"competence_weight": 1.0}):
        tree = RegionTree(2, max_points=30, **kwargs)
        tree.add(x, np.full(600, 0.3), rng)
        assert tree.n_splits > 0
        assert (tree.lp[: tree.n_nodes] == 0.0).all()
        assert (tree.progress() == 0.0).all()
        dims, values = tree.candidate_cuts(0, rng, 50)
        score, _, lp_lo, lp_hi = tree.score_cuts(x[:31], np.full(31, 0.3), dims, values)
        assert (score == 0.0).all() and (lp_lo == 0.0).all() and (lp_hi == 0.0).all()
    # a real difference, however small against the scores, still counts
    assert learning_progress([0.3, 0.3, 0.3 + 1e-9, 0.3 + 1e-9]) == pytest.approx(1e-9)


def test_learning_progress_lower_bound():
    s = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    # older (0,1,0,1) mean 0.5, var 0.25; newer (1,0,1,0) mean 0.5: no difference at all
    assert learning_progress(s, z=1.0) == 0.0
    s = np.array([0.0, 0.2, 0.6, 1.0])
    # older (0, 0.2): mean 0.1, var 0.01; newer (0.6, 1.0): mean 0.8, var 0.04
    se = np.sqrt(0.01 / 2 + 0.04 / 2)
    assert learning_progress(s, z=2.0) == pytest.approx(0.7 - 2 * se)
    assert learning_progress(s, z=0.0) == pytest.approx(0.7)


def test_node_lp_matches_definition():
    rng = np.random.default_rng(0)
    tree = RegionTree(2, max_points=50, lp_window=20)
    x = rng.random((400, 2))
    y = np.clip(x[:, 0] * np.linspace(0, 1, 400) + 0.05 * rng.random(400), 0, 1)
    tree.add(x, y, rng)
    assert tree.n_splits > 0
    for node in range(tree.n_nodes):
        _, sc = tree.window(node)
        assert tree.lp[node] == pytest.approx(learning_progress(sc, 20), abs=1e-12)


# ------------------------------------------------------------------ splits
def _progress_on_left(rng, n=201):
    """Points over the square; on the left half (x0 < 0.5) scores rise with time, on the right they stay 0.5."""
    x = rng.random((n, 2))
    t = np.linspace(0.0, 1.0, n)
    y = np.where(x[:, 0] < 0.5, t, 0.5)
    return x, y


@pytest.mark.parametrize("seed", range(5))
def test_split_cuts_where_progress_differs(seed):
    rng = np.random.default_rng(seed)
    tree = RegionTree(2, max_points=200)
    x, y = _progress_on_left(rng)
    split = tree.add(x, y, rng)
    assert split == [0]
    assert tree.split_dim[0] == 0, "the cut should be across the axis along which progress changes"
    assert abs(tree.split_value[0] - 0.5) < 0.1
    low, high = tree.children[0]
    assert tree.lp[low] > tree.lp[high]


def test_children_keep_the_chosen_cuts_progress():
    rng = np.random.default_rng(1)
    tree = RegionTree(2, max_points=200)
    x, y = _progress_on_left(rng)
    tree.add(x, y, rng)
    for kid in tree.children[0]:
        _, sc = tree.window(kid)
        assert tree.lp[kid] == pytest.approx(learning_progress(sc, 200), abs=1e-12)


def test_split_score_uses_populations():
    tree = RegionTree(1, max_points=20, min_points=1, min_width=0.01)
    pts = np.linspace(0.01, 0.99, 12)[:, None]
    sc = np.r_[np.zeros(6), np.linspace(0, 1, 6)]
    # two cuts with the same LP gap but different populations: the balanced one scores higher
    score, n_low, lp_lo, lp_hi = tree.score_cuts(pts, sc, np.array([0, 0]), np.array([0.5, 0.95]))
    assert list(n_low) == [6, 11]
    assert score[0] == pytest.approx(6 * 6 * abs(lp_lo[0] - lp_hi[0]))
    assert score[1] == pytest.approx(11 * 1 * abs(lp_lo[1] - lp_hi[1]))


def test_no_child_thinner_than_min_width_or_emptier_than_min_points():
    rng = np.random.default_rng(3)
    tree = RegionTree(2, max_points=30, min_width=0.08, min_points=4)
    for i in range(3000):
        x = rng.random((1, 2)) ** 2  # denser near the origin: deep splits there
        y = rng.random(1)
        for node in tree.add(x, y, rng):
            for kid in tree.children[node]:
                assert tree.count([kid])[0] >= 4
    assert tree.n_splits > 10
    widths = tree.high[: tree.n_nodes] - tree.low[: tree.n_nodes]
    assert (widths >= 0.08 - 1e-12).all()
    # the leaves tile the square
    leaves = tree.leaves
    assert np.prod(widths[leaves], axis=1).sum() == pytest.approx(1.0)


def test_failed_split_forgets_oldest_points():
    rng = np.random.default_rng(0)
    tree = RegionTree(1, max_points=40, min_width=0.5, discard=0.25)
    # first split: only a cut at exactly 0.5 is allowed; children can never be cut again
    tree.add(rng.random((41, 1)), rng.random(41), rng)
    assert tree.n_splits == 1
    leaf = tree.children[0, 0]
    pts = rng.random((60, 1)) * 0.5
    seen = []
    for p in pts:
        before = tree.n_failed_splits
        tree.add(p[None], [0.3], rng)
        if tree.n_failed_splits > before:
            seen.append(int(tree.count([leaf])[0]))
    assert seen, "a full leaf that cannot be cut must fail to split"
    assert all(c == 41 - 10 for c in seen), "a failed split forgets max_points * discard = 10 oldest points"
    assert tree.is_leaf[leaf]


def test_leaf_lookup_matches_brute_force():
    rng = np.random.default_rng(7)
    tree = RegionTree(3, max_points=25, min_width=0.05)
    x = rng.random((3000, 3))
    tree.add(x, np.sin(7 * x[:, 0]) * np.linspace(0, 1, 3000) % 1.0, rng)
    assert int(tree.is_leaf.sum()) > 20
    q = rng.random((2000, 3))
    leaves = tree.leaves
    inside = tree.contains(q, leaves)
    assert (inside.sum(axis=1) == 1).all(), "random points lie in exactly one leaf"
    brute = leaves[np.argmax(inside, axis=1)]
    assert np.array_equal(tree.leaf_of(q), brute)
    for p in q[:50]:
        path = tree.path_of(p)
        assert path[0] == 0 and path[-1] == tree.leaf_of(p[None])[0]
        assert tree.contains(p[None], path).all()


def test_worst_point_is_lowest_score():
    rng = np.random.default_rng(0)
    tree = RegionTree(2, max_points=100)
    x = rng.random((50, 2))
    y = rng.random(50)
    tree.add(x, y, rng)
    assert np.array_equal(tree.worst_point(np.array([0, 0])), np.stack([x[np.argmin(y)]] * 2))


# ------------------------------------------------------------------ state and settings
def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(5)
    a = RegionTree(2, max_points=20)
    x = rng.random((500, 2))
    a.add(x, x[:, 1], rng)
    b = RegionTree(2, max_points=20)
    b.load_state_dict(a.state_dict())
    ra, rb = np.random.default_rng(9), np.random.default_rng(9)
    x2 = rng.random((300, 2))
    a.add(x2, x2[:, 0], ra)
    b.add(x2, x2[:, 0], rb)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(np.asarray(sa[k]), np.asarray(sb[k])), k


def test_bad_state_is_refused_unchanged():
    rng = np.random.default_rng(5)
    tree = RegionTree(2, max_points=20)
    tree.add(rng.random((100, 2)), rng.random(100), rng)
    before = tree.state_dict()
    bad = dict(before, low=np.zeros((1, 2)))
    with pytest.raises(ValueError):
        tree.load_state_dict(bad)
    with pytest.raises(ValueError):
        RegionTree(3, max_points=20).load_state_dict(before)
    after = tree.state_dict()
    assert all(np.array_equal(np.asarray(before[k]), np.asarray(after[k])) for k in before)


@pytest.mark.parametrize("nodes", [[100], ["spare"], [-1], [0, 99], [0.5], [True, False]])
@pytest.mark.parametrize("query", ["progress", "count", "summary", "worst_point", "contains", "window"])
def test_a_node_that_is_not_in_the_tree_is_refused_naming_the_range(nodes, query):
    # node 100: numpy's "index 100 is out of bounds for axis 0 with size 16"; node n_nodes (a spare row of the arrays)
    # or -1 (the last row): a made-up region with no points; a mask: nodes 0 and 1; 0.5: node 0
    rng = np.random.default_rng(0)
    tree = RegionTree(2, max_points=20)
    tree.add(rng.random((60, 2)), rng.random(60), rng)
    nodes = [tree.n_nodes if n == "spare" else n for n in nodes]
    assert tree.n_nodes > 1 and len(tree.low) > tree.n_nodes  # (a spare row: numpy read it without a word)
    before = tree.state_dict()
    calls = {"progress": lambda: tree.progress(np.asarray(nodes)), "count": lambda: tree.count(nodes),
             "summary": lambda: tree.summary(nodes), "worst_point": lambda: tree.worst_point(nodes),
             "contains": lambda: tree.contains([[0.5, 0.5]], nodes), "window": lambda: tree.window(nodes[-1])}
    with pytest.raises(UnknownNodeError, match="does not exist|nodes must be node ids") as err:
        calls[query]()
    assert isinstance(err.value, ConfigError) and isinstance(err.value, IndexError)
    assert f"0 to {tree.n_nodes - 1}" in str(err.value)
    assert all(np.array_equal(np.asarray(before[k]), np.asarray(v)) for k, v in tree.state_dict().items())


def test_node_queries_of_valid_ids_are_unchanged():
    rng = np.random.default_rng(1)
    tree = RegionTree(2, max_points=20, noise_z=1.0)
    tree.add(rng.random((80, 2)), rng.random(80), rng)
    leaves = tree.leaves
    assert np.array_equal(tree.progress(leaves), tree.progress()[leaves])
    assert np.array_equal(tree.count(leaves.astype(float)), tree.count()[leaves])
    assert tree.progress([]).shape == (0,) and tree.count(np.zeros((1, 2), dtype=int)).shape == (1, 2)
    assert tree.summary([0])[0]["id"] == 0 and tree.progress(0).shape == ()


@pytest.mark.parametrize("kwargs", [
    {"max_points": 2}, {"min_width": 0.0}, {"min_width": 0.7}, {"n_cuts": 0}, {"discard": 1.0},
    {"max_points": 10, "min_points": 6}, {"lp_window": 2}, {"lp_z": -1.0}, {"min_gap": 1.5},
    {"split_alpha": 1.0}, {"split_alpha": -0.1}, {"split_alpha": True}, {"noise_z": -1.0}, {"noise_z": 11.0},
])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        RegionTree(2, **kwargs)


def test_competence_weight_prefers_cuts_between_skill_levels():
    left, right = np.linspace(0.01, 0.45, 10), np.linspace(0.55, 0.99, 10)
    pts = np.stack([left, right], axis=1).reshape(-1, 1)  # alternating in time: left, right, left, ...
    sc = np.tile([1.0, 0.0], 10)  # mastered on the left, failed on the right: no progress anywhere
    dims, values = np.array([0, 0]), np.array([0.5, 0.25])
    plain = RegionTree(1, max_points=20, min_points=1, min_width=0.01)
    score, *_ = plain.score_cuts(pts, sc, dims, values)
    assert score[0] == 0.0, "the reference score cannot see a cut between skill levels"
    weighted = RegionTree(1, max_points=20, min_points=1, min_width=0.01, competence_weight=1.0)
    score, *_ = weighted.score_cuts(pts, sc, dims, values)
    assert score[0] == pytest.approx(10 * 10 * 1.0) and score[0] > score[1]


def test_min_gap_refuses_cuts_without_progress_difference():
    rng = np.random.default_rng(2)
    x = rng.random((21, 2))
    gated = RegionTree(2, max_points=20, min_gap=0.05)
    gated.add(x, np.full(21, 0.7), rng)  # constant scores: every cut has gap 0
    assert gated.n_splits == 0 and gated.n_failed_splits == 1
    plain = RegionTree(2, max_points=20)
    plain.add(x, np.full(21, 0.7), rng)
    assert plain.n_splits == 1  # the reference accepts any valid cut, even with no difference


def _split_dims(tree: RegionTree) -> np.ndarray:
    sd = tree.split_dim[: tree.n_nodes]
    return np.bincount(sd[sd >= 0], minlength=tree.dim)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_test_stops_cuts_along_an_ignored_dimension(seed):
    # scores depend on x0 only (a step at 0.5) plus noise; x1 and x2 are ignored by the "learner"
    rng = np.random.default_rng(seed)
    x = rng.random((2000, 3))
    y = np.where(x[:, 0] < 0.5, 0.2, 0.8) + rng.normal(0.0, 0.05, len(x))
    plain = RegionTree(3, max_points=40, competence_weight=1.0)
    plain.add(x, y, np.random.default_rng(seed))
    tested = RegionTree(3, max_points=40, competence_weight=1.0, split_alpha=0.05)
    tested.add(x, y, np.random.default_rng(seed))
    assert _split_dims(plain)[1:].sum() >= 20, "without the test, noise alone keeps cutting the ignored dimensions"
    assert _split_dims(tested)[0] >= 1, "the real step is still found"
    assert _split_dims(tested)[1:].sum() <= 3
    assert tested.n_nodes < plain.n_nodes / 5


def test_split_test_refuses_cuts_that_only_separate_old_from_new():
    # the whole region is being learned (scores rise with time wherever the task lies): no cut is real
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.random((41, 2))
        y = np.linspace(0.0, 1.0, 41) + rng.normal(0.0, 0.05, 41)
        tested = RegionTree(2, max_points=40, competence_weight=1.0, split_alpha=0.05)
        tested.add(x, y, rng)
        assert tested.n_splits == 0 and tested.n_failed_splits == 1
    plain = RegionTree(2, max_points=40, competence_weight=1.0)
    plain.add(x, y, rng)
    assert plain.n_splits == 1


def test_noise_level_and_noise_aware_progress():
    rng = np.random.default_rng(3)
    x = rng.random((3000, 2))
    y = 0.5 + rng.normal(0.0, 0.05, len(x))  # nothing to learn anywhere, only noise
    tree = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0)
    tree.add(x, y, rng)
    assert tree.noise_level() == pytest.approx(0.05, abs=0.015)
    leaves = tree.leaves
    raw, adjusted = tree.lp[leaves], tree.progress(leaves)
    assert raw.mean() > 0.01  # |difference of two noisy means| is never 0
    assert (adjusted <= raw).all() and adjusted.mean() < raw.mean() / 3
    # a real jump of the scores stands well above the noise and keeps most of its progress
    tree.add(np.full((6, 2), 0.01), np.full(6, 0.95), rng)
    leaf = tree.leaf_of(np.array([[0.01, 0.01]]))
    assert tree.progress(leaf)[0] > 0.15
    off = RegionTree(2, max_points=40, lp_window=12)
    off.load_state_dict(tree.state_dict())
    assert np.array_equal(off.progress(), off.lp[: off.n_nodes])


def test_noise_level_with_an_lp_window_longer_than_a_leaf_holds():
    # a leaf holds at most max_points points (one more splits it or makes it forget): riac-plus's lp_window=12 with
    # max_points=10 found no leaf with a "full" window of 12, so the noise level stayed 0 and noise_z did nothing
    rng = np.random.default_rng(3)
    x = rng.random((3000, 2))
    y = 0.5 + rng.normal(0.0, 0.05, len(x))
    tree = RegionTree(2, max_points=10, lp_window=12, noise_z=1.0, min_points=2)
    tree.add(x, y, rng)
    assert tree.count(tree.leaves).max() <= 10
    assert tree.noise_level() == pytest.approx(0.05, abs=0.02)
    leaves = tree.leaves
    assert tree.progress(leaves).mean() < tree.lp[leaves].mean() / 3


def test_noise_level_is_zero_for_noiseless_flat_scores():
    rng = np.random.default_rng(4)
    x = rng.random((500, 2))
    tree = RegionTree(2, max_points=40, noise_z=1.0)
    tree.add(x, (x[:, 0] > 0.5).astype(float), rng)
    assert tree.noise_level() == 0.0


def test_state_without_spread_still_loads():
    rng = np.random.default_rng(5)
    tree = RegionTree(2, max_points=20, noise_z=1.0)
    tree.add(rng.random((200, 2)), rng.random(200), rng)
    state = tree.state_dict()
    del state["spread"]  # a checkpoint written before the spread was kept
    other = RegionTree(2, max_points=20, noise_z=1.0)
    other.load_state_dict(state)
    assert np.allclose(other.spread[: other.n_nodes], tree.spread[: tree.n_nodes])
    assert np.array_equal(other.progress(), tree.progress())


def test_reference_split_rules_balance_and_region_cuts():
    """balance=False scores a cut by the LP gap alone; cuts='region' draws values anywhere in the region,
    keeps only cuts leaving min_points on each side and refuses thin children."""
    rng = np.random.default_rng(0)
    pts = rng.random((201, 2))
    sc = np.where(pts[:, 0] < 0.3, np.linspace(0, 1, 201), 0.5)
    dims, values = np.array([0, 0, 1]), np.array([0.3, 0.6, 0.5])
    flat = RegionTree(2, balance=False)
    weighted = RegionTree(2)
    s_flat, n_low, lo, hi = flat.score_cuts(pts, sc, dims, values)
    s_w = weighted.score_cuts(pts, sc, dims, values)[0]
    assert np.allclose(s_flat, np.abs(lo - hi))
    assert np.allclose(s_w, n_low * (201 - n_low) * np.abs(lo - hi))
    tree = RegionTree(2, balance=False, cuts="region", min_points=10)
    tree.add(pts, sc, rng)
    assert tree.n_nodes == 3
    d, v = int(tree.split_dim[0]), float(tree.split_value[0])
    assert d == 0 and 1 / 15 <= v <= 1 - 1 / 15
    for bad in ({"balance": 1}, {"cuts": "everywhere"}):
        with pytest.raises(ConfigError):
            RegionTree(2, **bad)


def test_child_lp_last_gives_the_new_leaves_the_last_attempted_cuts_progress():
    """The reference code's leftover: with cuts='region' and child_lp='last' the new leaves start with the
    LP of the last cut it tried, not of the cut it chose; the cut itself is the same."""
    x, y = _progress_on_left(np.random.default_rng(1))
    trees = {}
    for mode in ("best", "last"):
        rng = np.random.default_rng(7)
        tree = RegionTree(2, max_points=200, balance=False, cuts="region", child_lp=mode)
        tree.add(x, y, rng)
        trees[mode] = tree
    best, last = trees["best"], trees["last"]
    assert best.split_dim[0] == last.split_dim[0] and best.split_value[0] == last.split_value[0]
    kids = best.children[0]
    assert np.array_equal(kids, last.children[0])
    for kid in kids:  # "best": the chosen children's own LP
        assert best.lp[kid] == pytest.approx(learning_progress(best.window(kid)[1], 200), abs=1e-12)
    assert not np.allclose(best.lp[kids], last.lp[kids])
    with pytest.raises(ConfigError):
        RegionTree(2, child_lp="first")


def test_binary_noise_uses_each_regions_bernoulli_spread():
    """0/1 scores: flat leaves at 0 or 1 put the tree's noise level at 0, so a coin-flip leaf's LP would
    count in full; with binary_noise its own spread is its noise, and real progress still shows."""
    rng = np.random.default_rng(6)
    x = rng.random((2000, 2))
    y = np.where(x[:, 0] < 0.5, (rng.random(len(x)) < 0.5).astype(float), 0.0)  # coin flips | never
    plain = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0)
    aware = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0, binary_noise=True)
    plain.add(x, y, np.random.default_rng(0))
    aware.add(x, y, np.random.default_rng(0))
    assert aware.binary and aware.noise_level() == 0.0
    coin = aware.leaves[aware.high[aware.leaves, 0] <= 0.5]
    assert plain.progress(coin).mean() > 0.1  # scatter of a coin counted as progress
    assert aware.progress(coin).mean() < plain.progress(coin).mean() / 3
    # a leaf going from never to always still shows progress
    fresh = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0, binary_noise=True)
    fresh.add(np.full((12, 2), 0.9), np.r_[np.zeros(6), np.ones(6)], rng)
    assert fresh.progress(np.array([0]))[0] > 0.5
    # one score that is not 0 or 1 turns the Bernoulli model off, and the flag survives a checkpoint
    state, before = aware.state_dict(), aware.progress()
    aware.add(np.array([[0.9, 0.9]]), np.array([0.5]), rng)
    assert not aware.binary and not aware.state_dict()["binary"]
    back = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0, binary_noise=True)
    back.load_state_dict(state)
    assert back.binary and np.array_equal(back.progress(), before)
    del state["binary"]  # a checkpoint written before the flag: judged from the root's scores
    old = RegionTree(2, max_points=40, lp_window=12, noise_z=1.0, binary_noise=True)
    old.load_state_dict(state)
    assert old.binary
    with pytest.raises(ConfigError):
        RegionTree(2, binary_noise=1)


def test_state_with_out_of_range_bounds_split_dims_or_points_is_refused():
    # accepted before: a NaN bound proposed NaN tasks, a split dimension past the space crashed with IndexError
    rng = np.random.default_rng(5)
    tree = RegionTree(2, max_points=20)
    tree.add(rng.random((100, 2)), rng.random(100), rng)
    before = tree.state_dict()
    for key, value in (("low", np.nan), ("high", np.inf), ("low", -0.5), ("high", 1.5), ("split_dim", 7),
                       ("x", np.nan), ("y", np.inf), ("start", -1)):
        bad = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in before.items()}
        bad[key].flat[0] = value
        with pytest.raises(ValueError, match="out of range"):
            tree.load_state_dict(bad)
    after = tree.state_dict()
    assert all(np.array_equal(np.asarray(before[k]), np.asarray(after[k])) for k in before)


def test_state_whose_links_loop_or_disagree_is_refused():
    # accepted before: a node listed as its own child (or before its parent) sent every leaf lookup round a loop
    # forever, and a split node with a split dimension of -1 cut along the last dimension
    rng = np.random.default_rng(5)
    tree = RegionTree(2, max_points=20)
    tree.add(rng.random((100, 2)), rng.random(100), rng)
    before = tree.state_dict()
    assert before["n_nodes"] >= 3
    leaf = int(np.flatnonzero(before["children"][:, 0] < 0)[-1])
    for key, row, value in (("children", leaf, [leaf, leaf]), ("children", 0, [0, 0]), ("children", 0, [1, -1]),
                            ("parent", 1, 2), ("split_dim", 0, -1)):
        bad = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in before.items()}
        bad[key][row] = value
        with pytest.raises(ValueError, match="links are inconsistent"):
            tree.load_state_dict(bad)
    after = tree.state_dict()
    assert all(np.array_equal(np.asarray(before[k]), np.asarray(after[k])) for k in before)
    tree.load_state_dict(dict(before, children=before["children"].astype(float)))  # whole floats still load
    fresh = RegionTree(2, max_points=20)  # a tree without splits still loads
    tree.load_state_dict(fresh.state_dict())


def test_numpy_numbers_are_taken_as_settings():
    # np.float32(0.1) was refused with "min_width is a fraction ... in (0, 0.5], got np.float32(0.1)"
    tree = RegionTree(2, min_width=np.float32(0.1), discard=np.float32(0.25), min_gap=np.float64(0.0),
                      lp_z=np.float32(1.0), competence_weight=np.int64(0))
    assert (tree.min_width, tree.discard, tree.lp_z) == (pytest.approx(0.1), 0.25, 1.0)
    with pytest.raises(ConfigError, match="min_width"):
        RegionTree(2, min_width=np.float32(0.7))
    with pytest.raises(ConfigError, match="discard"):
        RegionTree(2, discard=np.bool_(True))


@pytest.mark.parametrize("points, scores, error, match", [
    # a NaN or infinite score was stored: the region's learning progress became NaN
    ([[0.5, 0.5]], [float("nan")], "InvalidScoreError", "not finite"),
    ([[0.5, 0.5], [0.2, 0.2]], [0.5, float("inf")], "InvalidScoreError", r"position 1.*not finite"),
    ([[0.5, float("nan")]], [0.5], "InvalidTaskError", "not finite"),
    # "cannot reshape array of size 9 into shape (2)"
    ([[0.5, 0.5, 0.5]] * 3, [0.5] * 3, "InvalidTaskError", r"2 coordinates.*\(3, 3\)"),
    ([[0.5, 0.5]] * 3, [0.5] * 2, "InvalidScoreError", "3 points but 2 scores"),
])
def test_bad_points_or_scores_are_refused_and_change_nothing(points, scores, error, match):
    import magister.errors as errors

    tree = RegionTree(2, max_points=10)
    rng = np.random.default_rng(0)
    tree.add(rng.random((25, 2)), rng.random(25), rng)
    before = tree.state_dict()
    with pytest.raises(getattr(errors, error), match=match):
        tree.add(np.array(points), np.array(scores), np.random.default_rng(1))
    after = tree.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert np.array_equal(np.asarray(before[k]), np.asarray(after[k]), equal_nan=True), k
    assert np.isfinite(tree.progress()).all()


def test_leaf_of_points_of_another_dimension_is_refused_naming_it():
    tree = RegionTree(2)
    with pytest.raises(ValueError, match=r"2 coordinates"):
        tree.leaf_of(np.array([[0.5, 0.5, 0.5]]))


def test_a_flat_array_is_points_of_a_one_dimensional_tree_and_an_empty_one_no_points():
    # the dimension check (session 26) refused np.array([0.1, 0.2, 0.3]) for a 1-D tree ("points must have 1
    # coordinates each ... got shape (3,)"), which is three points there, and an empty array for any tree
    rng = np.random.default_rng(0)
    flat, column = RegionTree(1, max_points=10), RegionTree(1, max_points=10)
    x, y = rng.random(40), rng.random(40)
    assert flat.add(x, y, np.random.default_rng(1)) == column.add(x[:, None], y, np.random.default_rng(1))
    assert np.array_equal(flat.leaf_of(x), column.leaf_of(x[:, None]))
    assert np.array_equal(flat.progress(), column.progress())
    tree = RegionTree(2)
    assert tree.add(np.zeros(0), np.zeros(0), rng) == [] and len(tree.leaf_of([])) == 0
    with pytest.raises(InvalidTaskError, match="2 coordinates"):  # several points of a 2-D tree, flattened: refused
        tree.leaf_of(np.array([0.5, 0.5, 0.5, 0.5]))


def test_a_point_on_a_cut_goes_to_the_lower_child_in_every_lookup():
    # the documented rule ("a point exactly on a cut goes to the lower child"), for the vectorised lookup too: it
    # must name the leaf that add() files the point's score under (path_of's)
    rng = np.random.default_rng(3)
    tree = RegionTree(2, max_points=25, min_width=0.05)
    x = rng.random((600, 2))
    tree.add(x, (x[:, 0] > 0.5) * np.linspace(0, 1, 600), rng)
    inner = np.flatnonzero(~tree.is_leaf)
    assert len(inner) >= 3
    for node in inner:
        lo, hi = tree.low[node], tree.high[node]
        p = 0.5 * (lo + hi)
        p[tree.split_dim[node]] = tree.split_value[node]  # on this node's cut, inside its box
        path = tree.path_of(p)
        lower = tree.children[node, 0]
        assert lower in path and tree.children[node, 1] not in path
        assert tree.leaf_of(p[None])[0] == path[-1]


def test_region_cuts_that_score_alike_go_to_the_latest_attempt(monkeypatch):
    # the reference way ("cuts='region'"): of equally good cuts the latest attempted wins (its loop keeps a cut
    # scoring at least as well as the best so far); equal scores make every cut score 0
    tree = RegionTree(1, max_points=20, min_points=1, min_width=0.01)
    seen = {}
    real = RegionTree._score_cuts

    def spy(self, points, scores, dims, values):
        seen["dims"], seen["values"] = dims.copy(), values.copy()
        return real(self, points, scores, dims, values)

    monkeypatch.setattr(RegionTree, "_score_cuts", spy)
    pts = np.linspace(0.0, 1.0, 20)[:, None]
    best = tree._best_region_cut(0, pts, np.full(20, 0.5), np.random.default_rng(0))
    assert best is not None and best[0] == 0.0
    dims, values = seen["dims"], seen["values"]
    wide = (values >= tree.min_width - 1e-12) & (1.0 - values >= tree.min_width - 1e-12)
    last = np.flatnonzero(wide)[-1]
    assert len(values) > 1 and (best[1], best[2]) == (int(dims[last]), float(values[last]))


def test_summary_depth_counts_the_cuts_above_a_region():
    rng = np.random.default_rng(5)
    tree = RegionTree(2, max_points=25, min_width=0.05)
    x = rng.random((800, 2))
    tree.add(x, (x[:, 0] > 0.5) * np.linspace(0, 1, 800), rng)
    regions = tree.summary()
    assert tree.n_nodes > 5
    for r in regions:
        if r["leaf"]:  # a leaf's depth: the cuts on the way down to a point inside it
            assert r["depth"] == len(tree.path_of(0.5 * (tree.low[r["id"]] + tree.high[r["id"]]))) - 1
        assert r["depth"] == (0 if r["id"] == 0 else regions[int(tree.parent[r["id"]])]["depth"] + 1)
