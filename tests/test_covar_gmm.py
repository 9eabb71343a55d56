"""Covar-GMM: time-score covariance as learning progress."""

from __future__ import annotations

import json

import numpy as np
import pytest

import magister as mg
from magister.spaces import Box
from magister.teachers.covar_gmm import CovarGmm

from test_alp_gmm import StripLearner, run_strip


def test_progress_is_the_time_score_covariance():
    t = CovarGmm(Box([0.0, 0.0], [1.0, 1.0]), seed=0)
    covs = np.zeros((3, 4, 4))
    covs[:, 2, 3] = covs[:, 3, 2] = [0.02, -0.01, 0.0]
    assert np.allclose(t._component_progress(None, None, covs), [0.02, 0.0, 0.0])
    a = CovarGmm(Box([0.0, 0.0], [1.0, 1.0]), seed=0, absolute_lp=True)
    assert np.allclose(a._component_progress(None, None, covs), [0.02, 0.01, 0.0])


def test_fit_points_carry_relative_time_in_the_window():
    t = CovarGmm(Box([0.0], [1.0]), seed=0, fit_rate=10, window=20)
    for i in range(25):
        t.observe([i / 25], i / 25)
    X = t._fit_data(t._window_rows())
    assert X.shape == (20, 3)
    assert np.allclose(X[:, 1], np.arange(20) / 20)  # oldest first, i / window
    assert np.allclose(X[:, 2], np.arange(5, 25) / 25)  # the scores


def test_reference_time_column_with_default_window():
    t = CovarGmm(Box([0.0], [1.0]), seed=0, fit_rate=8)
    for i in range(12):
        t.observe([0.5], 0.0)
    X = t._fit_data(t._window_rows())
    assert np.allclose(X[:, 1], np.arange(8) / 8)


def test_sampling_moves_toward_where_scores_improve():
    shares = [run_strip("covar-gmm", seed, fit_rate=100) for seed in (0, 1)]
    assert min(shares) > 0.5, shares


def test_a_region_that_gets_worse_only_counts_with_absolute_lp():
    """Scores fall over time on [0, 0.5) and stay flat elsewhere.

    With ``absolute_lp`` the falling region is progress and draws the samples;
    without it no component earns any progress, so sampling is spread over the
    components wherever they happen to lie (several seeds, since one seed's
    components may all sit low).
    """

    def run(absolute: bool, seed: int) -> tuple[float, np.ndarray]:
        t = CovarGmm(Box([0.0], [1.0]), seed=seed, fit_rate=100, random_ratio=0.0, absolute_lp=absolute)
        e = 0
        for _ in range(300):
            task = t.propose()
            e += 1
            score = max(0.0, 1.0 - e / 300) if task[0] < 0.5 else 0.5
            t.observe(task, score)
        return float((t.propose(2000)[:, 0] < 0.5).mean()), t._progress.copy()

    seeds = range(6)
    with_abs = [run(True, s) for s in seeds]
    without = [run(False, s) for s in seeds]
    assert min(share for share, _ in with_abs) > 0.8
    # the falling region's covariance is worth ~0.03 with absolute_lp (shared out when two components
    # cover it, as a cold refit may do); without it nothing beyond rounding
    assert all(progress.sum() > 0.01 for _, progress in with_abs)
    assert all(progress.max() < 1e-9 for _, progress in without)
    assert np.mean([share for share, _ in without]) < 0.8


def test_beliefs_are_json_and_name_progress():
    learner = StripLearner(rate=0.02)
    t = CovarGmm(Box([0.0], [1.0]), seed=2, fit_rate=50)
    for _ in range(120):
        task = t.propose()
        t.observe(task, learner.attempt(task))
    b = json.loads(json.dumps(t.beliefs()))
    assert b["teacher"] == "covar-gmm" and b["n_fits"] == 2
    assert sum(c["probability"] for c in b["components"]) + b["uniform_probability"] == pytest.approx(1.0)


def test_registered_and_batch_proposals_in_space():
    t = mg.make_teacher("covar-gmm", Box([0.0, 2.0], [1.0, 3.0]), seed=0, fit_rate=30)
    learner = StripLearner()
    for _ in range(3):
        tasks = t.propose(40)
        t.observe_batch(tasks, [learner.attempt([x[0]]) for x in tasks])
    out = t.propose(1000)
    assert out.shape == (1000, 2) and (out[:, 1] >= 2.0).all() and (out[:, 1] <= 3.0).all()


def test_plus_variant_has_its_own_defaults_and_follows_progress():
    t = mg.make_teacher("covar-gmm-plus", Box([0.0], [1.0]), seed=0)
    cfg = t.config()
    assert cfg["fit_rate"] == 25 and cfg["window"] == 250 and cfg["max_iter"] == 100
    assert cfg["bootstrap"] == 250 and cfg["random_ratio"] == 0.2
    # the published component range and cold refits (issue 11: 20 warm-started components fitted the noise)
    assert list(cfg["potential_ks"]) == list(range(2, 11)) and cfg["warm_start"] is False
    shares = [run_strip("covar-gmm-plus", seed, bootstrap=100) for seed in (0, 1)]
    assert min(shares) > 0.5, shares


def test_batch_longer_than_the_window_equals_one_by_one():
    from magister.testing import states_equal

    def make():
        return CovarGmm(Box([0.0], [1.0]), seed=0, fit_rate=50, window=20, potential_ks=[1, 2])

    a, b = make(), make()
    rng = np.random.default_rng(0)
    X, S = rng.random((130, 1)), rng.random(130)
    a.observe_batch(list(X), S)
    for x, s in zip(X, S):
        b.observe(x, s)
    assert states_equal(a.state_dict()["algorithm"], b.state_dict()["algorithm"])
    assert np.array_equal(a.propose(5), b.propose(5))


def _binary_strip_run(binary_moments: bool, seed: int) -> CovarGmm:
    """0/1 successes: on x < 0.5 the success rate rises from 0 to 1 over the run, elsewhere it stays 0.5."""
    rng = np.random.default_rng(seed)
    t = CovarGmm(Box([0.0], [1.0]), seed=seed, fit_rate=400, random_ratio=1.0,
                 potential_ks=[2, 3, 4], binary_moments=binary_moments)
    for i in range(400):
        x = t.propose()
        t.observe(x, float(rng.random() < (i / 400 if x[0] < 0.5 else 0.5)))
    return t


def test_binary_scores_progress_needs_the_moments_fit():
    """A joint fit gives 0/1 scores components of their own (zero score variance, so zero time-score
    covariance everywhere); ``binary_moments`` fits tasks and time and still sees the rising strip."""
    for seed in (0, 1, 2):
        joint = _binary_strip_run(False, seed)
        assert np.diagonal(joint._covs, axis1=1, axis2=2)[:, -1].max() < 1e-3
        assert joint._progress.max() < 1e-6
        moments = _binary_strip_run(True, seed)
        # the rising strip's time-score covariance is about var(t) = 1/12; the flat half has none
        best = int(np.argmax(moments._progress))
        assert moments._progress[best] > 0.015 and moments._task_means[best, 0] < 0.5, \
            (moments._task_means, moments._progress)
        # each component's score column holds the mean success of its points (no zero-variance split)
        window = moments._window_rows()
        assert moments._weights @ moments._means[:, -1] == pytest.approx(window[:, -1].mean(), abs=0.02)
        assert np.diagonal(moments._covs, axis1=1, axis2=2)[:, -1].max() > 0.05


def test_binary_moments_leaves_graded_scores_alone():
    def run(binary_moments: bool) -> np.ndarray:
        t = mg.make_teacher("covar-gmm-plus", Box([0.0], [1.0]), seed=3, binary_moments=binary_moments)
        rng = np.random.default_rng(3)
        for i in range(600):  # 0/1 scores, but every window holds graded ones: the published joint fit
            x = t.propose()
            t.observe(x, 0.5 if i % 50 == 0 else float(rng.random() < x[0]))
        return t.propose(50)

    assert np.array_equal(run(True), run(False))
    assert mg.make_teacher("covar-gmm-plus", Box([0.0], [1.0])).config()["binary_moments"] is True
    assert mg.make_teacher("covar-gmm", Box([0.0], [1.0])).config()["binary_moments"] is False
    with pytest.raises(mg.ConfigError):
        mg.make_teacher("covar-gmm", Box([0.0], [1.0]), binary_moments="yes")


@pytest.mark.parametrize("kwargs", [
    {"absolute_lp": "no"}, {"absolute_lp": None}, {"condition_time": "x"}, {"condition_time": []},
    {"condition_score": True}, {"condition_score": "0.5"}, {"warm_start": "false"}, {"bootstrap": 2.5},
])
def test_bad_settings_are_refused_with_a_config_error(kwargs):
    """Before, these were taken as truthy, or raised a raw ValueError / TypeError from float()."""
    with pytest.raises(mg.ConfigError):
        mg.make_teacher("covar-gmm", Box([0.0], [1.0]), **kwargs)


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_binary_moments_fits_jointly_when_a_window_holds_only_one_outcome(score):
    # only "0/1 successes, both present" take the moments fit: a window of all failures or all successes is
    # fitted jointly, as published
    def run(binary_moments: bool) -> np.ndarray:
        t = mg.make_teacher("covar-gmm-plus", Box([0.0], [1.0]), seed=4, fit_rate=20, window=40, bootstrap=40,
                            potential_ks=[1, 2], binary_moments=binary_moments)
        for _ in range(80):
            t.observe(t.propose(), score)
        return t.propose(50)

    assert np.array_equal(run(True), run(False))


@pytest.mark.parametrize("condition", [{"condition_time": 1.0}, {"condition_score": 0.2},
                                       {"condition_time": 1.0, "condition_score": 0.2}])
def test_conditioned_draws_follow_the_gaussian_conditional(condition):
    # one Gaussian over (task, time, score) whose task grows with time and falls with the score: tasks are drawn
    # from its conditional given the columns named, mean mu_x + S_xc S_cc^-1 (target - mu_c) and variance
    # S_xx - S_xc S_cc^-1 S_cx
    mean = np.array([0.5, 0.5, 0.5])
    cov = np.array([[0.01, 0.012, -0.008], [0.012, 0.04, 0.0], [-0.008, 0.0, 0.02]])
    t = CovarGmm(Box([0.0], [1.0]), seed=5, fit_rate=20, potential_ks=[1, 2], random_ratio=0.0, **condition)
    t.observe_batch(t.propose(20), np.random.default_rng(5).random(20))
    state = t.state_dict()
    state["algorithm"]["mixture"] = {"weights": np.array([1.0]), "means": mean[None], "covs": cov[None]}
    t.load_state_dict(state)
    cols = [c for c, key in ((1, "condition_time"), (2, "condition_score")) if key in condition]
    target = np.array([condition[k] for k in ("condition_time", "condition_score") if k in condition])
    gain = np.linalg.solve(cov[np.ix_(cols, cols)], cov[cols, 0])
    want_mean = mean[0] + gain @ (target - mean[cols])
    want_var = cov[0, 0] - cov[0, cols] @ gain
    for x in (t.propose(4000)[:, 0], np.array([t.propose()[0] for _ in range(3000)])):
        assert x.mean() == pytest.approx(want_mean, abs=0.01)
        assert x.var() == pytest.approx(want_var, rel=0.1)
