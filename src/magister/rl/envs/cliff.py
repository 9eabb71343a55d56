"""CliffWalk: walk to a goal on a windy ledge and stop exactly there.

Task ``(distance, wind)`` in ``[0, 1]^2``:

* ``distance`` puts the goal at cell ``G = 2 + round(28 * distance)`` (2 to 30);
  right after the goal the ledge ends (a cliff);
* ``wind`` sets the chance ``min(1, 1.5 * wind)`` that each move is undone by a gust
  (the walker stays where it was).

The walker starts at cell 0. Actions: 0 = step right, 1 = stop here,
2 = step left. Stopping on the goal cell is a success (reward 1, episode
ends); stopping elsewhere or stepping past the goal (falling) ends the episode
with nothing. Episodes last at most 40 steps. Observation: ``(x / 30, G / 30,
wind, t / 40)``.

Why a curriculum matters: a random walker almost never reaches and stops on a
far goal (success is sparse), but a walker that learned to stop on near goals
extends that skill to farther ones. With strong wind (roughly ``wind > 0.4``
for most distances) even the best walker cannot cover the distance in 30 steps
against the gusts (``wind >= 2/3`` blocks every move): that part cannot be
learned, whatever the practice.
Fixed test set: :meth:`CliffWalk.test_set` (100 tasks drawn uniformly with
seed 12345).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from ...spaces import Box
from .base import ParametricEnv

__all__ = ["CliffWalk"]


class CliffWalk(ParametricEnv):
    """Windy cliff walk with a task ``(distance, wind)`` (see the module docstring)."""

    task_space: ClassVar[Box] = Box([0.0, 0.0], [1.0, 1.0], names=["distance", "wind"])
    horizon: ClassVar[int] = 40
    #: farthest goal cell
    max_cells: ClassVar[int] = 30
    #: gust probability at wind = 1 (capped at 1)
    max_gust: ClassVar[float] = 1.5

    def __init__(self, task=None, horizon: int | None = None):
        super().__init__(task, horizon)
        self.observation_space = gym.spaces.Box(0.0, 1.5, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)

    @classmethod
    def init_batch(cls, tasks, rng, horizon):
        tasks = np.asarray(tasks, dtype=float)
        n = len(tasks)
        return {
            "x": np.zeros(n, dtype=np.int64),
            "goal": (2 + np.rint((cls.max_cells - 2) * tasks[:, 0])).astype(np.int64),
            "wind": tasks[:, 1].copy(),
            "gust": np.minimum(1.0, cls.max_gust * tasks[:, 1]),
            "t": np.zeros(n, dtype=np.int64),
            "horizon": np.full(n, horizon, dtype=np.int64),
        }

    @classmethod
    def step_batch(cls, state, actions, rng):
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        x, goal = state["x"], state["goal"]
        stop = a == 1
        move = np.where(a == 0, 1, np.where(a == 2, -1, 0))
        gust = (rng.random(len(x)) < state["gust"]) & ~stop
        x = np.maximum(x + move - gust.astype(np.int64) * (move != 0), 0)
        success = stop & (x == goal)
        fell = x > goal
        state["x"] = np.minimum(x, cls.max_cells + 1)
        state["t"] = state["t"] + 1
        terminated = stop | fell
        truncated = (state["t"] >= state["horizon"]) & ~terminated
        return success.astype(float), terminated, truncated, success

    @classmethod
    def obs_batch(cls, state):
        return np.stack([state["x"] / cls.max_cells, state["goal"] / cls.max_cells, state["wind"],
                         state["t"] / state["horizon"]], axis=1).astype(np.float32)

    @classmethod
    def oracle(cls, obs: np.ndarray) -> np.ndarray:
        """The best policy (walk right, stop on the goal): an upper bound for tests and benchmarks."""
        obs = np.asarray(obs)
        x, goal = np.rint(obs[:, 0] * cls.max_cells), np.rint(obs[:, 1] * cls.max_cells)
        return np.where(x >= goal, 1, 0)
