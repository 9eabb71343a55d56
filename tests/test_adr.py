"""ADR: widening and narrowing bounds, pending-probe matching, resume, settings, grid run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError
from magister.spaces import Box, Dict, Discrete
from magister.students import GridStudent
from magister.teachers.adr import ADR
from magister.testing import states_equal


def _feed(t: ADR, score, n: int) -> None:
    """Propose and observe ``n`` tasks, each scored by ``score(task)``."""
    for _ in range(n):
        x = t.propose()
        t.observe(x, score(x))


def test_widens_when_scores_are_high_at_a_bound():
    t = ADR(Box([0.0], [10.0]), seed=0, initial=[0.0], boundary_prob=1.0, queue_length=3, step=0.1)
    assert t.low[0] == 0.0 and t.high[0] == 0.0
    _feed(t, lambda x: 1.0, 60)
    assert t.high[0] > 0.5, "high scores at the upper bound widen it"
    assert t.low[0] == 0.0, "the box never leaves the space"
    assert t.n_widened >= 5
    assert all(0.0 <= v <= 10.0 * t.high[0] + 1e-9 for v in np.ravel(t.propose(200)))


def test_narrows_when_scores_are_low_but_not_inside_the_start():
    t = ADR(Box([0.0], [1.0]), seed=1, initial=[0.2], boundary_prob=1.0, queue_length=2, step=0.1)
    _feed(t, lambda x: 1.0, 40)
    wide_low, wide_high = t.low[0], t.high[0]
    assert wide_high > 0.5 and wide_low == 0.0
    _feed(t, lambda x: 0.0, 80)
    assert t.n_narrowed > 0
    assert t.high[0] < wide_high
    assert t.high[0] == pytest.approx(0.2) and t.low[0] == pytest.approx(0.2), "narrowing stops at the start point"


def test_middling_scores_leave_the_box_alone():
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=2, initial_box=[[0.4, 0.4], [0.6, 0.6]], boundary_prob=1.0,
            queue_length=2, threshold_low=0.2, threshold_high=0.8)
    _feed(t, lambda x: 0.5, 50)
    assert np.allclose(t.low, 0.4) and np.allclose(t.high, 0.6)
    assert t.n_widened == t.n_narrowed == 0 and t.n_probes_matched == 50


def test_each_bound_has_its_own_queue():
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=3, initial=[0.5, 0.5], boundary_prob=1.0, queue_length=50)
    _feed(t, lambda x: 1.0, 40)
    b = t.beliefs()
    counts = np.array([b["queues"]["low"]["count"], b["queues"]["high"]["count"]])
    assert counts.sum() == 40 and (counts > 0).all()


def test_pending_probes_are_matched_robustly():
    t = ADR(Box([0.0, 0.0], [4.0, 4.0]), seed=4, initial=[1.0, 1.0], initial_width=0.2, boundary_prob=1.0,
            queue_length=100)
    probes = list(t.propose(3))
    assert t.beliefs()["pending_probes"] == 3
    # out of order, as lists rather than arrays: all three are recognised
    for p in reversed(probes):
        t.observe([float(v) for v in p], 0.5)
    assert t.n_probes_matched == 3 and t.beliefs()["pending_probes"] == 0
    # the same probe again, and a task that was never proposed, are ordinary episodes
    t.observe(probes[0], 0.5)
    t.observe([1.0, 1.0], 0.5)
    assert t.n_probes_matched == 3 and t.n_observed == 5
    assert int(np.sum(t._qlen)) == 3


def test_probe_of_a_moved_bound_is_stale():
    t = ADR(Box([0.0], [1.0]), seed=5, initial=[0.0], boundary_prob=1.0, queue_length=1, step=0.1)
    first, second = t.propose(2)
    state = t.state_dict()  # the box is the point 0, so both probes sit on the upper bound as well
    state["algorithm"]["pending_side"][:] = 1
    t.load_state_dict(state)
    t.observe(first, 1.0)  # a queue of one: the upper bound widens to 0.1
    assert t.high[0] == pytest.approx(0.1) and t.n_probes_matched == 1
    t.observe(second, 1.0)  # a probe of the old bound (0.0): consumed but not counted
    assert t.high[0] == pytest.approx(0.1) and t.n_probes_matched == 1
    assert t.beliefs()["pending_probes"] == 0


def test_pending_probes_survive_save_and_load(tmp_path):
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=6, initial=[0.0, 0.0], boundary_prob=0.7, queue_length=3, step=0.1)
    _feed(t, lambda x: 0.9, 30)
    probes = list(t.propose(6))
    assert t.beliefs()["pending_probes"] > 0
    t.save(tmp_path / "adr.ckpt")
    u = mg.load(tmp_path / "adr.ckpt")
    for p in probes:
        t.observe(p, 0.95)
        u.observe(p, 0.95)
    assert u.n_probes_matched == t.n_probes_matched > 0
    assert np.array_equal(u.low, t.low) and np.array_equal(u.high, t.high)
    assert np.array_equal(u.propose(20), t.propose(20))


def test_probes_match_on_mixed_spaces():
    space = Dict({"level": Discrete(3), "speed": Box([0.5], [2.0])})
    t = ADR(space, seed=7, initial_width=0.5, boundary_prob=1.0, queue_length=100)
    tasks = t.propose(10)
    for task in tasks:
        t.observe(task, 0.5)
    assert t.n_probes_matched == 10
    assert t.beliefs()["pending_probes"] == 0


def test_pending_list_is_bounded():
    t = ADR(Box([0.0], [1.0]), seed=8, boundary_prob=1.0, max_pending=5)
    t.propose(20)
    assert t.beliefs()["pending_probes"] == 5


def test_beliefs_show_the_box():
    t = ADR(Box([0.0, 10.0], [2.0, 20.0]), seed=9, initial=[1.0, 15.0], initial_width=0.2)
    b = t.beliefs()
    json.dumps(b)
    assert b["box"]["low"] == pytest.approx([0.4, 0.4]) and b["box"]["high"] == pytest.approx([0.6, 0.6])
    assert b["box"]["low_task"] == pytest.approx([0.8, 14.0])


@pytest.mark.parametrize("kwargs", [
    {"threshold_low": 0.8, "threshold_high": 0.5}, {"threshold_high": 1.5}, {"step": 0.0}, {"step": -0.1},
    {"boundary_prob": 1.5}, {"queue_length": 0}, {"initial": [5.0]}, {"initial": [0.5], "initial_box": [[0], [1]]},
    {"initial_box": [[0.1]]}, {"initial_width": -0.1}, {"max_pending": 0},
])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        ADR(Box([0.0], [1.0]), **kwargs)


def test_adr_from_the_origin_beats_uniform_on_the_grid_student():
    def mastery(name: str, seed: int) -> float:
        student = GridStudent(seed=seed)
        t = mg.make_teacher(name, student.space, seed=seed)
        for _ in range(2500):
            x = t.propose()
            t.observe(x, student.attempt(x))
        return student.mastery()

    assert min(mastery("adr", s) for s in (0, 1)) > max(mastery("uniform", s) for s in (0, 1))


@pytest.mark.parametrize("key", ["low", "high", "queues", "pending_x", "pending_value"])
def test_non_finite_checkpoint_values_are_refused_and_change_nothing(key):
    # accepted before: a NaN bound passed the range checks (NaN compares False) and proposed NaN tasks
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=0, initial_width=0.2, queue_length=4)
    for _ in range(40):
        t.observe(t.propose(), 0.9)
    t.propose(3)  # leaves pending probes
    state, before = t.state_dict(), t.state_dict()
    arr = np.array(state["algorithm"][key], dtype=float)
    arr.flat[0] = np.nan
    state["algorithm"][key] = arr
    with pytest.raises(CheckpointError):
        t.load_state_dict(state)
    assert states_equal(t.state_dict(), before)



@pytest.mark.parametrize("score, n, moved", [(0.3, 10, "n_widened"), (0.2, 20, "n_narrowed")])
def test_a_queue_mean_equal_to_a_threshold_moves_the_bound_despite_rounding(score, n, moved):
    # ten scores of 0.3 average 0.29999999999999993 and twenty of 0.2 0.20000000000000004: "at least
    # threshold_high" widens and "at most threshold_low" narrows all the same
    t = ADR(Box([0.0], [1.0]), initial_width=0.5, initial=[0.5], boundary_prob=1.0, queue_length=n,
            threshold_high=0.3, threshold_low=0.2, seed=0)
    for _ in range(2 * n + 1):  # one of the two queues (low or high bound) fills within 2n - 1 probes
        t.observe(t.propose(), score)
    assert getattr(t, moved) >= 1, (t.n_widened, t.n_narrowed)


def test_the_pending_probe_index_finds_the_probe_a_look_at_every_probe_finds():
    # probes are found through a grid of cells (an observation looked at every pending probe): the oldest probe
    # within the tolerance is found alike for coordinates on cell edges, just inside and just outside the
    # tolerance, far outside the unit box and not numbers, and removed alike by observe
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=0, max_pending=10_000, queue_length=1000)
    rng = np.random.default_rng(1)
    edge = (np.arange(-3, 4) + 0.5) / 2**20  # where the cells change
    base = np.concatenate([edge, [0.0, 1.0, 0.3, 1e303, -7.5, 1e6]])  # (1e303: off the grid)
    off = np.array([0.0, 0.0, 4e-10, -9e-10, 1e-9, -1e-9, 1.2e-9, 3e-9])
    px = rng.choice(base, size=(1500, 2)) + rng.choice(off, size=(1500, 2))
    state = t.state_dict()
    state["algorithm"].update(pending_x=px, pending_dim=rng.integers(0, 2, 1500), pending_side=np.zeros(1500, int),
                              pending_value=np.zeros(1500))
    t.load_state_dict(state)
    queries = list(rng.choice(base, size=(300, 2)) + rng.choice(off, size=(300, 2)))
    queries += [np.array([np.nan, 0.0]), np.array([np.inf, 1.0]), np.array([1e308, 0.3]), np.float64(0.3)]
    for q in queries:
        x = t.state_dict()["algorithm"]["pending_x"]
        hit = np.flatnonzero(np.abs(x - q).max(axis=1) <= 1e-9)
        assert t.match_probe(q) == (int(hit[0]) if len(hit) else -1)
        if np.shape(q) == (2,):
            t._observe(np.array([q]), np.array([0.5]))
            kept = np.delete(x, hit[:1], axis=0)
            assert np.array_equal(t.state_dict()["algorithm"]["pending_x"], kept)
    assert t.n_probes_matched > 50


@pytest.mark.parametrize("x", [[0.1, 0.2, 0.3], [[0.1, 0.2], [0.3, 0.4]], np.zeros((6, 2)), "x", [[0.1], [0.2, 0.3]]])
def test_match_probe_refuses_what_is_not_one_unit_vector(x):
    # three numbers for a 2-D space, or several rows, were numpy's "operands could not be broadcast together" (or,
    # with as many rows as probes pending, the first probe matching its own row), text "could not convert string"
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=0)
    for _ in range(6):
        t.propose()
    before = t.state_dict()
    with pytest.raises(mg.InvalidTaskError, match="one unit vector of 2 numbers"):
        t.match_probe(x)
    assert states_equal(t.state_dict(), before)
    with pytest.raises(mg.InvalidTaskError, match="one unit vector"):  # refused with no probe pending too
        ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=0).match_probe(x)
    probe = t.state_dict()["algorithm"]["pending_x"][0]
    assert t.match_probe(probe) == 0 and t.match_probe(probe[None]) == 0


@pytest.mark.parametrize("key,value", [("n_widened", -1), ("n_narrowed", 2.5), ("n_probes_matched", -3),
                                       ("queues", -0.5), ("queues", 7.0)])
def test_a_checkpoint_with_a_negative_counter_or_a_queued_score_outside_0_1_is_refused(key, value):
    # taken before: a negative count of widenings in the beliefs (2.5 cut to 2), and queued scores (on the [0, 1]
    # scale) of -0.5 or 7 that moved the bounds at the next full queue (found by the checkpoint fuzz)
    from magister.errors import CheckpointError

    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=0, initial_width=0.2, queue_length=4)
    for _ in range(40):
        t.observe(t.propose(), 0.9)
    state = t.state_dict()
    if key == "queues":
        state["algorithm"][key] = np.full_like(state["algorithm"][key], value)
    else:
        state["algorithm"][key] = value
    u = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=1, initial_width=0.2, queue_length=4)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=key):
        u.load_state_dict(state)
    assert states_equal(u.state_dict(), before)


def _feed_by_side(t: ADR, low_scores, high_scores, n: int) -> None:
    """Propose and observe ``n`` boundary probes of a 1-D box on [0, 1] (unit coordinates are the task's): a probe
    of the lower bound gets the next score of ``low_scores`` (cycled), one of the upper bound the next of
    ``high_scores``."""
    counts = [0, 0]
    for _ in range(n):
        x = t.propose()
        j = t.match_probe(t.space.to_unit_batch([x])[0])
        side = int(t.state_dict()["algorithm"]["pending_side"][j])
        scores = (low_scores, high_scores)[side]
        t.observe(x, scores[counts[side] % len(scores)])
        counts[side] += 1


def test_proposals_lie_inside_the_box():
    # "the whole proposal is uniform in the box", probes too apart from their one bound coordinate
    t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=11, initial_box=[[0.4, 0.2], [0.6, 0.5]], boundary_prob=0.5)
    u = t.space.to_unit_batch(list(t.propose(500)))
    assert (u >= t.low - 1e-12).all() and (u <= t.high + 1e-12).all()
    assert u[:, 0].max() - u[:, 0].min() > 0.15 and u[:, 1].max() - u[:, 1].min() > 0.25


def test_a_full_queue_is_judged_by_its_mean():
    # upper-bound scores 1, 1, 0 (mean 2/3 < threshold_high 0.8) never widen; 1, 1, 0.55 (mean 0.85) do
    kwargs = dict(seed=12, initial=[0.5], initial_width=0.2, boundary_prob=1.0, queue_length=3,
                  threshold_low=0.2, threshold_high=0.8, step=0.1)
    t = ADR(Box([0.0], [1.0]), **kwargs)
    _feed_by_side(t, [0.5], [1.0, 1.0, 0.0], 60)
    assert t.n_widened == 0 and t.high[0] == pytest.approx(0.6) and t.low[0] == pytest.approx(0.4)
    t = ADR(Box([0.0], [1.0]), **kwargs)
    _feed_by_side(t, [0.5], [1.0, 1.0, 0.55], 60)
    assert t.n_widened >= 1 and t.high[0] > 0.65 and t.low[0] == pytest.approx(0.4)


def test_narrowing_moves_the_bound_whose_queue_was_low():
    t = ADR(Box([0.0], [1.0]), seed=13, initial=[0.5], initial_width=0.2, boundary_prob=1.0, queue_length=2,
            step=0.1)
    _feed_by_side(t, [1.0], [1.0], 40)
    wide_low, wide_high = t.low[0], t.high[0]
    assert wide_low < 0.35 and wide_high > 0.65
    _feed_by_side(t, [0.0], [0.5], 60)  # the lower bound fails, the upper one is middling
    assert t.n_narrowed > 0
    assert t.low[0] == pytest.approx(0.4), "the failing lower bound narrows back to the start"
    assert t.high[0] == wide_high, "the upper bound's queue was middling: it stays"


def test_the_upper_bound_never_leaves_the_space():
    t = ADR(Box([0.0], [1.0]), seed=14, initial=[0.9], boundary_prob=1.0, queue_length=1, step=0.3)
    _feed(t, lambda x: 1.0, 20)
    assert t.n_widened >= 3
    assert t.high[0] == 1.0 and t.low[0] == 0.0
    assert t.beliefs()["box"]["high_task"] == [1.0]


def test_the_oldest_pending_probes_are_forgotten_first():
    def teacher_and_probes():
        t = ADR(Box([0.0, 0.0], [1.0, 1.0]), seed=15, initial_box=[[0.2, 0.2], [0.8, 0.8]], boundary_prob=1.0,
                max_pending=5, queue_length=100)
        return t, [t.propose() for _ in range(8)]

    t, probes = teacher_and_probes()
    for p in probes[:3]:
        t.observe(p, 0.5)  # forgotten: ordinary episodes
    assert t.n_probes_matched == 0
    t, probes = teacher_and_probes()
    for p in probes[3:]:
        t.observe(p, 0.5)
    assert t.n_probes_matched == 5


def test_a_partly_filled_queue_survives_save_and_load(tmp_path):
    t = ADR(Box([0.0], [1.0]), seed=16, initial=[0.5], initial_width=0.2, boundary_prob=1.0, queue_length=5)
    _feed(t, lambda x: 1.0, 6)
    counts = t.beliefs()["queues"]
    assert 0 < sum(counts["low"]["count"]) + sum(counts["high"]["count"]) < 10
    t.save(tmp_path / "adr.ckpt")
    u = mg.load(tmp_path / "adr.ckpt")
    assert u.beliefs()["queues"] == counts
    for _ in range(20):
        x = t.propose()
        assert np.array_equal(x, u.propose())
        t.observe(x, 1.0)
        u.observe(x, 1.0)
    assert np.array_equal(u.low, t.low) and np.array_equal(u.high, t.high) and u.n_widened == t.n_widened
