"""Setting mastered tasks aside (``set_aside=`` on exp3, sec and lp-bandit), with reviews."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.errors import CheckpointError, ConfigError, UnknownSettingError
from magister.set_aside import FACTOR, SetAside
from magister.students import SkillStudent
from magister.testing import check_teacher

TEACHERS = ("exp3", "sec", "lp-bandit")


def test_a_task_with_a_full_window_of_successes_is_set_aside():
    sa = SetAside(4, 0.9, window=5, review_after=2.0)
    p = np.full(4, 0.25)
    sa.update(np.array([0] * 4), np.ones(4))
    assert not sa.aside().any(), "four scores do not fill a window of five"
    assert np.array_equal(sa.apply(p), p)
    sa.update(np.array([0]), np.array([1.0]))
    assert sa.aside().tolist() == [True, False, False, False]
    q = sa.apply(p)
    assert q.sum() == pytest.approx(1.0)
    assert q[0] == pytest.approx(FACTOR * q[1])
    assert np.allclose(q[1:], q[1])


def test_a_task_set_aside_comes_back_for_review_and_leaves_the_window_on_failures():
    n = 4
    sa = SetAside(n, 0.9, window=5, review_after=2.0)  # review after 8 episodes without practice
    sa.update(np.array([0] * 5), np.ones(5))
    p = np.array([0.01, 0.33, 0.33, 0.33])
    for k in range(7):
        sa.update(np.array([1 + k % 3]), np.array([0.0]))
        assert not sa.due()[0]
    sa.update(np.array([1]), np.array([0.0]))
    assert sa.due()[0] and sa.aside()[0]
    q = sa.apply(p)
    assert q[0] == pytest.approx(0.25 / (0.25 + 0.99)), "a due task's weight is raised to 1/n, then renormalised"
    sa.update(np.array([0]), np.array([0.0]))  # a failed review: the window averages 0.8, below 0.9
    assert not sa.aside()[0] and not sa.due()[0]
    assert np.allclose(sa.apply(p), p), "back in play: its probability is the teacher's own"


def test_nothing_changes_when_every_task_is_set_aside_and_none_is_due():
    sa = SetAside(2, 0.5, window=2, review_after=10.0)
    sa.update(np.array([0, 0, 1, 1]), np.ones(4))
    assert sa.aside().all() and not sa.due().any()
    p = np.array([0.3, 0.7])
    assert np.allclose(sa.apply(p), p)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3"])
def test_a_set_aside_of_no_tasks_is_refused(n):
    """SetAside(-1, ...) was numpy's "negative dimensions are not allowed"; 0 was taken and 1.5 read as 1."""
    with pytest.raises(ConfigError, match=r"n must be a whole number >= 1, got .*; the number of tasks"):
        SetAside(n, 0.9)


@pytest.mark.parametrize("x, scores, words", [
    ([-1, -1], [1.0, 1.0], r"task indices are whole numbers 0\.\.2, got \[-1, -1\]"),  # was the last task's
    ([3], [1.0], r"whole numbers 0\.\.2, got \[3\]"),  # a raw IndexError
    ([1.7], [1.0], r"whole numbers 0\.\.2, got \[1\.7\]"),  # read as task 1
    ([0], [float("nan")], r"scores lie in \[0, 1\].*got \[nan\]"),  # kept, and the state then refused
    ([0], [1.5], r"scores lie in \[0, 1\]"),
    ([0, 1], [1.0], r"one score per task index, got shapes \(2,\) and \(1,\)"),  # the second index dropped
])
def test_a_bad_update_is_refused_and_records_nothing(x, scores, words):
    sa = SetAside(3, 0.9, window=2)
    sa.update(np.array([0]), np.array([1.0]))
    before = sa.get_state()
    with pytest.raises(ConfigError, match=words):
        sa.update(x, scores)
    after = sa.get_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    sa.update([2, 2], [1.0, 1.0])  # a plain list of indices and scores, as before
    assert sa.aside().tolist() == [False, False, True]
    SetAside(3, 0.9, window=2).set_state(sa.get_state())  # the state reloads


def test_every_state_its_updates_leave_reloads():
    rng = np.random.default_rng(0)
    sa = SetAside(5, 0.6, window=3, review_after=0.5)
    SetAside(5, 0.6, window=3, review_after=0.5).set_state(sa.get_state())  # a new one
    for _ in range(200):
        k = int(rng.integers(0, 4))
        sa.update(rng.integers(0, 5, size=k), rng.random(k).round(1))
        copy = SetAside(5, 0.6, window=3, review_after=0.5)
        copy.set_state(sa.get_state())
        assert copy.aside().tolist() == sa.aside().tolist() and copy.due().tolist() == sa.due().tolist()


@pytest.mark.parametrize("change, words", [
    ({"step": 1_000_000}, "its counts add up to 3, not step 1000000"),  # task 0 was due for review at once
    ({"count": [5, 1, 0]}, "its counts add up to 6, not step 3"),
    ({"last": [2, 3, 3]}, "task 2 has 0 scores and its last at step 3"),
    ({"last": [0, 3, 0]}, "task 0 has 2 scores and its last at step 0"),
    ({"last": [1, 2, 0]}, "task 0 has 2 scores and its last at step 1"),
    ({"last": [3, 3, 0]}, "two tasks have their last score at step 3"),
    ({"count": [1, 0, 2], "last": [1, 0, 2], "step": 3}, r"no task has its last score at step 3 \(the latest is 2\)"),
])
def test_counts_that_no_updates_leave_are_refused_and_change_nothing(change, words):
    """SetAside.set_state took counts that do not add up to its step (every score is one step of one task), or a
    task's last step that no run of updates leaves; a step of 1,000,000 made task 0 due for review at once."""
    sa = SetAside(3, 0.9, window=2)
    sa.update([0, 0, 1], [1.0, 1.0, 0.5])
    state = sa.get_state()
    other = SetAside(3, 0.9, window=2)
    other.update([2], [1.0])
    before = other.get_state()
    with pytest.raises(ConfigError, match=f"set-aside state is not one that its updates leave: {words}; the "
                                          "checkpoint is damaged or was edited"):
        other.set_state({**state, **{k: np.array(v) if k != "step" else v for k, v in change.items()}})
    assert all(np.array_equal(before[k], other.get_state()[k]) for k in before)
    other.set_state(state)
    assert other.aside().tolist() == [True, False, False] and other.due().tolist() == [False] * 3


@pytest.mark.parametrize("name", TEACHERS)
@pytest.mark.parametrize("bad", [0, 0.0, 1.5, -0.1, "0.9", True, float("nan")])
def test_a_bad_threshold_is_refused_by_name(name, bad):
    with pytest.raises(ConfigError, match="set_aside"):
        mg.make_teacher(name, mg.Discrete(5), set_aside=bad)


@pytest.mark.parametrize("name", TEACHERS)
def test_bad_window_or_review_gap_is_refused_even_when_off(name):
    with pytest.raises(ConfigError, match="set_aside_window"):
        mg.make_teacher(name, mg.Discrete(5), set_aside_window=0)
    with pytest.raises(ConfigError, match="review_after"):
        mg.make_teacher(name, mg.Discrete(5), set_aside=0.9, review_after=0)
    with pytest.raises(ConfigError, match="review_after"):
        mg.make_teacher(name, mg.Discrete(5), review_after=-1.0)


@pytest.mark.parametrize("name", TEACHERS)
@pytest.mark.parametrize("set_aside", [None, 0.9])
def test_a_space_with_too_many_tasks_is_refused_before_anything_is_allocated(name, set_aside):
    """The set-aside windows ((n, window) floats) were allocated before the teacher's limit on the number of
    tasks was checked: 10**12 tasks raised a MemoryError asking for 146 TiB instead of the ConfigError."""
    with pytest.raises(ConfigError, match="too many"):
        mg.make_teacher(name, mg.MultiDiscrete([10**6, 10**6]), set_aside=set_aside)


@pytest.mark.parametrize("name", sorted(set(mg.available_teachers("discrete")) - {"uniform"}))
def test_every_finite_teacher_refuses_a_huge_space_before_allocating(name):
    """skill-it, the opponent, continual and people teachers allocated per-task arrays first: 10**12 tasks raised
    a raw MemoryError (7 to 22 TiB) instead of a ConfigError naming the limit."""
    with pytest.raises(ConfigError, match="too many"):
        mg.make_teacher(name, mg.Discrete(10**12))


@pytest.mark.parametrize("name", TEACHERS)
def test_off_by_default_and_identical_to_the_plain_teacher(name):
    space = mg.Discrete(6)
    a = mg.make_teacher(name, space, seed=3)
    b = mg.make_teacher(name, space, seed=3, set_aside=None)
    rng = np.random.default_rng(0)
    for _ in range(200):
        ta, tb = a.propose(), b.propose()
        assert ta == tb
        s = float(rng.random() < 0.8)
        a.observe(ta, s)
        b.observe(tb, s)
    assert "set_aside" not in a.state_dict()["algorithm"]
    assert "set_aside" not in a.beliefs()


@pytest.mark.parametrize("name", TEACHERS)
def test_conformance_with_set_aside(name):
    # a short window and gap, so that tasks are set aside and reviewed within the suite's runs
    check_teacher(lambda space, seed: mg.make_teacher(name, space, seed=seed, set_aside=0.5, set_aside_window=3,
                                                      review_after=1.0), kind="discrete")


@pytest.mark.parametrize("name", TEACHERS)
def test_a_corrupt_set_aside_state_is_refused_and_changes_nothing(name):
    t = mg.make_teacher(name, mg.Discrete(4), seed=0, set_aside=0.9, set_aside_window=3)
    for _ in range(30):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    before = t.state_dict()
    bad = dict(state, algorithm=dict(state["algorithm"]))
    bad["algorithm"]["set_aside"] = dict(bad["algorithm"]["set_aside"], recent=np.full((4, 3), 2.0))
    with pytest.raises(CheckpointError, match="set-aside"):
        t.load_state_dict(bad)
    huge = dict(state, algorithm=dict(state["algorithm"]))  # was accepted; the next proposal: raw OverflowError
    huge["algorithm"]["set_aside"] = dict(huge["algorithm"]["set_aside"], step=1e300)
    with pytest.raises(CheckpointError, match="set-aside"):
        t.load_state_dict(huge)
    off = dict(state, algorithm=dict(state["algorithm"]))  # was taken (counts that no run of updates leaves)
    off["algorithm"]["set_aside"] = dict(off["algorithm"]["set_aside"], step=int(state["algorithm"]["set_aside"]["step"])
                                         + 10**6)
    with pytest.raises(CheckpointError, match="set-aside state is not one that its updates leave"):
        t.load_state_dict(off)
    missing = dict(state, algorithm={k: v for k, v in state["algorithm"].items() if k != "set_aside"})
    with pytest.raises(CheckpointError):
        t.load_state_dict(missing)
    assert mg.testing.states_equal(t.state_dict(), before)


@pytest.mark.parametrize("name", TEACHERS)
def test_set_aside_can_be_turned_on_when_loading_a_state_saved_without_it(name, tmp_path):
    """load_state_dict(strict=False) keeps this teacher's settings, to change one on purpose; turning set_aside
    on failed with "state dict is malformed (KeyError: 'set_aside')". Now no task is set aside yet."""
    plain = mg.make_teacher(name, mg.Discrete(3), seed=0)
    plain.observe_batch([0, 1, 0], [1.0, 0.5, 1.0])
    on = mg.make_teacher(name, mg.Discrete(3), seed=0, set_aside=0.9, set_aside_window=2)
    on.observe_batch([2, 2], [1.0, 1.0])  # what it had set aside before is not kept
    assert on.beliefs()["set_aside"] == [0.0, 0.0, 1.0]
    on.load_state_dict(mg.load(plain.save(tmp_path / "plain.ckpt")).state_dict(), strict=False)
    assert on.n_observed == 3 and on.beliefs()["set_aside"] == [0.0, 0.0, 0.0]
    on.observe(0, 1.0)
    on.observe(0, 1.0)
    assert on.beliefs()["set_aside"] == [1.0, 0.0, 0.0]
    with pytest.raises(CheckpointError, match="other settings"):  # strict: refused, naming the setting
        mg.make_teacher(name, mg.Discrete(3), set_aside=0.9).load_state_dict(plain.state_dict())


def _run(name: str, seed: int, set_aside: float | None, episodes: int = 1500, **student):
    st = SkillStudent(seed=np.random.SeedSequence([seed, 0]), **student)
    t = mg.make_teacher(name, st.space, seed=np.random.SeedSequence([seed, 1]), set_aside=set_aside)
    on_mastered = 0
    for _ in range(episodes):
        task = t.propose()
        on_mastered += bool(st.mastered()[st.space.index(task)])
        t.observe(task, st.attempt(task))
    return st.mastery(), on_mastered / episodes, t


@pytest.mark.parametrize("name", TEACHERS)
def test_setting_mastered_skills_aside_frees_practice_for_the_rest(name):
    plain = [_run(name, s, None) for s in range(3)]
    aside = [_run(name, s, 0.9) for s in range(3)]
    assert sum(m for m, _, _ in aside) >= sum(m for m, _, _ in plain) + 0.1, (plain, aside)
    assert np.mean([f for _, f, _ in aside]) < np.mean([f for _, f, _ in plain])
    beliefs = aside[0][2].beliefs()
    assert sum(beliefs["set_aside"]) >= 1 and len(beliefs["due"]) == 10


def test_under_forgetting_every_skill_set_aside_is_still_practised():
    # forgetting: skills set aside without reviews would lapse; with reviews every learnt skill stays in use
    st = SkillStudent(seed=np.random.SeedSequence([5, 0]), forgetting=0.0005)
    t = mg.make_teacher("lp-bandit", st.space, seed=np.random.SeedSequence([5, 1]), set_aside=0.9)
    n, gaps, last = st.space.n, [], {}
    for e in range(3000):
        task = t.propose()
        i = st.space.index(task)
        if e >= 1500 and i in last and t._aside.aside()[i]:
            gaps.append(e - last[i])
        last[i] = e
        t.observe(task, st.attempt(task))
    assert gaps, "some skills were set aside"
    assert max(gaps) < 8 * n, f"a skill set aside went {max(gaps)} episodes without practice"
    assert st.mastery() >= 0.8


@pytest.mark.parametrize("name", TEACHERS)
def test_numpy_numbers_are_taken_as_threshold_and_review_gap(name, tmp_path):
    # np.float32(0.9) was refused with "in (0, 1], ... got np.float32(0.9)", while the teachers' other settings
    # (temperature, ...) take numpy numbers
    t = mg.make_teacher(name, mg.Discrete(3), set_aside=np.float32(0.9), review_after=np.float32(2.0), seed=0)
    t.observe(t.propose(), 1.0)
    t.save(tmp_path / "t.ckpt")
    assert mg.load(tmp_path / "t.ckpt").propose(5) == t.propose(5)
    with pytest.raises(ConfigError, match="set_aside"):
        mg.make_teacher(name, mg.Discrete(3), set_aside=np.float32(1.5))
    with pytest.raises(ConfigError, match="set_aside"):
        mg.make_teacher(name, mg.Discrete(3), set_aside=np.bool_(True))


@pytest.mark.parametrize("name, space", [("frontier", mg.Box([0], [1])), ("uniform", mg.Discrete(3)),
                                         ("continual-order", mg.Discrete(3)), ("learnability-bandit", mg.Discrete(3))])
def test_set_aside_on_a_teacher_without_it_names_the_teachers_that_take_it(name, space):
    """set_aside=0.9 on 'frontier' (the recommendation for a Box) listed frontier's own settings only, not where
    set_aside belongs; the refusal now names the teachers that take it, and builds nothing."""
    with pytest.raises(UnknownSettingError, match=rf"teacher '{name}' has no setting 'set_aside'; its settings are "
                                                  r".*; 'set_aside' is a setting of 'exp3', 'lp-bandit', 'sec'$"):
        mg.make_teacher(name, space, seed=0, set_aside=0.9)
    with pytest.raises(UnknownSettingError, match=r"'bogus'[^;]*; its settings are [^;]*$"):  # taken by none: no hint
        mg.make_teacher(name, space, seed=0, bogus=1)


def test_the_review_gap_rounds_review_after_times_n_up():
    """Due once it has gone ``review_after * n`` episodes without practice: 0.5 * 5 = 2.5 episodes means 3 whole
    ones (2 are not yet 2.5)."""
    sa = SetAside(5, 0.5, window=1, review_after=0.5)
    sa.update([0], [1.0])
    sa.update([1, 2], [0.0, 0.0])
    assert sa.aside()[0] and not sa.due()[0], "2 episodes without practice are fewer than 2.5"
    sa.update([3], [0.0])
    assert sa.due()[0]


def test_a_task_just_practised_is_never_due_however_small_review_after_is():
    # review_after * n = 1e-12 rounds up to one episode without practice, not zero
    sa = SetAside(1, 0.5, window=1, review_after=1e-12)
    sa.update([0], [1.0])
    assert sa.aside()[0] and not sa.due()[0]


def test_a_task_is_not_set_aside_before_its_window_is_full():
    # two successes average 1 over the scores seen, and 0.5 over a window of four counted with its empty slots:
    # both reach the threshold 0.5, but a window that is not full yet never sets a task aside
    sa = SetAside(3, 0.5, window=4)
    sa.update([0, 0], [1.0, 1.0])
    assert not sa.aside().any()
    sa.update([0, 0], [0.0, 0.0])
    assert sa.aside()[0], "four scores averaging 0.5"


def test_a_due_task_keeps_a_probability_above_one_over_n():
    """A due task's probability is raised to *at least* 1/n: one the teacher already gives more keeps it."""
    sa = SetAside(2, 0.5, window=1, review_after=0.5)  # due after one episode without practice
    sa.update([0, 1], [1.0, 0.0])
    assert sa.due().tolist() == [True, False]
    assert np.allclose(sa.apply(np.array([0.8, 0.2])), [0.8, 0.2])


def test_a_state_with_a_negative_score_is_refused():
    sa = SetAside(2, 0.9, window=2)
    sa.update([0], [1.0])
    state = sa.get_state()
    state["recent"] = state["recent"].copy()
    state["recent"][0, 0] = -0.5
    with pytest.raises(ValueError, match=r"set-aside scores must lie in \[0, 1\]"):
        SetAside(2, 0.9, window=2).set_state(state)
