"""Behaviour of the scripted curriculum teacher ("sequential")."""

from __future__ import annotations

import json

import numpy as np
import pytest

import magister as mg
from magister.teachers.sequential import Sequential

SPACE = mg.Discrete(["easy", "hard", "expert"])
TWO_STAGES = [
    {"tasks": ["easy"], "until": {"mean_score": 0.8, "window": 5}},
    {"tasks": ["easy", "hard"], "weights": [1, 3]},
]


def test_advances_exactly_when_the_mean_reaches_the_threshold():
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    assert t.probabilities() == pytest.approx([1, 0, 0])
    for s in [1.0, 1.0, 1.0, 1.0]:  # only 4 of the 5 episodes the window needs
        t.observe("easy", s)
        assert t.stage == 0
    t.observe("hard", 1.0)  # not a task of this stage: does not count toward the mean
    assert t.stage == 0
    t.observe("easy", 0.0)  # window [1, 1, 1, 1, 0]: mean 0.8 -> advance now
    assert t.stage == 1
    assert t.probabilities() == pytest.approx([0.25, 0.75, 0.0])
    assert t.beliefs()["stage"] == 1


def test_mean_below_threshold_does_not_advance():
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    for s in [1.0, 1.0, 1.0, 0.5, 0.4, 0.9]:  # windows: ... mean 0.78, then 0.76
        t.observe("easy", s)
    assert t.stage == 0
    t.observe("easy", 1.0)  # last 5: [1, 0.5, 0.4, 0.9, 1] -> 0.76
    assert t.stage == 0
    t.observe("easy", 1.0)  # [0.5, 0.4, 0.9, 1, 1] -> 0.76
    t.observe("easy", 1.0)  # [0.4, 0.9, 1, 1, 1] -> 0.86
    assert t.stage == 1


def test_episode_counts_and_combinations():
    stages = [
        {"tasks": "easy", "until": {"episodes": 3}},
        {"tasks": ["hard"], "until": {"all": [{"episodes": 4}, {"mean_score": 0.5, "window": 2}]}},
        {"tasks": ["expert"], "until": {"any": [{"episodes": 2}, {"mean_score": 0.9, "window": 1}]}},
        {"tasks": "all"},
    ]
    t = Sequential(SPACE, stages=stages, seed=0)
    t.observe_batch(["easy", "expert"], [0.0, 0.0])
    assert t.stage == 0
    t.observe("hard", 0.0)  # 3rd episode of any task in stage 0
    assert t.stage == 1
    t.observe_batch(["hard", "hard"], [1.0, 1.0])  # mean ok, 2 episodes only
    assert t.stage == 1
    t.observe("easy", 0.0)
    assert t.stage == 1
    t.observe("hard", 1.0)  # 4 episodes and last two hard scores [1, 1]
    assert t.stage == 2
    t.observe("expert", 0.95)  # "any": the mean over 1 episode is enough
    assert t.stage == 3 and t.probabilities() == pytest.approx([1 / 3] * 3)


def _per_task_stages(mean_score: float) -> Sequential:
    """Stage 0 (easy, hard) until each task's mean over its own last 2 episodes reaches ``mean_score``; then expert."""
    return Sequential(SPACE, stages=[{"tasks": ["easy", "hard"],
                                      "until": {"mean_score": mean_score, "window": 2, "per_task": True}},
                                     {"tasks": "expert"}], seed=0)


def test_per_task_condition_needs_every_task():
    t = _per_task_stages(0.7)
    t.observe_batch(["easy", "easy", "easy"], [1.0, 1.0, 1.0])
    assert t.stage == 0
    t.observe("hard", 1.0)
    assert t.stage == 0
    t.observe("hard", 0.6)  # hard: [1, 0.6] mean 0.8 -> both tasks pass
    assert t.stage == 1


def test_last_stage_condition_marks_finished():
    t = Sequential(SPACE, stages=[{"tasks": "easy", "until": {"episodes": 2}}], seed=0)
    t.observe("easy", 0.1)
    assert not t.beliefs()["finished"]
    t.observe("easy", 0.1)
    b = t.beliefs()
    assert b["finished"] and b["stage"] == 0 and b["n_stages"] == 1
    assert set(t.propose(20)) == {"easy"}


def test_proposals_come_from_the_stage():
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    assert set(t.propose(100)) == {"easy"}
    t.observe_batch(["easy"] * 5, [1.0] * 5)
    props = t.propose(4000)
    assert "expert" not in props
    assert props.count("hard") / 4000 == pytest.approx(0.75, abs=0.03)
    mixed = Sequential(SPACE, stages=TWO_STAGES, seed=0, epsilon=0.3)
    assert mixed.probabilities() == pytest.approx([0.8, 0.1, 0.1])


def test_a_numpy_epsilon_is_taken_and_a_nan_one_refused():
    # np.float32(0.3) was refused as "epsilon is the uniform-exploration share in [0, 1]"
    mixed = Sequential(SPACE, stages=TWO_STAGES, seed=0, epsilon=np.float32(0.3))
    assert mixed.probabilities() == pytest.approx([0.8, 0.1, 0.1])
    with pytest.raises(mg.ConfigError, match="epsilon"):
        Sequential(SPACE, stages=TWO_STAGES, epsilon=float("nan"))


def test_task_weights_dict_indices_and_multidiscrete():
    t = Sequential(SPACE, stages=[{"tasks": {"hard": 1, "expert": 3}}], seed=0)
    assert t.probabilities() == pytest.approx([0, 0.25, 0.75])
    space = mg.MultiDiscrete([2, 3])
    u = Sequential(space, stages=[{"tasks": [1, 2], "until": {"episodes": 1}},
                                  {"tasks": [[0, 0], [1, 1]]}, ], seed=0)
    assert set(u.propose(10)) == {(1, 2)}
    u.observe((0, 1), 0.5)
    assert set(u.propose(50)) == {(0, 0), (1, 1)}
    v = Sequential(space, stages=[{"indices": [5]}], seed=0)
    assert set(v.propose(5)) == {(1, 2)}


def test_default_stages_go_through_tasks_in_order():
    t = Sequential(mg.Discrete(3), seed=0)
    assert len(t.stages) == 4
    t.observe_batch([0] * 20, [0.8] * 20)
    assert t.stage == 1 and set(t.propose(10)) == {1}


def test_resume_mid_stage_from_a_checkpoint():
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    t.observe_batch(["easy"] * 4, [1.0] * 4)
    u = mg.loads(t.to_bytes())
    assert u.config()["stages"] == TWO_STAGES
    u.observe("easy", 0.0)
    assert u.stage == 1


@pytest.mark.parametrize("space, weights", [
    (mg.Discrete(5), {0: 1.0, 3: 2.0}),
    (mg.MultiDiscrete([2, 3]), {(0, 1): 1.0, (1, 2): 3.0}),
])
def test_a_weights_dict_of_unnamed_tasks_survives_a_checkpoint(space, weights):
    # JSON turns the dict's task keys into strings ('0', '(0, 1)'), which the space refused on load
    stages = [{"tasks": weights, "until": {"episodes": 3}}, {"tasks": "all"}]
    t = Sequential(space, stages=stages, seed=0)
    t.observe_batch(t.propose(2), [0.5, 0.5])
    u = mg.loads(t.to_bytes())
    assert u.stage == 0 and u.probabilities() == pytest.approx(t.probabilities())
    assert u.propose(8) == t.propose(8)
    Sequential(space, stages=stages, seed=0).load_state_dict(t.state_dict())  # same settings: accepted


@pytest.mark.parametrize("space, stage, plain", [
    (SPACE, {"tasks": ["easy", "hard"], "weights": np.array([1.0, 3.0])}, {"tasks": ["easy", "hard"], "weights": [1.0, 3.0]}),
    (SPACE, {"indices": np.array([0, 1]), "weights": np.array([1, 3])}, {"indices": [0, 1], "weights": [1, 3]}),
    (SPACE, {"tasks": np.array(["easy", "hard"]), "weights": [1, 3]}, {"tasks": ["easy", "hard"], "weights": [1, 3]}),
    (mg.MultiDiscrete([2, 3]), {"tasks": np.array([[0, 1], [1, 2]]), "weights": np.array([1, 3])},
     {"tasks": [[0, 1], [1, 2]], "weights": [1, 3]}),
])
def test_numpy_arrays_in_a_stage_are_its_lists(space, stage, plain):
    # a numpy array of weights was refused as not "one number per task (2), got array([1, 3])" (it has one), of
    # indices as not "a task number or a non-empty list of them", of names as "not a task of Discrete([...])"
    t = Sequential(space, stages=[{**stage, "until": {"episodes": 3}}, {"tasks": "all"}], seed=0)
    ref = Sequential(space, stages=[{**plain, "until": {"episodes": 3}}, {"tasks": "all"}], seed=0)
    assert t.config() == ref.config()  # recorded as plain JSON lists
    assert t.probabilities() == pytest.approx(ref.probabilities()) and t.propose(8) == ref.propose(8)
    t.observe_batch(t.propose(2), [0.5, 0.5])
    u = mg.loads(t.to_bytes())
    assert u.propose(8) == t.propose(8)
    ref.load_state_dict(t.state_dict())  # the same settings


@pytest.mark.parametrize("stages, match", [
    ([{"tasks": ["easy", "hrad"]}], "hrad"),
    ([{"tasks": "hrad"}], "known tasks"),
    ([{"tasks": {"nope": 1}}], "nope"),
    ([{"indices": [3]}], "task number"),
    ([{"tasks": ["easy"]}, {"tasks": ["hard"]}], "no 'until'"),
    ([{"tasks": ["easy"], "until": {"mean_score": 0.8}}, {"tasks": "all"}], "window"),
    ([{"tasks": ["easy"], "until": {"score": 0.8}}, {"tasks": "all"}], "unknown condition"),
    ([{"tasks": ["easy"], "until": {"episodes": 0}}, {"tasks": "all"}], "episodes"),
    # a threshold on the raw scale (scores reach the teacher in [0, 1]): the stage could never end
    ([{"tasks": ["easy"], "until": {"mean_score": 80, "window": 5}}, {"tasks": "all"}], r"mean_score .*\[0(\.0)?, 1(\.0)?\]"),
    ([{"tasks": ["easy"], "until": {"mean_score": -0.5, "window": 5}}, {"tasks": "all"}], "mean_score"),
    ([{"tasks": ["easy"], "until": {"episodes": 3, "mean_score": 0.5, "window": 3}}, {"tasks": "all"}], "exactly one"),
    ([{"tasks": ["easy"], "until": {"all": []}}, {"tasks": "all"}], "non-empty"),
    ([{"tasks": ["easy", "hard"], "weights": [1]}], "one number per task"),
    ([{"tasks": ["easy", "hard"], "weights": [0, 0]}], "sum to 0"),
    ([{"tasks": ["easy", "easy"]}], "twice"),
    ([{"task": ["easy"]}], "unknown key"),
    ([{"tasks": ["easy"], 1: 2, "x": 3}], r"unknown key\(s\) \['x', 1\]"),  # keys of mixed types: not a TypeError
    ([{"tasks": ["easy"], "until": {1: 2, "x": 3}}, {"tasks": "all"}], r"unknown condition key\(s\) \['x', 1\]"),
    ([{"tasks": ["easy"], "indices": [0]}], "either"),
    ([], "non-empty list"),
    ("easy", "non-empty list"),
])
def test_bad_stages_are_refused_with_a_clear_error(stages, match):
    with pytest.raises(mg.ConfigError, match=match):
        Sequential(SPACE, stages=stages)


def test_beliefs_shape():
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    t.observe_batch(["easy", "easy"], [0.5, 0.7])
    b = t.beliefs()
    json.dumps(b)
    assert b["kind"] == "discrete" and b["tasks"] == ["easy", "hard", "expert"]
    assert b["stage"] == 0 and b["stage_mean_score"] == pytest.approx(0.6)
    assert np.isclose(sum(b["probability"]), 1.0)


@pytest.mark.parametrize("per_task", [False, True])
def test_a_mean_equal_to_the_threshold_advances_despite_rounding(per_task):
    # twenty scores of exactly 0.9 average 0.8999999999999998 in floating point: "at least 0.9" still holds
    stages = [{"indices": [0], "until": {"mean_score": 0.9, "window": 20, "per_task": per_task}}, {"indices": [1]}]
    t = Sequential(mg.Discrete(3), stages=stages, seed=0)
    for _ in range(20):
        t.observe(0, 0.9)
    assert t.stage == 1


def test_a_numpy_number_is_a_valid_mean_score_threshold():
    # np.float32(0.5) was refused: "mean_score must be a number (a score in [0, 1] ...), got np.float32(0.5)"
    stages = [{"tasks": ["easy"], "until": {"mean_score": np.float32(0.5), "window": 2}}, {"tasks": ["hard"]}]
    t = mg.make_teacher("sequential", SPACE, stages=stages, seed=0)
    t.observe_batch(["easy", "easy"], [0.5, 0.5])
    assert t.propose(3) == ["hard"] * 3
    assert mg.loads(t.to_bytes()).propose(2) == t.propose(2)


@pytest.mark.parametrize("change, match", [
    ({"finished": True}, "cannot be finished in stage 0"),  # it then never advanced again
    ({"stage_task_episodes": -5, "task_count": np.array([-5])}, "inconsistent"),  # the stage mean became NaN
    ({"stage_episodes": 0}, "inconsistent"),
    ({"task_count": np.array([3])}, "inconsistent"),
    ({"stream": np.array([np.nan] * 5)}, "non-finite"),
])
def test_a_corrupted_mid_stage_state_is_refused_and_changes_nothing(change, match):
    t = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    t.observe_batch(["easy", "hard"], [0.9, 0.1])
    state = t.state_dict()
    state["algorithm"] = dict(state["algorithm"], **change)
    u = Sequential(SPACE, stages=TWO_STAGES, seed=0)
    before = u.state_dict()
    with pytest.raises(mg.errors.CheckpointError, match=match):
        u.load_state_dict(state)
    assert u.stage_episodes == 0 and not u.finished and json.dumps(u.beliefs(), default=str) == json.dumps(
        Sequential(SPACE, stages=TWO_STAGES, seed=0).beliefs(), default=str)
    u.load_state_dict(before)


@pytest.mark.parametrize("entry,value", [("stream", -0.5), ("task_buf", 1.5)])
def test_a_stage_buffer_with_a_score_outside_0_1_is_refused(entry, value):
    # the buffers hold the stage's recent scores on the teacher's [0, 1] scale: -0.5 was taken, and the stage mean
    # (and so when the stage ends) with it
    stages = [{"tasks": ["easy"], "until": {"mean_score": 0.8, "window": 5, "per_task": True}}, {"tasks": "all"}]
    t = Sequential(SPACE, stages=stages, seed=0)
    t.observe_batch(["easy", "easy"], [0.0, 1.0])
    state = t.state_dict()
    state["algorithm"][entry] = np.full_like(state["algorithm"][entry], value)
    u = Sequential(SPACE, stages=stages, seed=0)
    before = u.state_dict()
    with pytest.raises(mg.errors.CheckpointError, match=rf"{entry}\[0(, 0)?\] = {value}: the stage's recent scores"):
        u.load_state_dict(state)
    assert mg.checkpoint.states_equal(before, u.state_dict())


def test_per_task_condition_needs_window_episodes_of_every_task():
    # each task of the stage over its own last N episodes: one episode of "hard" is not a window of 2, whatever
    # its score (the empty places of its window are no scores)
    t = _per_task_stages(0.5)
    t.observe_batch(["easy", "easy", "hard"], [1.0, 1.0, 1.0])
    assert t.stage == 0
    t.observe("hard", 0.0)  # hard: [1, 0] mean 0.5
    assert t.stage == 1
