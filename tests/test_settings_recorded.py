"""Issue 12, item 11: a checkpoint keeps the effective settings of its teacher.

A teacher saved with its constructor defaults must come back with those same
settings even if the defaults are retuned before it is loaded (a new release,
a monkeypatch here): otherwise a resumed run silently changes its proposals.
"""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.people.policies import PeoplePolicy
from magister.teachers.riac_plus import RIACPlus
from magister.testing import ToyLearner, _drive


def _continue(teacher, learner, steps=60):
    return np.array([teacher.space.to_unit(t) for t in _drive(teacher, learner, steps)])


def test_riac_plus_resumes_with_its_saved_defaults_after_a_retune(tmp_path, monkeypatch):
    space = mg.Box([0.0, 0.0], [1.0, 1.0])
    t = mg.make_teacher("riac-plus", space, seed=3)
    learner = ToyLearner(space)
    _drive(t, learner, 150)
    t.save(tmp_path / "t.ckpt")
    cfg = t.config()
    # the effective settings, defaults included, RIAC's own and RIAC+'s retuned ones
    assert cfg["max_points"] == 40 and cfg["lp_window"] == 12 and cfg["n_cuts"] == 50 and cfg["leaves_only"] is True
    twin_learner = ToyLearner(space)
    twin_learner.competence = learner.competence.copy()
    monkeypatch.setitem(RIACPlus.DEFAULTS, "max_points", 400)
    monkeypatch.setitem(RIACPlus.DEFAULTS, "lp_window", 100)
    u = mg.load(tmp_path / "t.ckpt")
    assert u.config() == cfg and u.tree.max_points == 40
    assert np.array_equal(_continue(u, twin_learner), _continue(t, learner))


@pytest.mark.parametrize("name", ["mastery-learning", "difficulty-band", "spaced-review", "max-information"])
def test_people_policies_record_every_setting_and_their_model(name, tmp_path, monkeypatch):
    space = mg.Discrete(["a", "b", "c", "d"])
    t = mg.make_teacher(name, space, seed=0)
    for _ in range(12):
        x = t.propose()
        t.observe(x, 1.0 if x in ("a", "b") else 0.0)
    t.save(tmp_path / "p.ckpt")
    cfg = t.config()
    assert cfg["model"] == t.model.name and cfg["explore"] == 0.0 and cfg["minutes_per_answer"] == 1.0
    # retune every default of the shared base and the default learner model
    kw = dict(PeoplePolicy.__init__.__wrapped__.__kwdefaults__ if hasattr(PeoplePolicy.__init__, "__wrapped__")
              else PeoplePolicy.__init__.__kwdefaults__)
    target = getattr(PeoplePolicy.__init__, "__wrapped__", PeoplePolicy.__init__)
    monkeypatch.setattr(target, "__kwdefaults__", {**kw, "explore": 0.5, "minutes_per_answer": 9.0})
    monkeypatch.setattr(type(t), "default_model", "elo" if t.model.name != "elo" else "bkt")
    if name == "spaced-review":
        monkeypatch.setattr(type(t), "default_model", "fsrs")
    u = mg.load(tmp_path / "p.ckpt")
    assert u.config() == cfg and u.explore == 0.0 and u.step == 60.0 and u.model.name == t.model.name
    assert [u.propose() for _ in range(20)] == [t.propose() for _ in range(20)]
