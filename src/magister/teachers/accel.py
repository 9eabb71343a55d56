"""ACCEL: Adversarially Compounding Complexity by Editing Levels (Parker-Holder et al., ICML 2022).

Robust PLR (``robust-plr``: train on replayed levels only, evaluate new ones)
plus *edits*: after a replayed level is scored, if it ranks in the top
``edit_top`` share of the buffer, ``n_children`` edited copies of it (made by
the ``mutator``) are queued; the next proposals evaluate them first
(``{"train": False, "replay": False, "edited": True}``), and each enters the
buffer by its score like any new level. A level proposed as new (from the
generator or an edit) that the buffer already holds stays new, as in the
reference code: visited when proposed, evaluated only, its score updating
its buffer entry, and not edited (edits follow replays; it was taken for a
replay, so that on a small space edits of edits crowded out replays).
New levels from the generator start simple (``initial="simple"``: an empty
room with random start and goal on a
:class:`~magister.levels.spaces.MazeSpace`, the space's ``sample_simple``; on a
``Dict`` holding a maze, each entry's simple level where it has one and its
ordinary draw elsewhere: :func:`~magister.levels.spaces.simple_sampler`), so
complexity grows by compounding edits; ``initial="random"`` uses the space's
own sampler (domain randomisation).

The mutator is any function ``(level, rng) -> level``; by default the built-in
maze mutator (add or remove walls, move the goal) on mazes, a small
perturbation of the unit vector on other spaces, and on a ``Dict`` holding a
maze each entry edited with the mutator it would get alone
(:func:`~magister.levels.mutators.default_mutator`; see
:mod:`magister.levels.mutators`). Give a name, a settings dict or a
module-level function to keep the teacher saveable.

What differs from the paper: the paper edits every replayed level (they are
already drawn by score); here only those in the top ``edit_top`` of the
buffer at the time their score arrives (``edit_top=1.0`` is the paper's
rule); the replay decision is a fixed probability as in ``plr``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Hashable

from ..errors import CheckpointError, ConfigError
from ..levels.mutators import default_mutator, make_mutator, mutator_config
from ..levels.spaces import simple_sampler
from ..settings import number, saved_count, whole
from ..teacher import register
from ._levels import ReplayTeacher

__all__ = ["ACCEL"]


class _Unsaveable:
    """Stands for a mutator that cannot go in a checkpoint, and says why when one is written."""

    def __init__(self, mutator: Any):
        self.mutator = mutator

    def to_config(self) -> Any:
        raise CheckpointError(
            f"accel's mutator {self.mutator!r} cannot be saved in a checkpoint; pass a module-level function, "
            "a built-in name ('maze', 'perturb') or an object with to_config()")

    def __repr__(self) -> str:  # the teacher's repr shows the mutator given
        return repr(self.mutator)


@register("accel")
class ACCEL(ReplayTeacher):
    """Robust PLR with edits of high-scoring replayed levels, starting from simple levels."""

    train_new = False
    conformance_kwargs = {"capacity": 16, "replay_prob": 0.6}

    def __init__(self, space, *, seed=None, score_range=None, mutator: Any = None, initial: str = "simple",
                 edit_top: float = 0.5, n_children: int = 1, capacity: int = 1000, replay_prob: float = 0.8,
                 prioritization: str = "rank", temperature: float = 0.3, staleness_coef: float = 0.3,
                 score_alpha: float = 1.0, min_fill: float = 0.0):
        super().__init__(space, seed=seed, score_range=score_range, capacity=capacity, replay_prob=replay_prob,
                         prioritization=prioritization, temperature=temperature, staleness_coef=staleness_coef,
                         score_alpha=score_alpha, min_fill=min_fill)
        if not isinstance(initial, str) or initial not in ("simple", "random"):
            raise ConfigError(f"initial must be 'simple' (empty or simple levels) or 'random', got {initial!r}")
        edit_top = number("edit_top", edit_top, 0.0, 1.0, low_open=True, hint="a share of the buffer")
        n_children = whole("n_children", n_children, 1, hint="children per edited level, at most 64")
        if n_children > 64:
            raise ConfigError(f"n_children must be a whole number in 1..64, got {n_children!r}")
        if mutator is None:
            mutator = default_mutator(space)
        self.mutator = make_mutator(mutator, space)
        cfg = mutator_config(self.mutator)
        self._record_settings(mutator=cfg if cfg is not None else _Unsaveable(self.mutator))
        self.initial = initial
        self.edit_top = float(edit_top)
        self.n_children = n_children
        self._simple = simple_sampler(space) if initial == "simple" else None
        self._queue: deque[Any] = deque()  # edited levels waiting to be evaluated
        self.n_edited = 0

    def _new_level(self, exclude: Any = ()) -> Any:
        if self._simple is not None:
            return self._simple(self.rng)
        return super()._new_level(exclude)

    def _propose_one(self) -> tuple[Any, dict[str, Any]]:
        if self._queue:
            self.buffer.advance()
            return self._visit_new(self._queue.popleft()), {"train": False, "replay": False, "edited": True}
        if self._replays():  # _replay counts the visit after drawing, as PLR's staleness asks
            return self._replay()[1], {"train": True, "replay": True, "edited": False}
        self.buffer.advance()
        return self._visit_new(self._new_level(self.buffer)), {"train": False, "replay": False, "edited": False}

    def _observe(self, enc: Any, scores: Any) -> None:
        if len(enc) == 1:  # one observation undoes itself when the mutator fails (_observe_one)
            return super()._observe(enc, scores)
        # a batch is all-or-nothing too: when the mutator fails on one level, the levels before it are undone
        buf, queue = self.buffer, self._queue
        rng_state, n_queued, n_edited, next_seq = self.rng.bit_generator.state, len(queue), self.n_edited, \
            buf._next_seq
        power_ref = buf._power_ref  # (a score may have rescaled the power weights)
        pending = dict(self._pending)  # (in order: the oldest pending level is forgotten first; tuples, not changed)
        undo: list[tuple[Hashable, Any]] = []  # (key, what the buffer held for it) before each observation
        try:
            for (key, level), s in zip(enc, scores.tolist()):
                low = buf.lowest() if key not in buf and buf.full else None
                if low is not None:  # the level it may evict (put back after the level that took its slot leaves)
                    undo.append((low[0], buf.snapshot(low[0])))
                undo.append((key, buf.snapshot(key)))
                self._observe_one(key, level, s)
        except Exception:
            for key, saved in reversed(undo):
                buf.restore(key, saved)
            buf._next_seq = next_seq
            buf._set_power_ref(power_ref)
            while len(queue) > n_queued:
                queue.pop()
            self.n_edited = n_edited
            self._pending = pending
            self.rng.bit_generator.state = rng_state
            raise

    def _observe_one(self, key: Hashable, level: Any, score: float) -> None:
        buf = self.buffer
        # edits follow replays only (the reference edits the levels it just replayed): a level proposed as new
        # that was already in the buffer (the generator or a mutator made it again) is evaluated, not edited. The
        # score answers the level's oldest proposal waiting (a level observed without one counts as replayed)
        replayed = key in buf and self._waiting(key) != "n"
        old, power_ref = buf.score(key) if replayed else 0.0, buf._power_ref
        # the proposals waiting, put back if the mutator fails (the replay answered leaves them; in order)
        pending = dict(self._pending) if replayed and key in self._pending else None
        super()._observe_one(key, level, score)
        if replayed and buf.rank(key) <= max(1, self.edit_top * len(buf)):
            rng_state = self.rng.bit_generator.state
            children = []
            for _ in range(self.n_children):
                try:
                    children.append(self.space.validate(self.mutator(level, self.rng)))
                except Exception as e:  # noqa: BLE001 - a user mutator's fault, named as such
                    buf.update(key, old)  # the refused observation changes nothing: score, generator, queue,
                    buf._set_power_ref(power_ref)  # the power weights' scale
                    self.rng.bit_generator.state = rng_state
                    if pending is not None:
                        self._pending = pending
                    raise ConfigError(f"accel's mutator {self.mutator!r} failed on a level of {self.space!r}: "
                                      f"{type(e).__name__}: {e}. Nothing was recorded.") from None
            self._queue.extend(children)
            self.n_edited += len(children)

    def _get_state(self) -> dict[str, Any]:
        out = super()._get_state()
        out["queue"] = [self.space.to_json(t) for t in self._queue]
        out["n_edited"] = self.n_edited
        return out

    def _set_state(self, state: dict[str, Any]) -> None:
        queue = deque(self.space.from_json(t) for t in state["queue"])
        n_edited = saved_count("saved n_edited", state["n_edited"])  # (int() took -1 and 2.5)
        super()._set_state(state)
        self._queue = queue
        self.n_edited = n_edited

    def _beliefs(self) -> dict[str, Any]:
        return {**super()._beliefs(), "n_edited": self.n_edited, "queued_edits": len(self._queue)}
