"""A curriculum for a Stable-Baselines3 agent.

    python examples/rl_sb3.py [--steps 40000] [--seed 0]

Each SB3 env is a ``CurriculumWrapper`` holding the same teacher (SB3's
``DummyVecEnv`` runs the envs in this process). With ``SubprocVecEnv``, put
the teacher in a Ray actor and give each env a ``RayTeacher`` built from the
actor's name instead (see ``examples/rl_rllib.py``; keep SubprocVecEnv's
default start method, not ``"fork"``), or use
``magister.rl.CurriculumVectorEnv``. The
same SB3 PPO is trained twice, under ADR and under uniform sampling of the
task space, and both are scored on CliffWalk's fixed test set.
"""

from __future__ import annotations

import argparse
from typing import Any

import magister as mg
from magister.rl import CurriculumWrapper
from magister.rl.envs import CliffWalk, evaluate, mastered
from magister.settings import numpy_global_seed, whole

STEPS = 40_000
#: the steps of SB3's rollout on each env (a rollout is N_STEPS x n_envs steps; a budget is rounded up to whole ones)
N_STEPS = 128


def train(teacher_name: str, steps: int = STEPS, seed: int = 0, n_envs: int = 4) -> tuple[Any, Any, float]:
    """Train SB3's PPO on CliffWalk under ``teacher_name``; returns the teacher, the model and the share of
    test tasks it masters."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    teacher = mg.make_teacher(teacher_name, CliffWalk.task_space, seed=seed)
    venv = DummyVecEnv([lambda: CurriculumWrapper(CliffWalk(), teacher)] * n_envs)
    model = PPO("MlpPolicy", venv, n_steps=N_STEPS, batch_size=256, learning_rate=1e-3, gamma=0.98, seed=seed,
                policy_kwargs={"net_arch": [64, 64]}, verbose=0, device="cpu")
    model.learn(total_timesteps=steps)

    def policy(obs):
        return model.predict(obs, deterministic=True)[0]

    share = mastered(evaluate(CliffWalk, policy, CliffWalk.test_set()))
    print(f"  {teacher_name:>7}: {teacher.n_observed} episodes observed; test tasks mastered: {share:.0%}")
    return teacher, model, share


def main(steps: int = STEPS, seed: int = 0, teacher_name: str = "adr", n_envs: int = 4) -> dict[str, float]:
    """``teacher_name`` against uniform sampling, same budget and seed; returns the share mastered by each."""
    # refused before anything runs: 0 steps would train nothing, and a budget under one rollout trained a whole
    # rollout (512 steps) while the last line said "after 1 steps"
    steps = whole("steps", steps, N_STEPS * n_envs, hint=f"one rollout is {N_STEPS} steps on each of the {n_envs} "
                  "envs, and a budget is rounded up to whole rollouts")
    numpy_global_seed(seed, "SB3")  # (refused before anything runs: numpy's takes 32 bits)
    shares = {name: train(name, steps, seed, n_envs)[2] for name in (teacher_name, "uniform")}
    print(f"teacher {teacher_name}: {shares[teacher_name]:.0%} vs uniform {shares['uniform']:.0%} "
          f"of CliffWalk's test tasks mastered after {steps} steps: "
          f"{'beats' if shares[teacher_name] > shares['uniform'] else 'does not beat'} uniform")
    return shares


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.steps, a.seed)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
