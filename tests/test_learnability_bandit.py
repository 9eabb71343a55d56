"""Behaviour of the learnability bandit ("learnability-bandit")."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.teachers.learnability_bandit import LearnabilityBandit


def test_probabilities_by_hand():
    t = LearnabilityBandit(mg.Discrete(4), rate=0.5, epsilon=0.2, seed=0)
    assert t.probabilities() == pytest.approx([0.25] * 4), "unseen tasks all have the prior 1/2"
    t.observe_batch([0, 1, 2], [1.0, 0.0, 0.5])  # first scores are taken as they are
    w = np.array([0.0, 0.0, 0.25, 0.25])
    assert t.probabilities() == pytest.approx(0.8 * w / w.sum() + 0.05)
    t.observe(2, 1.0)  # EMA: 0.5 + 0.5 * (1 - 0.5)
    assert t.pass_rate[2] == pytest.approx(0.75)
    assert t.learnability()[2] == pytest.approx(0.1875)


def test_all_solved_or_unsolvable_falls_back_to_uniform():
    t = LearnabilityBandit(mg.Discrete(3), epsilon=0.0, seed=0)
    t.observe_batch([0, 1, 2], [1.0, 0.0, 1.0])
    assert t.probabilities() == pytest.approx([1 / 3] * 3)


def test_spends_its_proposals_on_tasks_solved_half_the_time():
    rates = np.array([0.02, 0.5, 0.98, 0.4, 1.0])
    t = mg.make_teacher("learnability-bandit", mg.Discrete(5), seed=0)
    rng = np.random.default_rng(1)
    picks = np.zeros(5)
    for _ in range(2000):
        i = t.propose()
        picks[i] += 1
        t.observe(i, float(rng.random() < rates[i]))
    share = picks / picks.sum()
    assert share[1] + share[3] > 0.75
    assert share[4] < 0.05 and share[0] < 0.1


def test_settings_are_checked():
    for kw, match in [({"rate": 0.0}, "rate"), ({"prior": 1.5}, "prior"), ({"epsilon": -0.1}, "epsilon"),
                      ({"temperature": 0}, "temperature")]:
        with pytest.raises(mg.MagisterError, match=match):
            LearnabilityBandit(mg.Discrete(3), **kw)


def test_a_very_low_temperature_concentrates_instead_of_falling_back_to_uniform():
    # 0.25 ** 1000 underflows to 0 for every task: the weights used to sum to 0 and the policy went uniform
    t = LearnabilityBandit(mg.Discrete(3), temperature=0.001, epsilon=0.0, seed=0)
    t.observe_batch([0, 1, 2], [0.5, 0.9, 0.99])
    p = t.probabilities()
    assert np.isfinite(p).all() and p[0] == pytest.approx(1.0)
