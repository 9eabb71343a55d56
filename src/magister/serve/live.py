"""A curriculum's specification and its live, in-memory state (teacher, lock, pending writes, client ids)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..settings import saved_settings
from ..spaces import Space, space_from_spec
from ..teacher import Teacher, make_teacher, teacher_class
from .seen import ClientIds
from .settings import RECENT_IDS

__all__ = ["CurriculumSpec", "LiveCurriculum", "time_runs"]


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
    #: the learner this curriculum belongs to (for export and deletion), if any
    learner: str | None = None
    #: a people policy's clock: ``"server"`` (see :func:`follow_server_time`), ``"answers"``, or None (a teacher
    #: without a clock, or a curriculum stored before clocks were chosen: the answer-count clock)
    clock: str | None = None

    def build(self, stored: bool = False) -> Teacher:
        """The teacher of these settings; ``stored``: of a curriculum in the database, whose settings an earlier
        magister may have read loosely (a people model's ``graded=1``), rebuilt as it ran (``_stored_settings``)."""
        # (as version 1, the state version of every teacher before settings were checked: what was stored since
        # was checked when the curriculum was created, and reads the same)
        if not stored:
            return make_teacher(self.teacher, space_from_spec(self.space), seed=self.seed,
                                score_range=self.score_range, **self.settings)
        settings = teacher_class(self.teacher)._stored_settings(self.settings, 1)
        with saved_settings():  # (a check added since the curriculum was created does not refuse it)
            return make_teacher(self.teacher, space_from_spec(self.space), seed=self.seed,
                                score_range=self.score_range, **settings)

    def public(self) -> dict[str, Any]:
        out = {"name": self.name, "space": self.space, "teacher": self.teacher, "settings": self.settings,
               "seed": self.seed, "score_range": self.score_range, "created_at": self.created_at}
        if self.learner is not None:
            out["learner"] = self.learner
        if self.clock is not None:
            out["clock"] = self.clock
        return out

    def follow_server_time(self, teacher: Teacher, at: float) -> float | None:
        """With the server clock: move ``teacher``'s clock on to ``at`` (the time logged with the request's event,
        or an observation's own time given by its client; never back: a clock already later, e.g. after answers
        counted ``minutes_per_answer`` each, stays). Returns the clock before, to put back if the teacher refuses
        the request; None when nothing moved. The live request and the replay of its event both call this with
        the same logged time."""
        if self.clock != "server":
            return None
        before = float(teacher.clock)  # type: ignore[attr-defined]
        if at > before:
            teacher.set_time(at)  # type: ignore[attr-defined]
        return before


def time_runs(times: Sequence[float]) -> list[tuple[float, int, int]]:
    """``(time, start, stop)`` of each run of equal consecutive ``times``: a request's observations are applied a
    run at a time, a server clock moved on to the run's time first (the request's time, or the answers' own times
    given with ``observe(..., time=...)``); the live request and the replay of its events split them alike."""
    runs: list[tuple[float, int, int]] = []
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] != times[start]:
            runs.append((times[start], start, i))
            start = i
    return runs


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
    pending: deque[tuple[int, int, concurrent.futures.Future]] = field(default_factory=deque)
    #: recent proposal request ids -> the tasks and infos (None from most teachers) that were answered (older
    #: ones are read from the log)
    proposals: OrderedDict[str, tuple[list[Any], list[dict[str, Any]] | None]] = field(default_factory=OrderedDict)
    deleted: bool = False
    broken: str | None = None
    #: why this stored curriculum cannot be served (an earlier version stored text no reply can carry), or None
    damaged: str | None = None
    #: a rebuild is scheduled or running (the curriculum must stay in memory until it is done)
    rebuilding: bool = False
    #: left the cache (see ``cache.py``); a request holding this object looks the curriculum up again
    evicted: bool = False

    @property
    def space(self) -> Space:
        return self.teacher.space

    def _unfinished(self) -> deque[tuple[int, int, concurrent.futures.Future]]:
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
