"""PLR for a Stable-Baselines3 PPO agent: a callback computes each episode's level score and sends it.

    python examples/rl_levels_sb3.py [--steps 100000]

Each SB3 env is a ``CurriculumWrapper(MazeEnv(), teacher, score="external")``
holding the same ``plr`` teacher (``DummyVecEnv`` runs them in this process):
the wrapper asks the teacher for a level (a generator seed) at every reset
and, when the episode ends, puts its id in the final info and waits for the
learner's score. :class:`LevelScoreCallback` records the episode id of every
step of the rollout; once SB3 has computed the rollout's advantages (GAE) it
turns them into per-episode scores with :class:`magister.rl.LevelScorer`
(positive value loss by default) and reports each to its env's wrapper.

SB3's PPO trains on every step it collects, so this shows ``plr`` (which
trains on every level); ``robust-plr`` and ``accel`` mark new levels
evaluate only (``info["magister_train"]`` False), which needs a learner that
can leave episodes out of its update, like ``magister.rl.ppo.PPO`` or the
loop of ``examples/rl_levels_cleanrl.py``.

The levels come from a generator that wastes many of them, the case
score-prioritised replay is for (as in the PLR paper, where most random
levels teach nothing): block mazes whose wall density is itself drawn in
``[0, 0.7]`` (``MazeEnv(max_density=0.7)``, :data:`MAX_DENSITY`). About half
of its draws cannot be solved (dense ones: a whole 250-step episode with no
reward and nothing to learn) and the sparse ones are trivial. Uniform
sampling spends its steps on them as often as the generator makes them;
plr's positive-value-loss score is meant to be low on both (an unsolvable
level pays no reward for the value to under-predict; a trivial one has
little left to learn), so it replays the levels in between (not checked
level by level here). On a generator without such waste (the level benchmark's
default, docs/rl.md) uniform levels are as good or better at CPU budgets.

Prints the held-out solve rates after the same number of env steps with plr
and with uniformly random levels (``magister.bench.levels.heldout_rates``:
100 unseen solvable levels of the training generator, and the 15
hand-designed held-out mazes; ``MAGISTER_EXAMPLE_STEPS`` sets the budget).
Figures: docs/examples.md.
"""

from __future__ import annotations

import argparse

import numpy as np


def make_callback(kind: str = "pvl"):
    from stable_baselines3.common.callbacks import BaseCallback

    from magister.rl import LevelScorer, level_key
    from magister.rl.wrapper import TASK_ID_KEY

    class LevelScoreCallback(BaseCallback):
        """Score every finished episode from SB3's rollout buffer and report it to its env's wrapper.

        Each env's wrapper numbers its own episodes (0, 1, 2...), so the scorer is given ``id * n_envs + env``
        (one number per episode of the whole vec env: max-MC's and the learnable score's statistics are kept per
        level through ``keys``, and env 0's episode 3 is not env 1's) and each wrapper gets back its own ids."""

        def __init__(self) -> None:
            super().__init__()
            self.scorer: LevelScorer | None = None
            self.reported = 0
            self.keys: dict[int, object] = {}  # episode (scorer id) -> level key, for "maxmc" and "learnable"

        def _started(self, envs: np.ndarray) -> np.ndarray:
            """The scorer ids of the running episodes of ``envs`` (their level keys noted for the per-level kinds),
            read with one ``get_attr`` per attribute for all of them (in a ``SubprocVecEnv`` each call is a round
            trip to the workers)."""
            env, envs = self.training_env, [int(i) for i in envs]
            eids = np.asarray(env.get_attr("task_id", indices=envs), dtype=np.int64) * env.num_envs + envs
            if kind in LevelScorer.PER_LEVEL:
                for eid, task in zip(eids.tolist(), env.get_attr("task", indices=envs)):
                    self.keys.setdefault(eid, level_key(task))
            return eids

        def _on_rollout_start(self) -> None:
            if self.scorer is None:
                self.scorer = LevelScorer(kind, gamma=self.model.gamma)
            self.current = self._started(np.arange(self.training_env.num_envs))
            self.ids: list[np.ndarray] = []
            self.dones: list[np.ndarray] = []
            self.solved: list[np.ndarray] = []

        def _on_step(self) -> bool:
            row = self.current.copy()  # the episode each env's step belonged to
            dones = np.asarray(self.locals["dones"], dtype=bool)
            solved = np.zeros(len(dones), dtype=bool)
            ended = np.flatnonzero(dones)
            for i in ended:
                info = self.locals["infos"][i]
                # the finished one (the env has reset since)
                row[i] = int(info[TASK_ID_KEY]) * self.training_env.num_envs + int(i)
                # (not "last reward > 0": SB3 adds the value of the next state to the last reward of an episode
                # cut by its time limit, so a cut episode read as solved whenever the critic was positive)
                solved[i] = bool(info.get("is_success", False))
            if len(ended):
                self.current[ended] = self._started(ended)  # the episodes they started
            self.ids.append(row)
            self.dones.append(dones)
            self.solved.append(solved)
            return True

        def _on_rollout_end(self) -> None:
            buf = self.model.rollout_buffer  # advantages are computed before this call
            assert self.scorer is not None
            per_level = kind in LevelScorer.PER_LEVEL
            ids, scores = self.scorer.update(np.stack(self.ids), buf.advantages, buf.values, buf.rewards,
                                             np.stack(self.dones), keys=self.keys if per_level else None,
                                             solved=np.stack(self.solved) if per_level else None)
            for eid in ids.tolist():
                self.keys.pop(eid, None)
            local = ids // self.training_env.num_envs  # each wrapper's own episode ids
            for env in np.unique(self.scorer.last_envs):
                mine = self.scorer.last_envs == env
                self.training_env.env_method("report", local[mine], scores[mine], indices=[int(env)])
            self.reported += len(ids)

    return LevelScoreCallback()


#: the top of the training generator's wall density (``MazeEnv(max_density=...)``): see the docstring
MAX_DENSITY = 0.7
#: SB3's rollout: 128 steps on each of 8 envs (``train``'s defaults); a budget is rounded up to whole rollouts
N_ENVS, N_STEPS = 8, 128


def train(teacher_name: str, steps: int, seed: int = 0, n_envs: int = N_ENVS, max_density: float = MAX_DENSITY,
          settings: dict | None = None, kind: str = "pvl") -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from magister.bench.levels import heldout_rates, make_level_teacher
    from magister.rl import CurriculumWrapper
    from magister.rl.envs.maze import MazeEnv

    torch.set_num_threads(1)
    teacher, _ = make_level_teacher(teacher_name, seed, settings)
    score = "external" if teacher_name != "uniform" else "success"
    venv = DummyVecEnv([lambda: CurriculumWrapper(MazeEnv(max_density=max_density), teacher, score=score)] * n_envs)
    model = PPO("MlpPolicy", venv, n_steps=N_STEPS, batch_size=256, learning_rate=5e-4, gamma=0.99, seed=seed,
                policy_kwargs={"net_arch": [128, 128]}, verbose=0, device="cpu")
    callback = make_callback(kind) if score == "external" else None
    model.learn(total_timesteps=steps, callback=callback)
    policy = lambda obs: model.predict(obs, deterministic=False)[0]  # noqa: E731
    return {"teacher": teacher_name, **heldout_rates(policy, seed, max_density=max_density),
            "reported": callback.reported if callback is not None else 0,
            "observed": getattr(teacher, "n_observed", 0)}


def budget(steps: int | None) -> int:
    """``steps`` if given, else ``MAGISTER_EXAMPLE_STEPS``, else 100,000 (refused: 0, negative, not a number, and
    less than one rollout, which trained a whole rollout while the last line named the smaller budget)."""
    from magister.bench.levels import example_steps

    return example_steps(steps, "MAGISTER_EXAMPLE_STEPS", rollout=(N_ENVS, N_STEPS))


def main(steps: int | None = None, seed: int = 0) -> dict[str, dict]:
    from magister.settings import numpy_global_seed

    steps = budget(steps)
    numpy_global_seed(seed, "SB3")  # (refused before anything runs: numpy's takes 32 bits)
    from magister.bench.levels import versus_uniform

    runs = {name: train(name, steps, seed) for name in ("plr", "uniform")}
    for name, r in runs.items():
        print(f"  {name:>7}: {r['reported']} episode scores sent from the callback in {steps:,} env steps")
    print(versus_uniform(runs, "plr", steps))
    return runs


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from magister.errors import ConfigError

    try:
        main(args.steps, args.seed)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        ap.error(str(e))
