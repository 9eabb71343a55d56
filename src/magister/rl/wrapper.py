"""A Gymnasium wrapper that gives every episode a task and reports its score.

``CurriculumWrapper(env, teacher)`` asks ``teacher`` for a task on every
``reset`` and calls ``teacher.observe(task, score)`` once when the episode ends
(terminated or truncated). How the task reaches the environment
(``task_mode``):

* ``"options"`` - ``env.reset(options={"task": task})`` (the default);
* ``"set_task"`` - ``env.unwrapped.set_task(task)`` before ``env.reset()``;
* ``"factory"`` - ``env`` is a function ``make_env(task)``; a fresh env is
  built for every episode (the old one is closed).

Where the task comes from, in order: ``reset(options={"task": ...})`` (the
caller decides), a task pushed with :meth:`CurriculumWrapper.push_task`, a
task sent by :class:`~magister.rl.vector.CurriculumVectorEnv` through the reset
options, and finally the wrapper's own teacher. Without a teacher the wrapper
"exports" instead: it only applies the tasks it is given and puts each
episode's score in the final ``info`` (``info["magister_score"]``), which is
how vector envs and Ray rollout workers use it.

The teacher can be any object with ``propose()`` and ``observe(task, score)``
(a :class:`~magister.Teacher`, or a :class:`~magister.rl.ray.RayTeacher`).
An episode cut short by an early ``reset`` is not reported: the teacher only
hears about finished episodes, each exactly once.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np

from ..errors import ConfigError
from ..spaces import Space
from .scores import Episode, as_score_fn

__all__ = ["CurriculumWrapper", "TASK_MODES", "SCORE_KEY", "TASK_ID_KEY", "NEXT_ID_KEY", "TASKS_OPTION"]

TASK_MODES = ("options", "set_task", "factory")
#: final-info key holding the episode's score (export mode and owning mode alike)
SCORE_KEY = "magister_score"
#: final-info key holding the id the vector env gave the task (to match outcomes to tasks)
TASK_ID_KEY = "magister_task_id"
#: reset-info key: the id of the task the episode started with (when the vector env gave one)
NEXT_ID_KEY = "magister_next_task_id"
#: reset-option key through which a vector env sends per-sub-env tasks: {index: (task_id, task)}
TASKS_OPTION = "magister_tasks"


def _centre_task(space: Space) -> Any:
    return space.from_unit_batch(np.full((1, space.dim), 0.5))[0]


class CurriculumWrapper(gym.Wrapper):
    """Give each episode a task from a teacher and report its score when it ends.

    Args:
        env: a ``gymnasium.Env`` (``task_mode`` "options" or "set_task") or a
            function ``make_env(task) -> Env`` (``task_mode="factory"``).
        teacher: a teacher (anything with ``propose()`` / ``observe()``), or
            ``None`` for export mode (tasks come with the reset options).
        task_mode: "options", "set_task" or "factory" (see the module docstring).
        score: "success" (``info["is_success"]``), ``ReturnScore(low, high)``,
            a ``(low, high)`` return range, or a function ``f(Episode) -> float``.
        space: the task space; defaults to ``teacher.space``. Needed in factory
            mode without a teacher (to build the first env).
        index: this env's position inside a vector env (export mode).
        initial_task: task used to build the first env in factory mode
            (default: the centre of the space).
    """

    def __init__(
        self,
        env: gym.Env | Callable[[Any], gym.Env],
        teacher: Any = None,
        *,
        task_mode: str = "options",
        score: Any = "success",
        space: Space | None = None,
        index: int | None = None,
        initial_task: Any = None,
    ):
        if task_mode not in TASK_MODES:
            raise ConfigError(f"task_mode must be one of {TASK_MODES}, got {task_mode!r}")
        if teacher is not None and not (hasattr(teacher, "propose") and hasattr(teacher, "observe")):
            raise ConfigError(
                f"teacher must have propose() and observe() (a magister Teacher or RayTeacher), got {teacher!r}"
            )
        self.teacher = teacher
        self.task_space: Space | None = space if space is not None else getattr(teacher, "space", None)
        self.task_mode = task_mode
        self.score_fn = as_score_fn(score)
        self.index = index
        self._factory: Callable[[Any], gym.Env] | None = None
        if task_mode == "factory":
            if isinstance(env, gym.Env) or not callable(env):
                raise ConfigError("task_mode='factory' needs a function make_env(task) -> Env, not an env instance")
            self._factory = env
            if initial_task is None:
                if self.task_space is None:
                    raise ConfigError("factory mode without a teacher needs space=... or initial_task=... to build the first env")
                initial_task = _centre_task(self.task_space)
            env = self._factory(initial_task)
        elif not isinstance(env, gym.Env):
            raise ConfigError(
                f"CurriculumWrapper needs a gymnasium.Env (or task_mode='factory' with make_env(task)), got {env!r}"
            )
        if task_mode == "set_task" and not callable(getattr(env.unwrapped, "set_task", None)):
            raise ConfigError(
                f"task_mode='set_task' but {type(env.unwrapped).__name__} has no set_task(task) method; "
                "use task_mode='options' or 'factory'"
            )
        super().__init__(env)
        self._pushed: list[Any] = []
        #: tasks queued by a vector env in prefetch mode: [(task_id, task), ...]
        self._queue: list[tuple[int, Any]] = []
        self.task: Any = None
        self.task_id: int | None = None
        self._return = 0.0
        self._length = 0
        self._running = False
        #: (task, score) of the last finished episode
        self.last_outcome: tuple[Any, float] | None = None
        self.n_episodes = 0

    # ----------------------------------------------------------------- tasks
    def push_task(self, task: Any) -> None:
        """Use ``task`` for the next reset (before asking the teacher). Validated now if the space is known."""
        if self.task_space is not None:
            task = self.task_space.validate(task)
        self._pushed.append(task)

    def queue_tasks(self, sent: dict[int, list[tuple[int, Any]]], replace: bool = False) -> int:
        """Queue ``sent[self.index]`` (a list of ``(task_id, task)``) for the next episodes; returns the queue length.

        Used by :class:`~magister.rl.vector.CurriculumVectorEnv` with ``prefetch``:
        the vector env's own same-step autoreset (inside the worker, no options)
        then starts the next episode with the first queued task, so a finished
        episode costs no extra round trip.
        """
        if replace:
            self._queue.clear()
        self._queue.extend((int(i), t) for i, t in sent.get(self.index, []))
        return len(self._queue)

    def _next_task(self, options: dict[str, Any]) -> tuple[Any, int | None]:
        if "task" in options:
            return options.pop("task"), None
        sent = options.pop(TASKS_OPTION, None)
        if sent is not None:
            if self.index is None:
                raise ConfigError("this wrapper got per-env tasks but has no index; build it with index=i")
            if self.index in sent:
                task_id, task = sent[self.index]
                return task, int(task_id)
        if self._queue:
            task_id, task = self._queue.pop(0)
            return task, task_id
        if self._pushed:
            return self._pushed.pop(0), None
        if self.teacher is not None:
            return self.teacher.propose(), None
        raise ConfigError(
            "no task for this episode: give the wrapper a teacher, push_task(task), or reset(options={'task': task})"
        )

    def _apply(self, task: Any, options: dict[str, Any]) -> dict[str, Any]:
        if self.task_mode == "options":
            options["task"] = task
        elif self.task_mode == "set_task":
            self.env.unwrapped.set_task(task)
        else:
            assert self._factory is not None
            self.env.close()
            self.env = self._factory(task)
        return options

    # ------------------------------------------------------------------ gym
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        opts = dict(options or {})
        task, task_id = self._next_task(opts)
        opts = self._apply(task, opts)
        obs, info = self.env.reset(seed=seed, options=opts if opts else None)
        self.task, self.task_id = task, task_id
        self._return, self._length, self._running = 0.0, 0, True
        if task_id is not None:
            info = dict(info)
            info[NEXT_ID_KEY] = task_id
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._running:
            self._return += float(reward)
            self._length += 1
            if terminated or truncated:
                self._running = False
                episode = Episode(self.task, self._return, self._length, dict(info), bool(terminated), bool(truncated))
                score = float(self.score_fn(episode))
                if self.teacher is not None:
                    self.teacher.observe(self.task, score)
                info = dict(info)
                info[SCORE_KEY] = score
                if self.task_id is not None:
                    info[TASK_ID_KEY] = self.task_id
                self.last_outcome = (self.task, score)
                self.n_episodes += 1
        return obs, reward, terminated, truncated, info
