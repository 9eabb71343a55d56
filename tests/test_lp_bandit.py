"""Behaviour of the learning-progress bandit ("lp-bandit")."""

from __future__ import annotations

import json

import numpy as np
import pytest

import magister as mg
from magister.students.skills import SkillStudent
from magister.teachers.lp_bandit import LPBandit

SPACE = mg.Discrete(["rising", "flat", "flat2"])


def _feed_rising_and_flat(teacher: mg.Teacher, n: int = 30) -> None:
    for k in range(n):
        teacher.observe("rising", k / n)
        teacher.observe("flat", 0.5)
        teacher.observe("flat2", 0.2)


@pytest.mark.parametrize("kwargs", [{}, {"fast": 0.1, "slow": 0.02, "transform": "sigmoid", "epsilon": 0.1,
                                         "denoise": 0.0}])
def test_probability_moves_to_the_changing_task(kwargs):
    t = LPBandit(SPACE, seed=0, **kwargs)
    before = t.probabilities()
    _feed_rising_and_flat(t)
    p = t.probabilities()
    assert p[0] > before[0] and p[0] > 1 / 3
    assert p[1] < 1 / 3 and p[2] < 1 / 3
    assert t.progress()[0] > 0 and t.progress()[1] == 0 and t.progress()[2] == 0
    # proposals follow the probabilities
    props = t.propose(2000)
    assert props.count("rising") / 2000 == pytest.approx(p[0], abs=0.04)


def test_probability_follows_the_task_that_changes_now():
    t = LPBandit(SPACE, seed=0)
    _feed_rising_and_flat(t)
    high = t.probabilities()[0]
    for k in range(30):  # "rising" is now mastered (flat at 1); "flat" starts improving
        t.observe("rising", 1.0)
        t.observe("flat", 0.5 + 0.015 * k)
    p = t.probabilities()
    assert p[0] < high
    assert p[1] > p[0] and p[1] > p[2]


def test_unseen_tasks_are_tried_first():
    t = LPBandit(SPACE, seed=1, epsilon=0.0)
    t.observe("rising", 0.3)
    props = t.propose(200)
    assert "rising" not in props and {"flat", "flat2"} <= set(props)
    t.observe("flat", 0.3)
    assert set(t.propose(50)) == {"flat2"}


def test_denoise_discounts_chance_level_noise():
    rng = np.random.default_rng(3)
    space = mg.Discrete(["stuck", "learning"])
    plain = LPBandit(space, seed=0, denoise=0.0)
    clean = LPBandit(space, seed=0, denoise=2.0)
    for k in range(40):
        s = float(rng.random() < 0.1)  # 0/1 outcomes at a 10% success rate that never improves
        for t in (plain, clean):
            t.observe("stuck", s)
            t.observe("learning", min(1.0, 0.02 * k))
    assert clean.progress()[0] < plain.progress()[0]
    assert clean.progress()[1] > clean.progress()[0]


def test_beats_uniform_on_a_skill_student():
    def run(name: str) -> float:
        student = SkillStudent(scores="probability", seed=5)
        teacher = mg.make_teacher(name, student.space, seed=5)
        for _ in range(1000):
            task = teacher.propose()
            teacher.observe(task, student.attempt(task))
        return student.learnable_mastery()

    assert run("lp-bandit") > run("uniform") + 0.2


def test_beliefs_shape():
    t = LPBandit(SPACE, seed=0)
    _feed_rising_and_flat(t, 5)
    b = t.beliefs()
    json.dumps(b)
    assert b["kind"] == "discrete" and b["tasks"] == SPACE.task_names()
    assert len(b["probability"]) == 3 and sum(b["probability"]) == pytest.approx(1.0)
    assert len(b["progress"]) == 3 and b["teacher"] == "lp-bandit"


@pytest.mark.parametrize("kwargs", [{"fast": 0.1, "slow": 0.2}, {"fast": 0.0}, {"epsilon": 1.5},
                                    {"transform": "softmax"}, {"temperature": 0}, {"reweight": 0.7},
                                    {"min_tries": -1}, {"denoise": -1}, {"temperature": float("inf")},
                                    {"temperature": float("nan")}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(mg.ConfigError):
        LPBandit(SPACE, **kwargs)


def test_numpy_numbers_are_taken_as_settings_and_nan_refused():
    # np.float32(0.2) was refused for epsilon ("in [0, 1]"), as were numpy reweight and denoise values
    t = LPBandit(SPACE, epsilon=np.float32(0.25), reweight=np.float64(0.1), denoise=np.int64(2), seed=0)
    assert (t.epsilon, t.reweight, t.denoise) == (0.25, 0.1, 2.0)
    for bad in ({"epsilon": float("nan")}, {"denoise": float("nan")}, {"reweight": float("nan")}, {"epsilon": True}):
        with pytest.raises(mg.ConfigError):
            LPBandit(SPACE, **bad)


def test_too_many_tasks_is_refused_with_advice():
    with pytest.raises(mg.ConfigError, match="continuous teacher"):
        LPBandit(mg.MultiDiscrete([2000, 2000]))


def test_reweight_magnifies_progress_near_zero():
    space = mg.Discrete(2)
    plain, rew = LPBandit(space, seed=0), LPBandit(space, seed=0, reweight=0.1)
    for k in range(20):
        for t in (plain, rew):
            t.observe(0, 0.01 * k / 20)  # a rare success becoming slightly less rare
            t.observe(1, 0.5 + 0.01 * k / 20)  # the same change around 50%
    assert rew.progress()[0] > rew.progress()[1]
    assert plain.progress()[0] == pytest.approx(plain.progress()[1])


def test_a_very_low_temperature_sharpens_instead_of_falling_back_to_uniform():
    # 0.02 ** 200 underflows to 0 for every task: the weights used to sum to 0 and the policy went uniform
    t = LPBandit(mg.Discrete(3), temperature=0.005, epsilon=0.0, denoise=0, seed=0)
    t.observe_batch([0, 1, 2, 0, 1, 2], [0.0, 0.0, 0.0, 0.1, 0.05, 0.0])
    assert t.progress()[0] > t.progress()[1] > 0
    p = t.probabilities()
    assert np.isfinite(p).all() and p[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["lp-bandit", "exp3"])
@pytest.mark.parametrize("entry", ["fast", "slow", "last", "var"])
def test_a_nan_average_of_a_seen_task_is_refused_and_changes_nothing(name, entry):
    # NaN marks a task not seen yet, so a NaN average of a seen task (or any NaN variance) was taken and spread into
    # the policy and the beliefs
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    t = mg.make_teacher(name, SPACE, seed=0)
    _feed_rising_and_flat(t, 10)
    state = t.state_dict()
    state["algorithm"]["stats"][entry][0] = np.nan
    u = mg.make_teacher(name, SPACE, seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=f"{entry} (is NaN for a task seen 10 times|must hold finite)"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())
    fresh = mg.make_teacher(name, SPACE, seed=0).state_dict()  # unseen tasks' NaN averages still load
    u.load_state_dict(fresh)
    assert states_equal(fresh, u.state_dict())


@pytest.mark.parametrize("name", ["lp-bandit", "exp3", "sec"])
@pytest.mark.parametrize("entry", ["fast", "slow", "last"])
def test_a_negative_saved_average_is_refused_and_changes_nothing(name, entry):
    # scores are on the [0, 1] scale and so are their averages: a negative one (a tampered file) was loaded and read as
    # learning progress
    from magister.testing import states_equal

    t = mg.make_teacher(name, SPACE, seed=0)
    _feed_rising_and_flat(t, 10)
    state = t.state_dict()
    state["algorithm"]["stats"][entry][1] = -0.3
    u = mg.make_teacher(name, SPACE, seed=1)
    _feed_rising_and_flat(u, 3)
    before = u.state_dict()
    with pytest.raises(mg.errors.CheckpointError, match=rf"{entry}\[1\] = -0.3"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_epsilon_is_the_uniform_share_of_the_policy():
    # p = (1 - epsilon) * weights + epsilon / n: a task without progress keeps epsilon / n, no more
    t = LPBandit(SPACE, seed=0, epsilon=0.3, denoise=0.0)
    _feed_rising_and_flat(t)
    p = t.probabilities()
    assert p[1] == pytest.approx(0.3 / 3) and p[2] == pytest.approx(0.3 / 3)
    assert p[0] == pytest.approx(0.7 + 0.3 / 3)


def test_a_lower_sigmoid_temperature_sharpens():
    # the reference transform sigmoid(z / temperature): the task with above-average progress gains as T falls
    shares = []
    for temperature in (5.0, 1.0, 0.2):
        t = LPBandit(SPACE, seed=0, transform="sigmoid", temperature=temperature, epsilon=0.0, denoise=0.0)
        _feed_rising_and_flat(t)
        shares.append(t.probabilities()[0])
    assert shares[0] < shares[1] < shares[2]


def test_reweighted_progress_follows_the_documented_map():
    # f(p) = (1 - p_theta) p / (p + p_theta (1 - 2 p)) on both EMAs, then |f(fast) - f(slow)|; f(p_theta) = 1/2
    theta = 0.1
    t = LPBandit(SPACE, seed=0, reweight=theta, denoise=0.0)
    _feed_rising_and_flat(t)
    b = t.beliefs()
    fast, slow = np.asarray(b["fast"]), np.asarray(b["slow"])

    def f(p):
        return (1 - theta) * p / (p + theta * (1 - 2 * p))

    assert f(theta) == pytest.approx(0.5)
    np.testing.assert_allclose(t.progress(), np.abs(f(fast) - f(slow)), rtol=1e-12)
    assert t.progress()[0] > 0
