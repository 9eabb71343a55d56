"""A curriculum on one Gymnasium env: the wrapper asks the teacher for a task on every reset.

    python examples/rl_gymnasium.py [--episodes 1500]

The "learner" here is a stand-in so the example runs in seconds: it walks right
and stops on the goal reliably up to its *reach*, and beyond its reach stops on
a random cell. Each success on a goal near the edge of its reach extends the
reach by one cell, so it improves only when it practises at its frontier, as
real agents do. The example trains it twice, once with an adaptive teacher and
once with uniform tasks, and prints where each teacher sent it and how far it
got. Swap in your agent's policy for ``StandIn.act``.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import magister as mg
from magister.rl import CurriculumWrapper
from magister.rl.envs import CliffWalk


class StandIn:
    """Reliable up to ``reach`` cells; a success within two cells of the reach extends it by one."""

    def __init__(self, seed: int, reach: int = 4):
        self.rng, self.reach, self.target = np.random.default_rng(seed), reach, 0

    def start(self, obs: np.ndarray) -> None:
        goal = round(float(obs[1]) * CliffWalk.max_cells)  # the observation holds x / 30 and goal / 30
        self.goal = goal
        self.target = goal if goal <= self.reach else int(self.rng.integers(0, CliffWalk.max_cells + 1))

    def act(self, obs: np.ndarray) -> int:
        x = round(float(obs[0]) * CliffWalk.max_cells)
        return 1 if x >= self.target else 0

    def end(self, success: bool) -> None:
        if success and self.goal >= self.reach - 2:
            self.reach = min(CliffWalk.max_cells, self.reach + 1)


def train(teacher_name: str, episodes: int, seed: int = 0, verbose: bool = True) -> dict:
    """Run ``episodes`` episodes of the stand-in under a teacher; returns its reach and success rates."""
    teacher = mg.make_teacher(teacher_name, CliffWalk.task_space, seed=seed)
    env = CurriculumWrapper(gym.make("magister/CliffWalk-v0"), teacher, task_mode="options", score="success")
    learner = StandIn(seed)
    window = max(1, episodes // 5)
    successes, distances = [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed * 100_003 + episode)
        learner.start(obs)
        distances.append(float(env.unwrapped.task[0]))
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(learner.act(obs))
            done = terminated or truncated
        # the wrapper has already called teacher.observe(task, score) for this episode
        successes.append(float(info["magister_score"]))
        learner.end(bool(successes[-1]))
        if verbose and (episode + 1) % window == 0:
            print(f"  {teacher_name:>9} episodes {episode + 2 - window:>5}-{episode + 1:<5} success "
                  f"{np.mean(successes[-window:]):4.0%}  mean task distance {np.mean(distances[-window:]):.2f}  "
                  f"reach {learner.reach} cells")
    env.close()
    return {"teacher": teacher, "reach": learner.reach, "success": successes, "distance": distances}


def main(episodes: int = 1500, seed: int = 0, teacher_name: str | None = None) -> dict[str, dict]:
    adaptive = teacher_name or ("riac-plus" if "riac-plus" in mg.available_teachers() else "alp-gmm")
    runs = {name: train(name, episodes, seed) for name in (adaptive, "uniform")}
    for name, run in runs.items():
        print(f"{name}: reach {run['reach']} of {CliffWalk.max_cells} cells after {episodes} episodes")
    success = {name: float(np.mean(run["success"])) for name, run in runs.items()}
    print(f"teacher {adaptive}: {success[adaptive]:.0%} vs uniform {success['uniform']:.0%} of training episodes "
          f"succeeded (the curriculum sends the learner where it can succeed while it learns): "
          f"{'beats' if success[adaptive] > success['uniform'] else 'does not beat'} uniform")
    path = "/tmp/cliffwalk-teacher.ckpt"
    runs[adaptive]["teacher"].save(path)
    print("the saved teacher resumes with", mg.load(path).n_observed, "episodes seen")
    return runs


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--teacher", default=None, help="adaptive teacher to compare with uniform")
    a = p.parse_args()
    main(a.episodes, a.seed, a.teacher)
