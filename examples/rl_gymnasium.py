"""A curriculum on one Gymnasium env: the wrapper asks the teacher for a task on every reset.

    python examples/rl_gymnasium.py

The "learner" here is a stand-in (the oracle walker with some random
mistakes that get rarer with practice) so the example runs in a second; swap
in your agent's policy.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import magister as mg
from magister.rl import CurriculumWrapper

space = mg.Box([0.0, 0.0], [1.0, 1.0], names=["distance", "wind"])
teacher = mg.make_teacher("alp-gmm" if "alp-gmm" in mg.available_teachers() else "uniform", space, seed=0)
env = CurriculumWrapper(gym.make("magister/CliffWalk-v0"), teacher, task_mode="options", score="success")

rng = np.random.default_rng(0)
for episode in range(400):
    obs, info = env.reset(seed=episode)
    skill = min(1.0, episode / 300)  # the stand-in learner improves with practice
    done = False
    while not done:
        x, goal = round(obs[0] * 20), round(obs[1] * 20)
        action = (1 if x >= goal else 0) if rng.random() < skill else int(rng.integers(0, 3))
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    # the wrapper already called teacher.observe(task, score) for this episode
    if episode % 100 == 99:
        print(f"episode {episode + 1}: last task {np.round(env.unwrapped.task, 2)}, score {info['magister_score']}")

teacher.save("/tmp/cliffwalk-teacher.ckpt")
print("teacher saw", mg.load("/tmp/cliffwalk-teacher.ckpt").n_observed, "episodes")
