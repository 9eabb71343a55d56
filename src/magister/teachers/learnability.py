"""Learnability: sampling for learnability (SFL; Rutherford et al., "No Regrets", 2024).

A level's learnability is ``p (1 - p)``, ``p`` the learner's success rate on
it: highest for levels solved half the time, zero for levels always or never
solved. Every ``eval_interval`` training proposals the teacher starts an
evaluation round: ``n_candidates`` fresh levels from the generator (on a
finite space, at most the levels not already chosen: none twice), plus the
levels already in its buffer (so a level the learner has mastered drops out),
are each proposed ``eval_episodes`` times with ``{"train": False, "replay":
False, "evaluate": True}``. When a level's evaluations are in, its
``p (1 - p)`` is its score in a buffer of the ``capacity`` most learnable
levels (the least learnable is evicted). Only levels with ``p (1 - p) > 0``
are kept: one always or never solved in its evaluations does not enter (and
leaves when a re-evaluation finds it so), as SFL's top-K holds no such level
while any learnable one exists. Training proposals replay a buffer level with
probability ``buffer_prob`` (uniformly among them, as in the paper;
``prioritization="power"`` weighs them by learnability) and are fresh levels
otherwise, or when the buffer is empty.

Scores are successes in [0, 1] (1 solved, 0 not; a fraction averages several
episodes); training episodes do not change a level's learnability (as in the
paper, only evaluations do). A level can be out for training and for
evaluation at once (a round starts while a training episode of a buffer level
runs); a score answers its level's oldest proposal waiting for one, and counts
only if that was an evaluation. A proposal that will never be scored is handed
back with ``give_back``: a dropped evaluation no longer holds up its level's
score.

What differs from the paper: SFL evaluates thousands of candidates in
parallel on an accelerator and keeps the top ``K``; here a round is
interleaved with training (its episodes come first), its size is
``n_candidates`` (small defaults, for CPU), and buffer levels are re-evaluated
each round instead of the buffer being rebuilt from scratch. Starting a round
costs O(capacity + n_candidates) once, for a round of (capacity +
n_candidates) x eval_episodes episodes; a round whose scores do not all come
back is closed at the next one, each level scored from the evaluations that
did.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Hashable

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..level_buffer import LevelBuffer
from ..settings import MAX_COUNT, MAX_SIZE, fraction, saved_count, short_number, whole
from ..settings import size as size_setting
from ..teacher import register
from ._levels import _MAX_PENDING, LevelTeacher

__all__ = ["Learnability"]


#: what every refusal of a saved state that no run leaves says to do (as the other checkpoint refusals)
_FIX = ": the checkpoint is damaged or was edited; restore it from a backup, or start from an earlier one"


@register("learnability")
class Learnability(LevelTeacher):
    """Train on the levels with the highest p (1 - p) among periodically evaluated candidates, mixed with
    fresh levels."""

    conformance_kwargs = {"capacity": 6, "n_candidates": 8, "eval_episodes": 2, "eval_interval": 20}

    def __init__(self, space, *, seed=None, score_range=None, capacity: int = 50, n_candidates: int = 100,
                 eval_episodes: int = 4, eval_interval: int = 1000, buffer_prob: float = 0.5,
                 prioritization: str = "uniform"):
        super().__init__(space, seed=seed, score_range=score_range)
        for name, v, lo in (("capacity", capacity, 1), ("n_candidates", n_candidates, 1),
                            ("eval_episodes", eval_episodes, 1), ("eval_interval", eval_interval, 1)):
            whole(name, v, lo)
        if space.n is None or space.n > MAX_SIZE:  # (a finite space's round holds at most its levels)
            size_setting("n_candidates", n_candidates,
                         why="a round draws its fresh candidates and holds them in memory at once")
        buffer_prob = fraction("buffer_prob", buffer_prob)
        if not isinstance(prioritization, str) or prioritization not in ("uniform", "power"):
            raise ConfigError(f"learnability samples its buffer 'uniform' (the paper) or by 'power' of the "
                              f"learnability, got {prioritization!r}")
        size = int(min(capacity, space.n)) if space.n is not None else int(capacity)
        self.buffer = LevelBuffer(size, prioritization=prioritization, temperature=1.0, staleness_coef=0.0)
        self.n_candidates, self.eval_episodes = int(n_candidates), int(eval_episodes)
        self.eval_interval, self.buffer_prob = int(eval_interval), float(buffer_prob)
        self._queue: deque[list[Any]] = deque()  # [level, evaluation episodes still to propose]
        self._evals: dict[Hashable, list[Any]] = {}  # key -> [level, episodes, successes, expected]
        #: proposals waiting for a score: key -> (level, kinds oldest first: "e" evaluation, "t" training), the level
        #: proposed longest ago first (a score answers its level's oldest)
        self._waiting: dict[Hashable, tuple[Any, str]] = {}
        self.n_trained = 0  # training proposals so far
        self.n_rounds = 0
        self._next_round = 0  # the training proposal count at which the next round starts

    # ------------------------------------------------------------- proposing
    def _start_round(self) -> None:
        self.n_rounds += 1
        # (at most MAX_COUNT, which no count of training proposals reaches: eval_interval=10**30 put the next round
        # past it, and the teacher could not be saved, its state refused as malformed)
        self._next_round = min(self.n_trained + self.eval_interval, MAX_COUNT)
        for key, (level, n, total, _) in list(self._evals.items()):  # scores that never came: use what did
            del self._evals[key]
            if n:
                self._score(key, level, total / n)
        levels = [self.buffer.level(k) for k in self.buffer]  # re-evaluated with the candidates
        chosen = set(self.buffer)  # fresh candidates: none already in the buffer or drawn for this round
        for _ in range(self.n_candidates):
            if self.space.n is not None and len(chosen) >= self.space.n:
                break  # a finite space with every level chosen: a repeat would only multiply its evaluations
            level = self._new_level(chosen)
            chosen.add(self._key(level))
            levels.append(level)
        for level in levels:
            key = self._key(level)
            entry = self._evals.get(key)
            if entry is None:
                self._evals[key] = [level, 0, 0.0, self.eval_episodes]
            else:
                entry[3] += self.eval_episodes
            self._queue.append([level, self.eval_episodes])

    def _propose_one(self) -> tuple[Any, dict[str, Any]]:
        if not self._queue and self.n_trained >= self._next_round:
            self._start_round()
        if self._queue:
            entry = self._queue[0]
            entry[1] -= 1
            if not entry[1]:
                self._queue.popleft()
            return self._wait(entry[0], "e"), {"train": False, "replay": False, "evaluate": True}
        self.n_trained += 1
        if len(self.buffer) and self.rng.random() < self.buffer_prob:
            key = self.buffer.sample(self.rng)
            return self._wait(self.buffer.level(key), "t"), {"train": True, "replay": True, "evaluate": False}
        return self._wait(self._new_level(), "t"), {"train": True, "replay": False, "evaluate": False}

    def _wait(self, level: Any, kind: str) -> Any:
        """Count a proposal of ``level`` (``kind`` "e" or "t") as waiting for its score, after the others."""
        key, waiting = self._key(level), self._waiting
        kinds = waiting.pop(key, (level, ""))[1] + kind
        waiting[key] = (level, kinds[-_MAX_PENDING:])  # (a level proposed again and again, never scored)
        if len(waiting) > _MAX_PENDING:
            del waiting[next(iter(waiting))]
        return level

    def _answer(self, key: Hashable, kind: str | None = None) -> str | None:
        """Take the oldest proposal of ``key`` waiting for a score (of ``kind`` when given) off the waiting ones;
        its kind, or None when none waits."""
        entry = self._waiting.get(key)
        if entry is None:
            return None
        kinds = entry[1]
        i = 0 if kind is None else kinds.find(kind)
        if i < 0:
            return None
        kind, kinds = kinds[i], kinds[:i] + kinds[i + 1:]
        if kinds:
            self._waiting[key] = (entry[0], kinds)
        else:
            del self._waiting[key]
        return kind

    def _pending_keys(self) -> list[Hashable]:
        return list(self._waiting)

    _kind_flag = "evaluate"

    def _drop(self, key: Hashable, info: dict[str, Any] | None) -> bool:
        kind = None if info is None or "evaluate" not in info else "e" if info["evaluate"] else "t"
        kind = self._answer(key, kind)
        entry = self._evals.get(key) if kind == "e" else None
        if entry is not None:  # an evaluation that will not come: the level is scored from those that do
            entry[3] -= 1
            if entry[1] >= entry[3]:
                del self._evals[key]
                if entry[1]:
                    self._score(key, entry[0], entry[2] / entry[1])
        return kind is not None

    # ------------------------------------------------------------- observing
    def _observe(self, enc: Any, scores: np.ndarray) -> None:
        for (key, level), s in zip(enc, scores.tolist()):
            # the level's oldest proposal waiting: a training episode (or a level not being evaluated) does not
            # change learnability, only evaluations do (a score without a proposal counts if its level is)
            entry = self._evals.get(key) if self._answer(key) != "t" else None
            if entry is None:
                continue
            entry[1] += 1
            entry[2] += s
            if entry[1] >= entry[3]:
                del self._evals[key]
                self._score(key, entry[0], entry[2] / entry[1])

    def _score(self, key: Hashable, level: Any, p: float) -> None:
        score = p * (1.0 - p)
        if score > 0.0:
            self.buffer.add(key, level, score)
        elif key in self.buffer:  # re-evaluated and now always (or never) solved: nothing left to learn on it
            self.buffer.remove(key)

    # ----------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        to_json = self.space.to_json
        return {"buffer": self.buffer.state_dict(to_json),
                "queue": [[to_json(t), int(n)] for t, n in self._queue],
                "evals": [[to_json(e[0]), int(e[1]), float(e[2]), int(e[3])] for e in self._evals.values()],
                "n_trained": self.n_trained, "n_rounds": self.n_rounds, "next_round": self._next_round,
                # (only while a proposal waits: a state saved between scores is as before)
                **({"waiting": [[to_json(t), kinds] for t, kinds in self._waiting.values()]} if self._waiting else {})}

    def _set_state(self, state: dict[str, Any]) -> None:
        from_json = self.space.from_json
        # a queued level has >= 1 evaluation left (0 or less would be proposed forever)
        queue = deque([from_json(t), whole("a queued level's evaluations", n, floats=True)] for t, n in state["queue"])
        evals = {}
        for i, (obj, n, s, expected) in enumerate(state["evals"]):
            key, level = self._decode_level(obj)
            entry = f"evals[{i}] (level {short_number(obj)})"  # (which entry: the value alone did not say)
            n = whole(f"learnability state's {entry}: its evaluations", n, 0, floats=True)
            # the successes of its n evaluations, each in [0, 1] (NaN, -1 or 7 of 2 were taken: its p (1 - p)
            # was then NaN or negative, and the level left out of the buffer without a word); compared as they
            # are, not as floats (10**400 was float()'s OverflowError, a "malformed" state naming nothing)
            if isinstance(s, (bool, np.bool_, np.timedelta64)) \
                    or not isinstance(s, (int, float, np.integer, np.floating)) or not 0 <= s <= n:
                raise CheckpointError(f"learnability state's {entry} has {short_number(s)} successes in its {n} "
                                      f"evaluations; expected a number in [0, {n}] (each evaluation scores 0 to "
                                      f"1){_FIX}")
            expected = whole(f"learnability state's {entry}: its expected evaluations", expected, floats=True)
            if n >= expected:  # (a live teacher scores a level, and forgets its entry, once n reaches expected)
                raise CheckpointError(f"learnability state's {entry} is a level with {n} evaluations in of the "
                                      f"{expected} expected; a level is scored once all its evaluations are in, so "
                                      f"a saved one has fewer{_FIX}")
            evals[key] = [level, n, float(s), expected]
        waiting = {}
        for obj, kinds in state.get("waiting", []):  # (a state saved before proposals were matched has none)
            if not isinstance(kinds, str) or not kinds or set(kinds) - {"e", "t"} or len(kinds) > _MAX_PENDING:
                raise CheckpointError(f"learnability state has a level waiting for scores of kinds {kinds!r}; "
                                      f"expected 1 to {_MAX_PENDING} of 'e' (evaluation) and 't' (training){_FIX}")
            key, level = self._decode_level(obj)
            waiting[key] = (level, kinds)
        if len(waiting) > _MAX_PENDING:
            raise CheckpointError(f"learnability state has {len(waiting)} levels waiting for scores, more than "
                                  f"the {_MAX_PENDING} it keeps{_FIX}")
        self.buffer.load_state_dict(state["buffer"], self._decode_level)
        self._queue, self._evals, self._waiting = queue, evals, waiting
        # (int() took -1: a damaged checkpoint went on with negative counts)
        self.n_trained, self.n_rounds, self._next_round = (
            saved_count(f"saved {k}", state[k]) for k in ("n_trained", "n_rounds", "next_round"))  # (and 10**30)

    def _beliefs(self) -> dict[str, Any]:
        top = self.buffer.top(10)
        return {"kind": "levels", "buffer_size": len(self.buffer), "capacity": self.buffer.capacity,
                "n_rounds": self.n_rounds, "pending_evaluations": sum(n for _, n in self._queue),
                "top_levels": [self.space.to_json(self.buffer.level(k)) for k, _ in top],
                "top_learnability": [float(s) for _, s in top]}
