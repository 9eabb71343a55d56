"""Behaviour of the EXP3 online-data-mixing teacher ("exp3")."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import magister as mg
from magister.teachers.exp3 import EXP3


def _softmax(v):
    m = max(v)
    e = [math.exp(x - m) for x in v]
    return [x / sum(e) for x in e]


def _eps(t, k):
    return 1 / k if t == 0 else min(1 / k, math.sqrt(math.log(k) / (k * t)))


def test_probabilities_match_hand_computation():
    """Three outcomes on two tasks, with every step worked out by hand."""
    space = mg.Discrete(["a", "b"])
    t = EXP3(space, seed=0, smoothing=0.9, reward="score")
    # step 1: eps_1 = min(1/2, sqrt(ln 2 / 2)) = 1/2, so the policy is uniform
    assert t.probabilities() == pytest.approx([0.5, 0.5])
    t.observe("a", 1.0)  # R_a = 0.1 * 1.0 / 0.5 = 0.2
    assert t.estimates == pytest.approx([0.2, 0.0])
    # step 2: eps_2 = sqrt(ln 2 / 4) = 0.41627, logits eps_1 * R = [0.1, 0]
    e2 = math.sqrt(math.log(2) / 4)
    sm = _softmax([0.1, 0.0])
    pi2 = [(1 - 2 * e2) * s + e2 for s in sm]
    assert t.probabilities() == pytest.approx(pi2)
    assert pi2[0] == pytest.approx(0.5041, abs=1e-4)
    t.observe("b", 0.4)  # R_b = 0.1 * 0.4 / pi2[b]
    rb = 0.1 * 0.4 / pi2[1]
    # step 3: eps_3 = sqrt(ln 2 / 6), logits eps_2 * R
    e3 = math.sqrt(math.log(2) / 6)
    sm = _softmax([e2 * 0.2, e2 * rb])
    pi3 = [(1 - 2 * e3) * s + e3 for s in sm]
    assert t.probabilities() == pytest.approx(pi3)
    t.observe("a", 0.0)  # R_a = 0.9 * 0.2 + 0.1 * 0 / pi3[a] = 0.18
    assert t.estimates == pytest.approx([0.18, rb])
    e4 = math.sqrt(math.log(2) / 8)
    sm = _softmax([e3 * 0.18, e3 * rb])
    assert t.probabilities() == pytest.approx([(1 - 2 * e4) * s + e4 for s in sm])
    assert t.beliefs()["probability"] == pytest.approx([(1 - 2 * e4) * s + e4 for s in sm])


def test_cumulative_exp3_without_smoothing():
    space = mg.Discrete(3)
    t = EXP3(space, seed=0, smoothing=None, reward="score")
    t.observe(2, 0.6)  # pi = 1/3 -> R_2 = 1.8
    t.observe(2, 0.6)  # t = 2 <= K ln K: still uniform -> R_2 = 3.6
    assert t.estimates == pytest.approx([0, 0, 3.6])


def test_exploration_schedule():
    t = EXP3(mg.Discrete(10), seed=0, reward="score")
    for step in (1, 5, 23, 24, 100, 10_000):
        assert t.exploration(step) == pytest.approx(_eps(step, 10))
    assert t.exploration(10_000) < t.exploration(100) < t.exploration(1) == pytest.approx(0.1)
    # the default (progress rewards) keeps at least 20% uniform proposals: eps_t >= 0.2 / K
    d = EXP3(mg.Discrete(10), seed=0)
    assert d.exploration(10_000) == pytest.approx(0.02) and d.exploration(1) == pytest.approx(0.1)


def _run(t, good, scores, steps=300):
    for _ in range(steps):
        task = t.propose()
        t.observe(task, scores[0] if task == good else scores[1])
    return t.probabilities()


def test_reward_score_prefers_the_high_scoring_task():
    space = mg.Discrete(["good", "bad"])
    smoothed = _run(EXP3(space, seed=0, reward="score"), "good", (1.0, 0.0))
    scaled = _run(EXP3(space, seed=0, reward="score", scale=4.0), "good", (1.0, 0.0))
    classic = _run(EXP3(space, seed=0, reward="score", smoothing=None), "good", (1.0, 0.0))
    assert 0.5 < smoothed[0] < scaled[0]
    assert classic[0] > 0.8


def test_reward_loss_with_a_loss_score_range_prefers_high_loss():
    """The paper's convention: losses declared with higher_is_better=False, reward='loss'."""
    loss_range = mg.ScoreRange(0.0, 10.0, higher_is_better=False)
    t = EXP3(mg.Discrete(["hard", "easy"]), seed=0, reward="loss", score_range=loss_range, smoothing=None)
    t.observe("hard", 8.0)  # score 0.2, reward = loss / 10 = 0.8, pi = 0.5
    assert t.estimates[0] == pytest.approx(0.8 / 0.5)
    p = _run(t, "hard", (8.0, 1.0))
    assert p[0] > 0.8 > p[1]


def test_reward_progress_prefers_the_changing_task():
    t = EXP3(mg.Discrete(["moving", "flat"]), seed=0, reward="progress", smoothing=None)
    k = 0
    for _ in range(300):
        task = t.propose()
        if task == "moving":
            k += 1
        t.observe(task, min(1.0, 0.01 * k) if task == "moving" else 0.5)
    assert t.probabilities()[0] > t.probabilities()[1]
    assert "progress" in t.beliefs()


def test_default_progress_reward_is_not_drawn_to_a_noisy_task():
    """0/1 outcomes at a steady 50% look like progress; the default discounts that noise."""
    def share(seed, **kw):
        t = EXP3(mg.Discrete(["learning", "noisy", "done"]), seed=seed, **kw)
        rng = np.random.default_rng(0)
        practice, picks = 0, {"learning": 0, "noisy": 0, "done": 0}
        for _ in range(400):
            task = t.propose()
            picks[task] += 1
            if task == "learning":
                p, practice = min(1.0, practice / 80), practice + 1
            else:
                p = 0.5 if task == "noisy" else 1.0
            t.observe(task, float(rng.random() < p))
        return picks
    for seed in (0, 1, 2):
        default, raw = share(seed), share(seed, denoise=0.0)
        assert default["noisy"] < raw["noisy"]
        assert default["learning"] > default["done"]  # a mastered task shows no progress


def test_long_runs_stay_finite():
    t = EXP3(mg.Discrete(4), seed=0, smoothing=None, reward="score")
    tasks = np.zeros(20_000, dtype=int)
    t.observe_batch(tasks, np.ones(20_000))
    p = t.probabilities()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    assert p[0] > 0.9 and (p >= t.exploration(t.t) - 1e-12).all()


def test_beliefs_shape():
    t = EXP3(mg.Discrete(["x", "y", "z"]), seed=0)
    t.observe("x", 0.5)
    b = t.beliefs()
    json.dumps(b)
    assert b["kind"] == "discrete" and b["tasks"] == ["x", "y", "z"]
    assert sum(b["probability"]) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [{"reward": "gain"}, {"smoothing": 1.0}, {"smoothing": -0.1},
                                    {"reward": "progress", "fast": 0.01, "slow": 0.1}, {"scale": 0},
                                    {"min_exploration": 1.5}, {"denoise": -1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(mg.ConfigError):
        EXP3(mg.Discrete(3), **kwargs)


def test_single_task_space():
    t = EXP3(mg.Discrete(1), seed=0)
    t.observe(0, 0.3)
    assert t.probabilities() == pytest.approx([1.0]) and t.propose() == 0


@pytest.mark.parametrize("path", [("estimates",), ("stats", "fast"), ("stats", "slow"), ("stats", "last")])
@pytest.mark.parametrize("value", [-0.5, np.nan])
def test_a_negative_saved_estimate_or_average_is_refused_and_changes_nothing(path, value):
    """Every reward is >= 0, so every estimate is, and averages of [0, 1] scores lie in [0, 1]: a tampered state
    with a negative one was loaded and drove the policy."""
    t = EXP3(mg.Discrete(3), seed=0)
    for i in range(12):
        t.observe(i % 3, 0.2 + 0.05 * i)
    state, before = t.state_dict(), t.to_bytes()
    entry = state["algorithm"]
    for key in path[:-1]:
        entry = entry[key]
    entry[path[-1]] = np.array(entry[path[-1]], dtype=float)
    entry[path[-1]][1] = value
    with pytest.raises(mg.errors.CheckpointError, match=path[-1]):
        t.load_state_dict(state)
    assert t.to_bytes() == before


@pytest.mark.parametrize("setting, value", [("smoothing", np.float32(0.5)), ("scale", np.int64(50)),
                                            ("min_exploration", np.float32(0.25)), ("denoise", np.int64(2))])
def test_numpy_numbers_are_valid_settings(setting, value):
    # np.float32(0.5) was refused with "must be ... in [0, 1), got np.float32(0.5)"
    t = mg.make_teacher("exp3", mg.Discrete(3), seed=0, **{setting: value})
    assert getattr(t, setting) == float(value)
    t.observe(0, 0.5)
    again = mg.loads(t.to_bytes())
    assert again.propose(5) == t.propose(5)
    with pytest.raises(mg.errors.ConfigError):
        mg.make_teacher("exp3", mg.Discrete(3), **{setting: np.bool_(True)})


def test_exploration_refuses_what_is_no_step():
    from magister.errors import ConfigError

    t = EXP3(mg.Discrete(10), seed=0, reward="score")
    # before: None and text were Python's raw TypeError ("'<=' not supported"), NaN and -3 gave 1/K silently
    for bad in (None, "3", True):
        with pytest.raises(TypeError, match="whole number >= 0"):
            t.exploration(bad)
    for bad in (-3, 2.5, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="whole number >= 0"):
            t.exploration(bad)
    assert t.exploration(np.int64(100)) == t.exploration(100.0) == t.exploration(100) == pytest.approx(_eps(100, 10))
    assert t.exploration(0) == pytest.approx(0.1)


def test_the_policy_does_not_check_its_own_steps_in_exploration(monkeypatch):
    # b955e17's checks of the public exploration(t) ran twice per policy, on the policy's own steps (self.t, self.t
    # - 1); the public method checks, the policy's own path does not
    def run(teacher):
        for i in range(20):
            teacher.observe(teacher.propose(), float(i % 3 == 0))
        return teacher

    ref = run(mg.make_teacher("exp3", mg.Discrete(4), seed=0))

    def refuse(self, step):
        raise AssertionError("the policy checked its own step")

    monkeypatch.setattr(EXP3, "exploration", refuse)
    t = run(mg.make_teacher("exp3", mg.Discrete(4), seed=0))
    assert t.to_bytes() == ref.to_bytes()
    monkeypatch.undo()
    with pytest.raises(mg.errors.ConfigError):  # the public method still checks
        t.exploration(-1)


def test_the_policy_of_far_apart_estimates_is_the_softmax_without_overflow():
    # "a max-shifted softmax, so weights never overflow however long the run": logits 1e5 apart give the
    # highest-estimate task all but the exploration share
    t = EXP3(mg.Discrete(3), seed=0, reward="score")
    for _ in range(20):
        t.observe(0, 0.5)
    state = t.state_dict()
    state["algorithm"]["estimates"] = np.array([0.0, 1e6, 5e5])
    t.load_state_dict(state)
    eps = t.exploration(t.t)
    p = t.probabilities()
    assert np.isfinite(p).all()
    assert p == pytest.approx([eps, 1 - 2 * eps, eps])


def test_the_progress_reward_discounts_denoise_standard_deviations_of_noise():
    # r = max(|fast - slow| - denoise * noise, 0), and R_i <- a R_i + (1 - a) scale r / pi_i
    t = EXP3(mg.Discrete(2), seed=0, reward="progress", denoise=2.0, smoothing=0.5, scale=1.0, min_exploration=0.0)
    rewarded = 0
    for s in [0.0] * 6 + [1.0] * 12:
        pi, before = t.probabilities()[0], t.estimates[0]
        t.observe(0, s)
        st = t.stats
        r = max(abs(st.fast[0] - st.slow[0]) - 2.0 * st.noise_of(0), 0.0)
        rewarded += r > 0
        assert t.estimates[0] == pytest.approx(0.5 * before + 0.5 * r / pi)
    assert rewarded >= 3


def test_a_mastered_task_is_set_aside():
    # set_aside=0.9 over a window of 5: five scores of 1 set task 0 aside, its probability scaled by FACTOR (0.1)
    # and the policy renormalised
    from magister.set_aside import FACTOR

    aside = EXP3(mg.Discrete(3), seed=0, reward="score", set_aside=0.9, set_aside_window=5)
    plain = EXP3(mg.Discrete(3), seed=0, reward="score")
    for u in (aside, plain):
        for _ in range(5):
            u.observe(0, 1.0)
    assert list(aside.beliefs()["set_aside"]) == [1.0, 0.0, 0.0]
    q = plain.probabilities()
    want = np.array([FACTOR * q[0], q[1], q[2]])
    assert aside.probabilities() == pytest.approx(want / want.sum())
