"""Parametric Gymnasium environments where a curriculum matters.

* ``magister/CliffWalk-v0`` (:class:`CliffWalk`): task ``(distance, wind)``;
* ``magister/PointGap-v0`` (:class:`PointGap`): task ``(position, width)``;
* ``magister/Maze-v0`` (:class:`~magister.rl.envs.maze.MazeEnv`): MiniGrid maze navigation on a
  :class:`~magister.levels.Maze` (task: a maze, a generator seed or a wall density).

All three take their task from ``reset(options={"task": ...})`` or ``set_task``,
give a sparse success (``info["is_success"]`` at the end of the episode), have
a region that cannot be learned, and a fixed test set of 100 tasks
(``Env.test_set()``). Their dynamics are vectorised numpy, so
:func:`evaluate` runs a whole test set in one batch.
"""

from __future__ import annotations

import gymnasium as gym

from .base import ParametricEnv, evaluate, mastered
from .cliff import CliffWalk
from .gap import PointGap
from .maze import MazeEnv, evaluate_mazes

__all__ = ["ParametricEnv", "CliffWalk", "PointGap", "MazeEnv", "evaluate", "evaluate_mazes", "mastered", "ENVS",
           "register_envs"]

#: gymnasium id -> class
ENVS: dict[str, type[ParametricEnv]] = {"magister/CliffWalk-v0": CliffWalk, "magister/PointGap-v0": PointGap}


def register_envs() -> None:
    """Register the environments with Gymnasium (idempotent)."""
    for env_id, cls in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"{cls.__module__}:{cls.__name__}")
    if "magister/Maze-v0" not in gym.registry:
        gym.register(id="magister/Maze-v0", entry_point="magister.rl.envs.maze:MazeEnv")


register_envs()
