"""The blend of learner models: weights from held-out learners, replay equals the loop, save/load, bad settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magister.errors import ConfigError
from magister.people import Event, EventLog, load_assist2015, load_model, make_model
from magister.people.base import LearnerModel
from magister.people.blend import _stack
from magister.people.evaluate import auc

DATA = Path(__file__).parent / "data" / "people"


@pytest.fixture(scope="module")
def slice_log():
    return load_assist2015(DATA / "assist2015_slice.csv", max_learners=80)


def test_stack_recovers_known_weights():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(20000, 2))
    y = (rng.random(20000) < 1 / (1 + np.exp(-(0.3 + 1.5 * z[:, 0] - 0.5 * z[:, 1])))).astype(float)
    np.testing.assert_allclose(_stack(z, y, l2=0.0), [0.3, 1.5, -0.5], atol=0.08)


def test_weights_favour_the_informative_member_and_the_blend_beats_the_weak_one(slice_log):
    train = slice_log.subset(slice_log.learner < 60)
    test = slice_log.subset(slice_log.learner >= 60)
    m = make_model("blend", members=["best-lr", ["bkt", {"forgets": False}]], valid_fraction=0.3, seed=1)
    m.fit(train)
    w = m.member_weights()
    assert set(w) == {"intercept", "best-lr", "bkt"} and w["best-lr"] > 0
    p = m.replay(test)
    assert np.all((p > 0) & (p < 1))
    assert auc(test.correct, p) >= auc(test.correct, make_model("bkt", forgets=False).fit(train).replay(test)) - 0.02


def test_replay_equals_the_loop_and_save_load_round_trips(tmp_path, slice_log):
    m = make_model("blend", members=["best-lr", "elo"], seed=0).fit(slice_log)
    part = slice_log.subset(np.arange(len(slice_log)) < 400)
    m.reset()
    start = m.get_state()
    fast = m.replay(part)
    m.set_state(start)
    slow = LearnerModel.replay(m, part)
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    m.save(tmp_path / "b.ckpt")
    again = load_model(tmp_path / "b.ckpt")
    assert type(again) is type(m) and again.settings == m.settings
    np.testing.assert_array_equal(again.weights, m.weights)
    e = Event(slice_log.learners[0], slice_log.items[0], (slice_log.skills[0],), 1e6, 1.0)
    assert again.predict(e.learner, e.item) == m.predict(e.learner, e.item)
    skill = slice_log.skills[0]
    assert again.state(e.learner)[skill] == m.state(e.learner)[skill]
    assert 0.0 < m.mastery(e.learner, skill) < 1.0
    m.update(e)
    again.update(e)
    assert again.mastery(e.learner, skill) == pytest.approx(m.mastery(e.learner, skill))


def test_nothing_held_out_averages_the_logits(slice_log):
    m = make_model("blend", members=["best-lr", "elo"], valid_fraction=0.0).fit(slice_log)
    np.testing.assert_allclose(m.weights, [0.0, 0.5, 0.5])


@pytest.mark.parametrize("bad", [{"members": []}, {"members": ["nope"]}, {"members": [["elo", 3]]},
                                 {"valid_fraction": 1.0}, {"mastery_threshold": 2.0}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        make_model("blend", **bad)


def test_unfitted_or_empty_is_refused(slice_log):
    m = make_model("blend", members=["elo"])
    with pytest.raises(ConfigError, match="not fitted"):
        m.predict("ana", "q")
    with pytest.raises(ConfigError, match="at least one event"):
        m.fit(EventLog.from_events([]))
