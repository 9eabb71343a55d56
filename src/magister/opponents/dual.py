"""A dual curriculum: a level (or game variant) teacher and an opponent teacher together.

Games that have both levels (board sizes, maps, handicaps) and opponents get
one task per game: a ``(level, opponent)`` pair. The two teachers stay
independent: each proposes its half, and the learner's score of the game goes
to both (the level teacher learns which levels are worth practising, the
opponent teacher which opponents). Any teacher works as the level teacher; any
:class:`~magister.opponents.OpponentTeacher` as the opponent teacher. With a
level teacher that evaluates some levels without training on them
(``robust-plr``, ``accel``, ``learnability``), draw the games with
:meth:`DualCurriculum.propose_with_info`, whose ``info["train"]`` says which.

``save`` / :meth:`DualCurriculum.load` keep both in one atomic checkpoint
(the opponent teacher's pool is named by its folder and reopened).
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import checkpoint
from ..errors import CheckpointError, ConfigError, InvalidScoreError
from ..scores import ScoreLike
from ..teacher import Teacher, from_state_dict

__all__ = ["DualCurriculum"]


def _snapshot(teacher: Teacher) -> tuple[Any, ...]:
    """What a refused call must put back, without the settings: a teacher that cannot be saved (an
    ``accel`` with a lambda mutator) can still be rolled back (``state_dict`` would refuse it)."""
    return (copy.deepcopy(teacher._get_state()), teacher.rng.bit_generator.state, teacher.n_observed,
            teacher.n_proposed)


def _restore(teacher: Teacher, snap: tuple[Any, ...]) -> None:
    state, rng, n_observed, n_proposed = snap
    teacher._set_state(state)
    teacher.rng.bit_generator.state = rng
    teacher.n_observed, teacher.n_proposed = n_observed, n_proposed


def _proposal_undo(teacher: Teacher) -> Callable[[], None]:
    """A function that takes back a proposal ``teacher`` is about to make. One of magister's own opponent teachers
    draws its proposals from its generator alone (their proposals change nothing else, tested), so its generator
    and count are what goes back; any other teacher is put back whole (``_snapshot``), which copies its
    per-opponent arrays: ``max_ids`` long, a copy took 1.7 ms for ``pfsp`` (6.8 ms for ``opponent-lp``) with
    ``max_ids=100_000``, on every proposal, where the proposal itself took 40 us."""
    if not _own_opponent_teacher(teacher, "propose", "_propose"):
        before = _snapshot(teacher)
        return lambda: _restore(teacher, before)
    rng, n_proposed = teacher.rng.bit_generator.state, teacher.n_proposed

    def undo() -> None:
        teacher.rng.bit_generator.state = rng
        teacher.n_proposed = n_proposed

    return undo


def _own_opponent_teacher(teacher: Any, *methods: str) -> bool:
    """Whether ``teacher`` is one of magister's own opponent teachers, with ``OpponentTeacher``'s ``methods``
    (not overridden by a subclass of one's own, whose proposals or observations may change other state)."""
    cls: Any = type(teacher)  # (a class is hashable: the cache's key)
    return _own_opponent_class(cls, methods)


@functools.cache
def _own_opponent_class(cls: type, methods: tuple[str, ...]) -> bool:
    """``_own_opponent_teacher`` for a class, worked out once per class (it runs at every game)."""
    from .teacher import OpponentTeacher

    return issubclass(cls, OpponentTeacher) and cls.__module__.startswith("magister.") \
        and all(getattr(cls, m) is getattr(OpponentTeacher, m) for m in methods)


#: what an opponent teacher runs to record outcomes: where none is overridden (magister's own), every outcome
#: that passed its check is recorded (their ``_observe`` counts games and averages scores; it refuses nothing)
_RECORDING = ("observe", "observe_batch", "_checked_outcome", "_checked_outcomes", "_encode", "_encode_one",
              "_record", "_observe")


def _checked_record(teacher: Any, one: bool, tasks: Any, scores: Any) -> Callable[[], None] | None:
    """For one of magister's own opponent teachers: ``tasks`` and ``scores`` checked as its ``observe``
    (``one``) or ``observe_batch`` checks them, raising its error with nothing changed, and the function that
    records them, which cannot refuse them. ``None`` for any other teacher, whose own ``observe`` may refuse
    after another teacher recorded the game: the caller puts that one back from a copy of its state
    (``_snapshot``), which for a level teacher with a long history (``plr``'s 10,000 levels) took 40 times as
    long as recording the game in both teachers."""
    if not _own_opponent_teacher(teacher, *_RECORDING):
        return None
    enc, s = teacher._checked_outcome(tasks, scores) if one else teacher._checked_outcomes(tasks, scores)
    return lambda: teacher._record(enc, s)


def _one_game_route(teacher: Teacher) -> bool:
    """Whether ``DualCurriculum.observe`` gives its game to the level teacher ``teacher`` through the teacher's
    ``observe`` rather than as a batch of one: for magister's own teachers, whose ``observe`` records a game as their
    ``observe_batch`` records a batch of it (the conformance suite's ``batch_observe`` check, to the bit); a teacher
    of one's own (a subclass of one of magister's included) may tell them apart, and gets the batch of one as
    before."""
    return type(teacher).__module__.startswith("magister.")


def _check_dual(state: Any, what: str) -> None:
    """Refuse what is not a DualCurriculum state (a state without one of its teachers raised a raw KeyError)."""
    if not isinstance(state, dict) or state.get("dual") != 1:
        raise CheckpointError(f"{what} is not a DualCurriculum state (missing 'dual'); use what "
                              "DualCurriculum.state_dict() or save() wrote")
    missing = [k for k in ("levels", "opponents") if not isinstance(state.get(k), dict)]
    if missing:
        raise CheckpointError(f"{what} is a damaged DualCurriculum state: no {' or '.join(missing)} teacher state; "
                              "restore it from a backup or an earlier checkpoint")


class DualCurriculum:
    """Propose ``(level, opponent)`` pairs from two teachers; a game's score goes to both."""

    def __init__(self, levels: Teacher, opponents: Teacher):
        for what, t in (("levels", levels), ("opponents", opponents)):
            if not isinstance(t, Teacher):
                raise ConfigError(f"{what} must be a magister Teacher, got {type(t).__name__}")
        from .teacher import OpponentTeacher

        if not isinstance(opponents, OpponentTeacher):
            raise ConfigError(f"opponents must be an opponent teacher (self-play, fsp, pfsp, opponent-lp), "
                              f"got {opponents.name!r}")
        if levels is opponents:  # each game went to the one teacher twice (observed twice, proposed from twice)
            raise ConfigError(f"DualCurriculum got one teacher object ({opponents.name!r}) as both the level and the "
                              "opponent teacher, so it would count every game twice; give it two teachers, e.g. "
                              "DualCurriculum(make_teacher('uniform', levels_space), make_teacher('pfsp', "
                              "pool.space, pool=pool))")
        self.levels, self.opponents = levels, opponents

    def _both(self, k: int | None, levels: Any) -> tuple[Any, Any]:
        """The opponent teacher's proposal, then ``levels(k)``'s; a refusal or failure of the level teacher puts
        the opponent teacher back as it was (its generator had drawn, so the next pairs differed)."""
        # the opponents first: an empty pool (or a bad k) is refused before the level teacher draws anything
        undo = _proposal_undo(self.opponents)
        opponents = self.opponents.propose(k)
        try:
            return opponents, levels(k)
        except BaseException:
            undo()  # both or neither
            raise

    def propose(self, k: int | None = None) -> Any:
        """One ``(level, opponent)`` pair, or a list of ``k``; one refused (by either teacher) changes neither."""
        opponents, levels = self._both(k, self.levels.propose)
        return (levels, opponents) if k is None else list(zip(levels, opponents))

    def propose_with_info(self, k: int | None = None) -> tuple[Any, Any]:
        """Like :meth:`propose` (the same pairs), with the level teacher's info for each: ``(pair, info)``, or
        ``(pairs, infos)`` for ``k``. ``info["train"]`` False means play the game and send its score but do
        not learn from it (``robust-plr`` and ``accel`` train only on replayed levels; see
        :meth:`magister.teacher.Teacher.propose_with_info`)."""
        opponents, (levels, infos) = self._both(k, self.levels.propose_with_info)
        return ((levels, opponents), infos) if k is None else (list(zip(levels, opponents)), infos)

    def observe(self, level: Any, opponent: Any, score: ScoreLike) -> None:
        """The learner's score of one game on ``level`` against ``opponent``; refused input changes neither."""
        # magister's own teachers take the game through their own one-game check and record: as a batch of one, the
        # batch checks took more than half of the game (41 us, 17 in the two teachers' own observe). The opponent
        # teacher checks it first, and then cannot refuse it, so a refusal by either changes neither, as in
        # observe_batch
        record = _checked_record(self.opponents, True, opponent, score) if _one_game_route(self.levels) \
            else None
        if record is None:  # a teacher of one's own: a batch of one, as before
            self.observe_batch([level], [opponent], [score])
            return
        self.levels.observe(level, score)
        record()

    def observe_batch(self, levels: Sequence[Any] | np.ndarray, opponents: Sequence[Any] | np.ndarray,
                      scores: Sequence[ScoreLike] | np.ndarray) -> None:
        for what, values in (("levels", levels), ("opponents", opponents), ("scores", scores)):
            if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or getattr(values, "ndim", 1) == 0:
                raise InvalidScoreError(f"observe_batch takes a sequence of {what}, one per game, got {values!r}; "
                                        "use observe(level, opponent, score) for one game. Nothing was recorded.")
        if not len(levels) == len(opponents) == len(scores):
            raise InvalidScoreError(f"observe_batch got {len(levels)} levels, {len(opponents)} opponents and "
                                    f"{len(scores)} scores; pass one of each per game. Nothing was recorded.")
        # both or neither: magister's own opponent teachers check the game first (a refusal changes nothing) and
        # then cannot refuse it, so the level teacher needs no copy to be put back from
        record = _checked_record(self.opponents, False, opponents, scores)
        if record is not None:
            self.levels.observe_batch(levels, scores)
            record()
            return
        before = _snapshot(self.levels)
        self.levels.observe_batch(levels, scores)
        try:
            self.opponents.observe_batch(opponents, scores)
        except Exception:
            _restore(self.levels, before)  # both or neither
            raise

    def beliefs(self) -> dict[str, Any]:
        return {"teacher": "dual", "levels": self.levels.beliefs(), "opponents": self.opponents.beliefs()}

    def state_dict(self) -> dict[str, Any]:
        return {"dual": 1, "levels": self.levels.state_dict(), "opponents": self.opponents.state_dict()}

    def load_state_dict(self, state: dict[str, Any], *, pool: str | None = None) -> None:
        """Restore both teachers; ``pool`` (``"rewind"`` or ``"current"``) as in the opponent teacher's
        :meth:`~magister.opponents.OpponentTeacher.load_state_dict`, for a pool that changed since the save."""
        _check_dual(state, "state")
        before = _snapshot(self.levels)
        self.levels.load_state_dict(state["levels"])
        try:
            self.opponents.load_state_dict(state["opponents"], **_pool_option(pool))
        except Exception:
            _restore(self.levels, before)
            raise

    def save(self, path: str | os.PathLike) -> Path:
        self.levels._check_loadable()  # DualCurriculum.load rebuilds each teacher by its registered name
        self.opponents._check_loadable()
        return checkpoint.save_state(path, self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, *, pool: str | None = None) -> DualCurriculum:
        """Rebuild a saved dual curriculum; ``pool`` as in :meth:`load_state_dict`."""
        state = checkpoint.load_state(path)
        _check_dual(state, f"checkpoint file {str(path)!r}")
        with checkpoint.from_file(path):
            return cls(from_state_dict(state["levels"]), from_state_dict(state["opponents"], **_pool_option(pool)))


def _pool_option(pool: str | None) -> dict[str, Any]:
    """``pool=`` for the opponent teacher's load, given only when set (a teacher over fixed opponents takes none)."""
    return {} if pool is None else {"pool": pool}
