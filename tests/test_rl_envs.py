"""The parametric envs: registration, task checks, fixed test sets, learnable and unlearnable regions."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import magister as mg
from magister.errors import ConfigError, InvalidActionError
from magister.rl.envs import ENVS, CliffWalk, PointGap, evaluate, mastered

CLASSES = [CliffWalk, PointGap]


@pytest.mark.parametrize("env_id", sorted(ENVS))
def test_registered_and_passes_the_gymnasium_checker(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0, options={"task": env.unwrapped.task_space.sample(np.random.default_rng(0))})
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_task_is_refused_and_changes_nothing(cls):
    env = cls()
    good = np.array([0.3, 0.7])
    env.reset(seed=0, options={"task": good})
    for bad in ([1.5, 0.5], [0.5], [np.nan, 0.1], "hard"):
        with pytest.raises(mg.InvalidTaskError):
            env.reset(options={"task": bad})
        with pytest.raises(mg.InvalidTaskError):
            env.set_task(bad)
    np.testing.assert_array_equal(env.task, good)


@pytest.mark.parametrize("cls", CLASSES + ["maze"])
def test_a_refused_reset_task_leaves_the_env_generator_unseeded(cls):
    from magister.rl.envs import MazeEnv

    env, bad = (MazeEnv(), "not a maze") if cls == "maze" else (cls(), [1.5, 0.5])
    env.reset(seed=0)
    state = env.np_random.bit_generator.state
    with pytest.raises(mg.InvalidTaskError):
        env.reset(seed=123, options={"task": bad})  # before: the generator was reseeded with 123 first
    assert env.np_random.bit_generator.state == state
    env.reset(seed=123)  # a good reset still seeds
    assert env.np_random.bit_generator.state != state


@pytest.mark.parametrize("cls", CLASSES)
def test_episode_settings_that_make_no_sense_are_refused(cls):
    # before: horizon=0 silently meant the default 40 and -5 built an env whose episodes end at once;
    # evaluate(episodes=0) returned NaN rates with a warning, episodes=-1 a numpy error
    for bad in (0, -5, 2.5, True, float("nan")):
        with pytest.raises(mg.ConfigError, match="horizon"):
            cls(horizon=bad)
        with pytest.raises(mg.ConfigError, match="horizon"):
            evaluate(cls, cls.oracle, cls.test_set()[:3], horizon=bad)
        with pytest.raises(mg.ConfigError, match="episodes"):
            evaluate(cls, cls.oracle, cls.test_set()[:3], episodes=bad)
    assert cls(horizon=12).horizon_ == 12 and cls().horizon_ == cls.horizon
    assert evaluate(cls, cls.oracle, cls.test_set()[:3], episodes=2.0, horizon=40.0).shape == (3,)


@pytest.mark.parametrize("cls", CLASSES)
def test_evaluate_refuses_tasks_outside_the_space(cls):
    good = cls.test_set()[0]
    outside = np.array(good) + 5.0
    # before: a task outside the space, with a NaN or with a coordinate too many was played (a rate came
    # back), and a single task instead of a list gave numpy's "too many indices"
    for bad in ([outside], [np.append(good[:-1], np.nan)], [np.append(good, 0.5)], good):
        with pytest.raises(mg.InvalidTaskError, match="evaluate"):
            evaluate(cls, cls.oracle, bad, episodes=2)
    assert evaluate(cls, cls.oracle, [good], episodes=2).shape == (1,)


@pytest.mark.parametrize("cls", CLASSES)
def test_test_set_is_fixed(cls):
    a, b = cls.test_set(), cls.test_set()
    assert a.shape == (100, 2)
    np.testing.assert_array_equal(a, b)
    rng = np.random.Generator(np.random.PCG64(12345))  # the documented recipe
    np.testing.assert_array_equal(a, cls.task_space.from_unit_batch(rng.random((100, 2))))
    assert all(cls.task_space.contains(t) for t in a)


@pytest.mark.parametrize("cls", CLASSES)
def test_gym_env_and_batched_dynamics_agree(cls):
    env = cls()
    task = np.array([0.4, 0.3]) if cls is CliffWalk else np.array([0.3, 0.9])
    successes = []
    for seed in range(20):
        obs, _ = env.reset(seed=seed, options={"task": task})
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(int(cls.oracle(obs[None])[0]))
            done = term or trunc
        successes.append(info["is_success"])
    batched = evaluate(cls, cls.oracle, task[None], episodes=200, seed=0)[0]
    assert abs(np.mean(successes) - batched) < 0.3


def test_cliffwalk_regions():
    easy = np.array([[0.0, 0.0], [0.3, 0.1], [1.0, 0.0]])
    hard = np.array([[0.5, 0.9], [0.8, 0.8], [1.0, 0.6], [0.3, 1.0]])
    assert evaluate(CliffWalk, CliffWalk.oracle, easy, episodes=20).min() == 1.0
    # unlearnable: even the best walker fails
    assert evaluate(CliffWalk, CliffWalk.oracle, hard, episodes=50).max() < 0.05
    # sparse: a random walker almost never succeeds beyond the first cells
    rng = np.random.default_rng(0)
    far = np.array([[0.5, 0.0], [1.0, 0.0]])
    assert evaluate(CliffWalk, lambda o: rng.integers(0, 3, len(o)), far, episodes=200).max() < 0.02


def test_pointgap_regions():
    rng = np.random.default_rng(0)
    wide = np.array([[0.5, 1.0], [0.45, 0.9]])
    narrow_far = np.array([[0.0, 0.7], [1.0, 0.7]])
    closed = np.array([[0.5, 0.4], [0.1, 0.2], [0.9, 0.0]])
    assert evaluate(PointGap, PointGap.oracle, np.vstack([wide, narrow_far]), episodes=20).min() >= 0.9
    assert evaluate(PointGap, PointGap.oracle, closed, episodes=50).max() == 0.0  # no gap: cannot be learned
    random = evaluate(PointGap, lambda o: rng.integers(0, 4, len(o)), np.vstack([wide, narrow_far]), episodes=100)
    assert random.max() < 0.1  # sparse


def test_oracle_masters_a_real_share_but_not_all():
    for cls in CLASSES:
        share = mastered(evaluate(cls, cls.oracle, cls.test_set(), episodes=10))
        assert 0.3 < share < 0.9


def test_docs_count_the_pointgap_test_tasks_without_a_gap():
    """docs/rl.md said "about 40%" of PointGap's test tasks have no gap (``width <= 0.4``); 46 of the 100 have none,
    which is why the oracle masters 52% of them."""
    rl = (Path(__file__).resolve().parents[1] / "docs" / "rl.md").read_text()
    m = re.search(r"(\d+) of the 100 test tasks have no gap", rl)
    assert m, "docs/rl.md no longer counts PointGap's test tasks without a gap in the form this test reads"
    assert int(m.group(1)) == int((PointGap.test_set()[:, 1] <= 0.4).sum())


@pytest.mark.parametrize("env_cls", [CliffWalk, PointGap])
def test_an_action_outside_the_action_space_is_refused_and_costs_no_step(env_cls):
    # CliffWalk().step(7) acted as "no move" and used up a step of the episode
    env = env_cls()
    env.reset(seed=0)
    before = {k: np.copy(v) for k, v in env._state.items()}
    n = env.action_space.n
    for bad in (n, -1, 1.5, True, "1", np.array([0, 1]), [[0], [0, 1]], np.timedelta64(1, "s"), np.timedelta64(1)):
        # a plain ValueError before: magister's own error, naming the valid actions (still a ValueError); ragged
        # lists were numpy's "inhomogeneous shape" ValueError, a timedelta64 (an integer to numpy) Python's raw
        # TypeError, or action 1 without a unit
        with pytest.raises(InvalidActionError, match=rf"{env_cls.__name__} actions are the whole numbers 0\.\.{n - 1}"):
            env.step(bad)
    assert all(np.array_equal(before[k], env._state[k]) for k in before)
    env.step(np.int64(n - 1))  # numpy integers (what vector envs and PPO pass) are actions
    env.step(0)


@pytest.mark.parametrize("env_cls", [CliffWalk, PointGap])
def test_evaluate_refuses_actions_outside_the_action_space(env_cls):
    # CliffWalk's 7 played as standing still and PointGap's -1 as "right", silently; PointGap's 4 was an IndexError
    tasks = env_cls.test_set()[:3]
    n = env_cls().action_space.n
    for bad in (lambda o: np.full(len(o), n), lambda o: np.full(len(o), -1), lambda o: np.full(len(o), 1.5),
                lambda o: np.zeros(len(o) + 1, dtype=np.int64)):
        with pytest.raises(ConfigError, match="one action per episode"):  # (a ValueError, as it was)
            evaluate(env_cls, bad, tasks, episodes=2)
    # whole floats and an (n, 1) column still play, as before
    assert evaluate(env_cls, lambda o: np.zeros(len(o)), tasks, episodes=2).shape == (3,)
    assert evaluate(env_cls, lambda o: np.zeros((len(o), 1), dtype=np.int64), tasks, episodes=2).shape == (3,)


def test_mastered_refuses_rates_and_thresholds_that_are_not_shares():
    # a threshold of 80 (a percentage) mastered nothing and rates in percent all mastered, silently; no rates
    # gave NaN with numpy's RuntimeWarnings
    assert mastered([0.9, 0.5]) == 0.5 and mastered([0.8], threshold=0.8) == 1.0
    for rates, kwargs, message in [([0.9], {"threshold": 80}, "threshold must be a number in"),
                                   ([90, 50], {}, r"shares in \[0, 1\]"), ([], {}, "one or more"),
                                   ([float("nan")], {}, "shares"), (["x"], {}, "shares")]:
        with pytest.raises(ConfigError, match=message):
            mastered(rates, **kwargs)


@pytest.mark.parametrize("env_cls", [CliffWalk, PointGap])
def test_reset_refuses_options_that_are_not_a_dict(env_cls):
    # options=3 raised "argument of type 'int' is not iterable"; options="task" read a character of the text as a task
    from magister.errors import SettingTypeError

    env = env_cls()
    env.reset(seed=0, options={"task": env_cls.task_space.low})
    task = env._task.copy()
    for options in (3, "task", ["task"], "x"):
        with pytest.raises(SettingTypeError, match=rf"{env_cls.__name__}\.reset\(options=...\) takes a dict"):
            env.reset(seed=1, options=options)
        assert (env._task == task).all()
