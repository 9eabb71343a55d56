"""The base of the opponent teachers: the tasks are the opponents of a pool.

An opponent teacher is an ordinary discrete :class:`~magister.teacher.Teacher`
whose tasks are opponent ids. With a pool (``pool=OpponentPool(...)``) its
space is ``pool.space`` (``Discrete(max_ids)``: one task per id the pool will
ever hand out) and it only proposes ids that are members of the pool *now*:
the pool grows and evicts while training runs, so the space of live tasks is
the pool. Without a pool every task of the space is an opponent (a fixed set
of opponents, e.g. ``Discrete(["random", "greedy", "search"])``).

``observe(opponent, score)`` takes the learner's score against that opponent
in [0, 1] (win 1, draw 0.5, loss 0). The teacher keeps its own per-opponent
statistics (a win rate that is a running mean for the first ``1 / rate``
games, then an exponential moving average at ``rate``, shrunk towards 0.5 by
``prior`` pseudo-games), whatever other processes report to the shared pool's
records.

Exact resume, pool included: a teacher checkpoint names the pool's folder and
holds the pool's state at the save (:meth:`OpponentPool.state`: members,
records, ids handed out, the learner's rating, the eviction generator; the
snapshots stay in the folder). :func:`magister.load` reopens the folder; if
the pool changed since the save (a run that went on, added snapshots and
reported games, then crashed), loading is refused, changing nothing, unless
told what to do with it: ``pool="rewind"`` puts the pool back as it was at
the save (:meth:`OpponentPool.rewind`: snapshots added since are moved aside,
members evicted since come back from the files the pool keeps for its last
``keep_evicted`` evictions), so the resumed run is the run that was saved;
``pool="current"`` goes on with the pool as it is now.

``latest`` mixes a share of games against the newest member into any
teacher's distribution (``self-play`` is the teacher with ``latest=1``).

Subclasses implement ``_weights(ids)``: non-negative weights over the member
ids (an array of task indices), given the statistics.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..averages import refuse_outside_unit, task_indices
from ..errors import CheckpointError, ConfigError, InvalidTaskError
from ..rng import generator_state, restore_generator
from ..settings import few_tasks, fraction, number, rate as check_rate
from ..teacher import Teacher
from .pool import OpponentPool, UnknownOpponentError

__all__ = ["OpponentTeacher"]


def _draw(rng: np.random.Generator, probs: np.ndarray, k: int) -> np.ndarray:
    cdf = np.cumsum(probs, dtype=float)
    u = rng.random(k) * cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(probs) - 1).astype(np.int64)


class OpponentTeacher(Teacher):
    """Chooses opponents (ids of an :class:`OpponentPool`, or the tasks of a finite space).

    Args:
        pool: An :class:`OpponentPool` (or its folder); ``None`` makes every task of ``space`` an opponent.
        latest: Share of proposals that go to the newest member, in [0, 1].
        rate: Step of the win-rate average once an opponent has had ``1 / rate`` games (memory of the estimate).
        prior: Pseudo-games at 0.5 that shrink the win rate of a little-played opponent.
    """

    kind = "discrete"
    #: settings the conformance suite uses (none: the defaults work)
    conformance_kwargs: dict[str, Any] = {}
    #: ``magister.load(path, pool="rewind" | "current")``: what to do with a pool that changed since the save
    load_options = ("pool",)
    #: a teacher moved to a Ray actor while the run goes on takes the pool as it is then
    live_load_options = {"pool": "current"}

    def __init__(self, space, *, pool: Any = None, latest: float = 0.0, rate: float = 0.05, prior: float = 2.0,
                 seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self.pool = OpponentPool.coerce(pool)
        if self.pool is not None:
            # the checkpoint names the pool by its resolved folder (``to_config``), however it was given: a
            # folder given as a (relative) path was saved as typed, so the checkpoint reopened another folder
            # from another working directory, and a strict load compared it as a setting
            self._record_settings(pool=self.pool)
        if self.pool is not None and self.pool.max_ids != space.n:
            raise ConfigError(
                f"an opponent teacher over a pool needs the pool's space Discrete({self.pool.max_ids}), got {space!r}; "
                "build it as make_teacher(name, pool.space, pool=pool)"
            )
        if self.pool is not None and getattr(space, "opponent_pool", None) != str(self.pool.directory):
            # the teacher's space is the pool's, however it was built: a checkpoint rebuilds the space from its spec,
            # which does not name the pool, so recommend(magister.load(path).space) said 'sec' (a copy: the
            # caller's space object is left as it was)
            space = copy.copy(space)
            space.opponent_pool = str(self.pool.directory)
            self.space = space
        self.latest = fraction("latest", latest)
        self.rate = check_rate("rate", rate)
        self.prior = number("prior", prior, 0.0)
        n = few_tasks(space.n, "an opponent teacher keeps a win rate per opponent")
        self.games = np.zeros(n, dtype=np.int64)
        self.win_mean = np.full(n, 0.5)

    # ----------------------------------------------------------- opponents
    def members(self) -> np.ndarray:
        """Task indices of the opponents that can be proposed now (the pool's members, oldest first)."""
        if self.pool is None:
            return np.arange(self.space.n_tasks, dtype=np.int64)
        self.pool.refresh()
        return np.asarray(self.pool.ids, dtype=np.int64)

    def _encode(self, tasks: Any) -> np.ndarray:
        x = super()._encode(tasks)
        self._check_added(x)
        return x

    def _encode_one(self, task: Any) -> np.ndarray:
        x = super()._encode_one(task)
        self._check_added(x)
        return x

    def _check_added(self, x: np.ndarray) -> None:
        """Refuse an outcome against an id the pool never handed out: its statistics would greet the
        snapshot that gets the id later (evicted members' outcomes are fine)."""
        if self.pool is None or not len(x):
            return
        top = int(np.max(x))
        if top >= self.pool.n_added:
            self.pool.refresh()  # another process may have added it since
            if top >= self.pool.n_added:
                added = f"ids so far: 0..{self.pool.n_added - 1}" if self.pool.n_added else "it is empty"
                raise InvalidTaskError(f"opponent {top} was never added to the pool ({added}); report outcomes "
                                       "against the ids the pool handed out")

    def _ids(self, ids: Any) -> np.ndarray:
        """The members for ``None``, else ``ids`` checked: opponent ids of the space, ``0 .. n_tasks - 1`` (one or
        an array; an id past the space was numpy's raw ``IndexError``, a negative one read another opponent's
        statistics; each is an :class:`~magister.errors.InvalidTaskError` naming the range)."""
        return self.members() if ids is None else task_indices("ids", ids, self.space.n_tasks,
                                                               "opponent ids of the space (its max_ids)")

    def win_rates(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The learner's estimated score against each opponent (0.5 for an unplayed one); ``ids`` default to the
        members (an id of the space that is no member has its statistics too, 0.5 if never played). The answer has
        the shape of ``ids``, as ``array[ids]`` (one id: one number; a nested list: a table of the same rows)."""
        return self._win_rates(self._ids(ids))

    def _win_rates(self, ids: np.ndarray) -> np.ndarray:
        """:meth:`win_rates` of ids already checked (the members a proposal weighs: checked again, they cost each
        proposal a tenth more)"""
        w = np.minimum(self.games[ids], 1.0 / self.rate)
        n = w + self.prior
        # with prior=0 an unplayed member has no evidence at all: 0.5, not 0/0
        return np.divide(w * self.win_mean[ids] + 0.5 * self.prior, n, out=np.full(np.shape(n), 0.5), where=n > 0)

    def _weights(self, ids: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, probabilities)``: the members and the chance each is proposed next."""
        return self._distribution(self.members())

    def _distribution(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`distribution` over members ``ids`` already read (one read of the pool's index per call)."""
        if len(ids) == 0:
            raise UnknownOpponentError("there is no opponent to propose: the pool is empty; add a snapshot first "
                                       "(pool.add(snapshot_bytes))")
        w = np.asarray(self._weights(ids), dtype=float)
        total = w.sum()
        p = w / total if total > 0 and np.isfinite(total) else np.full(len(ids), 1.0 / len(ids))
        if self.latest > 0:
            p = (1.0 - self.latest) * p
            p[-1] += self.latest
        return ids, p

    def probabilities(self) -> np.ndarray:
        """The distribution of the next proposal over the whole space (0 outside the pool)."""
        ids, p = self.distribution()
        out = np.zeros(self.space.n_tasks)
        out[ids] = p
        return out

    # --------------------------------------------------------------- hooks
    def _propose(self, k: int) -> np.ndarray:
        ids, p = self.distribution()
        return ids[_draw(self.rng, p, k)]

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for i, s in zip(x.tolist(), scores.tolist()):
            self.games[i] += 1
            step = max(1.0 / self.games[i], self.rate)
            self.win_mean[i] += step * (s - self.win_mean[i])
        self._observe_more(x, scores)

    def _observe_more(self, x: np.ndarray, scores: np.ndarray) -> None:
        """Extra statistics of a subclass (in order)."""

    def _get_state(self) -> dict[str, Any]:
        return {"games": self.games.copy(), "win_mean": self.win_mean.copy(), **self._get_more()}

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The teacher's state and, over a pool, the pool's (:meth:`OpponentPool.state`) as ``"pool"``."""
        state = super().state_dict()
        if self.pool is not None:
            state["pool"] = self.pool.state()
        return state

    def load_state_dict(self, state: dict[str, Any], *, strict: bool = True, pool: str | None = None) -> None:
        """Restore a :meth:`state_dict`, and with it the pool it was saved with.

        If the pool changed since the save, the load is refused (``CheckpointError``, nothing changed) unless
        ``pool`` says what to do: ``"rewind"`` puts the pool back as the state holds it
        (:meth:`OpponentPool.rewind`; refused, changing nothing, when a member evicted since is no longer kept),
        so the run goes on exactly as the saved one; ``"current"`` keeps the pool as it is (the teacher then
        proposes from today's members). A state saved before checkpoints held the pool loads as ``"current"``."""
        if pool not in (None, "rewind", "current"):
            raise ConfigError(f"pool must be 'rewind' or 'current' (or None: refuse a pool that changed since the "
                              f"save), got {pool!r}")
        own = self.pool
        if own is None:
            if pool is not None:
                raise ConfigError(f"pool={pool!r} is for a teacher over an OpponentPool; this {self.name!r} has none")
            super().load_state_dict(state, strict=strict)
            return
        saved = state.get("pool") if isinstance(state, dict) else None
        if saved is None and pool == "rewind" and isinstance(state, dict) and "algorithm" in state:
            raise CheckpointError("this state holds no pool state (it was saved by a magister before checkpoints "
                                  "held the pool), so the pool cannot be rewound to it; load it with "
                                  "pool='current'. Nothing was changed")
        changes = None if saved is None or pool == "current" else own.changes_since(saved)
        if changes is not None and pool is None:
            raise CheckpointError(
                f"the opponent pool at {own.directory} changed since this state was saved: {changes}. "
                "Nothing was changed. To resume the saved run exactly, load with pool='rewind' (the pool goes back "
                "to the saved members and records; snapshots added since are moved to its rewound/ folder); to go "
                "on with the pool as it is now, pool='current' (magister.load(path, pool='rewind'); for a "
                "DualCurriculum, DualCurriculum.load(path, pool='rewind'))")
        if changes is None or saved is None:
            super().load_state_dict(state, strict=strict)
            return
        before = (copy.deepcopy(self._get_state()), generator_state(self.rng), self.n_observed, self.n_proposed)
        super().load_state_dict(state, strict=strict)
        try:
            own.rewind(saved)
        except BaseException:  # both or neither: the teacher goes back as it was
            self._set_state(before[0])
            self.rng, self.n_observed, self.n_proposed = restore_generator(before[1]), before[2], before[3]
            raise

    def _set_state(self, state: dict[str, Any]) -> None:
        games = np.asarray(state["games"], dtype=np.int64)
        win_mean = np.asarray(state["win_mean"], dtype=float)
        if games.shape != (self.space.n,) or win_mean.shape != (self.space.n,):
            raise ValueError(f"per-opponent arrays have shape {games.shape}, expected ({self.space.n},)")
        if (games < 0).any() or not np.isfinite(win_mean).all():
            raise ValueError("per-opponent games must be >= 0 and win means finite numbers")
        refuse_outside_unit("win_mean", win_mean, "win rates (averages of outcomes 0, 0.5 and 1)")  # (1e300 taken)
        self._check_pool_has(games)
        self._set_more(state)
        self.games, self.win_mean = games.copy(), win_mean.copy()

    def _check_pool_has(self, games: np.ndarray) -> None:
        """Refuse a saved state with games against ids the pool has not handed out yet: it was saved with
        another pool (a new pool made in the folder, or an older copy of it put back), and those statistics
        would greet the snapshots that get the ids later."""
        if self.pool is None:
            return
        self.pool.refresh()
        ahead = np.flatnonzero(games[self.pool.n_added:] > 0) + self.pool.n_added
        if len(ahead):
            raise CheckpointError(
                f"the teacher state has games against opponents {ahead[:10].tolist()}"
                f"{'...' if len(ahead) > 10 else ''}, but the pool at {self.pool.directory} has handed out only "
                f"{self.pool.n_added} id(s): the state was saved with another pool (a new pool in that folder, or "
                "an older copy of it restored). Load it with the pool it was saved with, or start the teacher "
                "afresh on this pool; the teacher was left as it was")

    def _get_more(self) -> dict[str, Any]:
        return {}

    def _set_more(self, state: dict[str, Any]) -> None:
        pass

    def _beliefs(self) -> dict[str, Any]:
        # an empty pool (before the first snapshot) has nothing to propose, but a dashboard's summary is empty,
        # not an error
        ids = self.members()
        ids, p = self._distribution(ids) if len(ids) else (ids, np.zeros(0))
        return {
            "kind": "discrete",
            "opponents": ids,
            "probability": p,
            "win_rate": self.win_rates(ids),
            "games": self.games[ids],
        }
