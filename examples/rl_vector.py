"""A curriculum on an async vector env with the built-in PPO student.

    python examples/rl_vector.py [--steps 60000]

The teacher stays in this process; tasks travel to the 4 subprocess envs in
their reset options and scores come back in their infos, in one
``observe_batch`` / ``propose(k)`` per step where some episode ended.
"""

from __future__ import annotations

import argparse

import magister as mg
from magister.rl import CurriculumVectorEnv
from magister.rl.envs import CliffWalk, evaluate, mastered
from magister.rl.ppo import PPO


def main(steps: int = 60_000, seed: int = 0) -> float:
    teacher = mg.make_teacher("alp-gmm" if "alp-gmm" in mg.available_teachers() else "uniform",
                              CliffWalk.task_space, seed=seed)
    venv = CurriculumVectorEnv([CliffWalk] * 4, teacher, vectorization="async")
    agent = PPO(obs_dim=4, n_actions=3, seed=seed)
    agent.learn(venv, total_steps=steps)
    venv.close()
    share = mastered(evaluate(CliffWalk, agent.policy(), CliffWalk.test_set()))
    print(f"{teacher.n_observed} episodes; test tasks mastered: {share:.0%}")
    return share


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60_000)
    main(p.parse_args().steps)
