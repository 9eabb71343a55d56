"""Scores: validation and normalisation to [0, 1].

Teachers work on scores in [0, 1]. A learner that reports something else (an
episode return, a loss, a grade) declares its range once with
:class:`ScoreRange`; each raw score is then checked and mapped linearly into
[0, 1]. NaN and infinite scores are always refused; a score outside the
declared range is refused unless ``clip=True`` was asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from .errors import ConfigError, InvalidScoreError
from .settings import non_numeric, short_number as _short_number


_PLAIN = frozenset((list, tuple, np.ndarray, float, int))  # (what the check below lets through, at a set lookup's cost)
#: integers below this in size are floats (a bound held as a constant: ``2**1023`` written in the fast path below was
#: computed again for every integer score, 0.8 us, as Python folds only small powers into constants)
_FLOAT_INTS = 2**1023


#: one raw score as ``observe`` takes it: a Python number or a numpy scalar (``np.float32(0.5)``, an ``int64`` count)
ScoreLike = Union[float, np.floating[Any], np.integer[Any]]
#: raw scores as ``observe_batch`` takes them: a sequence of numbers or an iterator such as a generator (in the
#: order of the tasks), or an array, numpy's or another library's (a torch tensor)
ScoresLike = Union[Iterable[ScoreLike], ArrayLike]


def materialised(scores: Any) -> Any:
    """``scores`` as something numpy reads element by element: a generator, ``map()`` or ``dict.values()`` becomes
    a list, in order (numpy made it one object: "not numbers"); anything else is returned as it is (an array of
    another library, a torch tensor or a pandas Series, numpy reads whole; a set or a mapping is refused later)."""
    if type(scores) not in _PLAIN and isinstance(scores, Iterable) and not hasattr(scores, "__array__") \
            and not isinstance(scores, (Sequence, Set, Mapping, str, bytes)):
        return list(scores)
    return scores


def _finite_scores(scores: Any) -> np.ndarray:  # anything: refused here with the reason
    """Scores as a flat float array, refusing non-numbers, huge integers, NaN and infinity (nothing recorded)."""
    scores = materialised(scores)
    if _masked(scores):
        # np.asarray drops the mask: whatever a masked (missing) score hides was recorded as the outcome
        i = int(np.flatnonzero(np.ma.getmaskarray(scores))[0])
        raise InvalidScoreError(f"scores are a masked array with a masked entry (position {i}): a masked score is no "
                                "outcome; leave those tasks out of the batch (or fill the mask). Nothing was recorded.")
    try:
        raw = np.asarray(scores)
        if non_numeric(raw):  # a string, None or a complex number is not a score
            raise TypeError("not a number")
        arr = np.asarray(raw, dtype=float)
    except np.ma.MaskError:  # a masked integer among the scores: numpy cannot make it a number
        _refuse_masked_entries(scores)
        raise
    except OverflowError:
        raise InvalidScoreError(
            "a score is an integer too large to be a number; report a real outcome. Nothing was recorded."
        ) from None
    except (TypeError, ValueError):
        if isinstance(scores, (Set, Mapping)):  # no order to pair the scores with the tasks
            raise InvalidScoreError(f"scores must be a sequence in the order of the tasks, got a "
                                    f"{type(scores).__name__}; pass a list") from None
        raise InvalidScoreError(
            f"scores must be numbers, got {scores!r}; pass a float (or a sequence of floats)"
        ) from None
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise InvalidScoreError(f"scores must be a flat sequence, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        _refuse_masked_entries(scores)  # (numpy made a masked float NaN; looked for only here, not on every call)
        i = int(np.flatnonzero(bad)[0])
        at = f" (position {i})" if arr.size > 1 else ""
        raise InvalidScoreError(
            f"score {float(arr[i])!r}{at} is not a finite number; report a real outcome "
            "or leave the episode out. Nothing was recorded."
        )
    return arr


def _unit_scores(unit: Any) -> np.ndarray:
    """``unit`` (a score in [0, 1], or any array of them) as floats clipped to [0, 1], its shape kept; text, None
    or lists of different lengths refused (numpy's "could not convert string to float" or "inhomogeneous shape"
    before, and None became NaN)."""
    try:
        raw = np.asarray(materialised(unit))
        if non_numeric(raw):
            raise TypeError("not a number")
        return np.clip(np.asarray(raw, dtype=float), 0.0, 1.0)
    except (TypeError, ValueError, OverflowError):
        raise InvalidScoreError(f"from_unit takes scores in [0, 1] (a number or numbers), got "
                                f"{str(unit)[:60]!r}") from None


def _masked(x: Any) -> bool:
    """Whether ``x`` is numpy's masked constant or a masked array with a masked entry (a missing value)."""
    return isinstance(x, np.ma.MaskedArray) and bool(np.ma.getmaskarray(x).any())


def _refuse_masked_entries(scores: Any) -> None:
    """Refuse a sequence of scores that holds a masked one (numpy made a masked float NaN, and raised its own
    MaskError for a masked integer)."""
    if isinstance(scores, (list, tuple)):
        for i, s in enumerate(scores):
            if _masked(s):
                raise InvalidScoreError(f"score {i} is masked (numpy's masked constant, or a masked array): a masked "
                                        "score is no outcome; leave those tasks out of the batch. Nothing was "
                                        "recorded.")


def _refuse_masked_score(score: Any) -> None:
    """Refuse numpy's masked constant, or a masked 0-d array, as one score (numpy warned, made a float NaN, and the
    error spoke of a NaN; a masked integer raised numpy's own MaskError)."""
    if _masked(score):
        raise InvalidScoreError("the score is numpy's masked constant, or a masked array (a missing value), not an "
                                "outcome; leave the episode out. Nothing was recorded.")


@dataclass(frozen=True)
class ScoreRange:
    """The range raw scores come in, and how to map them to [0, 1].

    ``low`` maps to 0 and ``high`` to 1. With ``higher_is_better=False`` (a
    loss, say) the map is reversed so 0 is still the worst. With ``clip=True``
    scores outside ``[low, high]`` are clipped instead of refused.
    """

    low: float = 0.0
    high: float = 1.0
    clip: bool = False
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            v = getattr(self, name)
            try:
                ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_)) \
                    and math.isfinite(v)
            except OverflowError:  # an integer too large for a float
                ok = False
            if not ok:
                raise ConfigError(f"ScoreRange.{name} must be a finite number, got {_short_number(v)}")
            object.__setattr__(self, name, float(v))
        for name in ("clip", "higher_is_better"):
            v = getattr(self, name)
            if not (isinstance(v, (bool, np.bool_)) or type(v) is int and v in (0, 1)):  # bool("no") would be True
                raise ConfigError(f"ScoreRange.{name} must be True or False, got {v!r}")
            object.__setattr__(self, name, bool(v))
        if not self.high > self.low:
            raise ConfigError(
                f"ScoreRange needs low < high, got low={self.low}, high={self.high}; "
                "declare the range your learner's scores really take"
            )
        if not math.isfinite(self.high - self.low):  # a width that overflows made every score 0
            raise ConfigError(f"ScoreRange from {self.low} to {self.high} is wider than a float holds; "
                              "use a narrower range")

    @classmethod
    def coerce(cls, value: ScoreRange | tuple[float, float] | dict | None) -> ScoreRange:
        if value is None:
            return cls()
        if isinstance(value, ScoreRange):
            return value
        if isinstance(value, dict) and value.get("finite") is True and len(value) == 1:
            return FiniteScores()  # the to_dict() of an open range
        if isinstance(value, dict):
            unknown = sorted(str(k) for k in value if k not in ("low", "high", "clip", "higher_is_better"))
            if unknown:
                raise ConfigError(f"score_range dict has unknown keys {unknown}; use low, high, clip and "
                                  "higher_is_better")
            return cls(**value)
        try:
            if isinstance(value, (str, bytes)):  # "01" would unpack into the bounds 0 and 1
                raise TypeError
            low, high = value
        except (TypeError, ValueError):
            raise ConfigError(
                f"score_range must be a ScoreRange, a (low, high) pair or a dict, got {value!r}"
            ) from None
        try:
            if isinstance(low, (str, bytes)) or isinstance(high, (str, bytes)):  # float("0") would parse text
                raise TypeError
            bounds = float(low), float(high)
        except (OverflowError, TypeError, ValueError):
            raise ConfigError(f"score_range bounds must be finite numbers, got ({_short_number(low)}, "
                              f"{_short_number(high)})") from None
        return cls(*bounds)

    def to_dict(self) -> dict[str, Any]:
        return {"low": float(self.low), "high": float(self.high), "clip": self.clip,
                "higher_is_better": self.higher_is_better}

    def normalise_one(self, score: ScoreLike) -> float:
        """Check one raw score and map it to [0, 1] (the fast path of :meth:`normalise`)."""
        if type(score) is float or isinstance(score, np.floating) or (
                (type(score) is int or isinstance(score, np.integer) and not isinstance(score, np.timedelta64))
                and abs(score) < _FLOAT_INTS) or type(score) is bool or isinstance(score, np.bool_):
            # (numpy's timedelta64 is an integer type: a duration is no score. A bool, Python's or numpy's (a right /
            # wrong answer, ``answer == expected``), is 0.0 or 1.0 as the general path reads it: here too)
            v = float(score)
            if math.isfinite(v) and (self.clip or self.low <= v <= self.high):
                u = (min(max(v, self.low), self.high) - self.low) / (self.high - self.low)
                return 1.0 - u if not self.higher_is_better else u
        _refuse_masked_score(score)
        return float(self.normalise([score])[0])  # the general path raises the clear error

    def normalise(self, scores: ScoresLike) -> np.ndarray:
        """Check raw scores and map them to [0, 1]; raises before returning anything."""
        arr = _finite_scores(scores)
        if not self.clip:
            out = (arr < self.low) | (arr > self.high)
            if out.any():
                i = int(np.flatnonzero(out)[0])
                at = f" (position {i})" if arr.size > 1 else ""
                raise InvalidScoreError(
                    f"score {float(arr[i])!r}{at} is outside the declared range "
                    f"[{self.low}, {self.high}]; declare the learner's range with "
                    f"score_range=(low, high), or ScoreRange(..., clip=True) to clip. "
                    "Nothing was recorded."
                )
        unit = (np.clip(arr, self.low, self.high) - self.low) / (self.high - self.low)
        if not self.higher_is_better:
            unit = 1.0 - unit
        return unit

    def from_unit(self, unit: float | Iterable[float] | np.ndarray) -> np.ndarray:
        """The raw scores that :meth:`normalise` maps to ``unit`` (clipped to [0, 1]): what an integration that
        computes scores in [0, 1] (the data samplers, prompt curricula) reports to a teacher with this range, never
        outside ``[low, high]`` (rounding no longer steps past an end)."""
        u = _unit_scores(unit)
        # clipped to the range: rounding stepped past it (ScoreRange(0.3, 0.9).from_unit(1.0) gave 0.9000000000000001,
        # which normalise, and so the teacher, refused)
        return np.clip(self.low + (u if self.higher_is_better else 1.0 - u) * (self.high - self.low),
                       self.low, self.high)


class FiniteScores(ScoreRange):
    """Any finite score, taken as it is (no map to [0, 1]): what level teachers (``plr``, ``robust-plr``,
    ``accel``) get with ``score_range=None``, since PLR-family scores (mean |GAE|, positive value loss,
    regret) have no fixed range. NaN and infinite scores are still refused."""

    def __init__(self) -> None:  # a frozen dataclass's fields, set once
        for name, value in (("low", -math.inf), ("high", math.inf), ("clip", False), ("higher_is_better", True)):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return "FiniteScores()"

    def to_dict(self) -> dict[str, Any]:
        return {"finite": True}

    def normalise_one(self, score: ScoreLike) -> float:
        if type(score) is float or isinstance(score, np.floating) or (
                isinstance(score, np.integer) and not isinstance(score, np.timedelta64)) or (
                type(score) is int and -2**53 <= score <= 2**53) or type(score) is bool or isinstance(score, np.bool_):
            v = float(score)
            if math.isfinite(v):
                return v
        _refuse_masked_score(score)
        return float(self.normalise([score])[0])  # refuses what is not a finite number, huge integers too

    def normalise(self, scores: ScoresLike) -> np.ndarray:
        return _finite_scores(scores).copy()

    def from_unit(self, unit: float | Iterable[float] | np.ndarray) -> np.ndarray:
        """A score in [0, 1] is a finite score as it is (the bounded map gave NaN: ``-inf + u * inf``)."""
        return _unit_scores(unit)
