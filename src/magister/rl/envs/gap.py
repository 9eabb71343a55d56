"""PointGap: steer a point through a gap in a wall to reach the far side.

Task ``(position, width)`` in ``[0, 1]^2``: a wall across the arena at
``y = 0.5`` has one gap centred at ``x = 0.05 + 0.9 * position``; its width is
``W = 0.5 * width - 0.2``. When ``W <= 0`` (``width <= 0.4``) there is no gap
and the goal cannot be reached: that part of the space cannot be learned.

The point starts at ``(0.5, 0.05)``; actions 0..3 move it up, down, left or
right by 0.08 (with Gaussian noise of 0.01); a move that would cross the wall
outside the gap is blocked. Reaching ``y >= 0.9`` within 40 steps is a success
(reward 1). Observation: ``(x, y, gap centre, gap width, t / 40)``.

Wide gaps in the middle are found by walking straight up; narrow gaps far to
the side need a precise sideways walk first, which is learned by stepping from
wide, central gaps to narrower, farther ones. Fixed test set:
:meth:`PointGap.test_set` (100 tasks drawn uniformly with seed 12345).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from ...spaces import Box
from .base import ParametricEnv

__all__ = ["PointGap"]

_MOVES = np.array([[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 0.0]])


class PointGap(ParametricEnv):
    """Point mass and a wall with a gap; task ``(position, width)`` (see the module docstring)."""

    task_space: ClassVar[Box] = Box([0.0, 0.0], [1.0, 1.0], names=["position", "width"])
    horizon: ClassVar[int] = 40
    step_size: ClassVar[float] = 0.08

    def __init__(self, task=None, horizon: int | None = None):
        super().__init__(task, horizon)
        self.observation_space = gym.spaces.Box(-0.5, 1.5, shape=(5,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)

    @classmethod
    def default_task(cls) -> np.ndarray:
        return np.array([0.5, 1.0])

    @classmethod
    def init_batch(cls, tasks, rng, horizon):
        tasks = np.asarray(tasks, dtype=float)
        n = len(tasks)
        return {
            "pos": np.tile(np.array([0.5, 0.05]), (n, 1)),
            "centre": 0.05 + 0.9 * tasks[:, 0],
            "width": 0.5 * tasks[:, 1] - 0.2,
            "t": np.zeros(n, dtype=np.int64),
            "horizon": np.full(n, horizon, dtype=np.int64),
        }

    @classmethod
    def step_batch(cls, state, actions, rng):
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        pos = state["pos"]
        new = pos + cls.step_size * _MOVES[a] + rng.normal(0.0, 0.01, size=pos.shape)
        new = np.clip(new, 0.0, 1.0)
        crosses = (pos[:, 1] < 0.5) != (new[:, 1] < 0.5)
        in_gap = np.abs(new[:, 0] - state["centre"]) <= state["width"] / 2
        blocked = crosses & ~in_gap
        new[blocked, 1] = pos[blocked, 1]
        state["pos"] = new
        state["t"] = state["t"] + 1
        success = new[:, 1] >= 0.9
        truncated = (state["t"] >= state["horizon"]) & ~success
        return success.astype(float), success, truncated, success

    @classmethod
    def obs_batch(cls, state):
        return np.column_stack([state["pos"], state["centre"], state["width"],
                                state["t"] / state["horizon"]]).astype(np.float32)

    @classmethod
    def oracle(cls, obs: np.ndarray) -> np.ndarray:
        """A near-best policy (line up with the gap below the wall, then go up)."""
        obs = np.asarray(obs)
        x, y, c = obs[:, 0], obs[:, 1], obs[:, 2]
        below = y < 0.5
        off = np.abs(x - c)
        side = np.where(x < c, 3, 2)
        return np.where(below & (off > 0.04), side, 0)
