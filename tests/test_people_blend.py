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
    m = make_model("blend", members=["best-lr", ["bkt", {"forgets": False}]], valid_fraction=0.3, seed=1,
                   first_answer=False)
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
    np.testing.assert_allclose(m.weights, [0.0, 0.5, 0.5, 0.0, 0.0, 0.0])  # the first-answer gate left at zero



def test_the_held_out_share_is_taken_from_the_learners_with_answers(slice_log):
    # a subset (a fold) keeps the whole vocabulary: half of all 80 names were held out, so a subset of two learners
    # had both held out (every member's fit refused: "needs at least one event") or neither (no weights fitted)
    sub = slice_log.subset(np.isin(slice_log.learner, [0, 1]))
    for seed in range(6):
        m = make_model("blend", members=["bkt", "elo"], valid_fraction=0.5, seed=seed, refit=False).fit(sub)
        assert m.fitted and not np.allclose(m.weights, m._initial_weights())  # one learner fitted on, one held out
    # on a log with every learner answering, the same learners are held out as before
    full = make_model("blend", members=["elo"], valid_fraction=0.25, seed=3, refit=False).fit(slice_log)
    rng = np.random.default_rng(3)
    held = rng.permutation(len(slice_log.learners))[:20]
    elo = make_model("elo").fit(slice_log.subset(~np.isin(slice_log.learner, held)))
    elo.replay(slice_log.subset(np.isin(slice_log.learner, held)))  # the weights' replay moves Elo's items too
    items = sorted(set(slice_log.items[i] for i in slice_log.item))
    assert [full.members[0].item_params(q) for q in items] == [elo.item_params(q) for q in items]

@pytest.mark.parametrize("bad", [{"members": []}, {"members": ["nope"]}, {"members": [["elo", 3]]},
                                 {"valid_fraction": 1.0}, {"mastery_threshold": 2.0},
                                 {"processes": 0}, {"processes": 1.5}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        make_model("blend", **bad)


def test_unfitted_or_empty_is_refused(slice_log):
    m = make_model("blend", members=["elo"])
    with pytest.raises(ConfigError, match="not fitted"):
        m.predict("ana", "q")
    with pytest.raises(ConfigError, match="at least one event"):
        m.fit(EventLog.from_events([]))


def test_an_item_tagged_two_ways_is_refused_before_any_member_is_fitted():
    # one held-out learner tags q0 with another skill: the members were fitted on the other learners first, then
    # their replay of the held-out part refused it, naming that part's rows (12, 16, 20 instead of 204, 208, 212)
    events = [Event(f"u{l}", f"q{t % 4}", ("s1" if t % 4 == 0 and l == 19 else f"s{t % 2}",), float(t),
                    float((l * 7 + t * 3) % 5 < 3)) for l in range(20) for t in range(12)]
    log = EventLog.from_events(events)
    rows = ", ".join(str(int(r)) for r in np.flatnonzero((log.item == 0) & (log.skill == 1)))
    model = make_model("blend", members=[["bkt", {}], ["elo", {}]], seed=0)
    with pytest.raises(ConfigError, match=rf"item 'q0' is tagged with two skills: 's0' \(row 0\) and 's1' \(rows {rows}\)"):
        model.fit(log)
    assert [len(m._learners) for m in model.members] == [0, 0]


def test_an_item_a_fitted_blend_knows_with_another_skill_is_refused_naming_the_tables_rows():
    # the blend checked the table alone, not its members' items: an item it took an answer on without skills (its
    # skill its own name) was refused by the first member's fit, naming the rows of the fitting part (216, ...)
    events = [Event(f"u{l}", f"q{t % 4}", (f"s{t % 2}",), float(t), float((l * 7 + t * 3) % 5 < 3))
              for l in range(20) for t in range(12)]
    model = make_model("blend", members=[["bkt", {}], ["elo", {}]], seed=0).fit(EventLog.from_events(events))
    model.update(Event("u0", "q9", (), 13.0, 1.0))
    before = [str(m.get_state()) for m in model.members]
    log = EventLog.from_events(events + [Event(f"u{l}", "q9", ("s1",), 20.0 + l, 1.0) for l in range(20)])
    with pytest.raises(ConfigError, match=r"item 'q9' has skill 'q9' .* \(rows 240, 241, 242, 243, 244 and 15"):
        model.fit(log)
    assert [str(m.get_state()) for m in model.members] == before
    # and replay refuses such a table before it marks its learners as having answered (the first-answer gate)
    before = str(model.get_state())
    with pytest.raises(ConfigError, match=r"item 'q9' has skill 'q9'"):
        model.replay(EventLog.from_events([Event("new", "q9", ("s1",), 0.0, 1.0)]))
    assert str(model.get_state()) == before and "new" not in model.answered


def test_first_answer_gate_is_learned_replayed_like_the_loop_and_saved(tmp_path, slice_log):
    m = make_model("blend", members=["best-lr", "elo"], seed=0, valid_fraction=0.3, first_answer=True)
    m.fit(slice_log.subset(slice_log.learner < 60))
    w = m.member_weights()
    assert {"first answer: intercept", "first answer: best-lr", "first answer: elo"} <= set(w)
    assert len(m.weights) == 6 and np.any(m.weights[3:] != 0.0)  # the gate was fitted, not left at zero
    test = slice_log.subset(slice_log.learner >= 60)
    m.reset()
    start = m.get_state()
    fast = m.replay(test.subset(np.arange(len(test)) < 300))
    m.set_state(start)
    slow = LearnerModel.replay(m, test.subset(np.arange(len(test)) < 300))
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    name = test.learners[int(test.learner[0])]
    assert name in m.answered and m._first(name) == 0.0 and m._first("new learner") == 1.0
    m.save(tmp_path / "g.ckpt")
    again = load_model(tmp_path / "g.ckpt")
    assert again.answered == m.answered
    rest = test.subset(np.arange(len(test)) >= 300)
    np.testing.assert_array_equal(m.replay(rest), again.replay(rest))
    # a first answer is predicted with the gate: not what the plain weights alone would give
    q = again.members
    plain = 1 / (1 + np.exp(-(again.weights[0] + sum(
        wk * np.log(p / (1 - p)) for wk, p in zip(again.weights[1:3], [x.predict("zed", test.items[0]) for x in q])))))
    assert again.predict("zed", test.items[0]) != pytest.approx(plain)


def test_refit_members_see_every_learner_and_keep_the_weights(tmp_path, slice_log):
    train = slice_log.subset(slice_log.learner < 60)
    test = slice_log.subset(slice_log.learner >= 60)
    conf = dict(members=["best-lr", "elo"], seed=2, valid_fraction=0.3)
    plain = make_model("blend", **conf).fit(train)
    refit = make_model("blend", refit=True, **conf).fit(train)
    np.testing.assert_array_equal(refit.weights, plain.weights)  # weights from the held-out learners, as before
    for k, name in enumerate(["best-lr", "elo"]):
        whole = make_model(name).fit(train)  # the same member fitted directly on all 60 learners
        for m in (whole, refit.members[k], plain.members[k]):
            m.reset()
        np.testing.assert_allclose(refit.members[k].replay(test), whole.replay(test), atol=1e-12)
        assert not np.allclose(plain.members[k].replay(test), whole.replay(test))  # the plain one saw 70% only
    refit = make_model("blend", refit=True, **conf).fit(train)  # afresh: elo moves item difficulties online
    refit.save(tmp_path / "r.ckpt")
    again = load_model(tmp_path / "r.ckpt")
    assert again.settings["refit"] is True
    np.testing.assert_array_equal(again.replay(test), refit.replay(test))


def test_members_fitted_in_worker_processes_equal_those_fitted_here(slice_log):
    train = slice_log.subset(slice_log.learner < 60)
    test = slice_log.subset(slice_log.learner >= 60)
    conf = dict(members=["best-lr", "elo"], seed=2,
                valid_fraction=0.3, refit=False)  # refit fits through the same path; one pool keeps this cheap
    here = make_model("blend", **conf).fit(train)
    pooled = make_model("blend", processes=2, **conf).fit(train)
    assert pooled.settings["processes"] == 2
    np.testing.assert_array_equal(pooled.weights, here.weights)
    np.testing.assert_allclose(pooled.replay(test), here.replay(test), atol=1e-12)


def test_a_blend_whose_member_fit_changed_a_setting_saves_and_loads(tmp_path, slice_log):
    # FSRS's fit sets its first_recall (and a graded log makes a member graded): the loaded blend rebuilt the
    # member from its spec (first_recall 0.7) and refused its own file as "damaged or edited"
    from magister.errors import CheckpointError

    m = make_model("blend", members=[["bkt", {}], ["fsrs", {"graded": False}]], seed=0, refit=False).fit(slice_log)
    assert m.members[1].settings["first_recall"] != 0.7
    m.save(tmp_path / "b.ckpt")
    again = load_model(tmp_path / "b.ckpt")
    assert again.get_state().keys() == m.get_state().keys()
    assert again.members[1].settings == m.members[1].settings
    learner, item = slice_log.learners[0], slice_log.items[0]
    assert again.predict(learner, item) == m.predict(learner, item)
    # a member's saved settings edited into ones make_model refuses: a CheckpointError, not a raw one
    state = m.get_state()
    state["params"]["members"][1]["settings"]["first_recall"] = 7.0
    with pytest.raises(CheckpointError, match="member 'fsrs'"):
        LearnerModel.from_state(state)


def test_a_version_1_blend_whose_members_saved_a_loose_flag_loads_as_it_ran():
    # a file saved before state versions (read as that magister ran it: forgets="yes" was True) loaded before the
    # members were rebuilt from their saved settings; then make_model refused the member's "yes" as damaged
    import copy

    from magister.errors import CheckpointError

    m = make_model("blend", members=[["bkt", {"forgets": True}], ["fsrs", {}]], seed=0, refit=False)
    old = copy.deepcopy(m.get_state())
    old.pop("state_version", None)  # version 1
    old["settings"]["members"][0][1]["forgets"] = "yes"
    old["params"]["members"][0]["settings"]["forgets"] = "yes"
    loaded = LearnerModel.from_state(old)
    assert loaded.members[0].settings == m.members[0].settings and loaded.members[0].settings["forgets"] is True
    # the same edit in a version-2 file is refused, as before
    edited = copy.deepcopy(m.get_state())
    edited["state_version"] = 2
    edited["params"]["members"][0]["settings"]["forgets"] = "yes"
    with pytest.raises(CheckpointError, match="forgets"):
        LearnerModel.from_state(edited)


def test_a_ctrl_c_while_members_fit_in_worker_processes_raises_a_plain_keyboard_interrupt(slice_log, monkeypatch):
    # the blend's own multiprocessing pool: each worker printed a KeyboardInterrupt traceback;
    # magister.processes.run_in_pool stops them quietly, and the blend raises a plain KeyboardInterrupt
    # (exit status 130, not run_in_pool's Interrupted with the states of the members fitted so far)
    import magister.people.blend as blend_module
    from magister.processes import Interrupted

    def ctrl_c(fn, jobs, *, workers):
        assert workers == 2 and [name for name, _, _ in jobs] == ["best-lr", "elo"]
        raise Interrupted([({"fitted": "state"}, None), None])

    monkeypatch.setattr(blend_module, "run_in_pool", ctrl_c)
    model = make_model("blend", members=["best-lr", "elo"], seed=2, processes=2, refit=False)
    with pytest.raises(KeyboardInterrupt) as info:
        model.fit(slice_log)
    assert type(info.value) is KeyboardInterrupt and not model.fitted


@pytest.mark.parametrize("processes", [1, 2])
def test_a_blend_saved_with_a_member_setting_read_loosely_fits_again_as_it_ran(tmp_path, slice_log, processes):
    # a blend saved before best-lr's settings were checked (members=[["best-lr", {"C": "2"}], ...], read by float())
    # loaded, but fit (refit=True, its default, builds the members afresh from the saved settings; with processes=2
    # in worker processes) raised "best-lr C must be a finite number" as if the settings were given anew
    from magister import checkpoint

    log = slice_log.subset(np.arange(len(slice_log)) < 600)
    ran = make_model("blend", members=[["best-lr", {"C": 2.0}], "elo"], seed=2, processes=processes).fit(log)
    state = {**ran.get_state(), "state_version": LearnerModel.state_version}
    state["settings"] = {**state["settings"], "members": [["best-lr", {"C": "2"}], ["elo", {}]]}  # as it saved them
    member = state["params"]["members"][0]
    state["params"]["members"][0] = {**member, "settings": {**member["settings"], "C": "2"}}
    again = load_model(checkpoint.save_state(tmp_path / "old.ckpt", state))
    np.testing.assert_array_equal(again.replay(log), ran.replay(log))
    again.fit(log)
    ran.fit(log)
    assert again.member_weights() == ran.member_weights()
    np.testing.assert_array_equal(again.replay(log), ran.replay(log))
    with pytest.raises(ConfigError, match="best-lr C must be"):  # given anew: still refused
        make_model("blend", members=[["best-lr", {"C": "2"}], "elo"])
