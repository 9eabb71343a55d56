"""Policies for people: prerequisites, mastery thresholds, due reviews, maximum information, simulation."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.errors import CheckpointError, ConfigError
from magister.people import BKT, Elo
from magister.people.policies import (DifficultyBand, MasteryLearning, MaxInformation, SpacedReview,
                                      topological_order)
from magister.people.simulate import SimulatedStudent, run_session, skill_graph
from magister.testing import check_teacher

CHAIN = {"add": [], "sub": ["add"], "mul": ["add"], "div": ["mul", "sub"]}


def test_policies_are_registered_teachers():
    for name in ("mastery-learning", "difficulty-band", "spaced-review", "max-information"):
        assert name in mg.available_teachers("discrete")


def test_one_policy_passes_the_conformance_suite_with_prerequisites():
    check_teacher(lambda space, seed: MasteryLearning(space, seed=seed, explore=0.1,
                                                      prerequisites={space.task_names()[1]: [space.task_names()[0]]}),
                  kind="discrete", steps=60)


def test_prerequisite_graph_is_checked():
    assert topological_order(["div", "mul", "sub", "add"], CHAIN)[0] == "add"
    with pytest.raises(ConfigError, match="cycle"):
        topological_order(["a", "b"], {"a": ["b"], "b": ["a"]})
    with pytest.raises(ConfigError, match="unknown"):
        MasteryLearning(mg.Discrete(["a", "b"]), prerequisites={"a": ["zzz"]})


def test_skills_with_unknown_items_are_refused_naming_the_item_names():
    # keys of mixed types used to crash the check with "'<' not supported between 'str' and 'int'", and task
    # numbers of an unnamed Discrete were refused as "not tasks of Discrete(3)" although they are its tasks
    with pytest.raises(ConfigError, match=r"unknown items \[0, 'zz'\].*item names.*\['a', 'b'\]"):
        MasteryLearning(mg.Discrete(["a", "b"]), skills={0: "x", "zz": "y"})
    with pytest.raises(ConfigError, match=r"item names of Discrete\(3\) \(strings: \['0', '1', '2'\]\)"):
        MasteryLearning(mg.Discrete(3), skills={0: "x", 1: "x"})


def test_mastery_learning_respects_prerequisites_and_the_threshold():
    space = mg.Discrete(list(CHAIN))
    t = MasteryLearning(space, prerequisites=CHAIN, seed=0, model_settings={"prior": 0.1, "learn": 0.2})
    order = []
    for _ in range(60):
        skill = t.propose()
        mastery = dict(zip(t.items, t.mastery()))
        # never a skill whose prerequisites are not yet mastered
        assert all(mastery[r] >= 0.95 for r in CHAIN[skill]), (skill, mastery)
        if order and order[-1] != skill and mastery[order[-1]] < 0.95:
            pytest.fail(f"moved on from {order[-1]} before reaching the mastery threshold ({mastery})")
        order.append(skill)
        t.observe(skill, 1.0)
    assert order[0] == "add" and "div" in order
    assert order.index("div") > max(order.index("sub"), order.index("mul"))
    assert all(t.mastered().values())


def test_mastery_learning_backs_off_to_a_prerequisite_when_stuck():
    space = mg.Discrete(["a", "b"])
    t = MasteryLearning(space, prerequisites={"b": ["a"]}, stuck_after=4, seed=0)
    while t.propose() == "a":
        t.observe("a", 1.0)
    picks = []
    for _ in range(6):  # the learner keeps failing b
        s = t.propose()
        picks.append(s)
        t.observe(s, 0.0 if s == "b" else 1.0)
    assert picks[:4] == ["b"] * 4 and "a" in picks[4:]


def test_spaced_review_picks_the_most_overdue_item():
    space = mg.Discrete(["x", "y", "z", "new"])
    t = SpacedReview(space, seed=0, model_settings={"graded": False}, minutes_per_answer=0)
    day = 86400.0
    t.set_time(0.0)
    t.observe("x", 1.0)  # reviewed first: oldest
    t.set_time(1 * day)
    t.observe("y", 1.0)
    t.set_time(2 * day)
    t.observe("z", 0.0)  # failed: low stability
    t.set_time(2 * day + 600)
    assert t.propose() == "new"  # nothing due yet: something new
    t.set_time(40 * day)
    recall = dict(zip(t.items, t.recall()))
    due = t.due_items()
    assert set(due) == {"x", "y", "z"} and due[0] == min(("x", "y", "z"), key=recall.get)
    assert t.propose() == due[0]
    t.observe(due[0], 1.0)
    assert t.propose() == due[1]


def test_max_information_picks_the_item_maximising_a2_p_1_minus_p():
    items = ["i0", "i1", "i2", "i3", "i4"]
    space = mg.Discrete(items)
    a = {"i0": 0.5, "i1": 2.0, "i2": 1.0, "i3": 1.5, "i4": 3.0}
    t = MaxInformation(space, seed=0, model_settings={"discrimination": a})
    fitted = Elo(discrimination=a)
    for item, b in zip(items, [0.0, 0.5, -1.0, 2.0, 4.0]):
        fitted._item_code(item)
        fitted._grow()
        fitted.difficulty[fitted._items[item]] = b
    t.use_model(fitted)
    for score in (1.0, 1.0, 0.0, 1.0):
        p = t.predictions()
        info = np.array([a[i] ** 2 for i in items]) * p * (1 - p)
        assert t.propose() == items[int(np.argmax(info))]
        assert np.allclose(t.information(), info)
        t.observe(items[int(np.argmax(info))], score)


def test_difficulty_band_prefers_items_in_the_band():
    space = mg.Discrete(["easy", "ok", "hard"])
    fitted = Elo()
    for item, b in zip(space.task_names(), [-3.0, -1.2, 2.0]):
        fitted._item_code(item)
        fitted._grow()
        fitted.difficulty[fitted._items[item]] = b
    t = DifficultyBand(space, seed=0)
    t.use_model(fitted)
    p = dict(zip(t.items, t.predictions()))
    assert 0.7 <= p["ok"] <= 0.85 and p["easy"] > 0.85 and p["hard"] < 0.7
    assert {t.propose() for _ in range(20)} == {"ok"}


def test_policy_state_round_trip_keeps_the_learner_model(tmp_path):
    t = MasteryLearning(mg.Discrete(["a", "b"]), prerequisites={"b": ["a"]}, seed=3)
    for _ in range(5):
        t.observe(t.propose(), 1.0)
    t.advance(days=2)
    t.save(tmp_path / "p.ckpt")
    u = mg.load(tmp_path / "p.ckpt")
    assert np.allclose(u.mastery(), t.mastery()) and u.clock == t.clock
    assert [u.propose() for _ in range(5)] == [t.propose() for _ in range(5)]


def test_simulated_student_needs_prerequisites_and_forgets():
    rng = np.random.default_rng(0)
    params = {"a": (0.0, 1.0, 0.1, 0.05), "b": (0.0, 1.0, 0.1, 0.05)}
    st = SimulatedStudent(params, {"b": ["a"]}, rng)
    for _ in range(5):
        st.answer("b", 0.0)
    assert not st.known["b"]  # blocked by its prerequisite
    st.answer("a", 0.0)
    st.answer("b", 60.0)
    assert st.known["a"] and st.known["b"]
    assert st.p_correct("a", 120.0) > st.p_correct("a", 200 * 86400.0) > 0.1 - 1e-9
    g = skill_graph(20, np.random.default_rng(1))
    assert len(g) == 20 and all(all(int(r[1:]) < int(s[1:]) for r in req) for s, req in g.items())


def test_mastery_learning_masters_a_graph_faster_than_random_order():
    graph = skill_graph(8, np.random.default_rng(4))
    params = {s: (0.05, 0.3, 0.15, 0.08) for s in graph}
    space = mg.Discrete(list(graph))
    fitted = BKT()
    for s in graph:
        fitted._item_code(s, (s,))
    fitted._grow()
    fitted.params[:] = [0.05, 0.3, 0.15, 0.08, 0.0]
    times = {"mastery": [], "random": []}
    for seed in range(6):
        for name in times:
            student = SimulatedStudent(params, graph, np.random.default_rng(seed))
            if name == "mastery":
                t = MasteryLearning(space, prerequisites=graph, seed=seed)
                t.use_model(fitted)
            else:
                t = mg.make_teacher("uniform", space, seed=seed)
            r = run_session(t.propose, t.observe, student, budget=300, per_day=300)
            times[name].append(r.minutes_to_master if not np.isnan(r.minutes_to_master) else 301)
    assert np.median(times["mastery"]) < np.median(times["random"]), times


def _scan_order(skills, prerequisites):
    """The reference: repeatedly place the first pending skill whose prerequisites are placed."""
    done, placed, pending = [], set(), list(skills)
    while pending:
        s = next(s for s in pending if all(r in placed for r in prerequisites.get(s, [])))
        done.append(s)
        placed.add(s)
        pending.remove(s)
    return done


def test_topological_order_places_the_first_ready_skill_like_a_scan():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        skills = [f"s{i}" for i in rng.permutation(n)]
        rank = {s: i for i, s in enumerate(rng.permutation(skills))}  # a hidden order makes it acyclic
        prereq = {s: [r for r in skills if rank[r] < rank[s] and rng.random() < 0.15] for s in skills}
        assert topological_order(skills, prereq) == _scan_order(skills, prereq)
    with pytest.raises(ConfigError, match="cycle"):
        topological_order(["a", "b", "c"], {"a": ["c"], "c": ["a"]})


@pytest.mark.timeout(180)  # generous: linear set-up takes seconds; the quadratic one did not finish in hours
def test_policies_over_many_items_set_up_and_answer_in_linear_work():
    n = 200_000
    space = mg.Discrete([f"item-{i}" for i in range(n)])
    prereq = {f"item-{i}": [f"item-{i - 1}"] for i in range(1, n, 1000)}  # some chains
    for name in ("mastery-learning", "max-information"):
        t = mg.make_teacher(name, space, seed=0, prerequisites=prereq)
        tasks = t.propose(3)
        t.observe_batch(tasks, [0.9, 0.1, 0.5])
        assert t.n_observed == 3


# ---------------------------------------------------------------- policies over any learner model
SLICE = __import__("pathlib").Path(__file__).parent / "data" / "people" / "assist2015_slice.csv"


def _fitted(name: str):
    """best-lr fitted on the ASSISTments slice; the sequence models on strong and weak simulated learners."""
    from magister.people import Event, EventLog, load_assist2015, make_model

    if name == "best-lr":
        pytest.importorskip("sklearn")
        return make_model(name).fit(load_assist2015(SLICE, max_learners=120))
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    events = []
    for l in range(300):
        p = 0.9 if rng.random() < 0.5 else 0.25  # strong or weak on every skill: the history tells which
        for t in range(20):
            s = f"s{rng.integers(0, 4)}"
            events.append(Event(f"u{l}", s, (s,), float(t), float(rng.random() < p)))
    small = {"hidden": 16, "embed": 8} if name == "dkt" else {"dim": 16, "heads": 2, "window": 6}
    return make_model(name, epochs=8, lr=3e-3, seed=0, **small).fit(EventLog.from_events(events))


@pytest.mark.parametrize("name", ["best-lr", "dkt", "sakt"])
def test_mastery_learning_and_difficulty_band_run_on_any_learner_model(tmp_path, name):
    fitted = _fitted(name)
    probe = type(fitted).from_state(fitted.get_state())
    known = sorted(fitted._skills)
    p_new = [probe.predict("nobody-yet", s) for s in known]
    skills = [known[j] for j in np.argsort(p_new)[:3]]  # three skills a new learner is not expected to know
    assert max(p_new[known.index(s)] for s in skills) < 0.8
    prereq = {skills[1]: [skills[0]], skills[2]: [skills[1]]}
    space = mg.Discrete(skills)
    t = MasteryLearning(space, prerequisites=prereq, seed=0, threshold=0.8)
    t.use_model(fitted)
    assert t.model.name == name and t.config()["model"] == name
    order = []
    for _ in range(80):
        skill = t.propose()
        m = dict(zip(t.items, t.mastery()))
        assert all(m[r] >= 0.8 for r in prereq.get(skill, [])), (skill, m)  # prerequisites mastered first
        if order and order[-1] != skill and order[-1] in prereq.get(skill, []) + [skills[0]]:
            assert m[order[-1]] >= 0.8, (order, m)
        order.append(skill)
        t.observe(skill, 1.0)
    # the learner's right answers master the graph (a sequence model may credit skills never practised)
    assert order[0] == skills[0] and all(t.mastered().values()), (order, t.mastery())
    t.save(tmp_path / "ml.ckpt")
    again = mg.load(tmp_path / "ml.ckpt")
    assert again.model.name == name and np.allclose(again.mastery(), t.mastery())

    band = DifficultyBand(space, seed=0, band=(0.6, 0.75))
    band.use_model(fitted)
    for k in range(12):
        p = band.predictions()
        dist = np.maximum(0.6 - p, 0) + np.maximum(p - 0.75, 0)
        open_ = band.unlocked() & (band.mastery() < band._threshold())
        pick = band.propose()
        j = band.items.index(pick)
        assert open_[j] and dist[j] <= dist[open_].min() + 1e-12
        band.observe(pick, float(k % 2))
        assert band.predictions()[j] != p[j]  # the answer reached the learner model
    assert band.n_observed == 12 and band.model.name == name


def test_spaced_review_refuses_a_model_without_card_memory():
    from magister.people import BestLR

    t = SpacedReview(mg.Discrete(["a", "b"]), seed=0)
    with pytest.raises(ConfigError, match="memory model"):
        t.use_model(BestLR())
    with pytest.raises(ConfigError, match="learner model"):
        MasteryLearning(mg.Discrete(["a"])).use_model("bkt")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["mastery-learning", "difficulty-band", "max-information", "spaced-review"])
@pytest.mark.parametrize("bad", [{"threshold": float("nan")}, {"threshold": 5.0}, {"threshold": True},
                                 {"minutes_per_answer": float("nan")}, {"minutes_per_answer": float("inf")},
                                 {"start_time": float("nan")}, {"explore": True}])
def test_policies_refuse_non_finite_or_out_of_range_settings(name, bad):
    # a NaN minutes_per_answer used to be accepted and left the clock NaN after one answer, so every
    # later observe failed ("event timestamp must be finite"); a NaN threshold meant nothing was ever mastered
    with pytest.raises(ConfigError, match=next(iter(bad))):
        mg.make_teacher(name, mg.Discrete(["a", "b", "c"]), **bad)


def test_max_information_respect_prerequisites_must_be_true_or_false():
    # respect_prerequisites="false" (a JSON client) was read as True: the choice silently kept to unlocked items
    for bad in ("false", 0, [[0]]):
        with pytest.raises(ConfigError, match="respect_prerequisites must be True or False"):
            mg.make_teacher("max-information", mg.Discrete(["a", "b"]), respect_prerequisites=bad)
    assert MaxInformation(mg.Discrete(["a", "b"]), respect_prerequisites=True).respect_prerequisites is True


def test_policy_clock_refuses_non_finite_times_and_changes_nothing():
    t = mg.make_teacher("spaced-review", mg.Discrete(["a", "b"]), seed=0)
    t.observe("a", 1.0)
    clock = t.clock
    for call in (lambda: t.advance(days=float("nan")), lambda: t.advance(hours=float("inf")),
                 lambda: t.set_time(float("nan")), lambda: t.set_time("5")):
        with pytest.raises(ConfigError):
            call()
        assert t.clock == clock
    t.observe("b", 1.0)  # still works


def test_policy_settings_of_the_wrong_shape_get_a_clear_error():
    sp = mg.Discrete(["a", "b"])
    for bad in (2.5, True, -1):
        with pytest.raises(ConfigError, match="stuck_after"):
            MasteryLearning(sp, stuck_after=bad)
    with pytest.raises(ConfigError, match="band"):
        DifficultyBand(sp, band=(0.1, 0.5, 0.9))


@pytest.mark.parametrize("band, kind", [({0.7: "low", 0.85: "high"}, "a mapping"),
                                        ({"low": 0.7, "high": 0.85}, "a mapping"), ({0.6, 0.8}, "a set")])
def test_difficulty_band_refuses_a_mapping_or_a_set_as_its_band(band, kind):
    # band={0.7: ..., 0.85: ...} taught to the dict's keys, and its checkpoint never loaded (the keys saved as text,
    # refused by the load); a set (no order) was refused only as "cannot be saved", a CheckpointError
    sp = mg.Discrete(["a", "b"])
    with pytest.raises(ConfigError, match=rf"band must be two probabilities \[low, high\] in order, got {kind}.*; "
                                          r"give a list or tuple, for example band=\[0.7, 0.85\]"):
        mg.make_teacher("difficulty-band", sp, band=band, seed=0)
    for good in ((0.7, 0.85), [0.6, 0.75], np.array([0.7, 0.85])):  # lists, tuples and arrays as before
        t = mg.make_teacher("difficulty-band", sp, band=good, seed=0)
        assert t.band == tuple(float(v) for v in good) and mg.loads(t.to_bytes()).band == t.band
    assert mg.make_teacher("difficulty-band", sp, seed=0).band == (0.7, 0.85)  # the default


def test_use_model_records_the_fitted_models_settings_even_of_the_same_kind(tmp_path):
    # use_model recorded the fitted model's settings only when its kind differed: a spaced-review policy built
    # with desired_retention=0.8 that took a fitted FSRS model (its own desired_retention 0.9) kept reporting
    # model_settings={"desired_retention": 0.8} while its model used 0.9
    from magister.people import FSRSMemory

    t = SpacedReview(mg.Discrete(["a", "b", "c"]), desired_retention=0.8, seed=0)
    fitted = FSRSMemory(desired_retention=0.9, first_recall=0.6)
    t.use_model(fitted)
    assert t.model.desired_retention == 0.9
    assert t.config()["model_settings"]["desired_retention"] == t.model.desired_retention == 0.9
    assert t.config()["model_settings"]["first_recall"] == 0.6
    assert t.desired_retention == 0.8 and t.config()["desired_retention"] == 0.8  # the policy's own, unchanged
    for _ in range(6):
        t.observe(t.propose(), 1.0)
        t.advance(days=1)
    t.save(tmp_path / "s.ckpt")
    u = mg.load(tmp_path / "s.ckpt")
    assert u.model.desired_retention == 0.9 and u.desired_retention == 0.8 and u.config() == t.config()
    assert [u.propose() for _ in range(5)] == [t.propose() for _ in range(5)]
    b = MasteryLearning(mg.Discrete(["a", "b"]), seed=0)
    b.use_model(BKT(mastery_threshold=0.8))
    assert b.config()["model_settings"]["mastery_threshold"] == 0.8


def test_spaced_review_checks_its_desired_retention_when_the_model_has_its_own():
    # with desired_retention in model_settings the policy's own was never checked: NaN meant nothing was ever due
    for bad in (float("nan"), 1.0, 0.0, "0.8"):
        with pytest.raises(ConfigError, match="desired_retention"):
            SpacedReview(mg.Discrete(["a", "b"]), desired_retention=bad, model_settings={"desired_retention": 0.9})
        with pytest.raises(ConfigError, match="desired_retention"):
            SpacedReview(mg.Discrete(["a", "b"]), model_settings={"desired_retention": bad})


def test_spaced_review_uses_one_desired_retention_given_in_either_place():
    # model_settings={"desired_retention": 0.8} alone made items due at the policy's default 0.9 while the model
    # used 0.8
    sp = mg.Discrete(["a", "b"])
    for t in (SpacedReview(sp, model_settings={"desired_retention": 0.8}), SpacedReview(sp, desired_retention=0.8)):
        assert t.desired_retention == t.model.desired_retention == 0.8
    t = SpacedReview(sp)
    assert t.desired_retention == t.model.desired_retention == 0.9
    assert SpacedReview(sp, desired_retention=0.8, model_settings={"desired_retention": 0.8}).desired_retention == 0.8
    both = SpacedReview(sp, desired_retention=0.85, model_settings={"desired_retention": 0.8})
    assert both.desired_retention == 0.85 and both.model.desired_retention == 0.8  # the policy's decides when due


def test_a_checkpoint_with_a_nan_clock_is_refused_and_changes_nothing():
    t = MasteryLearning(mg.Discrete(["a", "b"]), seed=0)
    t.observe("a", 1.0)
    state = t.state_dict()
    state["algorithm"]["clock"] = float("nan")
    with pytest.raises(CheckpointError, match="clock"):
        t.load_state_dict(state)
    assert t.clock == 60.0
    t.observe("b", 1.0)


@pytest.mark.parametrize("cls,entry,fix", [
    (DifficultyBand, "difficulty", lambda a: a[:-1]), (DifficultyBand, "disc", lambda a: np.full_like(a, np.nan)),
    (MaxInformation, "difficulty", lambda a: np.full_like(a, np.nan)), (MaxInformation, "item_count", lambda a: a[:-1]),
    (MasteryLearning, "params", lambda a: a[:-1]), (MasteryLearning, "params", lambda a: a * 7)])
def test_a_checkpoint_with_learner_model_parameters_that_do_not_fit_is_refused(cls, entry, fix):
    # taken as they were: a short elo or bkt parameter list made the next propose or observe fail with an
    # IndexError, a NaN difficulty a raw "high <= 0" from the generator
    _damaged_model_is_refused(cls, lambda model: model["params"].update({entry: fix(model["params"][entry])}),
                              "saved (elo|bkt) parameters")


def _damaged_model_is_refused(cls, damage, match):
    """A policy's checkpoint whose learner model ``damage(model_state)`` changed is refused, changing nothing, and
    the policy goes on."""
    from magister.testing import states_equal

    t = cls(mg.Discrete(["a", "b", "c"]), seed=0)
    for i in range(6):
        t.observe(t.propose(), float(i % 2))
    state = t.state_dict()
    damage(state["algorithm"]["model"])
    u = cls(mg.Discrete(["a", "b", "c"]), seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=match):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())
    u.observe(u.propose(), 1.0)


@pytest.mark.parametrize("cls,entry,fix", [
    (DifficultyBand, "items", lambda v: v + v[-1:]), (MasteryLearning, "learners", lambda v: v + v[-1:]),
    (MasteryLearning, "skills", lambda v: v + v[-1:]), (MasteryLearning, "item_skill", lambda v: v[:-1]),
    (MasteryLearning, "item_skill", lambda v: v + 5), (SpacedReview, "items", lambda v: v[:-1]),
    (SpacedReview, "items", lambda v: ["x"] + v[1:])])
def test_a_checkpoint_whose_learner_model_vocabulary_does_not_fit_is_refused(cls, entry, fix):
    # taken as it was: a name repeated, an item_skill that does not match the items, or a model that lacks
    # one of the policy's items made the next propose or observe fail with an IndexError or KeyError
    _damaged_model_is_refused(cls, lambda model: model.update({entry: fix(model[entry])}),
                              "repeat a name|item_skill holds|lacks items")


@pytest.mark.parametrize("value", [7.0, -0.5, np.inf])
def test_a_checkpoint_with_a_mastery_outside_0_1_is_refused(value):
    # taken as it was: mastery() reported P(mastered) = 7
    from magister.testing import states_equal

    t = MasteryLearning(mg.Discrete(["a", "b", "c"]), seed=0)
    for i in range(6):
        t.observe(t.propose(), float(i % 2))
    state = t.state_dict()
    learner = state["algorithm"]["model"]["learner_state"]
    learner["p_mastered"] = np.full_like(learner["p_mastered"], value)
    u = MasteryLearning(mg.Discrete(["a", "b", "c"]), seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=r"saved bkt mastery must be probabilities in \[0, 1\]"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_a_learner_model_file_missing_an_entry_gets_a_checkpoint_error(tmp_path):
    from magister import checkpoint
    from magister.people.base import LearnerModel

    state = Elo().get_state()
    del state["params"]
    checkpoint.save_state(tmp_path / "m.ckpt", state)
    with pytest.raises(CheckpointError, match="learner-model state of 'elo' is malformed .*params"):
        LearnerModel.load(tmp_path / "m.ckpt")  # a raw KeyError before


@pytest.mark.parametrize("settings", [{}, {"graded": True, "grades_from_scores": True}])
def test_spaced_review_default_model_counts_a_right_answer_as_recalled(settings):
    # the default FSRS model is graded (grades 1-4, recalled = grade > 1) but the policy passed it the
    # normalised score, so a right answer (1.0) was grade 1, "again": every answer was a lapse
    right = SpacedReview(mg.Discrete(["a", "b"]), seed=0, model_settings=settings)
    wrong = SpacedReview(mg.Discrete(["a", "b"]), seed=0, model_settings=settings)
    right.observe("a", 1.0)
    wrong.observe("a", 0.0)
    w = right.model.w
    assert wrong.model.card("learner", "a")["stability"] == pytest.approx(w[0])  # grade 1
    assert right.model.card("learner", "a")["stability"] == pytest.approx(w[3] if settings else w[2])


def test_mastery_learning_with_a_bkt_fitted_on_a_graded_log_learns_from_right_answers():
    bkt = BKT(graded=True)
    t = MasteryLearning(mg.Discrete(["a"]), seed=0, model="bkt")
    t.use_model(bkt)
    before = t.model.mastery("learner", "a")
    t.observe("a", 1.0)
    assert t.model.mastery("learner", "a") > before


def test_skill_graph_says_what_it_builds_and_refuses_what_it_cannot():
    # max_parents=0 gave numpy's "high <= 0" although the docstring read "0-max_parents"
    from magister.people.simulate import skill_graph

    g = skill_graph(12, np.random.default_rng(0), max_parents=3)
    assert g["s00"] == [] and all(1 <= len(g[f"s{i:02d}"]) <= 3 for i in range(1, 12))
    for bad in ({"max_parents": 0}, {"max_parents": 1.5}, {"n": 0}):
        with pytest.raises(mg.ConfigError):
            skill_graph(**{"n": 5, "rng": np.random.default_rng(0), **bad})


def test_use_model_refuses_a_fitted_model_that_gives_an_item_another_skill():
    # the fitted model kept its own skill for the policy's items (A0, A1), so each answer went to that skill while
    # the policy read the skill it was given (B): thirty right answers left B at the prior, never mastered
    from magister.people import Event, EventLog

    log = EventLog.from_events([Event(f"u{l}", f"q{t % 2}", (f"A{t % 2}",), t, float((l + t) % 3 > 0))
                                for l in range(10) for t in range(10)])
    fitted = BKT().fit(log)
    t = MasteryLearning(mg.Discrete(["q0", "q1"]), skills={"q0": "B", "q1": "B"}, seed=0)
    before = t.model
    with pytest.raises(ConfigError, match=r"gives item 'q0' the skill 'A0', but this policy gives it 'B'"):
        t.use_model(fitted)
    assert t.model is before and t.config()["model"] == "bkt" and t.config()["model_settings"] is None
    same = MasteryLearning(mg.Discrete(["q0", "q1"]), skills={"q0": "A0", "q1": "A1"}, seed=0)
    same.use_model(fitted)  # the same skills: taken
    for _ in range(30):
        same.observe(same.propose(), 1.0)
    assert all(same.mastered().values())


def test_draw_students_refuses_an_unfitted_bkt_and_a_negative_count():
    # an unfitted BKT was numpy's "high <= 0"; n=-1 drew no student without a word
    from magister.people import Event, EventLog
    from magister.people.simulate import draw_students

    graph = skill_graph(4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="fitted on a log"):
        draw_students(BKT(), 2, graph, np.random.default_rng(0))
    log = EventLog.from_events([Event(f"u{l}", f"q{t % 2}", (f"s{t % 2}",), float(t), float((l + t) % 3 < 2))
                                for l in range(6) for t in range(8)])
    bkt = BKT().fit(log)
    with pytest.raises(ConfigError, match="n must be a whole number >= 0"):
        draw_students(bkt, -1, graph, np.random.default_rng(0))
    students, params = draw_students(bkt, 2, graph, np.random.default_rng(0))
    assert len(students) == 2 and set(params) == set(graph)


def test_simulated_students_refuse_a_graph_they_cannot_use_and_sessions_a_day_of_no_exercise():
    """A prerequisite that is no skill of the graph was taken and failed at the first answer with a raw KeyError
    ('zz'); a list of skills in place of the {skill: prerequisites} dict drew students whose first answer failed
    with an AttributeError; run_session(per_day=0) was a ZeroDivisionError."""
    params = {"a": (0.2, 0.3, 0.2, 0.1), "b": (0.2, 0.3, 0.2, 0.1)}
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=r"prerequisite 'zz' of skill 'b' is no skill of the student.*'a', 'b'"):
        SimulatedStudent(params, {"a": [], "b": ["zz"]}, rng)
    with pytest.raises(ConfigError, match=r"prerequisites must be a dict of skill -> \[skills it needs\]"):
        SimulatedStudent(params, ["a", "b"], rng)
    with pytest.raises(ConfigError, match=r"prerequisites of 'b' must be a list of skills, got 'a'"):
        SimulatedStudent(params, {"b": "a"}, rng)
    with pytest.raises(ConfigError, match="skill 'c' of prerequisites is no skill of the student"):
        SimulatedStudent(params, {"c": ["a"]}, rng)
    student = SimulatedStudent(params, {"a": [], "b": ["a"]}, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="per_day must be a whole number >= 1"):
        run_session(lambda: "a", lambda skill, correct: None, student, budget=5, per_day=0)
    with pytest.raises(ConfigError, match="budget must be a whole number >= 0"):
        run_session(lambda: "a", lambda skill, correct: None, student, budget=-1)
    assert run_session(lambda: "a", lambda skill, correct: None, student, budget=5, per_day=2).minutes == 5


def test_simulated_students_refuse_a_cyclic_prerequisite_graph_naming_the_cycle():
    """A cycle was taken: no skill on it could be learned (each waits for another), so a session ran its budget and
    said minutes_to_master NaN without a word."""
    params = {s: (0.0, 0.5, 0.2, 0.1) for s in "abcd"}
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=r"form a cycle, 'b' -> 'c' -> 'd' -> 'b'.*remove one of its links"):
        SimulatedStudent(params, {"a": [], "b": ["a", "c"], "c": ["d"], "d": ["b"]}, rng)
    with pytest.raises(ConfigError, match=r"form a cycle, 'a' -> 'a'"):
        SimulatedStudent(params, {"a": ["a"]}, rng)
    # a graph without cycles, diamonds included, is taken, and every skill of it can be learned
    student = SimulatedStudent(params, {"b": ["a"], "c": ["a"], "d": ["b", "c"]}, np.random.default_rng(0))
    skills = iter(["a"] * 40 + ["b", "c"] * 40 + ["d"] * 40)
    assert run_session(lambda: next(skills), lambda skill, correct: None, student, budget=160).minutes_to_master > 0


@pytest.mark.parametrize("needs", [{"a"}, frozenset({"a"}), ("a",), np.array(["a"])])
def test_simulated_student_takes_prerequisites_in_any_collection_of_names(needs):
    """The graph check added with the refusals above took only a list or tuple of prerequisites: a set (or a
    frozenset, or an array of names), which a deck's prerequisites take and which the student used before, was
    refused as "must be a list of skills". The student answers as with the list."""
    params = {"a": (0.0, 0.3, 0.2, 0.1), "b": (0.0, 0.3, 0.2, 0.1)}
    given = SimulatedStudent(params, {"b": needs}, np.random.default_rng(0))
    listed = SimulatedStudent(params, {"b": ["a"]}, np.random.default_rng(0))
    assert [given.answer("b", 60.0 * i) for i in range(4)] == [listed.answer("b", 60.0 * i) for i in range(4)]
    assert not given.ready("b")
    with pytest.raises(ConfigError, match="must be a list of skills"):
        SimulatedStudent(params, {"b": np.array("a")}, np.random.default_rng(0))  # one name, not a list of them


def test_a_prerequisite_cycle_with_a_skill_that_may_be_known_at_the_start_is_taken_as_before():
    """The cycle check refused every cycle as unlearnable; a skill on it known at the start (a prior above 0, as a
    fitted BKT's priors are, or given in known) lets the others be learned, as they always were."""
    cycle = {"b": ["c"], "c": ["b"]}
    for params, known in [({"b": (1.0, 0.5, 0.1, 0.1), "c": (0.0, 0.5, 0.1, 0.1)}, {}),
                          ({"b": (0.0, 0.5, 0.1, 0.1), "c": (0.0, 0.5, 0.1, 0.1)}, {"b": True})]:
        student = SimulatedStudent(params, cycle, np.random.default_rng(0), known=dict(known))
        for minute in range(60):
            student.answer("c", minute * 60.0)
        assert student.all_known()
    # none of them can be known at the start (prior 0, or given as not known): still refused, naming the cycle
    zero = {"b": (0.0, 0.5, 0.1, 0.1), "c": (0.0, 0.5, 0.1, 0.1)}
    for known in ({}, {"b": False}):
        with pytest.raises(ConfigError, match=r"form a cycle, 'b' -> 'c' -> 'b'.*prior 0"):
            SimulatedStudent(zero, cycle, np.random.default_rng(0), known=dict(known))


@pytest.mark.parametrize("name", ["mastery-learning", "spaced-review", "difficulty-band", "max-information"])
def test_a_minutes_per_answer_whose_step_in_seconds_overflows_is_refused_at_construction(name):
    """minutes_per_answer=1e308 was taken, its step of the clock (60 times it, in seconds) was infinite, and every
    answer after was refused for an infinite time: a policy (or a served curriculum) that could observe nothing."""
    with pytest.raises(ConfigError, match=r"minutes_per_answer must be a number in \[0.0, .*got 1e\+308.*finite"):
        mg.make_teacher(name, mg.Discrete(["a", "b"]), seed=0, minutes_per_answer=1e308)
    largest = mg.make_teacher(name, mg.Discrete(["a", "b"]), seed=0, minutes_per_answer=1e306)
    largest.observe("a", 1.0)
    assert largest.clock == 6e307


@pytest.mark.parametrize("name", ["mastery-learning", "spaced-review", "difficulty-band", "max-information"])
def test_a_clock_that_would_pass_the_largest_float_is_refused_where_it_enters_nothing_recorded(name):
    """A start_time near the largest float (or one reached by set_time, advance or the answers' own steps) was taken:
    the clock became infinite after an answer, and every later answer was refused for its infinite time (the
    time-reading models failed on each proposal too). The largest minutes_per_answer the setting took had an
    infinite step."""
    from magister.testing import states_equal

    largest = float(np.finfo(float).max)
    space = mg.Discrete(["a", "b"])
    with pytest.raises(ConfigError, match=r"start_time: the clock would pass the largest .* after one answer"):
        mg.make_teacher(name, space, seed=0, start_time=largest, minutes_per_answer=1e300)
    with pytest.raises(ConfigError, match=r"minutes_per_answer must be a number in \[0.0, "):
        mg.make_teacher(name, space, seed=0, minutes_per_answer=largest / 60.0)  # (60 times it is infinite)
    assert mg.make_teacher(name, space, seed=0, start_time=largest).clock == largest  # a step that fits is taken
    policy = mg.make_teacher(name, space, seed=0, start_time=1e308, minutes_per_answer=1e306)
    policy.observe("a", 1.0)  # the clock at 1.6e308: one more answer would pass the largest float
    before = policy.state_dict()
    with pytest.raises(ConfigError, match=r"the clock would pass the largest .* after one answer.*Nothing was"):
        policy.observe("b", 1.0)
    with pytest.raises(ConfigError, match=r"after 2 answers"):
        policy.observe_batch(["a", "b"], [1.0, 0.0])
    with pytest.raises(ConfigError, match=r"set_time\(1\.7.*\): the clock would pass"):
        policy.set_time(1.7e308)
    with pytest.raises(ConfigError, match=r"advance\(\) by .*: the clock would pass"):
        policy.advance(days=1e302)
    assert states_equal(before, policy.state_dict()) and policy.n_observed == 1
    assert policy.propose(1)[0] in ("a", "b")


def test_a_simulated_students_parameters_are_four_probabilities_per_skill():
    """Two values per skill were taken and failed at the skill's first answer ("not enough values to unpack"), text
    with a raw TypeError; the quickstart's comment named them in the wrong order."""
    rng = np.random.default_rng(0)
    for bad in ((0.1, 0.3), ("0.1", 0.3, 0.2, 0.1), (0.1, 0.3, 0.2, float("nan")), (0.1, 1.5, 0.2, 0.1), "abcd"):
        with pytest.raises(ConfigError, match=r"params\['a'\] must be four probabilities \(prior, learn, guess, slip\)"):
            SimulatedStudent({"a": bad, "b": (0.1, 0.3, 0.2, 0.1)}, {"b": ["a"]}, rng)
    with pytest.raises(ConfigError, match=r"params must be a dict of skill -> \(prior, learn, guess, slip\)"):
        SimulatedStudent([(0.1, 0.3, 0.2, 0.1)], {}, rng)
    student = SimulatedStudent({"a": np.array([0.0, 1.0, 0.2, 0.1])}, {}, np.random.default_rng(0))
    assert student.answer("a", 0.0) in (0, 1) and student.known["a"]  # learn 1: known after one exercise
def test_a_checkpoint_with_negative_attempt_counts_is_refused():
    # taken as they were: an item tried -1 times counted two more tries before it was stuck (checkpoint fuzz)
    from magister.testing import states_equal

    t = MasteryLearning(mg.Discrete(["a", "b", "c"]), seed=0)
    for i in range(6):
        t.observe(t.propose(), float(i % 2))
    state = t.state_dict()
    state["algorithm"]["tries"] = np.full_like(state["algorithm"]["tries"], -1)
    u = MasteryLearning(mg.Discrete(["a", "b", "c"]), seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match="attempt counts"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())
