"""A bounded buffer of levels with scores, for the Prioritized Level Replay family.

:class:`LevelBuffer` holds up to ``capacity`` levels, each with a score
(higher = more worth replaying) and the time it was last visited. It samples
a level to replay from

    P(level) = (1 - rho) * P_score(level) + rho * P_staleness(level)

(Jiang et al., 2021), with ``P_score`` one of

* ``"rank"``: proportional to ``(1 / rank) ** (1 / temperature)``, rank 1 the
  highest score (PLR's default; scale-free, so any finite scores work);
* ``"power"``: proportional to ``score ** (1 / temperature)`` (negative scores
  count as 0); computed as ``(score / ref) ** (1 / temperature)``, ``ref`` 1
  until the highest weight would overflow or underflow (a small temperature),
  then the highest score at that time (one O(n) rescale), so the
  distribution stays exact where ``score ** (1 / temperature)`` leaves the
  range of a float;
* ``"uniform"``: every level alike (SFL samples its top levels so),

and ``P_staleness`` proportional to ``c - C_i``, the visits since level i was
last visited. When full, a new level enters only by evicting the level with
the lowest score, and only if it scores higher.

Every operation costs O(log n) or less, in plain Python (the teacher path of
an RL loop must stay cheap): a sorted list of ``(-score, order, slot)`` gives
ranks and the lowest score (kept in buckets of a few hundred, so an insertion
moves one bucket's pointers, not the whole list's); a Fenwick tree
of visit times over the slots samples by staleness, ``sum(c - C_i)`` being
``c * n - sum(C_i)``; a sum tree samples by power. The state saves and
restores exactly: a restored buffer samples the same levels.
"""

from __future__ import annotations

import bisect
import heapq
import math
from typing import Any, Callable, Hashable, Iterator

import numpy as np

from .errors import CheckpointError, ConfigError
from .scores import FiniteScores
from .settings import MAX_COUNT, fraction, is_int, number, whole

__all__ = ["LevelBuffer", "PRIORITIZATIONS"]

PRIORITIZATIONS = ("rank", "power", "uniform")
_MAX_WEIGHT = 1e300
#: the power weights are rescaled (``_power_ref`` set to the highest score) when the highest weight leaves
#: [_MIN_WEIGHT, _MAX_WEIGHT): below it the top levels' weights lose their precision, then all become 0 (which
#: sampled uniformly), above it they were clipped to one value (which sampled the high scores alike)
_MIN_WEIGHT = 1e-300
#: a score is any finite number (a NaN would break the order, and a state holding one could not be loaded)
_finite = FiniteScores().normalise_one


class _SortedList:
    """A sorted list of comparable items in buckets of at most ``2 * load`` items (the idea of the
    ``sortedcontainers`` package, reduced to what the buffer needs): insertion, removal, position of an
    item and item at a position in O(log n) plus a memmove of one bucket, not of the whole list."""

    load = 256

    def __init__(self, items: Any = ()) -> None:
        items = sorted(items)
        self._lists = [items[i:i + self.load] for i in range(0, len(items), self.load)]
        self._maxes = [b[-1] for b in self._lists]
        self._len = len(items)
        self._reindex()

    def _reindex(self) -> None:
        n = len(self._lists)
        fen = [0] * (n + 1)
        for i, b in enumerate(self._lists, 1):
            fen[i] += len(b)
            j = i + (i & -i)
            if j <= n:
                fen[j] += fen[i]
        self._fen = fen
        self._step = 1 << max(0, n.bit_length() - 1) if n else 0

    def _fen_add(self, pos: int, delta: int) -> None:
        fen, i, n = self._fen, pos + 1, len(self._lists)
        while i <= n:
            fen[i] += delta
            i += i & -i

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        for b in self._lists:
            yield from b

    def add(self, item: Any) -> None:
        lists, maxes = self._lists, self._maxes
        self._len += 1
        if not lists:
            lists.append([item])
            maxes.append(item)
            self._reindex()
            return
        pos = bisect.bisect_left(maxes, item)
        if pos == len(maxes):
            pos -= 1
            lists[pos].append(item)
            maxes[pos] = item
        else:
            bisect.insort(lists[pos], item)
        b = lists[pos]
        if len(b) > 2 * self.load:  # split the bucket in two
            lists.insert(pos + 1, b[self.load:])
            del b[self.load:]
            maxes[pos] = b[-1]
            maxes.insert(pos + 1, lists[pos + 1][-1])
            self._reindex()
        else:
            self._fen_add(pos, 1)

    def remove(self, item: Any) -> None:
        lists, maxes = self._lists, self._maxes
        pos = bisect.bisect_left(maxes, item)
        if pos == len(maxes):
            raise KeyError(item)
        b = lists[pos]
        i = bisect.bisect_left(b, item)
        if i == len(b) or b[i] != item:
            raise KeyError(item)
        del b[i]
        self._len -= 1
        if not b:
            del lists[pos], maxes[pos]
            self._reindex()
            return
        maxes[pos] = b[-1]
        if len(b) < self.load // 4 and len(lists) > 1:  # merge a small bucket into a neighbour
            j = pos - 1 if pos else pos + 1
            lo = min(pos, j)
            lists[lo].extend(lists[lo + 1])
            del lists[lo + 1], maxes[lo]
            if len(lists[lo]) > 2 * self.load:
                lists.insert(lo + 1, lists[lo][self.load:])
                del lists[lo][self.load:]
                maxes.insert(lo, lists[lo][-1])
            maxes[lo] = lists[lo][-1]
            self._reindex()
        else:
            self._fen_add(pos, -1)

    def _locate(self, index: int) -> tuple[int, int]:
        """(bucket, offset) of the item at ``index`` (0-based)."""
        fen, n = self._fen, len(self._lists)
        pos, step, rem = 0, self._step, index
        while step:
            nxt = pos + step
            if nxt <= n and fen[nxt] <= rem:
                pos = nxt
                rem -= fen[nxt]
            step >>= 1
        return pos, rem

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        if index == 0:
            return self._lists[0][0]
        if index == self._len - 1:
            return self._lists[-1][-1]
        pos, off = self._locate(index)
        return self._lists[pos][off]

    def index(self, item: Any) -> int:
        """The position of ``item`` (which must be present)."""
        return self.bisect_left(item)

    def bisect_left(self, item: Any) -> int:
        """How many items are less than ``item`` (present or not)."""
        pos = bisect.bisect_left(self._maxes, item)
        if pos == len(self._maxes):
            return self._len
        fen, i, before = self._fen, pos, 0
        while i > 0:
            before += fen[i]
            i -= i & -i
        return before + bisect.bisect_left(self._lists[pos], item)

    def head(self, m: int) -> list[Any]:
        out: list[Any] = []
        for b in self._lists:
            if len(out) >= m:
                break
            out.extend(b[: m - len(out)])
        return out


class LevelBuffer:
    """Levels (hashable keys with a level object each), their scores and their last visit times."""

    tick: int
    """Visits so far (PLR's episode counter ``c``, counted by :meth:`advance`); a level's staleness is ``tick``
    less its last visit."""

    def __init__(self, capacity: int, *, prioritization: str = "rank", temperature: float = 0.1,
                 staleness_coef: float = 0.1):
        if not is_int(capacity) \
                or not 1 <= capacity <= 10**8:
            raise ConfigError(f"a level buffer needs capacity = a whole number in 1..1e8, got {capacity!r}")
        if not isinstance(prioritization, str) or prioritization not in PRIORITIZATIONS:
            raise ConfigError(f"unknown prioritization {prioritization!r}; use one of {', '.join(PRIORITIZATIONS)}")
        number("temperature", temperature, 0.0, low_open=True)  # (numpy numbers too: np.float32 was refused)
        fraction("staleness_coef (rho)", staleness_coef)
        self.capacity = int(capacity)
        self.prioritization = prioritization
        self.temperature = float(temperature)
        self.staleness_coef = float(staleness_coef)
        self._inv_t = 1.0 / self.temperature
        if prioritization == "rank":  # prefix sums of rank weights 1..capacity, fixed once
            w = np.arange(1, self.capacity + 1, dtype=float) ** -self._inv_t
            self._rank_cdf: list[float] = np.cumsum(w).tolist()
        self._tree_size = 1 << max(0, (self.capacity - 1).bit_length())
        self.clear()

    # ------------------------------------------------------------- plumbing
    def clear(self) -> None:
        cap = self.capacity
        self._keys: list[Hashable | None] = [None] * cap
        self._levels: list[Any] = [None] * cap
        self._scores: list[float] = [0.0] * cap
        self._seen: list[int] = [0] * cap
        self._entry: list[tuple[float, int, int] | None] = [None] * cap
        self._slot_of: dict[Hashable, int] = {}
        self._free: list[int] = list(range(cap))  # a sorted list is a heap
        self._order = _SortedList()  # (-score, order of entry, slot): rank 1 first
        self._f_occ = [0] * (cap + 1)  # Fenwick trees (1-based) over slots
        self._f_seen = [0] * (cap + 1)
        self._sum_seen = 0
        if self.prioritization == "power":
            self._tree = [0.0] * (2 * self._tree_size)
        #: power weights are (score / _power_ref) ** (1 / temperature); 1 (score ** (1 / T)) until a rescale
        self._power_ref = 1.0
        self.tick = 0  # visits so far (PLR's episode counter c)
        self._next_seq = 0
        #: the keys that are ints, sorted, and how many keys are not (for :meth:`count_missing`): a cache built
        #: on the first call, then kept up to date; not saved (a loaded buffer builds it again when asked)
        self._int_keys: _SortedList | None = None
        self._other_keys = 0

    def _fenwick_add(self, tree: list[int], slot: int, delta: int) -> None:
        i = slot + 1
        n = self.capacity
        while i <= n:
            tree[i] += delta
            i += i & -i

    def _power_weight(self, score: float) -> float:
        if score <= 0.0:
            return 0.0
        try:  # (score / 1.0 is score exactly: unrescaled weights are score ** (1 / T) bit for bit)
            return min((score / self._power_ref) ** self._inv_t, _MAX_WEIGHT)
        except OverflowError:
            return _MAX_WEIGHT

    def _check_power_scale(self) -> None:
        """Rescale the power weights when the highest one left [_MIN_WEIGHT, _MAX_WEIGHT): ``_power_ref``
        becomes the highest score (its weight 1) and every weight is recomputed (O(capacity), only when the
        highest score moved by a factor of about ``1e300 ** temperature`` since the last rescale)."""
        if not len(self._order):
            return
        top = self._order[0]
        if -top[0] <= 0.0:  # no positive score: every weight is 0 whatever the scale
            return
        w = self._tree[self._tree_size + top[2]]
        if _MIN_WEIGHT <= w < _MAX_WEIGHT:
            return
        self._set_power_ref(-top[0])

    def _set_power_ref(self, ref: float) -> None:
        """Set ``_power_ref`` and recompute every power weight from it (the weights and their sums depend on
        the scores and ``ref`` alone, so putting back an earlier ``ref`` puts back the exact earlier tree)."""
        if ref == self._power_ref:
            return
        self._power_ref = ref
        t, size = self._tree, self._tree_size
        for slot in self._slot_of.values():
            t[size + slot] = self._power_weight(self._scores[slot])
        for p in range(size - 1, 0, -1):  # the sums _tree_set keeps, each from its two children
            t[p] = t[2 * p] + t[2 * p + 1]

    def _tree_set(self, slot: int, value: float) -> None:
        t = self._tree
        p = self._tree_size + slot
        t[p] = value
        p >>= 1
        while p:
            t[p] = t[2 * p] + t[2 * p + 1]
            p >>= 1

    # ----------------------------------------------------------------- reads
    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._slot_of

    def __iter__(self) -> Iterator[Hashable]:
        """Keys from the highest score to the lowest."""
        return (self._keys[e[2]] for e in self._order)

    @property
    def full(self) -> bool:
        return len(self._slot_of) >= self.capacity

    def level(self, key: Hashable) -> Any:
        return self._levels[self._slot_of[key]]

    def score(self, key: Hashable) -> float:
        return self._scores[self._slot_of[key]]

    def staleness(self, key: Hashable) -> int:
        return self.tick - self._seen[self._slot_of[key]]

    def rank(self, key: Hashable) -> int:
        """1 for the highest score (ties: the level that entered first ranks higher)."""
        return self._order.index(self._entry[self._slot_of[key]]) + 1

    def lowest(self) -> tuple[Hashable, float] | None:
        """The level that would be evicted next, and its score."""
        if not len(self._order):
            return None
        s = self._order[-1][2]
        return self._keys[s], self._scores[s]

    def count_missing(self, n: int) -> int | None:
        """How many of the numbers ``0 .. n-1`` are not keys here (``sum(i not in self for i in range(n))``), or
        ``None`` when a key that is not an ``int`` (``True``, ``3.0``, a numpy number) could equal one of them.
        The first call costs O(len); later ones, and each change of the buffer after it, O(log len)."""
        if self._int_keys is None:
            keys = [k for k in self._slot_of if type(k) is int]
            self._int_keys, self._other_keys = _SortedList(keys), len(self._slot_of) - len(keys)
        if self._other_keys:
            return None
        ints = self._int_keys
        return n - (ints.bisect_left(n) - ints.bisect_left(0))

    def nth_missing(self, n: int, k: int) -> int:
        """The ``k``-th (from 0, ascending) of the numbers ``0 .. n-1`` that are not keys here: ``[i for i in
        range(n) if i not in self][k]``, in O(log(len) ** 2). Call :meth:`count_missing` first (a number, not
        ``None``, and more than ``k``)."""
        ints = self._int_keys
        assert ints is not None and not self._other_keys
        first = ints.bisect_left(0)
        lo, hi = 0, ints.bisect_left(n) - first
        while lo < hi:  # the keys in 0..n-1 below the answer: those whose count of missing numbers below is <= k
            mid = (lo + hi) // 2
            if ints[first + mid] - mid <= k:
                lo = mid + 1
            else:
                hi = mid
        return k + lo

    def top(self, m: int) -> list[tuple[Hashable, float]]:
        """The ``m`` highest-scoring levels with their scores."""
        return [(self._keys[e[2]], self._scores[e[2]]) for e in self._order.head(m)]

    # ---------------------------------------------------------------- writes
    def add(self, key: Hashable, level: Any, score: float, seen: int | None = None) -> Hashable | bool:
        """Put a level in with ``score``, last visited at ``seen`` (a past value of :attr:`tick`; default
        now: a level proposed earlier and scored only now was visited when it was proposed). Returns ``True``
        when it entered a free place, the key of the level it evicted when the buffer was full and it scored
        higher than the lowest, ``False`` when it did not enter (full, and it scored no higher). A key
        already present gets its score updated (returns ``True``)."""
        if key in self._slot_of:
            self.update(key, score)
            return True
        score = _finite(score)
        if seen is None:
            seen = self.tick
        elif isinstance(seen, (bool, np.timedelta64)) or not isinstance(seen, (int, np.integer)) \
                or not 0 <= seen <= self.tick:
            raise ConfigError(f"a level's last visit must be a whole number in 0..tick ({self.tick}), got {seen!r}")
        evicted: Hashable | bool = True
        if not self._free:
            low = self._order[-1]
            if not score > self._scores[low[2]]:
                return False
            evicted = self._keys[low[2]]
            self.remove(evicted)
        slot = heapq.heappop(self._free)
        self._occupy(slot, key, level, int(seen))
        self._set_score(slot, score, self._next_seq)
        self._next_seq += 1
        return evicted

    def _set_score(self, slot: int, score: float, seq: int) -> None:
        old = self._entry[slot]
        if old is not None:
            self._order.remove(old)
        e = (-score, seq, slot)
        self._order.add(e)
        self._entry[slot] = e
        self._scores[slot] = score
        if self.prioritization == "power":
            self._tree_set(slot, self._power_weight(score))
            self._check_power_scale()

    def update(self, key: Hashable, score: float) -> None:
        """Set the score of a level in the buffer (ties keep the order the levels entered in)."""
        slot = self._slot_of[key]
        self._set_score(slot, _finite(score), self._entry[slot][1])  # type: ignore[index]

    def remove(self, key: Hashable) -> None:
        slot = self._slot_of.pop(key)
        key = self._keys[slot]  # (the key stored: an equal one of another type may have been passed)
        self._order.remove(self._entry[slot])
        self._entry[slot] = None
        self._fenwick_add(self._f_occ, slot, -1)
        self._fenwick_add(self._f_seen, slot, -self._seen[slot])
        self._sum_seen -= self._seen[slot]
        if self.prioritization == "power":
            self._tree_set(slot, 0.0)
            self._check_power_scale()
        self._keys[slot] = self._levels[slot] = None
        self._scores[slot] = 0.0
        self._seen[slot] = 0
        heapq.heappush(self._free, slot)
        if self._int_keys is not None:
            if type(key) is int:
                self._int_keys.remove(key)
            else:
                self._other_keys -= 1

    def snapshot(self, key: Hashable) -> tuple[Any, int, int, float, int] | None:
        """What the buffer holds for ``key`` (``None``: not in it), for :meth:`restore` to put back exactly."""
        slot = self._slot_of.get(key)
        if slot is None:
            return None
        return self._levels[slot], slot, self._entry[slot][1], self._scores[slot], self._seen[slot]  # type: ignore[index]

    def restore(self, key: Hashable, saved: tuple[Any, int, int, float, int] | None) -> None:
        """Undo changes to ``key``: put it back as :meth:`snapshot` saw it (same slot, order, score and visit
        time), or take it out if it was not there. The slot must be free once ``key`` is out."""
        if key in self._slot_of:
            self.remove(key)
        if saved is None:
            return
        level, slot, seq, score, seen = saved
        self._free.remove(slot)
        heapq.heapify(self._free)
        self._occupy(slot, key, level, seen)
        self._set_score(slot, score, seq)

    def _occupy(self, slot: int, key: Hashable, level: Any, seen: int) -> None:
        """Put ``key`` (its ``level``, last visited at ``seen``) in the free ``slot``; the score is set apart."""
        self._keys[slot], self._levels[slot] = key, level
        self._slot_of[key] = slot
        self._seen[slot] = seen
        self._fenwick_add(self._f_occ, slot, 1)
        self._fenwick_add(self._f_seen, slot, seen)
        self._sum_seen += seen
        if self._int_keys is not None:
            if type(key) is int:
                self._int_keys.add(key)
            else:
                self._other_keys += 1

    def advance(self, steps: int = 1) -> None:
        """Count visits (PLR counts every level played, replayed or new). Draw a replay (:meth:`sample`)
        before counting its own visit: PLR's ``c`` is the episodes sampled so far, so the level played last
        has staleness 0."""
        self.tick += whole("advance(steps)", steps, 0)

    def touch(self, key: Hashable) -> None:
        """Mark a level visited now (its staleness drops to 0)."""
        slot = self._slot_of[key]
        d = self.tick - self._seen[slot]
        if d:
            self._seen[slot] = self.tick
            self._fenwick_add(self._f_seen, slot, d)
            self._sum_seen += d

    # -------------------------------------------------------------- sampling
    def _find(self, x: float, value: Callable[[int], float]) -> int:
        """The first slot whose prefix of ``value`` (a Fenwick node's weight) exceeds ``x``."""
        pos = 0
        step = self._tree_size
        n = self.capacity
        while step:
            nxt = pos + step
            if nxt <= n:
                v = value(nxt)
                if v <= x:
                    pos = nxt
                    x -= v
            step >>= 1
        return min(pos, n - 1)

    def _uniform_slot(self, u: float) -> int:
        occ = self._f_occ
        return self._find(math.floor(u * len(self._slot_of)), occ.__getitem__)

    def sample(self, rng: np.random.Generator) -> Hashable:
        """A key drawn from the replay distribution (two uniform draws from ``rng``)."""
        n = len(self._slot_of)
        if n == 0:
            raise ConfigError("cannot replay from an empty level buffer; add a level first")
        u_mix, u = rng.random(), rng.random()
        if u_mix < self.staleness_coef:
            c, occ, seen = self.tick, self._f_occ, self._f_seen
            total = c * n - self._sum_seen
            slot = self._uniform_slot(u) if total <= 0 else self._find(u * total, lambda i: c * occ[i] - seen[i])
        elif self.prioritization == "rank":
            cdf = self._rank_cdf
            r = min(bisect.bisect_right(cdf, u * cdf[n - 1], 0, n), n - 1)
            slot = self._order[r][2]
        elif self.prioritization == "power":
            t = self._tree
            x = u * t[1]
            if t[1] <= 0.0:
                slot = self._uniform_slot(u)
            else:
                p, size = 1, self._tree_size
                while p < size:
                    left = t[2 * p]
                    if x < left:
                        p = 2 * p
                    else:
                        x -= left
                        p = 2 * p + 1
                slot = p - size
                if slot >= self.capacity or t[p] <= 0.0:  # rounding at the right edge
                    slot = self._order[0][2]
        else:
            slot = self._uniform_slot(u)
        return self._keys[slot]

    def probabilities(self) -> dict[Hashable, float]:
        """The exact replay distribution over the keys (O(n); for tests and plots, not the hot path)."""
        n = len(self._slot_of)
        if n == 0:
            return {}
        slots = [e[2] for e in self._order]
        if self.prioritization == "rank":
            w = np.arange(1, n + 1, dtype=float) ** -self._inv_t
        elif self.prioritization == "power":
            w = np.array([self._power_weight(self._scores[s]) for s in slots])
        else:
            w = np.ones(n)
        p_score = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
        stale = np.array([self.tick - self._seen[s] for s in slots], dtype=float)
        p_stale = stale / stale.sum() if stale.sum() > 0 else np.full(n, 1.0 / n)
        p = (1 - self.staleness_coef) * p_score + self.staleness_coef * p_stale
        return {self._keys[s]: float(q) for s, q in zip(slots, p)}

    # ----------------------------------------------------------------- state
    def state_dict(self, encode: Callable[[Any], Any] = lambda level: level) -> dict[str, Any]:
        """The exact state; ``encode`` turns a level into something a checkpoint can hold (its JSON)."""
        slots = [e[2] for e in self._order]
        out = {
            "capacity": self.capacity,
            "tick": self.tick,
            "next_seq": self._next_seq,
            "slots": np.array(slots, dtype=np.int64),
            "seq": np.array([self._entry[s][1] for s in slots], dtype=np.int64),
            "scores": np.array([self._scores[s] for s in slots], dtype=float),
            "seen": np.array([self._seen[s] for s in slots], dtype=np.int64),
            "levels": [encode(self._levels[s]) for s in slots],
        }
        if self.prioritization == "power":  # (a state without it, saved before the rescaling, had 1)
            out["power_ref"] = self._power_ref
        return out

    def load_state_dict(self, state: dict[str, Any],
                        decode: Callable[[Any], tuple[Hashable, Any]] = lambda obj: (obj, obj)) -> None:
        """Restore :meth:`state_dict`; ``decode`` turns a saved level back into ``(key, level)``.
        A malformed state raises :class:`~magister.errors.CheckpointError` and changes nothing."""
        try:
            if int(state["capacity"]) != self.capacity:
                raise CheckpointError(f"the saved level buffer holds {state['capacity']} levels, this one "
                                      f"{self.capacity}; rebuild the teacher with the saved settings")
            slots = [int(s) for s in np.asarray(state["slots"], dtype=np.int64)]
            seqs = [int(s) for s in np.asarray(state["seq"], dtype=np.int64)]
            scores = [float(s) for s in np.asarray(state["scores"], dtype=float)]
            seen = [int(s) for s in np.asarray(state["seen"], dtype=np.int64)]
            levels = [decode(obj) for obj in state["levels"]]
            # (int() took a negative tick, whose levels' visits the buffer's next state refused, and cut 2.7 to 2)
            tick, next_seq = (whole(f"saved {k}", state[k], 0, floats=True) for k in ("tick", "next_seq"))
            if max(tick, next_seq) > MAX_COUNT:  # (1e300 was taken, and every later save failed: saved as int64)
                raise CheckpointError(f"level buffer state has tick {tick!r:.30} / next_seq {next_seq!r:.30}; "
                                      f"each must be at most {MAX_COUNT} (saved as 64-bit integers)")
            power_ref = float(state.get("power_ref", 1.0))
            if not (math.isfinite(power_ref) and power_ref > 0):
                raise CheckpointError(f"level buffer state has power_ref = {power_ref!r}; it must be a positive "
                                      "number")
            if not (len(slots) == len(seqs) == len(scores) == len(seen) == len(levels)):
                raise CheckpointError("level buffer state has columns of different lengths")
            if len(set(slots)) != len(slots) or any(not 0 <= s < self.capacity for s in slots):
                raise CheckpointError("level buffer state has repeated or impossible slots")
            if len({k for k, _ in levels}) != len(levels):
                raise CheckpointError("level buffer state holds a level twice")
            if not all(math.isfinite(s) for s in scores) or any(v > tick or v < 0 for v in seen):
                raise CheckpointError("level buffer state has a non-finite score or a visit in the future")
            # a level's sequence number breaks ties between equal scores: each once, all below the next one
            if len(set(seqs)) != len(seqs) or any(not 0 <= q < next_seq for q in seqs):
                raise CheckpointError("level buffer state has repeated sequence numbers or ones past next_seq")
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - any malformed entry is a bad checkpoint
            raise CheckpointError(f"level buffer state is malformed ({type(e).__name__}: {e})") from None
        self.clear()
        self.tick, self._next_seq, self._power_ref = tick, next_seq, power_ref
        for slot, seq, score, when, (key, level) in zip(slots, seqs, scores, seen, levels):
            self._occupy(slot, key, level, when)
            self._entry[slot] = (-score, seq, slot)
            self._scores[slot] = score
            if self.prioritization == "power":
                self._tree_set(slot, self._power_weight(score))
        self._order = _SortedList(self._entry[s] for s in slots)
        used = set(slots)
        self._free = [s for s in range(self.capacity) if s not in used]
        if self.prioritization == "power":
            self._check_power_scale()

    def __repr__(self) -> str:
        return (f"LevelBuffer({len(self)}/{self.capacity}, prioritization={self.prioritization!r}, "
                f"temperature={self.temperature}, staleness_coef={self.staleness_coef})")
