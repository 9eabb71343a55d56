"""Client ids against the log: fingerprints, loading the recent set and the filter, old-id look-ups.

The in-memory part (recent ids exactly, older ones in a Bloom filter) is
:class:`~magister.serve.seen.ClientIds`; this module is what the service
does with the database for them (a mixin of :class:`~magister.serve.service.Service`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.engine import Connection

from .common import Unavailable
from .live import LiveCurriculum
from .models import Event
from .seen import MASK64

__all__ = ["ClientIdLog"]

log = logging.getLogger("magister.serve")
_EVENTS = Event.__table__


# Fingerprints are compared only within one process (those of ids read back from the log are
# recomputed here), so Python's fast, per-process salted hash() is enough; never store them.
def _fingerprint(task_text: str, score: float, at: float | None = None) -> int:
    """An observation's: its task, score and own time (``None``: none given, it happened when it arrived)."""
    if at is None:
        return hash((task_text, float(score))) & MASK64
    return hash((task_text, float(score), float(at))) & MASK64


def _propose_fingerprint(k: int) -> int:
    return hash(("__propose__", int(k))) & MASK64


def _give_back_fingerprint(text: str) -> int:
    """A give-back's: its logged text (the tasks and infos given back)."""
    return hash(("__giveback__", text)) & MASK64


#: what a logged event says about its client id: (client id, seq, kind, k, task or None (a proposal's), score,
#: answer time), the arguments of :func:`_event_fingerprint` after the first two
_ID_COLUMNS = (_EVENTS.c.client_id, _EVENTS.c.seq, _EVENTS.c.kind, _EVENTS.c.k,
               case((_EVENTS.c.kind != "propose", _EVENTS.c.task), else_=None), _EVENTS.c.score,
               _EVENTS.c.answer_time)


_ID_COUNT = select(func.count(_EVENTS.c.client_id)).where(_EVENTS.c.curriculum_id == bindparam("cid"))
_RECENT_IDS = (select(*_ID_COLUMNS).where(_EVENTS.c.curriculum_id == bindparam("cid"))
               .where(_EVENTS.c.client_id.is_not(None)).where(_EVENTS.c.seq >= bindparam("cut"))
               .order_by(_EVENTS.c.seq))


def _event_fingerprint(kind: str, k: Any, task: Any, score: Any, at: Any = None) -> int:
    """The fingerprint of a logged event, as its request computed it."""
    if kind == "giveback":
        return _give_back_fingerprint(task)
    if kind == "observe":
        return _fingerprint(task, float(score), None if at is None else float(at))
    return _propose_fingerprint(int(k))


class ClientIdLog:
    """Service methods for client ids that read the log (needs ``engine``, ``old_id_reads``, ``_may_block``)."""

    def _load_ids(self, live: LiveCurriculum, conn: Connection | None = None) -> None:
        """The newest ``recent_ids`` client ids exactly, the older ones into the filter (streamed)."""
        if conn is None:
            with self.engine.connect() as own:
                return self._load_ids(live, own)
        ids = live.ids
        n = ids.recent
        has_id = and_(_EVENTS.c.curriculum_id == live.spec.id, _EVENTS.c.client_id.is_not(None))
        total = int(conn.execute(_ID_COUNT, {"cid": live.spec.id}).scalar() or 0)
        cut = 0  # ids of events before seq `cut` are old
        if total > n:
            cut = int(conn.execute(select(_EVENTS.c.seq).where(has_id).order_by(_EVENTS.c.seq.desc())
                                   .offset(n - 1).limit(1)).scalar())
            ids.old.reserve(2 * (total - n))  # one slice, with room to grow as much again
            old = conn.execute(select(_EVENTS.c.client_id).where(has_id).where(_EVENTS.c.seq < cut),
                               execution_options={"yield_per": 20_000})
            for part in old.scalars().partitions():
                ids.old.add_many(part)
            ids.total = ids.old.count
        rows = conn.execute(_RECENT_IDS, {"cid": live.spec.id, "cut": cut}, execution_options={"yield_per": 5000})
        for cid, seq, kind, k, task, score, at in rows:
            ids.remember(cid, int(seq), _event_fingerprint(kind, k, task, score, at))

    def _old_ids(self, live: LiveCurriculum, cids: list[str]) -> dict[str, tuple[int, int]]:
        """(seq, fingerprint) of those ``cids`` that are in the log (ids the Bloom filter may have seen).

        Only ids that left the recent set are asked for, and an id leaves it only
        once its event is committed, so the log answers for every one of them.
        """
        self._may_block()
        found: dict[str, tuple[int, int]] = {}
        self.old_id_reads += 1
        try:
            with self.engine.connect() as conn:
                for start in range(0, len(cids), 500):
                    rows = conn.execute(
                        select(*_ID_COLUMNS)
                        .where(_EVENTS.c.curriculum_id == live.spec.id)
                        .where(_EVENTS.c.client_id.in_(cids[start:start + 500])))
                    for cid, seq, kind, k, task, score, at in rows:
                        found[cid] = (int(seq), _event_fingerprint(kind, k, task, score, at))
        except Exception as e:  # noqa: BLE001 - without the answer an old id could be applied twice
            log.exception("could not look client ids up in the log")
            raise Unavailable(f"could not check whether client id {cids[0]!r} was seen before "
                              f"({type(e).__name__}); nothing was recorded, retry shortly") from None
        return found

    def _prior(self, live: LiveCurriculum, cid: str) -> tuple[int, int] | None:
        """(seq, fingerprint) of a client id seen before, or ``None`` for a new one."""
        prior = live.ids.get(cid)
        if prior is None and live.ids.maybe_old(cid):
            prior = self._old_ids(live, [cid]).get(cid)
        return prior
