"""The PPO student learns a little in seconds; the SB3 example runs on a tiny budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import magister as mg
from magister.rl import CurriculumVectorEnv
from magister.rl.envs import CliffWalk, evaluate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EASY = mg.Box([0.0, 0.0], [0.12, 0.1])  # goals 2 to 4 cells away, light wind


def test_ppo_learns_easy_cliffwalk_tasks():
    from magister.rl.ppo import PPO

    teacher = mg.make_teacher("uniform", EASY, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 8, teacher)
    agent = PPO(4, 3, seed=0)
    tasks = EASY.sample(np.random.default_rng(1), 20)
    before = evaluate(CliffWalk, agent.policy(greedy=False), tasks, episodes=10).mean()
    agent.learn(venv, total_steps=12_000)
    after = evaluate(CliffWalk, agent.policy(greedy=True), tasks, episodes=10).mean()
    assert before < 0.2
    assert after > 0.35 and after > before + 0.25
    assert teacher.n_observed > 500


def test_ppo_is_deterministic_given_a_seed():
    from magister.rl.ppo import PPO

    def run():
        teacher = mg.make_teacher("uniform", EASY, seed=0)
        agent = PPO(4, 3, seed=3)
        agent.learn(CurriculumVectorEnv([CliffWalk] * 2, teacher), total_steps=600, n_steps=32)
        return agent.act(CliffWalk.obs_batch(CliffWalk.init_batch(CliffWalk.test_set(), None, 30)), greedy=True)

    np.testing.assert_array_equal(run(), run())


def test_ppo_state_carries_its_trained_step_count():
    """A resumed PPO counted its trained steps from 0 again (the count was not in its state)."""
    from magister.rl.ppo import PPO

    agent = PPO(4, 3, seed=3)
    agent.learn(CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0)), total_steps=128,
                n_steps=32)
    resumed = PPO(4, 3, seed=4)
    resumed.load_state_dict(agent.state_dict())
    assert resumed.steps == agent.steps == 128 and resumed.n_trained_steps == agent.n_trained_steps == 128


def test_ppo_learn_refuses_a_total_step_count_that_is_not_a_number():
    """total_steps=NaN (or a negative count) trained nothing without a word; True ran one rollout."""
    from magister.rl.ppo import PPO

    venv = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0))
    agent = PPO(4, 3, seed=0)
    for bad in (float("nan"), float("inf"), -5, True, "100", None):
        with pytest.raises(mg.errors.ConfigError, match="total_steps"):
            agent.learn(venv, total_steps=bad, n_steps=16)
        assert agent.steps == 0
    agent.learn(venv, total_steps=64.0, n_steps=16)  # a whole float still counts
    assert agent.steps == 64


def test_ppo_learn_refuses_a_callback_that_is_not_a_function_before_training():
    """callback="print" (or 5) was taken, and a rollout trained and the env reset, before the first callback
    raised Python's "'str' object is not callable"."""
    from magister.rl.ppo import PPO

    venv = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0))
    agent = PPO(4, 3, seed=0)
    gen = agent.gen.get_state()
    for bad in ("print", 5):
        with pytest.raises(mg.errors.ConfigError, match="callback must be a function"):
            agent.learn(venv, total_steps=256, n_steps=16, callback=bad, callback_every=32)
    assert agent.steps == 0 and venv.n_assigned == 0 and agent.gen.get_state().equal(gen)
    seen = []
    agent.learn(venv, total_steps=64, n_steps=16, callback=lambda a: seen.append(a.steps), callback_every=32)
    assert seen == [32, 64]


def test_ppo_learn_refuses_a_next_step_autoreset_vector_env():
    """Gymnasium's default NEXT_STEP autoreset gives a step after each episode (the last observation, an ignored
    action, reward 0): PPO trained on it as a transition of the next episode, silently."""
    import gymnasium as gym
    from magister.rl.ppo import PPO

    agent = PPO(4, 3, seed=0, minibatch=16)
    venv = gym.vector.SyncVectorEnv([CliffWalk] * 2)
    with pytest.raises(mg.errors.ConfigError, match="SAME_STEP"):
        agent.learn(venv, total_steps=64, n_steps=16)
    assert agent.steps == 0
    venv.close()
    venv = gym.vector.SyncVectorEnv([CliffWalk] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    agent.learn(venv, total_steps=64, n_steps=16)
    assert agent.steps == 64
    venv.close()


def test_ppo_settings_that_make_no_sense_are_refused_before_anything_runs():
    from magister.rl.ppo import PPO

    # before: minibatch=1 skipped every update silently, 0 failed after a whole rollout with range()'s error
    for kwargs in ({"minibatch": 1}, {"minibatch": 0}, {"epochs": 0}, {"hidden": -4}, {"gamma": 1.5},
                   {"lam": float("nan")}, {"threads": 0},
                   # before: silently taken (a negative clip or a zero gradient norm never trains)
                   {"clip": -0.2}, {"clip": 0}, {"max_grad_norm": 0.0}, {"ent_coef": float("nan")},
                   {"vf_coef": -1.0}, {"lr": float("inf")}, {"obs_dim": 2.5}, {"n_actions": 0}):
        with pytest.raises(mg.ConfigError, match=next(iter(kwargs))):
            PPO(**{"obs_dim": 4, "n_actions": 3, "seed": 0, **kwargs})
    agent = PPO(4, 3, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0))
    try:
        for bad in (-1, 0, 2.5):  # before: -1 a numpy error, 0 looped for ever (no step was ever taken)
            with pytest.raises(mg.ConfigError, match="n_steps"):
                agent.learn(venv, total_steps=100, n_steps=bad)
        with pytest.raises(mg.ConfigError, match="callback_every"):
            agent.learn(venv, total_steps=100, callback_every=-5)
        assert agent.steps == 0
    finally:
        venv.close()


def test_ppo_seeds_torch_cannot_take_are_refused_by_name():
    # before: a seed past 2**64 - 2 (seed + 1 seeds the sampling) was torch's "Overflow when unpacking long long",
    # 2.5 was taken as 2 and True as 1
    import torch

    from magister.rl.ppo import PPO

    for bad in (2**64 - 1, 2**64, 2**2000, 2.5, True, "0", float("nan")):
        with pytest.raises(mg.ConfigError, match="seed must be a whole number from -2\\*\\*63 to"):
            PPO(4, 3, seed=bad)
    agent = PPO(4, 3, seed=2**64 - 2)  # the largest, and a policy seed of 2**64 - 1, still taken
    agent.policy(greedy=False, seed=2**64 - 1)
    with pytest.raises(mg.ConfigError, match="seed must be"):
        agent.policy(greedy=False, seed=2**64)
    same = [torch.nn.utils.parameters_to_vector(PPO(4, 3, seed=s).net.parameters()) for s in (3, 3.0, np.int64(3))]
    assert all(torch.equal(same[0], v) for v in same[1:])  # the seeds that worked give the same weights


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_sb3_example_smoke():
    pytest.importorskip("stable_baselines3")
    teacher, model, _ = _load("rl_sb3").train("adr", steps=1024, n_envs=2)
    assert teacher.n_observed > 10
    assert model.num_timesteps >= 1024


def test_vector_example_smoke():
    # the async path with a tiny budget (tests/test_examples.py runs the full comparison)
    shares = _load("rl_vector").main(steps=2000)
    assert set(shares) == {"adr", "uniform"} and all(0.0 <= s <= 1.0 for s in shares.values())



def test_ppo_state_kept_in_memory_is_a_snapshot_and_a_load_resets_the_env():
    """state_dict() held the live weights and Adam moments (a checkpoint kept to roll back to followed the training
    on); and an agent that loaded a state went on, on the env it ran before, from the episodes running at the load
    instead of resetting the env as documented."""
    import torch

    from magister.rl.ppo import PPO

    def weights(agent):
        return torch.cat([p.detach().flatten() for p in agent.net.parameters()]).clone()

    def venv():
        return CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0))

    agent, env = PPO(4, 3, seed=3), venv()
    agent.learn(env, total_steps=128, n_steps=32)
    saved, at_save = agent.state_dict(), weights(agent)
    agent.learn(env, total_steps=256, n_steps=32)
    assert not torch.equal(weights(agent), at_save)
    agent.load_state_dict(saved)
    assert torch.equal(weights(agent), at_save)  # before: the later weights came back
    resets = []
    reset = env.reset
    env.reset = lambda **kw: resets.append(kw) or reset(**kw)
    agent.learn(env, total_steps=192, n_steps=32)
    assert len(resets) == 1  # before: no reset, the rolled-back agent took up the episodes left at 256 steps
    # and it trains exactly as a fresh agent restored from the same state
    fresh = PPO(4, 3, seed=9)
    fresh.load_state_dict(saved)
    fresh.learn(venv(), total_steps=192, n_steps=32)
    again = PPO(4, 3, seed=9)
    again.load_state_dict(saved)
    again.learn(venv(), total_steps=192, n_steps=32)
    assert torch.equal(weights(fresh), weights(again))


def test_ppo_called_again_after_the_env_was_reset_does_not_act_on_the_old_episodes_observations():
    """learn() called again on the same env carried on from the observations it had kept, even when the env had been
    reset in between: each sub-env's first step was trained on the cut episode's last observation."""
    from magister.rl.ppo import PPO

    env = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0))
    agent = PPO(4, 3, seed=3)
    seen = []
    agent._update = lambda obs, *rest: seen.append(obs.reshape(-1, 2, 4)[0].copy())
    agent.learn(env, total_steps=6, n_steps=3)
    env.reset(seed=1)
    agent.learn(env, total_steps=12, n_steps=3)
    assert (seen[1][:, 3] == 0).all()  # t / horizon: a new episode's first step (before: the old episodes' t = 3)
    seen.clear()
    agent.learn(env, total_steps=18, n_steps=3)  # not reset in between: carries on
    assert (seen[0][:, 3] > 0).all()
    # the level scorer's per-level statistics survive such a reset (only the running episodes' sums are dropped)
    ext = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", EASY, seed=0), score="external")
    agent = PPO(4, 3, seed=3)
    agent.learn(ext, total_steps=256, n_steps=32, level_score="learnable")
    scorer, counted = agent.scorer, sum(c[1] for c in agent.scorer.outcomes.values())
    assert counted
    ext.reset(seed=2)
    agent.learn(ext, total_steps=320, n_steps=32)
    assert agent.scorer is scorer and sum(c[1] for c in scorer.outcomes.values()) >= counted


def test_ppo_learn_refuses_an_env_it_cannot_train_on_before_any_step():
    # a wrong obs_dim failed inside torch ("mat1 and mat2 shapes cannot be multiplied"), too many actions in the
    # env's step after a rollout, too few were never played (silently), and a single env had no attribute num_envs
    import gymnasium as gym

    from magister.errors import ConfigError
    from magister.rl.ppo import PPO

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher)
    for agent, message in [(PPO(3, 3), r"obs_dim=3\).*\(4,\).*PPO\(obs_dim=4"),
                           (PPO(4, 2), r"n_actions=2\).*Discrete\(3\).*PPO\(n_actions=3"),
                           (PPO(4, 5), r"n_actions=5\).*Discrete\(3\).*PPO\(n_actions=3")]:
        with pytest.raises(ConfigError, match=message):
            agent.learn(venv, total_steps=256)
        assert agent.steps == 0 and venv.n_assigned == 0 and teacher.n_observed == 0  # nothing ran
    with pytest.raises(ConfigError, match="vector env .*CurriculumVectorEnv"):
        PPO(4, 3).learn(CliffWalk(), total_steps=256)
    same_step = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    boxed = gym.make_vec("MountainCarContinuous-v0", 2, vector_kwargs=same_step)
    with pytest.raises(ConfigError, match="discrete actions"):
        PPO(2, 1).learn(boxed, total_steps=256)
    images = gym.vector.SyncVectorEnv([lambda: gym.wrappers.AddRenderObservation(
        gym.make("CartPole-v1", render_mode="rgb_array"), render_only=True)], **same_step)
    with pytest.raises(ConfigError, match="FlattenObservation"):
        PPO(4, 2).learn(images, total_steps=256)
    assert PPO(4, 3, seed=0).learn(venv, total_steps=64, n_steps=32).steps == 64  # the right sizes still train
    venv.close()



@pytest.mark.parametrize("kind", ["multibinary", "multidiscrete"])
def test_ppo_learn_takes_a_flat_multibinary_or_multidiscrete_observation_as_before(kind):
    # the env check (5db2964) took only a Box for "obs_dim numbers": a MultiBinary(4) or MultiDiscrete of 4 entries,
    # which PPO(obs_dim=4) always trained on (as 4 numbers), was refused with advice to flatten it
    import gymnasium as gym

    from magister.errors import ConfigError
    from magister.rl.ppo import PPO

    space = gym.spaces.MultiBinary(4) if kind == "multibinary" else gym.spaces.MultiDiscrete([3, 3, 3, 3])

    class Bits(gym.Env):
        observation_space, action_space = space, gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(4, dtype=space.dtype), {}

        def step(self, action):
            self.t += 1
            return np.ones(4, dtype=space.dtype), float(action), self.t >= 4, False, {"success": bool(action)}

    teacher = mg.make_teacher("uniform", mg.Discrete(3), seed=0)
    venv = CurriculumVectorEnv([Bits] * 2, teacher)
    assert PPO(4, 2, seed=0).learn(venv, total_steps=64, n_steps=32).steps == 64 and teacher.n_observed > 0
    with pytest.raises(ConfigError, match=r"obs_dim=5\).*PPO\(obs_dim=4"):  # a wrong size is still refused
        PPO(5, 2).learn(venv, total_steps=64)
    venv.close()

def test_ppo_reaches_the_curriculum_env_through_gymnasium_vector_wrappers():
    # Gymnasium's vector wrappers do not pass attributes on: through RecordEpisodeStatistics the agent never sent
    # the scores of a score="external" env (the teacher heard nothing, the episodes piled up in venv.pending),
    # trained on evaluate-only episodes, and level_score=... was refused as if the env did not score externally
    import gymnasium as gym

    from magister.rl.ppo import PPO

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    inner = CurriculumVectorEnv([CliffWalk] * 2, teacher, score="external")
    agent = PPO(4, 3, seed=0).learn(gym.wrappers.vector.RecordEpisodeStatistics(inner), total_steps=256,
                                    n_steps=32, level_score="pvl")
    assert teacher.n_observed == inner.n_reported > 0 and inner.pending == {}

    class EvaluateOnly:
        """Uniform tasks, each for evaluation only."""

        space = CliffWalk.task_space

        def __init__(self):
            self.rng, self.n_observed = np.random.default_rng(0), 0

        def propose(self, k):
            return list(self.space.sample(self.rng, k))

        def propose_with_info(self, k):
            return self.propose(k), [{"train": False} for _ in range(k)]

        def observe_batch(self, tasks, scores):
            self.n_observed += len(scores)

    evaluate_only = EvaluateOnly()
    wrapped = gym.wrappers.vector.RecordEpisodeStatistics(CurriculumVectorEnv([CliffWalk] * 2, evaluate_only))
    agent = PPO(4, 3, seed=0).learn(wrapped, total_steps=128, n_steps=32)
    assert agent.steps == 128 and agent.n_trained_steps == 0 and evaluate_only.n_observed > 0


def test_ppo_act_refuses_observations_of_another_size_with_a_magister_error():
    # torch's "mat1 and mat2 shapes cannot be multiplied" (or "can't convert np.ndarray of type numpy.str_")
    from magister.errors import ConfigError
    from magister.rl.ppo import PPO

    agent = PPO(4, 3, seed=0)
    assert agent.act(np.zeros((2, 4)), greedy=True).shape == (2,) and np.ndim(agent.act(np.zeros(4))) == 0
    for obs in (np.zeros(3), np.zeros((2, 5)), np.array(["a"] * 4), 1.0):
        with pytest.raises(ConfigError, match=r"obs_dim=4\).act takes observations of 4 numbers"):
            agent.act(obs)
    with pytest.raises(ConfigError, match=r"3 numbers .*shape \(20, 4\)"):  # 2 tasks x 10 episodes
        evaluate(CliffWalk, PPO(3, 3).policy(), CliffWalk.test_set()[:2])


def _flag_env(flag):
    class Flagged(CliffWalk):
        def step(self, action):
            obs, r, term, trunc, info = super().step(action)
            if "is_success" in info:
                info["is_success"] = flag(info["is_success"])
            return obs, r, term, trunc, info
    return Flagged


def test_ppo_learnable_reads_success_flags_as_success_score_does():
    # the "learnable" score read info["is_success"] with dtype=bool: "False" (or NaN, 0.5) counted every episode solved
    from magister.errors import InvalidScoreError
    from magister.rl.ppo import PPO

    def outcomes(flag):
        env = CurriculumVectorEnv([_flag_env(flag)] * 2, mg.make_teacher("uniform", EASY, seed=0), score="external")
        agent = PPO(4, 3, seed=3)
        agent.learn(env, total_steps=128, n_steps=32, level_score="learnable")
        return agent.scorer.outcomes

    for bad in (lambda ok: "True" if ok else "False", lambda ok: float("nan"), lambda ok: 0.5):
        with pytest.raises(InvalidScoreError, match=r"final info\['is_success'\] is .*, not a success flag"):
            outcomes(bad)
    plain = outcomes(lambda ok: ok)
    assert any(won < n for won, n in plain.values())  # not every episode solved: the check below can tell
    assert outcomes(lambda ok: float(ok)) == outcomes(lambda ok: np.int64(ok)) == plain


@pytest.mark.parametrize("other", [dict(obs_dim=5), dict(n_actions=2), dict(hidden=32)])
def test_ppo_load_state_of_another_network_is_refused_and_changes_nothing(other):
    """A state saved by a PPO of another obs_dim, n_actions or hidden raised torch's raw "size mismatch"
    RuntimeError after copying the layers whose shapes matched: the agent was left half loaded."""
    import torch

    from magister.errors import CheckpointError
    from magister.rl.ppo import PPO

    sizes = dict(obs_dim=4, n_actions=3, hidden=64)
    agent = PPO(**sizes, seed=0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    saved = PPO(**{**sizes, **other}, seed=1).state_dict()
    with pytest.raises(CheckpointError, match=r"PPO\(obs_dim=\d, n_actions=\d, hidden=\d+\), not of this "
                                              r"PPO\(obs_dim=4, n_actions=3, hidden=64\)"):
        agent.load_state_dict(saved)
    assert all(torch.equal(p, q) for p, q in zip(agent.net.parameters(), before))
    agent.load_state_dict(PPO(**sizes, seed=2).state_dict())  # the same network's state loads as before


@pytest.mark.parametrize("edit", ["extra", "missing", "renamed"])
def test_ppo_load_of_weights_with_other_entries_names_them(edit):
    """Weights of the agent's sizes with an entry more, one less or one renamed (a state edited, or another
    framework's net dict) were refused as "those of a PPO(obs_dim=4, n_actions=3, hidden=64), not of this
    PPO(obs_dim=4, n_actions=3, hidden=64)": the same sizes twice, naming nothing that differs."""
    import torch

    from magister.errors import CheckpointError
    from magister.rl.ppo import PPO

    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    saved = PPO(obs_dim=4, n_actions=3, seed=1).state_dict()
    net = saved["net"]
    if edit == "extra":
        net["pi.5.weight"] = torch.zeros(2)
        said = r"entries this PPO's network does not have: 'pi.5.weight'"
    elif edit == "missing":
        del net["v.4.bias"]
        said = r"no 'v.4.bias'"
    else:
        net["module.v.4.bias"] = net.pop("v.4.bias")
        said = r"entries this PPO's network does not have: 'module.v.4.bias'; no 'v.4.bias'"
    with pytest.raises(CheckpointError, match=said + r".*Nothing was changed") as e:
        agent.load_state_dict(saved)
    assert "not of this" not in str(e.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_ppo_load_of_a_state_with_non_finite_weights_is_refused_and_changes_nothing(bad):
    """A state whose weights hold NaN (a damaged file, a diverged run) was loaded, and the agent's first act (or
    learn) failed in torch with "probability tensor contains either `inf`, `nan` or element < 0"."""
    import torch

    from magister.errors import CheckpointError
    from magister.rl.ppo import PPO

    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    before = agent.state_dict()
    saved = PPO(obs_dim=4, n_actions=3, seed=1).state_dict()
    saved["net"]["pi.2.bias"][1] = bad
    with pytest.raises(CheckpointError, match=r"'pi.2.bias' hold NaN or infinite values.*Nothing was changed"):
        agent.load_state_dict(saved)
    assert all(torch.equal(before["net"][k], v) for k, v in agent.state_dict()["net"].items())
    agent.act(np.zeros((2, 4)))  # the agent acts as before
    saved["net"]["pi.2.bias"][1] = 0.0
    agent.load_state_dict(saved)  # finite weights load as before


@pytest.mark.parametrize("damage", [
    {"steps": "x"}, {"steps": -5}, {"steps": 2.5}, {"n_trained_steps": "7"}, {"steps": 10**30}, {"gen": None},
    {"gen": "state"}, {"opt": {"state": {}, "param_groups": []}}, {"opt": None}])
def test_ppo_load_of_a_damaged_state_is_refused_and_changes_nothing(damage):
    """A damaged count or generator state raised int()'s or torch's raw error after the weights and the optimiser
    were loaded (the agent half loaded: another agent's weights with its own step count), a missing key a raw
    KeyError, and -5 or 2.5 steps were taken."""
    import torch

    from magister.errors import CheckpointError
    from magister.rl.ppo import PPO

    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    agent.steps, agent.n_trained_steps = 40, 32
    before = agent.state_dict()
    saved = PPO(obs_dim=4, n_actions=3, seed=1).state_dict()
    saved.update(damage)
    if damage == {"gen": None}:
        del saved["gen"]
    with pytest.raises(CheckpointError, match="Nothing was changed"):
        agent.load_state_dict(saved)
    after = agent.state_dict()
    assert all(torch.equal(before["net"][k], after["net"][k]) for k in before["net"])
    assert before["opt"]["param_groups"] == after["opt"]["param_groups"]
    assert (after["steps"], after["n_trained_steps"]) == (40, 32) and torch.equal(before["gen"], after["gen"])
    good = PPO(obs_dim=4, n_actions=3, seed=1).state_dict()
    good["steps"] = 64.0  # a whole float, as an older file may hold, is taken
    agent.load_state_dict(good)
    assert agent.steps == 64 and agent.n_trained_steps == 0


def test_ppo_learn_resets_a_plain_vector_env_passed_wrapped_anew():
    """The documented way to start afresh on a plain vector env reset by hand between learn calls (learn cannot
    tell it was reset, and would act on the cut episode's last observations): pass it wrapped anew."""
    import gymnasium as gym

    from magister.rl.ppo import PPO

    venv = gym.vector.SyncVectorEnv([CliffWalk] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    agent = PPO(4, 3, seed=0)
    agent.learn(venv, total_steps=64, n_steps=32)
    resets = []
    reset = venv.reset
    venv.reset = lambda **kw: resets.append(kw) or reset(**kw)
    agent.learn(venv, total_steps=128, n_steps=32)
    assert resets == []  # the same env: its running episodes go on
    agent.learn(gym.vector.VectorWrapper(venv), total_steps=192, n_steps=32)
    assert len(resets) == 1 and agent.steps == 192
    venv.close()


def test_learn_to_a_step_count_already_reached_changes_nothing():
    # learn(venv, total_steps <= agent.steps) trained nothing but reset the env (its running episodes cut, the
    # teacher asked for new tasks), moved the agent's generator and dropped the scorer load_state_dict restored,
    # so a later learn on a new env scored levels with a fresh scorer
    import torch

    from magister.rl.ppo import PPO

    def env():
        return CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("plr", EASY, seed=0), score="external")

    agent = PPO(4, 3, seed=3)
    agent.learn(env(), total_steps=128, n_steps=32, level_score="maxmc")
    restored = PPO(4, 3, seed=4)
    restored.load_state_dict(agent.state_dict())
    kept = restored.scorer
    venv = env()
    venv.reset(seed=1)
    ids, proposed, gen = venv.episode_ids.copy(), venv.teacher.n_proposed, restored.gen.get_state().clone()
    for total in (restored.steps, 0, 64.5):
        assert restored.learn(venv, total_steps=total, n_steps=32) is restored
    assert restored.steps == 128 and restored.n_trained_steps == 128
    assert np.array_equal(venv.episode_ids, ids) and venv.teacher.n_proposed == proposed
    assert torch.equal(restored.gen.get_state(), gen)
    restored.learn(env(), total_steps=256, n_steps=32)
    assert restored.scorer is kept  # the restored scorer's statistics, as the uninterrupted agent's
    # the same call on the agent that ran: its running episodes go on as they were
    running = agent._running
    agent.learn(running[0], total_steps=100)
    assert agent._running is running and agent.steps == 128


# (past the 128 TiB a 64-bit process can address: refused whatever the machine's memory and overcommit)
@pytest.mark.parametrize("n_steps, size", [(10**14, "10.3 PiB"), (10**30, "[\\d,.]+ EiB")])
def test_learn_refuses_rollout_buffers_it_cannot_allocate_before_anything_changes(n_steps, size):
    # learn(n_steps=10**12) reset the env (the teacher asked for tasks), then failed in numpy with "Unable to
    # allocate 29.1 TiB" (10**30: "Maximum allowed dimension exceeded"), which named no setting, nor the fix
    import torch

    from magister.errors import ConfigError
    from magister.rl.ppo import PPO

    teacher = mg.make_teacher("uniform", EASY, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher)
    agent = PPO(4, 3, seed=3)
    gen = agent.gen.get_state().clone()
    with pytest.raises(ConfigError, match=rf"n_steps={n_steps:,} needs rollout buffers of about {size} "
                                          r"\(.* x 2 sub-envs x 4 observation numbers\).*give a smaller n_steps"):
        agent.learn(venv, total_steps=128, n_steps=n_steps)
    assert teacher.n_proposed == 0 and agent.steps == 0 and agent._running is None
    assert torch.equal(agent.gen.get_state(), gen)
    agent.learn(venv, total_steps=128, n_steps=32)  # a rollout that fits trains as before
    assert agent.steps == 128


@pytest.mark.parametrize("level_score", ["bogus", 3, True])
def test_learn_with_nothing_to_train_still_refuses_a_bad_level_score(level_score):
    # learn(venv, total_steps <= agent.steps) returned before the scorer was built, so a level_score it cannot take
    # was accepted without a word (before that early return it was a ConfigError naming the kinds)
    from magister.errors import ConfigError
    from magister.rl.ppo import PPO

    venv = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("plr", EASY, seed=0), score="external")
    agent = PPO(4, 3, seed=3)
    for total in (0, 64):
        with pytest.raises(ConfigError, match=r"LevelScorer\(kind=...\) must be one of \('gae', 'pvl', 'maxmc', "
                                              r"'learnable'\), got " + repr(level_score)):
            agent.learn(venv, total_steps=total, n_steps=32, level_score=level_score)
    assert agent.steps == 0 and venv.teacher.n_proposed == 0  # refused before anything ran
    assert agent.learn(venv, total_steps=0, level_score="maxmc") is agent  # a kind it takes: nothing to do
    venv.close()
