"""Play a learner against opponents from a pool in a PettingZoo game, as a Gymnasium env.

:class:`OpponentEnv` turns a two-player PettingZoo game (AEC or parallel API)
into a single-agent ``gymnasium.Env`` for the learner's seat: at each
``reset`` it picks an opponent (an id of an
:class:`~magister.opponents.OpponentPool`), loads that snapshot's policy with
your ``load_policy(snapshot_bytes)``, and plays the opponent's moves itself;
``step`` takes the learner's action and returns once it is the learner's turn
again or the game is over. When a game ends the final ``info`` holds
``opponent``, ``seat``, ``outcome`` ("win", "draw", "loss", the learner's) and
``magister_outcome_score`` (1, 0.5, 0), and, if asked, the outcome goes to the
pool's record and to the teacher.

Where the opponent comes from, in order: ``reset(options={"opponent": id})``,
``reset(options={"task": id})`` (so :class:`~magister.rl.CurriculumWrapper`,
:class:`~magister.rl.CurriculumVectorEnv` and the Ray clients can drive it
with an opponent teacher and ``score=game_score``), the env's own
``teacher``, and finally the pool's newest member.

The outcome is read from the game's rewards when the learner's seat
terminates: more reward than the opponent is a win, less a loss, equal a
draw (pass ``outcome_fn(rewards, learner, opponent, terminated, truncated)`` for other games). A
game that stops without an outcome (truncated, a NaN total reward, or
``outcome_fn`` returns None) raises :class:`NoOutcomeError` and nothing is recorded; use
``on_truncation="draw"`` for games where a time limit is a draw. An opponent
that leaves the game first does not end it: the learner plays on alone until
its own seat ends (AEC and parallel alike). An AEC game that the opponent's
opening moves end is ended by the learner's first step (its action is not
played): a Gymnasium ``reset`` cannot end an episode.

Sharing one pool: the pool has one writer (the learner's process, which adds
snapshots and reports outcomes); envs in other processes (async vector envs,
Ray rollout workers) open it read-only (``pool=folder, report=False``), see new
members on their next reset, and hand outcomes back through ``info`` (or a
:class:`~magister.rl.ray.RayTeacher`), which the writer records with
``pool.report_many``.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from ..errors import CheckpointError, ConfigError, InvalidActionError, InvalidTaskError, MagisterError
from ..opponents import OpponentPool, OpponentTeacher, as_outcome, outcome_score
from ..opponents.dual import _checked_record, _restore, _snapshot
from ..opponents.pool import UnknownOpponentError
from ..rng import as_generator, generator_state, restore_generator
from ..settings import flag, is_int, whole
from ..teacher import Teacher
from .envs.base import discrete_action
from .scores import FunctionScore
from .wrapper import close_client

__all__ = ["OpponentEnv", "NoOutcomeError", "game_score", "OUTCOME_SCORE_KEY", "reward_outcome"]

#: final-info key holding the learner's score of the game (1 win, 0.5 draw, 0 loss)
OUTCOME_SCORE_KEY = "magister_outcome_score"
SEAT_CHOICES = ("alternate", "random")
#: the reset option keys an OpponentEnv reads (others are ignored, with a warning once per env)
RESET_OPTIONS = ("opponent", "task")


class NoOutcomeError(MagisterError, RuntimeError):
    """A game ended (or was cut off) without saying who won."""


def _game_score(episode: Any) -> float:
    if OUTCOME_SCORE_KEY not in episode.info:
        raise NoOutcomeError("the episode's final info has no game outcome; is the env an OpponentEnv?")
    return float(episode.info[OUTCOME_SCORE_KEY])


#: score function for :class:`~magister.rl.CurriculumWrapper` / ``CurriculumVectorEnv``: the learner's game score
game_score = FunctionScore(_game_score)


def reward_outcome(rewards: dict[str, float], learner: str, opponent: str, terminated: bool,
                   truncated: bool) -> str | None:
    """The default outcome rule: compare the two seats' total rewards once the learner's seat terminated (a NaN
    total says nothing about who won: :class:`NoOutcomeError`)."""
    if not terminated:
        return None
    a, b = float(rewards.get(learner, 0.0)), float(rewards.get(opponent, 0.0))
    if np.isnan(a) or np.isnan(b):  # (neither more nor less: every such game was recorded as a draw)
        raise NoOutcomeError(
            f"the game's total rewards are {learner}: {a}, {opponent}: {b}; a NaN reward says nothing about who "
            "won, so the game has no outcome. Fix the game's rewards, or pass outcome_fn to decide such games. "
            "Nothing was recorded.")
    return "win" if a > b else "loss" if a < b else "draw"


def _same_id(a: Any, b: Any) -> bool:
    """Whether two opponent ids given in reset options are one id (``3`` and ``np.int64(3)`` are)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays: not one id either way
        return False


class OpponentEnv(gym.Env):
    """The learner's seat of a two-player PettingZoo game; the other seat is played by a pool member.

    Args:
        game: a PettingZoo env (AEC or parallel) or a function (or class) returning one.
        pool: an :class:`OpponentPool` or its folder (opened read-only when ``report=False``; with
            ``report=True`` the folder opens a writable pool of its own: in a process that also changes the
            pool, pass that pool object instead, as a pool has one writer).
        load_policy: ``load_policy(snapshot_bytes) -> policy``; ``policy(observation) -> action``.
        seat: the learner's agent name, ``"alternate"`` (switch every game, default) or ``"random"`` (both only
            for a game whose two seats have the same observation and action spaces; else a ``ConfigError``).
        teacher: optional opponent teacher (``propose()`` / ``observe(id, score)``) owned by this env.
        report: write each game's outcome to the pool's record (the pool's writer process only: a second
            process writing the pool is refused with a ConfigError, see :class:`OpponentPool`).
        outcome_fn: ``f(rewards, learner, opponent, terminated, truncated) -> "win" | "draw" | "loss" | None``.
        on_truncation: ``"error"`` (default) or ``"draw"``.
        cache: how many loaded opponent policies to keep in memory.
        seed: seeds the seat choice (``seat="random"``); ``reset(seed=s)`` reseeds it, as Gymnasium's ``reset`` does.
    """

    metadata = {"render_modes": []}

    def __init__(self, game: Any, pool: Any, load_policy: Callable[[bytes], Callable[[Any], Any]], *,
                 seat: str = "alternate", teacher: Any = None, report: bool = True,
                 outcome_fn: Callable[..., str | None] | None = None, on_truncation: str = "error",
                 cache: int = 4, seed: Any = None):
        # a class is a function returning a game too: one with possible_agents as a class attribute was taken for
        # a game itself (a raw TypeError from observation_space called on the class)
        made = isinstance(game, type) or (callable(game) and not hasattr(game, "possible_agents"))
        self.game = game() if made else game
        if not hasattr(self.game, "possible_agents"):
            raise ConfigError(f"game must be a PettingZoo env or a function returning one, got {type(game).__name__}")
        self.parallel = not hasattr(self.game, "agent_iter")
        agents = list(self.game.possible_agents)
        if len(agents) != 2:
            raise ConfigError(f"OpponentEnv plays two-player games; this one has agents {agents}")
        self.agents = agents
        if seat not in SEAT_CHOICES and seat not in agents:
            raise ConfigError(f"unknown seat {seat!r}: use one of the game's agents {agents} or one of {SEAT_CHOICES}")
        if on_truncation not in ("error", "draw"):
            raise ConfigError(f"on_truncation must be 'error' or 'draw', got {on_truncation!r}")
        if not callable(load_policy):
            raise ConfigError("load_policy must be a function snapshot_bytes -> policy")
        # (report="false" was read as True: the env opened a writable pool and wrote every game to it)
        report = flag("report", report)
        cache = whole("cache", cache, 0, floats=True, hint="the number of loaded opponent policies kept in memory")
        if isinstance(pool, OpponentPool):
            self.pool = pool
        else:
            folder = pool["__pool__"] if isinstance(pool, dict) and set(pool) == {"__pool__"} else pool
            if not isinstance(folder, (str, os.PathLike)):  # None, a number...: a raw AttributeError/TypeError/KeyError
                raise ConfigError(f"pool must be an OpponentPool or its folder, got {type(pool).__name__}; create the "
                                  "pool with OpponentPool(folder) and pass it (or its folder)")
            self.pool = OpponentPool.coerce(folder) if report else OpponentPool(folder, readonly=True)
        if report and self.pool.readonly:  # every game would end in an error, after the teacher had its outcome
            raise ConfigError(f"the pool at {self.pool.directory} was opened read-only, so this env cannot record "
                              "outcomes; pass report=False (the writer process records them), or the writable pool")
        self.seat, self.teacher, self.report = seat, teacher, report
        self.load_policy, self.outcome_fn, self.on_truncation = load_policy, outcome_fn or reward_outcome, on_truncation
        self.cache_size = cache
        self._cache: OrderedDict[tuple[int, str], Callable[[Any], Any]] = OrderedDict()
        self._rng = as_generator(seed)
        self._games = 0
        first = agents[0] if seat in SEAT_CHOICES else seat
        self.observation_space = self.game.observation_space(first)
        self.action_space = self.game.action_space(first)
        if seat in SEAT_CHOICES:  # the learner plays both seats: one env, one pair of spaces
            for what in ("observation", "action"):
                a, b = (getattr(self.game, what + "_space")(agent) for agent in agents)
                if a != b:  # (the first seat's space was declared, and the other seat's observations lay outside it)
                    raise ConfigError(
                        f"seat={seat!r} has the learner play both seats, but their {what} spaces differ "
                        f"({agents[0]}: {a}, {agents[1]}: {b}), and a Gymnasium env has one; pick the learner's "
                        f"seat, e.g. seat={agents[0]!r} (one OpponentEnv per seat)")
        self.learner: str = first
        self.opponent_agent: str = agents[1] if first == agents[0] else agents[0]
        self.opponent_id: int | None = None
        self._policy: Callable[[Any], Any] | None = None
        self._done = True
        self._opponent_left = False
        self._ended_before_move = False
        self._last_obs: Any = None
        self._obs: dict[str, Any] = {}
        self._totals: dict[str, float] = {}
        self._carried = 0.0
        self._warned_options = False

    # ------------------------------------------------------------ opponents
    def _choose_opponent(self, options: dict[str, Any] | None) -> int:
        options = options or {}
        unknown = [key for key in options if key not in RESET_OPTIONS]
        if unknown and not self._warned_options:
            # a warning, not a refusal: wrappers may pass options meant for others down to this env (a vector env
            # passes its options to every sub-env); but a misspelled "oponent" silently played another opponent
            self._warned_options = True
            warnings.warn(f"OpponentEnv.reset ignores the option keys {unknown}: it reads only "
                          f"{list(RESET_OPTIONS)} (the opponent's id), else the opponent comes from the env's "
                          "teacher or is the pool's newest member; check the spelling if one of them was meant to "
                          "choose the opponent. (Shown once per env.)", UserWarning, stacklevel=3)
        if "opponent" in options:
            if "task" in options and not _same_id(options["opponent"], options["task"]):
                # the task is what a CurriculumWrapper / CurriculumVectorEnv / Ray client credits the game's score
                # to: playing another opponent gave that teacher the score of a game its task never played
                raise ConfigError(
                    f"reset options name opponent {options['opponent']!r} but task {options['task']!r}: the "
                    "teacher that gave the task would be credited with a game against another opponent. Under a "
                    "CurriculumWrapper or CurriculumVectorEnv pass the chosen opponent as options={'task': id} "
                    "(not 'opponent'); no game was started")
            return options["opponent"]
        if "task" in options:
            return options["task"]
        if self.teacher is not None:
            return self.teacher.propose()
        self.pool.refresh()
        return self.pool.latest

    def _policy_of(self, opponent_id: Any) -> Callable[[Any], Any]:
        if isinstance(opponent_id, np.integer) and not isinstance(opponent_id, np.timedelta64):
            opponent_id = int(opponent_id)
        self.pool.refresh()
        # the cache is keyed by id and the snapshot's SHA-256: after OpponentPool.rewind an id handed out again names
        # another snapshot (this env played the rewound-away one in its place)
        key = (opponent_id, self.pool.record(opponent_id).sha256) if opponent_id in self.pool else None
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        policy = self.load_policy(self.pool.load(opponent_id))  # unknown, missing or corrupt: raises here
        if not callable(policy):
            raise ConfigError(f"load_policy returned {type(policy).__name__}; it must return a function obs -> action")
        self._cache[(opponent_id, self.pool.record(opponent_id).sha256)] = policy
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return policy

    def _why_not_a_member(self, opponent: Any) -> str | None:
        """Why an opponent chosen for a game is not a member of the pool, when it is known, and what to do."""
        if isinstance(self.teacher, OpponentTeacher) and self.teacher.pool is None:
            # (make_teacher(name, pool.space) without pool=: every id of Discrete(max_ids) is an opponent to it)
            return ("The env's teacher has no pool, so every task of its space is an opponent to it: build it over "
                    "the pool, magister.make_teacher(name, pool.space, pool=pool).")
        if is_int(opponent) \
                and 0 <= opponent < self.pool.n_added:
            return ("It was chosen before the writer evicted it: a teacher client that draws opponents ahead "
                    "(RayTeacher(actor, prefetch=n), CurriculumVectorEnv(..., prefetch=n)) hands out members evicted "
                    "meanwhile. Reset again for the next opponent (a CurriculumWrapper drops this one), and keep "
                    "prefetch small when the pool evicts.")
        return None

    def _choose_seat(self) -> str:
        if self.seat == "alternate":
            return self.agents[self._games % 2]
        if self.seat == "random":
            return self.agents[int(self._rng.integers(2))]
        return self.seat

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        opponent = self._choose_opponent(options)
        space = getattr(self.teacher, "space", None)
        if hasattr(space, "validate"):  # an id the teacher cannot take fails here, not when the game is over
            try:
                space.validate(opponent)
            except InvalidTaskError as e:
                raise InvalidTaskError(f"opponent {opponent!r} is not a task of the env's teacher ({e}); no game "
                                       "was started") from None
        try:
            policy = self._policy_of(opponent)  # before anything changes: a bad snapshot leaves the env as it was
        except UnknownOpponentError as e:
            why = self._why_not_a_member(opponent)
            if why is None:
                raise
            raise UnknownOpponentError(f"{e} {why} No game was started") from None
        self.opponent_id, self._policy = int(opponent), policy
        if seed is not None:  # reset(seed=s) reproduces the game, the seat="random" draw included (Gymnasium's rule)
            self._rng = as_generator(seed)
        self.learner = self._choose_seat()
        self.opponent_agent = self.agents[1] if self.learner == self.agents[0] else self.agents[0]
        self._games += 1
        self._totals = {a: 0.0 for a in self.agents}
        self._done = False
        self._opponent_left = self._ended_before_move = False
        if self.parallel:
            obs, infos = self.game.reset(seed=seed)
            self._obs = obs
            return obs[self.learner], self._info(infos.get(self.learner, {}))
        self.game.reset(seed=seed)
        # the learner's reward from the opponent's opening moves (a gym reset returns none): paid with the first step
        self._carried = self._advance_aec()
        obs, _, term, trunc, info = self.game.last()
        self._last_obs = obs
        # the opponent's opening moves may end the game (it resigned, a round limit): a Gymnasium reset cannot
        # say so, so the learner's first step ends it, its action unplayed (the game refused it as a dead
        # agent's, a raw ValueError, and the game was never recorded)
        self._ended_before_move = bool(term or trunc) or self.learner not in self.game.agents
        return obs, self._info(info)

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        return dict(info, opponent=self.opponent_id, seat=self.learner)

    def _collect(self, rewards: dict[str, float]) -> float:
        for a in self.agents:
            self._totals[a] += float(rewards.get(a, 0.0))
        return float(rewards.get(self.learner, 0.0))

    def _advance_aec(self) -> float:
        """Play the opponent's moves until it is the learner's turn or the game is over; the learner's reward."""
        g = self.game
        reward = 0.0
        while g.agents and g.agent_selection != self.learner:
            obs, _, term, trunc, _ = g.last()
            g.step(None if term or trunc else self._policy(obs))  # type: ignore[misc]
            reward += self._collect(g.rewards)
        return reward

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._done:
            raise ConfigError("the game is over (or was never started); call reset() first")
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete) and discrete_action(action, int(space.start), int(space.n),
                                                                      as_given=True) is None:
            # the game's own check was a bare AssertionError (gone under python -O)
            raise InvalidActionError(
                f"the learner's actions are the whole numbers {int(space.start)}..{int(space.start + space.n - 1)} "
                f"(the game's action space {space}), got {action!r}; nothing was played")
        if self.parallel:
            return self._step_parallel(action)
        g = self.game
        if self._ended_before_move:
            reward, self._carried = self._carried, 0.0
            term, trunc = bool(g.terminations.get(self.learner, True)), bool(g.truncations.get(self.learner, False))
            return self._finish(self._last_obs, reward, term, trunc, {})
        g.step(action)
        reward = self._carried + self._collect(g.rewards) + self._advance_aec()
        self._carried = 0.0
        if not g.agents or self.learner not in g.agents:
            term, trunc = bool(g.terminations.get(self.learner, True)), bool(g.truncations.get(self.learner, False))
            obs, info = self._last_obs, {}
        else:
            obs, _, term, trunc, info = g.last()
            self._last_obs = obs
        return self._finish(obs, reward, bool(term), bool(trunc), dict(info))

    def _step_parallel(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        actions = {self.learner: action}
        if not self._opponent_left:  # an agent that left the game gets no more actions (the parallel API)
            actions[self.opponent_agent] = self._policy(self._obs[self.opponent_agent])  # type: ignore[misc]
        obs, rewards, terms, truncs, infos = self.game.step(actions)
        self._obs = obs
        reward = self._collect(rewards)
        if terms.get(self.opponent_agent, False) or truncs.get(self.opponent_agent, False):
            # the learner plays on alone until its own seat ends, as in the AEC API; this used to end the learner's
            # episode as truncated, so a game the learner won once the opponent was out raised NoOutcomeError (or,
            # with on_truncation="draw", was counted a draw) while the AEC version of the same game said "win"
            self._opponent_left = True
        term = bool(terms.get(self.learner, False))
        trunc = bool(truncs.get(self.learner, False))
        return self._finish(obs.get(self.learner), reward, term, trunc, dict(infos.get(self.learner, {})))

    def _finish(self, obs: Any, reward: float, term: bool, trunc: bool, info: dict) -> tuple:
        info = self._info(info)
        if term or trunc:
            self._done = True
            outcome = self.outcome_fn(dict(self._totals), self.learner, self.opponent_agent, term, trunc)
            if outcome is None and trunc and self.on_truncation == "draw":
                outcome = "draw"
            if outcome is None:
                raise NoOutcomeError(
                    f"the game against opponent {self.opponent_id} ended ({'truncated' if trunc else 'terminated'}) "
                    "without an outcome; pass outcome_fn, or on_truncation='draw' if a time limit is a draw. "
                    "Nothing was recorded."
                )
            try:
                outcome = as_outcome(outcome)
            except MagisterError as e:
                raise NoOutcomeError(f"outcome_fn gave no usable outcome: {e}. Nothing was recorded.") from None
            score = outcome_score(outcome)
            info.update(outcome=outcome, **{OUTCOME_SCORE_KEY: score})
            # the teacher first: it checks the outcome and records all of it or nothing, so a refusal leaves the
            # pool's record as it was (the other way round, the pool had counted a game that then raised)
            # a pool that then refuses the write (a second writer, a deleted folder) says "nothing was changed":
            # the env's own teacher is put back too, or it kept a game the pool never recorded
            record = _checked_record(self.teacher, True, self.opponent_id, score) if self.report else None
            if record is not None:
                # magister's own opponent teachers: checked above, recorded once the pool took the game (they
                # refuse nothing they passed), so nothing is copied to put back (a copy of the per-opponent arrays
                # took a quarter of the pool's write for opponent-lp, more than the write with max_ids=100_000)
                try:
                    self.pool.report(self.opponent_id, outcome)  # type: ignore[union-attr]
                except UnknownOpponentError:
                    info["unrecorded"] = "the opponent was evicted from the pool during the game"
                record()
                return obs, reward, term, trunc, info
            before = _snapshot(self.teacher) if self.report and isinstance(self.teacher, Teacher) else None
            if self.teacher is not None:
                self.teacher.observe(self.opponent_id, score)
            if self.report:
                try:
                    self.pool.report(self.opponent_id, outcome)  # type: ignore[arg-type]
                except UnknownOpponentError:
                    info["unrecorded"] = "the opponent was evicted from the pool during the game"
                except Exception:
                    if before is not None:
                        _restore(self.teacher, before)
                    raise
        return obs, reward, term, trunc, info

    def state_dict(self) -> dict[str, Any]:
        """The env's own state that picks the learner's seat: the games started (``seat="alternate"`` switches every
        game) and the seat generator (``seat="random"``). A run resumed from a teacher checkpoint with a new env
        plays the saved run's seats only if the env is loaded with the state saved beside the checkpoint."""
        return {"games": self._games, "rng": generator_state(self._rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a damaged one is refused, leaving the env as it was."""
        try:
            games = whole("games", state["games"], 0)
            rng = restore_generator(state["rng"])
        except (KeyError, TypeError, ValueError) as e:  # (a ConfigError is a ValueError)
            raise CheckpointError(f"not an OpponentEnv state ({type(e).__name__}: {e}); pass what "
                                  "OpponentEnv.state_dict() returned. The env was left as it was") from None
        self._games, self._rng = games, rng

    def close(self) -> None:
        """Close the game, then send what the env's own teacher client buffered (see
        :func:`~magister.rl.wrapper.close_client`: a ``RayTeacher`` is flushed, or closed if copied here)."""
        try:
            self.game.close()
        finally:
            close_client(self.teacher)
