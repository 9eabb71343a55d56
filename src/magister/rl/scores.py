"""Episode score functions: turn one finished episode into one number for the teacher.

A score function is any callable ``f(episode) -> float`` taking an
:class:`Episode` (task, return, length, last ``info``, whether it terminated).
Three are shipped:

* :class:`SuccessScore` - 1.0 when the final ``info`` carries a true success
  flag (``info["is_success"]`` by default), else 0.0;
* :class:`ReturnScore` - the episode return mapped to [0, 1] through a declared
  :class:`~magister.ScoreRange` (``ReturnScore(-100, 300)``);
* :class:`FunctionScore` - wraps a user function (also what a plain callable
  becomes).

:func:`as_score_fn` accepts ``"success"``, ``"return"`` (needs a range), a
``(low, high)`` pair, a ``ScoreRange`` or a callable.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, InvalidScoreError
from ..scores import ScoreRange
from ..settings import short_number

__all__ = ["Episode", "SuccessScore", "ReturnScore", "FunctionScore", "as_score_fn"]


@dataclass
class Episode:
    """What a score function sees about one finished episode."""

    task: Any
    episode_return: float
    length: int
    info: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False


def success_flag(value: Any, key: str = "is_success") -> bool:
    """A success flag of an episode's final info read as a bool: True / False, 1 / 0 (any number type, or a
    one-entry array of them, numpy's or another library's such as a torch tensor); ``None`` is False. Anything else
    (``"False"``, NaN, 0.5, a list) is an :class:`~magister.errors.InvalidScoreError` naming it, where ``bool()``
    read it as a success."""
    if value is None or value is True or value is False:
        return bool(value)
    v = value
    if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "biuf":
        v = v.reshape(-1)[0]
    elif not isinstance(v, (np.ndarray, np.generic)) and hasattr(v, "dtype") and callable(getattr(v, "item", None)):
        try:  # a one-entry tensor (torch, on a GPU too), which bool() read: its number, checked below
            v = v.item()
        except (ValueError, RuntimeError, TypeError):  # several entries: no flag
            pass
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):  # (NaN is neither)
        return bool(v == 1)
    raise InvalidScoreError(f"the episode's final info[{key!r}] is {value!r}, not a success flag; make the env "
                            f"report True or False (or 1 / 0), or score episodes another way "
                            f"(score=ReturnScore(low, high) or a function of the Episode)")


class SuccessScore:
    """1.0 if ``info[key]`` is True (or 1) at the end of the episode, else 0.0 for False (or 0, or None); any other
    value (``"False"``, NaN, 0.5, 2) is an :class:`~magister.errors.InvalidScoreError` (as ``success_flag`` reads it).

    ``missing`` says what a missing flag means: ``"fail"`` (0.0, the default,
    so a timeout without a flag counts as a failure) or ``"error"``. With
    ``"fail"``, once :attr:`WARN_AFTER` episodes have ended and none carried
    the flag, one ``UserWarning`` says so: an env that never reports it (most
    Gymnasium envs, CartPole among them) would otherwise score every episode
    0.0 without a word.
    """

    #: episodes without the flag, none with it yet, before the one warning
    WARN_AFTER = 50

    def __init__(self, key: str = "is_success", missing: str = "fail"):
        if missing not in ("fail", "error"):
            raise ConfigError(f"SuccessScore(missing=...) must be 'fail' or 'error', got {missing!r}")
        self.key, self.missing = key, missing
        self._unflagged = 0  # episodes ended without the flag while none had it; -1 once one had it or warned

    def __call__(self, episode: Episode) -> float:
        if self.key not in episode.info:
            if self.missing == "error":
                raise InvalidScoreError(
                    f"the episode's final info has no {self.key!r} flag; make the env report it "
                    f"or use score=ReturnScore(low, high)"
                )
            if self._unflagged >= 0:
                self._unflagged += 1
                if self._unflagged >= self.WARN_AFTER:
                    self._unflagged = -1
                    warnings.warn(
                        f"{self.WARN_AFTER} episodes have ended and none reported info[{self.key!r}], so each "
                        "scored 0.0 (score='success', the default). If the env never reports it, score episodes "
                        "another way: score=ReturnScore(low, high) or a function of the Episode; if it reports the "
                        f"flag only on success, this is expected; SuccessScore({self.key!r}, missing='error') "
                        "refuses an episode without it instead", UserWarning, stacklevel=2)
            return 0.0
        self._unflagged = -1
        return 1.0 if success_flag(episode.info[self.key], self.key) else 0.0

    def __repr__(self) -> str:
        return f"SuccessScore(key={self.key!r})"


def _bound(name: str, value: Any) -> float:
    """A bound of :class:`ReturnScore` as a float: text (``"100"``), a bool or ``None`` is refused (``float()`` parsed
    text and read ``True`` as 1.0, and raised its raw ``TypeError`` / ``ValueError`` for ``None`` or ``"x"``, where
    ``ScoreRange`` refuses each by name); any other number ``float()`` reads is taken as before."""
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)) or kind in ("U", "S", "b"):
        out = None
    else:
        try:
            out = float(value)
        except (TypeError, ValueError, OverflowError):
            out = None
    if out is None:
        shown = short_number(value)  # (an integer past the digits repr writes is described by its size)
        raise ConfigError(f"ReturnScore's {name} must be a finite number (the episode return that maps to "
                          f"{0 if name == 'low' else 1}), got {shown}; pass numbers, e.g. "
                          "ReturnScore(-100, 300) or score=(-100, 300)")
    return out


class ReturnScore:
    """The episode return mapped to [0, 1] through ``ScoreRange(low, high, clip)``.

    Clipping is on by default: an RL return occasionally leaves any range one
    declares, and a teacher only needs the order of magnitude.
    """

    def __init__(self, low: float, high: float, clip: bool = True):
        self.range = ScoreRange(_bound("low", low), _bound("high", high), clip=clip)

    def __call__(self, episode: Episode) -> float:
        return float(self.range.normalise([episode.episode_return])[0])

    def __repr__(self) -> str:
        return f"ReturnScore({self.range.low}, {self.range.high}, clip={self.range.clip})"


class FunctionScore:
    """A user function ``f(episode) -> float``; its result must be a finite number."""

    def __init__(self, fn: Callable[[Episode], float]):
        if not callable(fn):
            raise ConfigError(f"score function must be callable, got {fn!r}")
        self.fn = fn

    def __call__(self, episode: Episode) -> float:
        value = self.fn(episode)
        try:
            # text is no score: float() parsed "0.5" and b"1" (also as numpy text), which observe refuses
            if isinstance(value, (str, bytes)) or getattr(getattr(value, "dtype", None), "kind", "") in ("U", "S"):
                raise TypeError
            out = float(value)
        except (TypeError, ValueError):
            raise InvalidScoreError(f"score function returned {value!r}; it must return a number") from None
        if not math.isfinite(out):
            raise InvalidScoreError(f"score function returned {out!r}; it must return a finite number")
        return out

    def __repr__(self) -> str:
        return f"FunctionScore({getattr(self.fn, '__name__', self.fn)!r})"


def as_score_fn(score: Any) -> Callable[[Episode], float]:
    """Coerce the ``score=`` argument of the wrappers into a score function."""
    if score is None or (isinstance(score, str) and score == "success"):  # (an array compared itself elementwise)
        return SuccessScore()
    if isinstance(score, (SuccessScore, ReturnScore, FunctionScore)):
        return score
    if isinstance(score, ScoreRange):
        return ReturnScore(score.low, score.high, clip=score.clip)
    if isinstance(score, str):
        if score == "return":
            raise ConfigError("score='return' needs a range: pass score=ReturnScore(low, high) or score=(low, high)")
        raise ConfigError(f"unknown score {score!r}; use 'success', ReturnScore(low, high) or a function")
    if isinstance(score, tuple) and len(score) == 2:
        return ReturnScore(*score)
    if callable(score):
        return FunctionScore(score)
    raise ConfigError(f"score must be 'success', a (low, high) return range, a ScoreRange or a function, got {score!r}")
