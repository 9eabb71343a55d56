"""A CleanRL-style PPO loop under a level curriculum: it computes each episode's level score and reports it.

    python examples/rl_levels_cleanrl.py [--steps 100000] [--teacher plr] [--levels 100]

The whole loop is in this file, as in CleanRL: a small actor-critic on the
maze's 7 x 7 partial view, rollouts from a
``CurriculumVectorEnv(..., score="external")``, GAE, then

* the learner's level score: for every episode that ended, the score its
  teacher learns from, sent with ``venv.report(ids, scores)``. By default
  ``plr`` is sent the success-aware ``"learnable"`` score, kept per level by
  ``magister.rl.LevelScorer``: the expected ``p (1 - p)`` of the level's
  success rate from its successes so far, where a level never solved may be
  unsolvable. ``level_score=`` of :func:`train` also takes the mean positive
  GAE over the episode's steps (robust PLR's "positive value loss",
  ``"pvl"``: robust-plr's and accel's default) or its sum ``"pvl-sum"``,
  PLR's mean |GAE| ``"l1"`` or its sum ``"l1-sum"``, and robust PLR / ACCEL's
  max-MC regret ``"maxmc"`` (the best discounted return ever reached on the
  level minus the episode's mean value prediction); ``learnability`` is sent
  each episode's success (1 reached the goal, 0 not);
* the teacher's train flag: steps of episodes the teacher marked evaluate
  only (``venv.episode_train`` False: new levels under ``robust-plr``) are
  left out of the update, yet still scored.

The levels come from a generator that wastes many of them, the case
score-prioritised replay is for (as in the PLR paper): block mazes whose
wall density is itself drawn in ``[0, 0.7]`` (``MazeEnv(max_density=0.7)``,
:data:`MAX_DENSITY`). About half of its draws cannot be solved (a whole
250-step episode with no reward) and the sparse ones are trivial. As in the
PLR paper the student trains on a finite set of them, :data:`N_LEVELS` = 100
drawn once per seed (``training_seeds``; ``MazeEnv(seeds=...)`` plays level
``i`` of ``SeedSpace(100)``), so a level found unsolvable can be dropped;
``--levels 0`` gives the open-ended generator instead (a fresh level for
every uniform episode).

It prints, for the teacher's student and one trained on uniformly random
levels of the same set for the same number of env steps, the share of env
steps spent on levels that cannot be solved (a diagnostic: no teacher is told
which they are), then their held-out solve rates
(``magister.bench.levels.heldout_rates``: unseen levels of the training
generator, and the hand-designed held-out mazes; ``MAGISTER_EXAMPLE_STEPS``
sets the budget). Both students' learning rate falls linearly to 0 over the
budget, as in CleanRL (:data:`ANNEAL_LR`). At 100,000 steps ``plr`` is ahead
of uniform on unseen levels on 18 of seeds 0-19 (median margin +9 points, one
tie; seeds 0-4: 5 of 5, +9; on the default seed 0 68% vs 59%),
and on 8 of seeds 0-9 at 200,000 steps (+5.5). At a constant rate
(``anneal_lr=False``) it was ahead on 13 of seeds 0-19 and behind on seed 0.
On the open-ended generator no teacher tried was ahead on more than 2 of
seeds 0-4 (at a constant rate). docs/examples.md has the figures and how the
settings were chosen.
"""

from __future__ import annotations

import argparse

import numpy as np


#: the example's teacher (``--teacher`` picks another): see docs/examples.md for how it was chosen
TEACHER = "plr"
#: the top of the training generator's wall density (``MazeEnv(max_density=...)``): see the docstring
MAX_DENSITY = 0.7
#: the training set: N levels of that generator drawn once per seed (the PLR paper's finite training set;
#: ``magister.rl.envs.maze.training_seeds``), or None: an open-ended generator (a fresh level whenever uniform
#: sampling or a teacher asks for a new one; ``--levels 0``)
N_LEVELS = 100
#: the teachers' settings (``settings=`` of :func:`train` replaces them): ``plr`` samples its replays by rank with
#: temperature 1.0 (rank 1 twice as likely as rank 2) and 10% by staleness, and visits a new level half the time
#: until it has seen the whole training set (chosen on seeds 200-219 over proportional sampling, docs/examples.md);
#: the other teachers keep the level benchmark's settings (robust-plr: replay probability 0.8, its default)
SETTINGS = {"plr": {"replay_prob": 0.5, "prioritization": "rank", "temperature": 1.0, "staleness_coef": 0.1}}
#: the score each teacher is sent unless ``level_score=`` says otherwise: plr the success-aware ``"learnable"``,
#: robust-plr and accel the mean positive GAE ``"pvl"``; learnability (and uniform, which learns from nothing)
#: each episode's success
DEFAULT_SCORES = {"plr": "learnable", "robust-plr": "pvl", "accel": "pvl"}
#: the PPO learning rate falls linearly from :data:`LR` at the first update to 0 at the budget, as in CleanRL's
#: ppo.py (``anneal_lr``), for every student: the policy a constant rate ends with still moves from update to
#: update, which made the teacher-against-uniform comparison a draw of luck (docs/examples.md)
ANNEAL_LR = True
#: Adam's learning rate (the start of the annealed schedule)
LR = 5e-4
#: the loop's rollout: 128 steps on each of 8 envs (``train``'s defaults); a budget is rounded up to whole rollouts
N_ENVS, N_STEPS = 8, 128


#: the episode scores this loop can send: positive GAE or |GAE| per step, averaged ("pvl", "l1": the papers')
#: or summed over the episode ("pvl-sum", "l1-sum"), max-MC regret ("maxmc": the best discounted return ever
#: reached on the level minus the episode's mean value; robust PLR / ACCEL), the level's learnable score
#: ("learnable": the expected p (1 - p) of its success rate p, from its successes so far, with a prior that it may
#: be unsolvable), or success ("success": 1 goal reached, 0 not)
LEVEL_SCORES = ("pvl", "pvl-sum", "l1", "l1-sum", "maxmc", "learnable", "success")


def train(teacher_name: str, steps: int, seed: int = 0, n_envs: int = N_ENVS, n_steps: int = N_STEPS,
          max_density: float = MAX_DENSITY, settings: dict | None = None, level_score: str | None = None,
          n_levels: int | None = N_LEVELS, anneal_lr: bool = ANNEAL_LR) -> dict:
    import torch
    from torch import nn

    from magister.bench.levels import heldout_rates, make_level_teacher
    from magister.rl import CurriculumVectorEnv, LevelScorer, level_key
    from magister.rl.envs.maze import MazeEnv, training_seeds

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    if settings is None:
        settings = SETTINGS.get(teacher_name)
    teacher, score = make_level_teacher(teacher_name, seed, settings, n_levels=n_levels)
    # a finite training set: n_levels generator seeds drawn once for this seed; the teacher picks by index
    seeds = None if n_levels is None else training_seeds(n_levels, seed)
    # the score this teacher takes: success (1 solved, 0 not) for learnability, a GAE score for the PLR family;
    # uniform learns from nothing and is sent each episode's success (in its declared range [0, 1])
    takes_success = score == "success" and teacher_name != "uniform"
    level_score = level_score or ("success" if score == "success" else DEFAULT_SCORES.get(teacher_name, "pvl"))
    if level_score not in LEVEL_SCORES:
        raise ValueError(f"level_score must be one of {LEVEL_SCORES}, got {level_score!r}")
    if takes_success != (level_score == "success") and teacher_name != "uniform":
        raise ValueError(f"{teacher_name!r} learns from " + ("each episode's success" if takes_success else
                         "a GAE score") + f", not level_score={level_score!r}")
    make_env = lambda: MazeEnv(max_density=max_density, seeds=seeds)  # noqa: E731
    venv = CurriculumVectorEnv([make_env] * n_envs, teacher, score="external")
    obs_dim = venv.single_observation_space.shape[0]

    def mlp(out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(obs_dim, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, out))

    actor, critic = mlp(3), mlp(1)
    opt = torch.optim.Adam([*actor.parameters(), *critic.parameters()], lr=LR, eps=1e-5)
    gamma, lam = 0.99, 0.95
    # per sub-env running score sum and step count of the current episode (episodes span rollouts)
    run_sum, run_len, run_id = np.zeros(n_envs), np.zeros(n_envs), np.full(n_envs, -1)
    # max-MC regret and the learnable score need each level's best return / successes so far, kept by the
    # library's scorer (keyed by level)
    per_level, keys = (LevelScorer(level_score, gamma=gamma) if level_score in LevelScorer.PER_LEVEL else None), {}
    obs, _ = venv.reset(seed=seed)
    obs = torch.as_tensor(obs)
    done_steps, trained_steps, sent, wasted = 0, 0, [], 0
    levels, can_solve = make_env(), {}  # the maze each seed task plays, as the envs resolve it

    def solvable(task) -> bool:  # a seed task's answer is kept; a maze task (accel) keeps its own
        if not isinstance(task, (int, np.integer)):
            return bool(levels.level(task).solvable)
        if task not in can_solve:
            can_solve[task] = levels.level(task).solvable
        return can_solve[task]

    while done_steps < steps:
        b_obs = torch.zeros((n_steps, n_envs, obs_dim))
        b_act = torch.zeros((n_steps, n_envs), dtype=torch.long)
        b_logp, b_val, b_rew, b_done = (torch.zeros((n_steps, n_envs)) for _ in range(4))
        b_ids = np.zeros((n_steps, n_envs), dtype=np.int64)
        b_train = np.zeros((n_steps, n_envs), dtype=bool)
        for t in range(n_steps):
            b_ids[t], b_train[t] = venv.episode_ids, venv.episode_train  # read before the step
            # a diagnostic the teacher never sees: env steps spent on levels that cannot be solved at all
            wasted += sum(not solvable(task) for task in venv.tasks)
            if per_level is not None:  # which level each episode plays
                keys.update({int(e): level_key(task) for e, task in zip(b_ids[t], venv.tasks) if int(e) not in keys})
            with torch.no_grad():
                dist = torch.distributions.Categorical(logits=actor(obs))
                a = dist.sample()
                b_logp[t], b_val[t] = dist.log_prob(a), critic(obs).squeeze(-1)
            b_obs[t], b_act[t] = obs, a
            nxt, rew, term, trunc, _ = venv.step(a.numpy())
            b_rew[t], b_done[t] = torch.as_tensor(rew), torch.as_tensor(np.logical_or(term, trunc), dtype=torch.float32)
            obs = torch.as_tensor(nxt)
        done_steps += n_steps * n_envs
        with torch.no_grad():
            last = critic(obs).squeeze(-1)
        adv = torch.zeros((n_steps, n_envs))
        gae = torch.zeros(n_envs)
        for t in reversed(range(n_steps)):
            nv = last if t == n_steps - 1 else b_val[t + 1]
            nonterminal = 1.0 - b_done[t]
            delta = b_rew[t] + gamma * nv * nonterminal - b_val[t]
            gae = delta + gamma * lam * nonterminal * gae
            adv[t] = gae
        ret = adv + b_val

        # the level score of every episode that ended in this rollout, sent by episode id: its max-MC regret
        # or its level's learnable score ("maxmc", "learnable", from the library's LevelScorer), mean positive GAE
        # ("pvl"), mean |GAE| ("l1"), or 1 if it reached the goal, 0 if not ("success"; the goal reward is > 0
        # and ends the episode, and this env pays no other reward)
        ids, scores = [], []
        if per_level is not None:  # max-MC regret (best return on the level - the episode's mean value) or
            # learnable (expected p (1 - p) of the level's success rate p, from its successes so far; a level
            # never solved may be unsolvable; solved = a goal reward)
            ended, got = per_level.update(b_ids, adv.numpy(), b_val.numpy(), b_rew.numpy(), b_done.numpy(), keys=keys)
            ids, scores = ended.tolist(), got.tolist()
            for e in ids:
                keys.pop(e, None)
        else:
            for i in range(n_envs):
                for t in range(n_steps):
                    if b_ids[t, i] != run_id[i]:
                        run_id[i], run_sum[i], run_len[i] = b_ids[t, i], 0.0, 0.0
                    a_ti = float(adv[t, i])
                    run_sum[i] += abs(a_ti) if level_score.startswith("l1") else max(a_ti, 0.0)
                    run_len[i] += 1
                    if b_done[t, i]:
                        ids.append(int(run_id[i]))
                        if level_score == "success":
                            scores.append(float(b_rew[t, i] > 0))
                        else:
                            scores.append(run_sum[i] if level_score.endswith("-sum") else run_sum[i] / run_len[i])
                        run_id[i] = -1
        if ids:
            venv.report(ids, scores)
            sent += scores

        # PPO on the steps of episodes the teacher lets us train on
        m = torch.as_tensor(b_train.reshape(-1))
        if m.sum() < 2:
            continue
        f_obs, f_act, f_logp = b_obs.reshape(-1, obs_dim)[m], b_act.reshape(-1)[m], b_logp.reshape(-1)[m]
        f_adv, f_ret = adv.reshape(-1)[m], ret.reshape(-1)[m]
        trained_steps += len(f_obs)
        if anneal_lr:  # CleanRL's default: linear from the full rate at the first update to 0 at the budget
            for group in opt.param_groups:
                group["lr"] = LR * (1.0 - (done_steps - n_steps * n_envs) / steps)
        for _ in range(4):
            for idx in torch.randperm(len(f_obs)).split(256):
                if len(idx) < 2:
                    continue
                dist = torch.distributions.Categorical(logits=actor(f_obs[idx]))
                ratio = torch.exp(dist.log_prob(f_act[idx]) - f_logp[idx])
                a_ = (f_adv[idx] - f_adv[idx].mean()) / (f_adv[idx].std() + 1e-8)
                pg = -torch.min(ratio * a_, torch.clamp(ratio, 0.8, 1.2) * a_).mean()
                vf = ((critic(f_obs[idx]).squeeze(-1) - f_ret[idx]) ** 2).mean()
                loss = pg + 0.5 * vf - 0.01 * dist.entropy().mean()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_([*actor.parameters(), *critic.parameters()], 0.5)
                opt.step()
    venv.close()

    def policy(o: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.distributions.Categorical(logits=actor(torch.as_tensor(o))).sample().numpy()

    return {"teacher": teacher_name, **heldout_rates(policy, seed, max_density=max_density), "reported": len(sent),
            "observed": getattr(teacher, "n_observed", len(sent)), "scores": sent, "steps": done_steps,
            "trained_steps": trained_steps, "last_lr": opt.param_groups[0]["lr"],
            "unsolvable_share": wasted / max(done_steps, 1),
            "best_returns": dict(per_level.best) if per_level is not None else {},
            "outcomes": dict(per_level.outcomes) if per_level is not None else {}}


def budget(steps: int | None) -> int:
    """``steps`` if given, else ``MAGISTER_EXAMPLE_STEPS``, else 100,000 (refused: 0, negative, not a number, and
    less than one rollout, which trained a whole rollout while the last line named the smaller budget)."""
    from magister.bench.levels import example_steps

    return example_steps(steps, "MAGISTER_EXAMPLE_STEPS", rollout=(N_ENVS, N_STEPS))


def main(steps: int | None = None, seed: int = 0, teacher: str = TEACHER, n_levels: int | None = N_LEVELS
         ) -> dict[str, dict]:
    from magister.errors import ConfigError

    steps = budget(steps)
    from magister.bench.args import TORCH_MAX_SEED

    if isinstance(seed, int) and seed > TORCH_MAX_SEED:  # (torch said only "Overflow when unpacking long long")
        raise ConfigError(f"seed must be a whole number in 0..{TORCH_MAX_SEED:,} (torch.manual_seed takes at most "
                          f"2**64 - 1), got {seed}")
    if teacher == "uniform":  # it trained uniform twice and printed it losing to itself
        raise ConfigError("the teacher to compare with uniform cannot be 'uniform' itself; name another (--teacher)")
    from magister.bench.levels import versus_uniform

    runs = {name: train(name, steps, seed, n_levels=n_levels) for name in (teacher, "uniform")}
    where = "an open-ended generator" if n_levels is None else f"a training set of {n_levels} levels"
    for name, r in runs.items():
        print(f"  {name:>10}: {r['reported']} episode scores sent in {steps:,} env steps on {where}; "
              f"{r['unsolvable_share']:.0%} of the steps on levels that cannot be solved")
    print(versus_uniform(runs, teacher, steps))
    return runs


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher", default=TEACHER)
    ap.add_argument("--levels", type=int, default=N_LEVELS,
                    help=f"size of the training set (default {N_LEVELS}); 0: an open-ended generator")
    args = ap.parse_args()
    from magister.errors import ConfigError
    from magister.settings import MAX_TASKS

    if not 0 <= args.levels <= MAX_TASKS:  # it named SeedSpace's "n" (-5), or filled memory drawing 10**8 levels
        ap.error(f"--levels must be 0 (an open-ended generator) or a number of training levels in 1..{MAX_TASKS:,}, "
                 f"got {args.levels}")
    try:
        main(args.steps, args.seed, args.teacher, args.levels or None)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        # (a teacher that takes no training set was told to "pass n_levels=None", main()'s parameter)
        ap.error(str(e) + (" (on the command line: --levels 0)" if "n_levels=None" in str(e) else ""))
