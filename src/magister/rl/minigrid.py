"""Farama MiniGrid for level curricula (the ``magister[minigrid]`` extra; imports ``minigrid``).

* :class:`TextMazeEnv` - a ``MiniGridEnv`` built from a :class:`~magister.levels.Maze`
  (walls, goal, start; the start direction is random): the same level as
  :class:`~magister.rl.envs.maze.MazeEnv`, played by MiniGrid's own engine, for
  users who want MiniGrid's renderer, wrappers and objects;
* :class:`SeedTask` - a wrapper making any MiniGrid environment a level
  generator whose tasks are seeds (``SeedSpace``): ``reset(options={"task": s})``
  plays level ``s`` (MiniGrid draws its levels from the reset seed);
* :class:`FlatView` - MiniGrid's ``image`` observation as the flat vector of
  :class:`~magister.rl.envs.maze.MazeEnv` (wall and goal planes plus the
  direction), so one PPO student runs on both stacks;
* :func:`make_minigrid` - ``make_minigrid("MiniGrid-MultiRoom-N4-S5-v0")`` =
  ``FlatView(SeedTask(gym.make(...)))``.

Measured on 2 CPU cores (``benchmarks/levels_env_speed.py``), the lean numpy
:class:`~magister.rl.envs.maze.MazeEnv` steps an order of magnitude faster than
MiniGrid's engine on the same mazes, so the benchmark trains on it and keeps
this module for compatibility.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from ..errors import ConfigError, InvalidTaskError, missing_extra_import

try:
    from minigrid.core.grid import Grid
    from minigrid.core.mission import MissionSpace
    from minigrid.core.world_object import Goal, Wall
    from minigrid.minigrid_env import MiniGridEnv
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise missing_extra_import("magister.rl.minigrid", "minigrid", e) from e

from ..settings import flag, is_int, whole
from .envs.base import reset_options
from .envs.maze import OBS_DIM, VIEW, default_max_steps

__all__ = ["TextMazeEnv", "SeedTask", "FlatView", "make_minigrid"]

_WALL_ID, _GOAL_ID = 2, 8  # minigrid.core.constants.OBJECT_TO_IDX


class TextMazeEnv(MiniGridEnv):
    """MiniGrid on a :class:`~magister.levels.Maze` (task: a Maze or its text, from reset options or ``set_task``).

    ``see_through_walls=True`` by default, as in :class:`~magister.rl.envs.maze.MazeEnv`; the final ``info``
    carries ``"is_success"`` and ``"goal_reward"`` as there.
    """

    def __init__(self, task: Any = None, size: int = 15, max_steps: int | None = None,
                 see_through_walls: bool = True, **kwargs: Any):
        from ..levels import empty_maze

        # checked as MazeEnv checks them (max_steps=0 was the default, -1 cut every episode at its first step,
        # "10" or 1.5 failed in MiniGrid's assert, and see_through_walls="false" saw through walls)
        size = whole("TextMazeEnv: size", size, 4, floats=True, hint="border included")
        max_steps = None if max_steps is None else whole("TextMazeEnv: max_steps", max_steps, floats=True)
        see_through_walls = flag("TextMazeEnv: see_through_walls", see_through_walls)
        self.maze = self._check(task) if task is not None else empty_maze(size)
        self._fixed_max = max_steps
        h, w = self.maze.walls.shape
        super().__init__(mission_space=MissionSpace(mission_func=lambda: "get to the green goal square"),
                         width=w, height=h, max_steps=max_steps or default_max_steps(h, w),
                         see_through_walls=see_through_walls, **kwargs)

    @staticmethod
    def _check(task: Any) -> Any:
        from ..levels import Maze

        if isinstance(task, str):
            return Maze.parse(task)
        if not isinstance(task, Maze):
            raise InvalidTaskError(f"TextMazeEnv takes a Maze or its text, got {type(task).__name__}")
        return task

    def set_task(self, task: Any) -> None:
        self.maze = self._check(task)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = reset_options("TextMazeEnv", options)
        before = self.maze, self.height, self.width, self.max_steps
        if options and "task" in options:
            self.maze = self._check(options["task"])
        self.height, self.width = self.maze.walls.shape
        self.max_steps = self._fixed_max or default_max_steps(self.height, self.width)
        try:
            return super().reset(seed=seed)
        except BaseException:  # a seed Gymnasium refuses (-1, "3"): the level played stays the one before
            self.maze, self.height, self.width, self.max_steps = before
            raise

    def step(self, action: Any):
        obs, reward, term, trunc, info = super().step(action)
        if term or trunc:  # the final info of MazeEnv, so that score="success" sees the goal reached
            info = {**info, "is_success": bool(term), "goal_reward": float(reward)}
        return obs, reward, term, trunc, info

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        rows, cols = np.nonzero(self.maze.walls)
        for r, c in zip(rows.tolist(), cols.tolist()):
            self.grid.set(c, r, Wall())
        gr, gc = self.maze.goal
        self.put_obj(Goal(), gc, gr)
        sr, sc = self.maze.start
        self.agent_pos = (sc, sr)
        self.agent_dir = int(self._rand_int(0, 4))
        self.mission = "get to the green goal square"


class SeedTask(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Tasks are seeds: ``reset(options={"task": s})`` (or ``set_task(s)``) plays the level MiniGrid draws from seed ``s``.

    The final ``info`` carries ``"is_success"`` (the episode ended with a reward > 0, MiniGrid's goal reached)
    unless the env reports its own.
    """

    def __init__(self, env: gym.Env):
        # recorded in env.spec, so that gym.make(env.spec) (and check_env's close check) can rebuild the stack
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self.seed_: int | None = None

    def set_task(self, task: Any) -> None:
        self.seed_ = self._check(task)

    @staticmethod
    def _check(task: Any) -> int:
        if not is_int(task) or task < 0:
            raise InvalidTaskError(f"a MiniGrid level is a seed: a whole number >= 0, got {task!r}")
        return int(task)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        opts = dict(reset_options("SeedTask", options) or {})
        if "task" in opts:
            self.seed_ = self._check(opts.pop("task"))
        return self.env.reset(seed=self.seed_ if self.seed_ is not None else seed, options=opts or None)

    def step(self, action: Any):
        obs, reward, term, trunc, info = self.env.step(action)
        if (term or trunc) and "is_success" not in info:  # MiniGrid pays > 0 only on reaching its goal
            info = {**info, "is_success": bool(term and reward > 0)}
        return obs, reward, term, trunc, info


class FlatView(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """MiniGrid's dict observation -> the flat ``float32`` vector of :class:`~magister.rl.envs.maze.MazeEnv`."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        space = env.observation_space
        image = space.spaces.get("image") if isinstance(space, gym.spaces.Dict) else None
        if image is None or tuple(image.shape)[:2] != (VIEW, VIEW):
            raise ConfigError(f"FlatView needs MiniGrid's {VIEW} x {VIEW} 'image' observation (agent_view_size={VIEW}, "
                             f"the view of MazeEnv), got observation space {space}")
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        kinds = np.asarray(observation["image"])[:, :, 0].T  # MiniGrid indexes [x, y]; ours [row, col]
        out = np.zeros(OBS_DIM, dtype=np.float32)
        out[:VIEW * VIEW] = (kinds == _WALL_ID).reshape(-1)
        out[VIEW * VIEW:2 * VIEW * VIEW] = (kinds == _GOAL_ID).reshape(-1)
        out[2 * VIEW * VIEW + int(observation["direction"])] = 1.0
        return out


def make_minigrid(env_id: str, **kwargs: Any) -> gym.Env:
    """``FlatView(SeedTask(gym.make(env_id, **kwargs)))``: a MiniGrid env whose tasks are level seeds."""
    import minigrid  # noqa: F401  (registers the MiniGrid ids)

    return FlatView(SeedTask(gym.make(env_id, **kwargs)))
