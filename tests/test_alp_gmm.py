"""ALP-GMM: its learning-progress signal and its behaviour on small learners."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError
from magister.history import History
from magister.spaces import Box
from magister.students import GridStudent
from magister.teachers.alp_gmm import AlpGmm, alp_from_history


class StripLearner:
    """1-D tasks in [0, 1] cut into 10 cells; only cells 0-2 can be learned.

    Practising a learnable cell raises its competence by ``rate``; the score is
    the competence. The other cells always score 0.
    """

    def __init__(self, rate: float = 0.004):
        self.competence = np.zeros(10)
        self.rate = rate

    def attempt(self, task) -> float:
        c = min(int(float(np.asarray(task).ravel()[0]) * 10), 9)
        if c < 3:
            self.competence[c] = min(1.0, self.competence[c] + self.rate)
        return float(self.competence[c])


def test_alp_hand_worked_example():
    h = History(1, capacity=100)
    x = np.array([[0.0], [0.5], [1.0], [0.2], [0.8], [0.6], [0.45], [0.9]])
    s = np.array([0.1, 0.4, 0.9, 0.2, 0.7, 0.5, 0.3, 0.75])
    alp = alp_from_history(h, x, s)
    # the first six arrive while the history holds 5 or fewer tasks: ALP 0
    assert np.array_equal(alp[:6], np.zeros(6))
    # 0.45: nearest earlier is 0.5 (score 0.4) -> |0.3 - 0.4| = 0.1
    # 0.9: nearest earlier is 0.8 and 1.0 (both 0.1 away; 0.8 is more recent) -> |0.75 - 0.7|
    assert alp[6] == pytest.approx(0.1)
    assert alp[7] == pytest.approx(0.05)
    assert len(h) == 8


def test_alp_uses_unit_coordinates_not_raw_units():
    space = Box([0.0, 0.0], [100.0, 1.0])
    t = AlpGmm(space, seed=0, fit_rate=1000)
    filler = [[0.0, 0.5], [100.0, 0.5], [0.0, 0.0], [100.0, 1.0]]
    for task in filler:
        t.observe(task, 0.5)
    t.observe([50.5, 0.0], 0.2)  # nearest in raw units to the query below
    t.observe([53.0, 0.9], 0.9)  # nearest in unit coordinates
    t.observe([51.0, 0.9], 0.6)
    alp = t._window_rows()[-1, -1]
    assert alp == pytest.approx(abs(0.6 - 0.9))


def run_strip(name: str, seed: int, episodes: int = 1500, **kwargs) -> float:
    """Share of the last half of proposals that fall on the learnable cells."""
    learner = StripLearner()
    t = mg.make_teacher(name, Box([0.0], [1.0]), seed=seed, **kwargs)
    inside = []
    for e in range(episodes):
        task = t.propose()
        t.observe(task, learner.attempt(task))
        if e >= episodes // 2:
            inside.append(float(task[0]) < 0.3)
    return float(np.mean(inside))


def test_sampling_moves_toward_where_scores_improve():
    shares = [run_strip("alp-gmm", seed, fit_rate=100) for seed in (0, 1)]
    # uniform sampling would put 30% of the tasks on the learnable cells
    assert min(shares) > 0.5, shares


def test_short_grid_run_beats_uniform():
    def mastery(name, seed, **kw):
        student = GridStudent(seed=seed)
        t = mg.make_teacher(name, student.space, seed=seed, **kw)
        for _ in range(3000):
            task = t.propose()
            t.observe(task, student.attempt(task))
        return student.mastery()

    alp = [mastery("alp-gmm", s, fit_rate=150) for s in (0, 1)]
    uni = [mastery("uniform", s) for s in (0, 1)]
    assert min(alp) > max(uni), (alp, uni)


def test_beliefs_describe_the_mixture():
    learner = StripLearner(rate=0.02)
    t = AlpGmm(Box([0.0], [1.0]), seed=3, fit_rate=60, random_ratio=0.25)
    assert t.beliefs()["bootstrapping"] is True
    for _ in range(200):
        task = t.propose()
        t.observe(task, learner.attempt(task))
    b = json.loads(json.dumps(t.beliefs()))
    assert b["bootstrapping"] is False and b["n_fits"] == 3
    comps = b["components"]
    assert 2 <= len(comps) <= 10
    assert sum(c["probability"] for c in comps) == pytest.approx(0.75)
    assert sum(c["weight"] for c in comps) == pytest.approx(1.0)
    for c in comps:
        assert len(c["mean"]) == 1 and len(c["covariance"]) == 1 and c["progress"] >= 0
    # the probability of a component follows its mean ALP
    prog = np.array([c["progress"] for c in comps])
    prob = np.array([c["probability"] for c in comps])
    if prog.sum() > 0:
        assert np.allclose(prob, 0.75 * prog / prog.sum())


def test_proposals_are_vectorised_and_clipped():
    t = AlpGmm(Box([-1.0, 0.0], [1.0, 5.0]), seed=1, fit_rate=50)
    learner = StripLearner()
    for _ in range(120):
        task = t.propose()
        t.observe(task, learner.attempt([(task[0] + 1) / 2]))
    many = t.propose(5000)
    assert many.shape == (5000, 2)
    assert (many >= [-1.0, 0.0]).all() and (many <= [1.0, 5.0]).all()


def test_a_large_batch_of_proposals_takes_memory_in_proportion_to_the_tasks():
    """propose(k) gathered one d x d Cholesky factor per task at once: 16 times the proposals' own size in 12
    dimensions (12 GB for propose(10**7), a MemoryError). Blocks of rows give the same tasks in a third of it."""
    import tracemalloc

    t = AlpGmm(Box(np.zeros(12), np.ones(12)), seed=0, fit_rate=40, potential_ks=[1, 2])
    rng = np.random.default_rng(0)
    for _ in range(5):
        t.observe_batch(t.propose(40), rng.random(40))
    assert t.beliefs()["components"]
    tracemalloc.start()
    try:
        many = t.propose(50_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert many.shape == (50_000, 12) and ((many >= 0.0) & (many <= 1.0)).all()
    assert peak < 8 * many.nbytes


@pytest.mark.parametrize("kwargs", [
    {"fit_rate": 1}, {"fit_rate": 2.5}, {"random_ratio": 1.5}, {"potential_ks": [0, 2]},
    {"potential_ks": "abc"}, {"history_size": 0}, {"window": 1},
    # unchecked before: a raw ValueError / OverflowError / TypeError, or silently truncated or taken as truthy
    {"fit_rate": float("nan")}, {"fit_rate": float("inf")}, {"fit_rate": "40"}, {"bootstrap": float("nan")},
    {"bootstrap": 2.5}, {"window": 2.5}, {"window": True}, {"max_iter": 2.5}, {"max_iter": None},
    {"random_ratio": None}, {"random_ratio": True}, {"progress_power": float("inf")}, {"progress_power": "x"},
    {"reg": float("inf")}, {"tol": None}, {"warm_start": "false"}, {"warm_start": None},
    {"history_size": float("nan")}, {"history_size": float("inf")}, {"history_size": 2.5}, {"history_size": True},
    # more components than a refit has points: every candidate unusable, AIC kept a degenerate one-point fit
    {"fit_rate": 4, "potential_ks": [6]}, {"fit_rate": 40, "window": 5, "potential_ks": [6, 8]},
    {"fit_rate": 4, "window": 100, "potential_ks": [6]},
    # a bool among the component counts was taken as 1 (or 0): True is not a count
    {"potential_ks": [True, 2]}, {"potential_ks": [2, np.True_]},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        AlpGmm(Box([0.0], [1.0]), **kwargs)


def test_batches_equal_single_calls_across_refits_and_a_full_history():
    from magister.testing import states_equal

    def make():
        return AlpGmm(Box([0.0, 0.0], [1.0, 1.0]), seed=5, fit_rate=30, history_size=16, potential_ks=[1, 2, 3])

    a, b = make(), make()
    rng = np.random.default_rng(1)
    X, S = rng.random((100, 2)), rng.random(100)
    a.observe_batch(list(X[:70]), S[:70])
    a.observe_batch(list(X[70:]), S[70:])
    for x, s in zip(X, S):
        b.observe(x, s)
    assert a.history.total == 100 and len(a.history) == 16
    assert states_equal(a.state_dict()["algorithm"], b.state_dict()["algorithm"])
    assert np.array_equal(a.propose(8), b.propose(8))


def test_unbounded_history_keeps_every_pair_like_a_large_bounded_one():
    """history_size=None (the reference) grows its arrays instead of dropping old pairs."""
    from magister.history import History, absolute_progress

    rng = np.random.default_rng(0)
    x, y = rng.random((2500, 3)), rng.random(2500)
    big, unb, unb_batched = History(3, 5000), History(3, None), History(3, None)
    a = np.concatenate([absolute_progress(big, x[i:i + 1], y[i:i + 1]) for i in range(2500)])
    b = np.concatenate([absolute_progress(unb, x[i:i + 1], y[i:i + 1]) for i in range(2500)])
    c = np.concatenate([absolute_progress(unb_batched, x[i:i + 700], y[i:i + 700]) for i in range(0, 2500, 700)])
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert len(unb) == 2500 and np.array_equal(unb.x, x)
    again = History(3, None)
    again.load_state_dict(unb.state_dict())
    assert np.array_equal(again.x, x) and again.total == 2500
    with pytest.raises(ValueError):
        History(3, 2500).load_state_dict(unb.state_dict())


def test_unbounded_history_breaks_ties_toward_the_most_recent_like_a_full_scan():
    """The unbounded history scans a newest-first copy; with many exact ties (points on a coarse
    lattice) and a mix of single, batched and restored calls it must pick the same neighbours."""
    from magister.history import History, absolute_progress

    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 4, (3000, 2)) / 3.0, rng.random(3000)
    ref, unb = History(2, 4000), History(2, None)  # the bounded one keeps all 3000 too
    a = np.concatenate([absolute_progress(ref, x[i:i + 1], y[i:i + 1]) for i in range(3000)])
    parts = [absolute_progress(unb, x[i:i + 1], y[i:i + 1]) for i in range(1000)]
    parts.append(absolute_progress(unb, x[1000:1500], y[1000:1500]))  # batched, across a growth
    restored = History(2, None)
    restored.load_state_dict(unb.state_dict())
    parts += [absolute_progress(restored, x[i:i + 1], y[i:i + 1]) for i in range(1500, 3000)]
    assert np.array_equal(a, np.concatenate(parts))


def _brute_nearest_values(x, y):
    """Each point's nearest earlier point's value, ties to the most recent, distances summed
    dimension by dimension as History does (reference for the exactness checks)."""
    out = np.zeros(len(x))
    for i in range(1, len(x)):
        d = (x[:i, 0] - x[i, 0]) ** 2
        for k in range(1, x.shape[1]):
            d = d + (x[:i, k] - x[i, k]) ** 2
        out[i] = y[np.flatnonzero(d == d.min())[-1]]
    return out


@pytest.mark.parametrize("dim, lattice", [(1, None), (2, None), (2, 3), (3, 4), (8, None), (5, 2)])
def test_unbounded_history_index_finds_the_same_neighbour_as_a_full_scan(monkeypatch, dim, lattice):
    """Past INDEX_FROM pairs the unbounded history sorts its older pairs and scans a band of them;
    the neighbour (value, and the most recent of ties) must be the full scan's, across re-sorts, a
    drifting distribution, exact lattice ties, many dimensions and a restore from a checkpoint."""
    monkeypatch.setattr(History, "INDEX_FROM", 600)
    rng = np.random.default_rng(dim * 10 + (lattice or 0))
    n = 3000
    if lattice:
        x = rng.integers(0, lattice, (n, dim)) / (lattice - 1)
    else:
        x = rng.random((n, dim))
        x[n // 2:, 0] = 0.45 + 0.1 * x[n // 2:, 0]  # the proposals close in on a band, as a curriculum's do
    y = rng.random(n)
    h = History(dim, None)
    got = []
    for i in range(n):
        if i == 1700:  # a restored history re-sorts on its own and answers the same
            g = History(dim, None)
            g.load_state_dict(h.state_dict())
            h = g
        v = h.query_then_add_one(x[i], float(y[i]))
        got.append(0.0 if v is None else v)
    assert h._ix_m > 2000  # the sorted copy was in use (and re-sorted after the restore)
    assert np.array_equal(np.array(got), _brute_nearest_values(x, y))


def test_batched_calls_on_a_long_unbounded_history_use_the_index_and_find_the_same_neighbours(monkeypatch):
    """observe_batch on a long unbounded history (alp-gmm's default) scanned every stored pair for each chunk of
    256 (a copy of the whole history too): 10-70 times slower than one observe per episode at 10,000-100,000
    pairs. Past INDEX_FROM a batch takes the one-point scans of the sorted copy, with the full scan's neighbours
    (the most recent of ties), so no scan covers the whole history."""
    monkeypatch.setattr(History, "INDEX_FROM", 600)
    widest = []
    full_scan = History._dist2

    def counting(cols, q):
        widest.append(cols.shape[1])
        return full_scan(cols, q)

    monkeypatch.setattr(History, "_dist2", staticmethod(counting))
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 5, (3000, 2)) / 4.0, rng.random(3000)  # a lattice: many exact ties
    h = History(2, None)
    got = np.concatenate([h.query_then_add(x[i:i + 700], y[i:i + 700])[0] for i in range(0, 3000, 700)])
    assert np.array_equal(got, _brute_nearest_values(x, y))
    assert max(widest) < 600 + 256  # only chunks begun before the index was due scanned every pair


def test_resume_past_the_history_index_proposes_the_same(tmp_path):
    """A run saved after the unbounded history started sorting its older pairs (4,096) resumes exactly:
    the loaded teacher rebuilds the sorted copy on its own and proposes what the original proposes."""
    student = GridStudent(seed=0)
    t = mg.make_teacher("alp-gmm", student.space, seed=5)
    for _ in range(History.INDEX_FROM + 1500):
        task = t.propose()
        t.observe(task, student.attempt(task))
    assert t.history._ix_m > 0  # the index is in use
    path = t.save(tmp_path / "alp.ckpt")
    u = mg.load(path)
    assert u.history._ix_m == 0  # derived data: not in the checkpoint
    twin = GridStudent(seed=0)
    twin.counters[:] = student.counters
    for _ in range(600):
        a, b = t.propose(), u.propose()
        assert np.array_equal(a, b)
        t.observe(a, student.attempt(a))
        u.observe(b, twin.attempt(b))


@pytest.mark.parametrize("where,bad", [(("mixture", "means"), np.nan), (("mixture", "covs"), np.nan),
                                       (("window_rows",), np.nan), (("bank", "means"), np.nan),
                                       (("history", "y"), np.nan), (("mixture", "weights"), -0.5),
                                       (("bank", "weights"), -0.5), (("bank", "weights"), 0.0)])
def test_non_finite_checkpoint_values_are_refused_and_change_nothing(where, bad):
    # accepted before: a NaN mean or covariance proposed NaN tasks; a weight <= 0 of a component in use was taken
    # and shown in the beliefs until the next refit
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    t = AlpGmm(Box([0.0, 0.0], [1.0, 1.0]), seed=0, fit_rate=30, potential_ks=[1, 2])
    learner = StripLearner()
    for _ in range(100):
        task = t.propose()
        t.observe(task, learner.attempt(task))
    state, before = t.state_dict(), t.state_dict()
    part = state["algorithm"] if where[0] != "history" else state["algorithm"]["sub"]
    for key in where[:-1]:
        part = part[key]
    arr = np.array(part[where[-1]], dtype=float)
    arr.flat[0] = bad
    part[where[-1]] = arr
    with pytest.raises(CheckpointError):
        t.load_state_dict(state)
    assert states_equal(t.state_dict(), before)


def test_a_large_progress_power_sharpens_instead_of_falling_back_to_uniform():
    # 0.001 ** 200 underflows to 0 for every component: the probabilities used to go uniform
    t = AlpGmm(Box([0.0], [1.0]), seed=0, fit_rate=20, potential_ks=[2], progress_power=200.0)
    t._use(np.array([0.5, 0.5]), np.array([[0.2, 0.001], [0.8, 0.0005]]), np.array([np.eye(2) * 0.01] * 2))
    assert t.beliefs()["component_probability"][0] == pytest.approx(0.8)  # all of the non-uniform share


@pytest.mark.parametrize("alp", [[0.2, 0.0, 0.5, 0.3], [0.0, 0.0, 1.0], [0.7], [1 / 3] * 3, [0.1, 0.0, 0.0],
                                 [np.inf, 0.5], [0.3, np.inf, 0.2], [0.0, 0.0]])
def test_one_proposal_picks_the_component_the_batched_search_picks(alp):
    # propose() picks its component by a bisect on Python floats, propose(k) by searchsorted: the same index,
    # on ties (zero progress, u * cdf[-1] equal to an entry) and on a NaN cdf (infinite progress) too
    t = AlpGmm(Box([0.0], [1.0]), seed=0)
    k = len(alp)
    means = np.column_stack([np.linspace(0.1, 0.9, k), alp])
    with np.errstate(invalid="ignore"):  # inf / inf: the NaN cdf
        t._use(np.full(k, 1.0 / k), means, np.tile(np.eye(2), (k, 1, 1)))
    cdf = t._cdf
    us = list(np.random.default_rng(0).random(200)) + [0.0, np.nextafter(1.0, 0.0)]
    us += [float(c / cdf[-1]) for c in cdf if np.isfinite(c / cdf[-1])]
    for u in us:
        assert t._component(u) == min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), k - 1), u


def _history_state(name, entry, value):
    """A state of ``name`` (alp-gmm, frontier) after 40 grid episodes, its history's first ``entry`` (x, y) set to
    ``value``; and the grid space."""
    student = GridStudent(seed=0)
    space = student.space
    t = mg.make_teacher(name, space, seed=0)
    for _ in range(40):
        x = t.propose()
        t.observe(x, student.attempt(x))
    state = t.state_dict()
    alg = state["algorithm"]
    history = alg["sub"]["history"] if name == "alp-gmm" else alg["history"]
    history[entry] = np.asarray(history[entry]).copy()
    history[entry].flat[0] = value
    return state, space


@pytest.mark.parametrize("name,entry", [("alp-gmm", "x"), ("alp-gmm", "y"), ("frontier", "x"), ("frontier", "y")])
@pytest.mark.parametrize("value", [-0.5, 1e300])
def test_a_history_of_tasks_or_scores_outside_0_1_is_refused(name, entry, value):
    # the history holds tasks in unit coordinates and scores in [0, 1]: 1e300 was taken, and the next
    # nearest-neighbour scan (alp-gmm) or prediction (frontier) overflowed, -0.5 silently (checkpoint fuzz)
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    state, space = _history_state(name, entry, value)
    u = mg.make_teacher(name, space, seed=1)
    before = u.state_dict()
    # the entry is named (before: "the ALP history must hold tasks in unit coordinates [0, 1] and scores in [0, 1]")
    at = r"\[0, 0\]" if entry == "x" else r"\[0\]"
    with pytest.raises(CheckpointError, match=rf"history\.{entry}{at} = {re.escape(repr(value))}: .* lie in \[0, 1\]"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


@pytest.mark.parametrize("name", ["alp-gmm", "frontier"])
def test_a_history_value_past_0_1_by_rounding_is_taken_as_the_mixture_s_window_rows_take_it(name):
    # before: 1 + 1e-12 in the history was refused, where alp-gmm's window rows (the same task coordinates and
    # scores) took it: both follow refuse_outside_unit, which leaves rounding (1e-9) to a long run
    from magister.testing import states_equal

    state, space = _history_state(name, "x", 1 + 1e-12)
    u = mg.make_teacher(name, space, seed=1)
    u.load_state_dict(state)
    assert states_equal(u.state_dict(), state)


def _column(j, value):
    def change(rows):
        rows = np.array(rows, dtype=float)
        rows[:, j] = value
        return rows
    return change


@pytest.mark.parametrize("name", ["alp-gmm", "covar-gmm", "covar-gmm-plus"])
@pytest.mark.parametrize("entry,change,match", [
    ("n_fits", -1, r"saved n_fits must be a whole number >= 0"),
    ("n_fits", 10**30, r"saved n_fits = 1000000000000000000000000000000 is past 9223372036854775807"),
    ("n_fits", 10**6, r"n_fits=1000000 after 120 episodes"),
    ("bank", None, r"no bank of candidate fits"),
    ("window_rows", _column(0, -1.5), r"window_rows\[0, 0\] = -1.5: a row's task coordinates"),
    ("window_rows", _column(-1, 3.0), r"window_rows\[0, \d\] = 3.0"),
], ids=["n_fits-1", "n_fits-10**30", "n_fits-past-count", "bank-None", "task-column", "last-column"])
def test_a_mixture_teacher_state_with_impossible_fits_or_rows_outside_0_1_is_refused(name, entry, change, match):
    """Taken before: a negative or 10**30 fit count (shown in the beliefs), a lost bank of fits (the next warm-started
    refit ran cold: another run than the one saved) and window rows outside [0, 1] (fitted at the next refit)."""
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    box = Box([0.0, -5.0], [1.0, 5.0])
    kw = dict(mg.teacher_class(name).conformance_kwargs, warm_start=True)
    t = mg.make_teacher(name, box, seed=0, **kw)
    rng = np.random.default_rng(0)
    for _ in range(120):
        t.observe(t.propose(), float(rng.random() < 0.5))  # scores of exactly 0 and 1 load as they are
    state = t.state_dict()
    assert mg.loads(t.to_bytes()).state_dict()["algorithm"]["n_fits"] == state["algorithm"]["n_fits"] > 0
    alg = state["algorithm"]
    alg[entry] = change(alg[entry]) if callable(change) else change
    u = mg.make_teacher(name, box, seed=1, **kw)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=match):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_covar_gmm_rows_keep_their_episode_numbers_past_1():
    # the time column holds episode numbers (older magisters: the relative time): only the others are on [0, 1]
    t = mg.make_teacher("covar-gmm", Box([0.0], [1.0]), seed=0, fit_rate=40, potential_ks=[1, 2])
    for i in range(130):
        t.observe(t.propose(), i % 2)
    rows = t.state_dict()["algorithm"]["window_rows"]
    assert rows[:, 1].max() == 129.0
    assert mg.checkpoint.states_equal(mg.loads(t.to_bytes()).state_dict(), t.state_dict())


@pytest.mark.parametrize("setting, value", [("dim", 1.5), ("dim", "3"), ("dim", True), ("dim", float("nan")),
                                            ("capacity", 1.5), ("capacity", "10"), ("capacity", True)])
def test_history_refuses_a_dim_or_capacity_that_is_not_a_whole_number(setting, value):
    # int() made dim=1.5 a history of 1 dimension and capacity="10" one of 10 pairs (NaN: Python's raw ValueError)
    kwargs = {"dim": 2, "capacity": 5, setting: value}
    with pytest.raises(ConfigError, match=rf"History {setting} must be a whole number >= 1, got {re.escape(repr(value))}"):
        History(**kwargs)
    h = History(dim=2.0, capacity=5.0)  # a whole float is taken, as before
    assert (h.dim, h.capacity) == (2, 5) and type(h.dim) is int


def _with_mixture(space, weights, means, covs, **kwargs) -> AlpGmm:
    """An ALP-GMM past its first fit whose mixture is replaced by the one given (rows: task (unit), ALP)."""
    t = AlpGmm(space, seed=0, fit_rate=20, potential_ks=[1, 2], **kwargs)
    rng = np.random.default_rng(0)
    t.observe_batch(t.propose(20), rng.random(20))
    state = t.state_dict()
    state["algorithm"]["mixture"] = {"weights": np.asarray(weights, float), "means": np.asarray(means, float),
                                     "covs": np.asarray(covs, float)}
    t.load_state_dict(state)
    return t


def test_a_component_is_picked_in_proportion_to_its_mean_alp_not_its_weight():
    # a heavy component of mean ALP 0.1 and a light one of mean ALP 0.3: the light one gets 3/4 of the draws
    cov = np.diag([1e-4, 1e-4])
    t = _with_mixture(Box([0.0], [1.0]), [0.9, 0.1], [[0.2, 0.1], [0.8, 0.3]], [cov, cov], random_ratio=0.0)
    b = t.beliefs()
    assert [c["progress"] for c in b["components"]] == pytest.approx([0.1, 0.3])
    assert b["component_probability"] == pytest.approx([0.25, 0.75])
    batch = t.propose(4000)[:, 0]
    singles = np.array([t.propose()[0] for _ in range(2000)])
    for x in (batch, singles):
        assert np.mean(x > 0.5) == pytest.approx(0.75, abs=0.04)


def test_gaussian_draws_have_the_component_s_covariance():
    # task covariance [[0.01, 0.008], [0.008, 0.01]]: the draws' sample covariance is that, for one proposal at a
    # time and for a batch (the Cholesky factor's transpose would give [[0.0164, 0.0048], [0.0048, 0.0036]])
    task_cov = np.array([[0.01, 0.008], [0.008, 0.01]])
    cov = np.zeros((3, 3))
    cov[:2, :2], cov[2, 2] = task_cov, 1e-4
    t = _with_mixture(Box([0.0, 0.0], [1.0, 1.0]), [1.0], [[0.5, 0.5, 0.1]], [cov], random_ratio=0.0)
    batch = t.propose(4000)
    singles = np.array([t.propose() for _ in range(3000)])
    for x in (batch, singles):
        assert np.mean(x, axis=0) == pytest.approx([0.5, 0.5], abs=0.01)
        assert np.cov(x.T) == pytest.approx(task_cov, abs=0.0012)


@pytest.mark.parametrize("name", ["alp-gmm", "covar-gmm"])
@pytest.mark.parametrize("warm_start", [True, False])
def test_warm_start_refits_from_the_previous_fit(monkeypatch, name, warm_start):
    import magister.mixture_teacher as mixture_teacher
    import magister.teachers.covar_gmm as covar_gmm

    warms, banks = [], []
    real = mixture_teacher.fit_bank

    def recording(X, ks, rng, *, warm=None, **kwargs):
        warms.append(warm)
        banks.append(real(X, ks, rng, warm=warm, **kwargs))
        return banks[-1]

    monkeypatch.setattr(mixture_teacher, "fit_bank", recording)
    monkeypatch.setattr(covar_gmm, "fit_bank", recording)
    t = mg.make_teacher(name, Box([0.0], [1.0]), seed=0, fit_rate=30, potential_ks=[1, 2], warm_start=warm_start)
    rng = np.random.default_rng(0)
    for _ in range(3):
        t.observe_batch(t.propose(30), rng.random(30))
    assert len(warms) == 3 and warms[0] is None
    if warm_start:
        assert warms[1] is banks[0] and warms[2] is banks[1]
    else:
        assert warms[1] is None and warms[2] is None


def test_the_first_fit_comes_at_the_first_multiple_of_fit_rate_at_or_after_the_bootstrap():
    # the docstring's example: fit_rate=40, bootstrap=50 gives 80 uniform episodes, then one fit every 40
    t = AlpGmm(Box([0.0], [1.0]), seed=0, fit_rate=40, bootstrap=50)
    rng = np.random.default_rng(0)
    t.observe_batch(t.propose(79), rng.random(79))
    assert t.beliefs()["n_fits"] == 0 and t.beliefs()["uniform_probability"] == 1.0
    t.observe(t.propose(), 0.5)
    assert t.beliefs()["n_fits"] == 1
    t.observe_batch(t.propose(40), rng.random(40))
    assert t.beliefs()["n_fits"] == 2


@pytest.mark.parametrize("kwargs, first", [
    ({"fit_rate": 10, "bootstrap": 3, "window": 20}, 10),  # the first refit, at episode 10, sees 10 rows, not 3
    ({"fit_rate": 4}, 4),  # window and bootstrap = fit_rate: 4 rows, and a mixture of 4 components is allowed
])
def test_potential_ks_may_go_up_to_the_rows_of_the_first_refit(kwargs, first):
    AlpGmm(Box([0.0], [1.0]), potential_ks=[first], **kwargs)
    with pytest.raises(ConfigError, match=rf"no component count <= the {first} episodes the first refit sees"):
        AlpGmm(Box([0.0], [1.0]), potential_ks=[first + 1], **kwargs)


def test_components_without_progress_are_picked_uniformly():
    cov = np.diag([1e-4, 1e-4])
    t = _with_mixture(Box([0.0], [1.0]), [0.9, 0.1], [[0.2, 0.0], [0.8, 0.0]], [cov, cov], random_ratio=0.0)
    assert t.beliefs()["component_probability"] == pytest.approx([0.5, 0.5])
    assert np.mean(t.propose(2000)[:, 0] > 0.5) == pytest.approx(0.5, abs=0.05)

