"""The frontier teacher: it samples where predicted competence is intermediate (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError
from magister.testing import states_equal
from magister.teachers.frontier import Frontier, dimension_relevance


def _banded(u: np.ndarray) -> float:
    """Mastered below 0.3 on the first coordinate, out of reach above 0.6, half learned between."""
    return 1.0 if u[0] < 0.3 else 0.0 if u[0] > 0.6 else 0.5


def _drive(t: Frontier, space: mg.Box, score, episodes: int) -> np.ndarray:
    tasks = []
    for _ in range(episodes):
        task = t.propose()
        t.observe(task, score(space.to_unit(task)))
        tasks.append(space.to_unit(task))
    return np.asarray(tasks)


def test_concentrates_on_the_band_and_leaves_mastered_and_unreachable_tasks():
    space = mg.Box([0.0, 0.0], [1.0, 1.0])
    t = Frontier(space, seed=0, bootstrap=50)
    tasks = _drive(t, space, _banded, 600)[-300:]
    middle = np.mean((tasks[:, 0] >= 0.3) & (tasks[:, 0] <= 0.6))
    assert middle > 0.7  # uniform sampling puts 30% there
    # the remainder is mostly the uniform share, spread over both sides
    assert np.mean(tasks[:, 0] < 0.3) < 0.15 and np.mean(tasks[:, 0] > 0.6) < 0.15


def test_follows_a_region_that_is_forgotten():
    space = mg.Box([0.0], [1.0])
    # a history long enough to hold the old scores: only the recency weights let the new ones win
    t = Frontier(space, seed=1, bootstrap=50, history_size=2000)  # fails with recency=1e9
    _drive(t, space, _banded, 400)

    def forgotten(u):  # the mastered region is half forgotten; the middle is now mastered
        return 0.5 if u[0] < 0.3 else 0.0 if u[0] > 0.6 else 1.0

    tasks = _drive(t, space, forgotten, 600)[-200:]
    assert np.mean(tasks[:, 0] < 0.3) > 0.6


def test_tied_neighbours_are_the_newest_on_a_finite_dimension():
    # every earlier episode of a MultiDiscrete cell is at the same distance: argpartition took any 5 of them, and
    # after 20 straight successes following 100 failures the cell was predicted 0.0 (its oldest scores)
    space = mg.MultiDiscrete([3])
    t = Frontier(space, seed=0, relevance=False)
    for i in range(300):
        t.observe((i % 3,), 0.0)
    cell = space.to_unit((0,))[None]
    predicted = []
    for _ in range(30):
        t.observe((0,), 1.0)
        predicted.append(float(t.predict(cell)[0]))
    assert predicted[:4] == sorted(predicted[:4]) and predicted[0] < 0.3
    assert all(p == 1.0 for p in predicted[4:])  # its 5 newest scores are all successes


def test_relevance_ignores_dimensions_the_scores_do_not_depend_on():
    rng = np.random.default_rng(0)
    x = rng.random((1000, 4))
    y = np.where(x[:, 1] < 0.5, 1.0, 0.0) + rng.normal(0.0, 0.1, 1000)
    w = dimension_relevance(x, y)
    assert w[1] == 1.0 and np.all(w[[0, 2, 3]] == 0.0)
    assert np.all(dimension_relevance(x, rng.normal(size=1000)) == 1.0)  # no signal: every dimension counts


def test_distractors_get_no_weight_in_the_teacher():
    space = mg.Box([0.0] * 4, [1.0] * 4)
    t = Frontier(space, seed=2, bootstrap=50, relevance_every=100)
    tasks = _drive(t, space, _banded, 400)
    assert t.weights[0] == 1.0 and np.all(t.weights[1:] == 0.0)
    assert np.mean((tasks[-200:, 0] >= 0.3) & (tasks[-200:, 0] <= 0.6)) > 0.6
    assert t.beliefs()["relevance"] == [1.0, 0.0, 0.0, 0.0]


def test_uniform_before_the_bootstrap_and_prediction_is_nan_without_history():
    space = mg.Box([0.0], [1.0])
    t = Frontier(space, seed=3, bootstrap=100)
    assert np.isnan(t.predict([[0.5]])[0])
    tasks = _drive(t, space, _banded, 100)
    assert 0.2 < np.mean((tasks[:, 0] >= 0.3) & (tasks[:, 0] <= 0.6)) < 0.45


@pytest.mark.parametrize("bad", [{"low": 0.9, "high": 0.1}, {"low": 0.5, "high": 0.5}, {"k": 0},
                                 {"recency": 0.0}, {"relevance": "yes"}, {"perturb_share": 1.5}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        Frontier(mg.Box([0.0], [1.0]), **bad)


@pytest.mark.parametrize("where,value", [(("history", "x"), np.nan), (("history", "x"), -1.0),
                                         (("history", "y"), np.inf), (("sources", "x"), 2.0),
                                         (("weights",), np.inf), (("weights",), -1.0)])
def test_corrupt_checkpoint_values_are_refused_and_change_nothing(where, value):
    # accepted before: NaN predictions, or a raw ValueError from np.bincount at the next relevance refit
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    t = Frontier(mg.Box([0.0, 0.0], [1.0, 1.0]), seed=0, bootstrap=20)
    for _ in range(60):
        x = t.propose()
        t.observe(x, float(x[0] < 0.5))
    state = t.state_dict()
    before = t.state_dict()
    part = state["algorithm"]
    for key in where[:-1]:
        part = part[key]
    arr = np.array(part[where[-1]], dtype=float)
    arr.flat[0] = value
    part[where[-1]] = arr
    with pytest.raises(CheckpointError):
        t.load_state_dict(state)
    assert states_equal(t.state_dict(), before)


def test_predictions_over_many_rows_are_computed_in_blocks_with_the_same_result(monkeypatch):
    # propose(k) asks about k x n_candidates rows; against a long history the whole distance matrix at once took
    # k x n_candidates x history_size floats (GBs): it is computed a block of rows at a time, with the same figures
    import magister.teachers.frontier as fr

    t = Frontier(mg.Box([0.0, 0.0], [1.0, 1.0]), seed=0, bootstrap=20, history_size=300)
    rng = np.random.default_rng(1)
    for _ in range(400):
        x = t.propose()
        t.observe(x, float(x[0] + 0.1 * rng.random() < 0.6))
    q = rng.random((257, 2))
    whole_matrix = t.predict(q)
    sizes = []
    real_argpartition = np.argpartition

    def recording(a, *args, **kwargs):
        sizes.append(a.size)
        return real_argpartition(a, *args, **kwargs)

    monkeypatch.setattr(fr, "_BLOCK", 300 * 10)  # 10 rows a block
    monkeypatch.setattr(fr.np, "argpartition", recording)
    blocked = t.predict(q)
    assert max(sizes) <= 300 * 10 and len(sizes) == 26
    np.testing.assert_array_equal(blocked, whole_matrix)


def test_the_batch_pick_makes_the_row_by_row_picks_and_draws():
    # propose(100_000) picked a candidate per row in a Python loop (one draw per row, seconds); the vectorised
    # pick must choose the same candidates and leave the generator where the loop left it, across rows that draw
    # a uniform number, an integer among 2 or 3 tied candidates, or nothing, in any order
    def by_row(rng, w, value):
        js = []
        for row in range(len(w)):
            total = w[row].sum()
            if total > 0:
                j = min(int(np.searchsorted(np.cumsum(w[row]) / total, rng.random(), side="right")), w.shape[1] - 1)
            else:
                best = np.flatnonzero(value[row] == value[row].max())
                j = int(best[rng.integers(0, len(best))]) if len(best) > 1 else int(best[0])
            js.append(j)
        return np.array(js)

    gen = np.random.default_rng(5)
    for trial in range(30):
        m, c = int(gen.integers(1, 60)), 6
        value = gen.choice([0.0, 0.09, 0.16, 0.25], size=(m, c))
        kind = gen.integers(0, 4, size=m)  # 0: weighted, 1: one best, 2-3: ties among 2 or 3
        w = np.where(kind[:, None] == 0, value * (gen.random((m, c)) < 0.7), 0.0)
        for row in np.flatnonzero(kind > 0):
            value[row] = 0.09
            value[row, gen.choice(c, size=min(kind[row], 3), replace=False)] = 0.25
        t = Frontier(mg.Box([0.0], [1.0]), seed=trial)
        ref = np.random.default_rng(trial)
        ref.bit_generator.state = t.rng.bit_generator.state
        np.testing.assert_array_equal(t._pick(w, value), by_row(ref, w, value))
        assert t.rng.bit_generator.state == ref.bit_generator.state
        for row in range(m):  # one row at a time: the path of a single proposal (it skips the runs' bookkeeping)
            one = (w[row:row + 1], value[row:row + 1])
            np.testing.assert_array_equal(t._pick(*one), by_row(ref, *one))
            assert t.rng.bit_generator.state == ref.bit_generator.state


def test_a_region_whose_neighbours_are_all_old_is_predicted_and_proposing_does_not_crash():
    # recency 1: a weight exp(-age) underflows to 0 for neighbours older than ~745 episodes; the prediction
    # of such a region was 0/0 = NaN, and a proposal whose candidates were out of the band then hit IndexError
    t = Frontier(mg.Box([0.0], [1.0]), seed=0, history_size=3000, recency=1.0, bootstrap=10, random_ratio=0.0)
    rng = np.random.default_rng(0)
    for _ in range(1000):
        t.observe([0.5 * rng.random()], 1.0)
    for _ in range(1000):
        t.observe([0.5 + 0.5 * rng.random()], 0.0)
    p = t.predict(np.array([[0.1], [0.9]]))
    assert np.isfinite(p).all() and p[0] == pytest.approx(1.0) and p[1] == 0.0
    assert len(t.propose(20)) == 20


@pytest.mark.parametrize("generator, score", [("pcg64", "banded"), ("philox", "banded"), ("pcg64", "zero")])
def test_a_large_batch_is_drawn_in_blocks_with_the_draws_of_one_batch(monkeypatch, generator, score):
    # propose(500_000) in 12 dimensions held every candidate and perturbation at once (4 GB): a batch above
    # _CANDIDATE_BLOCK candidate coordinates is drawn a block of proposals at a time, with exactly the numbers of one
    # batch (uniform candidates, source indices, perturbations and picks each from its own place in the stream), and
    # leaves the generator where one batch leaves it. "banded": weighted picks, tied picks (predictions of exactly
    # 0 or 1), perturbed candidates and a dimension ignored; "zero": no source, every pick a tie (integer draws)
    import magister.teachers.frontier as fr

    def warmed() -> Frontier:
        seed = np.random.Generator(np.random.Philox(3)) if generator == "philox" else 3
        space = mg.Box([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
        t = Frontier(space, seed=seed, bootstrap=20, history_size=100, n_candidates=8, relevance_every=50)
        _drive(t, space, _banded if score == "banded" else (lambda u: 0.0), 200)
        t.rng.integers(0, 3)  # a half-used 32-bit word left in the generator, as a tied pick may leave it
        return t

    t = warmed()
    assert (len(t.sources) > 0) == (score == "banded")
    assert score == "zero" or t.weights.tolist() == [1.0, 0.0, 0.0]
    one_batch = np.asarray(t.propose(500))
    then = np.asarray(t.propose(40))

    monkeypatch.setattr(fr, "_CANDIDATE_BLOCK", 8 * 3 * 37)  # 37 proposals a block
    sizes = []
    real = Frontier._candidates
    monkeypatch.setattr(Frontier, "_candidates", lambda self, m, rngs=None: sizes.append(m) or real(self, m, rngs))
    t = warmed()
    blocked = np.asarray(t.propose(500))
    assert len(sizes) >= 10 and max(sizes) == 37
    np.testing.assert_array_equal(blocked, one_batch)
    np.testing.assert_array_equal(np.asarray(t.propose(40)), then)  # the generator is where one batch left it


def test_rows_kept_between_predictions_follow_observations_loads_and_new_weights():
    # predict() keeps the history's weighted rows between calls (appending one per observation): a warm teacher
    # must predict to the last bit what one rebuilt from its state predicts, after the history wrapped, a refit of
    # the weights, weights changed in place, a loaded state of the same length, and a refused load
    from magister.errors import CheckpointError

    space = mg.Box([0.0, 0.0], [1.0, 1.0])
    kw = {"history_size": 30, "bootstrap": 5, "relevance_every": 7}
    a, b = Frontier(space, seed=0, **kw), Frontier(space, seed=1, **kw)
    probes = np.random.default_rng(0).random((40, 2))

    def rebuilt(t: Frontier) -> np.ndarray:
        return mg.Teacher.from_state_dict(t.state_dict()).predict(probes)

    for t in (a, b):
        for i in range(70):
            x = t.propose()
            t.observe(x, float(x[0] < 0.4 + 0.01 * (i % 5)))
            if i % 3 == 0:
                np.testing.assert_array_equal(t.predict(probes), rebuilt(t))
    assert a.history.total == b.history.total and not np.array_equal(a.predict(probes), b.predict(probes))
    a.load_state_dict(b.state_dict(), strict=False)  # as many pairs as before: only the contents changed
    np.testing.assert_array_equal(a.predict(probes), b.predict(probes))
    a.weights[:] = [1.0, 0.25]
    np.testing.assert_array_equal(a.predict(probes), rebuilt(a))
    before, state = a.predict(probes), b.state_dict()
    state["algorithm"]["history"]["y"] = state["algorithm"]["history"]["y"][::-1].copy()
    state["algorithm"]["sources"]["x"][0, 0] = 2.0  # refused after the history was loaded: it is restored
    with pytest.raises(CheckpointError):
        a.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(a.predict(probes), before)


def test_history_one_pair_helpers_match_add_and_x():
    # frontier adds one pair per observation with add_one and reads the sources' rows with rows() (x copied every
    # stored vector for the few it needed): the same contents as add, x[i] and the last pair, before and after wrapping
    from magister.history import History

    rng = np.random.default_rng(3)
    one, many = History(3, 7), History(3, 7)
    for n in range(1, 20):
        x, y = rng.random(3), float(rng.random())
        one.add_one(x, y)
        many.add(x, y)
        i = rng.integers(0, len(many), size=(2, 4))
        np.testing.assert_array_equal(one.x, many.x)
        np.testing.assert_array_equal(one.y, many.y)
        np.testing.assert_array_equal(one.rows(i), many.x[i])
        newest_x, newest_y = one.newest()
        assert np.array_equal(newest_x, x) and newest_y == y and one.total == many.total == n
    stamp = one.stamp
    one.load_state_dict(many.state_dict())
    assert one.stamp is not stamp  # a loaded history is another one for what was derived from it


@pytest.mark.parametrize("x", [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], np.zeros((2, 3)), np.zeros((1, 2, 2)), "ab",
                               [[0.1, 0.2], [0.3]]])
def test_predict_refuses_what_is_not_points_of_the_space(x):
    # 3 numbers of a 2-D space were numpy's "cannot reshape array of size 3 into shape (2)", 4 numbers (or a
    # (1, 2, 2) array) were read as two points without a word, text was "could not convert string to float"
    t = Frontier(mg.Box([0.0, 0.0], [1.0, 1.0]), seed=0, bootstrap=3)
    for _ in range(6):
        t.observe(t.propose(), 0.5)
    before = t.state_dict()
    with pytest.raises(mg.InvalidTaskError, match="2 numbers|shape"):
        t.predict(x)
    assert states_equal(t.state_dict(), before)
    assert t.predict([0.1, 0.2]).shape == (1,) and t.predict(np.zeros((3, 2))).shape == (3,)
    assert Frontier(mg.Box([0.0], [1.0]), seed=0).predict([0.1, 0.2, 0.3]).shape == (3,)  # a 1-D space: 3 points


def _frontier_on(competence, **kwargs):
    """A frontier (guided proposals only, uniform candidates) that saw 400 tasks of a 1-d Box scored by competence."""
    t = mg.make_teacher("frontier", mg.Box([0.0], [1.0]), seed=0, bootstrap=0, random_ratio=0.0, perturb_share=0.0,
                        relevance=False, recency=1e6, **kwargs)
    x = np.random.default_rng(1).random((400, 1))
    t.observe_batch(list(x), [competence(float(v[0])) for v in x])
    return t


def test_proposals_are_predicted_inside_the_band():
    # 70% of the space is past the band (predicted 0.95 > high = 0.9): no proposal goes there
    t = _frontier_on(lambda v: 0.95 if v < 0.7 else 0.5)
    props = np.asarray(t.propose(300)).reshape(-1, 1)
    p = t.predict(props)
    assert ((p >= t.low) & (p <= t.high)).all()


def test_proposals_in_the_band_prefer_a_competence_near_one_half():
    # both halves are in the band; p (1 - p) weighs the half at 0.5 about twice the half at 0.85
    t = _frontier_on(lambda v: 0.5 if v < 0.5 else 0.85)
    props = np.asarray(t.propose(400)).reshape(-1)
    assert (props < 0.5).mean() > 0.55
