"""The curricula in memory: a bounded least-recently-used map of live curricula.

A curriculum is loaded on first use (newest checkpoint plus the later log, see
``recovery.py``) and leaves memory when the map is over its size and the
curriculum is idle: its lock is free, every write it queued has committed, it
is neither being deleted nor being rebuilt. An evicted curriculum is marked
(``evicted``) under its lock, so a request that found it just before the
eviction sees the mark once it holds the lock and looks it up again; two live
copies of one curriculum never take writes. Reloading it later gives the same
teacher exactly, since everything it saw is in the log.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from itertools import islice
from typing import Callable, Iterator

from .live import LiveCurriculum

__all__ = ["CurriculumCache"]

#: how many of the least recently used entries one eviction pass looks at for an idle one
SCAN = 64


class CurriculumCache:
    """name -> :class:`LiveCurriculum`, least recently used first, at most ``limit`` idle ones kept.

    Reads that do not count as a use (``get``, ``[]``, ``in``) leave the order
    alone; :meth:`touch` moves an entry to the recent end. Not thread-safe by
    itself: the service calls it under its registry lock.
    """

    def __init__(self, limit: int, on_evict: Callable[[LiveCurriculum], None] | None = None):
        self.limit = int(limit)
        self.on_evict = on_evict
        self._d: "OrderedDict[str, LiveCurriculum]" = OrderedDict()
        self.loads = 0  # curricula loaded from the database
        self.evictions = 0

    def get(self, name: str) -> LiveCurriculum | None:
        return self._d.get(name)

    def __getitem__(self, name: str) -> LiveCurriculum:
        return self._d[name]

    def __contains__(self, name: object) -> bool:
        return name in self._d

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._d))

    def items(self) -> list[tuple[str, LiveCurriculum]]:
        return list(self._d.items())

    def values(self) -> list[LiveCurriculum]:
        return list(self._d.values())

    def touch(self, name: str) -> LiveCurriculum | None:
        live = self._d.get(name)
        if live is not None:
            self._d.move_to_end(name)
        return live

    def put(self, name: str, live: LiveCurriculum) -> None:
        self._d[name] = live
        self._d.move_to_end(name)
        # never the one just put: with only busy or broken ones besides it (broken ones never leave), it was
        # evicted by its own load, and the request that loaded it looked it up again, forever
        self.shrink(keep=name)

    def pop(self, name: str, live: LiveCurriculum | None = None) -> None:
        """Remove ``name`` (only if it still maps to ``live``, when given)."""
        if live is None or self._d.get(name) is live:
            gone = self._d.pop(name, None)
            if gone is not None and self.on_evict is not None:
                self.on_evict(gone)

    def shrink(self, keep: str | None = None) -> int:
        """Evict idle curricula other than ``keep``, least recently used first, until at most ``limit`` remain;
        returns how many."""
        over = len(self._d) - self.limit
        if over <= 0:
            return 0
        idle: list[str] = []
        for name, live in islice(self._d.items(), over + SCAN):  # (no copy of the whole map)
            if name != keep and evict(live):  # marks it: it must then leave the map
                idle.append(name)
                if len(idle) >= over:
                    break
        for name in idle:
            live = self._d.pop(name)
            if self.on_evict is not None:
                self.on_evict(live)
        gone = len(idle)
        self.evictions += gone
        return gone


def evict(live: LiveCurriculum) -> bool:
    """Mark ``live`` evicted if it is idle now (never waits); returns whether it was."""
    lock: threading.RLock = live.lock
    if not lock.acquire(blocking=False):
        return False
    try:
        if live.deleted or live.broken or live.rebuilding or live._unfinished():
            return False
        live.evicted = True
        return True
    finally:
        lock.release()
