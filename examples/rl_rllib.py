"""A curriculum for RLlib (new API stack): one teacher actor shared by every rollout worker.

    python examples/rl_rllib.py [--iters 3]

The teacher lives in a named Ray actor. Each RLlib sub-env is a
``CurriculumWrapper`` in export mode; the callback from ``rllib_callback``
pushes a task into it when RLlib creates an episode and reports its score
when the episode ends (through a prefetching, batching ``RayTeacher``).
On a cluster, call ``ray.init(address="auto")`` instead.
"""

from __future__ import annotations

import argparse

import ray

import magister as mg
from magister.rl.ray import RayTeacher, rllib_callback, start_teacher_actor


def make_env(config):
    from magister.rl import CurriculumWrapper
    from magister.rl.envs import CliffWalk

    return CurriculumWrapper(CliffWalk(), None)


def main(iters: int = 3) -> int:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    from magister.rl.envs import CliffWalk

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    teacher = mg.make_teacher("alp-gmm" if "alp-gmm" in mg.available_teachers() else "uniform",
                              CliffWalk.task_space, seed=0)
    actor = start_teacher_actor(teacher, name="magister-teacher")
    register_env("magister-cliffwalk", make_env)
    config = (
        PPOConfig()
        .environment("magister-cliffwalk")
        .env_runners(num_env_runners=1, num_envs_per_env_runner=4, num_cpus_per_env_runner=1)
        .training(train_batch_size_per_learner=2000, minibatch_size=250, num_epochs=4, lr=1e-3)
        .callbacks(rllib_callback("magister-teacher", prefetch=16, flush_every=16))
    )
    algo = config.build_algo()
    for i in range(iters):
        algo.train()
        print(f"iteration {i + 1}: teacher has observed {ray.get(actor.counts.remote())['n_observed']} episodes")
    algo.stop()
    RayTeacher(actor).save("/tmp/rllib-teacher.ckpt")  # resume later: start_teacher_actor(mg.load(path))
    n = ray.get(actor.counts.remote())["n_observed"]
    ray.shutdown()
    return n


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=3)
    main(p.parse_args().iters)
