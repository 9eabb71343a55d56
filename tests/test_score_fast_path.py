"""ScoreRange.normalise_one: the per-observe fast path for one score."""

from __future__ import annotations

import dis

import numpy as np
import pytest

import magister as mg
from magister.scores import FiniteScores, ScoreRange


def test_integer_scores_do_not_compute_the_float_bound_on_every_call():
    # `abs(score) < 2**1023` in the fast path was computed again for every integer score (CPython folds only
    # small powers into constants): 0.8 us on each observe of an int or np.int64 score, twice a float's cost
    powers = [i for i in dis.get_instructions(ScoreRange.normalise_one) if i.argrepr == "**"
              or i.opname == "BINARY_POWER"]
    assert powers == []


def _outcome(f, score):
    try:
        return f(score)
    except mg.InvalidScoreError as e:
        return type(e), str(e)


INTS = [0, 1, -1, np.int64(1), np.uint8(1), 2**1023 - 1, -(2**1023 - 1), 2**1023, -(2**1023), 2**1024]


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("score", INTS, ids=[f"int{i}" for i in range(len(INTS))])
def test_integer_scores_are_normalised_as_the_general_path_does(score, clip):
    r = mg.ScoreRange(-1, 1, clip=clip)
    assert _outcome(r.normalise_one, score) == _outcome(lambda s: float(r.normalise([s])[0]), score)


RANGES = [mg.ScoreRange(0, 1), mg.ScoreRange(-1, 1), mg.ScoreRange(0, 1, higher_is_better=False),
          mg.ScoreRange(-3.3, 0.7, higher_is_better=False), mg.ScoreRange(0.5, 2), mg.ScoreRange(0.5, 2, clip=True)]


@pytest.mark.parametrize("score", [True, False, np.True_, np.False_], ids=["True", "False", "np.True_", "np.False_"])
@pytest.mark.parametrize("r", [*RANGES, FiniteScores()], ids=repr)
def test_bool_scores_take_the_fast_path_with_the_general_paths_result(score, r, monkeypatch):
    """A right / wrong answer given as a bool (``answer == expected``, numpy's np.bool_) went through the general
    path (an array, about 9 us a score against 0.3 us for a float): the fast path now reads it as 0.0 or 1.0,
    giving bit for bit what the general path gives (and refusing what it refuses)."""
    general = _outcome(lambda s: float(r.normalise([s])[0]), score)
    fast = _outcome(r.normalise_one, score)
    assert fast == general and (not isinstance(fast, float) or fast.hex() == general.hex())
    if isinstance(general, float):  # taken: no array built (the general path would raise here)
        def general_path(self, scores):
            raise AssertionError("the general path was taken")
        monkeypatch.setattr(type(r), "normalise", general_path)
        assert r.normalise_one(score).hex() == general.hex()
