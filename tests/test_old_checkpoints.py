"""Checkpoints written by older commits of magister (``tests/data/old_checkpoints``, made by its
``make_old_checkpoints.py`` under those commits) load with this one and go on as their teachers did."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import magister as mg
from magister.checkpoint import load_state
from magister.errors import CheckpointError
from magister.levels.spaces import MazeSpace
from magister.testing import ToyLearner

DATA = Path(__file__).parent / "data" / "old_checkpoints"
EXPECTED = json.loads((DATA / "expected.json").read_text())
_spec = importlib.util.spec_from_file_location("make_old_checkpoints", DATA / "make_old_checkpoints.py")
assert _spec is not None and _spec.loader is not None
maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maker)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_old_checkpoint_goes_on_as_the_teacher_that_saved_it(name):
    """A setting added after a checkpoint was saved took today's default when magister.load rebuilt it: an old
    riac went on with cuts='region' and child_lp='last', riac-plus with binary_noise, covar-gmm-plus with
    binary_moments, exp3 with a noise discount and a uniform floor, each another algorithm than the one that
    saved it; a people policy predating its `model` setting and a plr checkpoint of a MazeSpace predating its
    `labyrinths` were refused outright. Each now proposes what the old magister proposed after the save."""
    saved = EXPECTED[name]
    teacher = mg.load(DATA / name)
    if saved["probability"] is not None:
        np.testing.assert_allclose(teacher.beliefs()["probability"], saved["probability"], rtol=0, atol=1e-12)
    learner = ToyLearner(teacher.space)
    learner.competence = np.array(saved["competence"])
    assert maker.drive(teacher, maker.Scorer(learner, saved["scores"], saved["count"]), 15) == saved["after"]


def test_a_strict_load_into_a_teacher_built_today_names_the_settings_the_checkpoint_predates():
    state = load_state(DATA / "riac-c02d77a.mg")
    box = mg.space_from_spec(state["space"])
    today = mg.make_teacher("riac", box, max_points=30, min_width=0.1)
    before = today.state_dict()
    with pytest.raises(CheckpointError, match=r"child_lp: saved before the setting existed \(as 'best'\), here "
                                              r"'last'.*cuts: saved before the setting existed \(as 'valid'\)"):
        today.load_state_dict(state)
    assert mg.checkpoint.states_equal(before, today.state_dict())
    old = mg.make_teacher("riac", box, max_points=30, min_width=0.1, balance=True, cuts="valid", child_lp="best")
    old.load_state_dict(state)
    assert mg.checkpoint.states_equal(old.state_dict()["algorithm"], mg.load(DATA / "riac-c02d77a.mg").state_dict()["algorithm"])


def test_a_state_saved_today_keeps_its_settings_and_a_maze_space_spec_without_labyrinths_is_the_same_space(tmp_path):
    """The settings of older checkpoints never replace ones a checkpoint holds (a riac saved today with the
    default child_lp='last' resumes with it); a MazeSpace spec saved before `labyrinths` existed is the space
    MazeSpace(6, wall_density=0.2) (it was refused as another space, also by magister.load)."""
    t = mg.make_teacher("riac", mg.Box([0, 0], [1, 1]), seed=0)
    t.save(tmp_path / "t.mg")
    assert mg.load(tmp_path / "t.mg").config()["child_lp"] == "last"
    level = mg.make_teacher("plr", MazeSpace(6, wall_density=0.2), capacity=8, replay_prob=0.6)
    level.load_state_dict(load_state(DATA / "plr-a6d536f.mg"))
    assert level.n_observed == 120


def test_an_old_checkpoint_lacking_state_this_magister_needs_is_refused_naming_the_entry_and_the_fix():
    """lp-bandit at 030ed2a kept no noise estimates: the load said only "malformed (KeyError: 'var')"."""
    with pytest.raises(CheckpointError, match=r"lacks the entry 'var', which an older magister's 'lp-bandit' did "
                                              r"not save.*go on with the magister that saved it, or start"):
        mg.load(DATA / "lp-bandit-030ed2a.mg")
