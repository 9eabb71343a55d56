"""Per-task running statistics shared by the discrete teachers.

Most discrete curricula keep a few numbers per task and update them one
outcome at a time: a count, a fast and a slow exponential moving average (EMA)
of the score, the last few scores. :class:`TaskAverages` keeps all of them in
flat numpy arrays indexed by task number, updates them strictly in the order
outcomes happened (so a batch gives bit-for-bit the same state as one outcome
at a time), and saves / restores them for checkpoints. :class:`RecentWindow`
is the same "last N scores" buffer for a single stream. :func:`draw` samples
task indices from a probability vector with an explicit generator.

EMAs start at the first observed score (not at 0), so a task's first outcome
does not look like progress; ``fast - slow`` is then 0 until the score moves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError, InvalidTaskError
from .settings import MAX_TASKS, few_tasks, per_task_size, rate, whole

__all__ = ["TaskAverages", "RecentWindow", "CachedPolicy", "draw", "powered", "task_indices", "MAX_TASKS"]

_TINY = np.finfo(float).tiny


def draw(rng: np.random.Generator, probs: np.ndarray, k: int) -> np.ndarray:
    """``k`` independent task indices drawn from ``probs`` (non-negative, summing to about 1).

    Uses one ``rng.random(k)`` call and a search in the cumulative sum, so it is
    O(n + k log n) for any number of tasks and consumes a fixed amount of the
    generator's stream per call.
    """
    cdf = np.cumsum(probs, dtype=float)
    u = rng.random(k) * cdf[-1]
    idx = np.searchsorted(cdf, u, side="right")
    return np.minimum(idx, len(probs) - 1).astype(np.int64)


def powered(x: np.ndarray, power: float) -> np.ndarray:
    """``x ** power`` of non-negative weights ``x`` (a temperature's sharpening). Where a large ``power``
    underflows every weight while some are positive (it used to fall back to uniform, the opposite of
    sharpening): the same weights up to a common factor, the largest 1."""
    w = x ** power
    if not w.sum() >= _TINY and x.max(initial=0.0) > 0:
        w = (x / x.max()) ** power
    return w


def task_indices(name: str, values: Any, n: int, what: str = "task indices") -> np.ndarray:
    """``values`` as an int64 array of task indices ``0 .. n - 1`` (its shape kept: one index or an array of them),
    for the public methods of the discrete teachers that take indices. Indices out of range were numpy's raw
    ``IndexError`` (or, negative, read a task from the end), a boolean mask numpy's shape error, fractions its
    "arrays used as indices must be of integer type"; each is an :class:`~magister.errors.InvalidTaskError`
    naming ``name``, ``what`` the indices are, and the range."""
    a = np.asarray(values)
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.int64)
    if a.dtype == bool or a.dtype.kind not in "iu":
        hint = "; for a mask use np.flatnonzero(mask)" if a.dtype == bool else ""
        raise InvalidTaskError(f"{name} must be {what} (whole numbers from 0 to {n - 1}), got {a.dtype} "
                               f"values {str(values)[:60]}{hint}")
    idx = a.astype(np.int64, copy=False)
    out = (idx < 0) | (idx >= n)
    if out.any():
        raise InvalidTaskError(f"{name} holds {int(idx[out].flat[0])}, outside the {what}, which run from 0 to "
                               f"{n - 1}")
    return idx


#: how far outside [0, 1] a saved average may lie (rounding of a long run's updates) before the state is refused
_SLACK = 1e-9


def refuse_outside_unit(name: str, a: np.ndarray, what: str) -> None:
    """A ValueError naming the first entry of saved ``a`` (of any shape) outside [0, 1] beyond rounding (NaN passes:
    a task not seen yet); ``what`` the values are, for the message."""
    out = (a < -_SLACK) | (a > 1 + _SLACK)  # False for NaN
    if out.any():
        at = np.unravel_index(int(np.flatnonzero(out)[0]), a.shape)  # (a table's entry as [row, column])
        raise ValueError(f"{name}[{', '.join(map(str, at))}] = {float(a[at])!r}: {what} lie in [0, 1]")


class TaskAverages:
    """Running statistics of the scores of ``n`` tasks (on the teachers' [0, 1] scale).

    Args:
        n: Number of tasks (indices ``0 .. n-1``).
        fast: EMA rate in (0, 1]: after an outcome ``s`` of task ``i``,
            ``fast[i] += fast_rate * (s - fast[i])``. ``fast`` should be the larger rate
            (shorter memory).
        slow: EMA rate in (0, 1] of ``slow``, updated likewise.
        window: Also keep the last ``window`` scores of every task (0 = don't); memory
            is ``n * window`` floats.

    Attributes (all numpy arrays of length ``n``): ``counts`` (outcomes seen),
    ``fast``, ``slow`` (NaN until the task is seen), ``var`` (EMA at the slow
    rate of the score's variance around ``slow``, 0 after one outcome),
    ``last`` (latest score).
    """

    def __init__(self, n: int, *, fast: float = 0.1, slow: float = 0.02, window: int = 0):
        self.n = few_tasks(whole("number of tasks", n, 1), "a teacher keeps statistics per task")
        self.fast_rate = rate("fast", fast)
        self.slow_rate = rate("slow", slow)
        whole("window", window, 0)
        if window:  # checked before the (n, window) array
            per_task_size("window", window, self.n, why="the teacher keeps that many scores per task")
        self.window = int(window)
        self.counts = np.zeros(self.n, dtype=np.int64)
        self.fast = np.full(self.n, np.nan)
        self.slow = np.full(self.n, np.nan)
        self.var = np.zeros(self.n)
        self.last = np.full(self.n, np.nan)
        self._buf = np.zeros((self.n, self.window)) if self.window else None
        # variance factor of fast - slow under pure noise (see noise()); depends on the two rates only
        fa, sl = self.fast_rate, self.slow_rate
        self._noise_factor = max(fa / (2 - fa) + sl / (2 - sl) - 2 * fa * sl / (fa + sl - fa * sl), 0.0)

    # ---------------------------------------------------------------- update
    def update(self, idx: np.ndarray, scores: np.ndarray) -> None:
        """Take outcomes in the order they happened (``idx`` ints, ``scores`` floats)."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        scores = np.asarray(scores, dtype=float).reshape(-1)
        fr, sr = self.fast_rate, self.slow_rate
        fast, slow, var, counts = self.fast, self.slow, self.var, self.counts
        for i, s in zip(idx.tolist(), scores.tolist()):
            if counts[i] == 0:
                fast[i] = s
                slow[i] = s
                var[i] = 0.0
            else:
                fast[i] = fast[i] + fr * (s - fast[i])
                old = slow[i]
                slow[i] = old + sr * (s - old)
                var[i] = (1.0 - sr) * (var[i] + sr * (s - old) ** 2)
            if self._buf is not None:
                self._buf[i, counts[i] % self.window] = s
            counts[i] += 1
            self.last[i] = s

    # ----------------------------------------------------------------- reads
    @property
    def seen(self) -> np.ndarray:
        """Boolean mask of tasks with at least one outcome."""
        return self.counts > 0

    def progress(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Absolute learning progress ``|fast - slow|`` (0 for unseen tasks).

        ``ids`` (task indices, checked by the caller): of those tasks only, in the shape of ``ids``, the same
        numbers as ``progress()[ids]`` without the work over every task (``opponent-lp`` weighs the few members
        of a pool whose space holds ``max_ids`` tasks: 100,000 took 1.5 ms a proposal)."""
        fast, slow, counts = (self.fast, self.slow, self.counts) if ids is None else \
            (self.fast[ids], self.slow[ids], self.counts[ids])
        return np.where(counts > 0, np.abs(fast - slow), 0.0)

    def noise(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Standard deviation of ``fast - slow`` expected from score noise alone (of the tasks ``ids`` only
        when given, as in ``progress``).

        For a stationary stream of variance ``v`` (estimated by ``var``), the
        difference of two EMAs with rates ``a`` and ``b`` has variance
        ``v * (a / (2 - a) + b / (2 - b) - 2 a b / (a + b - a b))``.
        """
        var = self.var if ids is None else self.var[ids]
        return np.sqrt(np.maximum(var, 0.0) * self._noise_factor)

    def noise_of(self, i: int) -> float:
        """:meth:`noise` of task ``i`` alone (no work over the other tasks)."""
        return math.sqrt(max(float(self.var[i]), 0.0) * self._noise_factor)

    def window_mean(self, i: int) -> float:
        """Mean of task ``i``'s last ``min(count, window)`` scores (NaN if unseen)."""
        if self._buf is None:
            raise ConfigError("this TaskAverages keeps no window; build it with window > 0")
        c = int(min(self.counts[i], self.window))
        if c == 0:
            return float("nan")
        return float(self._buf[i, :c].mean())

    def window_means(self) -> np.ndarray:
        """:meth:`window_mean` of every task (NaN for unseen tasks)."""
        if self._buf is None:
            raise ConfigError("this TaskAverages keeps no window; build it with window > 0")
        fill = np.minimum(self.counts, self.window)
        mask = np.arange(self.window)[None, :] < fill[:, None]
        total = np.where(mask, self._buf, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(fill > 0, total / np.maximum(fill, 1), np.nan)

    # ----------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "counts": self.counts.copy(), "fast": self.fast.copy(), "slow": self.slow.copy(), "var": self.var.copy(),
            "last": self.last.copy(),
        }
        if self._buf is not None:
            out["window"] = self._buf.copy()
        return out

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output; checks every shape first and changes nothing on error."""
        counts = np.asarray(state["counts"], dtype=np.int64)
        arrays = {k: np.asarray(state[k], dtype=float) for k in ("fast", "slow", "var", "last")}
        for name, a in [("counts", counts), *arrays.items()]:
            if a.shape != (self.n,):
                raise ValueError(f"{name} has shape {a.shape}, expected ({self.n},)")
        if (counts < 0).any():
            raise ValueError("counts must be >= 0")
        if any(np.isinf(a).any() for a in arrays.values()):  # NaN marks a task not seen yet
            raise ValueError("averages must be finite numbers (NaN for a task not seen yet)")
        # a seen task's averages are numbers, and var is one for every task: a NaN there was taken and then
        # spread into the policy and the beliefs
        seen = counts > 0
        for name in ("fast", "slow", "last"):
            if np.isnan(arrays[name][seen]).any():
                raise ValueError(f"{name} is NaN for a task seen {int(counts[np.isnan(arrays[name]) & seen][0])} "
                                 "times; only a task not seen yet has no average")
        if not (arrays["var"] >= 0).all():
            raise ValueError("var must hold finite variances >= 0")
        # the teachers' scores are on the [0, 1] scale, and so is every average of them: a negative average was
        # taken (a tampered file) and read as progress
        for name in ("fast", "slow", "last"):
            refuse_outside_unit(name, arrays[name], "averages of scores")
        buf = None
        if self._buf is not None:
            buf = np.asarray(state["window"], dtype=float)
            if buf.shape != self._buf.shape or not ((buf >= 0) & (buf <= 1)).all():  # False for NaN too (raw scores)
                raise ValueError(f"window must hold scores in [0, 1], shape {self._buf.shape}; got shape {buf.shape}")
        self.counts = counts.copy()
        self.fast, self.slow, self.var, self.last = (arrays[k].copy() for k in ("fast", "slow", "var", "last"))
        if buf is not None:
            self._buf = buf.copy()


class RecentWindow:
    """The last ``size`` scores of one stream (a ring buffer) and their mean."""

    def __init__(self, size: int):
        whole("window size", size, 1)
        self.size = int(size)
        self.buf = np.zeros(self.size)
        self.count = 0

    def push(self, score: float) -> None:
        self.buf[self.count % self.size] = score
        self.count += 1

    def extend(self, scores: np.ndarray) -> None:
        for s in np.asarray(scores, dtype=float).reshape(-1).tolist():
            self.push(s)

    @property
    def full(self) -> bool:
        return self.count >= self.size

    def mean(self) -> float:
        """Mean of the stored scores (NaN when empty)."""
        c = min(self.count, self.size)
        return float(self.buf[:c].mean()) if c else float("nan")

    def clear(self) -> None:
        self.buf[:] = 0.0
        self.count = 0

    def get_state(self) -> dict[str, Any]:
        return {"buf": self.buf.copy(), "count": int(self.count)}

    def set_state(self, state: dict[str, Any]) -> None:
        buf = np.asarray(state["buf"], dtype=float)
        if buf.shape != (self.size,):
            raise ValueError(f"window buffer has shape {buf.shape}, expected ({self.size},)")
        count = int(state["count"])
        if count < 0:
            raise ValueError("window count must be >= 0")
        self.buf, self.count = buf.copy(), count


class CachedPolicy:
    """Mixin for teachers that sample tasks from an explicit distribution.

    Subclasses implement ``_compute_probabilities()``; the result is cached
    until they set ``self._probs = None`` (after an observation or a state
    restore), so proposing draws from the generator and changes nothing else.
    A subclass that offers ``set_aside`` (:mod:`magister.set_aside`) stores its
    :class:`~magister.set_aside.SetAside` in ``self._aside``; the policy is then
    the computed one with mastered tasks set aside.
    """

    _probs: np.ndarray | None = None
    _aside: Any = None

    def _compute_probabilities(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _policy(self) -> np.ndarray:
        if self._probs is None:
            p = self._compute_probabilities()
            self._probs = p if self._aside is None else self._aside.apply(p)
        return self._probs

    def _note_aside(self, x: np.ndarray, scores: np.ndarray) -> None:
        """Record outcomes for ``set_aside`` (nothing when it is off)."""
        if self._aside is not None:
            self._aside._record(np.asarray(x, dtype=np.int64).tolist(), np.asarray(scores, dtype=float).tolist())

    def _aside_state(self, out: dict[str, Any]) -> dict[str, Any]:
        """``out`` with the ``set_aside`` state added when it is on."""
        if self._aside is not None:
            out["set_aside"] = self._aside.get_state()
        return out

    def _restore_aside(self, state: dict[str, Any]) -> None:
        if self._aside is None:
            return
        saved = getattr(self, "_loading_config", None)  # the settings the state was saved with (load_state_dict)
        if "set_aside" not in state and isinstance(saved, dict) and "set_aside" in saved \
                and saved["set_aside"] is None:
            # saved with set_aside off, loaded with it on (``load_state_dict(..., strict=False)``: a setting changed on
            # purpose): no task is set aside yet, as in a new teacher (it failed as a "malformed" KeyError)
            a = self._aside
            self._aside = type(a)(a.n, a.threshold, window=a.window, review_after=a.review_after)
            return
        self._aside.set_state(state["set_aside"])

    def _aside_beliefs(self, out: dict[str, Any]) -> dict[str, Any]:
        """``out`` with the masks of tasks set aside and due for review (as 0/1) when ``set_aside`` is on."""
        if self._aside is not None:
            out["set_aside"] = self._aside.aside().astype(float)
            out["due"] = self._aside.due().astype(float)
        return out

    def probabilities(self) -> np.ndarray:
        """The distribution the next proposal is drawn from."""
        return self._policy().copy()

    def _propose(self, k: int) -> np.ndarray:
        return draw(self.rng, self._policy(), k)  # type: ignore[attr-defined]
