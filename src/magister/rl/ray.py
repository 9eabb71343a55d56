"""The teacher as a Ray actor shared by rollout workers on any node.

* :class:`TeacherActor` - holds one teacher; batched ``propose(k)`` /
  ``observe_batch``; idempotent batches (each client numbers its batches, a
  batch sent twice is applied once); ``to_bytes`` / ``save``.
  Start it with :func:`start_teacher_actor`.
* :class:`RayTeacher` - the worker-side handle: looks like a teacher
  (``propose()``, ``observe()``, ``observe_batch()``, ``space``), keeps a local
  buffer of prefetched tasks (refilled in the background before it runs dry)
  and sends outcomes in batches (``flush_every``), so a rollout worker almost
  never waits for the actor. Plug it into
  :class:`~magister.rl.wrapper.CurriculumWrapper` like any teacher.
* :func:`rllib_callback` - an RLlib (new API stack) callback class that pushes a
  task into each sub-env's ``CurriculumWrapper`` when RLlib creates an episode
  (before the env's reset), and reports the score when the episode ends.

Ordering and exactly-once: Ray runs the calls from one handle to an actor in
the order they were sent, the actor applies each ``(client_id, seq)`` batch at
most once, and :meth:`RayTeacher.flush` (called by ``save`` and at the end
of every RLlib sample) waits until the actor has applied everything sent.

Leases: the tasks a client prefetched stay *leased* to it in the actor until
the client says it handed them out (each refill request and each batch of
outcomes carries its count of tasks handed out). When the client is gone -
:meth:`RayTeacher.close`, ``actor.release.remote(client_id)`` or
``actor.release.remote(name=...)`` from the driver for a worker that died, or
a new client started with the same ``name`` - the tasks still leased to it
are re-issued, in order and with their infos, before any new proposal, so no
proposed task is lost (for the level teachers: a new level is scored, a
replayed one is played). Tasks a dead worker handed out after its last message
to the actor are re-issued too. Leases live in the actor only: a teacher
saved and started again has none, so the actor's checkpoint (``save``,
``to_bytes``) holds its teacher with every task not handed out (leased, or
waiting to be re-issued) given back (a level teacher waits for no score of
them; the live actor is unchanged). Tasks handed out and not scored yet (running
episodes) are still waiting in the checkpoint: resuming in a new run, drop them
with ``teacher.drop_pending()`` on the loaded level teacher, or on the actor
started from it, before its clients propose (:meth:`RayTeacher.drop_pending`,
``actor.drop_pending.remote()``).
A client released by the driver or by a same-name replacement leases nothing more: Ray does not order the calls of
different callers, so a refill a dead worker sent before it died may reach the
actor after its release, and is refused (nothing proposed, nothing leased to a
worker that is gone); its outcomes are still applied, and so are the tasks it gives back, less those its release
re-issued already (handed out after its last message): none is queued twice. A client that closes
itself may go on (its own later calls come after its close). Tasks a client handed out that will never be
scored (an RLlib episode cut by ``algo.stop()`` or a forced reset) go back with :meth:`RayTeacher.give_back`,
and are re-issued as the tasks of gone clients are.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import socket
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Sequence, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ConfigError, SettingTypeError, missing_extra_import

try:
    import ray
    from ray.exceptions import ActorDiedError, RayActorError, RayError, RayTaskError
except ImportError as _e:
    raise missing_extra_import("magister.rl.ray", "ray", _e) from _e
from ..levels.spaces import level_key
from ..scores import ScoreLike, ScoreRange, materialised
from ..settings import is_int, whole
from ..spaces import space_from_spec
from ..teacher import MAX_PROPOSE, Teacher, checked_outcome, checked_outcomes, loads, proposal_count
from ..teachers._levels import given_back

__all__ = ["TeacherActor", "start_teacher_actor", "RayTeacher", "TeacherActorDiedError", "rllib_callback",
           "find_curriculum_wrapper"]

#: True in a process forked from one connected to Ray (a worker of multiprocessing.Pool(), Linux's default 'fork'):
#: the connection it holds is its parent's, which does not survive a fork (calls on it hang)
_ray_forked = False


def _note_fork() -> None:
    global _ray_forked
    _ray_forked = _ray_forked or ray.is_initialized()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)


def _ray_inherited() -> bool:
    """Whether this process's Ray connection is one it inherited through fork() (not one it made itself)."""
    global _ray_forked
    if _ray_forked and not ray.is_initialized():  # shut down since: a later ray.init here is this process's own
        _ray_forked = False
    return _ray_forked


def _node_id() -> str | None:
    """The id of the Ray node this process is connected through (None without a connection): a new one for each
    local cluster ``ray.init()`` starts, so a handle obtained before a ``ray.shutdown()`` and a new ``ray.init()``
    is told apart from one of the current connection."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


try:  # (Ray's own test of Ray Client mode, ray://, in which ray.* calls go to the client's connection)
    from ray._private.client_mode_hook import client_mode_should_convert as _ray_client_mode
except ImportError:  # pragma: no cover - a Ray without it: the node id is asked for (see _connection_object)
    _ray_client_mode = None


def _connection_object() -> Any:
    """The object that stands for this process's Ray connection while it lasts (None: not found): Ray makes a new
    one at each connection (the node of ``ray.init()`` or of a worker's start, Ray Client's worker of a ``ray://``
    connect) and drops it at ``ray.shutdown()``. Read from Ray's internals (a few attribute reads, where asking for
    the node id took about 2.5 us, and a network round trip per call with Ray Client), guarded: without them, None."""
    try:
        if _ray_client_mode is not None and _ray_client_mode():
            return ray.util.client.ray.get_context().client_worker
        return ray._private.worker.global_worker.node
    except AttributeError:
        return None


class _Connection:
    """The Ray connection through which a client reached its actor (made while Ray is connected): :meth:`lasts`
    says whether it is still this process's connection, not shut down (and maybe re-initialised) since. The
    connection's object is compared by identity through a weak reference (an object Ray dropped never compares
    equal, even where a new one takes its address); where it cannot be found, the node id (one call into Ray)."""

    __slots__ = ("_ref", "_node")

    def __init__(self) -> None:
        now = _connection_object()
        try:
            self._ref: Any = None if now is None else weakref.ref(now)
        except TypeError:  # pragma: no cover - an object without weak references: the node id
            self._ref = None
        self._node = _node_id() if self._ref is None else None

    def lasts(self) -> bool:
        if self._ref is None:
            return _node_id() == self._node
        now = _connection_object()
        return now is not None and self._ref() is now


def _client_name_setting(name: Any) -> str | int | None:
    """A client's name (``RayTeacher(..., name=...)``, ``take_name``, the actor's ``connect`` and ``release(name=...)``)
    as the actor keys it: a text or a whole number (a worker's index; a numpy integer as a Python ``int``), or None,
    compared as given (3 and '3' differ). Anything else is refused, in the same words everywhere: a list or a dict raised
    Python's raw "unhashable type" inside the actor, and a bool or a float was taken (``True`` was the name ``1``)."""
    if name is None or isinstance(name, str):
        return name
    if is_int(name):
        return int(name)
    raise SettingTypeError(f"name must be a text or a whole number (a stable id of the worker, e.g. its "
                           f"index; 3 and '3' are two names), or None; got {name!r:.80} ({type(name).__name__})")


def _ray_name_setting(setting: str, value: Any, what: str, none: str) -> str | None:
    """``value`` as Ray takes a name (an actor's, a namespace's): a non-empty text, or None (``what``: what it
    names; ``none``: what None means). Ray refused anything else with its own ``TypeError`` / ``ValueError``
    (``RayTeacher``, given a handle, ignored a bad ``namespace``; an ``rllib_callback`` refused it only in each env
    runner)."""
    if value is None or (isinstance(value, str) and value):
        return value
    error = ConfigError if isinstance(value, str) else SettingTypeError
    raise error(f"{setting} must be a non-empty text ({what}) or None ({none}), got {value!r:.80}")


class TeacherActor:
    """Wraps one teacher inside a Ray actor (use :func:`start_teacher_actor`)."""

    def __init__(self, state: bytes):
        # live: the teacher goes on here while its run goes on (an opponent teacher's pool may have changed since
        # the bytes were taken: the driver adds snapshots and reports games while the actor starts)
        self.teacher: Teacher = loads(state, live=True)
        self._applied: dict[str, int] = {}
        #: per client: the tasks (with infos) proposed to it that it has not said it handed out, oldest first
        self._leases: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
        self._taken: dict[str, int] = {}  # per client: tasks it said it handed out, in all
        self._names: dict[Any, str] = {}  # worker name -> the client that held it last (kept after its release)
        self._clients: set[str] = set()  # every client that called this actor
        #: clients released by the driver or replaced by a client of the same name -> how: they lease nothing more
        self._released: dict[str, str] = {}
        #: tasks of clients that are gone, handed out again before any new proposal
        self._returned: list[tuple[Any, dict[str, Any]]] = []
        #: per client released by the driver or replaced: the tasks of its lease re-issued then, each as (the
        #: client's count of tasks handed out before it, the task's level_key): one it had handed out already
        #: (it was not told) and gives back or scores later is not queued a second time (see _not_reissued)
        self._reissued: dict[str, list[tuple[int, Any]]] = {}

    def info(self) -> dict[str, Any]:
        return {"space": self.teacher.space.to_spec(), "score_range": self.teacher.score_range.to_dict(),
                "teacher": self.teacher.name,
                # the spec does not name an opponent pool: sent beside it so recommend(client.space) sees the pool
                "opponent_pool": getattr(self.teacher.space, "opponent_pool", None)}

    def propose(self, k: int) -> Any:
        """``k`` tasks (not leased to anyone); the tasks of gone clients first."""
        # checked as the teacher checks it: a k of 0 or less sliced the returned tasks (k=-1 handed out all but one)
        k = proposal_count(k)
        if not self._returned:
            return self.teacher.propose(k)
        new = max(0, k - len(self._returned))
        # proposed before the returned tasks are taken: a teacher that raises leaves them waiting, not lost
        fresh = list(self.teacher.propose(new)) if new else []
        tasks = [t for t, _ in self._reissue(k)] + fresh
        return np.asarray(tasks) if tasks and isinstance(tasks[0], np.ndarray) else tasks

    def propose_with_info(self, k: int, client_id: str | None = None,
                          taken: int | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
        """``k`` tasks and their proposal infos (``{"train": True, ...}`` for teachers that give none); the tasks
        of gone clients first. With ``client_id`` they are leased to that client, which has handed out ``taken``
        tasks in all."""
        from .wrapper import propose_with_info

        k = proposal_count(k)  # (as the teacher checks it: see propose)
        if client_id is not None:
            self._check_not_released(client_id, k)
            self._clients.add(client_id)
        self._settle(client_id, taken)
        fresh: list[tuple[Any, dict[str, Any]]] = []
        new = max(0, k - len(self._returned))
        if new:  # proposed before the returned tasks are taken: a teacher that raises leaves them waiting, not lost
            tasks, infos = propose_with_info(self.teacher, new)
            fresh = list(zip(tasks, infos))
        out = self._reissue(k) + fresh
        if client_id is not None:
            self._leases.setdefault(client_id, []).extend(out)
        return [t for t, _ in out], [dict(i) for _, i in out]

    def _reissue(self, k: int) -> list[tuple[Any, dict[str, Any]]]:
        out, self._returned = self._returned[:k], self._returned[k:]
        return out

    def _settle(self, client_id: str | None, taken: int | None) -> None:
        """``client_id`` has handed out ``taken`` tasks in all: those leave its lease (oldest first)."""
        if client_id is None or taken is None:
            return
        done = int(taken) - self._taken.get(client_id, 0)
        if done > 0:
            del self._leases.get(client_id, [])[:done]
            self._taken[client_id] = int(taken)

    def _check_not_released(self, client_id: str, k: int) -> None:
        # a call of a released client: Ray does not order the calls of different callers, so a refill that a dead
        # worker sent before it died can come after the driver's release (or its replacement's connect); leased to
        # it, its tasks were never handed out nor re-issued. Refused before anything is proposed
        how = self._released.get(client_id)
        if how is not None:
            raise ConfigError(f"client {client_id} was released ({how}): the tasks leased to it went to the next "
                              f"proposals, and it leases no more (this request for {k} task(s) proposed nothing; its "
                              "outcomes are still applied). A late request of a worker that is gone needs nothing; "
                              "release only workers that are gone, and give a worker that goes on a new RayTeacher")

    def connect(self, client_id: str, name: str | int | None = None) -> int:
        """A client starts; with a ``name`` (a worker's stable id: a text or a whole number), the client that held
        that name before is gone and its leased tasks are re-issued. Returns how many were. Any other name is
        refused before anything changes."""
        name = _client_name_setting(name)
        self._clients.add(client_id)
        old = self._names.get(name) if name is not None else None
        n = 0
        if old is not None and old != client_id:
            n = self._give_back(old, None, gone=True)
            self._released[old] = f"replaced by a new client named {name!r}"
        if name is not None:
            self._names[name] = client_id
        return n

    def release(self, client_id: str | None = None, taken: int | None = None, *, name: str | int | None = None,
                missing_ok: bool = False) -> int:
        """The client ``client_id`` (or the one that held ``name``) is gone: the tasks still leased to it are
        handed out again, before any new proposal, and it leases nothing more. Returns how many (0 for a client
        released or closed before). A client or name this actor never saw is refused (a mistyped name released
        nothing); ``missing_ok=True`` returns 0 for it instead (a worker that may have died before its
        ``RayTeacher`` started)."""
        name = _client_name_setting(name)
        if client_id is None:
            if name is None:
                raise ConfigError("release() needs the client's id (RayTeacher.client_id) or name=...")
            client_id = self._names.get(name)
        if client_id is None or client_id not in self._clients:
            if missing_ok:
                return 0
            what = f"named {name!r}" if client_id is None else repr(client_id)
            names = list(self._names)
            raise ConfigError(f"release: no client {what} ever called this actor (the names it knows: "
                              f"{names[:20]}{' ...' if len(names) > 20 else ''}; {len(self._clients)} client id(s)); "
                              "nothing was released. Pass the RayTeacher's client_id or the name= it was started "
                              "with (names compare as given: 3 and '3' differ); for a worker that may have died "
                              "before its RayTeacher started, pass missing_ok=True")
        n = self._give_back(client_id, taken, gone=True)
        self._released.setdefault(client_id, "by actor.release()")
        return n

    def leave(self, client_id: str, taken: int | None = None) -> int:
        """The client itself stops (:meth:`RayTeacher.close`): the tasks still leased to it are handed out again
        before any new proposal. It may go on (its later calls come after this one): a released client too.
        Returns how many tasks went back."""
        self._clients.add(client_id)
        self._released.pop(client_id, None)
        return self._give_back(client_id, taken)

    def give_back(self, client_id: str | None, tasks: Sequence[Any], infos: Sequence[dict[str, Any]],
                  taken: int | None = None) -> int:
        """Tasks a client handed out that will never be scored (an RLlib episode cut by ``algo.stop()`` or a forced
        reset, a task pushed for an episode that never started): handed out again, with their infos, before any new
        proposal (after the tasks already waiting). ``taken``: the tasks the client has handed out in all (these
        among them), settled first, so they leave its lease (a later release of the client re-issued them a second
        time). Every task and info is checked before anything changes. A task of a client released by the driver
        (or replaced by a client of the same name) that its release re-issued already (the client had handed it
        out, after its last message) is not queued again: a late give-back of a worker that is gone (or that goes
        on, released by mistake) re-issues nothing twice. Returns how many were queued now.

        The actor keeps no record of which tasks are out (the per-task cost would fall on every scored task):
        a task of the space that no client was handed out, or that was scored already, is queued as given and
        handed out again, where a local level teacher's ``give_back`` drops nothing for it (0). Give back only
        tasks handed out and not scored, as ``CurriculumVectorEnv`` and the RLlib callback do."""
        tasks, infos = _checked_give_back(self.teacher.space, tasks, infos)
        check = getattr(self.teacher, "_check_kind_flags", None)
        if callable(check):  # (queued as given, a flag such as "yes" made every later checkpoint fail)
            check(infos)
        if client_id is not None:
            self._clients.add(client_id)
        self._settle(client_id, taken)
        items = list(zip(tasks, infos))
        if client_id in self._reissued:
            items = self._not_reissued(client_id, items, taken)
        self._returned.extend(items)
        return len(items)

    def _not_reissued(self, client_id: str, items: list[tuple[Any, Any]], taken: int | None) -> list:
        """``items`` (task first) less those the release of ``client_id`` re-issued already: each matches, by
        task, one re-issued task the client had handed out (before its count ``taken``; any, without a count),
        which is then forgotten. The rest were handed out before its release settled them: not re-issued yet."""
        record = self._reissued[client_id]
        limit = float("inf") if taken is None else int(taken)
        keep = []
        for item in items:
            key = level_key(self.teacher.space, item[0])
            j = next((j for j, (n, k) in enumerate(record) if n < limit and k == key), None)
            if j is None:
                keep.append(item)
            else:
                del record[j]
        if not record:
            del self._reissued[client_id]
        return keep

    def _give_back(self, client_id: str, taken: int | None, gone: bool = False) -> int:
        self._settle(client_id, taken)
        lease = self._leases.pop(client_id, [])
        if gone and lease:  # released, not closed: it may have handed out some of these after its last message
            start = self._taken.get(client_id, 0)
            self._reissued.setdefault(client_id, []).extend(
                (start + i, level_key(self.teacher.space, t)) for i, (t, _) in enumerate(lease))
        # the released tasks count as handed out by that client: one that goes on (close()d, which drops its
        # buffer and counts it so too) hands out what it still holds before anything of a new lease, which its
        # later counts would otherwise have settled instead (lost)
        self._taken[client_id] = self._taken.get(client_id, 0) + len(lease)
        self._returned.extend(lease)
        return len(lease)

    def drop_pending(self) -> int:
        """The teacher's :meth:`~magister.teachers.LevelTeacher.drop_pending`: every proposal waiting for a score
        is given back to it; returns how many there were (0 for a teacher that keeps no proposals waiting). For an
        actor started from a saved level teacher in a new run, before its clients propose
        (``start_teacher_actor(magister.load(path))``): the proposals waiting in the checkpoint went to episodes of
        the old run, whose scores will never come (or for a live actor whose workers' episodes are all gone). As
        the local teacher's, it gives back every proposal waiting: also those of the tasks leased to clients or
        waiting to be handed out again (their scores then count as those of levels not proposed)."""
        drop = getattr(self.teacher, "drop_pending", None)
        return int(drop()) if callable(drop) else 0

    def handed_out(self, client_id: str) -> int:
        """The tasks ``client_id`` counts as handed out, in all (after a release: those it was leased to)."""
        return self._taken.get(client_id, 0)

    def observe_batch(self, tasks: Sequence[Any], scores: Sequence[float], client_id: str | None = None,
                      seq: int | None = None, taken: int | None = None) -> bool:
        """Apply one batch; a batch ``(client_id, seq)`` already applied is skipped (returns False). ``taken``:
        the tasks the client has handed out in all (see :meth:`propose_with_info`)."""
        self._settle(client_id, taken)
        if client_id is not None:  # (a released client's outcomes too: they were played)
            self._clients.add(client_id)
        if client_id is not None and seq is not None:
            if seq <= self._applied.get(client_id, -1):
                return False
        self.teacher.observe_batch(tasks, scores)
        if client_id is not None and seq is not None:
            self._applied[client_id] = int(seq)
        if client_id is not None and client_id in self._reissued:  # scored: those tasks will not come back
            self._not_reissued(client_id, [(t,) for t in self.teacher.space.validate_batch(tasks)], taken)
        return True

    def counts(self) -> dict[str, int]:
        """The teacher's counters, the tasks leased to clients (prefetched, not handed out) and the tasks of gone
        clients waiting to be handed out again."""
        return {"n_observed": self.teacher.n_observed, "n_proposed": self.teacher.n_proposed,
                "n_leased": sum(len(v) for v in self._leases.values()), "n_returned": len(self._returned)}

    def _checkpointed(self) -> Teacher:
        """The teacher as a checkpoint holds it: with every task not handed out (those of gone clients waiting to be
        handed out again, and those leased to clients) given back to it (``give_back``: a level teacher's, on a
        copy, so this actor is unchanged). A run resumed from the checkpoint has none of them (leases live in the
        actor only), and a level teacher would wait for their scores forever, crediting a later score of the
        level to one of them (its kind: new or replay, training or evaluation). Without ``give_back`` (teachers
        that keep no proposals waiting) the teacher as it is: the resumed run proposes afresh."""
        items = self._returned + [item for lease in self._leases.values() for item in lease]
        if not items or not callable(getattr(self.teacher, "give_back", None)):
            return self.teacher
        copy = loads(self.teacher.to_bytes(), live=True)
        copy.give_back([t for t, _ in items], [dict(i) for _, i in items])
        return copy

    def to_bytes(self) -> bytes:
        """The teacher's checkpoint, with the tasks not handed out given back (see :meth:`_checkpointed`)."""
        return self._checkpointed().to_bytes()

    def save(self, path: str) -> str:
        """Save the teacher's checkpoint, with the tasks not handed out given back (see :meth:`_checkpointed`)."""
        return str(self._checkpointed().save(path))

    def beliefs(self) -> dict[str, Any]:
        return self.teacher.beliefs()


def start_teacher_actor(teacher: Teacher, *, name: str | None = None, namespace: str | None = None,
                        **actor_options: Any) -> Any:
    """Start a :class:`TeacherActor` holding a copy of ``teacher`` (Ray must be initialised).

    ``name`` makes it findable from any worker (``ray.get_actor(name)``);
    ``actor_options`` go to ``.options()`` (default ``num_cpus=0``, so it never
    takes a rollout worker's CPU). To resume, start it from a loaded teacher:
    ``start_teacher_actor(magister.load(path))``. ``max_restarts`` other than 0 (or None: Ray's default, 0) is
    refused: Ray would restart the actor from the teacher as it was at start, silently losing
    what it observed since. ``teacher``, ``name`` and ``namespace`` are checked before anything starts (a
    ``teacher`` that is not a magister teacher started an actor that died at once).
    """
    if not isinstance(teacher, Teacher):  # (an int has a to_bytes too: its actor died starting, the handle returned)
        raise SettingTypeError(f"start_teacher_actor needs a magister teacher (make_teacher(...), or "
                               f"magister.load(path) to resume), got {teacher!r:.80} ({type(teacher).__name__}); "
                               "nothing was started" + ("; for a copy of a served teacher, pass its to_local()"
                                                        if callable(getattr(teacher, "to_local", None)) else ""))
    name = _ray_name_setting("name", name, "the name workers find the actor by: RayTeacher(name)", "unnamed")
    namespace = _ray_name_setting("namespace", namespace, "the Ray namespace to start the actor in", "the job's own")
    restarts = actor_options.pop("max_restarts", None)
    if restarts is not None and not is_int(restarts):  # (Ray takes a Python int: "0" was told it would restart)
        raise SettingTypeError(f"max_restarts must be 0 or None (Ray's count of restarts, a whole number; a teacher "
                               f"actor is not restarted: leave it out), got {restarts!r:.80} ({type(restarts).__name__})")
    if restarts is not None and restarts != 0:  # Ray rebuilds a restarted actor from these same start-up bytes
        raise ConfigError(f"max_restarts={restarts!r}: a restarted teacher actor would start again from the "
                          "teacher as it was when started, losing every outcome observed since, without an "
                          "error; leave max_restarts at 0, save the teacher (RayTeacher.save) as you go, and "
                          "start a new actor from the saved one (start_teacher_actor(magister.load(path)))")
    if not ray.is_initialized():
        raise ConfigError("Ray is not initialised; call ray.init() (or ray.init(address=...)) first")
    opts = {"num_cpus": 0, **actor_options}
    if name is not None:
        opts["name"] = name
    if namespace is not None:
        opts["namespace"] = namespace
    return ray.remote(TeacherActor).options(**opts).remote(teacher.to_bytes())


_F = TypeVar("_F", bound=Callable[..., Any])


class TeacherActorDiedError(ConfigError, ActorDiedError):
    """A call of a :class:`RayTeacher` whose teacher actor died (killed, or its process or node failed): a
    :class:`~magister.errors.ConfigError` that says what happened and how to go on, and still Ray's
    ``ActorDiedError`` (a ``RayActorError``) with Ray's fields (``actor_id``...), for code that catches Ray's error.
    Ray's own error is its ``__cause__`` (for a ``flush`` that met a batch the teacher refused first, that refusal).
    Also raised by ``flush`` / ``close`` (and so by closing an env) when outcomes were lost with the actor."""

    def __init__(self, message: str, cause: RayActorError | None = None):
        RayActorError.__init__(self, getattr(cause, "actor_id", None), message,
                               bool(getattr(cause, "actor_init_failed", False)),
                               bool(getattr(cause, "preempted", False)))
        Exception.__init__(self, message)  # (args: the message alone, so a copy unpickles)


def _unwrapped(error: BaseException) -> BaseException:
    """An error of the actor (or of its teacher) as it was raised there: Ray hands it to the client inside its
    ``RayTaskError`` wrapper (a class of its own, ``RayTaskError(InvalidTaskError)``, whose message opens with Ray's
    header and the actor's traceback, whose ``args`` hold the error itself, and which does not pickle); the error
    it holds (``.cause``) is returned instead, with Ray's error as its ``__cause__`` (the traceback kept there), so
    the client raises a local teacher's error, class and words: a magister error, or a raw one (a ``ValueError`` of
    a teacher of one's own). Ray's own errors (an actor the actor called died) as they are."""
    cause = getattr(error, "cause", None) if isinstance(error, RayTaskError) else None
    if not isinstance(cause, Exception) or isinstance(cause, RayError):
        return error
    cause.__cause__ = error
    return cause


def _ray_get(ref: Any) -> Any:
    """``ray.get(ref)``, a refusal of the actor raised as it was raised there (see :func:`_unwrapped`)."""
    try:
        return ray.get(ref)
    except RayTaskError as e:
        refusal = _unwrapped(e)
        if refusal is e:
            raise
        raise refusal from e


def _get(ref: Any) -> Any:
    """``ray.get(ref)`` of a call of a client's actor; a dead actor raises :class:`TeacherActorDiedError`, a refusal
    of the actor the error it raised (see :func:`_unwrapped`)."""
    try:
        return _ray_get(ref)
    except ActorDiedError as e:
        if isinstance(e, TeacherActorDiedError):
            raise
        raise TeacherActorDiedError(
            f"the teacher actor of this RayTeacher died (killed with ray.kill(), or its process or node failed): "
            "this call reached nothing and changed nothing here, and an actor started since under the same name is "
            "another actor, which this client does not reach. Its teacher lives on as it was last saved "
            "(RayTeacher.save, actor.save): start a new actor from the saved teacher, unless one runs already "
            "(start_teacher_actor(magister.load(path), name=...)), and build a new RayTeacher on it "
            f"(RayTeacher(name)); outcomes this client still buffers are lost. Ray's error: {e}", e) from e


def _lost_error(lost: int, ray_error: RayActorError, refused: BaseException | None) -> ConfigError:
    """The error of a flush whose last ``lost`` outcomes never reached the actor (``ray_error``: Ray's error of a
    batch that did not complete; ``refused``: a batch the actor's teacher refused before, if any): a
    :class:`TeacherActorDiedError` when the actor died, else (Ray could not reach it; it may live on) a
    :class:`~magister.errors.ConfigError`. Both say how many were lost and how to go on."""
    also = (f"; before that, a batch the actor's teacher refused (nothing of it was recorded): {refused}"
            if refused is not None else "")
    if isinstance(ray_error, ActorDiedError):
        return TeacherActorDiedError(
            f"the teacher actor died before this client's last {lost} outcome(s) reached it; they are lost, with "
            "everything the actor observed since its teacher was last saved (RayTeacher.save, actor.save). To go "
            "on, start a new actor from the saved teacher, unless one runs already "
            "(start_teacher_actor(magister.load(path), name=...)), and build a new RayTeacher on it "
            f"(RayTeacher(name)){also}. Ray's error: {ray_error}", ray_error)
    return ConfigError(f"Ray could not reach the teacher actor before this client's last {lost} outcome(s) reached "
                       "it; this client does not send them again, so count them lost (the actor may have "
                       "recorded some). Save the teacher (RayTeacher.save) once it answers again, or start a new "
                       f"actor from the saved teacher (start_teacher_actor(magister.load(path), name=...)){also}. "
                       f"Ray's error: {ray_error}")


class _ClusterGone(ConfigError):
    """A copy of a :class:`RayTeacher` that cannot connect: the cluster it was pickled in does not answer."""


def _silent(address: str, timeout: float = 10.0) -> str | None:
    """Why nothing answers at the Ray cluster address ``address`` (``host:port``, its GCS; a TCP connection tried,
    ``timeout`` seconds at most), None when something does (or the address is not of that form: Ray reads it).
    ``ray.init(address=...)`` of a cluster that is gone retried for some 20 minutes before it failed."""
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except OSError as e:
        return str(e) or type(e).__name__


def _named_actor(name: str, namespace: str | None) -> Any:
    """The handle of the actor ``name`` (``ray.get_actor``), or a ``ConfigError`` saying why there is none: Ray not
    initialised (``ray.get_actor`` then started a new local Ray, which has no such actor, and failed with Ray's
    lookup error), or no actor of that name in that namespace (naming the ones there are). With ``RAY_ADDRESS`` set
    (a Ray job's script, ``ray job submit``) it connects to that cluster first, as Ray's own first call does there:
    that starts no Ray, and the client found its actor so before."""
    if not ray.is_initialized() and os.environ.get("RAY_ADDRESS"):
        try:
            ray.init()
        except ConnectionError as e:
            raise ConfigError(f"RayTeacher({name!r}): Ray is not initialised in this process and RAY_ADDRESS="
                              f"{os.environ['RAY_ADDRESS']!r} could not be reached ({e}); set it to the cluster's "
                              "address or call ray.init(address=...) first") from None
    if not ray.is_initialized():
        raise ConfigError(f"RayTeacher({name!r}): Ray is not initialised in this process; call ray.init() (in a "
                          "worker of another process, ray.init(address='auto') or the cluster's address) before "
                          "building the client, in the process or cluster where start_teacher_actor(teacher, "
                          f"name={name!r}) runs (nothing was started)")
    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError as e:
        try:  # the actors of the namespace searched (list_named_actors() alone lists this job's own)
            known = sorted(str(n) for n in ray.util.list_named_actors()) if namespace is None else sorted(
                str(a["name"]) for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == namespace)
        except Exception:  # noqa: BLE001 - (only for the message)
            known = []
        where = f"namespace {namespace!r}" if namespace is not None else "this job's namespace"
        raise ConfigError(f"RayTeacher({name!r}): no live actor named {name!r} in {where} (named actors there: "
                          f"{known[:10]}{' ...' if len(known) > 10 else ''}). Start it first with "
                          f"start_teacher_actor(teacher, name={name!r}); an actor started in another namespace is "
                          "found with RayTeacher(name, namespace=...); one that died must be started again from the "
                          f"saved teacher. Ray's error: {e}") from e


def _client_settings(prefetch: Any, flush_every: Any, namespace: Any) -> tuple[int, int, str | None]:
    """A :class:`RayTeacher`'s ``prefetch``, ``flush_every`` and ``namespace``, checked (also by
    :func:`rllib_callback`, before any env runner builds a client with them). A ``prefetch`` past ``MAX_PROPOSE``
    was taken, and every refill asked the actor for more tasks than a teacher draws at once: its first ``propose``
    was refused there, naming a ``k`` the user never passed."""
    prefetch = whole("prefetch", prefetch)
    if prefetch > MAX_PROPOSE:
        raise ConfigError(f"prefetch must be at most {MAX_PROPOSE:,} (the most tasks a teacher proposes at once), got "
                          f"{prefetch:,}; a few times the tasks a worker uses between two refills is plenty")
    return (prefetch, whole("flush_every", flush_every),
            _ray_name_setting("namespace", namespace, "the Ray namespace the actor was started in", "the job's own"))


def _locked(method: _F) -> _F:
    """``method`` of a :class:`RayTeacher`, run holding the client's lock: threads sharing one client take turns
    (its buffers of tasks and outcomes, its batch numbers and its count of tasks handed out are one state). Not in a
    process that inherited the client through ``fork()``: a thread of the parent may have held the lock then, and
    never releases it there; every call there raises or does nothing (see ``_check_process``)."""

    @functools.wraps(method)
    def locked(self: RayTeacher, *args: Any, **kwargs: Any) -> Any:
        if self._forked():
            return method(self, *args, **kwargs)
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_F, locked)


class RayTeacher:
    """Worker-side handle on a :class:`TeacherActor` with a task prefetch buffer and batched reports.

    Args:
        actor: the actor handle, or its name (looked up with ``ray.get_actor``); built from a name, a copy
            pickled into a process without a Ray connection finds the actor there (see below).
        prefetch: tasks fetched per request; a refill is requested in the
            background when the buffer falls to half of it.
        flush_every: outcomes buffered before they are sent (``flush()`` sends
            the rest; ``close()`` and ``save()`` flush too).
        name: a stable id of this worker (e.g. its index): a text or a whole
            number (3 and '3' differ), unique among the live workers: a client
            started later with the same name replaces this one, and the tasks
            this one prefetched but never handed out go to the next proposals.

    Call :meth:`close` when the worker stops: its prefetched tasks go back to
    the actor for other workers (for a worker that died, the driver calls
    ``actor.release.remote(client_id)`` or ``actor.release.remote(name=...)``;
    a released client leases no more tasks, and a client or name the actor
    never saw is refused, unless ``missing_ok=True``).

    In env worker processes (an ``env_fn`` closing over the client, in
    ``AsyncVectorEnv(env_fns, context="spawn")`` or ``"forkserver"``, or SB3's
    ``SubprocVecEnv``) each worker gets a copy, a client of its own; in a worker
    without a Ray connection the copy connects at its first use, to the cluster
    and namespace of the process that pickled it, and looks the actor up by
    name (a copy of a client built from a bare handle is refused there, saying
    so). A client used in a process that inherited it through ``fork()``
    (``AsyncVectorEnv``'s default on Linux) raises a ``ConfigError``: Ray does
    not survive a fork, and its calls would hang.

    Threads may share one client (a thread pool of env runners, a web server's request threads): its calls take
    turns on one lock (a call that waits for the actor, e.g. a refill or a ``flush``, holds it meanwhile). A copy gets a
    lock of its own.
    """

    _taken = 0  # tasks handed out from the buffer, in all (the actor's lease of this client is settled with it)
    _copy = False  # a pickled copy (a client of its own): CurriculumWrapper.close() closes it
    _pid: int | None = None  # the process that built or unpickled this client (None: not checked)
    _actor: Any = None  # the actor's handle (None in a copy not connected yet: see _connect)
    _remote: dict[str, Any] | None = None  # how a copy reaches the actor: the handle pickled, name, namespace, cluster
    _actor_name: str | None = None
    _namespace: str | None = None
    _key: Any = None  # teacher_key()
    _node: _Connection | None = None  # the Ray connection this process reached the actor through (see _gone)

    def __init__(self, actor: Any, *, prefetch: int = 32, flush_every: int = 32, namespace: str | None = None,
                 name: str | int | None = None):
        # every setting checked before the actor is looked up or called
        self.prefetch, self.flush_every, namespace = _client_settings(prefetch, flush_every, namespace)
        name = _client_name_setting(name)
        self._lock = threading.RLock()  # see _locked
        self._pid = os.getpid()
        # how a copy in a process without a Ray connection (a spawned AsyncVectorEnv worker) finds the actor
        self._actor_name, self._namespace = (actor, namespace) if isinstance(actor, str) else (None, None)
        if isinstance(actor, str):
            actor = _named_actor(actor, namespace)
        elif not hasattr(actor, "info"):  # (it failed with "'int' object has no attribute 'info'")
            raise ConfigError(f"RayTeacher needs the teacher actor's name or its handle (what start_teacher_actor "
                              f"returns), got {actor!r}")
        self.actor = actor
        self._key = self._key_of(actor)
        info = _get(actor.info.remote())
        self.space = space_from_spec(info["space"])
        if info.get("opponent_pool") is not None:  # (an actor of an older magister sends no such key)
            self.space.opponent_pool = info["opponent_pool"]
        self.score_range = ScoreRange.coerce(info["score_range"])
        self.client_id = uuid.uuid4().hex
        self.name = name
        _get(actor.connect.remote(self.client_id, name))
        self._seq = 0
        self._taken = 0
        self._tasks: list[tuple[Any, dict[str, Any]]] = []
        self._pending: Any = None
        self._out_tasks: list[Any] = []
        self._out_scores: list[float] = []
        self._inflight: list[tuple[Any, int]] = []  # batches sent, not known applied: (reference, outcomes)
        self.n_sent = 0

    @property
    @_locked
    def actor(self) -> Any:
        """The actor's handle. A copy unpickled in a process without a Ray connection (a spawned or forkserver
        ``AsyncVectorEnv`` worker) connects at its first use: to the cluster and namespace of the process that
        pickled it, where it looks the actor up by name. Used in a process that inherited it through ``fork()``, it
        raises (Ray does not survive a fork: its calls would hang)."""
        self._check_process()
        if self._actor is None and self._remote is not None:
            self.actor = self._connect()
        self._check_reachable()  # a call on the handle now would start a new local Ray (after a shutdown) or fail raw
        return self._actor

    @actor.setter
    def actor(self, handle: Any) -> None:
        self._actor, self._node = handle, _Connection() if ray.is_initialized() else None

    def _check_reachable(self) -> None:
        gone = self._gone()
        if gone is not None:
            raise ConfigError(gone)

    def _gone(self) -> str | None:
        """Why this client's actor cannot be reached from this process any more (None: it can, or no handle yet):
        Ray was shut down since the client reached it, or shut down and started again (a new local cluster, which
        has no such actor). Every call on the handle then started a new local Ray with all the machine's CPUs
        (the user's own ``ray.init(...)`` then failed as a second one) and raised Ray's raw "Can't find actor"."""
        if self._actor is None:
            return None
        if not ray.is_initialized():
            how, what = "Ray was shut down (ray.shutdown())", "nothing (this call started no new Ray)"
        elif self._node is not None and not self._node.lasts():
            how, what = "Ray was shut down and started again (a new cluster, without that actor)", "it no more"
        else:
            return None
        return (f"{how} after this RayTeacher reached its teacher actor: the actor and its leases are gone, and this "
                f"client can reach {what}. Flush or close the client (or save the teacher) "
                "before ray.shutdown(); to go on, ray.init(...), start a new actor from the saved teacher "
                "(start_teacher_actor(magister.load(path), name=...)) and build a new RayTeacher")

    def _forked(self) -> bool:
        # also a copy unpickled in a forked process (sent to a fork-started Pool worker): its pid is that
        # process's, but the Ray connection there is the parent's, and the copy's calls hung
        return (self._pid is not None and self._pid != os.getpid()) or _ray_inherited()

    def _check_process(self) -> None:
        if not self._forked():  # (one check on the way of every call: the usual answer first)
            return
        if self._pid == os.getpid():
            raise ConfigError(
                f"this RayTeacher is used in process {os.getpid()}, which was forked from a process connected to "
                "Ray (e.g. a worker of multiprocessing.Pool() or of AsyncVectorEnv(env_fns), whose default start "
                "method on Linux is 'fork'), and it was sent there as a copy: Ray does not survive a fork, and the "
                "client's calls would hang. Start the workers with the 'spawn' or 'forkserver' context "
                "(multiprocessing.get_context('spawn').Pool(), AsyncVectorEnv(env_fns, context='spawn')): a copy "
                "there connects to the cluster itself when the client was built from the actor's name "
                "(RayTeacher('name'))")
        raise ConfigError(
            f"this RayTeacher was built in process {self._pid} and is used in process {os.getpid()}, which "
            "inherited it through fork() (e.g. a worker of AsyncVectorEnv(env_fns), whose default context on "
            "Linux is 'fork', or of SubprocVecEnv(env_fns, start_method='fork')): Ray does not survive a fork, "
            "and the client's calls would hang. Start the workers with AsyncVectorEnv(env_fns, "
            "context='spawn') (or 'forkserver'; SubprocVecEnv's default): each gets a copy of the client, which "
            "connects to the cluster itself when the client was built from the actor's name "
            "(RayTeacher('name')); or use CurriculumVectorEnv(env_fns, teacher, vectorization='async'), which "
            "keeps the teacher in the main process")

    def _connect(self) -> Any:
        """The actor's handle, for a copy unpickled in a process that had no Ray connection then."""
        remote = self._remote
        assert remote is not None
        if ray.is_initialized():  # connected since (e.g. the worker's own ray.init(address=...))
            return pickle.loads(remote["handle"])
        if remote["name"] is None:
            raise ConfigError(
                "this RayTeacher is a copy unpickled in a process without a Ray connection (e.g. a worker of "
                "AsyncVectorEnv(env_fns, context='spawn')), and the client it was copied from was built from an "
                "actor handle, which such a process cannot look up. Build the client from the actor's name: "
                "start_teacher_actor(teacher, name='teacher') and RayTeacher('teacher') (the copy then connects "
                "to the cluster and finds the actor by name), or call ray.init(address=...) in the worker first")
        if remote["address"] is None:
            raise ConfigError(f"this RayTeacher copy of actor {remote['name']!r} was pickled without a Ray "
                              "connection, so it does not know the cluster; call ray.init(address=...) in this "
                              "process first")
        silent = _silent(remote["address"])
        if silent is not None:  # (ray.init waited for it some 20 minutes, retrying, before it failed)
            raise _ClusterGone(f"this RayTeacher copy of actor {remote['name']!r} connects at its first use to the Ray "
                              f"cluster of the process that pickled it, at {remote['address']}, and nothing answers "
                              f"there ({silent}): that cluster was shut down (ray.shutdown() in that process, or the "
                              "cluster stopped) after the client was pickled. Nothing was sent, and nothing started. "
                              "Use the copies while their cluster runs (close them before ray.shutdown()); to go on, "
                              "start a new actor from the saved teacher (start_teacher_actor(magister.load(path), "
                              "name=...)) and pickle a new RayTeacher of it, or call ray.init(address=...) here first")
        ray.init(address=remote["address"], namespace=remote["namespace"], log_to_driver=False,
                 logging_level=logging.WARNING)
        return ray.get_actor(remote["name"], namespace=remote["namespace"])

    @staticmethod
    def _key_of(handle: Any) -> Any:
        try:
            return ("ray-actor", handle._actor_id.binary())
        except AttributeError:
            return None

    @_locked
    def teacher_key(self) -> Any:
        """The actor's id: equal for every client of one actor (this client, a copy of it, one looked up by name:
        Ray makes a new handle object for each), see :func:`~magister.rl.wrapper.same_teacher`; None on a Ray
        whose handles do not show it (then only the same client object counts as the same teacher)."""
        if self._key is None and self._actor is not None:
            self._key = self._key_of(self._actor)
        return self._key

    def __getstate__(self) -> dict[str, Any]:
        # a copy (an env_fn closing over the client, pickled into each vector-env worker) is a client of its own:
        # with the same client_id the actor skipped its batches as ones already applied (numbered like the
        # original's) and mixed up the leases. It starts empty: buffered tasks and outcomes stay with the original
        # (copied, they were handed out or sent twice), and without the original's name (it would replace it; nor a
        # name derived from it: one pickle is often loaded in many workers, e.g. Ray's env creator in every env
        # runner, whose copies would then replace each other). A worker names its copy with take_name()
        # The handle travels pickled inside, with the actor's name, namespace and cluster: a process with no Ray
        # connection (a spawned AsyncVectorEnv worker) cannot unpickle a handle, and connects at first use instead
        state = dict(self.__dict__)
        state.pop("_lock", None)  # (a lock does not pickle; the copy gets its own)
        state.update(client_id=None, name=None, _seq=0, _taken=0, _tasks=[], _pending=None, _out_tasks=[],
                     _out_scores=[], _inflight=[], n_sent=0, _actor=None, _node=None, _pid=None,
                     _remote=self._remote_state())
        return state

    def _remote_state(self) -> dict[str, Any]:
        if self._actor is None and self._remote is not None:  # a copy not connected yet, copied again
            return self._remote
        self._check_process()
        namespace, address = self._namespace, None
        if self._actor_name is not None and ray.is_initialized():
            context = ray.get_runtime_context()
            namespace = namespace if namespace is not None else context.namespace
            address = context.gcs_address
        return {"handle": pickle.dumps(self._actor), "name": self._actor_name, "namespace": namespace,
                "address": address}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._pid = os.getpid()
        # a process connected to Ray: the handle as it was (not in a forked process: its connection is the parent's)
        if self._remote is not None and ray.is_initialized() and not _ray_inherited():
            self.actor = pickle.loads(self._remote["handle"])
        if self.client_id is None:
            self.client_id = uuid.uuid4().hex
            self._copy = True

    @_locked
    def take_name(self, name: Any) -> int:
        """Give this client a ``name`` (a copy pickled into a worker has none; name it there with something the
        driver knows, e.g. the worker's index): the driver can then release it by that name if its worker dies
        (``actor.release.remote(name=...)``), and a client started later with that name replaces it. The client
        that held the name before is replaced (the tasks still leased to it go to the next proposals); returns
        how many went back. A client that has another name already is refused."""
        if name is None:
            raise ConfigError("take_name(None): give the name the driver will release this client by")
        name = _client_name_setting(name)  # (before anything is sent)
        if self.name is not None and self.name != name:
            raise ConfigError(f"this client is named {self.name!r} already (the actor knows it by that name); "
                              f"start a new RayTeacher(..., name={name!r}) instead of renaming it")
        n = int(_get(self.actor.connect.remote(self.client_id, name)))
        self.name = name
        return n

    # ------------------------------------------------------------ propose
    def _take(self, ref: Any) -> None:
        tasks, infos = _get(ref)
        self._tasks.extend(zip(list(tasks), infos))

    @_locked
    def propose_with_info(self, k: int | None = None) -> tuple[Any, Any]:
        """``k`` tasks and their proposal infos (``info["train"]`` False: evaluate only), from the buffer; as a
        local teacher's, ``(task, info)`` for ``k=None`` (the default), else ``(tasks, infos)``."""
        # checked before the buffer is touched (a negative k sliced tasks off the buffer and dropped them), as a
        # local teacher checks it (np.array(2) was taken, and a bad k refused in other words)
        m = 1 if k is None else proposal_count(k)
        self._check_process()  # (in a forked process the buffer is the parent's: its tasks would be handed out twice)
        self._check_reachable()  # (before the buffer is touched: tasks of an actor that is gone were never scored)
        while len(self._tasks) < m:
            if self._pending is None:
                self._pending = self._request(max(self.prefetch, m - len(self._tasks)))
            ref, self._pending = self._pending, None
            self._take(ref)
        out, self._tasks = self._tasks[:m], self._tasks[m:]
        self._taken += m
        if self._pending is None and len(self._tasks) <= self.prefetch // 2:
            self._pending = self._request(self.prefetch)
        if k is None:  # (refused as "must be a whole number >= 1, got None", and a TypeError without k)
            return out[0][0], dict(out[0][1])
        return [t for t, _ in out], [dict(i) for _, i in out]

    def _request(self, k: int) -> Any:
        return self.actor.propose_with_info.remote(k, self.client_id, self._taken)

    def propose(self, k: int | None = None) -> Any:
        """One task (or ``k``), from the local buffer when possible (their infos are dropped)."""
        out, _ = self.propose_with_info(1 if k is None else k)
        if k is None:
            return cast(list, out)[0]
        return np.asarray(out) if isinstance(out[0], np.ndarray) else out

    # ------------------------------------------------------------ observe
    @_locked
    def observe(self, task: Any, score: ScoreLike) -> None:
        """Buffer one outcome, checked here as a local teacher's ``observe`` checks it (the same errors), so a bad
        one raises at once and is not kept."""
        self._check_process()
        self._check_reachable()  # (nothing buffered that could never be sent)
        valid, _ = checked_outcome(self.space, self.score_range, task, score)  # (the actor normalises the score)
        self._buffer([valid], np.atleast_1d(np.asarray(score, dtype=float)))

    @_locked
    def observe_batch(self, tasks: Sequence[Any] | np.ndarray, scores: Sequence[ScoreLike] | ArrayLike) -> None:
        """Buffer several outcomes, all checked here first as a local teacher's ``observe_batch`` checks them (the
        same errors, in the same order: scores, tasks, then their counts), so a bad batch raises at once and
        nothing of it is kept."""
        self._check_process()
        self._check_reachable()  # (nothing buffered that could never be sent)
        raw = materialised(scores)  # a generator too, as a local teacher takes it
        # (read as an array first, a masked score was recorded as the value it hid, and a set or a dict, or text,
        # was refused in other words than a local teacher's; the actor normalises the scores)
        valid, _ = checked_outcomes(self.space, self.score_range, tasks, raw)
        self._buffer(list(valid), np.atleast_1d(np.asarray(raw, dtype=float)))

    def _buffer(self, tasks: list[Any], scores: np.ndarray) -> None:
        self._out_tasks.extend(tasks)
        self._out_scores.extend(scores.astype(float).tolist())
        if len(self._out_scores) >= self.flush_every:
            self._send()

    def _send(self) -> None:
        if not self._out_scores:
            return
        tasks = np.asarray(self._out_tasks) if isinstance(self._out_tasks[0], np.ndarray) else self._out_tasks
        self._inflight.append((self.actor.observe_batch.remote(tasks, self._out_scores, self.client_id, self._seq,
                                                             self._taken), len(self._out_scores)))
        self.n_sent += len(self._out_scores)
        self._seq += 1
        self._out_tasks, self._out_scores = [], []
        if len(self._inflight) > 8:  # bound memory; surfaces actor-side errors
            # forgotten before waiting: a batch the actor refused raises once, here, and not again at every later
            # flush (which kept save() and close() failing for good on one refused batch)
            done, self._inflight = self._inflight[:-8], self._inflight[-8:]
            self._wait(done)

    def _wait(self, sent: list[tuple[Any, int]]) -> None:
        """Wait for the batches ``sent`` (already forgotten). A batch the actor refused raises its own error (once);
        a dead actor raises a :class:`TeacherActorDiedError` naming the outcomes lost, those of the batches still in
        flight too (they cannot reach it either: forgotten with these, so it is said once)."""
        try:
            _ray_get([ref for ref, _ in sent])
        except Exception:  # noqa: BLE001 - which batches failed, and how: each one's own error, since the
            # first error hid the others (a batch refused before the actor died hid the outcomes lost with it)
            failures = [(_failure(ref), n) for ref, n in sent]
            refused = next((e for e, _ in failures if e is not None and not isinstance(e, RayActorError)), None)
            lost = sum(n for e, n in failures if isinstance(e, RayActorError))
            if not lost:
                raise  # a refused batch: its own error, as it came (once: the batch is forgotten)
            rest, self._inflight = self._inflight, []
            failures += [(_failure(ref), n) for ref, n in rest]
            lost = sum(n for e, n in failures if isinstance(e, RayActorError))
            ray_error = next(e for e, _ in failures if isinstance(e, RayActorError))
            raise _lost_error(lost, ray_error, refused) from (refused if refused is not None else ray_error)

    @_locked
    def flush(self) -> None:
        """Send buffered outcomes and wait until the actor has applied all of them.

        A batch the actor refused (its teacher raised; nothing of that batch was recorded) raises here once;
        the batches after it are still applied, and the next ``flush`` / ``save`` goes on from there.
        After ``ray.shutdown()`` (or a shutdown and a new ``ray.init()``) it sends nothing (a call would start a new
        local Ray, or reach one, that has no such actor; the client's other calls raise a ``ConfigError`` then):
        outcomes still buffered are lost, and said so, once. When the actor died, the outcomes that did not
        reach it are lost, and said so (a :class:`TeacherActorDiedError`, naming how many), once; with none lost
        it is quiet (an actor Ray could not reach, and may reach again, is a ``ConfigError`` saying so). A flush
        that meets both (a batch refused, then the actor dead) says both in that one error, whose ``__cause__`` is
        the refusal.
        In a process that inherited the client through ``fork()`` it does nothing (what it holds is the creating
        process's; any use there that would add to it raises)."""
        if self._forked():
            return
        if self._actor is None and self._remote is not None:  # a copy not connected yet
            if not self._out_scores:
                return
            try:
                self.actor = self._connect()  # (to the cluster the copy was made in)
            except _ClusterGone as e:  # they can reach no actor: lost, and said so once (as after ray.shutdown())
                lost = len(self._out_scores)
                self._out_tasks, self._out_scores = [], []
                raise ConfigError(f"{e}. The {lost} outcome(s) this copy buffered are lost") from None
        if not ray.is_initialized() or self._gone() is not None:
            lost = len(self._out_scores)
            self._out_tasks, self._out_scores, self._inflight = [], [], []
            if lost:
                raise ConfigError(f"Ray was shut down before this client sent its last {lost} outcome(s); they are "
                                  "lost. Flush or close the client (or close the env wrapping it) before "
                                  "ray.shutdown()")
            return
        self._send()
        sent, self._inflight = self._inflight, []
        if sent:
            self._wait(sent)

    @_locked
    def save(self, path: str) -> str:
        self.flush()
        return _get(self.actor.save.remote(str(path)))

    @_locked
    def state_bytes(self) -> bytes:
        self.flush()
        return _get(self.actor.to_bytes.remote())

    @_locked
    def drop_pending(self) -> int:
        """The actor's :meth:`TeacherActor.drop_pending`, after a :meth:`flush` (the outcomes buffered here answer
        their proposals first): every proposal of its level teacher waiting for a score is given back; returns how
        many (0 for a teacher that keeps none). Call it once, on a client of an actor started from a saved teacher in
        a new run, before any client proposes (``start_teacher_actor(magister.load(path), name=...)``, then
        ``RayTeacher(name).drop_pending()``), as a local level teacher's ``drop_pending`` on the loaded teacher."""
        self.flush()
        return int(_get(self.actor.drop_pending.remote()))

    @_locked
    def give_back(self, tasks: Sequence[Any], infos: Sequence[dict[str, Any]] | None = None) -> int:
        """Tasks this client handed out that will never be scored (see :meth:`TeacherActor.give_back`): the actor
        hands them out again, with their ``infos`` (default ``{"train": True}``), before any new proposal. Returns
        how many it queued (after a release by the driver, not those the release re-issued already); 0 (and nothing sent) after ``ray.shutdown()`` or with the actor dead (its teacher is gone)."""
        self._check_process()
        # checked here, so a bad one raises at once in this worker (the actor checks them again)
        tasks, infos = _checked_give_back(self.space, tasks, infos)
        if not tasks or not ray.is_initialized() or self._gone() is not None:
            return 0
        try:  # with this client's count of tasks handed out: the actor settles its lease first
            return int(_ray_get(self.actor.give_back.remote(self.client_id, tasks, infos, self._taken)))
        except RayActorError:
            return 0

    @_locked
    def close(self) -> None:
        """Send what is buffered, and give the prefetched tasks not handed out back to the actor, which hands
        them to the next proposals (the buffer is emptied; a later ``propose`` fetches anew, even after a
        release by the driver). With the actor dead it is quiet unless outcomes were lost (see :meth:`flush`).
        In a process that inherited the client through ``fork()`` it does nothing (see :meth:`flush`)."""
        if self._forked():
            return
        try:
            self.flush()
        finally:  # a refused batch (raised once by flush) keeps no task from going back
            # the dropped buffer (and refill) counts as handed out, as the actor counts the tasks it released;
            # the actor's count, not this one plus the tasks released now: after a release by the driver, what
            # the buffer still held of the released lease is dropped too (those tasks counted at that release)
            # (after ray.shutdown() the actor and its leases are gone; a copy never connected leased nothing)
            if ray.is_initialized() and self._actor is not None and self._gone() is None:
                try:
                    released = self.actor.leave.remote(self.client_id, self._taken)
                    taken = self.actor.handed_out.remote(self.client_id)
                    _ray_get(released)
                    self._taken = int(_ray_get(taken))
                except RayActorError:  # the actor died, and its leases with it: nothing to give back either
                    pass
            self._tasks, self._pending = [], None


def _checked_give_back(space: Any, tasks: Any, infos: Any) -> tuple[list[Any], list[dict]]:
    """``tasks`` (each validated in ``space``) and ``infos`` (each a dict; ``{"train": True}`` for none) for
    ``give_back``, or the error a local level teacher's ``give_back`` raises: a task outside the space would be
    handed out to another worker, whose wrapper refuses it there. (``list(tasks)`` took a text as one task per
    character, a dict as its keys, and raised Python's raw ``TypeError`` for a number.)"""
    if isinstance(infos, Iterable) and not isinstance(infos, (str, bytes, Mapping)):
        infos = [dict(i) if isinstance(i, Mapping) else i for i in infos]  # (any mapping, as before)
    tasks, infos = given_back(space, tasks, infos)
    return tasks, [{"train": True} if i is None else dict(i) for i in infos]


def _failure(ref: Any) -> BaseException | None:
    """The error of the call of ``ref``: a ``RayActorError`` when it never completed because its actor died, the
    actor's own error when it refused the call (it completed, recording nothing: the error it raised, see
    :func:`_unwrapped`), None when it succeeded."""
    try:
        _ray_get(ref)
    except Exception as e:  # noqa: BLE001
        return e
    return None


def find_curriculum_wrapper(env: Any, env_index: int = 0) -> Any:
    """The :class:`~magister.rl.wrapper.CurriculumWrapper` of sub-env ``env_index`` of a (sync) vector env, or of a single env."""
    from .wrapper import CurriculumWrapper

    sub = env.envs[env_index] if hasattr(env, "envs") else env
    while sub is not None:
        if isinstance(sub, CurriculumWrapper):
            return sub
        sub = getattr(sub, "env", None)
    raise ConfigError(
        "no CurriculumWrapper found in the sub-env; build the env as CurriculumWrapper(env, None, ...) "
        "and use RLlib's synchronous vectorisation (the default)"
    )


def _client_name(run: str, worker_index: int, evaluation: bool, trial_id: Any) -> str:
    """The ``name`` of the :class:`RayTeacher` of an RLlib env runner: stable across a restart of that runner
    (Ray restarts it with the same worker index), distinct between training and evaluation runners (their worker
    indices overlap), between Tune trials, and between callback classes (``run``: one per
    :func:`rllib_callback` call)."""
    return f"rllib/{run}/{trial_id}/{'evaluation' if evaluation else 'training'}/{int(worker_index)}"


def _trial_of(env_runner: Any) -> str:
    """The Tune trial part of an RLlib env runner's client name. A ``SingleAgentEnvRunner`` keeps its trial id
    (None outside Tune: ``"default"``); a ``MultiAgentEnvRunner`` drops it (RLlib 2.x), so there the trial's
    placement group stands for it (``"pg-<placement group id>"``: Tune runs each trial's env runners in the trial's
    own group, and a restarted runner in the same one); outside any placement group, ``"default"``."""
    if hasattr(env_runner, "tune_trial_id"):
        return env_runner.tune_trial_id or "default"
    if env_runner is None or getattr(env_runner, "worker_index", None) is None:
        return "default"
    group = ray.util.get_current_placement_group()
    return "default" if group is None else f"pg-{group.id.hex()}"


def _call_factory(factory: Any, name: str | None) -> Any:
    """``factory(name=name)`` when it takes a ``name`` (or ``**kwargs``), else ``factory()``."""
    import inspect

    params: list[inspect.Parameter] = []
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        pass
    takes = any(p.kind is p.VAR_KEYWORD or (p.name == "name" and p.kind is not p.POSITIONAL_ONLY
                                            and p.kind is not p.VAR_POSITIONAL) for p in params)
    return factory(name=name) if takes else factory()


def rllib_callback(actor_name: str = "magister-teacher", *, namespace: str | None = None, prefetch: int = 32,
                   flush_every: int = 32, client_factory: Any = None) -> type:
    """An RLlib callback class (new API stack) driving each sub-env's ``CurriculumWrapper``.

    ``config.callbacks(rllib_callback("magister-teacher"))``. On
    ``on_episode_created`` (before RLlib resets the sub-env) it pushes a task
    from the shared teacher into the wrapper; on ``on_episode_end`` it reports
    the wrapper's score; on ``on_sample_end`` (the end of every sampling round,
    training or evaluation) it flushes, so no outcome waits past its round.
    ``client_factory`` (a function returning a teacher-like object, a new one
    at each call) replaces the Ray client, e.g. in tests: it is called with
    ``name=`` the runner's client name when it takes a ``name`` (an unnamed
    :class:`RayTeacher` it returns takes that name), and what it returns is
    closed with the runner's env when it has a ``close()``, as the default
    client is (a runner that goes on, its env re-made after a failure, calls
    the factory again).

    Each env runner has one :class:`RayTeacher`, named after the runner
    (``rllib/<run>/<Tune trial>/<training|evaluation>/<worker index>``): a
    runner that Ray restarts after a failure starts a client of the same name,
    and the tasks the dead runner had prefetched go to the next proposals; evaluation runners, whose worker
    indices are the training runners' too, are named apart. When RLlib stops a
    runner (``algo.stop()`` stops each runner, which closes its env) the
    wrappers give the client back the tasks that will never be scored (each
    running episode's, and the one pushed for each sub-env's next episode),
    then close it: those and its prefetched tasks go back to the actor, which
    hands them out again before any new proposal. A new episode that RLlib
    creates before the last one ended (a forced reset, e.g. each evaluation
    round) gives that episode's task back the same way.
    Two algorithms sharing one actor need each its own ``rllib_callback(...)``
    class (Tune trials are told apart by their trial id: a
    ``MultiAgentEnvRunner``, which does not keep it, by its placement group,
    ``trial_id="pg-<placement group id>"``). A runner that dies
    and is not restarted keeps its tasks leased (RLlib has no hook for it):
    release them from the driver with ``actor.release.remote(name=
    cls.client_name(i), missing_ok=True)``.
    ``actor_name`` (the name the actor was started with, or its handle), ``namespace``, ``prefetch`` and
    ``flush_every`` are checked here, where the config is written (an env runner builds its client only at its first
    episode, in a worker process).
    """
    from ray.rllib.callbacks.callbacks import RLlibCallback

    # checked here, where the config is written: an env runner builds its client (and refused them) only at its
    # first episode, in a worker process
    prefetch, flush_every, namespace = _client_settings(prefetch, flush_every, namespace)
    # the actor's name (3 was taken, and each env runner failed building its client), or its handle (RayTeacher
    # takes one); None only with a client_factory, which makes the clients (actor_name unused)
    what = "the name the teacher actor was started with: start_teacher_actor(teacher, name=...); or the actor's handle"
    if actor_name is None and client_factory is None:
        raise SettingTypeError(f"actor_name must be a non-empty text ({what}), got None; None goes only with a "
                               "client_factory, which makes the clients")
    if actor_name is not None and not hasattr(actor_name, "info"):
        _ray_name_setting("actor_name", actor_name, what, "only with a client_factory, which makes the clients")
    run = uuid.uuid4().hex[:12]  # this class's runners: its clients' names (the class travels pickled, run with it)

    class MagisterCallback(RLlibCallback):
        def __init__(self) -> None:
            super().__init__()
            self._client: Any = None
            # per env index, the outcome last reported (the wrapper's last_outcome object, new at each episode
            # end): not its episode count, which starts from 0 again in the new wrappers of a runner that re-makes
            # its env (RLlib's make_env after a failure), whose first episodes were then skipped as repeats
            self._reported: dict[int, Any] = {}
            self._fed: list[Any] = []  # the wrappers the client feeds (and that close it with their env)

        @staticmethod
        def client_name(worker_index: int, *, evaluation: bool = False, trial_id: Any = "default") -> str:
            """The name of the client of env runner ``worker_index`` (an evaluation runner's with
            ``evaluation=True``; ``trial_id``: the Tune trial's, ``"default"`` outside Tune; for a
            ``MultiAgentEnvRunner`` under Tune ``"pg-" + `` the hex id of the trial's placement group)."""
            return _client_name(run, worker_index, evaluation, trial_id)

        @property
        def client(self) -> Any:
            return self._client_of(None)

        def _client_of(self, env_runner: Any) -> Any:
            if self._client is None:
                index = getattr(env_runner, "worker_index", None)  # no runner (a direct call): no name
                name = None if index is None else self.client_name(
                    index, evaluation=bool(getattr(getattr(env_runner, "config", None), "in_evaluation", False)),
                    trial_id=_trial_of(env_runner))
                if client_factory is None:
                    self._client = RayTeacher(actor_name, namespace=namespace, prefetch=prefetch,
                                              flush_every=flush_every, name=name)
                else:  # named as the default client is: given name= if it takes it, an unnamed RayTeacher takes it
                    self._client = _call_factory(client_factory, name)
                    if name is not None and isinstance(self._client, RayTeacher) and self._client.name is None:
                        self._client.take_name(name)
            return self._client

        def on_episode_created(self, *, env=None, env_index: int = 0, env_runner=None, **kwargs: Any) -> None:
            wrapper = find_curriculum_wrapper(env, env_index)
            from .wrapper import give_back_unscored, propose_with_info

            if client_factory is not None and any(w.feeder is None for w in self._fed):
                # the factory's client was closed with its env and the runner goes on (RLlib re-made its env after
                # a failure): a new one, as the factory makes one at each call (a closed HTTPTeacher sends nothing)
                self._client, self._fed = None, []
            client = self._client_of(env_runner)
            # a new episode before the last one ended or the pushed one started (RLlib's forced reset, e.g. each
            # evaluation round, or its reset after a failed step): those tasks are never scored, and go back
            give_back_unscored(wrapper, client)
            if callable(getattr(client, "close", None)):  # this runner's own client (the factory's too): closed with
                wrapper.feeder = client  # its env (RLlib's stop of the runner)
                if not any(w is wrapper for w in self._fed):
                    self._fed.append(wrapper)
            tasks, infos = propose_with_info(client, 1)
            wrapper.push_task(tasks[0], infos[0])

        def on_episode_start(self, *, episode=None, env=None, env_index: int = 0, **kwargs: Any) -> None:
            if episode is not None and hasattr(episode, "custom_data"):
                wrapper = find_curriculum_wrapper(env, env_index)
                episode.custom_data["magister_task"] = wrapper.task
                episode.custom_data["magister_train"] = bool(wrapper.task_info.get("train", True))

        def on_episode_end(self, *, env=None, env_index: int = 0, metrics_logger=None, env_runner=None,
                           **kwargs: Any) -> None:
            wrapper = find_curriculum_wrapper(env, env_index)
            if wrapper.last_outcome is None or self._reported.get(env_index) is wrapper.last_outcome:
                return
            self._reported[env_index] = wrapper.last_outcome
            task, score = wrapper.last_outcome
            self._client_of(env_runner).observe(task, score)
            if metrics_logger is not None:
                metrics_logger.log_value("magister/score", float(score), reduce="mean")

        def on_sample_end(self, **kwargs: Any) -> None:
            if self._client is not None and hasattr(self._client, "flush"):
                self._client.flush()

    MagisterCallback.__name__ = MagisterCallback.__qualname__ = "MagisterCallback"
    return MagisterCallback


def __getattr__(name: str) -> Any:
    if name == "RemoteTeacher":  # the old name, shared by the HTTP client and the Ray handle
        import warnings

        warnings.warn("magister.rl.ray.RemoteTeacher is now RayTeacher; the old name will be removed",
                      DeprecationWarning, stacklevel=2)
        return RayTeacher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
