"""A curriculum on one Gymnasium env: the wrapper asks the teacher for a task on every reset.

    python examples/rl_gymnasium.py [--episodes 4000]

The "learner" here is a stand-in so the example runs in seconds: it walks right
and stops on the goal reliably up to its *reach*, and beyond its reach stops on
a random cell. A success on a goal near the edge of its reach extends the reach
by one cell with probability :data:`LEARN_PROB` (a quarter: it needs several
practice episodes per cell), so it improves only when it practises at its
frontier, as real agents do. The example trains it twice, once with an
adaptive teacher (``frontier``, which proposes tasks of intermediate predicted
success) and once with uniform tasks, prints where each teacher sent it and
how far it got, and ends with the number of episodes each needed until the
whole walk was within reach. Swap in your agent's policy for ``StandIn.act``.
docs/examples.md has the figures and how the teacher and the learner were
chosen.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

import magister as mg
from magister.rl import CurriculumWrapper
from magister.errors import ConfigError
from magister.rl.envs import CliffWalk
from magister.settings import whole


#: the chance that a success within two cells of the stand-in's reach extends the reach by one cell
LEARN_PROB = 0.25
#: the example's teacher (``--teacher`` picks another)
TEACHER = "frontier"


class StandIn:
    """Reliable up to ``reach`` cells; a success within two cells of the reach extends it by one with
    probability ``learn_prob``."""

    def __init__(self, seed: int, reach: int = 4, learn_prob: float = LEARN_PROB):
        # a stream of its own: seeded like the teacher (default_rng(seed)), the learner's draws would be the
        # teacher's numbers again, and whether it learns would follow what the teacher drew
        self.rng = np.random.default_rng([seed, 1])
        self.reach, self.target, self.learn_prob = reach, 0, learn_prob

    def start(self, obs: np.ndarray) -> None:
        goal = round(float(obs[1]) * CliffWalk.max_cells)  # the observation holds x / 30 and goal / 30
        self.goal = goal
        self.target = goal if goal <= self.reach else int(self.rng.integers(0, CliffWalk.max_cells + 1))

    def act(self, obs: np.ndarray) -> int:
        x = round(float(obs[0]) * CliffWalk.max_cells)
        return 1 if x >= self.target else 0

    def end(self, success: bool) -> None:
        if success and self.goal >= self.reach - 2 and self.rng.random() < self.learn_prob:
            self.reach = min(CliffWalk.max_cells, self.reach + 1)


def train(teacher_name: str, episodes: int, seed: int = 0, verbose: bool = True) -> dict:
    """Run ``episodes`` episodes of the stand-in under a teacher; returns its reach, the episode at which the
    reach first covered the whole walk (None if never), and each episode's success and goal distance."""
    teacher = mg.make_teacher(teacher_name, CliffWalk.task_space, seed=seed)
    env = CurriculumWrapper(gym.make("magister/CliffWalk-v0"), teacher, task_mode="options", score="success")
    learner = StandIn(seed)
    window = max(1, episodes // 5)
    successes, distances, full_reach_at = [], [], None
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
        if full_reach_at is None and learner.reach >= CliffWalk.max_cells:
            full_reach_at = episode + 1
        if verbose and (episode + 1) % window == 0:
            print(f"  {teacher_name:>9} episodes {episode + 2 - window:>5}-{episode + 1:<5} success "
                  f"{np.mean(successes[-window:]):4.0%}  mean task distance {np.mean(distances[-window:]):.2f}  "
                  f"reach {learner.reach} cells")
    env.close()
    return {"teacher": teacher, "reach": learner.reach, "full_reach_at": full_reach_at, "success": successes,
            "distance": distances}


def main(episodes: int = 4000, seed: int = 0, teacher_name: str | None = None) -> dict[str, dict]:
    # None picks the example's teacher; an empty name is refused like any other unknown one (`--teacher ""` ran
    # frontier as if the option had not been given)
    adaptive = TEACHER if teacher_name is None else teacher_name
    episodes = whole("episodes", episodes)  # refused before anything runs: 0 episodes would print nan% and a verdict
    if adaptive == "uniform":
        raise ConfigError("the teacher to compare with uniform cannot be 'uniform' itself; name an adaptive one")
    runs = {name: train(name, episodes, seed) for name in (adaptive, "uniform")}
    for name, run in runs.items():
        print(f"{name}: reach {run['reach']} of {CliffWalk.max_cells} cells after {episodes} episodes; "
              f"{np.mean(run['success']):.0%} of its training episodes succeeded")
    # episodes until the whole walk was within reach; a run that never got there took more than its budget (not
    # the budget itself: a teacher that got there on the last episode beats a uniform run that never did)
    took = {name: run["full_reach_at"] or episodes + 1 for name, run in runs.items()}
    shown = {name: f"{took[name]}" if runs[name]["full_reach_at"] else f"more than {episodes}" for name in runs}
    faster = runs[adaptive]["full_reach_at"] is not None and took[adaptive] < took["uniform"]
    print(f"teacher {adaptive}: {shown[adaptive]} vs uniform {shown['uniform']} episodes until the whole walk "
          f"was within reach: {'beats' if faster else 'does not beat'} uniform")
    with tempfile.TemporaryDirectory() as folder:  # a folder of its own: two runs at once do not collide
        path = Path(folder) / "cliffwalk-teacher.ckpt"
        runs[adaptive]["teacher"].save(path)
        print("the saved teacher resumes with", mg.load(path).n_observed, "episodes seen")
    return runs


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--episodes", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--teacher", default=None, help="adaptive teacher to compare with uniform")
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.episodes, a.seed, a.teacher)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
