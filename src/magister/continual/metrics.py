"""Metrics of a task sequence, from its accuracy matrix.

``acc[t, j]`` is the accuracy on task ``j`` after the ``t``-th training phase
(NaN while ``j`` has not been taught; an infinite entry is refused). Tasks are columns in their own
numbering, phases are rows in time order.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np

from ..errors import ConfigError
from ..settings import non_numeric

__all__ = ["final_accuracy", "forgetting", "learning_curve"]


def _matrix(acc: np.ndarray) -> np.ndarray:
    try:
        raw = np.asarray(acc)
        # ([["0.5"]] was read as 0.5 and [["a"]] refused; a complex entry lost its imaginary part, a date became
        # its count of days; None is NaN, a task not taught yet, as before)
        a = None if non_numeric(raw, none_is_nan=True) else np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("an accuracy matrix is a (phases, tasks) array of numbers (NaN before a task is "
                          "taught)") from None
    if a is None:
        _refuse_non_numbers(acc, raw)
    if a.ndim != 2 or a.shape[0] == 0:  # (a ConfigError, a ValueError too: was a plain ValueError)
        raise ConfigError(f"an accuracy matrix is (phases, tasks), got shape {a.shape}; pass "
                          "SequenceResult.acc or one row of accuracies per phase")
    if np.isinf(a).any():  # (final_accuracy and the curve came out inf, while forgetting left the task out)
        t, j = (int(v) for v in np.argwhere(np.isinf(a))[0])
        raise ConfigError(f"an accuracy matrix holds finite accuracies (NaN before a task is taught); acc[{t}, {j}] "
                          f"is {a[t, j]}")
    return a


def _refuse_non_numbers(acc: object, raw: np.ndarray) -> NoReturn:
    """Raise the ConfigError naming the first entry of ``acc`` (read as ``raw``) that is text, a complex number, a
    date or a duration."""

    def bad(v: object) -> bool:
        cell = np.empty(1, dtype=object)  # (np.array([v]) would read a tuple or a list as several entries)
        cell[0] = v
        return non_numeric(cell, none_is_nan=True)

    # a list mixing numbers and text is all text to numpy: the entries as given, to name the one that is text
    items = raw if raw.dtype.kind == "O" or isinstance(acc, np.ndarray) else np.asarray(acc, dtype=object)
    flat = items.ravel().tolist()
    k = next((i for i, v in enumerate(flat) if bad(v)), 0)
    where = ", ".join(str(int(i)) for i in np.unravel_index(k, raw.shape))
    raise ConfigError(f"an accuracy matrix is an array of numbers (NaN before a task is taught), not text, complex "
                      f"numbers or dates: acc[{where}] is {flat[k]!r}")


def final_accuracy(acc: np.ndarray) -> float:
    """Mean accuracy over the tasks taught, after the last phase."""
    last = _matrix(acc)[-1]
    return float(np.nanmean(last)) if np.isfinite(last).any() else float("nan")


def forgetting(acc: np.ndarray) -> float:
    """Average drop from each task's best accuracy (over earlier phases) to its final accuracy.

    Chaudhry et al. (2018): ``mean_j max_{t < T} acc[t, j] - acc[T, j]`` over
    the tasks taught before the last phase ``T``. Tasks first taught in the last
    phase have had no chance to be forgotten and are left out; 0 when no task
    qualifies. A task that ends above its best earlier accuracy counts with a
    negative drop (it was not forgotten, it improved), so the average can be
    below 0.
    """
    a = _matrix(acc)
    if a.shape[0] < 2:
        return 0.0
    earlier, last = a[:-1], a[-1]
    taught = np.isfinite(earlier).any(axis=0) & np.isfinite(last)
    if not taught.any():
        return 0.0
    best = np.nanmax(np.where(np.isfinite(earlier[:, taught]), earlier[:, taught], -np.inf), axis=0)
    return float(np.mean(best - last[taught]))


def learning_curve(acc: np.ndarray) -> np.ndarray:
    """Mean accuracy over the tasks taught so far, after each phase."""
    a = _matrix(acc)
    return np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in a])
