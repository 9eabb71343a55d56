"""Leases: several server processes over one database, each curriculum served by one of them at a time.

A process that loads a curriculum first takes its lease, a row of the
``leases`` table (curriculum, owner, the owner's URL, expiry), in its own
transaction: it inserts the row, or takes it over when it has expired (its
holder died or stalled), and otherwise learns who holds it and where that
process answers. Only then does it read the log, so it starts from
everything the previous holder committed. A background thread renews every
lease the process holds every third of the lease time, gives back those of
curricula that left its memory, and reports leases it lost.

A holder trusts its lease until ``lease_seconds - margin`` after the start of
its last successful renewal, by its own monotonic clock; another process
takes it over only after ``expires_at`` by the wall clock, so clocks of
different machines must agree to well within the margin (NTP does). Should a
stalled holder still write after losing its lease, the log's keys fence it
off: an event takes the next sequence number of its curriculum and a client
id once per curriculum, so of two processes writing the same number one
transaction fails (and that process rebuilds from the log), and an
observation is never logged twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..settings import number
from .models import Lease

__all__ = ["LeaseBook"]

log = logging.getLogger("magister.serve")
_LEASES = Lease.__table__


class LeaseBook:
    """The leases this process holds (``curriculum id -> monotonic time it trusts them until``)."""

    def __init__(self, engine: Engine, url: str, lease_seconds: float = 10.0,
                 on_lost: Callable[[set[int]], None] | None = None,
                 on_tick: Callable[[], None] | None = None):
        self.engine = engine
        self.url = str(url)
        self.ttl = number("lease_seconds", lease_seconds, 0.5, 3600.0)
        #: how long before its expiry a lease stops being trusted (renewals run every ttl / 3)
        self.margin = self.ttl / 4
        self.owner = secrets.token_hex(8)  # this process, for as long as it runs
        self.held: dict[int, float] = {}
        self._release: set[int] = set()
        self._lock = threading.Lock()
        #: held by a take of a lease and by a renewal's give-backs, so a lease taken back while a renewal
        #: was giving it back is not deleted after the take (the process would trust a lease nobody holds)
        self._gate = threading.Lock()
        self._stop = threading.Event()
        self.on_lost, self.on_tick = on_lost, on_tick
        self.lost = 0  # leases found taken over by another process
        self._thread = threading.Thread(target=self._run, name="magister-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop renewing and give every lease back (the next process takes them at once)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(_LEASES).where(_LEASES.c.owner == self.owner))
        except Exception:  # noqa: BLE001 - they expire anyway
            log.warning("could not give the leases back; they expire in %.0f s", self.ttl)

    # ----------------------------------------------------------- request path
    def fresh(self, cid: int) -> bool:
        """Whether this process may trust its lease of ``cid`` now (no database access)."""
        until = self.held.get(cid)
        return until is not None and time.monotonic() < until

    def acquire(self, conn: Connection, cid: int) -> str | None:
        """Take (or keep) the lease of ``cid``, committed on ``conn``; ``None`` when it is ours, else the
        URL of the process that holds it."""
        with self._gate:
            return self._acquire(conn, cid)

    def _acquire(self, conn: Connection, cid: int) -> str | None:
        t0 = time.monotonic()
        now = time.time()
        values = {"curriculum_id": cid, "owner": self.owner, "url": self.url, "expires_at": now + self.ttl}
        taken = conn.execute(update(_LEASES).where(_LEASES.c.curriculum_id == cid)
                             .where((_LEASES.c.owner == self.owner) | (_LEASES.c.expires_at < now))
                             .values(owner=self.owner, url=self.url, expires_at=now + self.ttl)).rowcount
        if not taken:
            holder = conn.execute(select(_LEASES.c.url).where(_LEASES.c.curriculum_id == cid)).first()
            if holder is not None:
                conn.commit()
                return str(holder[0])
            try:
                conn.execute(_LEASES.insert().values(**values))
            except IntegrityError:  # another process inserted it first: it holds it
                conn.rollback()
                holder = conn.execute(select(_LEASES.c.url).where(_LEASES.c.curriculum_id == cid)).first()
                conn.commit()
                return str(holder[0]) if holder is not None else self.url_unknown()
        conn.commit()
        with self._lock:
            self.held[cid] = t0 + self.ttl - self.margin
            self._release.discard(cid)
        return None

    @staticmethod
    def url_unknown() -> str:
        return "another process (its lease just changed hands)"

    def renew_one(self, cid: int) -> bool:
        """Renew the lease of ``cid`` now; whether it is still ours."""
        t0 = time.monotonic()
        with self.engine.begin() as conn:
            n = conn.execute(update(_LEASES).where(_LEASES.c.curriculum_id == cid)
                             .where(_LEASES.c.owner == self.owner)
                             .values(expires_at=time.time() + self.ttl)).rowcount
        with self._lock:
            if n:
                self.held[cid] = t0 + self.ttl - self.margin
            else:
                self.held.pop(cid, None)
        return bool(n)

    def release(self, cid: int) -> None:
        """``cid`` left this process's memory: its lease is given back at the next renewal."""
        with self._lock:
            if self.held.pop(cid, None) is not None:
                self._release.add(cid)

    # -------------------------------------------------------------- renewals
    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - retried at the next tick; requests renew one by one meanwhile
                log.exception("renewing leases failed")
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception:  # noqa: BLE001
                    log.exception("lease tick failed")

    def renew(self) -> set[int]:
        """Renew every lease held, give back the released ones; returns the ids of leases lost."""
        t0 = time.monotonic()
        with self.engine.begin() as conn:
            # (the gate is taken with a connection in hand: a take waiting for it holds one already)
            with self._gate:  # a lease taken back from now on is deleted first (the database orders them)
                with self._lock:
                    gone = list(self._release)
                    self._release.clear()
                for start in range(0, len(gone), 500):
                    conn.execute(delete(_LEASES).where(_LEASES.c.owner == self.owner)
                                 .where(_LEASES.c.curriculum_id.in_(gone[start:start + 500])))
            conn.execute(update(_LEASES).where(_LEASES.c.owner == self.owner)
                         .values(expires_at=time.time() + self.ttl))
            mine = set(conn.execute(select(_LEASES.c.curriculum_id).where(_LEASES.c.owner == self.owner)).scalars())
        until = t0 + self.ttl - self.margin
        lost: set[int] = set()
        with self._lock:
            for cid, trusted in list(self.held.items()):
                if cid in mine:
                    self.held[cid] = until
                elif trusted <= until:  # (one taken after this renewal began is not in `mine` yet)
                    lost.add(cid)
                    del self.held[cid]
        if lost:
            self.lost += len(lost)
            if self.on_lost is not None:
                self.on_lost(lost)
        return lost
