"""Checking constructor settings: one place for the messages every teacher and student gives.

Each check returns the value as a plain ``int`` / ``float`` or raises
:class:`~magister.errors.ConfigError` naming the setting, the allowed range
and the value that was given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["whole", "number", "fraction", "rate", "MAX_TASKS"]

#: discrete teachers keep a few arrays of this length; beyond it use a continuous teacher
MAX_TASKS = 1_000_000


def whole(name: str, value: Any, minimum: int = 1) -> int:
    """A whole number ``>= minimum`` (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high}"
    return "a finite number"


def number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """A finite real number within the given (optionally open) bounds."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        raise ConfigError(f"{name} must be {_interval(low, high, low_open, high_open)}, got {value!r}"
                          + (f"; {hint}" if hint else ""))
    return float(value)


def fraction(name: str, value: Any, hint: str = "") -> float:
    """A number in [0, 1]."""
    return number(name, value, 0.0, 1.0, hint=hint)


def rate(name: str, value: Any, *, allow_one: bool = True) -> float:
    """A moving-average rate or step size in (0, 1] (or (0, 1))."""
    return number(name, value, 0.0, 1.0, low_open=True, high_open=not allow_one,
                  hint="the weight of the newest score")
