"""A curriculum for RLlib (new API stack): one teacher actor shared by every env runner.

    python examples/rl_rllib.py [--steps 32768] [--runners 0] [--seed 0]

The teacher lives in a named Ray actor. Each RLlib sub-env is a
``CurriculumWrapper`` in export mode; the callback from ``rllib_callback``
pushes a task into it when RLlib creates an episode and reports its score
when the episode ends (through a prefetching, batching client of the actor).
With ``--runners 0`` (the default, for one small machine) RLlib samples in
this process; with ``--runners N`` each of N env-runner actors talks to the
same teacher actor. On a cluster, call ``ray.init(address="auto")`` instead.

The same PPO is trained twice, under ADR and under uniform sampling of the
task space, and both are scored on CliffWalk's fixed test set. PPO gets the
settings of the Stable-Baselines3 PPO of ``examples/rl_sb3.py`` (512-step
batches, 10 epochs of 256-step minibatches, a [64, 64] tanh network,
learning rate 1e-3): with RLlib's own defaults (4000-step batches, a
[256, 256] network) ADR masters next to nothing within this budget.
Figures: docs/examples.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import ray

import magister as mg
from magister.errors import ConfigError
from magister.rl.ray import rllib_callback, start_teacher_actor
from magister.settings import numpy_global_seed, whole

STEPS = 32_768
BATCH = 512


def make_env(config):
    from magister.rl import CurriculumWrapper
    from magister.rl.envs import CliffWalk

    return CurriculumWrapper(CliffWalk(), None)


def train(teacher_name: str, steps: int = STEPS, seed: int = 0, runners: int = 0) -> float:
    """Train RLlib's PPO on CliffWalk under ``teacher_name``; returns the share of test tasks it masters."""
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.tune.registry import register_env

    from magister.rl.envs import CliffWalk, evaluate, mastered

    actor_name = f"magister-{teacher_name}"
    actor = start_teacher_actor(mg.make_teacher(teacher_name, CliffWalk.task_space, seed=seed), name=actor_name)
    register_env("magister-cliffwalk", make_env)
    config = (
        PPOConfig()
        .environment("magister-cliffwalk")
        .env_runners(num_env_runners=runners, num_envs_per_env_runner=4, num_cpus_per_env_runner=1 if runners else 0)
        .training(train_batch_size_per_learner=BATCH, minibatch_size=256, num_epochs=10, lr=1e-3, gamma=0.98,
                  lambda_=0.95, entropy_coeff=0.0, vf_loss_coeff=0.5, grad_clip=0.5)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh"))
        .callbacks(rllib_callback(actor_name, prefetch=16, flush_every=16))
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    iters = max(1, steps // BATCH)
    for i in range(iters):
        algo.train()
        if (i + 1) % 16 == 0 or i + 1 == iters:
            n = ray.get(actor.counts.remote())["n_observed"]
            print(f"  {teacher_name:>7} iteration {i + 1}: the teacher has observed {n} episodes")
    module = algo.get_module()

    def policy(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.as_tensor(obs, dtype=torch.float32)})
        return out["action_dist_inputs"].argmax(-1).numpy()

    share = mastered(evaluate(CliffWalk, policy, CliffWalk.test_set()))
    print(f"  {teacher_name:>7}: test tasks mastered: {share:.0%}")
    with tempfile.TemporaryDirectory() as folder:  # a folder of its own: runs at once do not collide
        # resume later: start_teacher_actor(mg.load(path))
        ray.get(actor.save.remote(os.path.join(folder, f"rllib-{teacher_name}.ckpt")))
    algo.stop()
    ray.kill(actor)
    return share


def main(steps: int = STEPS, seed: int = 0, teacher_name: str = "adr", runners: int = 0) -> dict[str, float]:
    """``teacher_name`` against uniform sampling, same budget and seed; returns the share mastered by each."""
    # RLlib trains in batches of BATCH steps: refused before Ray starts (a budget under BATCH, 0 or negative
    # ran one batch, and one not a multiple of BATCH ran fewer steps than the last line said)
    if whole("steps", steps, BATCH) % BATCH:
        raise ConfigError(f"steps must be a multiple of {BATCH} (RLlib's train batch), got {steps}")
    whole("runners", runners, 0)
    numpy_global_seed(seed, "RLlib")  # (refused before anything runs: numpy's takes 32 bits)
    # each env-runner actor asks Ray for one CPU: with only 2 declared, --runners 3 waited for a CPU forever
    ray.init(num_cpus=max(2, runners), include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        shares = {name: train(name, steps, seed, runners) for name in (teacher_name, "uniform")}
    finally:
        ray.shutdown()
    print(f"teacher {teacher_name}: {shares[teacher_name]:.0%} vs uniform {shares['uniform']:.0%} "
          f"of CliffWalk's test tasks mastered after {steps} steps: "
          f"{'beats' if shares[teacher_name] > shares['uniform'] else 'does not beat'} uniform")
    return shares


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runners", type=int, default=0, help="RLlib env-runner actors (0: sample in this process)")
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.steps, a.seed, runners=a.runners)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
