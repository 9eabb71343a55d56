"""The service core: live teachers, the ordered event log, group commit, replay.

One :class:`LiveCurriculum` per curriculum holds the in-memory teacher and a
lock. A request that changes a teacher (propose, observe) takes the lock,
validates everything, applies it to the teacher, gives the change the next
sequence numbers of that curriculum and hands the rows to the
:class:`GroupWriter` while still holding the lock, so the log order is the
order in which the teacher saw things. The request is answered only after the
writer has committed the transaction that contains its rows.

The service is split by job: ``writer.py`` (the group-commit writer: one
thread, one transaction per round, many requests per disk flush),
``recovery.py`` (checkpoints and replay: each curriculum is rebuilt at start
from its newest checkpoint plus the later log, exactly), ``ids.py`` (client
ids against the log), ``live.py`` (a curriculum's spec and live state),
``common.py`` (errors with an HTTP status, strict JSON). This module is the
facade: the registry, create/delete, propose/observe, and the reads.
"""

from __future__ import annotations

import asyncio
import base64
import json
import concurrent.futures
import logging
import re
import secrets
import threading
import time
import unicodedata
from contextlib import contextmanager
from hashlib import blake2b
from typing import Any, Callable, Iterator

import numpy as np
from sqlalchemy import and_, bindparam, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ConfigError, InvalidScoreError, MagisterError, UnknownSettingError
from ..names import learner_form, refuse_spaces_around
from ..settings import number, whole
from ..spaces import space_from_spec
from ..times import seconds
from ..teacher import default_score_range, teacher_class
from .common import (Conflict, Damaged, Invalid, Moved, NotFound, Offload, ServiceError, Unavailable, dumps, gives_infos,
                     jsonable, proposal_of, proposal_text)
from .cache import CurriculumCache
from .ids import ClientIdLog, _fingerprint, _give_back_fingerprint, _propose_fingerprint
from .leases import LeaseBook
from .live import CurriculumSpec, LiveCurriculum, time_runs
from .models import Checkpoint, Curriculum, Event
from .recovery import Recovery
from .seen import ClientIds
from .settings import (CACHE_SIZE, CLOCK_SKEW_SECONDS, MAX_BATCH, MAX_BULK, MAX_CLOCK_SKEW_SECONDS, MAX_K,
                       RECENT_IDS)  # client ids remembered exactly per curriculum
from .writer import GroupWriter, InsertRows, _run_group, insert_many

# names other modules (and older imports) find here
__all__ = ["Service", "ServiceError", "NotFound", "Conflict", "Invalid", "Unavailable", "Offload", "jsonable",
           "dumps", "GroupWriter", "InsertRows", "insert_many", "_run_group", "CurriculumSpec", "LiveCurriculum",
           "wait_all", "summarise_beliefs", "brief_spec", "brief_public", "_fingerprint"]

log = logging.getLogger("magister.serve")

_EVENTS = Event.__table__
_CURRICULA = Curriculum.__table__
_CHECKPOINTS = Checkpoint.__table__
_SPEC_BY_NAME = select(_CURRICULA).where(_CURRICULA.c.name == bindparam("name"))

#: largest finite space a curriculum may have by default (teachers keep per-task arrays);
#: ``max_tasks`` / MAGISTER_MAX_TASKS sets it per server
MAX_TASKS = 1_000_000
#: the default cap for teachers whose every request evaluates every task (``work_grows_with_tasks``)
MAX_POLICY_TASKS = 100_000
#: largest Box dimension
MAX_DIM = 1024
#: deepest nesting of Dict spaces a curriculum may have (its space, tasks and beliefs are echoed as JSON, which the
#: framework serialises at most about 250 levels deep: a deeper space was created, then every listing answered 500)
MAX_SPACE_DEPTH = 16
#: proposal replies kept in memory per curriculum for retried request ids
RECENT_PROPOSALS = 10_000
#: a curriculum name (the same rule as the API's path parameter)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: longest learner name
MAX_LEARNER = 128
#: lock stripes for loading curricula (two loads of one curriculum never run at once)
_LOAD_STRIPES = 64
#: where a ``Service`` is in its life (``Service.state``): before ``Service.start``, between it and
#: ``Service.close``, and from the start of the close on; the app answers requests only while ``SERVING``
NEW, SERVING, STOPPED = "new", "serving", "stopped"


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


CLOCKS = ("server", "answers")


def _clock_of(cls: type, teacher: str, clock: str | None) -> str | None:
    """The clock a new curriculum of teacher class ``cls`` keeps: a people policy's (``keeps_clock``) is
    ``"server"`` unless ``"answers"`` is asked for; a teacher without a clock has none (asking for one is refused)."""
    if clock is not None and clock not in CLOCKS:
        raise Invalid(f"clock must be \"server\" (the policy's clock follows the server's time) or \"answers\" "
                      f"(it moves minutes_per_answer per answer only), got {str(clock)[:80]!r}")
    if not getattr(cls, "keeps_clock", False):
        if clock is not None:
            raise Invalid(f"teacher {teacher!r} keeps no clock, so 'clock' means nothing to it; leave 'clock' out "
                          "(it is for people policies: mastery-learning, difficulty-band, spaced-review, "
                          "max-information)")
        return None
    return clock or "server"


# --------------------------------------------------------------- service
class Service(Recovery, ClientIdLog):
    """All curricula of one server, their storage, and the rules that keep them exact."""

    def __init__(self, engine: Engine, *, checkpoint_every: int = 2000, keep_checkpoints: int = 2,
                 recent_ids: int = RECENT_IDS, max_tasks: int = MAX_TASKS,
                 max_policy_tasks: int = MAX_POLICY_TASKS, cache_size: int = CACHE_SIZE,
                 max_bulk: int = MAX_BULK, node_url: str | None = None, lease_seconds: float = 10.0,
                 clock_skew_seconds: float = CLOCK_SKEW_SECONDS):
        self.engine = engine
        #: how far an answer's own time may be after the server's time (a device clock that runs fast): such a
        #: time is taken as it is, a later one refused (see :meth:`observe`)
        self.clock_skew_seconds = number("clock_skew_seconds", clock_skew_seconds, 0.0, MAX_CLOCK_SKEW_SECONDS)
        #: curricula kept in memory (least recently used idle ones leave first; see cache.py)
        self.cache_size = whole("cache_size", cache_size)
        self.max_bulk = whole("max_bulk", max_bulk)
        self.max_tasks = whole("max_tasks", max_tasks)
        self.max_policy_tasks = whole("max_policy_tasks", max_policy_tasks)
        #: client ids remembered exactly per curriculum; older ones cost a few bytes each (a Bloom filter)
        #: and, on a retry (or a rare false positive), one indexed read of the log
        self.recent_ids = whole("recent_ids", recent_ids)
        self.old_id_reads = 0  # reads of the log for ids no longer recent (retries and false positives)
        self.checkpoint_every = int(checkpoint_every)
        self.keep_checkpoints = max(1, int(keep_checkpoints))
        self.curricula = CurriculumCache(self.cache_size, on_evict=self._evicted)
        #: with several processes over one database: this one's URL, and its leases (see leases.py)
        self.node_url = node_url
        self.lease_seconds = lease_seconds
        self.leases: LeaseBook | None = None
        #: called every lease renewal (e.g. to reload tokens other processes created or revoked)
        self.tick_hooks: list[Callable[[], None]] = []
        #: the token store (set by the app) whose scopes lose a deleted curriculum's name in the transaction
        #: that deletes it (``forget(names, conn)``, then ``forget_cached(names)`` once committed)
        self.scopes: Any = None
        self._registry_lock = threading.RLock()
        self._load_locks = [threading.Lock() for _ in range(_LOAD_STRIPES)]
        self._reserved: set[str] = set()
        self.writer: GroupWriter | None = None
        #: ``NEW`` until ``start`` has run (the app's lifespan start-up: before it the tables may not exist and
        #: no write can commit), ``SERVING`` after it, ``STOPPED`` once ``close`` began (the writer then takes
        #: no write, so a proposal would be answered and never logged); the app refuses every request unless
        #: ``SERVING`` (one read of this, see app.py)
        self.state = NEW
        self._starts = 0  # the lifespans running (see start)
        self.replay_mismatches = 0
        self._here = threading.local()  # .on_loop: this thread runs the event loop's inline call now
        #: curricula found served by another process: name -> (its URL, monotonic time to ask again), so a
        #: request for one is forwarded without a database read (for one lease time after the last sign
        #: that it serves it, see confirm_moved, or until a relay there fails: see forget_moved)
        self._moved: dict[str, tuple[str, float]] = {}
        #: the server's time (unix seconds), read once per logged request: the event's time, and the time a
        #: people policy's clock moves to (``clock: "server"``); tests inject a clock here. A replay never reads
        #: it (it uses the logged times)
        self.now: Callable[[], float] = time.time

    def on_loop(self) -> bool:
        return getattr(self._here, "on_loop", False)

    def _may_block(self) -> None:
        """Called before a blocking step (all of them come before any change): off the loop, or Offload."""
        if getattr(self._here, "on_loop", False):
            raise Offload

    def call_inline(self, live: LiveCurriculum | None, fn: Callable[..., Any], *args: Any) -> Any:
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
        """Migrate the schema and start the writer; curricula load on first use (see :meth:`get`). A second start
        while serving (the app's lifespan run again inside the first: two test clients entered on one app, or a
        fuzzer's own client beside a test's) shares this one: it started a second writer, orphaning the first, and
        its end closed the writer under the outer client, whose requests were then refused as after a shutdown.
        The service stops at the end of the outermost."""
        if self.state is SERVING:
            self._starts += 1
            return
        from .db import migrate

        migrate(self.engine)
        self.writer = GroupWriter(self.engine)
        if self.node_url:
            self.leases = LeaseBook(self.engine, self.node_url, self.lease_seconds, on_lost=self._lost,
                                    on_tick=self._tick)
            self.leases.start()
        self._starts = 1
        self.state = SERVING

    def _tick(self) -> None:
        for hook in self.tick_hooks:
            hook()

    def _evicted(self, live: LiveCurriculum) -> None:
        if self.leases is not None:
            self.leases.release(live.spec.id)

    def _lost(self, cids: set[int]) -> None:
        """Leases another process took over: curricula held here for them leave memory once idle."""
        with self._registry_lock:
            for name, live in self.curricula.items():
                if live.spec.id in cids and live.lock.acquire(blocking=False):
                    try:
                        if not live._unfinished() and not live.rebuilding:
                            live.evicted = True
                            self.curricula.pop(name, live)
                    finally:
                        live.lock.release()

    def close(self) -> None:
        if self.state is SERVING and self._starts > 1:  # the end of an inner start (see start)
            self._starts -= 1
            return
        self.state = STOPPED  # (first: a request from now on is refused before it changes anything)
        if self.writer is not None:
            self.writer.close()
        if self.leases is not None:
            self.leases.close()


    # -------------------------------------------------------- registry
    def get(self, name: str, damaged_ok: bool = False) -> LiveCurriculum:
        """The live curriculum ``name``, loaded from the database on first use (a blocking step). One stored with
        text no reply can carry is ``Damaged`` unless ``damaged_ok`` (its deletion, its checkpoint)."""
        with self._registry_lock:
            live = self.curricula.touch(name)
        if live is None:
            hint = self._moved.get(name)
            if hint is not None:
                if time.monotonic() < hint[1]:
                    raise Moved(name, hint[0])
                self._moved.pop(name, None)
            live = self._load(name)
        if live.deleted:
            raise NotFound(f"no curriculum named {name!r}; list them with GET /v1/curricula or create it "
                           "with POST /v1/curricula")
        if live.damaged and not damaged_ok:
            raise Damaged(live.damaged)
        if live.broken:
            raise Unavailable(f"curriculum {name!r} is unavailable: {live.broken}")
        return live

    @contextmanager
    def _locked(self, name: str, damaged_ok: bool = False) -> Iterator[LiveCurriculum]:
        """``get(name)`` with its lock held; an entry evicted meanwhile is looked up again."""
        while True:
            live = self.get(name, damaged_ok)
            if getattr(self._here, "on_loop", False):
                if not live.lock.acquire(blocking=False):
                    raise Offload
            else:
                live.lock.acquire()
            if live.evicted:
                live.lock.release()
                continue
            if self.leases is not None:
                try:
                    held = self._lease_held(live)
                except BaseException:
                    live.lock.release()
                    raise
                if not held:
                    live.lock.release()
                    continue
            break
        try:
            yield live
        finally:
            live.lock.release()

    def _lease_held(self, live: LiveCurriculum) -> bool:
        """With leases: whether this process still serves ``live`` (renewing its lease if due). Called
        with its lock held; if the lease was lost, ``live`` leaves memory once its writes are done."""
        leases = self.leases
        if leases is None or live.deleted or live.broken or leases.fresh(live.spec.id):
            return True
        self._may_block()
        if leases.renew_one(live.spec.id):
            return True
        concurrent.futures.wait([f for _a, _b, f in list(live._unfinished())], timeout=60)
        live.evicted = True
        with self._registry_lock:
            self.curricula.pop(live.spec.name, live)
        return False

    def _row_spec(self, row: Any) -> CurriculumSpec:
        return CurriculumSpec(
            name=row["name"], space=json.loads(row["space"]), teacher=row["teacher"],
            settings=json.loads(row["settings"]), seed=int(row["seed"]),
            score_range=json.loads(row["score_range"]), created_at=float(row["created_at"]), id=int(row["id"]),
            learner=row["learner"], clock=row["clock"])

    def _load(self, name: str) -> LiveCurriculum:
        """Rebuild ``name`` from its newest checkpoint and the later log, and keep it in the cache."""
        self._may_block()
        with self._load_locks[hash(name) % _LOAD_STRIPES]:
            with self._registry_lock:
                live = self.curricula.touch(name)
            if live is not None:
                return live
            with self.engine.connect() as conn:  # one connection for every read of the load
                row = conn.execute(_SPEC_BY_NAME, {"name": name}).mappings().first()
                if row is None:
                    raise NotFound(f"no curriculum named {name!r}; list them with GET /v1/curricula or create it "
                                   "with POST /v1/curricula")
                spec = self._row_spec(row)
                if self.leases is not None:  # take the lease before reading the log
                    owner = self.leases.acquire(conn, spec.id)
                    if owner is not None:
                        self._remember_moved(name, owner)
                        raise Moved(name, owner)
                try:
                    live = self.rebuild(spec, conn=conn)
                except (SQLAlchemyError, OSError):
                    raise  # storage: a 503, and the next request tries again
                except Exception as e:  # noqa: BLE001 - one broken curriculum must not stop the others
                    log.exception("could not rebuild curriculum %r", spec.name)
                    live = LiveCurriculum(spec=spec, teacher=None)  # type: ignore[arg-type]
                    live.broken = f"could not be rebuilt ({type(e).__name__}: {e})"
                live.damaged = _damage(spec)
            with self._registry_lock:
                # a curriculum created meanwhile was put here by its creation (and may have taken writes
                # already): that copy stays the one copy, this one is dropped
                first = self.curricula.get(name)
                if first is not None and not first.deleted and not first.evicted:
                    self.curricula.touch(name)
                    return first
                self.curricula.loads += 1
                self.curricula.put(name, live)
            return live

    def _remember_moved(self, name: str, owner: str) -> None:
        if not owner.startswith(("http://", "https://")):  # (a lease changing hands: no URL to remember)
            return
        if len(self._moved) > 4 * self.cache_size + 1000:  # bounded like the cache
            self._moved.clear()
        self._moved[name] = (owner, time.monotonic() + self.lease_seconds)

    def confirm_moved(self, name: str, owner: str) -> None:
        """The process at ``owner``, remembered as serving ``name``, just answered a relayed request for it
        (so it held the lease then): keep remembering it for another lease time. This spares the database
        read (and the worker thread) that every curriculum in use cost each lease time otherwise."""
        hint = self._moved.get(name)
        if hint is not None and hint[0] == owner:
            self._moved[name] = (owner, time.monotonic() + self.lease_seconds)

    def forget_moved(self, name: str) -> None:
        """A relay to the process remembered as serving ``name`` failed (it died, or answered 503 because
        the lease moved on): the next request reads the lease again."""
        self._moved.pop(name, None)

    def names(self, after: str = "", limit: int | None = None) -> list[str]:
        """Curriculum names in order (after ``after``, at most ``limit``), from the database."""
        self._may_block()
        q = select(_CURRICULA.c.name).where(_CURRICULA.c.name > after).order_by(_CURRICULA.c.name)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [n for (n,) in conn.execute(q)]

    def count(self) -> int:
        """How many curricula the database holds."""
        self._may_block()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_CURRICULA)).scalar() or 0)

    def _existing(self, names: list[str]) -> list[str]:
        """Those of ``names`` that the database holds."""
        found: list[str] = []
        with self.engine.connect() as conn:
            for start in range(0, len(names), 500):
                found.extend(conn.execute(select(_CURRICULA.c.name).where(
                    _CURRICULA.c.name.in_(names[start:start + 500]))).scalars())
        return found

    def barrier(self) -> None:
        """Wait until every write queued so far has committed (or failed)."""
        if self.writer is not None:
            concurrent.futures.wait([self.writer.submit(lambda conn: None)], timeout=120)

    # ---------------------------------------------------------- create
    def _validate(self, name: str, space: dict[str, Any], teacher: str, settings: dict[str, Any] | None,
                  seed: int | None, score_range: Any, learner: str | None = None, clock: str | None = None
                  ) -> tuple[CurriculumSpec, Any, str]:
        """(spec, built teacher, settings as JSON) for a new curriculum, or :class:`Invalid`."""
        settings = dict(settings or {})
        for reserved in ("seed", "score_range", "space"):
            if reserved in settings:
                raise Invalid(f"give {reserved!r} as its own field of the request, not inside 'settings'")
        mutator = settings.get("mutator")
        if _names_a_function(mutator):
            # a "module:function" reference would make the server import that module and call that function
            raise Invalid(f"the service does not import mutator functions (got {str(mutator)[:200]!r}); give a "
                          "built-in mutator by name ('maze', 'perturb', 'dict') or as {\"name\": ..., settings}")
        if settings.get("pool") is not None:
            # a folder on the server's disk, which the teacher would open and write pool records to
            raise Invalid("the service does not open opponent pools named in a request (a 'pool' setting is a "
                          "folder on the server); serve an opponent teacher without a pool, over a fixed "
                          "Discrete space of opponents, or run it in the training process")
        if _space_depth(space) > MAX_SPACE_DEPTH:
            raise Invalid(f"the space nests Dict spaces more than {MAX_SPACE_DEPTH} deep; this service accepts at most "
                          f"{MAX_SPACE_DEPTH} levels (flatten it: one Dict whose keys name the leaves)")
        _refuse_lone_surrogates(space)
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
            # none given: the teacher's own default, as make_teacher gives it (a level teacher takes any finite
            # score; it got [0, 1], so every |GAE| above 1 was refused, and an open range could not be asked for)
            sr = default_score_range(cls, score_range).to_dict()
        except (MagisterError, TypeError, ValueError, OverflowError) as e:
            raise Invalid(f"bad score_range {str(score_range)[:200]}: {e}") from None
        clock = _clock_of(cls, teacher, clock)
        if seed is None:
            seed = secrets.randbits(62)  # resolved now so a replay draws the same tasks
        spec = CurriculumSpec(name=name, space=sp.to_spec(), teacher=teacher, settings=settings,
                              seed=int(seed), score_range=sr, created_at=time.time(), learner=learner, clock=clock)
        try:
            built = spec.build()
            built.config()  # settings must be savable
            built.to_bytes()
        except UnknownSettingError as e:  # (before MagisterError: it names the settings; say where they are listed)
            raise Invalid(f"{e}; see GET /v1/teachers for what each teacher is") from None
        except MagisterError as e:
            raise Invalid(f"teacher {teacher!r} refused these settings: {e}") from None
        except TypeError as e:
            raise Invalid(f"teacher {teacher!r} does not take these settings ({e}); "
                          f"see GET /v1/teachers for what each teacher is") from None
        except (ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise Invalid(f"teacher {teacher!r} refused these settings ({type(e).__name__}: {e})") from None
        except MemoryError as e:  # a size setting (a window, a queue) far beyond what fits: a 422, not a 500
            raise Invalid(f"teacher {teacher!r} would need more memory than this server has with these settings "
                          f"({e}); use smaller sizes") from None
        try:
            # what the create reply, GET and the dashboard show: a teacher that cannot describe itself as built
            # cannot answer either (a people policy over a learner model that must be fitted first: DKT, SAKT, a
            # blend), and nothing fits it here; it was stored, then a raw 500 on its create and every read. Only
            # for those (capped at max_policy_tasks, where one beliefs() costs about one request): the others start
            # from any settings they accept, and their beliefs() took up to seconds a create for a million tasks
            if getattr(cls, "work_grows_with_tasks", False):
                built.beliefs()
        except (MagisterError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise Invalid(f"teacher {teacher!r} cannot start from these settings ({e}); a served teacher starts as "
                          "built and is never fitted by the service: give settings it teaches with from the first "
                          "request (a people policy: a learner model that learns as it goes, 'bkt', 'elo', "
                          "'best-lr' or 'fsrs'). Nothing was created.") from None
        try:
            settings_text = dumps(settings)
        except (TypeError, ValueError) as e:
            raise Invalid(f"settings must be plain JSON values: {e}") from None
        return spec, built, settings_text

    def create(self, name: str, space: dict[str, Any], teacher: str, settings: dict[str, Any] | None,
               seed: int | None, score_range: Any, learner: str | None = None, clock: str | None = None
               ) -> tuple[LiveCurriculum, concurrent.futures.Future]:
        """Build the teacher (refusing bad settings), then log the curriculum durably. ``clock``: a people
        policy's, ``"server"`` (None: the default) or ``"answers"``; refused for a teacher without a clock."""
        if learner is not None:
            learner = _check_learner(learner)  # stored in NFC: "José" is one learner however it was typed
        spec, built, settings_text = self._validate(name, space, teacher, settings, seed, score_range, learner,
                                                    clock)
        self._may_block()
        self._reserve([name])
        try:
            if self._existing([name]):
                raise Conflict(f"a curriculum named {name!r} already exists; pick another name or DELETE it first")
        except BaseException:
            self._release([name])
            raise
        live = LiveCurriculum(spec=spec, teacher=built, ids=ClientIds(self.recent_ids))
        row = {"name": name, "space": dumps(spec.space), "teacher": teacher, "settings": settings_text,
               "seed": spec.seed, "score_range": dumps(spec.score_range), "created_at": spec.created_at,
               "learner": learner, "clock": spec.clock}

        def op(conn: Connection) -> int:
            if conn.execute(select(_CURRICULA.c.id).where(_CURRICULA.c.name == name)).first() is not None:
                raise Conflict(f"a curriculum named {name!r} already exists; pick another name or DELETE it first")
            res = conn.execute(insert(_CURRICULA).values(**row))
            return int(res.inserted_primary_key[0])

        fut = self.writer.submit(op)  # type: ignore[union-attr]

        def done(f: concurrent.futures.Future) -> None:
            with self._registry_lock:
                self._reserved.discard(name)
                if f.exception() is None:
                    spec.id = f.result()
                    if self.leases is None and (self.curricula.get(name) is None or self.curricula[name].deleted):
                        self.curricula.put(name, live)  # (with leases, it loads with its lease on first use)  # (a load that came first holds an equal copy)

        fut.add_done_callback(done)
        return live, fut

    def _reserve(self, names: list[str]) -> None:
        """Claim ``names`` for creation in this process, or :class:`Conflict` (nothing claimed)."""
        with self._registry_lock:
            taken = [n for n in names if n in self._reserved or
                     ((c := self.curricula.get(n)) is not None and not c.deleted)]
            if len(names) == 1 and taken:
                raise Conflict(f"a curriculum named {names[0]!r} already exists; pick another name or DELETE it "
                               "first")
            if taken:
                raise Conflict(f"curricula {_some(taken)} already exist; pick other names or DELETE them first. "
                               "Nothing was created.")
            self._reserved.update(names)

    def _release(self, names: list[str]) -> None:
        with self._registry_lock:
            self._reserved.difference_update(names)

    # ----------------------------------------------------- bulk create
    def create_many(self, learners: list[str], space: dict[str, Any], teacher: str,
                    settings: dict[str, Any] | None, seed: int | None, score_range: Any, prefix: str = "",
                    clock: str | None = None) -> tuple[list[str], concurrent.futures.Future]:
        """One curriculum per learner (named ``prefix + learner``) from one template, in one transaction.

        All or nothing. Nothing is built per learner: the template is checked
        once and each curriculum loads on first use. With ``seed``, learner
        ``L``'s seed is derived from ``seed`` and its curriculum name (so the
        same request gives the same curricula); without, each gets a random one.
        """
        if not isinstance(learners, list) or not learners:
            raise Invalid("give at least one learner name in 'learners'")
        if len(learners) > self.max_bulk:
            raise Invalid(f"{len(learners)} learners in one request; this server takes at most {self.max_bulk} "
                          "(its max_bulk setting, MAGISTER_MAX_BULK); split the list")
        learners = [_check_learner(learner) for learner in learners]
        names = [f"{prefix}{learner}" for learner in learners]
        bad = [n for n in names if not NAME_RE.match(n)]
        if bad:
            raise Invalid(f"curriculum name(s) {_some(bad)} (prefix + learner) are not valid: 1-64 letters, "
                          "digits, '.', '_', '-', starting with a letter or digit; use a shorter prefix or "
                          "other learner names. Nothing was created.")
        seen: set[str] = set()
        # named as the learners they are (they were named by their curriculum names, prefix and all)
        dup = [learner for learner in learners if learner in seen or seen.add(learner)]  # type: ignore[func-returns-value]
        if dup:
            raise Invalid(f"learner(s) {_some(dup)} appear more than once; list each once. Nothing was created.")
        spec, _built, settings_text = self._validate(names[0], space, teacher, settings, seed, score_range,
                                                     clock=clock)
        self._may_block()
        self._reserve(names)
        try:
            taken = self._existing(names)
            if taken:
                raise Conflict(f"curricula {_some(taken)} already exist; pick other names or DELETE them "
                               "first. Nothing was created.")
        except BaseException:
            self._release(names)
            raise
        now = time.time()
        space_text, range_text = dumps(spec.space), dumps(spec.score_range)
        rows = [{"name": n, "space": space_text, "teacher": teacher, "settings": settings_text,
                 "seed": _derived_seed(seed, n) if seed is not None else secrets.randbits(62),
                 "score_range": range_text, "created_at": now, "learner": learner, "clock": spec.clock}
                for n, learner in zip(names, learners)]

        def op(conn: Connection) -> int:
            if self._existing_in(conn, names):
                raise Conflict("some of these curricula were created meanwhile; nothing was created, retry")
            insert_many(conn, _CURRICULA, rows)
            return len(rows)

        fut = self.writer.submit(op)  # type: ignore[union-attr]
        fut.add_done_callback(lambda f: self._release(names))
        return names, fut

    @staticmethod
    def _existing_in(conn: Connection, names: list[str]) -> bool:
        for start in range(0, len(names), 500):
            if conn.execute(select(_CURRICULA.c.id).where(
                    _CURRICULA.c.name.in_(names[start:start + 500])).limit(1)).first() is not None:
                return True
        return False

    # ---------------------------------------------------------- delete
    def _mark_deleted(self, name: str) -> LiveCurriculum | None:
        """Load ``name`` (if it exists) and mark it deleted under its lock; ``None`` if there is none."""
        while True:
            try:
                live = self.get(name, damaged_ok=True)
            except Unavailable:  # broken: it stays cached, delete it all the same
                live = self.curricula.get(name)
                if live is None:
                    continue
            except NotFound:
                return None
            with live.lock:
                if live.evicted:
                    continue
                if live.deleted:
                    return None
                live.deleted = True
                return live

    def _delete_rows(self, conn: Connection, ids: list[int]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            conn.execute(delete(_EVENTS).where(_EVENTS.c.curriculum_id.in_(part)))
            conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.curriculum_id.in_(part)))
            conn.execute(delete(_CURRICULA).where(_CURRICULA.c.id.in_(part)))

    def _delete_lives(self, lives: list[LiveCurriculum], ids: list[int] | None = None,
                      names: list[str] | None = None) -> concurrent.futures.Future:
        """Delete the rows of curricula ``ids`` (default: those of ``lives``) and take their ``names`` out of
        every token's scope, in one transaction; ``lives`` leave memory once it committed."""
        ids = [live.spec.id for live in lives] if ids is None else ids
        names = [live.spec.name for live in lives] if names is None else names
        scopes = self.scopes

        def op(conn: Connection) -> None:
            self._delete_rows(conn, ids)
            if scopes is not None:
                scopes.forget(names, conn)

        fut = self.writer.submit(op)  # type: ignore[union-attr]

        def done(f: concurrent.futures.Future) -> None:
            if f.exception() is None and scopes is not None:  # (before any request hears of the deletion)
                scopes.forget_cached(names)
            with self._registry_lock:
                for live in lives:
                    if f.exception() is not None:  # not deleted: the curriculum stays, visible and usable
                        live.deleted = False
                    else:
                        self.curricula.pop(live.spec.name, live)

        fut.add_done_callback(done)
        return fut

    def delete(self, name: str) -> concurrent.futures.Future:
        self._may_block()
        live = self._mark_deleted(name)
        if live is None:
            raise NotFound(f"no curriculum named {name!r}")
        return self._delete_lives([live])

    # -------------------------------------------------------- learners
    @staticmethod
    def _of_learner(learner: str) -> tuple[str, Any]:
        """``learner`` in NFC, and the condition on curricula rows that are that learner's: stored under the NFC
        form, under its decomposed form (NFD, "Jose" + U+0301 for "José"), or under the name exactly as given, as
        an earlier version stored names as typed and found them (a form that is neither: "Ångström" with the
        Angstrom sign U+212B, marks in another order). An equality on the indexed column, never a scan of every
        learner (a server may hold millions); the service always refused format characters. A name with white space
        around it (refused for new curricula since) is looked for as it is: an earlier version stored such names,
        and " ann" is not "ann" (their curricula are not merged)."""
        nfc = _check_learner(learner, stored=True)
        return nfc, _CURRICULA.c.learner.in_(sorted({nfc, unicodedata.normalize("NFD", nfc), learner}))

    @staticmethod
    def _none_of(learner: str) -> NotFound:
        """The 404 for a learner with no curricula; for a name with white space around it, what that means."""
        if learner != learner.strip():
            return NotFound(f"no curricula of learner {learner!r}: a name that begins or ends with white space is "
                            f"refused for new curricula, so only one an earlier version stored is found by it, "
                            f"written exactly as stored (a space is %20 in the path); {learner.strip()!r} is another "
                            "learner's name")
        return NotFound(f"no curricula of learner {learner!r}")

    def learner_curricula(self, learner: str) -> list[str]:
        """Names of the curricula of ``learner`` (from the database), in creation order."""
        _nfc, theirs = self._of_learner(learner)
        self._may_block()
        with self.engine.connect() as conn:
            return list(conn.execute(select(_CURRICULA.c.name).where(theirs).order_by(_CURRICULA.c.id)).scalars())

    @staticmethod
    def _same_curricula(learner: str, found: list[str], checked: list[str] | None) -> None:
        """:class:`Conflict` unless ``found`` are the curricula ``checked`` (those a token's scope was checked
        against, see the API's ``allow_learner``): one given to the learner since must not be read or deleted
        on that check."""
        if checked is not None and sorted(found) != sorted(checked):
            raise Conflict(f"the curricula of learner {learner!r} changed while this request was checked; nothing "
                           "was read or deleted. Retry the request")

    def export_learner(self, learner: str, checked: list[str] | None = None) -> dict[str, Any]:
        """Everything stored about ``learner``: each curriculum's spec, its whole log and its checkpoints
        (with ``checked``: only if those are still the learner's curricula, else :class:`Conflict`)."""
        names = self.learner_curricula(learner)
        learner, theirs = self._of_learner(learner)
        if not names:
            raise self._none_of(learner)
        self.barrier()  # every answered write is in the database
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            rows = conn.execute(select(_CURRICULA).where(theirs).order_by(_CURRICULA.c.id)).mappings().all()
            self._same_curricula(learner, [row["name"] for row in rows], checked)
            for row in rows:
                spec = self._row_spec(row)
                damage = _damage(spec)
                if damage is not None:  # (no reply can carry it: the export was a plain-text 500)
                    raise Damaged(f"learner {learner!r} cannot be exported: {damage}, then export the learner again")
                events = [{"seq": int(e.seq), "batch": int(e.batch), "kind": e.kind,
                           **_event_fields(e.kind, e.k, e.task, e.score, e.answer_time),
                           "id": e.client_id, "time": float(e.created_at)}
                          for e in conn.execute(select(_EVENTS).where(_EVENTS.c.curriculum_id == spec.id)
                                                .order_by(_EVENTS.c.seq))]
                cps = [{"seq": int(c.seq), "time": float(c.created_at),
                        "data_base64": base64.b64encode(bytes(c.data)).decode("ascii")}
                       for c in conn.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.curriculum_id == spec.id)
                                             .order_by(_CHECKPOINTS.c.seq))]
                out.append({**spec.public(), "events": events, "checkpoints": cps})
        return {"learner": learner, "exported_at": time.time(), "curricula": out}

    def forget_learner(self, learner: str, checked: list[str] | None = None
                       ) -> tuple[list[str], concurrent.futures.Future]:
        """Delete every curriculum of ``learner`` with its log and checkpoints (one transaction); with
        ``checked``, only if those are still the learner's curricula (else :class:`Conflict`, nothing deleted)."""
        learner, theirs = self._of_learner(learner)
        self._may_block()
        with self.engine.connect() as conn:
            rows = conn.execute(select(_CURRICULA.c.id, _CURRICULA.c.name).where(theirs)
                                .order_by(_CURRICULA.c.id)).all()
        if not rows:
            raise self._none_of(learner)
        self._same_curricula(learner, [name for _cid, name in rows], checked)
        lives = []
        try:
            for _cid, name in rows:
                try:
                    live = self._mark_deleted(name)
                except Moved:  # served by another process: deleted all the same (its writes then fail and it
                    continue   # lets the curriculum go when its lease goes with the row)
                if live is not None:
                    lives.append(live)
        except BaseException:  # (loading one failed: nothing is deleted, those marked already stay usable)
            for live in lives:
                live.deleted = False
            raise
        names = [name for _cid, name in rows]
        return names, self._delete_lives(lives, [int(cid) for cid, _n in rows], names)

    # --------------------------------------------------------- propose
    def propose(self, name: str, k: int, request_id: str | None = None
                ) -> tuple[list[Any], int, concurrent.futures.Future | None]:
        """Draw ``k`` tasks; returns (JSON tasks, seq, commit future)."""
        tasks, _infos, seq, fut = self.propose_with_info(name, k, request_id)
        return tasks, seq, fut

    def propose_with_info(self, name: str, k: int, request_id: str | None = None
                          ) -> tuple[list[Any], list[dict[str, Any]] | None, int, concurrent.futures.Future | None]:
        """Draw ``k`` tasks; returns (JSON tasks, their infos or None, seq, commit future). The infos (JSON, one
        per task: ``{"train": ..., "replay": ...}``) come from teachers that give more than the default (the level
        teachers, see :func:`~magister.serve.common.gives_infos`), else None. They are logged with the tasks, so
        a retried ``request_id`` is answered the same tasks and infos (after a restart too)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise Invalid(f"k must be a whole number from 1 to {MAX_K}, got {k!r}")
        with self._locked(name) as live:
            self._check_alive(live)
            prior = None if request_id is None else self._prior(live, request_id)
            if prior is not None:
                seq, fp = prior
                if fp != _propose_fingerprint(k):
                    raise Conflict(f"request id {request_id!r} was already used for another request; "
                                   "use a fresh id for each new request")
                answer = live.proposals.get(request_id)
                if answer is None:  # an old proposal: its tasks (and infos) are in the log
                    answer = proposal_of(self._logged(live, seq)[0])
                return answer[0], answer[1], seq, live.commit_of(seq)
            infos = None
            now = float(self.now())
            try:
                live.spec.follow_server_time(live.teacher, now)  # (a replay moves it to the logged time)
                if gives_infos(live.teacher):  # (the same draw as propose(k): a replay calls that)
                    tasks, infos = live.teacher.propose_with_info(k)
                    infos = jsonable(infos)
                else:
                    tasks = live.teacher.propose(k)
            except Exception as e:  # a teacher bug: its generator may have moved, rebuild it from the log
                raise self._teacher_failed(live, "proposing", e) from None
            space = live.space
            out = jsonable([space.to_json(t) for t in tasks])
            text = proposal_text(out, infos)
            seq = live.next_seq
            live.next_seq += 1
            row = {"curriculum_id": live.spec.id, "seq": seq, "batch": seq, "kind": "propose", "k": k,
                   "task": text, "score": None, "client_id": request_id, "created_at": now,
                   "answer_time": None}  # (every event row has the same columns: one insert per group)
            fut = self._log(live, [row])
            if request_id is not None:
                live.ids.remember(request_id, seq, _propose_fingerprint(k))
                live.ids.trim(live.committed)
                live.proposals[request_id] = (out, infos)
                if len(live.proposals) > RECENT_PROPOSALS:
                    live.proposals.popitem(last=False)
            self._maybe_checkpoint(live, 1)
            return out, infos, seq, fut

    def _teacher_failed(self, live: LiveCurriculum, doing: str, e: Exception) -> ServiceError:
        """A teacher bug while ``doing`` something: its state (or generator) may be half-updated, so the curriculum is
        marked broken and rebuilt from the log; returns the 500 to raise (nothing of the request was recorded)."""
        live.broken = f"teacher failed while {doing} ({type(e).__name__}: {e}); rebuilding"
        self._schedule_rebuild(live)
        return ServiceError(f"teacher {live.spec.teacher!r} failed while {doing} ({type(e).__name__}: {e}); "
                            "nothing was recorded", status=500)

    def _logged(self, live: LiveCurriculum, seq: int) -> tuple[str, float | None]:
        """The ``task`` text and ``score`` of event ``seq`` (once its write committed): what a retry of an old
        request answers."""
        self._may_block()
        fut = live.commit_of(seq)
        if fut is not None:
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - the first attempt never reached the disk
                raise Unavailable("the first attempt of this request was not recorded; "
                                  "retry in a moment") from None
        with self.engine.connect() as conn:
            row = conn.execute(select(_EVENTS.c.task, _EVENTS.c.score).where(
                and_(_EVENTS.c.curriculum_id == live.spec.id, _EVENTS.c.seq == seq))).first()
        if row is None:
            raise Unavailable("the first attempt of this request was not recorded; "
                              "retry in a moment")
        return row[0], row[1]

    # ------------------------------------------------------- give back
    def give_back(self, name: str, tasks: list[Any], infos: list[Any] | None, request_id: str | None = None
                  ) -> tuple[int, int | None, concurrent.futures.Future | None]:
        """Hand the teacher back proposals that will never be scored (an episode cut by a reset or a close): a
        level teacher's :meth:`~magister.teachers._levels.LevelTeacher.give_back` (``infos``: the proposals'
        infos, one per task, or None). Returns (how many outstanding proposals it dropped, seq, commit future).
        Logged as one ``giveback`` event, so a restart replays it; a retried ``request_id`` is applied once and
        answered the same. A teacher without ``give_back`` (it keeps no outstanding proposals) takes the tasks
        as a no-op: nothing is logged, and the answer is (0, None, None). All or nothing."""
        if not isinstance(tasks, list) or not tasks:
            raise Invalid("no tasks given; send at least one task to give back")
        if len(tasks) > MAX_BATCH:
            raise Invalid(f"at most {MAX_BATCH} tasks per request, got {len(tasks)}; split them")
        if infos is not None and (not isinstance(infos, list) or len(infos) != len(tasks)
                                  or any(i is not None and not isinstance(i, dict) for i in infos)):
            raise Invalid(f"give 'infos' as one info object per task (the proposal's info, as propose answered "
                          f"it: {len(tasks)} of them), or leave it out. Nothing was given back.")
        with self._locked(name) as live:
            self._check_alive(live)
            space = live.space
            canon = []
            for i, task in enumerate(tasks):
                where = f"task {i}: " if len(tasks) > 1 else ""
                try:
                    canon.append(jsonable(space.to_json(space.from_json(task))))
                except MagisterError as e:
                    raise Invalid(f"{where}{e}. Nothing was given back.") from None
                except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as e:
                    raise Invalid(f"{where}task {str(task)[:80]} is not a task of {space!r} "
                                  f"({type(e).__name__}: {e}). Nothing was given back.") from None
            try:
                infos = None if infos is None else jsonable(infos)
                text = dumps({"tasks": canon, "infos": infos})
            except (TypeError, ValueError) as e:
                raise Invalid(f"infos must be plain JSON values: {e}") from None
            fp = _give_back_fingerprint(text)
            if request_id is not None:
                prior = self._prior(live, request_id)
                if prior is not None:
                    seq, first_fp = prior
                    if first_fp != fp:
                        raise Conflict(
                            f"client id {request_id!r} was already used at seq {seq} of curriculum "
                            f"{live.spec.name!r}, for a give-back of other tasks or infos, an observation or as a "
                            "proposal's request_id (they share one set of ids). Nothing was given back. If this is "
                            "a retry, send exactly what the first attempt sent (the same tasks and infos with the "
                            "same id: it is then answered as the first time and applied once); if it is a new "
                            "give-back, give it a fresh id (e.g. a random UUID).")
                    return int(self._logged(live, seq)[1] or 0), seq, live.commit_of(seq)
            if not callable(getattr(live.teacher, "give_back", None)):
                return 0, None, None
            try:
                dropped = int(live.teacher.give_back([space.from_json(t) for t in canon], infos))
            except MagisterError as e:  # (checked before anything changed)
                raise Invalid(str(e)) from None
            except Exception as e:  # a teacher bug: its state may be half-updated, rebuild it from the log
                raise self._teacher_failed(live, "taking proposals back", e) from None
            seq = live.next_seq
            live.next_seq += 1
            # the number dropped is kept as the event's score: a retry is answered it
            row = {"curriculum_id": live.spec.id, "seq": seq, "batch": seq, "kind": "giveback", "k": len(canon),
                   "task": text, "score": float(dropped), "client_id": request_id, "created_at": self.now(),
                   "answer_time": None}
            fut = self._log(live, [row])
            if request_id is not None:
                live.ids.remember(request_id, seq, fp)
                live.ids.trim(live.committed)
            self._maybe_checkpoint(live, 1)
            return dropped, seq, fut

    # --------------------------------------------------------- observe
    def observe(self, name: str, observations: list[tuple[Any, float, str | None]],
                times: list[Any] | None = None) -> tuple[list[int], list[concurrent.futures.Future]]:
        """Record observations ``(task, score, client id)`` in order; all or nothing.

        ``times``: each observation's own time (unix seconds or anything :func:`magister.times.seconds` reads;
        None: it happened now), for a people policy on the server clock only (an answer made offline and
        synced later). Returns each observation's sequence number (a retried client id gets the
        number it got the first time) and the commit futures to wait for.
        """
        if not observations:
            raise Invalid("no observations given; send at least one {task, score}")
        if len(observations) > MAX_BATCH:
            raise Invalid(f"at most {MAX_BATCH} observations per request, got {len(observations)}; split the batch")
        at = _answer_times(times, len(observations))
        with self._locked(name) as live:
            self._check_alive(live)
            if at is not None and live.spec.clock != "server":
                raise Invalid(_no_answer_times(live.spec, at, getattr(live.teacher, "keeps_clock", False)))
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
                fp = _fingerprint(texts[i], score, None if at is None else at[i])
                prior = ids.get(cid) or old.get(cid)
                if prior is None and cid in in_batch:
                    prior = (-1, in_batch[cid][1])
                if prior is not None:
                    if prior[1] != fp:
                        raise Conflict(_id_reused(live.spec.name, f"observation {i}: " if many else "", cid,
                                                  prior[0], in_batch[cid][0] if prior[0] < 0 else None))
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
                now = float(self.now())  # one time for the whole request, logged with each of its events
                # each observation at its own time (none given: the request's), a run of equal times at a time;
                # the replay splits the request's events alike (recovery.py)
                when: list[float] = []
                for i in new:
                    t = now if at is None else at[i]
                    if t is None:
                        t = now
                    elif t > now + self.clock_skew_seconds:  # (up to it: a device clock a little fast, kept as
                        # given, so the log, the replay and a retry's fingerprint all hold the same time)
                        raise Invalid(_answer_time_ahead(i if many else None, t, now, self.clock_skew_seconds))
                    when.append(t)
                for run, (t, a, b) in enumerate(time_runs(when)):
                    part = new[a:b]
                    before = None
                    try:
                        before = live.spec.follow_server_time(live.teacher, t)
                        if len(part) == 1:  # the teacher's one-outcome fast path (same effect as a batch of one)
                            live.teacher.observe(space.from_json(canon[part[0]]), scores[part[0]])
                        else:
                            live.teacher.observe_batch([space.from_json(canon[i]) for i in part],
                                                       [scores[i] for i in part])
                    except MagisterError as e:
                        if run > 0:  # earlier runs are applied: rebuild from the log, which has none of them
                            raise self._teacher_failed(live, "observing", e) from None
                        if before is not None:  # refused, nothing recorded: the clock too is as it was
                            live.teacher.clock = before  # type: ignore[attr-defined]
                        raise Invalid(str(e)) from None
                    except Exception as e:  # a teacher bug: its state may be half-updated, rebuild it from the log
                        raise self._teacher_failed(live, "observing", e) from None
                first = live.next_seq
                rows = []
                for j, i in enumerate(new):
                    seq = first + j
                    seqs[i] = seq
                    task, score, cid = observations[i]
                    rows.append({"curriculum_id": live.spec.id, "seq": seq, "batch": first, "kind": "observe",
                                 "k": None, "task": texts[i], "score": scores[i], "client_id": cid,
                                 "created_at": now, "answer_time": None if at is None else at[i]})
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


    # ------------------------------------------------------------- reads
    def summary(self, live: LiveCurriculum) -> dict[str, Any]:
        t = live.teacher
        return {**live.spec.public(), "kind": t.kind, "n_observed": t.n_observed, "n_proposed": t.n_proposed,
                "last_seq": live.next_seq - 1, "checkpoint_seq": live.checkpoint_seq}

    def brief(self, live: LiveCurriculum) -> dict[str, Any]:
        """:meth:`summary` in bounded size: long lists of the space cut, large settings left out."""
        return {**self.summary(live), **brief_public(live.spec)}

    def light(self, name: str, top: int = 20) -> dict[str, Any]:
        """A bounded summary for dashboards: counts, the space in brief, the beliefs summarised
        (per-task arrays as aggregates and their ``top`` tasks); full beliefs stay at inspect/beliefs."""
        with self._locked(name) as live:
            out = self.brief(live)
            beliefs = _beliefs_of(live)
        out["beliefs"] = summarise_beliefs(beliefs, top)
        if len(dumps(out["beliefs"])) > MAX_SUMMARY_CHARS:
            out["beliefs"] = {"omitted": "too large to summarise; GET .../beliefs has them in full"}
        return out

    def inspect(self, name: str) -> dict[str, Any]:
        with self._locked(name) as live:
            out = self.summary(live)
            out["config"] = jsonable(live.teacher.config())
            out["beliefs"] = _beliefs_of(live)
            return out

    def beliefs(self, name: str) -> dict[str, Any]:
        with self._locked(name) as live:
            return _beliefs_of(live)

    def state_bytes(self, name: str) -> bytes:
        with self._locked(name, damaged_ok=True) as live:  # (a damaged curriculum's state can be taken away)
            return live.teacher.to_bytes()

    def history(self, name: str, after: int = 0, limit: int = 2000) -> dict[str, Any]:
        """Committed events after ``after`` (for the dashboard), oldest first.

        Every event answered before this call is included: a proposal is
        answered before its group commit (unless ``durable_proposals``), so
        the read first waits for the writes still in flight (called off the
        event loop). A write that failed is simply not there.
        """
        self._may_block()
        with self._locked(name) as live:
            cid = live.spec.id
            fut = live.commit_of(live.next_seq - 1)
        if fut is not None:
            concurrent.futures.wait([fut], timeout=60)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_EVENTS.c.seq, _EVENTS.c.batch, _EVENTS.c.kind, _EVENTS.c.k, _EVENTS.c.task,
                       _EVENTS.c.score, _EVENTS.c.created_at, _EVENTS.c.answer_time)
                .where(_EVENTS.c.curriculum_id == cid).where(_EVENTS.c.seq > after)
                .order_by(_EVENTS.c.seq).limit(limit + 1)
            ).all()
        more = len(rows) > limit
        events = []
        for seq, batch, kind, k, task, score, t, answered in rows[:limit]:
            e: dict[str, Any] = {"seq": int(seq), "batch": int(batch), "kind": kind, "time": float(t)}
            events.append({**e, **_event_fields(kind, k, task, score, answered)})
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


def _event_fields(kind: str, k: Any, task: str, score: Any, answered: Any = None) -> dict[str, Any]:
    """What a logged event says, as history and export give it: an observation's ``task`` and ``score`` (and
    ``answer_time``, the time its client gave it, if any); a proposal's ``k`` and ``tasks`` (and ``infos``, from a
    teacher that gives them); a give-back's ``tasks``, ``infos`` (or None) and the number of outstanding proposals
    it ``dropped``."""
    if kind == "observe":
        out = {"task": json.loads(task), "score": float(score)}
        return out if answered is None else {**out, "answer_time": float(answered)}
    if kind == "giveback":
        given = json.loads(task)
        return {"tasks": given["tasks"], "infos": given["infos"], "dropped": int(score or 0)}
    tasks, infos = proposal_of(task)
    return {"k": int(k), "tasks": tasks, **({"infos": infos} if infos is not None else {})}


def _id_reused(name: str, where: str, cid: str, seq: int, in_request: int | None) -> str:
    """The 409 for an observation whose client id was used before for something else: what happened (where the
    id was first used) and what to do (a retry repeats its first attempt exactly; a new observation gets a
    fresh id). The seq and curriculum named are the caller's own: it may use this curriculum."""
    if in_request is not None:
        first = f"by observation {in_request} of this same request, for a different task, score or time"
    else:
        first = (f"at seq {seq} of curriculum {name!r}, for a different observation (another task, score or time), as "
                 "a proposal's request_id or as a give-back's id (a curriculum's observations, proposals and "
                 "give-backs share one set of ids)")
    return (f"{where}client id {cid!r} was already used {first}. Nothing was recorded. If this is a retry, send "
            "exactly what the first attempt sent (the same task, score and time with the same id: it is then answered "
            "with its first seq and applied once); if it is a new observation, give it a fresh id (e.g. a random "
            "UUID).")


def _answer_times(times: list[Any] | None, n: int) -> list[float | None] | None:
    """Each observation's own time in unix seconds (None: not given), or None when none was given; a time that is
    not one (NaN, a bool, bytes, NaT, text that is no ISO 8601 time...) is refused, naming the observation."""
    if times is None:
        return None
    if len(times) != n:
        raise Invalid(f"{len(times)} times for {n} observations; give one time (or None) per observation")
    out: list[float | None] = []
    for i, t in enumerate(times):
        try:
            out.append(None if t is None else seconds(t, f"observation {i}: time" if n > 1 else "time"))
        except ConfigError as e:
            raise Invalid(f"{e}. Nothing was recorded.") from None
    return out if any(t is not None for t in out) else None


def _no_answer_times(spec: CurriculumSpec, at: list[float | None], keeps_clock: bool) -> str:
    """The 422 for answer times sent to a curriculum that is not on the server clock."""
    i = next(i for i, t in enumerate(at) if t is not None)
    where = f"observation {i}: " if len(at) > 1 else ""
    why = (f"its clock is {spec.clock!r}, not 'server'" if spec.clock is not None else
           "it keeps the answer-count clock (it was stored before the 'clock' setting existed)" if keeps_clock else
           f"its teacher {spec.teacher!r} keeps no clock")
    return (f"{where}'time' is taken only by a people policy whose 'clock' setting is \"server\" (its clock moves to "
            f"each answer's time); curriculum {spec.name!r} cannot use it: {why}. Leave 'time' out. Nothing was "
            "recorded.")


def _answer_time_ahead(i: int | None, t: float, now: float, skew: float) -> str:
    where = f"observation {i}: " if i is not None else ""
    return (f"{where}time {t!r} is {t - now:.3f} s after the server's time ({now!r}), more than the {skew:g} s "
            "allowed for a device clock out of step (MAGISTER_CLOCK_SKEW_SECONDS): an answer cannot have happened "
            "after it reached the server. Send the time the answer was made, in unix seconds by a clock in step "
            "with the server's (or leave 'time' out for an answer made just now). Nothing was recorded.")


def _names_a_function(mutator: Any) -> bool:
    """Whether a mutator spec names a "module:function" anywhere: itself, or inside (the entries of a 'dict'
    mutator, at any depth), walked without recursion."""
    todo = [mutator]
    while todo:
        m = todo.pop()
        if isinstance(m, str) and ":" in m or isinstance(m, dict) and "function" in m:
            return True
        if isinstance(m, dict):
            todo.extend(m.values())
        elif isinstance(m, list):
            todo.extend(m)
    return False


def _lone_surrogate(value: Any) -> str | None:
    """The text of ``value`` (JSON values) that holds half of a UTF-16 surrogate pair (a JSON escape ``\\ud800``
    without its other half), escaped as ``\\ud800``, or None: no reply can encode such text."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        bad = e.object[e.start:e.end] if isinstance(e.object, str) else ""
        return bad.encode("unicode_escape").decode()
    except (TypeError, ValueError, RecursionError):  # named by the checks that follow
        pass
    return None


def _refuse_lone_surrogates(space: Any) -> None:
    """:class:`Invalid` if a space spec holds text with a lone surrogate (see ``_lone_surrogate``): such a space
    was stored, then answered a plain-text 500 at its create, at every read and at ``GET /v1/curricula`` (the
    listing of every curriculum) for good."""
    bad = _lone_surrogate(space)
    if bad is not None:
        raise Invalid(f"the space holds text with a lone surrogate ({bad}: half of a character written as two JSON "
                      "escapes), which is no Unicode text and could not be sent back; write the character whole "
                      "(both escapes, e.g. \\ud83d\\ude00, or the character itself). Nothing was created.")


def _damage(spec: CurriculumSpec) -> str | None:
    """Why the stored curriculum ``spec`` cannot be served, or None: an earlier version stored spaces (and settings)
    with a lone surrogate, which no reply can carry, so the curriculum's every read, propose and observe (and the
    listing of every curriculum) answered a plain-text 500, its proposals recorded all the same."""
    for field, value in spec.public().items():
        bad = _lone_surrogate(value)
        if bad is not None:
            return (f"curriculum {spec.name!r} cannot be served: an earlier magister stored its {field} with text "
                    f"holding a lone surrogate ({bad}: half of a character written as two JSON escapes), which no "
                    "reply can carry. Nothing was changed. Delete it (DELETE /v1/curricula/"
                    f"{spec.name}; GET /v1/curricula/{spec.name}/checkpoint has its teacher's state) and create "
                    "it again with the character written whole (both escapes, e.g. \\ud83d\\ude00, or the "
                    "character itself)")
    return None


def _space_depth(spec: Any) -> int:
    """How deep a space spec nests Dict spaces (0: none), counted without recursion, up to MAX_SPACE_DEPTH + 1."""
    depth, level = 0, [spec]
    while level and depth <= MAX_SPACE_DEPTH:
        inner = [v for s in level if isinstance(s, dict) and s.get("type") == "Dict" and isinstance(s.get("spaces"), dict)
                 for v in s["spaces"].values()]
        if not inner:
            break
        depth, level = depth + 1, inner
    return depth


def _check_learner(learner: Any, *, stored: bool = False) -> str:
    """A learner name in the form it is stored and compared in (NFC, :func:`magister.names.learner_form`): a
    format character (a zero-width space) is refused naming it, as anything not 1-128 printable characters, and
    (unless ``stored``) white space around it, which the study app refuses too. ``stored``: a name looked for
    among those stored (export, deletion), which an earlier version may have stored with spaces around it."""
    if isinstance(learner, str) and 1 <= len(learner) <= MAX_LEARNER:
        try:
            if not stored:
                refuse_spaces_around(learner)
            learner = learner_form(learner)
        except ConfigError as e:
            raise Invalid(str(e)) from None
    if not isinstance(learner, str) or not 1 <= len(learner) <= MAX_LEARNER or not learner.isprintable():
        raise Invalid(f"a learner name must be 1-{MAX_LEARNER} printable characters, got {str(learner)[:80]!r}")
    return learner


def _beliefs_of(live: LiveCurriculum) -> dict[str, Any]:
    """The teacher's beliefs as JSON; a teacher that cannot give them (one an earlier magister created with settings
    it cannot start from, such as a people policy over an unfitted DKT) is a 500 that says so, not a raw one."""
    try:
        return jsonable(live.teacher.beliefs())
    except (MagisterError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ServiceError(f"teacher {live.spec.teacher!r} of curriculum {live.spec.name!r} cannot give its beliefs "
                           f"({type(e).__name__}: {e}); nothing changed. A curriculum created by an earlier magister "
                           "with settings it cannot start from (a people policy over a learner model that must be "
                           "fitted first) never will: delete it and create it with other settings", status=500) from None


def _some(items: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _derived_seed(seed: int, name: str) -> int:
    """A curriculum's seed from a bulk request's seed and its name (62 bits, stable across runs)."""
    digest = blake2b(f"{int(seed)}:{name}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2


#: tasks listed per per-task array in a summary (the default of ``?top=``)
TOP = 20
#: a summary never holds more than this many characters of beliefs, nor of settings
MAX_SUMMARY_CHARS = 200_000
MAX_SETTINGS_CHARS = 4000
_LIST_ITEMS = 20
_DICT_KEYS = 50


def brief_public(spec: CurriculumSpec) -> dict[str, Any]:
    """``spec.public()`` in bounded size: long lists of the space cut, large settings left out."""
    out = spec.public()
    out["space"] = brief_spec(out["space"])
    text = dumps(jsonable(out["settings"]))
    if len(text) > MAX_SETTINGS_CHARS:
        out["settings"] = {"omitted": f"{len(text)} characters; GET /v1/curricula/{spec.name} has them"}
    return out


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
