"""A curriculum for a Stable-Baselines3 agent.

    python examples/rl_sb3.py [--steps 50000]

Each SB3 env is a ``CurriculumWrapper`` holding the same teacher (SB3's
``DummyVecEnv`` runs the envs in this process). With ``SubprocVecEnv``, put
the teacher in a Ray actor and give each env a ``RayTeacher`` instead (see
``examples/rl_rllib.py``), or use ``magister.rl.CurriculumVectorEnv``.
"""

from __future__ import annotations

import argparse

import magister as mg
from magister.rl import CurriculumWrapper
from magister.rl.envs import CliffWalk, evaluate, mastered


def main(steps: int = 50_000, seed: int = 0, n_envs: int = 4):
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    teacher = mg.make_teacher("alp-gmm" if "alp-gmm" in mg.available_teachers() else "uniform",
                              CliffWalk.task_space, seed=seed)
    venv = DummyVecEnv([lambda: CurriculumWrapper(CliffWalk(), teacher)] * n_envs)
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=256, learning_rate=1e-3, gamma=0.98, seed=seed,
                policy_kwargs={"net_arch": [64, 64]}, verbose=0, device="cpu")
    model.learn(total_timesteps=steps)

    def policy(obs):
        return model.predict(obs, deterministic=True)[0]

    share = mastered(evaluate(CliffWalk, policy, CliffWalk.test_set()))
    print(f"{teacher.n_observed} episodes observed; test tasks mastered: {share:.0%}")
    return teacher, model


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50_000)
    main(p.parse_args().steps)
