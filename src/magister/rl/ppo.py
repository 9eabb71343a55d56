"""A compact PPO (clipped surrogate, GAE) in PyTorch, for discrete actions, on CPU.

Small and deterministic given a seed; enough to show that a curriculum helps a
real deep-RL learner. It trains on any Gymnasium vector env that resets
finished sub-envs in the same step (``autoreset_mode=SAME_STEP``, as
:class:`~magister.rl.vector.CurriculumVectorEnv` does)::

    from magister.rl.ppo import PPO
    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    agent.learn(venv, total_steps=50_000)
    actions = agent.act(obs_batch, greedy=True)

Episode ends (terminated or truncated) are treated as terminal: the shipped
envs put the time left in the observation, so that is exact for them.

Level curricula: on a :class:`~magister.rl.vector.CurriculumVectorEnv` the
learner reads which running episodes are *evaluate only* (``episode_train``
False, as ``robust-plr`` and ``accel`` ask for new levels) and leaves their
steps out of every policy and value update; with ``score="external"`` it
scores every finished episode, trained on or not, with a
:class:`~magister.rl.levels.LevelScorer` (``level_score="pvl"`` by default) and
sends the scores with ``venv.report``.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from ..errors import CheckpointError, ConfigError, InvalidScoreError, missing_extra_import

try:
    import torch
    from torch import nn
except ImportError as _e:
    raise missing_extra_import("magister.rl.ppo", "torch", _e) from _e
from ..settings import number, saved_count, short_number, whole
from .levels import LevelScorer, level_key
from .scores import success_flag
from .wrapper import refused_text, send_scores

__all__ = ["PPO"]

#: the largest seed torch takes (``torch.manual_seed``: -2**63 .. 2**64 - 1)
TORCH_MAX_SEED = 2**64 - 1


def _torch_seed(value: Any, offset: int = 0) -> int:
    """``seed`` as a whole number that torch takes as ``value + offset``: past 2**64 - 1 torch said only
    "Overflow when unpacking long long" (a whole float is taken, as torch took it)."""
    high = TORCH_MAX_SEED - offset
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer, float, np.floating))
    if ok and isinstance(value, (float, np.floating)):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok or not -(2**63) <= value <= high:
        raise ConfigError(f"seed must be a whole number from -2**63 to {high:,} (torch seeds with seed"
                          + (f" + {offset}" if offset else "") + f", at most 2**64 - 1), got {short_number(value)}")
    return int(value)


def _curriculum_env(venv: Any) -> Any:
    """The env under ``venv``'s Gymnasium vector wrappers that has the curriculum's attributes (``episode_ids``,
    ``episode_train``, ``report``: a :class:`~magister.rl.vector.CurriculumVectorEnv`), else ``venv`` itself."""
    env = venv
    while not hasattr(env, "episode_ids") and isinstance(env, gym.vector.VectorWrapper):
        env = env.env
    return env if hasattr(env, "episode_ids") else venv


class _Net(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int):
        super().__init__()
        self.pi = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                nn.Linear(hidden, n_actions))
        self.v = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                               nn.Linear(hidden, 1))
        with torch.no_grad():
            self.pi[-1].weight.mul_(0.01)
            self.pi[-1].bias.zero_()


#: bytes a rollout holds per sub-env step beside its observation (actions, log-probabilities, rewards, ends, values,
#: train flags, episode ids, successes, advantages, returns) and per number of an observation
_STEP_BYTES, _OBS_BYTES = 42, 4


def _rollout_buffers(n_steps: int, n: int, obs_dim: int) -> tuple[np.ndarray, ...]:
    """A rollout's arrays, zeroed (the train flags set): observations, actions, log-probabilities, rewards, ends,
    values (one row more), train flags, episode ids and successes."""
    return (np.zeros((n_steps, n, obs_dim), dtype=np.float32), np.zeros((n_steps, n), dtype=np.int64),
            np.zeros((n_steps, n), dtype=np.float32), np.zeros((n_steps, n), dtype=np.float32),
            np.zeros((n_steps, n), dtype=np.float32), np.zeros((n_steps + 1, n), dtype=np.float32),
            np.ones((n_steps, n), dtype=bool), np.zeros((n_steps, n), dtype=np.int64),
            np.zeros((n_steps, n), dtype=bool))


def _fit_rollout(n_steps: int, n: int, obs_dim: int) -> None:
    """Refuse, before anything changes, an ``n_steps`` whose rollout buffers cannot be allocated: the arrays are
    tried (and let go) here. ``learn(n_steps=10**12)`` reset the env, then failed in numpy ("Unable to allocate
    29.1 TiB")."""
    try:
        bufs = _rollout_buffers(n_steps, n, obs_dim)
    except (MemoryError, ValueError):  # (ValueError: a shape past what numpy can index, "array is too big")
        need = n_steps * n * (_STEP_BYTES + _OBS_BYTES * obs_dim)
        raise ConfigError(f"n_steps={n_steps:,} needs rollout buffers of about {_bytes_text(need)} ({n_steps:,} "
                          f"steps x {n} sub-envs x {obs_dim} observation numbers), more than can be allocated "
                          "here; give a smaller n_steps (each rollout holds n_steps steps of every sub-env). "
                          "Nothing was changed") from None
    del bufs


def _bytes_text(size: float) -> str:
    """``1.5 GiB``: a size in bytes in binary units, as numpy's "Unable to allocate" says it."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024 or unit == "EiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class PPO:
    """Proximal policy optimisation with a small MLP actor-critic (see the module docstring)."""

    def __init__(self, obs_dim: int, n_actions: int, *, seed: int = 0, hidden: int = 64, lr: float = 1e-3,
                 gamma: float = 0.98, lam: float = 0.95, clip: float = 0.2, epochs: int = 4,
                 minibatch: int = 128, ent_coef: float = 0.01, vf_coef: float = 0.5, max_grad_norm: float = 0.5,
                 threads: int = 1):
        # checked before anything changes (torch's thread count is global): a minibatch of 1 would skip every
        # update (a minibatch needs 2 samples to normalise its advantages)
        hidden, epochs, threads = whole("hidden", hidden), whole("epochs", epochs), whole("threads", threads)
        minibatch = whole("minibatch", minibatch, 2, hint="the samples per gradient step")
        gamma, lam = number("gamma", gamma, 0.0, 1.0), number("lam", lam, 0.0, 1.0)
        obs_dim, n_actions = whole("obs_dim", obs_dim), whole("n_actions", n_actions)
        # a negative clip or a zero gradient norm trained nothing, silently; a NaN coefficient made NaN weights
        lr = number("lr", lr, 0.0, low_open=True, hint="the Adam step size")
        clip = number("clip", clip, 0.0, low_open=True, hint="the PPO ratio clip, e.g. 0.2")
        ent_coef, vf_coef = number("ent_coef", ent_coef, 0.0), number("vf_coef", vf_coef, 0.0)
        max_grad_norm = number("max_grad_norm", max_grad_norm, 0.0, low_open=True)
        seed = _torch_seed(seed, 1)  # (the weights from seed, the sampling from seed + 1)
        torch.set_num_threads(threads)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.net = _Net(obs_dim, n_actions, hidden)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, eps=1e-5)
        self.gamma, self.lam, self.clip, self.epochs = gamma, lam, clip, epochs
        self.minibatch, self.ent_coef, self.vf_coef, self.max_grad_norm = minibatch, ent_coef, vf_coef, max_grad_norm
        self.obs_dim, self.n_actions = obs_dim, n_actions
        self.steps = 0
        #: environment steps the updates used (evaluate-only episodes are left out)
        self.n_trained_steps = 0
        self.scorer: LevelScorer | None = None
        # a scorer restored by load_state_dict: the next learn() keeps its per-level statistics (max-MC best
        # returns, learnable counts) as the saved agent would have had they trained on
        self._scorer_restored = False
        # (env, its last observations, level keys of the running episodes, their ids where the env has them)
        self._running: tuple[Any, np.ndarray, dict[int, Any], np.ndarray | None] | None = None

    # ------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs: np.ndarray, greedy: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """Actions for a batch of observations (sampled, or the most likely with ``greedy``). Sampled actions
        draw from ``generator``, by default the agent's own (the one training draws from)."""
        o = np.asarray(obs)
        if o.ndim == 0 or o.shape[-1] != self.obs_dim or o.dtype.kind not in "biuf":
            # (torch said "mat1 and mat2 shapes cannot be multiplied", or "can't convert np.ndarray of type ...")
            raise ConfigError(f"PPO(obs_dim={self.obs_dim}).act takes observations of {self.obs_dim} numbers (one "
                              f"or a batch, shape (n, {self.obs_dim})); got an array of shape {o.shape}, dtype "
                              f"{o.dtype}")
        logits = self.net.pi(torch.as_tensor(o, dtype=torch.float32))
        if greedy:
            return logits.argmax(-1).numpy()
        gen = self.gen if generator is None else generator
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(-1).numpy()

    def policy(self, greedy: bool = True, seed: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """A batched policy function, e.g. for :func:`magister.rl.envs.evaluate`. With ``seed``, sampled
        actions come from a generator of their own seeded so, and evaluating leaves the training run as it
        was; without it they draw from the agent's generator, which training goes on from."""
        gen = None if seed is None else torch.Generator().manual_seed(_torch_seed(seed))
        return lambda obs: self.act(obs, greedy=greedy, generator=gen)

    # ------------------------------------------------------------ learning
    def learn(self, venv: Any, total_steps: int, n_steps: int = 64,
              callback: Callable[["PPO"], None] | None = None, callback_every: int = 0,
              level_score: str | LevelScorer | None = None) -> PPO:
        """Train for ``total_steps`` environment steps on ``venv`` (SAME_STEP autoreset).

        ``callback(agent)`` runs every ``callback_every`` steps (0: never).
        ``level_score`` ("gae", "pvl", "maxmc", "learnable" or a :class:`LevelScorer`) scores
        finished episodes for a ``score="external"`` vector env (default "pvl"); "learnable" counts an
        episode as solved by its final ``info["is_success"]`` where the env reports one (as ``MazeEnv``
        does), else by a last reward > 0.
        Steps of evaluate-only episodes (``venv.episode_train`` False) are not trained on.
        A level score the teacher refuses (an :class:`~magister.errors.InvalidScoreError`: one out of its
        ``score_range``) is raised once its rollout is trained on: the other scores are recorded, nothing of the
        refused ones (their tasks go back to a teacher with ``give_back``; the error's ``task_ids`` and ``scores``
        name them), and learn called again goes on with the running episodes.
        A ``total_steps`` the agent has reached already (``agent.steps``) trains nothing and changes nothing: the
        env is not reset, nor the agent's generator moved. An ``n_steps`` whose rollout cannot be allocated (the
        buffers are tried first) is a :class:`~magister.errors.ConfigError` naming the memory it needs, before
        anything changes. Called again on the same ``venv``, it carries on with
        the running episodes instead of resetting them (``total_steps`` counts from the agent's creation); a
        ``CurriculumVectorEnv`` reset in between (other episode ids) is reset again, since the agent does not
        have its new observations. A plain vector env (one without episode ids) reset by you in between cannot be
        told from one left as it was: each sub-env's first step would act on, and train on, the observation the cut
        episode left; after resetting one yourself, pass it wrapped anew (``gym.vector.VectorWrapper(venv)``: an env
        other than the one it ran last, which learn resets). On a new env the level scorer starts afresh (max-MC
        best returns and learnable counts too) unless you pass it on (``level_score=agent.scorer``). An agent
        restored with :meth:`load_state_dict` resets its env but scores levels with the saved scorer's
        statistics (max-MC best returns, learnable counts), as the uninterrupted agent would.
        """
        n_steps = whole("n_steps", n_steps, hint="the steps of each rollout per sub-env")
        # NaN or a negative count trained nothing, silently, and True ran one rollout
        total_steps = number("total_steps", total_steps, 0.0, hint="the env steps to reach, counted from the "
                             "agent's creation")
        callback_every = whole("callback_every", callback_every, 0)
        if callback is not None and not callable(callback):
            # (it raised Python's "'str' object is not callable" at the first callback, a rollout already trained)
            raise ConfigError(f"callback must be a function taking the agent (callback(agent)), or None, got "
                              f"{type(callback).__name__} {callback!r:.60}; nothing was trained")
        mode = (getattr(venv, "metadata", None) or {}).get("autoreset_mode")
        if mode is not None and getattr(mode, "value", mode) != "SameStep":
            # next-step autoreset (Gymnasium's default) gave a step after each episode whose observation is the
            # last one, whose action is ignored and whose reward is 0: trained on, as a transition of the new episode
            raise ConfigError(f"PPO.learn needs a vector env that resets finished sub-envs in the same step "
                              f"(autoreset_mode=SAME_STEP, as CurriculumVectorEnv does); got {mode!r}: build it "
                              "with gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)")
        self._check_env(venv)
        n = venv.num_envs
        # the curriculum env under Gymnasium vector wrappers (RecordEpisodeStatistics, NormalizeReward...), which
        # do not pass its attributes on: through them its scores were never sent (score="external") and its
        # evaluate-only episodes were trained on, without a word
        cur = _curriculum_env(venv)
        external = bool(getattr(cur, "external", False))
        if level_score is not None and not external:
            raise ConfigError("level_score=... needs a vector env built with score='external' "
                              "(CurriculumVectorEnv(..., score='external'))")
        if level_score is not None and not isinstance(level_score, LevelScorer):
            # checked here, as the scorer built below checks it: a call with nothing to train returns before that,
            # and took level_score="bogus" (or 3) without a word
            LevelScorer(level_score, gamma=self.gamma)
        _fit_rollout(n_steps, n, self.obs_dim)
        if self.steps >= total_steps:
            # nothing to train: it reset the env (cutting its running episodes), moved the generator and dropped a
            # restored scorer (a later learn on a new env scored levels afresh)
            return self
        running = self._running if self._running is not None and self._running[0] is venv else None
        # not if the env was reset since (its episodes are other ones): each sub-env's first step was trained on the
        # observation the cut episode had left, not the new episode's (the scorer and its statistics are kept)
        resume = running is not None and (running[3] is None or np.array_equal(running[3], cur.episode_ids))
        scorer = None
        if external:
            if isinstance(level_score, LevelScorer):
                scorer = level_score
            elif ((running is not None or self._scorer_restored) and self.scorer is not None
                  and level_score in (None, self.scorer.kind)):
                # episodes running across the two calls keep their partial scores; a restored scorer keeps its
                # per-level statistics (a resumed run scores levels as the uninterrupted one)
                scorer = self.scorer
            else:
                scorer = LevelScorer(level_score or "pvl", gamma=self.gamma)
        self._scorer_restored = False
        self.scorer = scorer
        if scorer is not None and not resume:
            # a fresh env's episodes continue none of a scorer's running ones: a reused scorer merged the partial
            # sums of an episode of the old env into the new one on the same sub-env with the same id
            scorer._acc.clear()
        has_flags = hasattr(cur, "episode_train")
        if resume and running is not None:  # called again on the same env: carry on with the running episodes
            _, obs, keys, _ = running
        else:
            keys = {}
            obs, _ = venv.reset(seed=int(torch.randint(0, 2**31 - 1, (1,), generator=self.gen)))
        next_cb = self.steps + callback_every
        wins = scorer is not None and scorer.kind == "learnable"
        while self.steps < total_steps:
            b_obs, b_act, b_logp, b_rew, b_done, b_val, b_train, b_ids, win = _rollout_buffers(n_steps, n, obs.shape[-1])
            # "learnable" only: did the episode ending at this step succeed (no other score reads it)
            b_win = win if wins else None
            for t in range(n_steps):
                if has_flags:
                    b_train[t] = cur.episode_train
                    if scorer is not None:
                        b_ids[t] = cur.episode_ids
                        if scorer.kind in LevelScorer.PER_LEVEL:
                            for i, eid in enumerate(b_ids[t]):
                                if int(eid) not in keys:
                                    keys[int(eid)] = level_key(cur.tasks[i])
                with torch.no_grad():
                    o = torch.as_tensor(obs, dtype=torch.float32)
                    logits = self.net.pi(o)
                    probs = torch.softmax(logits, -1)
                    a = torch.multinomial(probs, 1, generator=self.gen).squeeze(-1)
                    b_logp[t] = torch.log(probs.gather(1, a[:, None]).squeeze(1) + 1e-12).numpy()
                    b_val[t] = self.net.v(o).squeeze(-1).numpy()
                b_obs[t], b_act[t] = obs, a.numpy()
                obs, rew, term, trunc, info = venv.step(b_act[t])
                b_rew[t], b_done[t] = rew, np.logical_or(term, trunc)
                if b_win is not None:
                    b_win[t] = rew > 0
                    final = info.get("final_info", {}) if isinstance(info, dict) else {}
                    if "is_success" in final:  # the env says which episodes reached their goal
                        said = np.broadcast_to(np.asarray(final.get("_is_success", True), dtype=bool), (n,))
                        flags = np.broadcast_to(np.asarray(final["is_success"]), (n,))
                        if flags.dtype != bool:  # ("False", NaN or 0.5 were read as a success by dtype=bool)
                            flags = np.array([s and success_flag(v) for v, s in zip(flags.tolist(), said.tolist())],
                                             dtype=bool)
                        b_win[t, said] = flags[said]
                self.steps += n
            with torch.no_grad():
                b_val[n_steps] = self.net.v(torch.as_tensor(obs, dtype=torch.float32)).squeeze(-1).numpy()
            adv = np.zeros((n_steps, n), dtype=np.float32)
            last = np.zeros(n, dtype=np.float32)
            for t in reversed(range(n_steps)):
                nonterminal = 1.0 - b_done[t]
                delta = b_rew[t] + self.gamma * b_val[t + 1] * nonterminal - b_val[t]
                last = delta + self.gamma * self.lam * nonterminal * last
                adv[t] = last
            ret = adv + b_val[:n_steps]
            refused: list[tuple[int, float, str]] = []
            if scorer is not None:
                done_ids, scores = scorer.update(b_ids, adv, b_val[:n_steps], b_rew, b_done, keys=keys,
                                                 solved=b_win)
                if len(done_ids):
                    # a refused score is raised once the rollout is trained on and the running episodes kept: it
                    # was raised here, before the update, so the rollout was lost (its steps counted, not trained
                    # on), the next learn() reset the env, and the refused episodes waited in venv.pending for good
                    refused = self._report(cur, done_ids, scores)
                    for eid in done_ids:
                        keys.pop(int(eid), None)
            m = b_train.reshape(-1)
            self.n_trained_steps += int(m.sum())
            if m.any():
                self._update(b_obs.reshape(-1, b_obs.shape[-1])[m], b_act.reshape(-1)[m], b_logp.reshape(-1)[m],
                             adv.reshape(-1)[m], ret.reshape(-1)[m])
            self._running = (venv, obs, keys, np.asarray(cur.episode_ids) if hasattr(cur, "episode_ids") else None)
            if callback is not None and callback_every and self.steps >= next_cb:
                callback(self)
                next_cb += callback_every
            if refused:
                raise self._refused(refused)
        return self

    @staticmethod
    def _report(cur: Any, ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float, str]]:
        """Send the finished episodes' scores with ``cur.report``; returns the refused ones, ``(id, score, reason)``.
        A batch the teacher refuses (an :class:`~magister.errors.InvalidScoreError`) is sent again one score at a
        time, so that the scores it takes are recorded; a refused episode stops waiting for its score (it leaves
        ``cur.pending``) and its task goes back to a teacher with ``give_back`` (a level teacher stops waiting for
        it), as :meth:`~magister.rl.vector.CurriculumVectorEnv.step` does with a refused score."""
        id_list, score_list = ids.tolist(), scores.tolist()
        refused = [(int(id_list[j]), float(score_list[j]), why) for j, why in send_scores(
            len(id_list), lambda: cur.report(ids, scores), lambda j: cur.report([id_list[j]], [score_list[j]]))]
        if refused and callable(getattr(cur, "give_back_pending", None)):
            cur.give_back_pending([eid for eid, _, _ in refused])
        return refused

    @staticmethod
    def _refused(refused: list[tuple[int, float, str]]) -> InvalidScoreError:
        """The error :meth:`learn` raises, once the rollout is trained on, for level scores the teacher refused; it
        holds their episode ids and scores (``task_ids``, ``scores``)."""
        # (one reason per score where each names its score: three shown, the others counted)
        what = refused_text([(eid, why) for eid, _, why in refused], "episode", most=3)
        error = InvalidScoreError(
            f"PPO.learn: the teacher refused the level scores of {len(refused)} finished episode(s), and nothing of "
            f"them was recorded ({what}). Fix the scores: a teacher that reads scores in a range needs one that holds "
            "the learner's level scores (score_range=(low, high)), or use a level teacher (score_range=None takes "
            "any finite score). The rollout was trained on, the other scores were recorded and the refused "
            "episodes' tasks went back to a teacher that takes tasks back (the error's task_ids and scores name "
            "them): call learn again to go on with the running episodes")
        error.task_ids = [eid for eid, _, _ in refused]  # type: ignore[attr-defined]
        error.scores = [s for _, s, _ in refused]  # type: ignore[attr-defined]
        return error

    def _check_env(self, venv: Any) -> None:
        """Refuse, before anything runs, an env this agent cannot train on: not a vector env, observations that
        are not ``obs_dim`` numbers (a ``Box``, ``MultiBinary`` or ``MultiDiscrete`` of shape ``(obs_dim,)``), actions that are not ``Discrete(n_actions)`` (a wrong ``obs_dim`` failed in
        torch with "mat1 and mat2 shapes cannot be multiplied", too many actions in the env's step after a
        rollout, too few were silently never played). An env that does not declare its spaces is taken as is."""
        if not isinstance(getattr(venv, "num_envs", None), (int, np.integer)):
            raise ConfigError(f"PPO.learn trains on a vector env (one with num_envs sub-envs), got {venv!r}; wrap "
                              "single envs in one, e.g. CurriculumVectorEnv([MyEnv] * 8, teacher)")
        obs_space = getattr(venv, "single_observation_space", None)
        # (a MultiBinary or MultiDiscrete vector of obs_dim entries is taken as its numbers, as it always was)
        vector = (gym.spaces.Box, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)
        if isinstance(obs_space, gym.spaces.Space) and (
                not isinstance(obs_space, vector) or obs_space.shape != (self.obs_dim,)):
            fix = (f"build PPO(obs_dim={obs_space.shape[0]}, ...)" if isinstance(obs_space, vector)
                   and len(obs_space.shape) == 1 else "flatten them to a vector (gymnasium.wrappers.FlattenObservation)")
            raise ConfigError(f"PPO(obs_dim={self.obs_dim}) takes observations of {self.obs_dim} numbers, and the "
                              f"env's are {obs_space}: {fix}")
        act_space = getattr(venv, "single_action_space", None)
        if isinstance(act_space, gym.spaces.Space) and not (
                isinstance(act_space, gym.spaces.Discrete) and int(act_space.n) == self.n_actions
                and int(act_space.start) == 0):
            fix = (f"build PPO(n_actions={int(act_space.n)}, ...)" if isinstance(act_space, gym.spaces.Discrete)
                   and int(act_space.start) == 0 else "this PPO is for discrete actions 0..n-1 only")
            raise ConfigError(f"PPO(n_actions={self.n_actions}) plays the actions 0..{self.n_actions - 1}, and the "
                              f"env's are {act_space}: {fix}")

    def _update(self, obs, act, logp, adv, ret) -> None:
        obs_t, act_t = torch.as_tensor(obs), torch.as_tensor(act)
        logp_t, adv_t, ret_t = torch.as_tensor(logp), torch.as_tensor(adv), torch.as_tensor(ret)
        size = len(obs)
        for _ in range(self.epochs):
            perm = torch.randperm(size, generator=self.gen)
            for start in range(0, size, self.minibatch):
                i = perm[start:start + self.minibatch]
                if len(i) < 2:
                    continue
                a = adv_t[i]
                a = (a - a.mean()) / (a.std() + 1e-8)
                logits = self.net.pi(obs_t[i])
                logp_all = torch.log_softmax(logits, -1)
                new_logp = logp_all.gather(1, act_t[i][:, None]).squeeze(1)
                ratio = torch.exp(new_logp - logp_t[i])
                pg = -torch.min(ratio * a, torch.clamp(ratio, 1 - self.clip, 1 + self.clip) * a).mean()
                v = self.net.v(obs_t[i]).squeeze(-1)
                vf = ((v - ret_t[i]) ** 2).mean()
                ent = -(torch.softmax(logits, -1) * logp_all).sum(-1).mean()
                loss = pg + self.vf_coef * vf - self.ent_coef * ent
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), self.max_grad_norm)
                self.opt.step()

    # --------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser, step counts, random state and the level scorer's per-level statistics.

        The running episodes of the env are not in it: a resumed :meth:`learn` resets its env (as a first call
        does) and keeps the scorer's statistics (:meth:`LevelScorer.state_dict`).
        """
        # copies: torch's state dicts hold the live tensors, so a state kept in memory (a checkpoint to roll back
        # to, the best agent so far) followed the training on and restored the later weights and Adam moments
        return {"net": copy.deepcopy(self.net.state_dict()), "opt": copy.deepcopy(self.opt.state_dict()),
                "steps": self.steps,
                "n_trained_steps": self.n_trained_steps, "gen": self.gen.get_state(),
                "scorer": None if self.scorer is None else self.scorer.state_dict()}

    def _sizes(self, net: dict[str, Any]) -> str:
        """``obs_dim=..., n_actions=..., hidden=...`` of the agent whose weights are ``net`` (a net state dict)."""
        first, last = net["pi.0.weight"].shape, net["pi.4.weight"].shape
        return f"obs_dim={first[1]}, n_actions={last[0]}, hidden={first[0]}"

    def _check_net_state(self, net: Any) -> None:
        """Refuse (a :class:`~magister.errors.CheckpointError`) saved weights of another network than this agent's
        before any is copied: torch's ``load_state_dict`` copied the layers whose shapes matched, then raised its raw
        "size mismatch" ``RuntimeError``, leaving the agent half loaded."""
        mine = self.net.state_dict()
        shapes = {k: tuple(getattr(v, "shape", ())) for k, v in net.items()} if isinstance(net, dict) else None
        wanted = {k: tuple(v.shape) for k, v in mine.items()}
        if shapes is not None and shapes == wanted:
            # NaN or infinite weights were loaded, and the first act (or learn) failed in torch with "probability
            # tensor contains either `inf`, `nan` or element < 0"
            bad = [k for k, v in net.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
                   and not bool(torch.isfinite(v).all())]
            if bad:
                raise CheckpointError(f"a damaged PPO state: its weights {', '.join(map(repr, bad))} hold NaN or "
                                      "infinite values, which no agent can act with; restore it from a backup, or "
                                      "start from an earlier checkpoint. Nothing was changed")
            return
        try:
            saved = f"a PPO({self._sizes(net)})"
        except (KeyError, TypeError, AttributeError, IndexError):
            saved = "another network"
        if shapes is not None and saved == f"a PPO({self._sizes(mine)})":
            # (the sizes agree: the entries differ; it said "those of a PPO(obs_dim=4, ...), not of this
            # PPO(obs_dim=4, ...)", the same sizes twice)
            extra, missing = sorted(set(shapes) - set(wanted)), sorted(set(wanted) - set(shapes))
            other = sorted(k for k in set(shapes) & set(wanted) if shapes[k] != wanted[k])
            said = "; ".join(f"{what} {', '.join(map(repr, keys))}" for what, keys in (
                ("entries this PPO's network does not have:", extra), ("no", missing),
                ("other shapes for", other)) if keys)
            raise CheckpointError(f"the state's weights are not those of a PPO({self._sizes(mine)}) network ({said}); "
                                  "pass what PPO.state_dict() returned (its 'net' entry as it is). Nothing was changed")
        raise CheckpointError(f"the state's weights are those of {saved}, not of this PPO({self._sizes(mine)}); "
                              "build the agent with the saved agent's obs_dim, n_actions and hidden before "
                              "load_state_dict (or load the state saved for this one). Nothing was changed")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a state this agent cannot take (another network, a damaged or edited one)
        is a :class:`~magister.errors.CheckpointError`, the agent left as it was."""
        # everything is checked before anything changes: a damaged count or generator state raised int()'s or
        # torch's raw error after the weights were loaded (the agent half loaded), and -5 or 2.5 steps were taken
        missing = [k for k in ("net", "opt", "steps", "gen") if not isinstance(state, dict) or k not in state]
        if missing:
            raise CheckpointError(f"not a PPO state (no {', '.join(map(repr, missing))}); pass what PPO.state_dict() "
                                  "returned. Nothing was changed")
        # the scorer is checked first (a bad one changed nothing); states saved before it was kept have none
        scorer = state.get("scorer")
        restored = None if scorer is None else LevelScorer.from_state_dict(scorer)
        self._check_net_state(state["net"])
        try:
            steps = saved_count("saved steps", state["steps"])
            # a resumed agent went on counting trained steps from 0 (states saved before this key: steps)
            trained = saved_count("saved n_trained_steps", state.get("n_trained_steps", state["steps"]))
            torch.Generator().set_state(state["gen"])  # (on a scratch generator: the check alone)
        except (ConfigError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"a damaged PPO state: {e}; restore it from a backup, or start from an earlier "
                                  "checkpoint. Nothing was changed") from None
        before = copy.deepcopy(self.net.state_dict()), copy.deepcopy(self.opt.state_dict())
        try:
            self.net.load_state_dict(state["net"])
            # a copy: torch's optimiser keeps the given moment tensors and updates them in place, so training the
            # restored agent changed the state it was given (a second agent restored from it trained differently)
            self.opt.load_state_dict(copy.deepcopy(state["opt"]))
        except Exception as e:  # noqa: BLE001 - torch's refusal of the optimiser's (or weights') state, put back
            self.net.load_state_dict(before[0])
            self.opt.load_state_dict(before[1])
            raise CheckpointError(f"a damaged PPO state: its weights or optimiser state could not be loaded "
                                  f"({type(e).__name__}: {e}); restore it from a backup, or start from an earlier "
                                  "checkpoint. Nothing was changed") from None
        self.steps, self.n_trained_steps = steps, trained
        self.gen.set_state(state["gen"])
        if "scorer" in state:
            self.scorer, self._scorer_restored = restored, restored is not None
        # the restored agent resets its env, as documented: learn() on the env this agent ran before went on from
        # the episodes that were running when the state was *loaded* (observations the saved agent never saw)
        self._running = None
