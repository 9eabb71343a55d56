"""Best-LR: replay matches the one-answer-at-a-time loop, save/load, bad input, what the weights learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magister.errors import ConfigError
from magister.people import BestLR, Event, EventLog, load_assist2015, load_model, make_model
from magister.people.base import LearnerModel
from magister.people.evaluate import auc

pytest.importorskip("sklearn")

DATA = Path(__file__).parent / "data" / "people"


@pytest.fixture(scope="module")
def split():
    log = load_assist2015(DATA / "assist2015_slice.csv")
    fold = log.extra["fold"]
    return log.subset(fold != 0), log.subset(fold == 0)


@pytest.fixture(scope="module")
def fitted(split):
    return BestLR().fit(split[0])


def test_registered_and_the_weights_point_the_right_way(fitted):
    assert isinstance(make_model("best-lr", window=5), BestLR)
    w = fitted.weights()
    # over all skills, earlier right answers raise P(correct) and wrong ones lower it (on one skill a wrong
    # answer may still raise it a little, as practice: PFA's positive failure weights)
    assert w["right_skill"] > 0 and w["right_all"] > 0 > w["wrong_all"] and w["wrong_recent"] < 0


def test_vectorised_replay_matches_predict_then_update(split, fitted):
    test = split[1].subset(np.arange(len(split[1])) < 1500)
    fitted.reset()
    fast = fitted.replay(test)
    counts, totals = fitted.counts.copy(), fitted.totals.copy()
    fitted.reset()
    slow = LearnerModel.replay(fitted, test)  # the protocol's generic loop over predict / update
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    np.testing.assert_allclose(fitted.counts, counts)
    np.testing.assert_allclose(fitted.totals, totals)
    fitted.reset()


def test_held_out_learners_are_ranked_better_than_chance(split, fitted):
    fitted.reset()
    p = fitted.replay(split[1])
    fitted.reset()
    assert auc(split[1].correct, p) > 0.65


def test_online_update_moves_the_prediction(fitted):
    m = BestLR.from_state(fitted.get_state())
    skill = m.skills_seen()[0]
    p0 = m.predict("ana", skill)
    assert p0 == m.predict("bo", skill)  # no history, no difference
    for t in range(6):
        m.update(Event("ana", skill, (skill,), float(t), 1.0))
        m.update(Event("bo", skill, (skill,), float(t), 0.0))
    assert m.predict("ana", skill) > p0 and m.predict("ana", skill) > m.predict("bo", skill)
    assert m.state("ana")[skill]["right"] == 6.0 and m.state("bo")[skill]["wrong"] == 6.0
    for t in range(6, 14):
        m.update(Event("ana", skill, (skill,), float(t), 0.0))
    # the recent window holds the last 10 answers only: 2 right, 8 wrong
    assert m.totals[m._learners["ana"], 2:].tolist() == [2.0, 8.0]
    assert m.totals[m._learners["ana"], :2].tolist() == [6.0, 8.0]


def test_save_load_round_trip_gives_identical_predictions(tmp_path, split, fitted):
    test = split[1]
    m = BestLR.from_state(fitted.get_state())
    m.replay(test.subset(np.arange(len(test)) < 400))  # learners part-way through
    m.save(tmp_path / "m.ckpt")
    again = load_model(tmp_path / "m.ckpt")
    assert type(again) is BestLR and again.settings == m.settings
    rest = test.subset(np.arange(len(test)) >= 400)
    np.testing.assert_array_equal(m.replay(rest), again.replay(rest))


def test_bad_input_is_refused_and_changes_nothing(split):
    for bad in (dict(C=0), dict(C=-1.0), dict(window=-1), dict(window=2.5), dict(max_iter=0),
                dict(mastery_threshold=1.5)):
        with pytest.raises(ConfigError):
            make_model("best-lr", **bad)
    m = BestLR()
    with pytest.raises(ConfigError, match="at least one event"):
        m.fit(split[0].subset(np.zeros(len(split[0]), dtype=bool)))
    all_right = EventLog.from_events([Event("a", "x", ("x",), float(t), 1.0) for t in range(5)])
    with pytest.raises(ConfigError, match="both right and wrong"):
        m.fit(all_right)
    assert not m.fitted and m.weights()["bias"] == 0.0 and not m.w_dense.any()


def test_partial_credit_counts_as_part_right():
    events = [Event(f"u{i % 7}", f"q{i % 6}", (f"s{i % 2}",), float(i), [0.0, 1.0, 0.5][i % 3]) for i in range(60)]
    m = BestLR().fit(EventLog.from_events(events))
    m.update(Event("z", "q0", ("s0",), 0.0, 0.25))
    assert m.state("z")["s0"]["right"] == 0.25 and m.state("z")["s0"]["wrong"] == 0.75


def test_partial_credit_is_wrong_evidence_enough_to_fit():
    # right answers and some partly right (0.7, 0.6): the wrong part is something to learn from; this log was refused
    # as holding no wrong answer (the check read each outcome as right at >= 0.5), though the fit itself counts it
    events = [Event("a", "q1", ("s",), float(t), o) for t, o in enumerate([1.0, 0.7, 1.0, 1.0, 0.6])]
    events += [Event("b", "q2", ("s",), float(t), o) for t, o in enumerate([1.0, 1.0, 0.8])]
    log = EventLog.from_events(events)
    m = BestLR().fit(log)
    m.reset()
    p = m.replay(log)
    assert m.fitted and np.isfinite(p).all() and (p < 1.0).all()
    with pytest.raises(ConfigError, match="both right and wrong"):  # nothing wrong at all: still refused
        BestLR().fit(EventLog.from_events([Event("a", "q1", ("s",), float(t), 1.0) for t in range(3)]))
    with pytest.raises(ConfigError, match="both right and wrong"):
        BestLR().fit(EventLog.from_events([Event("a", "q1", ("s",), float(t), 0.0) for t in range(3)]))


def test_sequence_features_read_the_order_of_recent_answers():
    # one learner: s0 right, s0 wrong, s1 right, s0 right, s0 right; then the features of answering s0 next
    events = [Event("a", s, (s,), float(t), y) for t, (s, y) in enumerate(
        [("s0", 1.0), ("s0", 0.0), ("s1", 1.0), ("s0", 1.0), ("s0", 1.0)])]
    events += [Event(f"b{i}", "s0", ("s0",), 0.0, float(i % 2)) for i in range(4)]
    m = BestLR(features="sequence").fit(EventLog.from_events(events))
    m.reset()
    for e in events[:5]:
        m.update(e)
    x = dict(zip(m.dense_names, m._dense(m._learners["a"], m._skills["s0"])))
    assert x["right_skill_3"] == pytest.approx(np.log1p(2)) and x["wrong_skill_3"] == pytest.approx(np.log1p(1))
    assert x["right_skill_10"] == pytest.approx(np.log1p(3)) and x["wrong_skill_10"] == pytest.approx(np.log1p(1))
    assert x["right_last_5"] == pytest.approx(np.log1p(4)) and x["wrong_last_50"] == pytest.approx(np.log1p(1))
    assert x["skill_gap"] == 0.0 and x["skill_run"] == pytest.approx(np.log1p(2))  # s0 was the last two answers
    assert x["last_on_skill"] == 1.0 and x["second_last_on_skill"] == 1.0 and x["last_any"] == 1.0
    assert x["right_run_2"] == 1.0 and sum(x[f"right_run_{k}"] + x[f"wrong_run_{k}"] for k in range(1, 6)) == 1.0
    y = dict(zip(m.dense_names, m._dense(m._learners["a"], m._skills["s1"])))
    assert y["skill_gap"] == pytest.approx(np.log1p(2)) and y["skill_run"] == 0.0 and y["skill_seen"] == 1.0
    assert y["right_run_1"] == 1.0 and y["second_last_on_skill"] == 0.0  # s1 has one answer only
    m.update(Event("a", "s1", ("s1",), 5.0, 0.0))
    z = dict(zip(m.dense_names, m._dense(m._learners["a"], m._skills["s1"])))
    assert z["wrong_run_1"] == 1.0 and z["last_on_skill"] == -1.0 and z["second_last_on_skill"] == 1.0


def test_sequence_features_replay_equals_the_online_loop_and_survive_save_load(tmp_path, split):
    m = BestLR(features="sequence").fit(split[0].subset(np.arange(len(split[0])) < 6000))
    test = split[1].subset(np.arange(len(split[1])) < 1200)
    m.reset()
    fast = m.replay(test)
    m.reset()
    slow = LearnerModel.replay(m, test)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    m.reset()
    m.replay(test.subset(np.arange(len(test)) < 500))
    m.save(tmp_path / "s.ckpt")
    again = load_model(tmp_path / "s.ckpt")
    rest = test.subset(np.arange(len(test)) >= 500)
    p = again.replay(rest)
    np.testing.assert_array_equal(m.replay(rest), p)
    assert auc(rest.correct, p) > 0.6
    with pytest.raises(ConfigError, match="features"):
        BestLR(features="time")


@pytest.mark.parametrize("bad", [dict(C="2"), dict(C=True), dict(C=float("inf")), dict(max_iter=2.5),
                                 dict(max_iter=True), dict(max_iter="5"), dict(window=True), dict(window=10**12),
                                 dict(mastery_threshold="0.9")])
def test_text_bools_cut_numbers_and_huge_windows_are_refused_at_construction(bad):
    # they were taken: C="2" and mastery_threshold="0.9" read by float(), C=True as 1.0, max_iter=2.5 ran 2 iterations,
    # window=True a window of 1, C=inf fitted without regularisation (sklearn's ill-conditioned warnings) and
    # window=10**12 failed at the first answer with a MemoryError (116 TiB)
    (setting,) = bad
    with pytest.raises(ConfigError, match=f"best-lr {setting} must be"):
        make_model("best-lr", **bad)


def test_a_model_or_policy_saved_with_such_a_setting_still_loads_as_it_ran(tmp_path, split):
    import magister as mg

    train = split[0].subset(np.arange(len(split[0])) < 600)
    loose = {"C": "2", "max_iter": 2.5, "window": True, "mastery_threshold": "0.9"}  # as saved before the checks
    ran = make_model("best-lr", C=2.0, max_iter=2, window=1).fit(train)
    state = {**ran.get_state(), "state_version": LearnerModel.state_version}
    state["settings"] = {**state["settings"], **loose}
    again = load_model(mg.checkpoint.save_state(tmp_path / "old.ckpt", state))
    assert again.settings == state["settings"] and again.C == 2.0 and again.window == 1
    test = split[1].subset(np.arange(len(split[1])) < 300)
    np.testing.assert_array_equal(again.replay(test), ran.replay(test))
    words = mg.Discrete(["a", "b", "c"])
    policy = mg.make_teacher("mastery-learning", words, seed=1, model="best-lr", model_settings={"C": 2.0})
    for _ in range(4):
        policy.observe(policy.propose(), 1.0)
    saved = policy.state_dict()
    saved["config"]["model_settings"] = {"C": "2"}  # (what the policy recorded of C="2")
    saved["algorithm"]["model"]["settings"]["C"] = "2"
    loaded = mg.teacher.from_state_dict(saved)
    for _ in range(4):
        task = policy.propose()
        assert loaded.propose() == task
        policy.observe(task, 0.0)
        loaded.observe(task, 0.0)
    with pytest.raises(ConfigError, match="best-lr C must be"):  # given anew: refused
        mg.make_teacher("mastery-learning", words, model="best-lr", model_settings={"C": "2"})


def test_settings_given_as_0d_arrays_are_the_numbers_they_hold(split):
    # np.array(2.0) (a setting computed with numpy) was taken as the number it holds, as every setting check of
    # magister reads it; the checks of settings given anew refused it as "got ndarray"
    train = split[0].subset(np.arange(len(split[0])) < 600)
    arrays = make_model("best-lr", C=np.array(2.0), max_iter=np.array(50), window=np.array(5),
                        mastery_threshold=np.array(0.8)).fit(train)
    plain = make_model("best-lr", C=2.0, max_iter=50, window=5, mastery_threshold=0.8).fit(train)
    np.testing.assert_array_equal(arrays.replay(split[1]), plain.replay(split[1]))
    with pytest.raises(ConfigError, match="best-lr C must be"):
        make_model("best-lr", C=np.array("2"))  # (what the array holds is checked: text is still refused)
