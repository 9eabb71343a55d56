"""Small Gymnasium envs shared by the RL and service tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class SeedLevels(gym.Env):
    """A level per seed (the task is set from outside); action 1 ends the episode, action 0 goes on."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, bool(action == 1), False, {}
