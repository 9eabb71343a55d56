"""Shared machinery of the level teachers (``plr``, ``robust-plr``, ``accel``, ``learnability``).

Level teachers treat tasks as opaque levels of any space (seeds of a
:class:`~magister.levels.spaces.SeedSpace`, mazes of a
:class:`~magister.levels.spaces.MazeSpace`, or members of any other space),
keyed by :func:`~magister.levels.spaces.level_key`. They propose one level at
a time (``propose(k)`` is k single proposals, so a batch follows the same
distribution) and say for each whether to train on it
(:meth:`~magister.teacher.Teacher.propose_with_info`).

A score carries its level, not the proposal it answers. With one level out
several times at once (proposed as a replay and as a new level, or for
training and for evaluation, to different episodes), a score answers that
level's *oldest* outstanding proposal (first in, first out per level) and
takes its kind. A proposal that will never be scored (an episode cut by a
reset or a close) is handed back with :meth:`LevelTeacher.give_back` (the
vector env calls it for the episodes it cuts and the tasks it prefetched, a ``CurriculumWrapper`` alone for
the episodes of its teacher's proposals it cuts), so
that it stops counting as outstanding; a score for a level with nothing outstanding is
taken as the kind the teacher uses for levels it did not propose. The proposals
outstanding are part of the saved state (a teacher loaded back into the run
that holds them matches their scores alike); a run resumed in a new process,
whose old episodes are gone, drops them with :meth:`LevelTeacher.drop_pending`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Hashable

import numpy as np

from ..errors import CheckpointError, ConfigError, InvalidTaskError, reworded
from ..level_buffer import LevelBuffer
from ..levels.spaces import level_key
from ..rng import SeedLike
from ..settings import fraction, saved_count, whole
from ..spaces import _MAX_CHOICES, Space
from ..teacher import Teacher

#: tries to draw a level that is not in the buffer before listing the unseen ones of a finite space
_REDRAWS = 16
#: levels with proposals not scored yet that a level teacher remembers (the level proposed longest ago is forgotten
#: first: an episode that never reports; a level scored after it was forgotten counts as not proposed), and the
#: proposals of mixed kinds it remembers for one level (the oldest forgotten first)
_MAX_PENDING = 1024


def _own(level: Any) -> Any:
    """A proposed level the caller may change: a Box point (or a Dict holding one) is a copy, so that changing a
    proposal in place cannot change the level the teacher's buffer or queue holds; immutable levels as they are."""
    if isinstance(level, np.ndarray):
        return level.copy()
    if isinstance(level, dict):
        return {k: _own(v) for k, v in level.items()}
    return level


def given_back(space: Space, tasks: Any, infos: Any) -> tuple[list[Any], list[dict[str, Any] | None]]:
    """The arguments of a ``give_back(tasks, infos)``, checked: ``tasks`` validated in ``space``, as a list, and
    one info (a dict, or None for none) per task, None for ``infos=None``; a ``give_back`` refuses anything else
    before it changes anything, with these errors (:meth:`LevelTeacher.give_back`, and a Ray teacher client's
    ``give_back`` and its actor's, as a local level teacher)."""
    if isinstance(tasks, (str, bytes, dict)) or not isinstance(tasks, Iterable) or (
            isinstance(tasks, np.ndarray) and tasks.ndim == 0):
        # (the batch check's hint, "use observe(task, score) for one", would record a score for it)
        raise InvalidTaskError(f"give_back takes a list of tasks, got {type(tasks).__name__} {tasks!r:.60}; "
                               "pass give_back([task]) for one. Nothing was given back.")
    try:
        valid = list(space.validate_batch(tasks))
    except InvalidTaskError as e:
        raise reworded(e, f"{e}. Nothing was given back.")  # (a user space's own error class kept)
    if infos is None:
        return valid, [None] * len(valid)
    if isinstance(infos, (str, bytes, dict)) or not isinstance(infos, Iterable):  # (list(5) raised TypeError)
        raise ConfigError(f"give_back takes infos = one info dict (the proposal's info) per task, or None, got "
                          f"{type(infos).__name__} {infos!r:.60}. Nothing was given back.")
    infos = list(infos)
    if len(infos) != len(valid) or any(i is not None and not isinstance(i, dict) for i in infos):
        raise ConfigError(f"give_back got {len(valid)} tasks and {len(infos)} infos; pass one info dict (the "
                          "proposal's info) per task, or none. Nothing was given back.")
    return valid, infos


class LevelTeacher(Teacher):
    """Base of the level teachers: validation and keys, new-level generation, proposal infos, state."""

    kind = "level"

    def __init__(self, space: Space, *, seed: SeedLike = None, score_range: Any = None):
        super().__init__(space, seed=seed, score_range=score_range)
        # a partial, not a lambda: a level teacher of any space pickles (one on a Discrete space did not)
        self._key = getattr(space, "level_key", None) or functools.partial(level_key, space)
        self._last_infos: list[dict[str, Any]] = []
        self.n_replayed = 0

    # ------------------------------------------------------------- encoding
    @property
    def _encodes_indices(self) -> bool:
        return False

    def _encode(self, tasks: Any) -> list[tuple[Hashable, Any]]:  # type: ignore[override]
        key = self._key
        return [(key(t), t) for t in self.space.validate_batch(tasks)]

    def _encode_one(self, task: Any) -> list[tuple[Hashable, Any]]:  # type: ignore[override]
        t = self.space.validate(task)
        return [(self._key(t), t)]

    def _decode(self, enc: Any) -> list[Any]:
        return [_own(level) for level in enc]

    def _decode_level(self, obj: Any) -> tuple[Hashable, Any]:
        t = self.space.from_json(obj)
        return self._key(t), t

    # ------------------------------------------------------------- proposing
    def _propose(self, k: int) -> list[Any]:  # type: ignore[override]
        out, infos = [], []
        for _ in range(k):
            level, info = self._propose_one()
            out.append(level)
            infos.append(info)
        self._last_infos = infos
        return out

    def _propose_info(self, k: int) -> list[dict[str, Any]]:
        return [dict(i) for i in self._last_infos[-k:]]

    def _propose_one(self) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    # ------------------------------------------------------ unscored proposals
    def give_back(self, tasks: Any, infos: Any = None) -> int:
        """Proposals that will never be scored (an episode cut by a reset or a close, a prefetched task never
        played): each stops counting as outstanding, so that a later score of its level answers the proposal it
        belongs to. With ``infos`` (the proposals' infos, one per task), the oldest outstanding proposal of the
        level *of that kind* is dropped; without, the level's oldest. Every task is checked before anything
        changes. Returns how many outstanding proposals were dropped (a task with none of its kind outstanding
        drops nothing). :class:`~magister.rl.vector.CurriculumVectorEnv` and a
        :class:`~magister.rl.wrapper.CurriculumWrapper` alone call it (as they give a ``RayTeacher`` its unscored
        tasks back, which hands them out again)."""
        tasks, infos = given_back(self.space, tasks, infos)
        self._check_kind_flags(infos)
        key = self._key
        return sum(bool(self._drop(key(t), info)) for t, info in zip(tasks, infos))

    def drop_pending(self) -> int:
        """Give back every proposal waiting for a score (each as :meth:`give_back` does, oldest first per level), and
        return how many there were. For a run resumed from a checkpoint in a new process: the proposals waiting in
        it went to episodes of the old process (running when it was saved), whose scores will never come, and a
        later score of one of their levels would be taken for one of them (its kind: new or replay, training or
        evaluation). Call it on the loaded teacher before the new run proposes (``t = magister.load(path);
        t.drop_pending()``), not when the episodes that hold the proposals go on (a teacher loaded back into the
        same run: their scores answer them)."""
        n = 0
        for key in self._pending_keys():
            while self._drop(key, None):
                n += 1
        return n

    def _pending_keys(self) -> list[Hashable]:
        """The keys of the levels with proposals waiting for a score."""
        return []

    #: the info flag that says which kind of proposal :meth:`give_back` drops (True or False only)
    _kind_flag = "replay"

    def _check_kind_flags(self, infos: list[Any]) -> None:
        """Refuse infos whose kind flag is not True or False (a truthy "yes", or "false", was taken for True); also
        asked by a Ray ``TeacherActor``, which queues given-back infos and hands them to this ``give_back`` later."""
        flag = self._kind_flag
        bad = next((j for j, i in enumerate(infos) if isinstance(i, dict) and flag in i
                    and not isinstance(i[flag], (bool, np.bool_))), None)
        if bad is not None:
            raise ConfigError(f"info {bad} of give_back has {flag!r} = {infos[bad][flag]!r:.60}; the flag must be "
                              f"True or False, as the proposal's info said it, or left out (then the level's "
                              "oldest proposal). Nothing was given back.")

    def _drop(self, key: Hashable, info: dict[str, Any] | None) -> bool:
        """Stop counting the oldest outstanding proposal of ``key`` (of ``info``'s kind when given); whether one
        was."""
        return False

    def _new_level(self, exclude: Any = ()) -> Any:
        """A level from the space's generator, preferring one not in ``exclude`` (a container of keys): on a
        finite space an unseen level while there is one; on an open-ended one a fresh draw."""
        space, rng, key = self.space, self.rng, self._key
        if space.n is None or space.n > _MAX_CHOICES:  # more levels than rng.integers (int64) numbers: open-ended
            level = space.sample(rng)
            for _ in range(_REDRAWS):
                if key(level) not in exclude:
                    break
                level = space.sample(rng)
            return level
        n = int(space.n)
        for _ in range(_REDRAWS):
            i = int(rng.integers(n))
            if i not in exclude:
                return space.task_at(i)
        if n > 10_000_000:  # (too many to list)
            return space.task_at(int(rng.integers(n)))
        # the unseen levels, ascending, and one of them uniformly (a buffer finds it without listing them)
        count = exclude.count_missing(n) if isinstance(exclude, LevelBuffer) else None
        if count is not None:
            return space.task_at(exclude.nth_missing(n, int(rng.integers(count))) if count else int(rng.integers(n)))
        unseen = [i for i in range(n) if i not in exclude]
        return space.task_at(unseen[int(rng.integers(len(unseen)))] if unseen else int(rng.integers(n)))

    def _all_seen(self, buffer: LevelBuffer) -> bool:
        return self.space.n is not None and len(buffer) >= self.space.n


class ReplayTeacher(LevelTeacher):
    """PLR and its robust form: replay with probability ``replay_prob`` from a score-prioritised buffer,
    else a new level from the generator (``train_new`` says whether the learner trains on new levels)."""

    open_scores = True
    #: False for robust PLR: new levels are evaluated only
    train_new: bool = True

    def __init__(self, space, *, seed=None, score_range=None, capacity: int = 1000, replay_prob: float = 0.5,
                 prioritization: str = "rank", temperature: float = 0.1, staleness_coef: float = 0.1,
                 score_alpha: float = 1.0, min_fill: float = 0.0):
        super().__init__(space, seed=seed, score_range=score_range)
        for name, v in (("replay_prob", replay_prob), ("score_alpha", score_alpha), ("min_fill", min_fill)):
            fraction(name, v)
        if score_alpha == 0:
            raise ConfigError("score_alpha = 0 would never change a score; use 1 to keep the latest score, or an "
                              "averaging weight in (0, 1]")
        capacity = whole("capacity", capacity)
        size = int(min(capacity, space.n)) if space.n is not None else int(capacity)
        self.buffer = LevelBuffer(size, prioritization=prioritization, temperature=temperature,
                                  staleness_coef=staleness_coef)
        self.replay_prob = float(replay_prob)
        self.score_alpha = float(score_alpha)
        self.min_fill = float(min_fill)
        self._min_replay = max(1, int(np.ceil(self.min_fill * size)))
        #: levels proposed and not scored yet: key -> (level, buffer tick of the latest proposal as new, proposals
        #: as new waiting for a score, order), the level proposed longest ago first. ``order`` is "" while every
        #: proposal waiting is new, else the kinds waiting, oldest first: "n" new, "r" replay (a score answers
        #: the oldest)
        self._pending: dict[Hashable, tuple[Any, int, int, str]] = {}

    def _replays(self) -> bool:
        buf = self.buffer
        if len(buf) < self._min_replay:
            return False
        if self._all_seen(buf):  # a finite training set, every level in the buffer
            return True
        return self.rng.random() < self.replay_prob

    def _replay(self) -> tuple[Hashable, Any]:
        buf = self.buffer
        # drawn before this visit is counted: PLR's staleness c - C_i has c = the episodes sampled so far, so
        # the level played last has staleness 0 (counting this visit first gave every level one more)
        key = buf.sample(self.rng)
        buf.advance()
        buf.touch(key)
        self.n_replayed += 1
        self._wait(key, buf.level(key), False)
        return key, buf.level(key)

    def _propose_one(self) -> tuple[Any, dict[str, Any]]:
        if self._replays():
            return self._replay()[1], {"train": True, "replay": True}
        self.buffer.advance()
        return self._visit_new(self._new_level(self.buffer)), {"train": self.train_new, "replay": False}

    def _visit_new(self, level: Any) -> Any:
        """Count the visit of a level proposed as new (after :meth:`LevelBuffer.advance`), as the PLR family's
        code does when it samples one: its staleness counts from now, not from when its score arrives (with
        several episodes running that can be many proposals later), and a level already in the buffer (a
        generator or mutator can make one again) is visited now. It stays new: evaluated only where new
        levels are, its score updates its buffer entry, and ``accel`` does not edit it."""
        key = self._key(level)
        if key in self.buffer:
            self.buffer.touch(key)
        # proposed again before its score came: the latest visit counts, and each proposal's score is a new
        # level's (the first score alone used to be: the second was taken for a replay's, and accel edited it)
        self._wait(key, level, True)
        return level

    def _wait(self, key: Hashable, level: Any, new: bool) -> None:
        """Count a proposal of ``level`` (``new``, or a replay) as waiting for its score, after the others."""
        pending = self._pending
        old, tick, n, order = pending.pop(key, (level, 0, 0, ""))
        if new:
            old, tick = level, self.buffer.tick
            order = order + "n" if order else ""
            n += 1
        else:
            if not order:  # (the oldest of many proposals as new waiting are forgotten)
                n = min(n, _MAX_PENDING - 1)
                order = "n" * n
            order += "r"
        if len(order) > _MAX_PENDING:  # a level proposed again and again, never scored: forget the oldest
            n -= order[0] == "n"
            order = order[1:]
        pending[key] = (old, tick, n, order if "r" in order else "")
        if len(pending) > _MAX_PENDING:
            del pending[next(iter(pending))]

    def _waiting(self, key: Hashable) -> str | None:
        """The kind of the oldest proposal of ``key`` waiting for a score: "n" (new), "r" (replay) or None."""
        entry = self._pending.get(key)
        if entry is None:
            return None
        return entry[3][0] if entry[3] else "n"

    def _answer(self, key: Hashable, kind: str | None = None) -> tuple[str, int] | None:
        """Take the oldest proposal of ``key`` waiting for a score (the oldest of ``kind`` when given) off the
        waiting ones; its kind and the tick of the latest proposal as new, or None when none waits."""
        entry = self._pending.get(key)
        if entry is None:
            return None
        level, tick, n, order = entry
        if not order:  # every proposal waiting is new
            if kind == "r":
                return None
            kind, n = "n", n - 1
        else:
            if kind is None:
                kind = order[0]
            elif kind not in order:
                return None
            i = order.index(kind)
            order = order[:i] + order[i + 1:]
            n -= kind == "n"
        if n or "r" in order:
            self._pending[key] = (level, tick, n, order if "r" in order else "")
        else:
            del self._pending[key]
        return kind, tick

    def _pending_keys(self) -> list[Hashable]:
        return list(self._pending)

    def _drop(self, key: Hashable, info: dict[str, Any] | None) -> bool:
        kind = None if info is None or "replay" not in info else "r" if info["replay"] else "n"
        return self._answer(key, kind) is not None

    def _observe(self, enc: Any, scores: np.ndarray) -> None:
        for (key, level), s in zip(enc, scores.tolist()):
            self._observe_one(key, level, s)

    def _observe_one(self, key: Hashable, level: Any, score: float) -> None:
        buf = self.buffer
        answered = self._answer(key)  # the oldest proposal of the level waiting (first in, first out)
        if key in buf:
            a = self.score_alpha
            buf.update(key, score if a == 1.0 else (1.0 - a) * buf.score(key) + a * score)
        else:  # a new level was last visited when it was proposed (a replay of a level evicted since, or a level
            # observed without a proposal: now)
            buf.add(key, level, score, answered[1] if answered is not None and answered[0] == "n" else None)

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        to_json = self.space.to_json
        # [level, tick, n], and the order of the kinds waiting when a replay is among them
        return {"buffer": self.buffer.state_dict(to_json), "n_replayed": self.n_replayed,
                "pending": [[to_json(level), int(tick), int(n)] + ([order] if order else [])
                            for level, tick, n, order in self._pending.values()]}

    def _upgrade_state(self, state: dict[str, Any], version: int) -> dict[str, Any]:
        state = super()._upgrade_state(state, version)
        pending = state.get("pending")
        if isinstance(pending, list):  # a state saved before new levels were counted: [level, tick] pairs, one each
            state = {**state, "pending": [[*p, 1] if isinstance(p, (list, tuple)) and len(p) == 2 else p
                                          for p in pending]}  # (a new dict: the saved one stays as it was)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        pending: dict[Hashable, tuple[Any, int, int, str]] = {}
        # (a state saved before new levels were tracked has none)
        for obj, tick, n, *rest in state.get("pending", []):
            if len(rest) > 1:  # (unpacked as four or more: a longer entry is not one of the formats)
                raise ValueError(f"a pending level's entry has {3 + len(rest)} fields, not 3 or 4")
            key, level = self._decode_level(obj)
            order = rest[0] if rest else ""
            n = whole("a pending level's proposals", n, 0 if order else 1, floats=True)
            if not isinstance(order, str) or set(order) - {"n", "r"} or order and (
                    "r" not in order or order.count("n") != n or len(order) > _MAX_PENDING):
                raise ValueError(f"a pending level's order of proposals must be 'n' and 'r' with a replay among "
                                 f"them, {n} new, got {order!r}")
            pending[key] = (level, whole("a pending level's proposal tick", tick, 0, floats=True), n, order)
        if len(pending) > _MAX_PENDING or any(e[1] > int(state["buffer"]["tick"]) for e in pending.values()):
            raise CheckpointError("level teacher state has more pending levels than it keeps, or one proposed "
                                  "after the buffer's last visit")
        # (int() took -1, and truncated 0.5 to 0)
        n_replayed = saved_count("saved n_replayed", state["n_replayed"])  # (and took 10**30)
        self.buffer.load_state_dict(state["buffer"], self._decode_level)
        self.n_replayed = n_replayed
        self._pending = pending

    def _beliefs(self) -> dict[str, Any]:
        buf = self.buffer
        top = buf.top(10)
        return {"kind": "levels", "buffer_size": len(buf), "capacity": buf.capacity, "n_replayed": self.n_replayed,
                "top_levels": [self.space.to_json(buf.level(k)) for k, _ in top],
                "top_scores": [float(s) for _, s in top]}
