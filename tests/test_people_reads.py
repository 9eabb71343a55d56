"""Reading a learner model changes nothing: a learner the model has never seen is answered from the prior.

``predict``, ``state``, ``mastery`` (and Elo's ``ability``, FSRS's ``card`` and ``due``) of an unknown learner gave
the learner a code, so a read grew the vocabulary (and BKT's and Best-LR's per-learner arrays) that ``get_state`` and
``save`` write; the first answer of that learner must still start from exactly that prior."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from magister.checkpoint import state_difference, states_equal
from magister.people import Event, EventLog, available_models, load_model, make_model

SMALL: dict[str, dict[str, Any]] = {
    "dkt": {"hidden": 8, "embed": 4, "epochs": 1},
    "sakt": {"dim": 8, "heads": 2, "window": 4, "epochs": 1},
    "blend": {"members": [["bkt", {}], ["elo", {}], ["best-lr", {"features": "sequence"}],
                          ["dkt", {"hidden": 8, "embed": 4, "epochs": 1}]],
              "seed": 0, "refit": False},
    "fsrs": {"graded": False},
}


def _log() -> EventLog:
    """12 learners answering items q0-q3 (skills s0, s1) in a fixed pattern of right and wrong."""
    return EventLog.from_events([Event(f"u{l}", f"q{t % 4}", (f"s{t % 2}",), 3600.0 * t,
                                       float((l * 7 + t * 3) % 5 < 3)) for l in range(12) for t in range(10)])


def _fitted(name: str):
    model = make_model(name, **SMALL.get(name, {})).fit(_log())
    for t, outcome in enumerate([1.0, 0.0, 1.0]):
        model.update(Event("u1", f"q{t}", (f"s{t % 2}",), 90000.0 + t, outcome))
    return model


def _reads(model, who: str) -> list[Any]:
    """Every read of the protocol (and the model's own read methods) about learner ``who``."""
    out: list[Any] = [model.predict(who, "q1", 99000.0), model.predict(who, "q2", 99000.0, ("s0",)),
                      model.state(who, 99000.0), model.mastery(who, "s0", 99000.0), model.mastery(who, "s9", 99000.0)]
    if hasattr(model, "ability"):
        out.append(model.ability(who))
    if hasattr(model, "card"):
        out += [model.card(who, "q1"), model.due(who, 99000.0)]
    return out


@pytest.fixture(params=available_models())
def fitted(request):
    return request.param, _fitted(request.param)


def test_every_registered_learner_model_is_covered():
    assert set(available_models()) >= {"bkt", "elo", "best-lr", "fsrs", "dkt", "sakt", "blend"}


def test_reading_an_unknown_learner_changes_nothing_saved(fitted, tmp_path):
    name, model = fitted
    before = model.get_state()
    model.save(tmp_path / "before.ckpt")
    _reads(model, "nobody")
    after = model.get_state()
    assert state_difference(before, after) is None and states_equal(before, after), name
    assert "nobody" not in model._learners
    model.save(tmp_path / "after.ckpt")
    assert states_equal(load_model(tmp_path / "before.ckpt").get_state(), load_model(tmp_path / "after.ckpt").get_state())


def test_an_unknown_learner_is_answered_from_the_prior_and_first_answers_from_it(fitted):
    name, model = fitted
    # the values of a learner with a code and no answers (what a read gave before, when it made the code)
    coded = copy.deepcopy(model)
    coded._learner_code("nobody")
    coded._grow()
    assert repr(_reads(model, "nobody")) == repr(_reads(coded, "nobody")), name
    # the first answers of a learner read before are taken from exactly the prior of one never read
    read, fresh = copy.deepcopy(model), copy.deepcopy(model)
    _reads(read, "nobody")
    answers = [Event("nobody", "q1", ("s1",), 99000.0, 1.0), Event("nobody", "q2", ("s0",), 99100.0, 0.0)]
    for m in (read, fresh, coded):
        for e in answers:
            m.update(e)
    assert states_equal(read.get_state(), fresh.get_state())
    assert repr(_reads(read, "nobody")) == repr(_reads(fresh, "nobody")) == repr(_reads(coded, "nobody"))


def test_a_saved_model_holding_a_learner_that_was_only_read_still_loads(tmp_path):
    # models saved before this fix hold the learners they were only asked about (a code, no answers): they load as
    # saved (no state version change), answer those learners from the prior, and take their first answers as before
    for name in ("bkt", "elo", "best-lr", "fsrs"):
        model = _fitted(name)
        model._learner_code("ghost")  # what predict("ghost", ...) did before
        model._grow()
        model.save(tmp_path / f"{name}.ckpt")
        loaded = load_model(tmp_path / f"{name}.ckpt")
        assert states_equal(loaded.get_state(), model.get_state()) and "ghost" in loaded._learners
        never = _fitted(name)
        assert repr(_reads(loaded, "ghost")) == repr(_reads(never, "ghost"))
        for m in (loaded, never):
            m.update(Event("ghost", "q1", ("s1",), 99000.0, 1.0))
        assert repr(_reads(loaded, "ghost")) == repr(_reads(never, "ghost"))
