"""An opponent pool: snapshots of a policy taken during training, on disk, each with its record.

A snapshot is whatever the user's framework saves (a ``state_dict`` serialised
to bytes, a checkpoint file, a numpy table); the pool stores it as an opaque
file and never looks inside. What it keeps in memory is only the index: one
:class:`~magister.opponents.records.Record` per member (the learner's games,
wins, draws and losses against it, an Elo rating, the snapshot's size and
SHA-256). Memory is thus bounded by ``max_size`` records, whatever the
snapshots weigh.

Layout of the pool's folder::

    pool.json             the index (settings, members and their records, counters, kept evicted ids)
    snapshots/000012.bin  one file per member, named by its id (and the last keep_evicted evicted or removed ones')
    pool.lock             empty; the writer locks it around each change (see "Sharing one pool" below)
    rewound/000031/       snapshots added after a state that OpponentPool.rewind went back to (000031-2/...
                          where an earlier rewind used that name)

Every change (a snapshot added or evicted, a game reported, ratings set) is
written to a temporary file, flushed and renamed over ``pool.json``, so a
crash leaves the old index or the new one, never a torn one; the in-memory
index changes only after the new one is on disk. A snapshot file is written
(atomically too) before the index names it (and deleted again if the index
cannot be written: an add that fails adds nothing), and an evicted file is deleted
only after the index no longer names it.

Exact resume: :meth:`OpponentPool.state` is the pool as a teacher checkpoint
holds it (members, records, ids handed out, the learner's rating, the
eviction generator), and :meth:`OpponentPool.rewind` puts the pool back to
such a state. For that the pool keeps the files of its last ``keep_evicted``
evicted or removed members (default 10), so the folder holds at most
``max_size + keep_evicted`` snapshots.

Ids are whole numbers handed out in order (0, 1, 2...) and never reused, so
an id names one snapshot for the pool's whole life; at most ``max_ids`` are
ever handed out (the opponent teachers keep a few numbers per id). When the
pool is full, adding a snapshot evicts one member, chosen by ``eviction``:

* ``"oldest"`` (FIFO): the member added first;
* ``"random"``: a member drawn uniformly (with the pool's own generator,
  saved in the index); old members thin out geometrically, so the pool holds mostly
  the last few ``max_size`` snapshots with a thin tail of older ones;
* ``"easiest"``: the member the learner scores best against;
* ``"reservoir"``: reservoir sampling (Vitter's algorithm R), so that the
  members other than the two newest are a uniform sample of *all* earlier
  snapshots, however long the run: what fictitious self-play's "uniform over
  the past" asks of a bounded pool. (``"random"`` keeps a member other than
  the newest alive with chance ``1 - 1/(max_size - 1)`` per addition
  (``max_size - 2`` with ``keep_first``), so it keeps mostly the last few
  ``max_size`` snapshots: after 100 additions to a pool of 20, a snapshot
  from the first half survives with chance under 8%.)

``keep_first=True`` never evicts the first snapshot (a fixed anchor); the
newest member is never evicted by the snapshot that follows it, unless it is the
only one that may go (``max_size=1``, or ``max_size=2`` with ``keep_first``).

Bad input changes nothing: an unknown id, an outcome that is not a win, draw
or loss, a missing or corrupt snapshot file (size or SHA-256 differ from the
index), a change after the pool's folder was deleted, an index whose entries
are of another kind (a count of 1.5 or "3") raise a clear error and leave every
record as it was.

Sharing one pool between processes: one process writes (the learner, which
adds snapshots and reports outcomes); any number of readers open the same
folder with ``readonly=True`` and call :meth:`OpponentPool.refresh` to see new
members. See ``docs/selfplay.md`` for the Ray set-up. A second writer is
refused instead of mixing its changes with the first one's: before every change the
writer checks, holding a lock on ``pool.lock`` in the folder, that the index on
disk is still the one it opened or last wrote; if another process (or another
pool object) changed it, the change raises :class:`~magister.errors.ConfigError`
and nothing is written, even after a :meth:`~OpponentPool.refresh` took the other's
change in (a refresh shows what the writer did; it does not make a second writer
the writer). To take over from a writer that has stopped, open the folder anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..checkpoint import atomic_write
from ..errors import CheckpointError, ConfigError, UnknownTaskError
from ..rng import SeedLike, as_generator, generator_state, restore_generator
from ..settings import flag, is_int, number, whole
from ..spaces import Discrete
from .records import Record, as_outcome, elo_update, outcome_score

try:
    import fcntl
except ImportError:  # no flock (Windows): the check of the index still refuses a second writer, bar a close race
    fcntl = None  # type: ignore[assignment]

__all__ = ["OpponentPool", "SnapshotError", "UnknownOpponentError", "EVICTIONS"]

#: the writable pools open in this process (to tell a second writer here from one in another process)
_WRITERS: "weakref.WeakSet[OpponentPool]" = weakref.WeakSet()

FORMAT = "magister-opponent-pool"
VERSION = 1
EVICTIONS = ("oldest", "random", "easiest", "reservoir")
_DEFAULTS: dict[str, Any] = {"max_size": 50, "eviction": "oldest", "max_ids": 10_000, "keep_first": False,
                             "k": 16.0, "initial_rating": 1000.0, "keep_evicted": 10}


class SnapshotError(CheckpointError):
    """A snapshot file that is missing or does not match what the pool's index recorded."""


class UnknownOpponentError(UnknownTaskError):
    """An opponent id that is not (or no longer) a member of the pool."""


def _checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The pool's settings, checked (a new pool's, or those an index on disk holds)."""
    whole("max_size", settings["max_size"], 1)
    whole("max_ids", settings["max_ids"], 1)
    whole("keep_evicted", settings["keep_evicted"], 0)
    if settings["eviction"] not in EVICTIONS:
        raise ConfigError(f"eviction must be one of {EVICTIONS}, got {settings['eviction']!r}")
    if not isinstance(settings["keep_first"], bool):
        raise ConfigError(f"keep_first must be True or False, got {settings['keep_first']!r}")
    if settings["keep_first"] and settings["max_size"] < 2:
        raise ConfigError("keep_first=True needs max_size >= 2 (the first snapshot plus the newest)")
    number("k", settings["k"], 0.0)
    number("initial_rating", settings["initial_rating"])
    return {n: (float(v) if n in ("k", "initial_rating") else v) for n, v in settings.items()}


def _check_members(members: dict[int, Record], listed: int, next_id: int, settings: dict[str, Any],
                   evicted: list[int] | None = None) -> None:
    """Raise ValueError when an index's members cannot be what the pool wrote: a repeated id (one record would be
    dropped), an id not yet handed out (the next ``add`` would overwrite its snapshot), more members than
    ``max_size``, a record whose counts or rating are impossible, or a kept evicted id that is a member, repeated,
    never handed out, or beyond ``keep_evicted``."""
    for i in evicted or ():
        _check_kind("an evicted id", i, (int,))
        if not 0 <= i < next_id or i in members:
            raise ValueError(f"evicted id {i} is a member or was never handed out (next_id is {next_id})")
    if evicted is not None and (len(set(evicted)) != len(evicted) or len(evicted) > settings["keep_evicted"]):
        raise ValueError(f"the evicted ids {evicted[:10]} repeat one or are more than keep_evicted="
                         f"{settings['keep_evicted']}")
    if len(members) != listed:
        raise ValueError(f"{listed - len(members)} member id(s) listed twice")
    if not 0 <= next_id <= settings["max_ids"]:
        raise ValueError(f"next_id {next_id} is outside 0..max_ids={settings['max_ids']}")
    if len(members) > settings["max_size"]:
        raise ValueError(f"{len(members)} members in a pool of max_size={settings['max_size']}")
    for i, r in members.items():
        if not 0 <= i < next_id:
            raise ValueError(f"member id {i} was never handed out (next_id is {next_id})")
        if min(r.games, r.wins, r.draws, r.losses, r.size, r.step) < 0 or r.games != r.wins + r.draws + r.losses \
                or not np.isfinite(r.rating):
            raise ValueError(f"the record of member {i} is impossible ({r})")


#: the JSON kind of each entry of a member's record in the index
_RECORD_KINDS: dict[str, tuple[type, ...]] = {
    **{n: (int,) for n in ("id", "step", "games", "wins", "draws", "losses", "size")},
    "rating": (int, float), "sha256": (str,), "name": (str,)}


def _record_of(entry: Any) -> Record:
    """A member's record as the index holds it; an entry of another kind is refused (a count of 1.5 or "3" was
    read as 1 or 3, ``true`` as 1, and the check of the counts then passed)."""
    if not isinstance(entry, dict):
        raise ValueError(f"a member is a JSON {type(entry).__name__}, not an object")
    for name, kinds in _RECORD_KINDS.items():
        if name in entry:  # (one missing takes the record's default, as it always did; "id" is required)
            _check_kind(f"member entry {name!r}", entry[name], kinds)
    return Record.from_dict(entry)


def _check_kind(what: str, v: Any, kinds: tuple[type, ...]) -> Any:
    if isinstance(v, bool) or not isinstance(v, kinds):
        raise ValueError(f"{what} is {v!r:.40}, not a "
                         + ("string" if kinds == (str,) else "number" if float in kinds else "whole number"))
    return v


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _not_added(e: OSError, what: str) -> OSError:
    """``e`` (of its own class, so that ``except OSError`` still catches it) saying what could not be written and
    that the snapshot was not added."""
    text = (f"{what} ({e.strerror or e}); nothing was added: the pool is as it was (free disk space, or give the "
            "writer write access to the pool's folder, then add the snapshot again)")
    return type(e)(text) if e.errno is None else type(e)(e.errno, text)


def _listed(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + ("..." if len(ids) > 10 else "")


def _kept_and_dropped(ids: list[int], keep: int) -> tuple[list[int], list[int]]:
    """Of the ids whose files are kept for a rewind, oldest first: the last ``keep`` (kept) and the others (whose
    files go, once the index no longer names them)."""
    cut = max(len(ids) - int(keep), 0)
    return ids[cut:], ids[:cut]


class OpponentPool:
    """Snapshots on disk with bounded memory, each with its record.

    Args:
        directory: The pool's folder (created if missing). Opening an existing pool reads
            its settings from the index; settings passed explicitly must agree.
        max_size: Most members held at once (default 50); adding one more evicts one.
        eviction: ``"oldest"`` (default), ``"random"``, ``"easiest"`` or ``"reservoir"`` (see module docstring).
        max_ids: How many snapshots may ever be added (default 10000): the size of the
            opponent teachers' space, ``pool.space``.
        keep_first: Never evict the first snapshot.
        k: Elo step of the online rating update after each reported game.
        initial_rating: Rating of a new snapshot and of the learner at the start.
        keep_evicted: How many of the last evicted (or removed) members' files stay on disk (default 10), so that a
            checkpoint saved before their eviction can rewind the pool (:meth:`rewind`); 0 deletes each file at
            eviction.
        seed: Seeds the generator of ``eviction="random"`` and ``"reservoir"`` (saved in the index).
        readonly: Open an existing pool for reading only (worker processes).
    """

    def __init__(self, directory: str | os.PathLike, *, max_size: int | None = None, eviction: str | None = None,
                 max_ids: int | None = None, keep_first: bool | None = None, k: float | None = None,
                 initial_rating: float | None = None, keep_evicted: int | None = None, seed: SeedLike = None,
                 readonly: bool = False):
        if not isinstance(directory, (str, os.PathLike)):  # (None, bytes: pathlib's raw TypeError)
            raise ConfigError(f"an opponent pool's directory is the path of a folder (str or pathlib.Path), got "
                              f"{type(directory).__name__} {directory!r:.60}")
        self.directory = Path(directory).resolve()
        self.readonly = flag("readonly", readonly)  # (bool("false") was True: a JSON "false" opened it read-only)
        #: threads sharing this object take turns at changes (each change is planned from the index it holds)
        self._thread_lock = threading.RLock()
        if not self.readonly:
            _WRITERS.add(self)
        given = {name: v for name, v in (("max_size", max_size), ("eviction", eviction), ("max_ids", max_ids),
                                         ("keep_first", keep_first), ("k", k), ("initial_rating", initial_rating),
                                         ("keep_evicted", keep_evicted))
                 if v is not None}
        self._mtime_ns: tuple[int, int] = (-1, -1)
        self._index_sha: str | None = None  # SHA-256 of the index this object last read or wrote (None: none yet)
        #: SHA-256 of the index as this object opened it or last wrote it (not as a refresh read it): a change by
        #: another writer since, seen by a refresh or not, makes this object's changes refused (one writer)
        self._own_sha: str | None = None
        self.settings: dict[str, Any] = {}
        if self.index_path.exists():
            self._read_index()
            self._own_sha = self._index_sha
            keep = given.pop("keep_evicted", None)  # (how many evicted files are kept may change: set_keep_evicted)
            clash = {n: (v, self.settings[n]) for n, v in given.items() if self.settings[n] != v}
            if clash:
                raise ConfigError(
                    f"the pool at {self.directory} was made with other settings: "
                    + ", ".join(f"{n}={old!r} (asked for {new!r})" for n, (new, old) in clash.items())
                    + "; open it without those settings, or use another folder"
                )
            if keep is not None and keep != self.settings["keep_evicted"]:
                self.set_keep_evicted(keep)  # type: ignore[arg-type]  # (checked there)
            return
        if self.readonly:
            raise SnapshotError(f"no opponent pool at {self.directory} (no pool.json); the writer must create it first")
        self.settings = _checked_settings(dict(_DEFAULTS, **given))
        self._members: dict[int, Record] = {}
        self._evicted: list[int] = []
        self._next_id = 0
        self._learner_rating = float(self.settings["initial_rating"])
        self._rng = as_generator(seed)
        self._version = 0
        try:
            (self.directory / "snapshots").mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # (raw "Not a directory: '.../snapshots'")
            raise ConfigError(f"cannot make an opponent pool at {self.directory}: it, or a folder above it, is a "
                              "file; give the path of a folder (it is created if missing)") from None
        with self._writing():  # another process may have created it meanwhile
            self._write_index(self._members, self._next_id, self._learner_rating, self._rng, self._version + 1, [])

    # ------------------------------------------------------------------ index
    @property
    def index_path(self) -> Path:
        return self.directory / "pool.json"

    def _snapshot_path(self, opponent_id: int) -> Path:
        return self.directory / "snapshots" / f"{opponent_id:06d}.bin"

    def _read_index(self) -> None:
        try:
            st = os.stat(self.index_path)
            raw = self.index_path.read_bytes()
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError(f"a JSON {type(doc).__name__}, not an object")
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            v = doc.get("version", 1)  # (-1, 0 or true were read as a version this magister reads)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"version is {v!r:.40}, not a format version (a whole number from 1)")
            if v > VERSION:  # (restoring a backup or starting a new pool was the advice)
                raise SnapshotError(f"the opponent pool index {self.index_path} has format version "
                                    f"{doc['version']!r}, written by a newer magister; this one reads up to "
                                    f"{VERSION}: upgrade magister to open the pool")
            settings = _checked_settings(dict(_DEFAULTS, **doc["settings"]))
            if not isinstance(doc["members"], list):
                raise ValueError(f"members is a JSON {type(doc['members']).__name__}, not a list")
            members = {r.id: r for r in map(_record_of, doc["members"])}
            rng = restore_generator(doc["rng"])
            next_id, learner, version = (_check_kind(k, doc[k], kinds) for k, kinds in (
                ("next_id", (int,)), ("learner_rating", (int, float)), ("version_counter", (int,))))
            learner = float(learner)
            if version < 0:
                raise ValueError(f"version_counter is {version}, not a count of changes >= 0")
            # an index written by a magister from before evicted files were kept has no list: the files the newer
            # one kept (and the older one's writes dropped from the index) are taken back as the kept ones
            evicted = doc["evicted"] if "evicted" in doc else self._unnamed_files(members, next_id, settings)
            if not isinstance(evicted, list):
                raise ValueError(f"evicted is a JSON {type(evicted).__name__}, not a list")
            _check_members(members, len(doc["members"]), next_id, settings, evicted)
            if not np.isfinite(learner):
                raise ValueError(f"the learner's rating is {learner}")
        except SnapshotError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SnapshotError(f"the opponent pool index {self.index_path} cannot be read ({e}); restore it from a "
                                "backup or start a new pool in another folder") from None
        self.settings, self._members, self._rng, self._evicted = settings, members, rng, list(evicted)
        self._next_id, self._learner_rating, self._version = next_id, learner, version
        self._mtime_ns, self._index_sha = (st.st_ino, st.st_mtime_ns), _sha256(raw)

    def _unnamed_files(self, members: dict[int, Record], next_id: int, settings: dict[str, Any]) -> list[int]:
        """The last ``keep_evicted`` ids handed out whose snapshot files are in ``snapshots/`` but not members, for an
        index without the kept evicted list (one an older magister wrote, dropping the list: the files a newer one
        kept were named by no index and never deleted, beyond the folder's bound of ``max_size + keep_evicted``).
        Taken as the kept evicted files, they go as later evictions push them out (and a rewind checks each one
        against its saved SHA-256). A reader takes none (it never deletes a file)."""
        if self.readonly or not isinstance(next_id, int) or not settings["keep_evicted"]:
            return []
        try:
            names = [f.name for f in (self.directory / "snapshots").iterdir()]
        except OSError:
            return []
        ids = sorted(i for i in (int(n[:-4]) for n in names if n.endswith(".bin") and n[:-4].isdigit())
                     if i < next_id and i not in members and self._snapshot_path(i).name in names)
        return _kept_and_dropped(ids, settings["keep_evicted"])[0]

    def __getstate__(self) -> dict[str, Any]:
        # a pool goes to env workers (an AsyncVectorEnv of OpponentEnvs) by pickle: the thread lock is this
        # process's (it made the pool unpicklable), and a copy gets its own
        state = dict(self.__dict__)
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.RLock()

    def _check_writable(self) -> None:
        if self.readonly:
            raise ConfigError(f"the pool at {self.directory} was opened read-only; only the writer process may change it")

    @contextlib.contextmanager
    def _writing(self):
        """Around every change: hold the pool's lock and check that the index on disk is the one this object last
        read or wrote, so that a second writer (another process that opened the folder writable) is refused
        instead of overwriting the members and records the other one wrote. Raises before anything is written."""
        self._check_writable()
        with self._thread_lock, contextlib.ExitStack() as stack:
            if fcntl is not None:  # the check and the write as one step: two writers cannot both pass the check
                try:
                    lock = stack.enter_context(open(self.directory / "pool.lock", "ab"))
                except FileNotFoundError:  # (a raw "No such file: .../pool.lock" did not say the folder was gone)
                    raise SnapshotError(f"the opponent pool's folder {self.directory} is gone; was it deleted? "
                                        "Nothing was changed: restore the folder, or start a new pool") from None
                except OSError as e:
                    raise SnapshotError(f"cannot open the opponent pool's lock file {self.directory / 'pool.lock'} "
                                        f"({e}); the writer needs write access to the pool's folder. Nothing was "
                                        "changed") from None
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
                except OSError:  # a filesystem without locks: the check alone (a close race is not caught)
                    pass
            try:
                raw: bytes | None = self.index_path.read_bytes()
            except FileNotFoundError:
                raw = None
            except OSError as e:
                raise SnapshotError(f"cannot read the opponent pool index {self.index_path} ({e}); nothing was "
                                    "changed") from None
            if raw is None and self._index_sha is not None:
                raise SnapshotError(f"the opponent pool index {self.index_path} is gone; was the pool's folder "
                                    "deleted? Nothing was changed")
            sha = None if raw is None else _sha256(raw)
            if sha != self._own_sha:
                # (also after a refresh took the other's change in: re-reading the index shows a reader what the
                # writer did, it does not make a second writer the writer; two writers that each refreshed
                # before every change merged their changes without a word, and raced into this error at random)
                seen = (" (this object re-read the pool since, which shows the other's changes but does not make it "
                        "the writer)") if sha == self._index_sha else ""
                raise ConfigError(
                    f"the opponent pool at {self.directory} was changed by another writer since this object opened "
                    f"it or last wrote to it{seen}: a second process (or pool object) opened it writable, e.g. an "
                    "OpponentEnv with report=True in a worker; nothing was changed, so as not to mix two runs' "
                    "changes in one pool. A pool has one writer: open it with OpponentPool(folder, readonly=True) in "
                    "every other process and build their envs with OpponentEnv(game, folder, load_policy, "
                    "report=False), sending the outcomes to the writer (final info, then pool.report_many); to "
                    "take over once the other writer has stopped, open the folder anew (OpponentPool(folder))"
                    + self._writers_here()
                )
            yield

    def _writers_here(self) -> str:
        """The part of the second-writer error about another writable pool of this folder in this process."""
        if not any(p is not self and p.directory == self.directory and not p.readonly for p in list(_WRITERS)):
            return ""
        return (". This process holds another writable OpponentPool of this folder too (e.g. an OpponentEnv given "
                "the folder, which opens its own pool when report=True): if that one wrote, open the folder once "
                "and pass that one pool object around, e.g. OpponentEnv(game, pool, load_policy)")

    def _write_index(self, members: dict[int, Record], next_id: int, learner: float, rng: np.random.Generator,
                     version: int, evicted: list[int] | None = None) -> None:
        """Write a new index atomically, then (and only then) make it the in-memory one (inside ``_writing()``).
        ``evicted``: the evicted ids whose files are kept (``None``: as they are)."""
        self._check_writable()
        evicted = self._evicted if evicted is None else evicted
        doc = {"format": FORMAT, "version": VERSION, "settings": self.settings, "next_id": next_id,
               "learner_rating": learner, "rng": generator_state(rng), "version_counter": version,
               "members": [members[i].to_dict() for i in sorted(members)], "evicted": evicted}
        raw = json.dumps(doc, indent=1).encode()
        atomic_write(self.index_path, raw)
        self._members, self._next_id, self._learner_rating, self._rng, self._version, self._evicted = (
            members, next_id, learner, rng, version, evicted)
        st = os.stat(self.index_path)
        self._mtime_ns, self._index_sha = (st.st_ino, st.st_mtime_ns), _sha256(raw)
        self._own_sha = self._index_sha

    def refresh(self) -> bool:
        """Re-read the index if another process changed it; returns whether it did."""
        # under the thread lock: a thread refreshing while another's change was between writing the index and
        # taking it in read that index, and assigned it after the changes that followed (the object went back
        # to an older index, and its next change was refused as if a second writer had changed the pool)
        with self._thread_lock:
            try:
                st = os.stat(self.index_path)
            except OSError:
                raise SnapshotError(f"the opponent pool index {self.index_path} is gone; was the pool's folder "
                                    "deleted?") from None
            if (st.st_ino, st.st_mtime_ns) == self._mtime_ns:
                return False
            held = {n: getattr(self, n) for n in ("settings", "_members", "_rng", "_evicted", "_next_id",
                                                  "_learner_rating", "_version", "_mtime_ns", "_index_sha")}
            self._read_index()
            if not self.readonly and self._next_id < held["_next_id"]:
                # ids go back only by a rewind: done by another writer, it replaced this object's run (its teacher's
                # statistics of the ids taken back would greet the snapshots that get them again); this run went on
                # silently, adding snapshots under ids the rewind handed out again
                new_next_id = self._next_id
                self.__dict__.update(held)  # the index this run last read: its next change is refused too
                raise ConfigError(
                    f"the opponent pool at {self.directory} went back while this writer had it open (the ids handed "
                    f"out went from {held['_next_id']} to {new_next_id}): another writer rewound it (a "
                    "magister.load(path, pool='rewind') or OpponentPool.rewind elsewhere), or the folder was "
                    "replaced (an older copy restored, a new pool made there). This run is the one that was "
                    "replaced: stop it, and rewind only once the run using the pool has stopped. Nothing was "
                    "changed" + self._writers_here())
            return True

    # -------------------------------------------------------------- members
    @property
    def max_size(self) -> int:
        return int(self.settings["max_size"])

    @property
    def max_ids(self) -> int:
        return int(self.settings["max_ids"])

    @property
    def space(self) -> Discrete:
        """The opponent teachers' task space: ``Discrete(max_ids)``, one task per id ever handed out (its
        ``opponent_pool`` names this pool's folder, so that ``magister.recommend(pool.space)`` sees opponents)."""
        space = Discrete(self.max_ids)
        space.opponent_pool = str(self.directory)
        return space

    @property
    def ids(self) -> list[int]:
        """Ids of the current members, oldest first."""
        return sorted(self._members)

    @property
    def latest(self) -> int:
        """Id of the newest member."""
        if not self._members:
            raise UnknownOpponentError(f"the pool at {self.directory} is empty; add a snapshot first")
        return max(self._members)

    @property
    def n_added(self) -> int:
        """Snapshots added over the pool's life (evicted ones included)."""
        return self._next_id

    @property
    def learner_rating(self) -> float:
        return self._learner_rating

    @property
    def version(self) -> int:
        """Grows by one at every change of the index."""
        return self._version

    def mask(self) -> np.ndarray:
        """Boolean array over ``range(max_ids)``: which ids are members now."""
        m = np.zeros(self.max_ids, dtype=bool)
        if self._members:
            m[np.fromiter(self._members, dtype=np.int64)] = True
        return m

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, opponent_id: object) -> bool:
        try:
            return self._check_id(opponent_id) in self._members
        except UnknownOpponentError:
            return False

    def _check_id(self, opponent_id: Any) -> int:
        if not is_int(opponent_id):
            raise UnknownOpponentError(f"an opponent id is a whole number from the pool, got {opponent_id!r}")
        return int(opponent_id)

    def _member(self, opponent_id: Any) -> Record:
        i = self._check_id(opponent_id)
        if i not in self._members:
            gone = " (it was evicted)" if 0 <= i < self._next_id else ""
            raise UnknownOpponentError(
                f"opponent {i} is not in the pool{gone}; members are {self.ids[:20]}"
                f"{'...' if len(self._members) > 20 else ''}. Nothing was recorded."
            )
        return self._members[i]

    def record(self, opponent_id: int) -> Record:
        """The record of one member."""
        return self._member(opponent_id)

    def records(self) -> list[Record]:
        """Records of all members, oldest first."""
        return [self._members[i] for i in self.ids]

    # ----------------------------------------------------------- snapshots
    def add(self, snapshot: bytes | str | os.PathLike, *, step: int = 0, name: str = "") -> int:
        """Store a snapshot (bytes, or the path of a file to copy) and return its id; evicts one member if full."""
        self._check_writable()  # before the snapshot file is written: a reader's next id may be a member's
        if isinstance(snapshot, (bytes, bytearray, memoryview)):
            data = bytes(snapshot)
        elif isinstance(snapshot, (str, os.PathLike)):
            try:
                data = Path(snapshot).read_bytes()
            except OSError as e:
                raise SnapshotError(f"cannot read the snapshot file {snapshot} ({e}); nothing was added") from None
        else:
            raise ConfigError(f"a snapshot is bytes or the path of a file, got {type(snapshot).__name__}; serialise "
                              "it first (torch.save to a buffer, numpy.save, pickle...)")
        whole("step", step, 0)
        if not isinstance(name, str):
            raise ConfigError(f"name must be a string, got {name!r}")
        with self._writing():  # before the snapshot file: a second writer's next id may be the other's member
            # planned inside: a thread that added meanwhile (same object) changed the index this change starts from
            if self._next_id >= self.max_ids:
                raise ConfigError(f"the pool has handed out all max_ids={self.max_ids} ids; make a pool with a "
                                  "larger max_ids (and opponent teachers on its space)")
            new_id = self._next_id
            members = dict(self._members)
            rng = restore_generator(generator_state(self._rng))
            evicted = None
            if len(members) >= self.max_size:
                evicted = self._victim(members, rng)
                del members[evicted]
            path = self._snapshot_path(new_id)
            try:
                atomic_write(path, data)
            except OSError as e:  # (a full disk said only "[Errno 28] No space left on device", naming no file)
                raise _not_added(e, f"cannot write the snapshot file {path}") from None
            members[new_id] = Record(id=new_id, step=int(step), rating=self._learner_rating,
                                     sha256=_sha256(data), size=len(data), name=name)
            # the evicted member's file is kept for the last keep_evicted evictions: a teacher checkpoint saved
            # before this eviction rewinds the pool to a state that holds it (rewind)
            kept, dropped = _kept_and_dropped(self._evicted + ([evicted] if evicted is not None else []),
                                              self.settings["keep_evicted"])
            try:
                self._write_index(members, new_id + 1, self._learner_rating, rng, self._version + 1, kept)
            except BaseException as e:
                if self._next_id == new_id:  # the index was not written: the snapshot file goes too (all or nothing)
                    # (it was left in snapshots/, named by no index: a stray file beyond the folder's bound)
                    with contextlib.suppress(OSError):
                        path.unlink()
                if isinstance(e, OSError) and self._next_id == new_id:
                    raise _not_added(e, f"cannot write the opponent pool index {self.index_path}") from None
                raise
            self._delete_files(dropped)
        return new_id

    def set_keep_evicted(self, n: int) -> None:
        """Keep the files of the last ``n`` evicted (or removed) members from now on (the one setting of a pool that
        may change: it decides only which files stay for a rewind). Lowered, the oldest kept files beyond ``n`` are
        deleted; raised, files already deleted do not come back. Also ``OpponentPool(folder, keep_evicted=n)``."""
        n = whole("keep_evicted", n, 0)
        with self._writing():
            old = self.settings
            kept, dropped = _kept_and_dropped(self._evicted, n)
            self.settings = dict(old, keep_evicted=n)
            try:
                self._write_index(self._members, self._next_id, self._learner_rating, self._rng, self._version + 1,
                                  kept)
            except BaseException:
                self.settings = old
                raise
            self._delete_files(dropped)

    def _delete_files(self, ids: Iterable[int]) -> None:
        """Delete snapshot files the index no longer names (after it was written)."""
        for i in ids:
            try:
                self._snapshot_path(i).unlink()
            except OSError:
                pass

    def _victim(self, members: dict[int, Record], rng: np.random.Generator) -> int:
        ids = sorted(members)
        candidates = ids[1:] if self.settings["keep_first"] and len(ids) > 1 and ids[0] == 0 else ids
        if len(candidates) > 1:
            candidates = candidates[:-1]  # the newest member stays until the next one has been played
        policy = self.settings["eviction"]
        if policy == "oldest":
            return candidates[0]
        if policy == "random":
            return candidates[int(rng.integers(len(candidates)))]
        if policy == "reservoir":
            return self._reservoir_victim(candidates, rng)
        rates = [members[i].win_rate for i in candidates]
        return candidates[int(np.argmax(rates))]

    def _reservoir_victim(self, candidates: list[int], rng: np.random.Generator) -> int:
        """Algorithm R, one snapshot late: the newest member is kept (it has not been played much yet); the one
        before it, ``pending``, is the snapshot whose place in the reservoir (the older candidates) is decided
        now. It enters with chance ``len(reservoir) / (snapshots it was drawn from)``, replacing a uniformly
        drawn member; otherwise it is the one evicted."""
        if len(candidates) < 2:
            return candidates[0]
        pending, reservoir = candidates[-1], candidates[:-1]
        offset = 1 if self.settings["keep_first"] and 0 in self._members else 0
        seen = pending + 1 - offset  # eligible snapshots up to ``pending`` (ids are handed out in order)
        if rng.random() * max(seen, 1) < len(reservoir):
            return reservoir[int(rng.integers(len(reservoir)))]
        return pending

    def remove(self, opponent_id: int) -> None:
        """Take a member out of the pool. Its file is kept as an evicted member's is (among the last
        ``keep_evicted``), so a teacher checkpoint saved before the removal can still rewind the pool
        (``pool="rewind"``); ``set_keep_evicted(0)`` deletes the kept files."""
        with self._writing():
            i = self._member(opponent_id).id
            members = {j: r for j, r in self._members.items() if j != i}
            # (its file was deleted at once: a checkpoint saved before the removal could never rewind the pool, and
            # the refusal's advice, set_keep_evicted, could not help)
            kept, dropped = _kept_and_dropped(self._evicted + [i], self.settings["keep_evicted"])
            self._write_index(members, self._next_id, self._learner_rating, self._rng, self._version + 1, kept)
            self._delete_files(dropped)

    def path(self, opponent_id: int, *, verify: bool = True) -> Path:
        """The file of a member's snapshot (checked against its size and SHA-256 unless ``verify=False``)."""
        rec = self._member(opponent_id)
        if verify:
            self.load(rec.id)
        return self._snapshot_path(rec.id)

    def load(self, opponent_id: int) -> bytes:
        """A member's snapshot bytes, checked against the index; a missing or corrupt file raises SnapshotError."""
        rec = self._member(opponent_id)
        p = self._snapshot_path(rec.id)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            # an index read before the writer evicted the member (a reader, or a worker between its refresh and
            # this read): the member is gone, not its file, and remove/restore was the wrong advice
            self.refresh()
            self._member(rec.id)  # UnknownOpponentError "(it was evicted)" when the new index dropped it
            raise SnapshotError(f"the snapshot of opponent {rec.id} is missing ({p}); remove it from the pool with "
                                f"pool.remove({rec.id}) or restore the file. No record was changed.") from None
        except OSError as e:
            raise SnapshotError(f"cannot read the snapshot of opponent {rec.id} ({p}: {e}). No record was changed.") from None
        if len(data) != rec.size or _sha256(data) != rec.sha256:
            if self.refresh() and self._member(rec.id) != rec:
                # a reader's index from before the writer rewound the pool and gave the id to a new snapshot: that
                # one is the member now (calling the file corrupt, and telling a reader to remove it, was wrong)
                return self.load(rec.id)
            raise SnapshotError(
                f"the snapshot of opponent {rec.id} ({p}) is corrupt: {len(data)} bytes with another SHA-256 than the "
                f"{rec.size} bytes the pool stored; remove it with pool.remove({rec.id}) or restore the file. "
                "No record was changed."
            )
        return data

    # ------------------------------------------------------------- outcomes
    def report(self, opponent_id: int, outcome: Any, *, rate: bool = True) -> Record:
        """Record one game of the learner against ``opponent_id``: ``"win"``, ``"draw"``, ``"loss"`` (or 1, 0.5,
        0, the learner's side). Updates the counts and, with ``rate=True``, both Elo ratings. Returns the record."""
        return self.report_many([opponent_id], [outcome], rate=rate)[-1]

    def report_many(self, opponent_ids: Iterable[int], outcomes: Iterable[Any], *, rate: bool = True) -> list[Record]:
        """Several games, in order; all are checked before any is recorded (one index write)."""
        rate = flag("rate", rate)  # (rate="no" or "false" was read as True: both ratings moved)
        try:
            ids, outs = list(opponent_ids), list(outcomes)
        except TypeError:
            raise ConfigError(f"report_many takes a list of opponent ids and a list of outcomes, got "
                              f"{type(opponent_ids).__name__} and {type(outcomes).__name__}; use report() for "
                              "one game. Nothing was recorded.") from None
        if len(ids) != len(outs):
            raise ConfigError(f"report_many got {len(ids)} opponents but {len(outs)} outcomes; nothing was recorded")
        checked = [(self._batch_member(i).id, as_outcome(o)) for i, o in zip(ids, outs)]
        if not checked:
            return []
        with self._writing():  # the records updated from the index as it is now (another thread may have reported)
            checked = [(self._batch_member(i).id, o) for i, o in checked]
            members = dict(self._members)
            learner = self._learner_rating
            k = float(self.settings["k"])
            out = []
            for i, o in checked:
                rec = members[i]
                new_rating = None
                if rate:
                    learner, new_rating = elo_update(learner, rec.rating, outcome_score(o), k)
                members[i] = rec.with_outcome(o, new_rating)
                out.append(members[i])
            self._write_index(members, self._next_id, learner, self._rng, self._version + 1)
        return out

    def _batch_member(self, opponent_id: Any) -> Record:
        """:meth:`_member` for :meth:`report_many`, whose refusal of an evicted member says how to record the rest
        (games of a vector env, or of workers, end after the writer evicted their opponent)."""
        try:
            return self._member(opponent_id)
        except UnknownOpponentError as e:
            if not 0 <= self._check_id(opponent_id) < self._next_id:
                raise
            raise UnknownOpponentError(f"{e} A batch is recorded whole or not at all: leave out the games against "
                                       "members evicted since the game began (keep those whose opponent is "
                                       "`in pool`) and report the rest") from None

    def set_ratings(self, ratings: dict[int, float], learner: float | None = None) -> None:
        """Replace members' ratings (e.g. with a cross-play fit from :func:`magister.opponents.fit_elo`)."""
        if not isinstance(ratings, Mapping):
            raise ConfigError(f"set_ratings takes a dict {{opponent id: rating}}, got {type(ratings).__name__}")
        with self._writing():
            members = dict(self._members)
            for i, r in ratings.items():
                rec = self._member(i)
                members[rec.id] = Record.from_dict(dict(rec.to_dict(), rating=number(f"rating of {rec.id}", r)))
            new_learner = self._learner_rating if learner is None else number("learner rating", learner)
            self._write_index(members, self._next_id, new_learner, self._rng, self._version + 1)

    # ---------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """The pool as a teacher checkpoint holds it: the members and their records, the ids handed out, the
        learner's rating and the eviction generator (not the settings, fixed for the folder, nor the snapshots,
        which stay in the folder). :meth:`rewind` puts the pool back to it."""
        self.refresh()
        return {"next_id": self._next_id, "learner_rating": self._learner_rating, "rng": generator_state(self._rng),
                "members": [self._members[i].to_dict() for i in sorted(self._members)]}

    def _saved(self, saved: Any) -> tuple[dict[int, Record], int, float, np.random.Generator]:
        """A :meth:`state` read back from a checkpoint, checked as an index is; a damaged one is refused."""
        try:
            if not isinstance(saved, dict) or not isinstance(saved.get("members"), list):
                raise ValueError("not a pool state (a dict with a list of members)")
            members = {r.id: r for r in map(_record_of, saved["members"])}
            next_id = _check_kind("next_id", saved["next_id"], (int,))
            learner = float(_check_kind("learner_rating", saved["learner_rating"], (int, float)))
            rng = restore_generator(saved["rng"])
            _check_members(members, len(saved["members"]), next_id, self.settings)
            if not np.isfinite(learner):
                raise ValueError(f"the learner's rating is {learner}")
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"the opponent pool's state in the checkpoint is damaged ({e}); restore the "
                                  "checkpoint from a backup. Nothing was changed") from None
        return members, next_id, learner, rng

    def changes_since(self, saved: dict[str, Any]) -> str | None:
        """What changed in the pool since ``saved`` (a :meth:`state`) was taken, in words; ``None`` when nothing
        did (the members, their records, the ids handed out, the learner's rating, the eviction generator)."""
        members, next_id, learner, rng = self._saved(saved)
        self.refresh()
        self._check_not_behind(next_id)
        said = []
        if self._next_id > next_id:
            said.append(f"{self._next_id - next_id} snapshot(s) added (ids {next_id}..{self._next_id - 1})")
        gone = sorted(set(members) - set(self._members))
        if gone:
            said.append(f"{len(gone)} member(s) evicted or removed ({_listed(gone)})")
        changed = sorted(i for i in set(members) & set(self._members) if members[i] != self._members[i])
        if changed:
            said.append(f"the records of {len(changed)} member(s) changed ({_listed(changed)}: games reported "
                        "or ratings set)")
        if not said and (learner != self._learner_rating or generator_state(rng) != generator_state(self._rng)):
            said.append("the learner's rating or the eviction generator changed")
        return "; ".join(said) or None

    def rewind(self, saved: dict[str, Any]) -> None:
        """Put the pool back as it was when ``saved`` (a :meth:`state`) was taken: its members and records, the
        ids handed out (the next snapshot added gets the id it got then), the learner's rating, the eviction
        generator. Snapshots added since are moved to ``rewound/<version>/`` in the folder, with their records
        (nothing is deleted; they are linked there before the index changes, so a crash loses none); members
        evicted since come back from the files the pool keeps for its last ``keep_evicted`` evictions. Refused, changing nothing, when one is not there (evicted longer ago, or
        removed) or does not match its record, and when ``saved`` is from another pool."""
        members, next_id, learner, rng = self._saved(saved)
        with self._writing():
            self._check_not_behind(next_id)
            for i, rec in members.items():
                now = self._members.get(i)
                if now is not None:
                    if now.sha256 != rec.sha256 or now.size != rec.size:
                        raise CheckpointError(f"cannot rewind the pool at {self.directory}: its member {i} is "
                                              "another snapshot than the saved state's; the state was saved with "
                                              "another pool. Nothing was changed")
                    continue
                self._check_kept(i, rec)
            future = sorted(j for j in set(self._members) | set(self._evicted) if j >= next_id)
            records = {j: self._members[j].to_dict() for j in future if j in self._members}
            kept, dropped = _kept_and_dropped([j for j in self._evicted + sorted(self._members)
                                               if j < next_id and j not in members], self.settings["keep_evicted"])
            # the later snapshots are set aside (linked, or copied) before the index stops naming them, and taken
            # out of snapshots/ only after: a crash in between leaves them in both places, never in neither (moved
            # after the index was written, a crash in between left them where the next add overwrote them)
            aside = self._set_aside(future, {"next_id": next_id, "members": records}) if future else None
            version = self._version + 1
            try:
                self._write_index(members, next_id, learner, rng, version, kept)
            except BaseException:
                if aside is not None and self._version != version:  # the index was not written: nothing changed
                    shutil.rmtree(aside, ignore_errors=True)
                raise
            self._delete_files(future + dropped)

    def _set_aside(self, ids: list[int], records: dict[str, Any]) -> Path:
        """A new folder ``rewound/<version>/`` holding the snapshot files of ``ids`` and their ``records.json``
        (``<version>-2/``... when that folder exists: an earlier rewind's, whose files are not written over)."""
        base = self.directory / "rewound"
        base.mkdir(exist_ok=True)
        for n in range(1, 10_000):
            aside = base / (f"{self._version:06d}" + (f"-{n}" if n > 1 else ""))
            try:
                aside.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise ConfigError(f"cannot set the later snapshots aside: {base} holds too many folders named "
                              f"{self._version:06d}-n; move them out of the pool's folder. Nothing was changed")
        try:
            atomic_write(aside / "records.json", json.dumps(records, indent=1).encode())
            for j in ids:
                src = self._snapshot_path(j)
                try:
                    os.link(src, aside / src.name)  # (a hard link: no copy of a large snapshot)
                except FileNotFoundError:
                    continue
                except OSError:  # a filesystem without hard links
                    shutil.copyfile(src, aside / src.name)
        except BaseException:
            shutil.rmtree(aside, ignore_errors=True)
            raise
        return aside

    def _check_not_behind(self, next_id: int) -> None:
        """Refuse a saved state that names more ids than the pool has handed out: another pool's."""
        if next_id > self._next_id:
            raise CheckpointError(
                f"the saved state names {next_id} ids handed out, but the pool at {self.directory} has handed out "
                f"only {self._next_id}: the state was saved with another pool (a new pool made in that folder, or "
                "an older copy of it restored). Nothing was changed: load it with the pool it was saved with (the "
                "folder as it was at the save, or later); pool='current' goes on with this pool only if the teacher "
                f"played none of ids {self._next_id}..{next_id - 1}, else start a new teacher on it "
                "(magister.make_teacher(name, pool.space, pool=pool))")

    def _check_kept(self, i: int, rec: Record) -> None:
        """Refuse a rewind to a member whose kept file is gone or is not the saved snapshot."""
        p = self._snapshot_path(i)
        try:
            data = p.read_bytes() if i in self._evicted else None
        except OSError:
            data = None
        if data is None:
            raise CheckpointError(
                f"cannot rewind the pool at {self.directory}: the snapshot of member {i}, evicted or removed since "
                f"the state was saved, is no longer kept (the pool keeps the files of its last keep_evicted="
                f"{self.settings['keep_evicted']} evicted or removed members; pool.set_keep_evicted(n) keeps more from now on). "
                "Nothing was changed: load with pool='current' to go on with the pool as it is")
        if len(data) != rec.size or _sha256(data) != rec.sha256:
            raise CheckpointError(f"cannot rewind the pool at {self.directory}: the kept snapshot of member {i} "
                                  f"({p}) is not the one the saved state names; it was saved with another pool. "
                                  "Nothing was changed")

    # --------------------------------------------------------------- config
    def to_config(self) -> dict[str, Any]:
        """How a teacher's checkpoint names this pool: its folder (the pool saves itself)."""
        return {"__pool__": str(self.directory)}

    @classmethod
    def coerce(cls, value: Any) -> OpponentPool | None:
        """A pool from a pool, its folder, or its ``to_config()`` (as a reloaded checkpoint passes it)."""
        if value is None or isinstance(value, OpponentPool):
            return value
        named = isinstance(value, dict) and set(value) == {"__pool__"}  # (by a checkpoint)
        if named:
            value = value["__pool__"]
        if isinstance(value, (str, os.PathLike)):
            if named and not (Path(value) / "pool.json").exists():
                # (a new pool made there, as the advice below said, was then refused as another pool)
                raise ConfigError(
                    f"the checkpoint names the opponent pool at {value}, which is not there (no pool.json). If the "
                    "pool's folder moved, build the teacher on its new folder with the saved settings and load the "
                    "checkpoint's state into it: t = magister.make_teacher(name, OpponentPool(new_folder).space, "
                    "pool=new_folder, ...); t.load_state_dict(magister.checkpoint.load_state(path)) (pool='rewind' "
                    "or 'current' as for magister.load)")
            if not (Path(value) / "pool.json").exists():
                raise ConfigError(f"no opponent pool at {value} (no pool.json); create it with OpponentPool({str(value)!r})")
            # the writable pool of that folder this process already holds (the learner's, an env's), not a second
            # writer beside it: a teacher loaded from a checkpoint (which names the folder) and rewinding the pool
            # left that one behind, and its next change was refused as another writer's
            folder = Path(value).resolve()
            held = [p for p in list(_WRITERS) if p.directory == folder and not p.readonly and p._follows_disk()]
            return held[0] if held else cls(value)
        raise ConfigError(f"pool must be an OpponentPool or its folder, got {type(value).__name__}")

    def _follows_disk(self) -> bool:
        """Whether this writer may still change the pool: the index on disk is the one it opened or last wrote (not
        one another writer changed since, nor one the folder went back from: a pool object left from before the
        folder was rewound or replaced, which :meth:`refresh` refuses)."""
        try:
            self.refresh()
        except ConfigError:
            return False
        return self._index_sha == self._own_sha

    def __deepcopy__(self, memo: dict) -> OpponentPool:  # a handle on a folder: copies share it
        return self

    def __repr__(self) -> str:
        return (f"OpponentPool({str(self.directory)!r}, members={len(self)}/{self.max_size}, "
                f"eviction={self.settings['eviction']!r}, added={self._next_id})")
