"""Recovery: checkpoints (teacher bytes and the seq they cover) and replay of the later log.

Each curriculum starts from its newest usable checkpoint and replays the
events after it in order: a ``propose`` event calls ``propose(k)`` again
(which redraws the same tasks, because the random generator is part of the
checkpoint; a level teacher's infos are logged with its tasks and checked
too), consecutive ``observe`` events of one request call ``observe_batch``
once, and a ``giveback`` event calls ``give_back`` with the tasks and infos
it holds. A people policy on the server clock (``clock: "server"``) has its
clock moved to each propose and observe request's logged time first (an
observation's own time where its client gave one: a request's observations
are then applied in runs of equal times), as the live request did: a replay
never reads the wall clock. The result equals the live teacher. After a failed
write, a curriculum is rebuilt the same way once every queued write is done.
(A mixin of :class:`~magister.serve.service.Service`.)
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.engine import Connection

from ..errors import MagisterError
from ..teacher import Teacher, loads
from .common import Unavailable, gives_infos, jsonable, proposal_text
from .live import CurriculumSpec, LiveCurriculum, time_runs
from .models import Checkpoint, Event
from .seen import ClientIds

__all__ = ["Recovery"]

log = logging.getLogger("magister.serve")
_EVENTS = Event.__table__
_CHECKPOINTS = Checkpoint.__table__
# built once (a curriculum loads on first use, so these run on the request path)
_CHECKPOINTS_OF = (select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.data)
                   .where(_CHECKPOINTS.c.curriculum_id == bindparam("cid")).order_by(_CHECKPOINTS.c.seq.desc()))
_EVENTS_AFTER = (select(_EVENTS.c.seq, _EVENTS.c.batch, _EVENTS.c.kind, _EVENTS.c.k, _EVENTS.c.task,
                        _EVENTS.c.score, _EVENTS.c.client_id, _EVENTS.c.created_at, _EVENTS.c.answer_time)
                 .where(_EVENTS.c.curriculum_id == bindparam("cid")).where(_EVENTS.c.seq > bindparam("after"))
                 .order_by(_EVENTS.c.seq))


def _as_applied(infos: list[Any] | None, flag: str | None) -> list[Any] | None:
    """A logged give-back's infos with the teacher's kind ``flag`` (``LevelTeacher._kind_flag``) as the server
    applied it: one logged before flags other than True and False were refused (``"yes"``, ``0``) was taken for its
    truth."""
    if infos is None or flag is None:
        return infos
    return [{**i, flag: bool(i[flag])} if isinstance(i, dict) and flag in i else i for i in infos]


class Recovery:
    """Service methods for checkpoints, rebuilds and replay (needs ``engine``, ``writer``, ``get``, ...)."""

    def rebuild(self, spec: CurriculumSpec, *, use_checkpoint: bool = True,
                conn: Connection | None = None) -> LiveCurriculum:
        """Newest usable checkpoint + replay of the later events (or a full replay), on ``conn`` if given."""
        if conn is None:
            with self.engine.connect() as own:
                return self.rebuild(spec, use_checkpoint=use_checkpoint, conn=own)
        teacher: Teacher | None = None
        start = 0
        if use_checkpoint:
            cps = conn.execute(_CHECKPOINTS_OF, {"cid": spec.id}).all()
            for seq, data in cps:
                try:
                    teacher = loads(bytes(data))
                    start = int(seq)
                    break
                except MagisterError as e:
                    log.warning("checkpoint %s of %r unusable (%s); trying an older one", seq, spec.name, e)
        if teacher is None:
            teacher = spec.build(stored=True)
        live = LiveCurriculum(spec=spec, teacher=teacher, checkpoint_seq=start, ids=ClientIds(self.recent_ids))
        last = start
        result = conn.execute(_EVENTS_AFTER, {"cid": spec.id, "after": start}, execution_options={"yield_per": 5000})
        pending: list[tuple[Any, float, float]] = []  # (task, score, time) of one request's observations
        pending_batch = None

        def flush() -> None:
            nonlocal pending
            space = teacher.space
            # a run of equal times at a time, the clock moved to each run's time: as the live request did
            for t, a, b in time_runs([when for _, _, when in pending]):
                spec.follow_server_time(teacher, t)
                teacher.observe_batch([space.from_json(json.loads(x)) for x, _, _ in pending[a:b]],
                                      [s for _, s, _ in pending[a:b]])
            pending = []

        for seq, batch, kind, k, task, score, cid, at, answered in result:
            if kind == "observe":
                if pending_batch != batch:
                    flush()
                    pending_batch = batch
                # (its own time if its client gave one, else its request's: the logged times only)
                pending.append((task, float(score), float(at if answered is None else answered)))
            elif kind == "giveback":
                flush()
                pending_batch = None
                given = json.loads(task)
                infos = _as_applied(given["infos"], getattr(teacher, "_kind_flag", None))
                teacher.give_back([teacher.space.from_json(t) for t in given["tasks"]], infos)
            else:
                flush()
                pending_batch = None
                infos = None
                spec.follow_server_time(teacher, float(at))
                if gives_infos(teacher):  # (the same draw as propose(k); the infos are checked too)
                    tasks, infos = teacher.propose_with_info(int(k))
                    infos = jsonable(infos)
                else:
                    tasks = teacher.propose(int(k))
                # (a proposal logged before infos were: its tasks alone)
                got = proposal_text(jsonable([teacher.space.to_json(t) for t in tasks]),
                                    infos if task.startswith("{") else None)
                if got != task:
                    self.replay_mismatches += 1
                    log.warning("replaying proposal %s of %r drew other tasks than logged; "
                                "is teacher %r deterministic given its generator?", seq, spec.name, spec.teacher)
            last = int(seq)
        flush()
        live.next_seq = max(last, start) + 1
        live.since_checkpoint = live.next_seq - 1 - start
        self._load_ids(live, conn)
        return live

    def replay_from_log(self, name: str) -> Teacher:
        """A fresh teacher rebuilt from the full event log, ignoring checkpoints (for checks)."""
        live = self.get(name)
        return self.rebuild(live.spec, use_checkpoint=False).teacher

    def checkpoint(self, name: str) -> tuple[int, concurrent.futures.Future]:
        """Write a checkpoint now; returns (seq it covers, commit future)."""
        with self._locked(name) as live:
            self._check_alive(live)
            return self._write_checkpoint(live)

    def _maybe_checkpoint(self, live: LiveCurriculum, n: int) -> None:
        live.since_checkpoint += n
        if self.checkpoint_every > 0 and live.since_checkpoint >= self.checkpoint_every:
            self._write_checkpoint(live)

    def _write_checkpoint(self, live: LiveCurriculum) -> tuple[int, concurrent.futures.Future]:
        seq = live.next_seq - 1
        data = live.teacher.to_bytes()
        cid = live.spec.id
        keep = self.keep_checkpoints
        live.since_checkpoint = 0
        live.checkpoint_seq = seq
        # the log writes these bytes depend on: if one of them failed, the bytes hold an event the log
        # lacks (a rebuild from them would count it, and its retry, twice), so the checkpoint is not stored
        writes = [f for _a, _b, f in list(live._unfinished())]

        def op(conn: Connection) -> int:
            exists = conn.execute(select(func.count()).select_from(_CHECKPOINTS).where(
                and_(_CHECKPOINTS.c.curriculum_id == cid, _CHECKPOINTS.c.seq == seq))).scalar()
            if not exists and (any(f.done() and f.exception() is not None for f in writes) or (
                    seq > 0 and conn.execute(select(_EVENTS.c.seq).where(
                        and_(_EVENTS.c.curriculum_id == cid, _EVENTS.c.seq == seq))).first() is None)):
                raise Unavailable(f"checkpoint at seq {seq} of curriculum {live.spec.name!r} not written: a log "
                                  "write it covers failed; retry once the curriculum is rebuilt")
            if not exists:
                conn.execute(insert(_CHECKPOINTS).values(curriculum_id=cid, seq=seq, data=data,
                                                         created_at=time.time()))
            old = conn.execute(select(_CHECKPOINTS.c.id).where(_CHECKPOINTS.c.curriculum_id == cid)
                               .order_by(_CHECKPOINTS.c.seq.desc()).offset(keep)).scalars().all()
            if old:
                conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.id.in_(old)))
            return seq

        return seq, self.writer.submit(op)  # type: ignore[union-attr]

    def _schedule_rebuild(self, live: LiveCurriculum) -> None:
        """Rebuild ``live`` from the log once every write queued so far has finished.

        ``live.broken`` is already set, so no new write of this curriculum is
        queued; a no-op queued now runs after all earlier writes (the writer is
        FIFO), so once it is done the log holds all that will ever reach it.
        """
        writer = self.writer
        live.rebuilding = True  # stays in memory until rebuilt (see cache.py)

        def work() -> None:
            if writer is not None:
                barrier = writer.submit(lambda conn: None)
                concurrent.futures.wait([barrier, *[f for _a, _b, f in list(live.pending)]])
            with live.lock:
                # a request that held the lock when the failure was seen may have logged rows after the
                # barrier; with the lock held no more come (it is broken): wait for those too, or the log
                # read below could miss an observation that is then acknowledged
                concurrent.futures.wait([f for _a, _b, f in list(live.pending)], timeout=60)
                try:
                    fresh = self.rebuild(live.spec)
                except Exception as e:  # noqa: BLE001
                    live.broken = f"could not be rebuilt ({type(e).__name__}: {e})"
                    live.rebuilding = False
                    return
                live.teacher, live.next_seq = fresh.teacher, fresh.next_seq
                live.ids, live.proposals, live.pending = fresh.ids, fresh.proposals, fresh.pending
                live.checkpoint_seq, live.since_checkpoint = fresh.checkpoint_seq, fresh.since_checkpoint
                live.broken = None
                live.rebuilding = False

        threading.Thread(target=work, daemon=True).start()
