"""A bounded history of (task, score) pairs with exact nearest-neighbour lookup.

Teachers that measure learning progress by comparing a new outcome with the
outcome of the *nearest earlier task* (ALP-GMM, and any teacher that wants the
same signal) need two things the reference code did badly: a history that does
not grow without bound, and a neighbour search that is cheap for every single
episode. :class:`History` keeps the latest ``capacity`` pairs in a ring buffer
of unit-coordinate vectors (so every dimension counts the same, whatever its
raw width) and answers nearest-neighbour queries by an exact vectorised scan.
With ``capacity=None`` (every pair kept, the ALP-GMM reference) a one-point
query would scan a history that grows without end; once it holds
``INDEX_FROM`` pairs, the older ones are also kept sorted along one coordinate
(re-sorted now and then, never per query), and a query scans the recent pairs,
then only the band of older ones that could be as near. The answer is the same
pair a full scan gives, to the last bit and on ties.

Semantics, chosen so that one batched call equals the same calls made one by
one (teachers rely on this for ``observe_batch``):

* the neighbour of the ``i``-th point of :meth:`query_then_add` is searched
  among the ``capacity`` points that came *just before it*, batch mates
  included;
* ties (equal distances, common on finite spaces) go to the most recent point.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError
from .settings import MAX_SIZE, whole

__all__ = ["History", "absolute_progress", "absolute_progress_one"]


class History:
    """Ring buffer of the latest ``capacity`` pairs ``(x, y)``, ``x`` a vector of ``dim`` floats.

    ``x`` is meant to be in unit coordinates (``Space.to_unit_batch``) so that
    Euclidean distances weigh every dimension alike; ``y`` is one float
    (a score, a learning-progress value...).
    """

    #: an unbounded history sorts its older pairs for one-point queries once it holds this many
    INDEX_FROM = 4096
    #: the newest pairs are always scanned in full (they give the first bound on the distance)
    _KEEP = 256

    def __init__(self, dim: int, capacity: int | None = 2000):
        # (int() took dim=1.5 as 1, "3" as 3 and True as 1; a whole float such as 2.0 is taken, as before)
        dim = whole("History dim", dim, 1, floats=True, hint="the number of coordinates of a task's vector")
        if capacity is not None:
            capacity = whole("History capacity", capacity, 1, floats=True,
                             hint="how many recent pairs to keep, or None to keep every pair")
        if capacity is not None and int(capacity) > MAX_SIZE:
            raise ConfigError(f"History capacity={int(capacity)} is too large for memory (limit {MAX_SIZE}): its "
                              f"arrays of that many pairs are allocated up front; use a smaller capacity, or None "
                              f"to keep every pair (the arrays then grow as pairs arrive)")
        self.dim = int(dim)
        #: False: ``capacity=None``, every pair is kept (the arrays grow before they would wrap)
        self.bounded = capacity is not None
        self.capacity = int(capacity) if capacity is not None else 1024
        self._xt = np.zeros((self.dim, self.capacity))  # column-major: fast scans over one dimension
        self._y = np.zeros(self.capacity)
        self._t = np.full(self.capacity, -1, dtype=np.int64)  # arrival number of each slot
        self._buf_a = np.empty(self.capacity)  # scratch space for one-point scans
        self._buf_b = np.empty(self.capacity)
        # unbounded only: the vectors again, newest first, filling from the right end, so one scan of
        # the contiguous block _rx[:, capacity - n:] meets the most recent of equally near vectors first
        self._rx = np.zeros((self.dim, 0 if self.bounded else self.capacity))
        self.total = 0  # pairs ever added
        #: a new object at every :meth:`load_state_dict`: what was derived from :attr:`x` and :attr:`y` at the same
        #: ``stamp`` and ``total`` still holds, and ``total`` more pairs means those pairs were appended
        self.stamp = object()
        self._unindex()

    def _unindex(self) -> None:
        # the sorted copy of the oldest _ix_m pairs (unbounded only): along coordinate _ix_dim,
        # _ix_key its values in order, _ix_cols the vectors, _ix_t their arrival numbers (= slots)
        self._ix_m, self._ix_dim = 0, 0
        self._ix_key, self._ix_cols = np.zeros(0), np.zeros((self.dim, 0))
        self._ix_t = np.zeros(0, dtype=np.int64)

    def _reindex(self) -> None:
        """Sort every pair but the newest ``_KEEP`` along the coordinate where they spread most."""
        m = self.total - self._KEEP
        cols = self._xt[:, :m]
        k = int(np.argmax(cols.var(axis=1)))
        order = np.argsort(cols[k], kind="stable")
        self._ix_cols = np.ascontiguousarray(cols[:, order])
        self._ix_key, self._ix_t = self._ix_cols[k], order
        self._ix_m, self._ix_dim = m, k

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def _check(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float).reshape(-1, self.dim)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(x) != len(y):
            raise ValueError(f"History got {len(x)} vectors but {len(y)} values; pass one value per vector")
        return x, y

    def _grow(self, m: int) -> None:
        """Unbounded history: make room for ``m`` more pairs (nothing has wrapped, so slots stay in order)."""
        if self.bounded or self.total + m <= self.capacity:
            return
        new = max(2 * self.capacity, self.total + m)
        for name in ("_xt", "_y", "_t"):
            old = getattr(self, name)
            arr = np.zeros(old.shape[:-1] + (new,), dtype=old.dtype) if name != "_t" else np.full(new, -1, np.int64)
            arr[..., : self.capacity] = old
            setattr(self, name, arr)
        self._buf_a, self._buf_b = np.empty(new), np.empty(new)
        rx = np.zeros((self.dim, new))
        rx[:, new - self.total:] = self._rx[:, self.capacity - self.total:]
        self._rx = rx
        self.capacity = new

    def add(self, x: Any, y: Any) -> None:
        """Append pairs (one vector and value, or ``(m, dim)`` and ``(m,)``); the oldest drop out."""
        x, y = self._check(x, y)
        m = len(x)
        if m == 0:
            return
        self._grow(m)
        if m > self.capacity:  # only the last `capacity` can survive
            x, y = x[-self.capacity:], y[-self.capacity:]
            skipped = m - self.capacity
        else:
            skipped = 0
        t0 = self.total + skipped
        slots = (t0 + np.arange(len(x))) % self.capacity
        self._xt[:, slots] = x.T
        self._y[slots] = y
        self._t[slots] = t0 + np.arange(len(x))
        if not self.bounded:  # nothing skipped or wrapped: slots t0 .. t0 + m - 1
            self._rx[:, self.capacity - t0 - m:self.capacity - t0] = x[::-1].T
        self.total += m

    def add_one(self, x: np.ndarray, y: float) -> None:
        """:meth:`add` of one pair, ``x`` a float array of shape ``(dim,)`` (no checks, nothing allocated)."""
        self._grow(1)
        slot = self.total % self.capacity
        if not self.bounded:
            self._rx[:, self.capacity - 1 - self.total] = x
        self._xt[:, slot] = x
        self._y[slot] = y
        self._t[slot] = self.total
        self.total += 1

    def _order(self) -> np.ndarray:
        n = len(self)
        if self.total <= self.capacity:
            return np.arange(n)
        start = self.total % self.capacity
        return (start + np.arange(n)) % self.capacity

    @property
    def x(self) -> np.ndarray:
        """Stored vectors, oldest first (a copy)."""
        return self._xt[:, self._order()].T.copy()

    @property
    def y(self) -> np.ndarray:
        """Stored values, oldest first (a copy)."""
        return self._y[self._order()].copy()

    def rows(self, i: np.ndarray) -> np.ndarray:
        """``x[i]`` (positions oldest first, an integer array of any shape) without copying every stored vector."""
        slots = i if self.total <= self.capacity else (self.total + i) % self.capacity
        return self._xt.T[slots]

    def newest(self) -> tuple[np.ndarray, float]:
        """The latest pair: its vector (a view, valid until the next addition) and value."""
        slot = (self.total - 1) % self.capacity
        return self._xt[:, slot], float(self._y[slot])

    def last(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The latest ``min(m, len)`` pairs, oldest first."""
        order = self._order()[-int(m):] if m > 0 else np.zeros(0, dtype=np.int64)
        return self._xt[:, order].T.copy(), self._y[order].copy()

    # -------------------------------------------------------------- neighbours
    def nearest(self, x: Any) -> tuple[int, float]:
        """Slot index and distance of the stored vector nearest to ``x`` (ties: most recent).

        Raises ``ValueError`` when the history is empty. Use :attr:`_y` via
        :meth:`value_at` to read the neighbour's value.
        """
        n = len(self)
        if n == 0:
            raise ValueError("History is empty: add pairs before asking for neighbours")
        q = np.asarray(x, dtype=float).reshape(self.dim)
        d2 = self._dist2(self._xt[:, :n], q[:, None])[0]
        i = self._argmin_latest(d2, self._t[:n])
        return i, float(np.sqrt(d2[i]))

    @staticmethod
    def _dist2(cols: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Squared distances ``(m, n)`` between query columns ``q (dim, m)`` and ``cols (dim, n)``.

        Accumulated one dimension at a time, in the same order for single and
        batched queries, so both give bit-identical distances.
        """
        d2 = (cols[0][None, :] - q[0][:, None]) ** 2
        for i in range(1, cols.shape[0]):
            d2 += (cols[i][None, :] - q[i][:, None]) ** 2
        return d2

    def value_at(self, slot: int) -> float:
        return float(self._y[slot])

    def nearest_values(self, x: Any) -> np.ndarray:
        """For each row of ``x``: the value of its nearest stored vector (no insertion)."""
        q = np.asarray(x, dtype=float).reshape(-1, self.dim)
        n = len(self)
        if n == 0:
            raise ValueError("History is empty: add pairs before asking for neighbours")
        d2 = self._dist2(self._xt[:, :n], q.T)
        return self._y[self._pick(d2, self._t[:n])]

    @staticmethod
    def _argmin_latest(d2: np.ndarray, t: np.ndarray) -> int:
        """Index of the smallest of ``d2``; among equal ones, the one with the largest arrival ``t``."""
        i = int(d2.argmin())
        if np.count_nonzero(d2 == d2[i]) > 1:
            ties = np.flatnonzero(d2 == d2[i])
            i = int(ties[np.argmax(t[ties])])
        return i

    @staticmethod
    def _pick(d2: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Row-wise argmin of ``d2`` with ties broken toward the largest ``t``."""
        best = d2.min(axis=1, keepdims=True)
        tie_t = np.where(d2 == best, t[None, :], np.iinfo(np.int64).min)
        return np.argmax(tie_t, axis=1)

    def query_then_add(self, x: Any, y: Any, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """For each new pair in order: find its nearest earlier pair, then store it.

        Returns ``(neighbour_values, has_neighbour)``; ``has_neighbour[i]`` is
        False only for a point that arrived when nothing was stored. The
        result equals calling :meth:`nearest` then :meth:`add` point by point.
        """
        x, y = self._check(x, y)
        m = len(x)
        out = np.zeros(m)
        has = np.zeros(m, dtype=bool)
        for s in range(0, m, chunk):
            if m == 1 or (not self.bounded and len(self) >= self.INDEX_FROM):
                # one point at a time: the one-episode-at-a-time protocol, and a long unbounded history (the
                # one-point scans of the sorted copy find the same neighbours, as a chunk's full scan copied and
                # scanned every stored pair: observe_batch 10-70 times slower than one observe per episode at
                # 10,000-100,000 pairs)
                for i in range(s, m):
                    v = self.query_then_add_one(x[i], float(y[i]))
                    if v is not None:
                        out[i], has[i] = v, True
                break
            xb, yb = x[s:s + chunk], y[s:s + chunk]
            b = len(xb)
            self._grow(b)
            n = len(self)
            T = self.total
            # candidates: stored slots, then the chunk's own earlier points
            cx = np.concatenate([self._xt[:, :n], xb.T], axis=1)
            cy = np.concatenate([self._y[:n], yb])
            ct = np.concatenate([self._t[:n], T + np.arange(b)])
            d2 = self._dist2(cx, xb.T)
            now = T + np.arange(b)
            visible = (ct[None, :] < now[:, None]) & (ct[None, :] >= now[:, None] - self.capacity)
            d2 = np.where(visible, d2, np.inf)
            ok = visible.any(axis=1)
            idx = self._pick(d2, ct)
            out[s:s + b] = np.where(ok, cy[idx], 0.0)
            has[s:s + b] = ok
            self.add(xb, yb)
        return out, has

    def _sq_dists(self, cols: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
        """Squared distances from ``x`` to the ``n`` columns ``cols`` (one row per dimension), summed
        dimension by dimension in the scratch buffers, so no array is allocated per call."""
        d2, tmp = self._buf_a[:n], self._buf_b[:n]
        np.subtract(cols[0], x[0], out=d2)
        np.multiply(d2, d2, out=d2)
        for i in range(1, self.dim):
            np.subtract(cols[i], x[i], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            d2 += tmp
        return d2

    def query_then_add_one(self, x: np.ndarray, y: float) -> float | None:
        """One-point :meth:`query_then_add`: the nearest earlier value (None if empty), then store.

        ``x`` must be a float array of shape ``(dim,)``. Scans with preallocated
        buffers; gives bit-identical distances to the batched path.
        """
        self._grow(1)
        n = len(self)
        value = None
        if n and not self.bounded:
            value = self._nearest_unbounded(x, n)
        elif n:
            d2 = self._sq_dists(self._xt if n == self.capacity else self._xt[:, :n], x, n)
            value = float(self._y[self._argmin_latest(d2, self._t[:n])])
        self.add_one(x, y)
        return value

    def _nearest_unbounded(self, x: np.ndarray, n: int) -> float:
        """The value of the pair nearest to ``x`` among all ``n`` (ties: the most recent), exactly as one
        full scan finds it."""
        if n >= self.INDEX_FROM and n - self._ix_m >= max(1024, self._ix_m // 8):
            self._reindex()
        m = self._ix_m
        # the pairs not in the sorted copy, newest first: argmin's first minimum is already the most
        # recent of any ties, so no tie pass is needed
        d2 = self._sq_dists(self._rx[:, self.capacity - n:self.capacity - m], x, n - m)
        i = int(d2.argmin())
        best = float(d2[i])
        value = float(self._y[n - 1 - i])
        if m == 0:
            return value
        # an older pair at least as near has (x_k - c_k)^2 <= best on the sorted coordinate k, since
        # the squared distance is a sum of such non-negative terms (and rounding keeps it so):
        # only the band |x_k - c_k| <= sqrt(best) (with room for rounding) is scanned
        r = math.sqrt(best) * (1.0 + 1e-9) + 1e-12
        xk = x[self._ix_dim]
        lo = int(self._ix_key.searchsorted(xk - r, side="left"))
        hi = int(self._ix_key.searchsorted(xk + r, side="right"))
        if hi <= lo:
            return value
        d2 = self._sq_dists(self._ix_cols[:, lo:hi], x, hi - lo)  # the same sums as a full scan's
        if d2.min() >= best:  # a tie with a newer pair goes to the newer pair
            return value
        return float(self._y[self._ix_t[lo + self._argmin_latest(d2, self._ix_t[lo:hi])]])

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Checkpoint-friendly copy (oldest first, so capacity can be checked on load)."""
        return {"dim": self.dim, "capacity": self.capacity if self.bounded else None, "total": int(self.total),
                "x": self.x, "y": self.y}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; refuses a different dim or capacity."""
        cap = state["capacity"]
        if int(state["dim"]) != self.dim or (cap is None) == self.bounded or (
                cap is not None and int(cap) != self.capacity):
            raise ValueError(
                f"history state has dim {state['dim']} / capacity {state['capacity']}, "
                f"this one {self.dim} / {self.capacity}"
            )
        x = np.asarray(state["x"], dtype=float).reshape(-1, self.dim)
        y = np.asarray(state["y"], dtype=float).reshape(-1)
        total = int(state["total"])
        if len(x) != len(y) or len(x) != (min(total, self.capacity) if self.bounded else total):
            raise ValueError("history state is inconsistent (lengths do not match the total)")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("history state holds NaN or infinite values")
        self._xt[:] = 0.0
        self._y[:] = 0.0
        self._t[:] = -1
        self._rx[:] = 0.0
        self._unindex()
        self.total = 0 if not self.bounded else total - len(x)
        self.add(x, y)
        self.stamp = object()
        assert self.total == total


def absolute_progress(history: History, x: np.ndarray, scores: np.ndarray, min_history: int = 5) -> np.ndarray:
    """Absolute learning progress of each new (task, score), in order; then store the pairs.

    ``ALP = |score - score of the nearest earlier task|`` (in the history's
    coordinates); 0 while ``history`` has received ``min_history`` or fewer
    pairs (the ALP-GMM reference rule). Batched calls equal one call per pair.
    """
    x = np.asarray(x, dtype=float).reshape(-1, history.dim)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(x) == 1:
        return np.array([absolute_progress_one(history, x[0], float(scores[0]), min_history)])
    before = history.total + np.arange(len(x))
    neighbour, has = history.query_then_add(x, scores)
    return np.where(has & (before > min_history), np.abs(scores - neighbour), 0.0)


def absolute_progress_one(history: History, x: np.ndarray, score: float, min_history: int = 5) -> float:
    """:func:`absolute_progress` of one pair, ``x`` a float array of shape ``(dim,)``: its ALP, then store it."""
    seen = history.total
    v = history.query_then_add_one(x, score)
    return abs(score - v) if v is not None and seen > min_history else 0.0
