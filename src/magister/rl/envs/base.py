"""Shared machinery of the parametric environments: vectorised dynamics, tasks, test sets.

Each environment is written once as batched numpy dynamics over ``n``
independent episodes (``BatchDynamics``); the Gymnasium ``Env`` is the same
code with ``n = 1``, and :func:`evaluate` runs a whole test set at once.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from operator import index as _index
from typing import Any, Callable, ClassVar

import gymnasium as gym
import numpy as np

from ...errors import ConfigError, InvalidActionError, InvalidTaskError, SettingTypeError
from ...settings import number, whole
from ...spaces import Box

__all__ = ["ParametricEnv", "evaluate", "mastered"]


class ParametricEnv(gym.Env):
    """Base class: a Gymnasium env whose episodes are parametrised by a continuous task.

    The task is taken from ``reset(options={"task": task})`` or from
    :meth:`set_task` (kept for later resets); it is checked against
    :attr:`task_space` and a bad task raises ``InvalidTaskError`` without
    changing the env. Subclasses define the class attributes and the batched
    ``_init``/``_step``/``_obs`` functions.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    #: the task space (a magister Box)
    task_space: ClassVar[Box]
    #: episode length limit
    horizon: ClassVar[int]
    #: seed of the fixed test set
    test_seed: ClassVar[int] = 12345

    def __init__(self, task: Any = None, horizon: int | None = None):
        super().__init__()
        self.horizon_ = _horizon(horizon, self.horizon)
        self._task = self._check(task) if task is not None else self.default_task()
        self._state: dict[str, np.ndarray] | None = None

    # ----------------------------------------------------------- tasks
    @classmethod
    def default_task(cls) -> np.ndarray:
        """An easy task (used until one is given)."""
        return cls.task_space.low.copy()

    @classmethod
    def _check(cls, task: Any) -> np.ndarray:
        try:
            return np.asarray(cls.task_space.validate(task), dtype=float)
        except InvalidTaskError as e:
            raise InvalidTaskError(f"{cls.__name__}: {e}") from None

    @property
    def task(self) -> np.ndarray:
        return self._task.copy()

    def set_task(self, task: Any) -> None:
        """Use ``task`` from the next reset on."""
        self._task = self._check(task)

    @classmethod
    def test_set(cls) -> np.ndarray:
        """The fixed test set: 100 tasks, ``(100, dim)``, the same on every call and machine."""
        rng = np.random.Generator(np.random.PCG64(cls.test_seed))
        u = rng.random((100, cls.task_space.dim))
        return cls.task_space.from_unit_batch(u)

    # ------------------------------------------------------ dynamics API
    @classmethod
    def init_batch(cls, tasks: np.ndarray, rng: np.random.Generator, horizon: int) -> dict[str, np.ndarray]:
        """Start ``len(tasks)`` episodes; returns the batched state."""
        raise NotImplementedError

    @classmethod
    def step_batch(cls, state: dict[str, np.ndarray], actions: np.ndarray, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance every episode: returns (reward, terminated, truncated, success); mutates ``state``."""
        raise NotImplementedError

    @classmethod
    def obs_batch(cls, state: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    # -------------------------------------------------------------- gym
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = reset_options(type(self).__name__, options)
        task = self._check(options["task"]) if options and "task" in options else self._task
        super().reset(seed=seed)  # after the check: a refused task leaves the generator unseeded too
        self._task = task
        self._state = self.init_batch(self._task[None, :], self.np_random, self.horizon_)
        return self.obs_batch(self._state)[0], {"task": self._task.copy()}

    def step(self, action: Any):
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):  # before anything changes: a refused action costs no step
            start = int(space.start)
            whole_ = discrete_action(action, start, int(space.n))
            if whole_ is None:
                raise InvalidActionError(f"{type(self).__name__} actions are the whole numbers {start}.."
                                 f"{start + int(space.n) - 1}; got {action!r}")
            a = np.asarray([whole_])
        else:
            a = np.asarray([action]).reshape(1, *space.shape) if space.shape else np.asarray([int(action)])
        reward, term, trunc, success = self.step_batch(self._state, a, self.np_random)
        obs = self.obs_batch(self._state)[0]
        info = {"is_success": bool(success[0])} if (term[0] or trunc[0]) else {}
        return obs, float(reward[0]), bool(term[0]), bool(trunc[0]), info


def reset_options(who: str, options: Any, example: str = "{'task': task}") -> Any:
    """``reset(options=...)`` checked: a dict (any mapping) or None. Anything else failed inside the reset with a raw
    ``TypeError`` ("argument of type 'int' is not iterable"), or, for text holding "task", read a character of it."""
    if options is None or isinstance(options, Mapping):
        return options
    raise SettingTypeError(f"{who}.reset(options=...) takes a dict such as {example}, or None; got "
                           f"{reprlib.repr(options)}")


def discrete_action(action: Any, start: int, n: int, *, as_given: bool = False) -> Any:
    """The move ``action`` makes among the whole numbers ``start .. start + n - 1`` (a ``Discrete(n, start)`` action
    space), or None when it makes none: the one check of an action, before anything changes (a refused action costs
    no step).

    By default (:meth:`ParametricEnv.step`, :meth:`~magister.rl.envs.maze.MazeEnv.step`) the move is an int: from a
    Python or numpy integer, or a whole float (0-d arrays too); None for a bool (``int()`` took True as 1), text,
    NaN, 1.7 (``int()`` played it as 1), an array (even of one element) or ragged lists. Integers take a fast path
    (every step of a Gymnasium loop).

    ``as_given=True`` (``OpponentEnv.step``: its game, maybe a user's, reads the action itself) returns ``action``
    unchanged unless it is surely no move: None for no number (``None``, text, a complex number, a date), a number
    that is not whole, or one outside the range, also inside a 1-element array. A bool, a 1-element array or a torch
    scalar in the range, and what is not one number it can read (an array of several, a tensor on a GPU, an object)
    go to the game, which may take them."""
    if type(action) is int or isinstance(action, np.integer) or (as_given and isinstance(action, int)):
        try:  # (with as_given, a bool or another int subclass too; one past 64 bits is out of range)
            a = _index(action)
        except TypeError:  # a timedelta64, an integer type to numpy but no index (int() of one in seconds raised
            return None  # Python's raw TypeError, and one without a unit was action 1); an array of them below
    else:
        if as_given and (action is None or isinstance(action, (str, bytes))):
            return None
        try:
            raw = np.asarray(action)
        except Exception as e:  # ragged lists (numpy's ValueError), a tensor on a GPU (torch's own advice)
            if as_given:
                return action
            if isinstance(e, ValueError):
                return None
            raise
        if as_given and raw.size == 1:
            raw = raw.reshape(())
        kind = raw.dtype.kind
        if raw.ndim != 0 or kind not in ("biuf" if as_given else "iuf"):
            # as_given refuses only what is surely no number: an array of several or an object goes to the game
            return action if as_given and (raw.ndim != 0 or kind not in "cUSMm") else None
        if kind == "f" and not (np.isfinite(raw) and float(raw).is_integer()):
            return None
        a = int(raw)
    if not start <= a < start + n:
        return None
    return action if as_given else a


def _batch_actions(env_cls: type[ParametricEnv], space: Any, actions: Any, n: int) -> np.ndarray:
    """A policy's actions for ``n`` episodes, checked as :meth:`ParametricEnv.step` checks one."""
    raw = np.asarray(actions)
    if isinstance(space, gym.spaces.Discrete):
        # one per episode; an (n, 1) column is read as the dynamics always read it
        ok = raw.size == n and raw.ndim <= 2 and raw.dtype.kind in "iuf" and bool(np.isfinite(raw).all())
        if ok:
            whole_ = raw.astype(np.int64)
            ok = bool((whole_ == raw).all() and (whole_ >= space.start).all() and (whole_ < space.start + space.n).all())
        if not ok:
            shown = np.unique(raw)[:5].tolist() if raw.dtype.kind in "iufb" else str(raw.dtype)
            raise ConfigError(f"evaluate({env_cls.__name__}): the policy must give one action per episode, an array "
                              f"of shape ({n},) of the whole numbers {int(space.start)}.."
                              f"{int(space.start + space.n - 1)}; got shape {raw.shape}, values {shown}")
    return raw


def _horizon(horizon: Any, default: int) -> int:
    """The episode length limit: ``default`` for None, else a whole number >= 1 (0 no longer means the default)."""
    return int(default) if horizon is None else whole("horizon", horizon, floats=True, hint="the steps an episode "
                                                      "may last at most, or None for the env's own")


def evaluate(env_cls: type[ParametricEnv], policy: Callable[[np.ndarray], np.ndarray], tasks: np.ndarray,
             episodes: int = 10, seed: int = 0, horizon: int | None = None) -> np.ndarray:
    """Success rate of ``policy`` (batched obs -> actions) on each task, all episodes at once.

    Returns an array ``(len(tasks),)`` of success rates in [0, 1].
    """
    episodes = whole("evaluate: episodes", episodes, floats=True)
    h = _horizon(horizon, env_cls.horizon)
    try:  # a task outside the space (or of the wrong shape) would play a level the env never defines
        tasks = np.asarray(env_cls.task_space.validate_batch(tasks), dtype=float)
    except InvalidTaskError as e:
        raise InvalidTaskError(f"evaluate({env_cls.__name__}): {e}; pass a list of tasks of "
                               f"{env_cls.task_space!r}") from None
    rng = np.random.Generator(np.random.PCG64(seed))
    rep = np.repeat(tasks, episodes, axis=0)
    state = env_cls.init_batch(rep, rng, h)
    alive = np.ones(len(rep), dtype=bool)
    won = np.zeros(len(rep), dtype=bool)
    # an action outside the space played as another move (CliffWalk's 7: stand still; PointGap's -1: right)
    space = env_cls().action_space
    for _ in range(h):
        actions = _batch_actions(env_cls, space, policy(env_cls.obs_batch(state)), len(rep))
        _, term, trunc, success = env_cls.step_batch(state, actions, rng)
        won |= alive & success
        alive &= ~(term | trunc)
        if not alive.any():
            break
    return won.reshape(len(tasks), episodes).mean(axis=1)


def mastered(success_rates: np.ndarray, threshold: float = 0.8) -> float:
    """Share of tasks whose success rate reaches ``threshold``.

    Rates and threshold are shares in [0, 1] (what :func:`evaluate` returns): a threshold of 80 (a percentage)
    mastered nothing, rates in percent all reached 0.8, and no rates gave NaN with numpy's warnings; each is a
    ``ConfigError``."""
    threshold = number("mastered: threshold", threshold, 0.0, 1.0, hint="a share of episodes, e.g. 0.8 for 80%")
    try:
        rates = np.asarray(success_rates, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        rates = np.full(1, np.nan)
    if rates.size == 0 or not np.all((rates >= 0) & (rates <= 1)):  # (NaN fails both)
        raise ConfigError(f"mastered: success_rates must be one or more shares in [0, 1] (as evaluate() returns), "
                          f"got {reprlib.repr(success_rates)}")
    return float(np.mean(rates >= threshold))
