"""Checking constructor settings: one place for the messages every teacher and student gives.

Each check returns the value as a plain ``int`` / ``float`` or raises
:class:`~magister.errors.ConfigError` naming the setting, the allowed range
and the value that was given.
"""

from __future__ import annotations

import contextvars
import datetime
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeGuard

import numpy as np

from .errors import ConfigError

__all__ = ["is_int", "whole", "number", "held", "fraction", "rate", "weights", "non_numeric", "numbers_only",
           "MAX_TASKS", "few_tasks", "MAX_SIZE", "size", "MAX_CELLS", "per_task_size", "MAX_COUNT", "saved_count",
           "refuse_past_max_count", "saved_settings", "reading_saved"]

#: discrete teachers keep a few arrays of this length; beyond it use a continuous teacher
MAX_TASKS = 1_000_000


def few_tasks(n: int, keeps: str) -> int:
    """``n`` when a discrete teacher can keep ``keeps`` (what it stores per task) for that many tasks; checked
    before any array of length ``n`` is allocated, so a space of 10**12 tasks gets a ConfigError, not a MemoryError."""
    if n > MAX_TASKS:
        raise ConfigError(f"{keeps}; {n} tasks is too many (limit {MAX_TASKS}): "
                          "use a continuous teacher on this space instead")
    return int(n)


#: the largest history, window or queue a continuous teacher allocates up front from one size setting
MAX_SIZE = 1_000_000


def size(name: str, value: Any, minimum: int = 1, *, why: str, limit: int = MAX_SIZE, floats: bool = False,
         hint: str = "") -> int:
    """:func:`whole`, and at most ``limit``: a size setting checked before the buffer it sizes is allocated, so
    ``history_size=10**8`` gets a ConfigError naming the setting, not gigabytes of zeros or a MemoryError.
    ``why``: what the setting sizes (for the message)."""
    n = whole(name, value, minimum, floats=floats, hint=hint)
    if n > limit:
        raise ConfigError(f"{name}={n} is too large for memory (limit {limit}): {why}; set {name} <= {limit}")
    return n


#: the most scores a teacher keeps in a (tasks x window) array: a window per task
MAX_CELLS = 100_000_000


def per_task_size(name: str, value: Any, n: int, *, why: str) -> int:
    """:func:`size` of a window kept once per task, over ``n`` tasks: at most :data:`MAX_SIZE`, and ``n * value`` at
    most :data:`MAX_CELLS`, so ``window=10**9`` gets a ConfigError naming the setting, not a MemoryError."""
    return size(name, value, why=why, limit=max(1, min(MAX_SIZE, MAX_CELLS // max(int(n), 1))))


def weights(name: str, values: Any, n: int | None = None) -> np.ndarray:
    """Non-negative finite weights with a positive, finite sum (a mixture, a target), as a float array, not
    normalised; ``n``: how many there must be."""
    try:
        w = np.asarray(values, dtype=float) if numbers_only(values) else np.full(0, np.nan)  # ("1" was parsed)
    except (OverflowError, TypeError, ValueError):  # OverflowError: an integer too large for a float
        w = np.full(0, np.nan)
    with np.errstate(over="ignore"):  # weights whose sum overflows are refused, not warned about
        ok = w.ndim == 1 and len(w) > 0 and (n is None or len(w) == n) and bool(np.isfinite(w).all()) \
            and bool((w >= 0).all()) and 0 < w.sum() < np.inf
    if not ok:
        raise ConfigError(f"{name} must be {'' if n is None else f'{n} '}non-negative weights with a positive, "
                          f"finite sum, got {values!r}")
    return w


def held(value: Any) -> Any:
    """The one value a 0-d numpy array holds (as its numpy scalar: ``np.array(3)`` is ``np.int64(3)``, a duration
    stays a duration), anything else as it is: a setting computed with numpy (``np.array(0.5)``, ``x.sum()`` of an
    array) is the number it holds, as a numpy scalar is."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def is_int(value: Any) -> TypeGuard[int | np.integer[Any]]:
    """Whether ``value`` is a whole number of an integer type: a Python or numpy integer, not a bool and not a numpy
    duration (``timedelta64`` is an integer type to numpy: ``int()`` of one raised a raw TypeError, or took
    ``np.timedelta64(1)`` as 1). The one test of the counts, indices and ids checked by hand (the per-episode paths
    write it out, a call costing there)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_, np.timedelta64))


def whole(name: str, value: Any, minimum: int = 1, *, floats: bool = False, hint: str = "") -> int:
    """A whole number ``>= minimum`` (bools refused; ``floats=True`` also takes a whole float such as 40.0,
    as settings saved before a check was added may hold)."""
    if type(value) is int and value >= minimum:  # (the common case, first: whole() runs every episode of plr)
        return value
    value = held(value)
    kinds: tuple[type, ...] = (int, np.integer, float, np.floating) if floats else (int, np.integer)
    ok = not isinstance(value, (bool, np.bool_, np.timedelta64)) and isinstance(value, kinds)  # (a duration: numpy's
    # timedelta64 is an integer type, int() of one a raw TypeError or its count)
    if ok and not isinstance(value, (int, np.integer)):
        ok = math.isfinite(value) and int(value) == value
    if not ok or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}" + (f"; {hint}" if hint else ""))
    return int(value)


#: the largest counter a saved state may hold (2**63 - 1): no run counts that far (a step a nanosecond takes 292
#: years), so a larger one is a damaged or edited checkpoint
MAX_COUNT = 2**63 - 1


def saved_count(name: str, value: Any, minimum: int = 0) -> int:
    """A counter read from a saved state: :func:`whole` (a whole float such as 40.0 taken, as older files may hold)
    from ``minimum`` to :data:`MAX_COUNT`; 10**30 or 1e300 is refused, naming ``name``, not carried on."""
    n = whole(name, value, minimum, floats=True)
    refuse_past_max_count(name, n, value)
    return n


def refuse_past_max_count(name: str, n: int, saved: Any = None) -> None:
    """The check of :func:`saved_count` past :data:`MAX_COUNT` alone, for a count ``n`` read otherwise (``saved``:
    the value as saved, for the message; ``n`` by default)."""
    if n > MAX_COUNT:
        shown = short_number(n if saved is None else saved)
        raise ConfigError(f"{name} = {shown} is past {MAX_COUNT} (2**63 - 1), more than any run counts: the "
                          "checkpoint is damaged or was edited")


def numpy_global_seed(value: Any, seeds: str) -> int:
    """A seed that ``seeds`` (SB3, RLlib, ``transformers.set_seed``: what the example hands it to) gives numpy's
    global generator, which takes 32 bits: a whole number from 0 to 2**32 - 1, else a ``ConfigError`` naming the
    range, before anything runs (a larger seed stopped the first run with numpy's bare "Seed must be between 0 and
    2**32 - 1"). The examples' ``--seed`` of a library that seeds numpy's global generator."""
    if whole("seed", value, 0) >= 2**32:
        raise ConfigError(f"seed must be a whole number in 0..{2**32 - 1:,} ({seeds} seeds numpy's global generator "
                          f"with it), got {value}")
    return int(value)


def whole_from_env(variable: str, default: int, *, hint: str = "") -> int:
    """The whole number ``>= 1`` that the environment variable ``variable`` holds, ``default`` when it is unset;
    text that is no whole number (``100k``), 0 or a negative is a ``ConfigError`` naming the variable."""
    import os

    text = os.environ.get(variable)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{variable} must be a whole number >= 1, got {text!r}" + (f"; {hint}" if hint else "")
                          ) from None
    return whole(variable, value, hint=hint)


_READING_SAVED: contextvars.ContextVar[bool] = contextvars.ContextVar("magister_reading_saved", default=False)


@contextmanager
def saved_settings() -> Iterator[None]:
    """Within it, settings are those of a saved state (a checkpoint, a model file, a stored curriculum), which an
    earlier magister took as given: a check added since that refuses what ran then (text read as a number, a bool
    as 1) applies to settings given anew only (``reading_saved``), so such a file still loads, as it ran."""
    token = _READING_SAVED.set(True)
    try:
        yield
    finally:
        _READING_SAVED.reset(token)


def reading_saved() -> bool:
    """Whether settings are being read from a saved state (inside ``saved_settings``)."""
    return _READING_SAVED.get()


#: integers longer than this many bits are past Python's 4,300-digit limit of ``repr`` (which raises ValueError)
REPR_BITS = 14_000


def short_number(v: Any) -> str:
    """``repr(v)``, shortened for an integer of hundreds of digits (one past Python's 4,300-digit limit of
    ``repr`` is described by its size: ``repr`` raised a raw ValueError while a refusal was written)."""
    if isinstance(v, int) and v.bit_length() > REPR_BITS:
        return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1:,} digits"
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def non_numeric(values: np.ndarray, *, none_is_nan: bool = False) -> bool:
    """Whether an array holds text, complex numbers, None, or dates and durations (numpy would parse "0.5", turn
    None into NaN, and a ``datetime64`` or ``timedelta64`` into its count of days or seconds). ``none_is_nan``:
    None is taken, as the NaN numpy makes of it (a value not known yet, as JSON's null)."""
    if values.dtype.kind in "UScmM":
        return True
    return values.dtype.kind == "O" and any((v is None and not none_is_nan) or isinstance(v, _NOT_NUMBERS)
                                            for v in values.ravel().tolist())


def numbers_only(values: Any) -> bool:
    """Whether ``values`` (a number, a list, nested lists or an array) holds no text, complex number, None, date or
    duration: what ``np.asarray(values, dtype=float)`` reads as a number although it is none (``"0.5"`` parsed, an
    imaginary part dropped, a duration counted). A ragged list is not judged here (True): the conversion refuses it."""
    try:
        a = np.asarray(values)
    except (TypeError, ValueError):
        return True
    return not non_numeric(a)


#: what an object array may hold that numpy turns into a number although it is none
_NOT_NUMBERS = (str, bytes, complex, np.datetime64, np.timedelta64, datetime.date, datetime.timedelta)


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
    if isinstance(value, np.ndarray):
        value = held(value)
    ok = not isinstance(value, (bool, np.bool_, np.timedelta64)) \
        and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        try:
            v = float(value)
        except OverflowError:  # an integer too large for a float
            v = math.inf
        ok = math.isfinite(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        raise ConfigError(f"{name} must be {_interval(low, high, low_open, high_open)}, got {short_number(value)}"
                          + (f"; {hint}" if hint else ""))
    return float(value)


def flag(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy's too): ``bool("false")`` would be True (a JSON client's "false", a list)."""
    if isinstance(value, np.ndarray):
        value = held(value)
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {short_number(value)}")
    return bool(value)


def fraction(name: str, value: Any, hint: str = "") -> float:
    """A number in [0, 1]."""
    return number(name, value, 0.0, 1.0, hint=hint)


def rate(name: str, value: Any, *, allow_one: bool = True) -> float:
    """A moving-average rate or step size in (0, 1] (or (0, 1))."""
    return number(name, value, 0.0, 1.0, low_open=True, high_open=not allow_one,
                  hint="the weight of the newest score")
