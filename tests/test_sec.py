"""Behaviour of the Self-Evolving Curriculum teacher ("sec")."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import magister as mg
from magister.teachers.sec import SEC

SPACE = mg.Discrete(["a", "b", "c"])


def test_q_update_by_hand():
    t = SEC(SPACE, seed=0, alpha=0.5, temperature=1.0, window=4)
    assert t.probabilities() == pytest.approx([1 / 3] * 3)
    t.observe_batch(["a", "a", "b"], [1.0, 0.0, 1.0])
    # a: p = 1/2 -> r = 2 sqrt(1/4) = 1 -> Q = 0.5 * 0 + 0.5 * 1 = 0.5
    # b: p = 1 -> r = 0 -> Q = 0;  c: absent, unchanged
    assert t.q == pytest.approx([0.5, 0.0, 0.0])
    e = [math.exp(0.5), 1.0, 1.0]
    assert t.probabilities() == pytest.approx([x / sum(e) for x in e])
    t.observe("b", 0.0)  # b's window [1, 0]: p = 1/2 -> r = 1 -> Q_b = 0.5
    assert t.q == pytest.approx([0.5, 0.5, 0.0])
    t.observe_batch(["a", "a"], [1.0, 1.0])  # a's window [1, 0, 1, 1]: p = 3/4, r = 2 sqrt(3/16)
    r = 2 * math.sqrt(0.75 * 0.25)
    assert t.q[0] == pytest.approx(0.5 * 0.5 + 0.5 * r)


def test_one_update_per_category_per_batch():
    batch = SEC(SPACE, seed=0, window=1)
    single = SEC(SPACE, seed=0, window=1)
    scores = [0.5, 0.5, 0.5, 0.5]
    batch.observe_batch(["a"] * 4, scores)
    for s in scores:
        single.observe("a", s)
    assert batch.q[0] == pytest.approx(0.5 * 1.0)  # one step toward r = 1
    assert single.q[0] == pytest.approx(1 - 0.5 ** 4)  # four steps
    assert batch.n_observed == single.n_observed == 4


def test_caller_supplied_reward():
    t = SEC(SPACE, seed=0, reward="score", alpha=0.25)
    t.observe_batch(["c", "c", "a"], [0.2, 0.6, 0.9])
    assert t.q == pytest.approx([0.25 * 0.9, 0.0, 0.25 * 0.4])


def test_temperature_sharpens():
    hot, cold = SEC(SPACE, seed=0, temperature=1.0), SEC(SPACE, seed=0, temperature=0.2)
    for t in (hot, cold):
        t.observe_batch(["a", "a", "b", "c"], [1.0, 0.0, 1.0, 0.0])
    assert cold.probabilities()[0] > hot.probabilities()[0] > 1 / 3


def test_prefers_categories_at_half_pass_rate():
    rng = np.random.default_rng(0)
    rates = {"a": 0.5, "b": 0.98, "c": 0.02}
    t = SEC(SPACE, seed=1, temperature=0.3)
    for _ in range(60):
        tasks = t.propose(8)
        t.observe_batch(tasks, [float(rng.random() < rates[x]) for x in tasks])
    p = t.probabilities()
    assert p[0] > 0.5 and p[0] > p[1] and p[0] > p[2]


def test_beliefs_shape():
    t = SEC(SPACE, seed=0)
    t.observe("a", 1.0)
    b = t.beliefs()
    json.dumps(b)
    assert b["kind"] == "discrete" and b["tasks"] == ["a", "b", "c"]
    assert sum(b["probability"]) == pytest.approx(1.0) and b["progress"] == pytest.approx(list(t.q))


def test_a_corrupt_score_window_is_refused_and_changes_nothing():
    """A NaN in the saved window of scores was accepted, and every probability became NaN at the next score."""
    t = SEC(SPACE, seed=0, window=4)
    for i in range(8):
        t.observe(t.propose(), float(i % 2))
    state, before = t.state_dict(), t.to_bytes()
    for key in ("window", "fast"):
        bad = dict(state, algorithm=dict(state["algorithm"]))
        stats = dict(bad["algorithm"]["stats"])
        stats[key] = np.array(stats[key], dtype=float, copy=True)
        stats[key].flat[0] = np.nan if key == "window" else np.inf
        bad["algorithm"]["stats"] = stats
        with pytest.raises(mg.errors.CheckpointError):
            t.load_state_dict(bad)
        assert t.to_bytes() == before, key


@pytest.mark.parametrize("kwargs", [{"alpha": 0}, {"alpha": 1.5}, {"temperature": 0}, {"reward": "advantage"},
                                    {"window": 0}, {"temperature": float("inf")}, {"temperature": float("nan")}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(mg.ConfigError):
        SEC(SPACE, **kwargs)


def test_a_tiny_temperature_gives_probabilities_not_nan():
    # temperature 1e-320 made Q / T overflow: NaN probabilities, and the last task proposed for ever
    t = mg.make_teacher("sec", mg.Discrete(3), seed=0, temperature=1e-320, reward="score")
    for _ in range(30):
        x = t.propose()
        t.observe(x, 1.0 if x == 1 else 0.0)
    p = np.asarray(t.beliefs()["probability"])
    assert np.isfinite(p).all() and abs(p.sum() - 1.0) < 1e-12 and p.max() == 1.0


@pytest.mark.parametrize("path", [("q",), ("last_reward",), ("stats", "fast"), ("stats", "window")])
@pytest.mark.parametrize("value", [-0.25, 1.5])
def test_a_saved_value_outside_zero_one_is_refused_and_changes_nothing(path, value):
    """Rewards, values and scores lie in [0, 1]: a tampered state with a negative value was loaded and drove the
    policy (q) or the next rewards (the score window)."""
    t = SEC(SPACE, seed=0, window=4)
    for i in range(9):
        t.observe(SPACE.task_at(i % 3), float(i % 2))
    state, before = t.state_dict(), t.to_bytes()
    entry = state["algorithm"]
    for key in path[:-1]:
        entry = entry[key]
    entry[path[-1]] = np.array(entry[path[-1]], dtype=float)
    entry[path[-1]].flat[1] = value
    with pytest.raises(mg.errors.CheckpointError, match=path[-1]):
        t.load_state_dict(state)
    assert t.to_bytes() == before
    fresh = SEC(SPACE, seed=0, window=4).state_dict()  # NaN last_reward and averages of unseen tasks still load
    t.load_state_dict(fresh)
    assert t.to_bytes() == SEC(SPACE, seed=0, window=4).to_bytes()


def test_category_rewards_refuses_what_is_no_batch_of_task_indices_and_scores():
    from magister.errors import InvalidScoreError, InvalidTaskError

    for reward in ("accuracy", "score"):
        t = SEC(SPACE, seed=0, reward=reward)
        before = json.dumps(t.beliefs(), sort_keys=True)
        # before: index 5 of 3 categories was numpy's raw IndexError (accuracy) or a category 5 rewarded (score);
        # -1 numpy's "'list' argument must have no negative elements", a fraction its casting TypeError
        for x in ([5], [-1], [0.5], [True]):
            with pytest.raises(InvalidTaskError, match="0 to 2"):
                t.category_rewards(np.array(x), np.array([0.5]))
        with pytest.raises(InvalidTaskError, match="flat array"):
            t.category_rewards(np.array([[0, 1]]), np.array([[0.5, 0.5]]))
        for scores in ([0.5], [0.5, "x"], [0.5, 1.5], [0.5, np.nan]):  # one score per index, in [0, 1]
            with pytest.raises(InvalidScoreError, match="one score in \\[0, 1\\]"):
                t.category_rewards(np.array([0, 1]), scores)
        assert json.dumps(t.beliefs(), sort_keys=True) == before
    t = SEC(SPACE, seed=0, reward="score")
    cats, r = t.category_rewards([0, 2, 0], [1.0, 0.5, 0.0])  # lists as arrays, as before
    assert cats.tolist() == [0, 2] and r.tolist() == [0.5, 0.5]


def test_observe_does_not_check_its_own_batches_again_in_category_rewards(monkeypatch):
    # b955e17's checks of category_rewards ran on every observe, on indices and scores observe had checked already:
    # a third more time per observed episode; the public method checks, observe's own path does not
    import magister.teachers.sec as sec_module

    def refuse(*args, **kwargs):
        raise AssertionError("observe checked its batch again")

    checked = SEC(SPACE, seed=0, reward="score")
    checked.observe(1, 0.5)
    monkeypatch.setattr(sec_module, "task_indices", refuse)
    for reward in ("accuracy", "score"):
        t = SEC(SPACE, seed=0, reward=reward)
        t.observe_batch([t.propose() for _ in range(3)], [1.0, 0.0, 0.5])
        t.observe(1, 0.5)
    assert t.to_bytes() != SEC(SPACE, seed=0, reward="score").to_bytes()
    assert t.last_reward[1] == checked.last_reward[1]
    with pytest.raises(AssertionError, match="checked its batch again"):  # the public method still checks
        t.category_rewards(np.array([0]), np.array([0.5]))


def test_the_pass_rate_is_the_mean_of_the_last_window_scores():
    # window 4: after 1, 1, 1, 1 then 0 the window is [1, 1, 1, 0], p = 3/4; the fifth score back is forgotten
    t = SEC(SPACE, seed=0, alpha=1.0, window=4)
    t.observe_batch(["a"] * 4, [1.0] * 4)
    assert t.q[0] == pytest.approx(0.0)  # p = 1: solved every time, no reward
    t.observe("a", 0.0)
    assert t.q[0] == pytest.approx(2 * math.sqrt(0.75 * 0.25))
    t.observe_batch(["a"] * 3, [0.0] * 3)  # [0, 0, 0, 0]
    assert t.q[0] == pytest.approx(0.0)


def test_a_mastered_category_is_set_aside():
    # set_aside=0.9 over a window of 5: five scores of 1 set "a" aside, its probability scaled by FACTOR (0.1) and
    # the policy renormalised
    from magister.set_aside import FACTOR

    aside = SEC(SPACE, seed=0, set_aside=0.9, set_aside_window=5)
    plain = SEC(SPACE, seed=0)
    for u in (aside, plain):
        u.observe_batch(["a", "b"] * 5, [1.0, 0.0] * 5)
    assert list(aside.beliefs()["set_aside"]) == [1.0, 0.0, 0.0]
    q = plain.probabilities()
    want = np.array([FACTOR * q[0], q[1], q[2]])
    assert aside.probabilities() == pytest.approx(want / want.sum())
