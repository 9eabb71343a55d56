"""ScoreRange.normalise_one: the per-observe fast path for one score."""

from __future__ import annotations

import dis

import numpy as np
import pytest

import magister as mg
from magister.scores import ScoreRange


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
