"""The service core: live teachers, the ordered event log, group commit, replay.

One :class:`LiveCurriculum` per curriculum holds the in-memory teacher and a
lock. A request that changes a teacher (propose, observe) takes the lock,
validates everything, applies it to the teacher, gives the change the next
sequence numbers of that curriculum and hands the rows to the
:class:`GroupWriter` while still holding the lock, so the log order is the
order in which the teacher saw things. The request is answered only after the
writer has committed the transaction that contains its rows.

The :class:`GroupWriter` is one thread with a FIFO queue: it takes every write
waiting (up to a cap), runs them in ONE transaction, commits (SQLite WAL with
``synchronous=FULL``, or PostgreSQL), then wakes all their requests. Under
load many requests share one disk flush (group commit).

Rebuilding (:func:`Service.start`): each curriculum starts from its newest
checkpoint (teacher bytes plus the last sequence number they include) and
replays the later events in order: a ``propose`` event calls
``propose(k)`` again (which redraws the same tasks, because the random
generator is part of the checkpoint), consecutive ``observe`` events of one
request call ``observe_batch`` once. The result equals the live teacher.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import queue
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigError, InvalidScoreError, MagisterError
from ..scores import ScoreRange
from ..settings import whole
from ..spaces import Space, space_from_spec
from ..teacher import Teacher, loads, make_teacher, teacher_class
from .models import Checkpoint, Curriculum, Event
from .seen import MASK64, ClientIds
from .settings import RECENT_IDS  # client ids remembered exactly per curriculum

log = logging.getLogger("magister.serve")

_EVENTS = Event.__table__
_CURRICULA = Curriculum.__table__
_CHECKPOINTS = Checkpoint.__table__

#: largest finite space a curriculum may have by default (teachers keep per-task arrays);
#: ``max_tasks`` / MAGISTER_MAX_TASKS sets it per server
MAX_TASKS = 1_000_000
#: the default cap for teachers whose every request evaluates every task (``work_grows_with_tasks``)
MAX_POLICY_TASKS = 100_000
#: largest Box dimension
MAX_DIM = 1024
#: proposal replies kept in memory per curriculum for retried request ids
RECENT_PROPOSALS = 10_000
#: most tasks one propose request may draw / observations one batch may carry
MAX_K = 10_000
MAX_BATCH = 10_000


# ----------------------------------------------------------------- errors
class ServiceError(Exception):
    """An error with an HTTP status; the message says what was wrong and how to fix it."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


class Offload(Exception):
    """Raised, before anything changed, by a call made on the event loop that would block it
    (a database read, a wait for a commit): the caller runs it again in a worker thread."""


# ------------------------------------------------------------------ JSON
def jsonable(obj: Any) -> Any:
    """A strict-JSON copy: numpy arrays/scalars become lists/numbers, NaN/inf become ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return jsonable(obj.tolist())
        return obj.tolist()
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def dumps(obj: Any) -> str:
    """Compact strict JSON (floats round-trip exactly)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------- group writer
Op = Callable[[Connection], Any]


class InsertRows:
    """An op that inserts rows into one table; the writer merges runs of these into one statement."""

    __slots__ = ("table", "rows")

    def __init__(self, table: Any, rows: list[dict[str, Any]]):
        self.table, self.rows = table, rows

    def __call__(self, conn: Connection) -> None:
        insert_many(conn, self.table, self.rows)


#: placeholders by DB-API parameter style, for the multi-row inserts built by hand (SQLite's sqlite3;
#: psycopg's own executemany pipelines its rows and measured faster than one long statement)
_PLACEHOLDER = {"qmark": "?"}


def insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) as multi-row ``INSERT ... VALUES (..), (..)`` statements.

    One statement for many rows rather than one ``executemany`` step per row:
    the database driver lets go of the GIL around every step, and under load
    each time it wants it back it may wait for the event loop's whole switch
    interval, so a per-row insert of a large group stalled the writer (and,
    by forcing GIL hand-overs, the requests too). Other drivers (psycopg)
    get one ``executemany``.
    """
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None or not rows:
        conn.execute(insert(table), rows)
        return
    cols = list(rows[0])
    per = max(1, 900 // len(cols))  # stay under SQLite's oldest variable limit (999)
    head = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES "
    one = "(" + ", ".join([mark] * len(cols)) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = head + ", ".join([one] * len(chunk))
        conn.exec_driver_sql(sql, tuple(r[c] for r in chunk for c in cols))


def _run_group(conn: Connection, ops: list[Op]) -> list[Any]:
    """Run ``ops`` in order on one connection; consecutive inserts into one table go as one :func:`insert_many`."""
    results: list[Any] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if isinstance(op, InsertRows):
            j, rows = i + 1, list(op.rows)
            while j < len(ops) and isinstance(ops[j], InsertRows) and ops[j].table is op.table:  # type: ignore[union-attr]
                rows.extend(ops[j].rows)  # type: ignore[union-attr]
                j += 1
            insert_many(conn, op.table, rows)
            results.extend([None] * (j - i))
            i = j
        else:
            results.append(op(conn))
            i += 1
    return results


class GroupWriter:
    """One writer thread; every queued operation of a round commits in one transaction."""

    def __init__(self, engine: Engine, max_group: int = 1024):
        self.engine = engine
        self.max_group = max_group
        self._q: "queue.Queue[tuple[Op, concurrent.futures.Future] | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="magister-writer", daemon=True)
        self._closed = False
        self.commits = 0
        self.ops = 0
        self._thread.start()

    def submit(self, op: Op) -> concurrent.futures.Future:
        """Queue ``op(conn)``; the future resolves to its result once committed."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            fut.set_exception(Unavailable("the service is shutting down; retry against the restarted server"))
            return fut
        self._q.put((op, fut))
        return fut

    def call(self, op: Op) -> Any:
        """Submit and wait (for use outside the event loop)."""
        return self.submit(op).result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
            self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            if item is None:
                break
            group = [item]
            while len(group) < self.max_group:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)

    def _commit(self, group: list[tuple[Op, concurrent.futures.Future]]) -> None:
        try:
            with self.engine.begin() as conn:
                results = _run_group(conn, [op for op, _ in group])
        except Exception:  # noqa: BLE001 - fall back to one transaction per op, so one bad op fails alone
            if len(group) == 1:
                op, fut = group[0]
                try:
                    with self.engine.begin() as conn:
                        r = op(conn)
                except Exception as e:  # noqa: BLE001
                    log.exception("database write failed")
                    fut.set_exception(e)
                else:
                    fut.set_result(r)
                    self.commits += 1
                return
            for one in group:
                self._commit([one])
            return
        self.commits += 1
        self.ops += len(group)
        for (_, fut), r in zip(group, results):
            fut.set_result(r)


# ---------------------------------------------------------------- models
@dataclass
class CurriculumSpec:
    """Everything needed to build a curriculum's teacher from scratch."""

    name: str
    space: dict[str, Any]
    teacher: str
    settings: dict[str, Any]
    seed: int
    score_range: dict[str, Any]
    created_at: float = 0.0
    id: int = 0

    def build(self) -> Teacher:
        return make_teacher(self.teacher, space_from_spec(self.space), seed=self.seed,
                            score_range=self.score_range, **self.settings)

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space, "teacher": self.teacher, "settings": self.settings,
                "seed": self.seed, "score_range": self.score_range, "created_at": self.created_at}


@dataclass
class LiveCurriculum:
    """A curriculum in memory: its teacher, lock, next sequence number and client ids."""

    spec: CurriculumSpec
    teacher: Teacher
    next_seq: int = 1
    checkpoint_seq: int = 0
    since_checkpoint: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: client id -> (seq of its event, fingerprint of its content) for the recent ids; older ids are
    #: members of a Bloom filter and looked up in the log (see :meth:`Service._old_ids`)
    ids: ClientIds = field(default_factory=lambda: ClientIds(RECENT_IDS))
    #: (first seq, last seq it holds, commit future) of each log write not yet known to be committed,
    #: oldest first
    pending: "deque[tuple[int, int, concurrent.futures.Future]]" = field(default_factory=deque)
    #: recent proposal request ids -> the tasks that were answered (older ones are read from the log)
    proposals: "OrderedDict[str, list[Any]]" = field(default_factory=OrderedDict)
    deleted: bool = False
    broken: str | None = None

    @property
    def space(self) -> Space:
        return self.teacher.space

    def _unfinished(self) -> "deque[tuple[int, int, concurrent.futures.Future]]":
        """``pending`` without the writes that have finished (they finish in log order)."""
        pending = self.pending
        while pending and pending[0][2].done():
            pending.popleft()
        return pending

    def commit_of(self, seq: int) -> concurrent.futures.Future | None:
        """The commit future of the write holding ``seq``, or ``None`` once it is known to be done."""
        for _first, last, fut in self._unfinished():
            if last >= seq:
                return fut
        return None

    def committed(self, seq: int) -> bool:
        """Whether the write holding ``seq`` is known to be done."""
        pending = self._unfinished()
        return not pending or seq < pending[0][0]


def _score_value(score: Any, position: int | None) -> float:
    """A score as a float; an integer too large for one is refused (422), not an OverflowError (500)."""
    try:
        return float(score)
    except OverflowError:
        text = str(score)
        short = text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} digits)"
        at = f"observation {position}: " if position is not None else ""
        raise Invalid(f"{at}score {short} is too large to be a number; report a real outcome. "
                      "Nothing was recorded.") from None
    except (TypeError, ValueError):
        raise Invalid(f"score {str(score)[:40]!r} is not a number. Nothing was recorded.") from None


# Fingerprints are compared only within one process (those of ids read back from the log are
# recomputed here), so Python's fast, per-process salted hash() is enough; never store them.
def _fingerprint(task_text: str, score: float) -> int:
    return hash((task_text, float(score))) & MASK64


def _propose_fingerprint(k: int) -> int:
    return hash(("__propose__", int(k))) & MASK64


#: what a logged event says about its client id: (client id, seq, kind, k, task or None, score),
#: the arguments of :func:`_event_fingerprint` after the first two
_ID_COLUMNS = (_EVENTS.c.client_id, _EVENTS.c.seq, _EVENTS.c.kind, _EVENTS.c.k,
               case((_EVENTS.c.kind == "observe", _EVENTS.c.task), else_=None), _EVENTS.c.score)


def _event_fingerprint(kind: str, k: Any, task: Any, score: Any) -> int:
    """The fingerprint of a logged event, as its request computed it."""
    return _fingerprint(task, float(score)) if kind == "observe" else _propose_fingerprint(int(k))


# --------------------------------------------------------------- service
class Service:
    """All curricula of one server, their storage, and the rules that keep them exact."""

    def __init__(self, engine: Engine, *, checkpoint_every: int = 2000, keep_checkpoints: int = 2,
                 recent_ids: int = RECENT_IDS, max_tasks: int = MAX_TASKS,
                 max_policy_tasks: int = MAX_POLICY_TASKS):
        self.engine = engine
        self.max_tasks = whole("max_tasks", max_tasks)
        self.max_policy_tasks = whole("max_policy_tasks", max_policy_tasks)
        #: client ids remembered exactly per curriculum; older ones cost a few bytes each (a Bloom filter)
        #: and, on a retry (or a rare false positive), one indexed read of the log
        self.recent_ids = whole("recent_ids", recent_ids)
        self.old_id_reads = 0  # reads of the log for ids no longer recent (retries and false positives)
        self.checkpoint_every = int(checkpoint_every)
        self.keep_checkpoints = max(1, int(keep_checkpoints))
        self.curricula: dict[str, LiveCurriculum] = {}
        self._registry_lock = threading.RLock()
        self._reserved: set[str] = set()
        self.writer: GroupWriter | None = None
        self.replay_mismatches = 0
        self._here = threading.local()  # .on_loop: this thread runs the event loop's inline call now

    def on_loop(self) -> bool:
        return getattr(self._here, "on_loop", False)

    def _may_block(self) -> None:
        """Called before a blocking step (all of them come before any change): off the loop, or Offload."""
        if getattr(self._here, "on_loop", False):
            raise Offload

    def call_inline(self, live: "LiveCurriculum | None", fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the event loop, or :class:`Offload` if it would block it.

        It would when the curriculum's lock is held (a request in a worker
        thread, a rebuild) or when ``fn`` reaches a database read or a commit
        wait; both are detected before anything changes.
        """
        if live is not None and not live.lock.acquire(blocking=False):
            raise Offload
        self._here.on_loop = True
        try:
            return fn(*args)
        finally:
            self._here.on_loop = False
            if live is not None:
                live.lock.release()

    # ------------------------------------------------------------ life
    def start(self) -> None:
        """Migrate the schema, start the writer, rebuild every curriculum from the database."""
        from .db import migrate

        migrate(self.engine)
        self.writer = GroupWriter(self.engine)
        with self.engine.connect() as conn:
            rows = conn.execute(select(_CURRICULA).order_by(_CURRICULA.c.id)).mappings().all()
        for row in rows:
            spec = CurriculumSpec(
                name=row["name"], space=json.loads(row["space"]), teacher=row["teacher"],
                settings=json.loads(row["settings"]), seed=int(row["seed"]),
                score_range=json.loads(row["score_range"]), created_at=float(row["created_at"]), id=int(row["id"]),
            )
            try:
                self.curricula[spec.name] = self.rebuild(spec)
            except Exception as e:  # noqa: BLE001 - one broken curriculum must not stop the others
                log.exception("could not rebuild curriculum %r", spec.name)
                live = LiveCurriculum(spec=spec, teacher=None)  # type: ignore[arg-type]
                live.broken = f"could not be rebuilt at start-up ({type(e).__name__}: {e})"
                self.curricula[spec.name] = live

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    # --------------------------------------------------------- rebuild
    def rebuild(self, spec: CurriculumSpec, *, use_checkpoint: bool = True) -> LiveCurriculum:
        """Newest usable checkpoint + replay of the later events (or a full replay)."""
        teacher: Teacher | None = None
        start = 0
        if use_checkpoint:
            with self.engine.connect() as conn:
                cps = conn.execute(
                    select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.data)
                    .where(_CHECKPOINTS.c.curriculum_id == spec.id).order_by(_CHECKPOINTS.c.seq.desc())
                ).all()
            for seq, data in cps:
                try:
                    teacher = loads(bytes(data))
                    start = int(seq)
                    break
                except MagisterError as e:
                    log.warning("checkpoint %s of %r unusable (%s); trying an older one", seq, spec.name, e)
        if teacher is None:
            teacher = spec.build()
        live = LiveCurriculum(spec=spec, teacher=teacher, checkpoint_seq=start, ids=ClientIds(self.recent_ids))
        last = start
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(
                select(_EVENTS.c.seq, _EVENTS.c.batch, _EVENTS.c.kind, _EVENTS.c.k, _EVENTS.c.task,
                       _EVENTS.c.score, _EVENTS.c.client_id)
                .where(_EVENTS.c.curriculum_id == spec.id).where(_EVENTS.c.seq > start).order_by(_EVENTS.c.seq)
            )
            pending: list[tuple[Any, float]] = []
            pending_batch = None

            def flush() -> None:
                nonlocal pending
                if pending:
                    space = teacher.space
                    teacher.observe_batch([space.from_json(json.loads(t)) for t, _ in pending],
                                          [s for _, s in pending])
                    pending = []

            for seq, batch, kind, k, task, score, cid in result:
                if kind == "observe":
                    if pending_batch != batch:
                        flush()
                        pending_batch = batch
                    pending.append((task, float(score)))
                else:
                    flush()
                    pending_batch = None
                    tasks = teacher.propose(int(k))
                    got = dumps(jsonable([teacher.space.to_json(t) for t in tasks]))
                    if got != task:
                        self.replay_mismatches += 1
                        log.warning("replaying proposal %s of %r drew other tasks than logged; "
                                    "is teacher %r deterministic given its generator?", seq, spec.name, spec.teacher)
                last = int(seq)
            flush()
        live.next_seq = max(last, start) + 1
        live.since_checkpoint = live.next_seq - 1 - start
        self._load_ids(live)
        return live

    def _load_ids(self, live: LiveCurriculum) -> None:
        """The newest ``recent_ids`` client ids exactly, the older ones into the filter (streamed)."""
        ids = live.ids
        n = ids.recent
        has_id = and_(_EVENTS.c.curriculum_id == live.spec.id, _EVENTS.c.client_id.is_not(None))
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count(_EVENTS.c.client_id))
                                     .where(_EVENTS.c.curriculum_id == live.spec.id)).scalar() or 0)
            cut = 0  # ids of events before seq `cut` are old
            if total > n:
                cut = int(conn.execute(select(_EVENTS.c.seq).where(has_id).order_by(_EVENTS.c.seq.desc())
                                       .offset(n - 1).limit(1)).scalar())
                ids.old.reserve(2 * (total - n))  # one slice, with room to grow as much again
                old = conn.execution_options(yield_per=20_000).execute(
                    select(_EVENTS.c.client_id).where(has_id).where(_EVENTS.c.seq < cut))
                for part in old.scalars().partitions():
                    ids.old.add_many(part)
                ids.total = ids.old.count
            rows = conn.execution_options(yield_per=5000).execute(
                select(*_ID_COLUMNS)
                .where(has_id).where(_EVENTS.c.seq >= cut).order_by(_EVENTS.c.seq))
            for cid, seq, kind, k, task, score in rows:
                ids.remember(cid, int(seq), _event_fingerprint(kind, k, task, score))

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
                    for cid, seq, kind, k, task, score in rows:
                        found[cid] = (int(seq), _event_fingerprint(kind, k, task, score))
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

    def replay_from_log(self, name: str) -> Teacher:
        """A fresh teacher rebuilt from the full event log, ignoring checkpoints (for checks)."""
        live = self.get(name)
        return self.rebuild(live.spec, use_checkpoint=False).teacher

    # -------------------------------------------------------- registry
    def get(self, name: str) -> LiveCurriculum:
        live = self.curricula.get(name)
        if live is None or live.deleted:
            raise NotFound(f"no curriculum named {name!r}; list them with GET /v1/curricula or create it "
                           "with POST /v1/curricula")
        if live.broken:
            raise Unavailable(f"curriculum {name!r} is unavailable: {live.broken}")
        return live

    def names(self) -> list[str]:
        return [n for n, c in self.curricula.items() if not c.deleted]

    # ---------------------------------------------------------- create
    def create(self, name: str, space: dict[str, Any], teacher: str, settings: dict[str, Any] | None,
               seed: int | None, score_range: Any) -> tuple[LiveCurriculum, concurrent.futures.Future]:
        """Build the teacher (refusing bad settings), then log the curriculum durably."""
        settings = dict(settings or {})
        for reserved in ("seed", "score_range", "space"):
            if reserved in settings:
                raise Invalid(f"give {reserved!r} as its own field of the request, not inside 'settings'")
        try:
            sp = space_from_spec(space)
        except MagisterError as e:
            raise Invalid(f"bad space: {e}") from None
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
            raise Invalid(f"bad space spec {space!r}: {type(e).__name__}: {e}") from None
        if sp.n is not None and sp.n > self.max_tasks:
            raise Invalid(f"the space has {sp.n} tasks; this server accepts at most {self.max_tasks} "
                          "(its max_tasks setting, MAGISTER_MAX_TASKS)")
        if sp.dim > MAX_DIM:
            raise Invalid(f"the space has {sp.dim} dimensions; this service accepts at most {MAX_DIM}")
        try:
            cls = teacher_class(teacher)
        except ConfigError as e:
            raise Invalid(str(e)) from None
        if getattr(cls, "work_grows_with_tasks", False) and sp.n is not None and sp.n > self.max_policy_tasks:
            raise Invalid(f"teacher {teacher!r} evaluates every task on every request; this server gives it at "
                          f"most {self.max_policy_tasks} tasks (its max_policy_tasks setting, "
                          f"MAGISTER_MAX_POLICY_TASKS), the space has {sp.n}; group tasks into skills or use "
                          "another teacher")
        try:
            sr = ScoreRange.coerce(score_range).to_dict()
        except (MagisterError, TypeError, ValueError, OverflowError) as e:
            raise Invalid(f"bad score_range {str(score_range)[:200]}: {e}") from None
        if seed is None:
            seed = secrets.randbits(62)  # resolved now so a replay draws the same tasks
        spec = CurriculumSpec(name=name, space=sp.to_spec(), teacher=teacher, settings=settings,
                              seed=int(seed), score_range=sr, created_at=time.time())
        try:
            built = spec.build()
            built.config()  # settings must be savable
            built.to_bytes()
        except MagisterError as e:
            raise Invalid(f"teacher {teacher!r} refused these settings: {e}") from None
        except TypeError as e:
            raise Invalid(f"teacher {teacher!r} does not take these settings ({e}); "
                          f"see GET /v1/teachers for what each teacher is") from None
        except (ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise Invalid(f"teacher {teacher!r} refused these settings ({type(e).__name__}: {e})") from None
        try:
            settings_text = dumps(settings)
        except (TypeError, ValueError) as e:
            raise Invalid(f"settings must be plain JSON values: {e}") from None
        with self._registry_lock:
            if (name in self.curricula and not self.curricula[name].deleted) or name in self._reserved:
                raise Conflict(f"a curriculum named {name!r} already exists; pick another name or DELETE it first")
            live = LiveCurriculum(spec=spec, teacher=built, ids=ClientIds(self.recent_ids))
            self._reserved.add(name)

            def op(conn: Connection) -> int:
                res = conn.execute(insert(_CURRICULA).values(
                    name=name, space=dumps(spec.space), teacher=teacher, settings=settings_text,
                    seed=spec.seed, score_range=dumps(sr), created_at=spec.created_at))
                return int(res.inserted_primary_key[0])

            fut = self.writer.submit(op)  # type: ignore[union-attr]

        def done(f: concurrent.futures.Future) -> None:
            with self._registry_lock:
                self._reserved.discard(name)
                if f.exception() is None:
                    spec.id = f.result()
                    self.curricula[name] = live

        fut.add_done_callback(done)
        return live, fut

    # ---------------------------------------------------------- delete
    def delete(self, name: str) -> concurrent.futures.Future:
        with self._registry_lock:
            live = self.curricula.get(name)
            if live is None or live.deleted:
                raise NotFound(f"no curriculum named {name!r}")
            with live.lock:
                live.deleted = True
                cid = live.spec.id

                def op(conn: Connection) -> None:
                    conn.execute(delete(_EVENTS).where(_EVENTS.c.curriculum_id == cid))
                    conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.curriculum_id == cid))
                    conn.execute(delete(_CURRICULA).where(_CURRICULA.c.id == cid))

                fut = self.writer.submit(op)  # type: ignore[union-attr]

            def done(f: concurrent.futures.Future) -> None:
                with self._registry_lock:
                    if f.exception() is not None:  # not deleted: the curriculum stays, visible and usable
                        live.deleted = False
                    elif self.curricula.get(name) is live:
                        del self.curricula[name]

            fut.add_done_callback(done)
            return fut

    # --------------------------------------------------------- propose
    def propose(self, name: str, k: int, request_id: str | None = None
                ) -> tuple[list[Any], int, concurrent.futures.Future | None]:
        """Draw ``k`` tasks; returns (JSON tasks, seq, commit future)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise Invalid(f"k must be a whole number from 1 to {MAX_K}, got {k!r}")
        live = self.get(name)
        with live.lock:
            self._check_alive(live)
            prior = None if request_id is None else self._prior(live, request_id)
            if prior is not None:
                seq, fp = prior
                fut = live.commit_of(seq)
                if fp != _propose_fingerprint(k):
                    raise Conflict(f"request id {request_id!r} was already used for another request; "
                                   "use a fresh id for each new request")
                tasks = live.proposals.get(request_id)
                if tasks is None:  # an old proposal: its tasks are in the log
                    self._may_block()
                    if fut is not None:
                        try:
                            fut.result()
                        except Exception:  # noqa: BLE001 - the first attempt never reached the disk
                            raise Unavailable("the first attempt of this request was not recorded; "
                                              "retry in a moment") from None
                    with self.engine.connect() as conn:
                        text = conn.execute(select(_EVENTS.c.task).where(
                            and_(_EVENTS.c.curriculum_id == live.spec.id, _EVENTS.c.seq == seq))).scalar()
                    if text is None:
                        raise Unavailable("the first attempt of this request was not recorded; "
                                          "retry in a moment")
                    tasks = json.loads(text)
                return tasks, seq, fut
            try:
                tasks = live.teacher.propose(k)
            except Exception as e:  # a teacher bug: its generator may have moved, rebuild it from the log
                live.broken = f"teacher failed while proposing ({type(e).__name__}: {e}); rebuilding"
                self._schedule_rebuild(live)
                raise ServiceError(f"teacher {live.spec.teacher!r} failed to propose ({type(e).__name__}: {e})",
                                   status=500) from None
            space = live.space
            out = jsonable([space.to_json(t) for t in tasks])
            text = dumps(out)
            seq = live.next_seq
            live.next_seq += 1
            row = {"curriculum_id": live.spec.id, "seq": seq, "batch": seq, "kind": "propose", "k": k,
                   "task": text, "score": None, "client_id": request_id, "created_at": time.time()}
            fut = self._log(live, [row])
            if request_id is not None:
                live.ids.remember(request_id, seq, _propose_fingerprint(k))
                live.ids.trim(live.committed)
                live.proposals[request_id] = out
                if len(live.proposals) > RECENT_PROPOSALS:
                    live.proposals.popitem(last=False)
            self._maybe_checkpoint(live, 1)
            return out, seq, fut

    # --------------------------------------------------------- observe
    def observe(self, name: str, observations: list[tuple[Any, float, str | None]]
                ) -> tuple[list[int], list[concurrent.futures.Future]]:
        """Record observations ``(task, score, client id)`` in order; all or nothing.

        Returns each observation's sequence number (a retried client id gets the
        number it got the first time) and the commit futures to wait for.
        """
        if not observations:
            raise Invalid("no observations given; send at least one {task, score}")
        if len(observations) > MAX_BATCH:
            raise Invalid(f"at most {MAX_BATCH} observations per request, got {len(observations)}; split the batch")
        live = self.get(name)
        with live.lock:
            self._check_alive(live)
            space = live.space
            texts: list[str] = []
            canon: list[Any] = []
            for i, (task, _score, _cid) in enumerate(observations):
                where = f"observation {i}: " if len(observations) > 1 else ""
                try:
                    obj = jsonable(space.to_json(space.from_json(task)))
                except MagisterError as e:
                    raise Invalid(f"{where}{e}. Nothing was recorded.") from None
                except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as e:
                    raise Invalid(f"{where}task {str(task)[:80]} is not a task of {space!r} "
                                  f"({type(e).__name__}: {e}). Nothing was recorded.") from None
                canon.append(obj)
                texts.append(dumps(obj))
            many = len(observations) > 1
            scores = [_score_value(s, i if many else None) for i, (_, s, _) in enumerate(observations)]
            try:
                if len(scores) == 1:
                    live.teacher.score_range.normalise_one(scores[0])
                else:
                    live.teacher.score_range.normalise(scores)
            except InvalidScoreError as e:
                raise Invalid(str(e)) from None
            # duplicates: an id seen before (or earlier in this batch) is answered with its first seq
            seqs: list[int | None] = [None] * len(observations)
            waits: list[concurrent.futures.Future] = []
            new: list[int] = []
            in_batch: dict[str, tuple[int, int]] = {}
            ids = live.ids
            # ids no longer recent that the filter may have seen: one read of the log for all of them
            maybe = [cid for _, _, cid in observations if cid is not None and ids.get(cid) is None
                     and ids.maybe_old(cid)]
            old = self._old_ids(live, list(dict.fromkeys(maybe))) if maybe else {}
            for i, (_task, score, cid) in enumerate(observations):
                if cid is None:
                    new.append(i)
                    continue
                fp = _fingerprint(texts[i], score)
                prior = ids.get(cid) or old.get(cid)
                if prior is None and cid in in_batch:
                    prior = (-1, in_batch[cid][1])
                if prior is not None:
                    if prior[1] != fp:
                        raise Conflict(f"observation {i}: client id {cid!r} was already used for a different "
                                       "observation; use a fresh id for each new observation. Nothing was recorded.")
                    if prior[0] >= 0:
                        seqs[i] = prior[0]
                        first_write = live.commit_of(prior[0])
                        if first_write is not None:
                            waits.append(first_write)
                    else:
                        seqs[i] = -1 - in_batch[cid][0]  # resolved below to the first occurrence's seq
                    continue
                in_batch[cid] = (i, fp)
                new.append(i)
            if new:
                try:
                    if len(new) == 1:  # the teacher's one-outcome fast path (same effect as a batch of one)
                        live.teacher.observe(space.from_json(canon[new[0]]), scores[new[0]])
                    else:
                        live.teacher.observe_batch([space.from_json(canon[i]) for i in new],
                                                   [scores[i] for i in new])
                except MagisterError as e:
                    raise Invalid(str(e)) from None
                except Exception as e:  # a teacher bug: its state may be half-updated, rebuild it from the log
                    live.broken = f"teacher failed while observing ({type(e).__name__}: {e}); rebuilding"
                    self._schedule_rebuild(live)
                    raise ServiceError(f"teacher {live.spec.teacher!r} failed ({type(e).__name__}: {e}); "
                                       "nothing was recorded", status=500) from None
                now = time.time()
                first = live.next_seq
                rows = []
                for j, i in enumerate(new):
                    seq = first + j
                    seqs[i] = seq
                    task, score, cid = observations[i]
                    rows.append({"curriculum_id": live.spec.id, "seq": seq, "batch": first, "kind": "observe",
                                 "k": None, "task": texts[i], "score": scores[i], "client_id": cid,
                                 "created_at": now})
                live.next_seq += len(new)
                fut = self._log(live, rows)
                waits.append(fut)
                for i in new:
                    cid = observations[i][2]
                    if cid is not None:
                        ids.remember(cid, seqs[i], in_batch[cid][1])  # type: ignore[arg-type]
                ids.trim(live.committed)
                self._maybe_checkpoint(live, len(new))
            for i, s in enumerate(seqs):
                if s is not None and s < 0:
                    seqs[i] = seqs[-1 - s]
            return [int(s) for s in seqs], waits  # type: ignore[arg-type]

    # ------------------------------------------------------ checkpoints
    def checkpoint(self, name: str) -> tuple[int, concurrent.futures.Future]:
        """Write a checkpoint now; returns (seq it covers, commit future)."""
        live = self.get(name)
        with live.lock:
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

        def op(conn: Connection) -> int:
            exists = conn.execute(select(func.count()).select_from(_CHECKPOINTS).where(
                and_(_CHECKPOINTS.c.curriculum_id == cid, _CHECKPOINTS.c.seq == seq))).scalar()
            if not exists:
                conn.execute(insert(_CHECKPOINTS).values(curriculum_id=cid, seq=seq, data=data,
                                                         created_at=time.time()))
            old = conn.execute(select(_CHECKPOINTS.c.id).where(_CHECKPOINTS.c.curriculum_id == cid)
                               .order_by(_CHECKPOINTS.c.seq.desc()).offset(keep)).scalars().all()
            if old:
                conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.id.in_(old)))
            return seq

        return seq, self.writer.submit(op)  # type: ignore[union-attr]

    # ----------------------------------------------------------- internals
    def _check_alive(self, live: LiveCurriculum) -> None:
        if live.deleted:
            raise NotFound(f"no curriculum named {live.spec.name!r} (it was just deleted)")
        if live.broken:
            raise Unavailable(f"curriculum {live.spec.name!r} is unavailable: {live.broken}; retry shortly")

    def _log(self, live: LiveCurriculum, rows: list[dict[str, Any]]) -> concurrent.futures.Future:
        fut = self.writer.submit(InsertRows(_EVENTS, rows))  # type: ignore[union-attr]

        def done(f: concurrent.futures.Future) -> None:
            if f.exception() is not None and not live.deleted:
                # the log no longer matches memory: rebuild from what is durable
                live.broken = "a database write failed; rebuilding from the log"
                self._schedule_rebuild(live)

        fut.add_done_callback(done)
        live._unfinished().append((rows[0]["seq"], rows[-1]["seq"], fut))
        return fut

    def _schedule_rebuild(self, live: LiveCurriculum) -> None:
        """Rebuild ``live`` from the log once every write queued so far has finished.

        ``live.broken`` is already set, so no new write of this curriculum is
        queued; a no-op queued now runs after all earlier writes (the writer is
        FIFO), so once it is done the log holds all that will ever reach it.
        """
        writer = self.writer

        def work() -> None:
            if writer is not None:
                barrier = writer.submit(lambda conn: None)
                concurrent.futures.wait([barrier, *[f for _a, _b, f in list(live.pending)]])
            with live.lock:
                try:
                    fresh = self.rebuild(live.spec)
                except Exception as e:  # noqa: BLE001
                    live.broken = f"could not be rebuilt ({type(e).__name__}: {e})"
                    return
                live.teacher, live.next_seq = fresh.teacher, fresh.next_seq
                live.ids, live.proposals, live.pending = fresh.ids, fresh.proposals, fresh.pending
                live.checkpoint_seq, live.since_checkpoint = fresh.checkpoint_seq, fresh.since_checkpoint
                live.broken = None

        threading.Thread(target=work, daemon=True).start()

    # ------------------------------------------------------------- reads
    def summary(self, live: LiveCurriculum) -> dict[str, Any]:
        t = live.teacher
        return {**live.spec.public(), "kind": t.kind, "n_observed": t.n_observed, "n_proposed": t.n_proposed,
                "last_seq": live.next_seq - 1, "checkpoint_seq": live.checkpoint_seq}

    def brief(self, live: LiveCurriculum) -> dict[str, Any]:
        """:meth:`summary` in bounded size: long lists of the space cut, large settings left out."""
        out = self.summary(live)
        out["space"] = brief_spec(out["space"])
        text = dumps(jsonable(out["settings"]))
        if len(text) > MAX_SETTINGS_CHARS:
            out["settings"] = {"omitted": f"{len(text)} characters; GET /v1/curricula/{live.spec.name} has them"}
        return out

    def light(self, name: str, top: int = 20) -> dict[str, Any]:
        """A bounded summary for dashboards: counts, the space in brief, the beliefs summarised
        (per-task arrays as aggregates and their ``top`` tasks); full beliefs stay at inspect/beliefs."""
        live = self.get(name)
        with live.lock:
            out = self.brief(live)
            beliefs = jsonable(live.teacher.beliefs())
        out["beliefs"] = summarise_beliefs(beliefs, top)
        if len(dumps(out["beliefs"])) > MAX_SUMMARY_CHARS:
            out["beliefs"] = {"omitted": "too large to summarise; GET .../beliefs has them in full"}
        return out

    def inspect(self, name: str) -> dict[str, Any]:
        live = self.get(name)
        with live.lock:
            out = self.summary(live)
            out["config"] = jsonable(live.teacher.config())
            out["beliefs"] = jsonable(live.teacher.beliefs())
            return out

    def beliefs(self, name: str) -> dict[str, Any]:
        live = self.get(name)
        with live.lock:
            return jsonable(live.teacher.beliefs())

    def state_bytes(self, name: str) -> bytes:
        live = self.get(name)
        with live.lock:
            return live.teacher.to_bytes()

    def history(self, name: str, after: int = 0, limit: int = 2000) -> dict[str, Any]:
        """Committed events after ``after`` (for the dashboard), oldest first.

        Every event answered before this call is included: a proposal is
        answered before its group commit (unless ``durable_proposals``), so
        the read first waits for the writes still in flight (called off the
        event loop). A write that failed is simply not there.
        """
        live = self.get(name)
        cid = live.spec.id
        self._may_block()
        with live.lock:
            fut = live.commit_of(live.next_seq - 1)
        if fut is not None:
            concurrent.futures.wait([fut], timeout=60)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_EVENTS.c.seq, _EVENTS.c.batch, _EVENTS.c.kind, _EVENTS.c.k, _EVENTS.c.task,
                       _EVENTS.c.score, _EVENTS.c.created_at)
                .where(_EVENTS.c.curriculum_id == cid).where(_EVENTS.c.seq > after)
                .order_by(_EVENTS.c.seq).limit(limit + 1)
            ).all()
        more = len(rows) > limit
        events = []
        for seq, batch, kind, k, task, score, t in rows[:limit]:
            e: dict[str, Any] = {"seq": int(seq), "batch": int(batch), "kind": kind, "time": float(t)}
            if kind == "observe":
                e["task"] = json.loads(task)
                e["score"] = float(score)
            else:
                e["k"] = int(k)
                e["tasks"] = json.loads(task)
            events.append(e)
        last = events[-1]["seq"] if events else int(after)
        return {"curriculum": name, "events": events, "last_seq": last, "more": more}

    def event_log(self, name: str) -> list[dict[str, Any]]:
        """Every committed event (for tests and audits)."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            h = self.history(name, after=after, limit=50_000)
            out.extend(h["events"])
            if not h["more"]:
                return out
            after = h["last_seq"]


#: tasks listed per per-task array in a summary (the default of ``?top=``)
TOP = 20
#: a summary never holds more than this many characters of beliefs, nor of settings
MAX_SUMMARY_CHARS = 200_000
MAX_SETTINGS_CHARS = 4000
_LIST_ITEMS = 20
_DICT_KEYS = 50


def brief_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A space spec with lists longer than 20 cut (``<key>_omitted`` says how many went)."""
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if isinstance(v, list) and len(v) > _LIST_ITEMS:
            out[k] = v[:_LIST_ITEMS]
            out[f"{k}_omitted"] = len(v) - _LIST_ITEMS
        else:
            out[k] = v
    return out


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))
                                       for x in v)


def summarise_beliefs(beliefs: Any, top: int = TOP) -> Any:
    """Beliefs (JSON) in bounded size: a per-task number array longer than ``top`` becomes
    ``{"n", "min", "max", "mean", "top": [{"index", "task", "value"}, ...]}`` (its ``top`` largest),
    other long lists keep their first ``top`` items, dicts their first 50 keys, strings 200 characters."""
    tasks = beliefs.get("tasks") if isinstance(beliefs, dict) else None

    def one(key: Any, v: Any, depth: int) -> Any:
        if isinstance(v, str):
            return v if len(v) <= 200 else v[:200] + "..."
        if isinstance(v, dict):
            if depth >= 4:
                return {"omitted": f"{len(v)} keys"}
            items = list(v.items())
            out = {str(k): one(k, x, depth + 1) for k, x in items[:_DICT_KEYS]}
            if len(items) > _DICT_KEYS:
                out["keys_omitted"] = len(items) - _DICT_KEYS
            return out
        if isinstance(v, list):
            if len(v) <= top:
                return [one(None, x, depth + 1) for x in v] if depth < 4 else {"omitted": f"{len(v)} items"}
            if key == "tasks":
                return {"n": len(v), "first": [one(None, x, depth + 1) for x in v[:top]]}
            if _numbers(v):
                arr = np.array([np.nan if x is None else float(x) for x in v])
                finite = np.isfinite(arr)
                vals = np.where(finite, arr, -np.inf)
                order = np.argsort(-vals, kind="stable")[:top]
                labels = tasks if isinstance(tasks, list) and len(tasks) == len(v) else None
                best = [{"index": int(i), "value": float(arr[i]) if finite[i] else None,
                         **({"task": labels[i]} if labels is not None else {})} for i in order]
                agg = {"min": float(arr[finite].min()), "max": float(arr[finite].max()),
                       "mean": float(arr[finite].mean())} if finite.any() else {"min": None, "max": None, "mean": None}
                return {"n": len(v), **agg, "top": best}
            return {"n": len(v), "first": [one(None, x, depth + 1) for x in v[:top]]}
        return v

    return one(None, beliefs, 0)


async def wait_all(futs: list[concurrent.futures.Future]) -> None:
    """Await commit futures from the event loop."""
    for f in futs:
        if f is not None:
            await asyncio.wrap_future(f)
