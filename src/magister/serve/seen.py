"""Which client ids a curriculum has seen, in bounded memory per id.

:class:`ClientIds` keeps the most recent ``recent`` ids exactly (id -> seq of
its event and fingerprint of its content), in insertion order, and folds each
older id into a :class:`ScalableBloomFilter`: a few bytes per id instead of a
dictionary entry of some 150. The filter never forgets an id (no false
negatives) and wrongly says "maybe seen" for a new id with a small, bounded
probability; the service then asks the database (which keeps every id) and
finds nothing, so a false positive costs one indexed read, never a wrong answer.

Hashes are stable (BLAKE2b), not Python's per-process randomised ``hash()``.
Positions come from double hashing, ``h1 + i*h2`` modulo 2**64 then modulo the
size, computed the same way one id at a time (Python ints, for the request
path) and in bulk (numpy ``uint64``, for loading at start-up).
"""

from __future__ import annotations

import math
from collections import deque
from hashlib import blake2b
from typing import Callable, Iterable

import numpy as np

from ..settings import number, whole

__all__ = ["BloomFilter", "ScalableBloomFilter", "ClientIds", "id_hashes"]

MASK64 = (1 << 64) - 1
_LN2_SQ = math.log(2) ** 2


def _encode(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")  # JSON strings may carry lone surrogates


def id_hashes(key: str) -> tuple[int, int]:
    """Two stable 64-bit hashes of ``key`` (the second odd, so probes never repeat early)."""
    x = int.from_bytes(blake2b(_encode(key), digest_size=16).digest(), "little")
    return x & MASK64, (x >> 64) | 1


def _hash_array(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = b"".join([blake2b(_encode(k), digest_size=16).digest() for k in keys])
    h = np.frombuffer(raw, dtype="<u8").reshape(-1, 2)
    return h[:, 0].astype(np.uint64), h[:, 1].astype(np.uint64) | np.uint64(1)


class BloomFilter:
    """A fixed-size Bloom filter for ``capacity`` keys at false-positive rate ``fp_rate``."""

    __slots__ = ("capacity", "fp_rate", "m", "k", "count", "bits", "_view")

    def __init__(self, capacity: int, fp_rate: float):
        self.capacity = whole("capacity", capacity)
        self.fp_rate = number("fp_rate", fp_rate, 0.0, 1.0, low_open=True, high_open=True)
        m = math.ceil(-self.capacity * math.log(self.fp_rate) / _LN2_SQ)
        self.m = max(64, -(-m // 64) * 64)  # bits, a whole number of 64-bit words
        self.k = max(1, round(self.m / self.capacity * math.log(2)))
        self.count = 0
        self.bits = np.zeros(self.m // 8, dtype=np.uint8)
        self._view = memoryview(self.bits)  # fast single-byte access on the request path

    @property
    def nbytes(self) -> int:
        return int(self.bits.nbytes)

    @property
    def full(self) -> bool:
        return self.count >= self.capacity

    def contains_hashed(self, h1: int, h2: int) -> bool:
        bits, m, b = self._view, self.m, h1
        for _ in range(self.k):
            i = b % m
            if not bits[i >> 3] & (1 << (i & 7)):
                return False
            b = (b + h2) & MASK64
        return True

    def add_hashed(self, h1: int, h2: int) -> None:
        bits, m, b = self._view, self.m, h1
        for _ in range(self.k):
            i = b % m
            bits[i >> 3] |= 1 << (i & 7)
            b = (b + h2) & MASK64
        self.count += 1

    def add_arrays(self, h1: np.ndarray, h2: np.ndarray) -> None:
        """Add many keys given their hashes (``uint64`` arrays); same positions as :meth:`add_hashed`."""
        b, m = h1.copy(), np.uint64(self.m)
        for _ in range(self.k):
            i = b % m
            np.bitwise_or.at(self.bits, (i >> np.uint64(3)).astype(np.intp),
                             np.left_shift(np.uint8(1), (i & np.uint64(7)).astype(np.uint8)))
            b += h2  # wraps modulo 2**64, like the Python path's mask
        self.count += len(h1)

    def __contains__(self, key: str) -> bool:
        return self.contains_hashed(*id_hashes(key))

    def add(self, key: str) -> None:
        self.add_hashed(*id_hashes(key))


class ScalableBloomFilter:
    """A Bloom filter that grows as it fills (Almeida et al., 2007), with total false-positive rate <= ``fp_rate``.

    Keys go into the newest slice; when it holds its capacity, a slice
    ``growth`` times larger is added, with a false-positive rate ``tightening``
    times smaller, so the rates sum to at most ``fp_rate`` however many slices
    there are. A lookup asks every slice (most answer "no" at the first bit).
    """

    def __init__(self, fp_rate: float = 1e-3, initial_capacity: int = 4096, growth: float = 2.0,
                 tightening: float = 0.8):
        self.fp_rate = number("fp_rate", fp_rate, 0.0, 1.0, low_open=True, high_open=True)
        self.initial_capacity = whole("initial_capacity", initial_capacity)
        self.growth = number("growth", growth, 1.0, low_open=True)
        self.tightening = number("tightening", tightening, 0.0, 1.0, low_open=True, high_open=True)
        self.slices: list[BloomFilter] = []
        self._probes: list[tuple[memoryview, int, int]] = []  # (bits, m, k) of each slice, for lookups

    @property
    def count(self) -> int:
        return sum(s.count for s in self.slices)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.slices)

    def _grow(self, at_least: int = 1) -> BloomFilter:
        i = len(self.slices)
        capacity = self.initial_capacity if not i else math.ceil(self.slices[-1].capacity * self.growth)
        rate = self.fp_rate * (1 - self.tightening) * self.tightening ** i
        new = BloomFilter(max(capacity, at_least), rate)
        self.slices.append(new)
        self._probes.append((new._view, new.m, new.k))
        return new

    def reserve(self, n: int) -> None:
        """Make sure the next ``n`` keys fit in the newest slice (one slice sized for a bulk load)."""
        last = self.slices[-1] if self.slices else None
        if n > 0 and (last is None or last.capacity - last.count < n):
            self._grow(n)

    def contains_hashed(self, h1: int, h2: int) -> bool:
        # BloomFilter.contains_hashed inlined over the slices: this runs for every new id
        for bits, m, k in self._probes:
            b = h1
            for _ in range(k):
                i = b % m
                if not bits[i >> 3] & (1 << (i & 7)):
                    break
                b = (b + h2) & MASK64
            else:
                return True
        return False

    def __contains__(self, key: str) -> bool:
        return bool(self.slices) and self.contains_hashed(*id_hashes(key))

    def add(self, key: str) -> None:
        """Add ``key`` (the caller adds each key once; a repeat only wastes a little capacity)."""
        last = self.slices[-1] if self.slices else None
        if last is None or last.full:
            last = self._grow()
        last.add_hashed(*id_hashes(key))

    def add_many(self, keys: Iterable[str], chunk: int = 65536) -> None:
        """Add many keys at once (vectorised; same result as adding them one by one)."""
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == chunk:
                self._add_batch(batch)
                batch = []
        if batch:
            self._add_batch(batch)

    def _add_batch(self, keys: list[str]) -> None:
        h1, h2 = _hash_array(keys)
        start = 0
        while start < len(keys):
            last = self.slices[-1] if self.slices else None
            if last is None or last.full:
                last = self._grow()
            n = min(len(keys) - start, last.capacity - last.count)
            last.add_arrays(h1[start:start + n], h2[start:start + n])
            start += n


class ClientIds:
    """Client id -> (seq of its event, fingerprint of its content) for the ``recent`` newest ids; older ids
    only as members of :attr:`old` (a :class:`ScalableBloomFilter`), whose details live in the database.

    An id leaves the recent set (oldest first) only once ``committed(seq)`` says
    its event is on disk, so an id the database cannot answer for yet is always
    remembered exactly; the set may briefly hold more than ``recent`` ids. Ids
    leave in runs of ``spill`` (up to 256), added to the filter in one
    vectorised step: a quarter of the cost of one at a time.
    """

    __slots__ = ("recent", "spill", "old", "total", "_map", "_order")

    def __init__(self, recent: int, fp_rate: float = 1e-3):
        self.recent = whole("recent_ids", recent)
        self.spill = min(256, self.recent // 16)
        # a first slice at least as large as the recent set (145 KB at 64k ids): few slices, each of which
        # costs every lookup of a new id a probe or two
        self.old = ScalableBloomFilter(fp_rate, initial_capacity=max(65_536, self.recent))
        self.total = 0  # ids ever remembered (recent + old)
        self._map: dict[str, int] = {}  # id -> fingerprint << 64 | seq (one int: no tuple per id)
        self._order: "deque[str]" = deque()  # the ids of _map, oldest first

    def __len__(self) -> int:
        return self.total

    @property
    def n_recent(self) -> int:
        return len(self._map)

    def get(self, cid: str) -> tuple[int, int] | None:
        """(seq, fingerprint) of a recent id, else ``None`` (it may still be an old one: see :meth:`maybe_old`)."""
        v = self._map.get(cid)
        return None if v is None else (v & MASK64, v >> 64)

    def maybe_old(self, cid: str) -> bool:
        """Whether ``cid`` may be an old id (``False``: certainly never seen, unless it is recent)."""
        return cid in self.old

    def remember(self, cid: str, seq: int, fingerprint: int) -> None:
        """Record a new id (fingerprint: an unsigned 64-bit int)."""
        self._map[cid] = (fingerprint << 64) | seq
        self._order.append(cid)
        self.total += 1

    def trim(self, committed: Callable[[int], bool]) -> int:
        """Once more than ``recent + spill`` ids are held, move the oldest into the filter until ``recent``
        are left (or the next is not yet committed). Returns how many moved."""
        order, m = self._order, self._map
        if len(order) <= self.recent + self.spill:
            return 0
        moved: list[str] = []
        while len(order) > self.recent:
            cid = order[0]
            if not committed(m[cid] & MASK64):
                break
            order.popleft()
            del m[cid]
            moved.append(cid)
        if len(moved) == 1:
            self.old.add(moved[0])
        elif moved:
            self.old.add_many(moved)
        return len(moved)
