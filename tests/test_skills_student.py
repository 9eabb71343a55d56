"""Behaviour of the discrete simulated student (SkillStudent)."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.students.base import Student
from magister.students.skills import SkillStudent, default_prerequisites


def test_default_student():
    s = SkillStudent(seed=0)
    assert isinstance(s, Student)
    assert s.space == mg.Discrete([f"s{i}" for i in range(10)])
    assert s.prerequisites["s1"] == ["s0"] and s.prerequisites["s6"] == ["s5"]
    assert s.prerequisites["s7"] == ["s3"] and s.prerequisites["s8"] == ["s7"]
    assert s.prerequisites["s9"] == [] and s.learnable.tolist() == [True] * 9 + [False]
    assert s.mastery() == 0.0 and s.success_probability() == pytest.approx([0.1] * 10)
    order = s.order
    for skill, pre in s.prerequisites.items():
        for p in pre:
            assert order.index(s.names.index(p)) < order.index(s.names.index(skill))


def test_prerequisites_are_respected():
    s = SkillStudent(scores="probability", seed=0)
    for _ in range(30):
        s.attempt("s1")  # s0 not yet learnt: practice is wasted
    assert s.competence[1] == 0.0 and not s.ready()[1]
    for _ in range(27):
        s.attempt("s0")  # p(s0) = 0.1 + 0.9 * 0.54 = 0.586 < 0.6
    assert s.competence[0] == pytest.approx(0.54) and not s.ready()[1]
    s.attempt("s1")
    assert s.competence[1] == 0.0
    s.attempt("s0")  # p(s0) = 0.604: s1 becomes learnable
    assert s.ready()[1]
    s.attempt("s1")
    assert s.competence[1] == pytest.approx(0.02)
    assert s.competence[2] == 0.0


def test_scores_rise_with_practice_until_mastered():
    s = SkillStudent(scores="probability", seed=0)
    scores = [s.attempt("s0") for _ in range(60)]
    assert scores[0] == pytest.approx(0.1) and scores[-1] == pytest.approx(1.0)
    assert np.all(np.diff(scores) >= 0)
    assert s.mastered()[0] and s.mastery() == pytest.approx(0.1)
    assert s.learnable_mastery() == pytest.approx(1 / 9)


def test_unlearnable_skill_stays_at_chance():
    s = SkillStudent(scores="bernoulli", seed=1)
    outcomes = [s.attempt("s9") for _ in range(2000)]
    assert set(outcomes) == {0.0, 1.0}
    assert np.mean(outcomes) == pytest.approx(0.1, abs=0.03)
    assert s.competence[9] == 0.0


def test_bernoulli_scores_follow_the_success_probability():
    s = SkillStudent(scores="bernoulli", rate=1.0, seed=2)
    s.attempt("s0")  # one practice: s0 fully learnt
    assert all(s.attempt("s0") == 1.0 for _ in range(50))


def test_forgetting_and_noise():
    s = SkillStudent(scores="probability", forgetting=0.01, seed=0)
    for _ in range(50):
        s.attempt("s0")
    assert s.competence[0] == 1.0
    for _ in range(10):
        s.attempt("s9")
    assert s.competence[0] == pytest.approx(0.9)
    noisy = SkillStudent(scores="probability", noise=0.2, noisy=["s0"], seed=0)
    assert np.std([noisy.attempt("s0") for _ in range(5)]) > 0.01
    assert len({noisy.attempt("s5") for _ in range(5)}) == 1


def test_same_seed_same_outcomes():
    a, b = SkillStudent(seed=7), SkillStudent(seed=7)
    tasks = [f"s{i % 4}" for i in range(200)]
    assert np.array_equal(a.attempt_batch(tasks), b.attempt_batch(tasks))
    c = SkillStudent(seed=8)
    assert not np.array_equal(SkillStudent(seed=7).attempt_batch(tasks), c.attempt_batch(tasks))


def test_custom_graph_names_and_rates():
    s = SkillStudent(["count", "add", "mul"], prerequisites={"mul": ["add", "count"], "add": ["count"]},
                     rate=[0.5, 0.5, 0.25], scores="probability", seed=0)
    assert s.learnable.all()  # a custom graph has no unlearnable skill unless asked
    for _ in range(4):
        s.attempt("mul")
    assert s.competence[2] == 0.0
    s.attempt("count"); s.attempt("count")  # noqa: E702
    s.attempt("add"); s.attempt("add")  # noqa: E702
    s.attempt("mul")
    assert s.competence[2] == pytest.approx(0.25)
    chain = SkillStudent(4, prerequisites="chain", unlearnable=[], seed=0)
    assert chain.prerequisites["s3"] == ["s2"] and chain.learnable.all()


@pytest.mark.parametrize("kwargs, match", [
    ({"prerequisites": {"s1": ["s9x"]}}, "unknown skill"),
    ({"prerequisites": {"s0": ["s1"], "s1": ["s0"]}}, "cycle"),
    ({"prerequisites": {"s0": ["s0"]}}, "own prerequisite"),
    ({"unlearnable": ["nope"]}, "unknown skill"),
    ({"rate": 0.0}, "rate"),
    ({"rate": [0.1, 0.2]}, "rate"),
    ({"scores": "gaussian"}, "bernoulli"),
    ({"noise": -1}, "noise"),
    ({"chance": 0.95}, "chance"),
    ({"skills": 0}, "at least one"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(mg.ConfigError, match=match):
        SkillStudent(**kwargs)


def test_a_deep_graph_listed_against_its_order_is_taken_and_a_deep_cycle_refused():
    # each skill listed before its prerequisite, 3,000 deep: the recursive order hit Python's recursion limit
    names = [f"k{i}" for i in range(3000)]
    pre = {names[i]: [names[i + 1]] for i in range(len(names) - 1)}
    s = SkillStudent(names, prerequisites=pre, seed=0)
    assert s.order == list(range(len(names)))[::-1]  # every prerequisite first
    assert s.ready().tolist() == [False] * (len(names) - 1) + [True]
    assert s.best_mastery(46) == pytest.approx(1 / len(names))  # only the root can be mastered in 46 episodes
    with pytest.raises(mg.ConfigError, match=r"cycle: k0 -> k1 -> .* -> k2999 -> k0; prerequisites must form a DAG"):
        SkillStudent(names, prerequisites={**pre, names[-1]: [names[0]]})


def test_skill_names_that_are_numbers_off_their_position_are_refused():
    """SkillStudent([2, 0, 1]) was taken with the names "2", "0", "1", and attempt(0), meaning the skill named 0,
    practised the skill named 2 (at position 0); Discrete refuses such names, and now the student does too."""
    with pytest.raises(mg.ConfigError, match=r"SkillStudent skills: Discrete task name 2 \(at position 0\) is a "
                                             r"number.*would record the task named '1'"):
        SkillStudent([2, 0, 1])
    with pytest.raises(mg.ConfigError, match=r"SkillStudent skills: .*names must be distinct; repeated: \['a'\]"):
        SkillStudent(["a", "a"])
    s = SkillStudent([0, 1, 2], prerequisites={1: [0]}, seed=0)  # numbers at their own positions: as before
    assert s.names == ["0", "1", "2"] and s.space.names == s.names and s.prerequisites["1"] == ["0"]
    s.attempt(1)
    assert s.practice.tolist() == [0, 1, 0]


def test_default_graph_helper():
    pre = default_prerequisites([f"k{i}" for i in range(5)], 5)
    assert pre["k1"] == ["k0"] and pre["k4"] == ["k2"]  # chain k0..k3, k4 branches off the middle
    assert default_prerequisites(["a"], 1) == {"a": []}


def test_teachers_can_drive_it():
    s = SkillStudent(seed=0)
    t = mg.make_teacher("sec", s.space, seed=0)
    for _ in range(50):
        tasks = t.propose(4)
        t.observe_batch(tasks, s.attempt_batch(tasks))
    assert s.episodes == 200 and s.practice.sum() == 200


def test_oracle_practises_a_prerequisite_up_to_prereq_level_above_mastery_level():
    # prereq_level above mastery_level: the oracle used to stop s0 at mastery, so s1 and s2 never became
    # ready and the ceiling was 1/3, though 33 episodes master all three
    s = SkillStudent(3, prerequisites="chain", unlearnable=[], rate=0.1, prereq_level=0.95, mastery_level=0.9,
                     scores="probability", seed=0)
    assert s.best_mastery(33) == 1.0
    for skill in ("s0", "s1", "s2"):
        for _ in range(11):
            s.attempt(skill)
    assert s.mastery() == 1.0


def _exhaustive_best(s: SkillStudent, budget: int) -> float:
    """Best final mastery over every sequence of ``budget`` attempts (tiny graphs, scores="probability")."""
    probe = SkillStudent(s.names, prerequisites=s.prerequisites, unlearnable=[n for n, ok in zip(s.names, s.learnable)
                         if not ok], rate=list(s.rates), chance=s.chance, prereq_level=s.prereq_level,
                         mastery_level=s.mastery_level, forgetting=s.forgetting, scores="probability", seed=0)
    states = {tuple(s.competence)}
    for _ in range(budget):
        nxt = set()
        for st in states:
            for name in s.names:
                probe.competence = np.array(st)
                probe.attempt(name)
                nxt.add(tuple(probe.competence))
        states = nxt
    best = 0.0
    for st in states:
        probe.competence = np.array(st)
        best = max(best, probe.mastery())
    return best


@pytest.mark.parametrize("graph", [{"s1": ["s0"], "s2": ["s0"]}, {"s2": ["s0", "s1"]}, "chain", "none"])
def test_oracle_without_forgetting_matches_exhaustive_search_on_tiny_graphs(graph):
    # prereq_level above mastery_level: the oracle raised every prerequisite past mastery before anything else
    # (two skills that a third needs: 1/3 where 2/3 is reachable); per-skill rates: it began with the skill
    # closest to mastery, not the one fewest practices away (rates 0.15/0.5/0.5, budget 2: 0 where 1/3 is)
    for rate in (0.3, 0.4, [0.15, 0.5, 0.5]):
        for prereq_level, mastery_level in ((0.6, 0.9), (0.95, 0.9), (1.0, 0.8)):
            s = SkillStudent(3, prerequisites=graph, unlearnable=[], rate=rate, prereq_level=prereq_level,
                             mastery_level=mastery_level, scores="probability", seed=0)
            for budget in range(10):
                assert s.best_mastery(budget) == _exhaustive_best(s, budget), (rate, prereq_level, budget)


def test_a_prerequisite_reached_through_rounding_counts_as_met():
    # ten practices at rate 0.1 add up to competence 0.9999999999999999: with prereq_level 1.0, s1 never
    # learnt (its score stayed at chance) while s0 counted as mastered at mastery_level 1.0, and the oracle
    # promised both
    s = SkillStudent(2, prerequisites="chain", unlearnable=[], rate=0.1, prereq_level=1.0, mastery_level=1.0,
                     scores="probability", seed=0)
    assert s.best_mastery(20) == 1.0
    for skill in ("s0", "s1"):
        for _ in range(10):
            s.attempt(skill)
    assert s.ready().all() and s.mastery() == 1.0


def test_skill_student_settings_refuse_text_and_bools_and_take_numpy_numbers():
    """rate='0.5' and rate=True were read by numpy as 0.5 and 1.0; np.float32(0.1) was refused as a chance and
    np.float32 as noise (numpy numbers are numbers everywhere else)."""
    from magister.errors import ConfigError
    from magister.students.skills import SkillStudent

    for bad in ("0.5", ["0.5", "0.1", "0.2"], True, [True, 0.5, 0.5], [0.1, [0.2]], 0.1 + 0j):
        with pytest.raises(ConfigError, match="rate"):
            SkillStudent(3, rate=bad)
    for name in ("chance", "prereq_level", "noise", "forgetting"):
        with pytest.raises(ConfigError, match=name):
            SkillStudent(3, **{name: np.bool_(True)})
    s = SkillStudent(3, rate=np.float64(0.1), chance=np.float32(0.25), prereq_level=np.float64(0.5),
                     mastery_level=np.float32(0.75), noise=np.float32(0.5), forgetting=np.int64(0), seed=0)
    assert s.rates.tolist() == [0.1] * 3 and s.chance == 0.25 and s.noise == 0.5 and s.forgetting == 0.0
    assert type(s.chance) is float and type(s.noise) is float


def test_too_many_skills_are_refused_before_anything_per_skill_is_made():
    """SkillStudent(10**9) filled memory building a billion names; more skills than the discrete teachers take
    (MAX_TASKS), as a number or a list of names, is a ConfigError naming the limit."""
    with pytest.raises(mg.ConfigError, match=r"SkillStudent with 1000000000 skills is too many \(limit 1000000\)"):
        SkillStudent(10**9)
    with pytest.raises(mg.ConfigError, match=r"SkillStudent with 1000001 skills is too many \(limit 1000000\)"):
        SkillStudent([f"k{i}" for i in range(1_000_001)])
    assert SkillStudent(3, seed=0).names == ["s0", "s1", "s2"]
