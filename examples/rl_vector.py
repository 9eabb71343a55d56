"""A curriculum on an async vector env with the built-in PPO student.

    python examples/rl_vector.py [--steps 60000] [--seed 0]

The teacher stays in this process; tasks travel to the 4 subprocess envs in
their reset options and scores come back in their infos, in one
``observe_batch`` / ``propose(k)`` per step where some episode ended. The same
PPO is trained twice, under ADR and under uniform sampling of the task space,
and both are scored on CliffWalk's fixed test set.
"""

from __future__ import annotations

import argparse

import magister as mg
from magister.rl import CurriculumVectorEnv
from magister.rl.envs import CliffWalk, evaluate, mastered
from magister.rl.ppo import PPO
from magister.settings import whole

#: PPO's rollout: 64 steps on each of the 4 envs; a budget is rounded up to whole rollouts
N_ENVS, N_STEPS = 4, 64
ROLLOUT = N_ENVS * N_STEPS


def train(teacher_name: str, steps: int = 60_000, seed: int = 0, vectorization: str = "async") -> float:
    """Train PPO on CliffWalk under ``teacher_name``; returns the share of test tasks it masters."""
    teacher = mg.make_teacher(teacher_name, CliffWalk.task_space, seed=seed)
    venv = CurriculumVectorEnv([CliffWalk] * N_ENVS, teacher, vectorization=vectorization)
    agent = PPO(obs_dim=4, n_actions=3, seed=seed)
    agent.learn(venv, total_steps=steps, n_steps=N_STEPS)
    venv.close()
    share = mastered(evaluate(CliffWalk, agent.policy(), CliffWalk.test_set()))
    print(f"  {teacher_name:>7}: {teacher.n_observed} episodes; test tasks mastered: {share:.0%}")
    return share


def main(steps: int = 60_000, seed: int = 0, teacher_name: str = "adr", vectorization: str = "async"
         ) -> dict[str, float]:
    """``teacher_name`` against uniform sampling, same budget and seed; returns the share mastered by each."""
    # refused before anything runs: 0 steps would train nothing, and a budget under one rollout trained a whole
    # rollout (256 steps) while the last line said "after 1 steps"
    steps = whole("steps", steps, ROLLOUT, hint=f"one rollout is {N_STEPS} steps on each of the {N_ENVS} envs, and "
                  "a budget is rounded up to whole rollouts")
    shares = {name: train(name, steps, seed, vectorization) for name in (teacher_name, "uniform")}
    print(f"teacher {teacher_name}: {shares[teacher_name]:.0%} vs uniform {shares['uniform']:.0%} "
          f"of CliffWalk's test tasks mastered after {steps} steps: "
          f"{'beats' if shares[teacher_name] > shares['uniform'] else 'does not beat'} uniform")
    return shares


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--steps", type=int, default=60_000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.steps, a.seed)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
