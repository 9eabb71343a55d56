"""Level curricula through every RL path: proposal infos (train / evaluate only), scores sent by the learner
(score="external", report), LevelScorer's PLR scores, and our PPO masking evaluate-only episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError
from magister.rl import CurriculumVectorEnv, CurriculumWrapper, LevelScorer
from magister.rl.envs import CliffWalk
from magister.rl.wrapper import TASK_ID_KEY, TASK_INFO_KEY, TRAIN_KEY

SPACE = CliffWalk.task_space


class InfoTeacher:
    """A uniform teacher whose every ``period``-th task is evaluate only; records what it observes."""

    def __init__(self, period: int = 2, seed: int = 0):
        self.inner = mg.make_teacher("uniform", SPACE, seed=seed)
        self.space = SPACE
        self.period = period
        self.n = 0
        self.observed: list[tuple[tuple[float, ...], float]] = []
        self.given: dict[tuple[float, ...], bool] = {}

    def propose_with_info(self, k):
        tasks = list(self.inner.propose(k))
        infos = []
        for t in tasks:
            train = self.n % self.period != 0
            self.given[tuple(np.round(t, 12))] = train
            infos.append({"train": train, "replay": train})
            self.n += 1
        return tasks, infos

    def propose(self, k=None):
        tasks, _ = self.propose_with_info(1 if k is None else k)
        return tasks[0] if k is None else np.asarray(tasks)

    def observe(self, task, score):
        self.observe_batch([task], [score])

    def observe_batch(self, tasks, scores):
        for t, s in zip(tasks, scores):
            self.observed.append((tuple(np.round(t, 12)), float(s)))


def _run_episode(env, rng, obs_info=None):
    obs, info = env.reset()
    while True:
        obs, r, term, trunc, final = env.step(env.action_space.sample())
        if term or trunc:
            return info, final


def test_wrapper_puts_the_proposal_info_in_the_reset_info():
    teacher = InfoTeacher(period=2)
    env = CurriculumWrapper(CliffWalk(), teacher)
    flags = []
    for _ in range(4):
        info, final = _run_episode(env, None)
        assert info[TRAIN_KEY] == info[TASK_INFO_KEY]["train"] == final[TRAIN_KEY]
        flags.append(info[TRAIN_KEY])
    assert flags == [False, True, False, True]
    assert len(teacher.observed) == 4  # evaluate-only episodes are scored too


def test_wrapper_external_scores_are_sent_by_the_learner_once():
    teacher = InfoTeacher(period=3)
    env = CurriculumWrapper(CliffWalk(), teacher, score="external")
    ids, tasks = [], []
    for _ in range(3):
        _, final = _run_episode(env, None)
        assert "magister_score" not in final
        ids.append(final[TASK_ID_KEY])
        tasks.append(tuple(np.round(env.task, 12)))
    assert teacher.observed == [] and sorted(env.pending) == ids
    env.report(ids[:2], [0.5, 7.0])
    assert teacher.observed == [(tasks[0], 0.5), (tasks[1], 7.0)]
    with pytest.raises(ConfigError, match="not finished episodes"):
        env.report([ids[0], ids[2]], [1.0, 1.0])  # ids[0] already reported: nothing is sent
    assert len(teacher.observed) == 2 and ids[2] in env.pending
    env.report(tasks=[env.pending[ids[2]]], scores=[2.0])
    assert teacher.observed[-1] == (tasks[2], 2.0)


def test_wrapper_external_scores_reach_a_teacher_with_observe_only():
    # the wrapper takes any teacher with propose() and observe(); report() called observe_batch, an AttributeError
    class ObserveOnly:
        def __init__(self):
            self.inner, self.space, self.observed = mg.make_teacher("uniform", SPACE, seed=0), SPACE, []

        def propose(self, k=None):
            return self.inner.propose(k)

        def observe(self, task, score):
            if not np.isfinite(score):
                raise mg.errors.InvalidScoreError(f"bad score {score!r}")
            self.observed.append(float(score))

    teacher = ObserveOnly()
    env = CurriculumWrapper(CliffWalk(), teacher, score="external")
    ids = [_run_episode(env, None)[1][TASK_ID_KEY] for _ in range(3)]
    env.report(ids[:1], [0.5])
    assert teacher.observed == [0.5] and sorted(env.pending) == ids[1:]
    with pytest.raises(mg.errors.InvalidScoreError):
        env.report(ids[1:], [0.25, float("nan")])  # the first is recorded, and no longer waits
    assert teacher.observed == [0.5, 0.25] and sorted(env.pending) == ids[2:]
    env.report(ids[2:], [1.0])
    assert teacher.observed == [0.5, 0.25, 1.0] and env.pending == {}


def test_wrapper_push_task_keeps_its_info():
    env = CurriculumWrapper(CliffWalk(), None)
    env.push_task(SPACE.low, {"train": False, "replay": False})
    _, info = env.reset()
    assert info[TRAIN_KEY] is False


@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_vector_env_tracks_train_flags_and_takes_external_scores(vectorization, prefetch):
    teacher = InfoTeacher(period=2)
    venv = CurriculumVectorEnv([CliffWalk] * 3, teacher, vectorization=vectorization, prefetch=prefetch,
                               score="external")
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    finished = 0
    try:
        for _ in range(300):
            ids, train = venv.episode_ids, venv.episode_train.copy()
            tasks = [tuple(np.round(t, 12)) for t in venv.tasks]
            for t, f in zip(tasks, train):
                assert teacher.given[t] == f  # the flag belongs to the running episode's task
            _, _, term, trunc, infos = venv.step(rng.integers(0, 3, size=3))
            done = np.logical_or(term, trunc)
            if done.any():
                final = infos["final_info"] if prefetch == 0 else infos["final_info"]
                np.testing.assert_array_equal(np.asarray(final[TASK_ID_KEY])[done], ids[done])
                venv.report(ids[done], ids[done].astype(float))  # score = id, to check the pairing
                finished += int(done.sum())
    finally:
        venv.close()
    assert finished > 5 and len(teacher.observed) == finished and venv.n_reported == finished
    assert not venv.pending
    with pytest.raises(ConfigError, match="not finished episodes"):
        venv.report([10_000], [1.0])


def test_vector_env_report_refused_without_external_scores():
    venv = CurriculumVectorEnv([CliffWalk] * 2, InfoTeacher())
    with pytest.raises(ConfigError, match="external"):
        venv.report([0], [1.0])
    venv.close()


def test_report_refuses_text_scores_and_fractional_ids_changing_nothing():
    # before: a text score was turned into a float ("0.5" recorded, "abc" a raw ValueError) although the
    # teacher itself refuses text, and an id 0.5 was truncated to episode 0 and reported as it
    teacher = mg.make_teacher("plr", SPACE, seed=0)
    env = CurriculumWrapper(CliffWalk(), teacher, score="external")
    _, final = _run_episode(env, None)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, score="external")
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    try:
        while not venv.pending:
            venv.step(rng.integers(0, 3, size=2))
        for n, (report, pending, eid) in enumerate(((env.report, env.pending, final[TASK_ID_KEY]),
                                                     (venv.report, venv.pending, min(venv.pending)))):
            for bad in (["0.5"], ["abc"], [None]):
                with pytest.raises(mg.InvalidScoreError, match="numbers"):
                    report([eid], bad)
            for bad_id in (eid + 0.5, "0", True):
                with pytest.raises(ConfigError, match="task id"):
                    report([bad_id], [0.5])
            assert teacher.n_observed == n and eid in pending
            report(np.array([eid], dtype=float), [0.5])  # a whole float id is still that episode
        assert teacher.n_observed == 2
    finally:
        venv.close()


def test_level_scorer_scores_by_hand():
    # two sub-envs, two rollouts of 3 steps; env 0: episode 0 ends at t=1, episode 2 spans both rollouts
    ids = np.array([[0, 1], [0, 1], [2, 1]])
    adv = np.array([[1.0, -2.0], [-3.0, 4.0], [5.0, 0.0]])
    val = np.array([[0.5, 0.0], [0.5, 0.0], [0.2, 0.0]])
    rew = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    done = np.array([[0, 0], [1, 0], [0, 0]])
    gae = LevelScorer("gae")
    got_ids, got = gae.update(ids, adv, val, rew, done)
    np.testing.assert_array_equal(got_ids, [0])
    np.testing.assert_allclose(got, [2.0])  # mean(|1|, |-3|)
    ids2 = np.array([[2, 1], [2, 3], [4, 3]])
    adv2 = np.array([[-1.0, 2.0], [1.0, 1.0], [0.0, 1.0]])
    done2 = np.array([[1, 1], [0, 0], [0, 0]])
    got_ids, got = gae.update(ids2, adv2, val, rew, done2)
    np.testing.assert_array_equal(sorted(got_ids), [1, 2])
    by_id = dict(zip(got_ids.tolist(), got.tolist()))
    assert by_id[2] == pytest.approx(3.0)  # (|5| + |-1|) / 2, across the two rollouts
    assert by_id[1] == pytest.approx((2 + 4 + 0 + 2) / 4)
    pvl = LevelScorer("pvl")
    _, got = pvl.update(ids, adv, val, rew, done)
    np.testing.assert_allclose(got, [0.5])  # mean(max(1,0), max(-3,0))
    _, got = LevelScorer("pvl", reduce="sum").update(ids, adv, val, rew, done)
    np.testing.assert_allclose(got, [1.0])  # max(1,0) + max(-3,0)
    summed = LevelScorer("gae", reduce="sum")
    summed.update(ids, adv, val, rew, done)
    got_ids, got = summed.update(ids2, adv2, val, rew, done2)
    assert dict(zip(got_ids.tolist(), got.tolist()))[2] == pytest.approx(6.0)  # |5| + |-1|, across rollouts
    with pytest.raises(ConfigError, match="reduce"):
        LevelScorer("pvl", reduce="max")
    with pytest.raises(ConfigError, match="gae' and 'pvl' only"):
        LevelScorer("maxmc", reduce="sum")
    mc = LevelScorer("maxmc", gamma=0.5)
    _, got = mc.update(ids, adv, val, rew, done, keys={0: "a", 1: "b", 2: "a"})
    np.testing.assert_allclose(got, [0.5 * 1.0 - 0.5])  # best discounted return 0.5, mean value 0.5
    with pytest.raises(ConfigError, match="keys"):
        mc.update(ids, adv, val, rew, done)
    with pytest.raises(ConfigError, match="one of"):
        LevelScorer("regret")
    for bad in (float("nan"), -0.5, 1.5, True, "0.99"):  # the discount of max-MC's returns
        with pytest.raises(ConfigError, match="gamma"):
            LevelScorer("maxmc", gamma=bad)


def test_level_scorer_leaves_an_episode_cut_by_a_reset_unscored():
    # before: an episode cut mid-rollout by a reset (its id changes with no done) had the next episode's steps merged
    # into it, and the next episode's score was returned under the cut one's id, which report() then refused
    ids = np.array([[0, 1], [0, 1], [2, 1], [2, 1]])  # env 0: episode 0 cut after 2 steps, episode 2 ends at t=3
    adv = np.array([[5.0, 1.0], [5.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    val = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 0.0], [0.5, 0.0]])
    rew = np.array([[9.0, 0.0], [9.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    done = np.array([[0, 0], [0, 0], [0, 0], [1, 0]])
    got_ids, got = LevelScorer("pvl").update(ids, adv, val, rew, done)
    np.testing.assert_array_equal(got_ids, [2])
    np.testing.assert_allclose(got, [2.0])  # mean(1, 3): episode 2's steps only
    mc = LevelScorer("maxmc", gamma=0.5)
    got_ids, got = mc.update(ids, adv, val, rew, done, keys={0: "a", 2: "b"})
    np.testing.assert_array_equal(got_ids, [2])
    np.testing.assert_allclose(got, [0.5 - 0.5])  # return 0.5 * 1, mean value 0.5: none of episode 0's reward
    assert mc.best == {"b": 0.5}
    # through the vector env: the cut episode's id is not waiting for a score, the next one's is
    venv = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", SPACE, seed=0), score="external")
    venv.reset(seed=0)
    scorer, rows = LevelScorer("gae"), []
    for t in range(4):
        if t == 2:
            venv.reset(options={"reset_mask": np.array([True, False])})
        rows.append(venv.episode_ids)
        venv.step(np.array([0, 0]) if t < 3 else np.array([1, 1]))  # both stop at t=3
    ids = np.array(rows)
    done = np.array([[0, 0], [0, 0], [0, 0], [1, 1]])
    got_ids, got = scorer.update(ids, np.ones((4, 2)), np.zeros((4, 2)), np.zeros((4, 2)), done)
    assert sorted(got_ids.tolist()) == sorted(venv.pending) and ids[0, 0] not in got_ids
    venv.report(got_ids, got)
    venv.close()


def test_ppo_trains_only_on_replayed_levels_and_scores_every_episode():
    torch = pytest.importorskip("torch")
    from magister.rl.ppo import PPO

    teacher = InfoTeacher(period=1)  # every episode evaluate only: the policy must not move
    venv = CurriculumVectorEnv([CliffWalk] * 4, teacher, score="external")
    agent = PPO(obs_dim=venv.single_observation_space.shape[0], n_actions=3, seed=0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    agent.learn(venv, total_steps=1024, n_steps=64)
    assert agent.n_trained_steps == 0
    assert all(torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))
    assert len(teacher.observed) > 10 and len(teacher.observed) == agent.scorer.n_scored
    assert not venv.pending or all(i in venv.episode_ids for i in venv.pending)
    venv.close()

    teacher = InfoTeacher(period=2)  # half the episodes evaluate only
    venv = CurriculumVectorEnv([CliffWalk] * 4, teacher, score="external")
    agent = PPO(obs_dim=venv.single_observation_space.shape[0], n_actions=3, seed=0)
    agent.learn(venv, total_steps=2048, n_steps=64, level_score="gae")
    assert 0 < agent.n_trained_steps < agent.steps
    assert len(teacher.observed) == agent.scorer.n_scored and len(teacher.observed) > 10
    assert all(np.isfinite(s) and s >= 0 for _, s in teacher.observed)
    venv.close()


def test_ppo_refuses_level_score_without_external_scores():
    pytest.importorskip("torch")
    from magister.rl.ppo import PPO

    venv = CurriculumVectorEnv([CliffWalk] * 2, InfoTeacher())
    with pytest.raises(ConfigError, match="external"):
        PPO(obs_dim=venv.single_observation_space.shape[0], n_actions=3).learn(venv, 128, level_score="gae")
    venv.close()


def test_level_scorer_learnable_counts_successes_per_level_and_trusts_a_solve():
    ids = np.array([[0, 1], [0, 1], [2, 3]])
    zeros = np.zeros((3, 2))
    done = np.array([[0, 0], [1, 1], [0, 0]])
    rew = np.array([[0.0, 0.0], [0.7, 0.0], [0.0, 0.0]])  # episode 0 reaches its goal, episode 1 does not
    keys = {0: "a", 1: "b", 2: "a", 3: "b"}
    fr = LevelScorer("learnable")
    got_ids, got = fr.update(ids, zeros, zeros, rew, done, keys=keys)
    by_id = dict(zip(got_ids.tolist(), got.tolist()))
    # solved once: proven solvable, Beta(2, 1): 2 * 1 / (3 * 4); failed once: P(solvable) = 0.5 / (0.5 + 0.5 * 2),
    # times Beta(1, 2)'s 2 / 12
    assert by_id == pytest.approx({0: 2 / 12, 1: (1 / 3) * (2 / 12)})
    assert fr.outcomes == {"a": [1, 1], "b": [0, 1]}
    # the second episodes of both levels end in the next rollout; ``solved`` (e.g. from info["is_success"]) is read
    # at each episode's last step and overrides the reward: level b is solved although its last reward is 0,
    # level a's reward (an exploration bonus, say) is not a solve
    ids2 = np.array([[2, 3], [4, 5], [4, 5]])
    rew2 = np.array([[0.3, 0.0], [0.0, 0.0], [0.0, 0.0]])
    done2 = np.array([[1, 1], [0, 0], [0, 0]])
    solved2 = np.array([[False, True], [False, False], [False, False]])
    got_ids, got = fr.update(ids2, zeros, zeros, rew2, done2, keys=keys, solved=solved2)
    by_id = dict(zip(got_ids.tolist(), got.tolist()))
    # a: 1 of 2, Beta(2, 2) = 4 / 20 (the most learnable); b: 1 of 2 as well
    assert by_id == pytest.approx({2: 0.2, 3: 0.2}) and fr.outcomes == {"a": [1, 2], "b": [1, 2]}
    # never solved falls faster than always solved; the prior 1 makes the two alike
    assert fr.learnable_score(0, 5) < fr.learnable_score(5, 5) < fr.learnable_score(3, 6) <= 0.25
    plain = LevelScorer("learnable", solvable_prior=1.0)
    assert plain.learnable_score(0, 5) == pytest.approx(plain.learnable_score(5, 5))
    with pytest.raises(ConfigError, match="keys"):
        fr.update(ids, zeros, zeros, rew, done)
    with pytest.raises(ConfigError, match="solved"):
        fr.update(ids, zeros, zeros, rew, done, keys=keys, solved=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="solvable_prior"):
        LevelScorer("learnable", solvable_prior=0.0)
    with pytest.raises(ConfigError, match="gae' and 'pvl' only"):
        LevelScorer("learnable", reduce="sum")


class _PayingEnv(gym.Env):
    """Pays 0.5 every step for 4 steps; ``info["is_success"]`` at the end is the task (0 or 1) itself."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.task, self.t = 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task, self.t = int((options or {}).get("task", self.task)), 0
        return np.array([self.task, 0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= 4
        info = {"is_success": bool(self.task)} if done else {}
        return np.array([self.task, self.t / 4], dtype=np.float32), 0.5, done, False, info


@pytest.mark.parametrize("kind", ["learnable", "maxmc"])
def test_level_scorer_refuses_a_missing_level_key_and_changes_nothing(kind):
    ids = np.array([[0, 1], [0, 1], [2, 1]])
    zeros = np.zeros((3, 2))
    done = np.array([[0, 0], [1, 0], [0, 1]])
    rewards = np.array([[0, 0], [1, 0], [0, 1.0]])
    scorer, clean = LevelScorer(kind), LevelScorer(kind)
    with pytest.raises(ConfigError, match=r"no level key for the episode id\(s\) \[1\]"):
        scorer.update(ids, zeros, zeros, rewards, done, keys={0: "a"})
    assert scorer.outcomes == {} and scorer.best == {} and scorer._acc == {} and scorer.n_scored == 0
    got = scorer.update(ids, zeros, zeros, rewards, done, keys={0: "a", 1: "b"})
    want = clean.update(ids, zeros, zeros, rewards, done, keys={0: "a", 1: "b"})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert scorer.outcomes == clean.outcomes and scorer.best == clean.best


def test_level_key_of_a_dict_task_is_its_entries_so_equal_levels_share_their_statistics():
    # np.asarray(dict).tobytes() was the dict's address: each proposal of the same Dict level got its own key
    # (a "learnable" level never gathered more than one episode), and a new level could take a freed one's
    from magister.rl import level_key
    from magister.levels.spaces import MazeSpace

    space = mg.Dict({"seed": mg.Discrete(4), "speed": mg.Box([0.5], [2.0]), "grid": mg.MultiDiscrete([2, 3]),
                     "maze": MazeSpace(5)})
    task = space.sample(np.random.default_rng(0))
    again = space.from_json(space.to_json(task))  # the same level, another object (as the JSON a learner sends)
    assert again is not task and level_key(again) == level_key(task)
    assert isinstance(level_key(task), str)  # a plain key: the scorer's state loads with torch weights_only
    other = dict(task, seed=(task["seed"] + 1) % 4)
    assert level_key(other) != level_key(task)
    scorer = LevelScorer("learnable")
    ids, zeros = np.array([[0], [1]]), np.zeros((2, 1))
    done, rewards = np.ones((2, 1)), np.array([[1.0], [0.0]])
    scorer.update(ids, zeros, zeros, rewards, done, keys={0: level_key(task), 1: level_key(again)})
    assert scorer.outcomes == {level_key(task): [1, 2]}


def test_ppo_learnable_takes_success_from_the_env_info_not_the_reward():
    pytest.importorskip("torch")
    from magister.rl.ppo import PPO
    from magister.spaces import Discrete

    teacher = mg.make_teacher("uniform", Discrete(2), seed=0)
    venv = CurriculumVectorEnv([_PayingEnv] * 2, teacher, score="external")
    agent = PPO(obs_dim=2, n_actions=3, seed=0)
    agent.learn(venv, total_steps=256, n_steps=16, level_score="learnable")
    out = agent.scorer.outcomes
    assert set(out) == {0, 1} and out[0][1] > 3 and out[1][1] > 3
    # every step pays, yet only the task that says so is solved
    assert out[0][0] == 0 and out[1][0] == out[1][1]
    assert sum(n for _, n in out.values()) == agent.scorer.n_scored
    venv.close()


def test_level_scorer_refuses_nan_values_before_any_statistic_changes():
    # a NaN value or reward moved a level's statistics before the NaN score was refused downstream
    sc = LevelScorer("maxmc")
    ids, zeros = np.array([[0], [0]]), np.zeros((2, 1))
    before = repr(vars(sc))
    with pytest.raises(ConfigError, match="NaN or infinite"):
        sc.update(ids, zeros, np.array([[0.5], [np.nan]]), zeros, np.array([[False], [True]]), keys={0: "a"})
    assert repr(vars(sc)) == before


class _FewLevels:
    """Proposes three fixed CliffWalk levels in turn (so levels recur); records the scores it observes."""

    LEVELS = [np.array([0.05, 0.02]), np.array([0.1, 0.05]), np.array([0.02, 0.0])]

    def __init__(self):
        self.space, self.n, self.observed = SPACE, 0, []

    def propose(self, k=None):
        out = [self.LEVELS[(self.n + j) % 3] for j in range(1 if k is None else k)]
        self.n += len(out)
        return out[0] if k is None else np.asarray(out)

    def observe_batch(self, tasks, scores):
        self.observed += [float(s) for s in scores]


@pytest.mark.parametrize("kind", ["maxmc", "learnable"])
def test_ppo_resumed_from_its_state_keeps_the_level_statistics(kind, tmp_path):
    """PPO.state_dict left out the scorer: a resumed run forgot every level's best return (max-MC) and its
    success counts (learnable) and scored levels as if never seen."""
    torch = pytest.importorskip("torch")
    import copy

    from magister.rl.ppo import PPO

    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    agent.learn(CurriculumVectorEnv([CliffWalk] * 2, _FewLevels(), score="external"), total_steps=192,
                n_steps=32, level_score=kind)
    assert agent.scorer.n_scored > 3
    # the uninterrupted agent, going on with its scorer's statistics on a rebuilt env
    going_on = copy.deepcopy(agent)
    going_on.scorer._acc.clear()
    kept = _FewLevels()
    going_on.learn(CurriculumVectorEnv([CliffWalk] * 2, kept, score="external"), total_steps=384, n_steps=32,
                   level_score=going_on.scorer)
    torch.save(agent.state_dict(), tmp_path / "ppo.pt")
    resumed = PPO(obs_dim=4, n_actions=3, seed=5)
    resumed.load_state_dict(torch.load(tmp_path / "ppo.pt", weights_only=True))
    got = _FewLevels()
    resumed.learn(CurriculumVectorEnv([CliffWalk] * 2, got, score="external"), total_steps=384, n_steps=32,
                  level_score=kind)
    assert len(got.observed) > 3 and got.observed == kept.observed
    assert resumed.scorer.best == going_on.scorer.best and resumed.scorer.outcomes == going_on.scorer.outcomes
    assert resumed.scorer.n_scored == going_on.scorer.n_scored


def test_level_scorer_state_round_trips_and_a_bad_one_changes_nothing():
    sc = LevelScorer("learnable", solvable_prior=0.7)
    ids = np.array([[0, 1], [2, 3]])
    zeros = np.zeros((2, 2))
    sc.update(ids, zeros, zeros, np.array([[0, 1], [1, 0.0]]), np.ones((2, 2)),
              keys={0: np.int64(4), 1: "b", 2: np.int64(4), 3: b"c"})
    back = LevelScorer.from_state_dict(sc.state_dict())
    assert (back.kind, back.solvable_prior, back.outcomes, back.n_scored) == ("learnable", 0.7, sc.outcomes, 4)
    assert back.learnable_score(*back.outcomes[4]) == sc.learnable_score(*sc.outcomes[4])
    before = repr(vars(back))
    for bad in ({}, {**sc.state_dict(), "kind": "regret"}, {**sc.state_dict(), "outcomes": {"a": [3, 2]}},
                {**sc.state_dict(), "n_scored": -1}, {**sc.state_dict(), "best": {"a": "x"}}):
        with pytest.raises(ConfigError):
            back.load_state_dict(bad)
        assert repr(vars(back)) == before


def test_level_scorer_refuses_a_state_with_an_infinite_best_return():
    # before: best = inf was taken, and every later max-MC score of that level was inf, refused by the teacher at
    # each report (-inf and 10**400, numpy's raw TypeError, too)
    sc = LevelScorer("maxmc")
    ids, ones, zeros = np.zeros((2, 1), dtype=int), np.ones((2, 1)), np.zeros((2, 1))
    sc.update(ids, ones, zeros, np.array([[0.0], [1.0]]), np.array([[0], [1]]), keys={0: 5})
    state = sc.state_dict()
    assert state["best"] == {5: pytest.approx(0.99)}
    back = LevelScorer.from_state_dict(state)
    before = repr(vars(back))
    for bad in (np.inf, -np.inf, np.nan, 10**400):
        with pytest.raises(ConfigError, match="best must map level keys to finite numbers"):
            back.load_state_dict({**state, "best": {5: bad}})
        assert repr(vars(back)) == before
    back.load_state_dict({**state, "best": {5: np.float32(2.0), 6: -1e300}})  # any finite number, as before
    _, scores = back.update(ids + 1, ones, zeros, np.array([[0.0], [1.0]]), np.array([[0], [1]]), keys={1: 5})
    assert scores.tolist() == [2.0]


def test_ppo_loads_a_state_saved_before_the_scorer_was_kept():
    pytest.importorskip("torch")
    from magister.rl.ppo import PPO

    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    old = agent.state_dict()
    old.pop("scorer", None)
    resumed = PPO(obs_dim=4, n_actions=3, seed=1)
    resumed.load_state_dict(old)
    assert resumed.scorer is None and resumed.steps == 0


def test_ppo_scorer_reused_on_a_new_env_starts_no_episode_with_old_partial_sums():
    """A LevelScorer given to learn() on a second env kept the partial sums of the first env's running episodes,
    and the new env's first episode with the same id on the same sub-env was scored with them added."""
    pytest.importorskip("torch")
    import copy

    from magister.rl.ppo import PPO

    def venv(teacher):
        return CurriculumVectorEnv([CliffWalk] * 2, teacher, score="external")

    scorer = LevelScorer("gae", gamma=0.98)
    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    agent.learn(venv(_FewLevels()), total_steps=2, n_steps=1, level_score=scorer)
    assert scorer._acc, "an episode is still running"
    fresh = copy.deepcopy(agent)
    reused, clean = _FewLevels(), _FewLevels()
    agent.learn(venv(reused), total_steps=128, n_steps=16, level_score=scorer)
    fresh.learn(venv(clean), total_steps=128, n_steps=16, level_score=LevelScorer("gae", gamma=0.98))
    assert len(clean.observed) > 3 and reused.observed == clean.observed


@pytest.mark.parametrize("kind", ["learnable", "maxmc"])
def test_level_scorer_max_levels_keeps_the_most_recently_scored_levels(kind):
    # before: the statistics kept one entry per level ever scored, so with an open-ended generator (a new level
    # most episodes) they, and every saved state, grew for the whole run with no way to bound them
    zeros, done = np.zeros((1, 1)), np.ones((1, 1))
    sc, full = LevelScorer(kind, max_levels=2), LevelScorer(kind)
    for i, key in enumerate(["a", "b", "a", "c", "d", "a"]):
        for s in (sc, full):
            s.update(np.array([[i]]), zeros, zeros, np.array([[float(i % 2)]]), done, keys={i: key})
    stats = sc.outcomes if kind == "learnable" else sc.best
    assert list(stats) == ["d", "a"]  # the two scored last, the least recent first
    if kind == "learnable":  # "a" was forgotten when "d" came (the least recently scored), so it starts afresh
        assert sc.outcomes == {"d": [0, 1], "a": [1, 1]} and full.outcomes["a"] == [1, 3]
    assert len(sc.state_dict()["outcomes" if kind == "learnable" else "best"]) == 2
    small = LevelScorer(kind, max_levels=1)
    small.load_state_dict(full.state_dict())  # a state with more levels keeps the newest
    assert len(small.outcomes if kind == "learnable" else small.best) == 1
    with pytest.raises(ConfigError, match="max_levels"):
        LevelScorer(kind, max_levels=0)


@pytest.mark.parametrize("kind", ["learnable", "maxmc"])
def test_level_scorer_resumed_from_its_state_keeps_max_levels(kind):
    # before: state_dict left max_levels out, so from_state_dict (and PPO.load_state_dict) rebuilt an unbounded
    # scorer and the resumed run kept levels the uninterrupted one forgot
    zeros, done = np.zeros((1, 1)), np.ones((1, 1))
    sc = LevelScorer(kind, max_levels=2)
    for i, key in enumerate(["a", "b", "c"]):
        sc.update(np.array([[i]]), zeros, zeros, zeros, done, keys={i: key})
    resumed = LevelScorer.from_state_dict(sc.state_dict())
    assert resumed.max_levels == 2
    for s in (sc, resumed):
        s.update(np.array([[3]]), zeros, zeros, zeros, done, keys={3: "d"})
    assert resumed.state_dict() == sc.state_dict()
    old = {k: v for k, v in sc.state_dict().items() if k != "max_levels"}  # a state saved before: unbounded
    assert LevelScorer.from_state_dict(old).max_levels is None
    with pytest.raises(ConfigError, match="max_levels"):
        LevelScorer.from_state_dict({**sc.state_dict(), "max_levels": 0})


@pytest.mark.parametrize("kind", ["gae", "pvl"])
def test_level_scorer_refuses_max_levels_for_per_step_kinds(kind):
    # before: LevelScorer("pvl", max_levels=N) was accepted and did nothing ("gae" and "pvl" keep no statistics per
    # level, so there is nothing to bound), and a user thought their scorer's memory was bounded by it
    with pytest.raises(ConfigError, match=f"max_levels.*{kind}.*maxmc.*learnable"):
        LevelScorer(kind, max_levels=5)
    assert LevelScorer(kind, max_levels=None).max_levels is None
    # a state saved before the refusal (it held the ignored bound) still resumes, to the same scorer as before
    zeros, done = np.zeros((1, 1)), np.ones((1, 1))
    sc = LevelScorer(kind)
    sc.update(np.array([[0]]), np.full((1, 1), 0.5), zeros, zeros, done)
    old = {**sc.state_dict(), "max_levels": 5}
    resumed = LevelScorer.from_state_dict(old)
    assert resumed.max_levels is None and resumed.state_dict() == sc.state_dict()
    adv = np.array([[0.3], [-0.2]])
    for s in (sc, resumed):
        s.update(np.array([[1], [1]]), adv, zeros.repeat(2, 0), zeros.repeat(2, 0), np.array([[0.0], [1.0]]))
    assert resumed.state_dict() == sc.state_dict()
    # a bounded per-level scorer loading a "gae"/"pvl" state would become one: refused, nothing changed
    bounded = LevelScorer("maxmc", max_levels=3)
    before = bounded.state_dict()
    with pytest.raises(ConfigError, match="max_levels.*from_state_dict"):
        bounded.load_state_dict(sc.state_dict())
    assert bounded.state_dict() == before


@pytest.mark.parametrize("bad, where, match", [
    ("ids", 0.5, r"ids\[1, 0\] is .*0\.5.*, not an episode id"),  # int(0.5) reported it as episode 0
    ("ids", np.nan, r"ids\[1, 0\] is .*nan.*, not an episode id"),  # a raw "cannot convert float NaN to integer"
    ("ids", "a", r"ids\[0, 0\] is .*'a'.*, not an episode id"),
    ("dones", np.nan, r"dones\[1, 0\] is .*nan.*; dones holds booleans"),  # NaN or 0.5 ended the episode
    ("dones", 0.5, r"dones\[1, 0\] is .*0\.5.*; dones holds booleans"),
    ("dones", "False", r"dones\[0, 0\] is .*'False'.*; dones holds booleans"),  # "False" ended it too
    ("solved", np.nan, r"solved\[1, 0\] is .*nan.*; solved holds booleans"),  # counted as a success
    ("solved", 0.5, r"solved\[1, 0\] is .*0\.5.*; solved holds booleans"),
])
def test_level_scorer_update_refuses_ids_dones_and_solved_it_cannot_read(bad, where, match):
    z = np.zeros((2, 1))
    args = {"ids": np.array([[3], [3]]), "dones": np.array([[0], [1]]), "solved": np.array([[0], [1]])}
    if isinstance(where, str):  # text in every cell: an array of text
        args[bad] = np.array([[where], [where]])
    else:
        args[bad] = np.array([[args[bad][0, 0]], [where]])
    scorer = LevelScorer("learnable")
    before = scorer.state_dict()
    with pytest.raises(ConfigError, match=match):
        scorer.update(args["ids"], z + 1, z, z, args["dones"], keys={3: "a"}, solved=args["solved"])
    assert scorer.state_dict() == before
    # whole floats, 0/1 numbers and object arrays of them are read as before
    got_ids, got = scorer.update(np.array([[3.0], [3.0]]), z + 1, z, z, np.array([[0.0], [1.0]]), keys={3: "a"},
                                 solved=np.array([[False], [1]], dtype=object))
    assert got_ids.tolist() == [3] and got_ids.dtype.kind == "i" and len(got) == 1


def test_ppo_learn_trains_on_a_rollout_whose_level_scores_the_teacher_refused():
    """A level score the teacher refused (out of its score_range) raised in learn() before the update: the rollout
    was counted but never trained on, the next learn() reset the env (the running episodes lost), and the refused
    episodes waited in venv.pending (their proposals outstanding in a level teacher) for the rest of the run."""
    torch = pytest.importorskip("torch")
    import copy

    from magister.errors import InvalidScoreError
    from magister.rl.ppo import PPO

    teacher = mg.make_teacher("plr", SPACE, seed=0, score_range=(0, 0.005))
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, score="external")
    agent = PPO(obs_dim=4, n_actions=3, seed=0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    with pytest.raises(InvalidScoreError, match="refused the level scores") as e:
        agent.learn(venv, total_steps=4096, n_steps=32)
    refused = e.value.task_ids
    assert refused and len(e.value.scores) == len(refused) and max(e.value.scores) > 0.005
    assert agent.steps == 64 and agent.n_trained_steps == 64  # the rollout was trained on
    assert not all(torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))
    # the scores the teacher takes were recorded, the refused ones not, and nothing waits for them
    assert teacher.n_observed == agent.scorer.n_scored - len(refused) and not venv.pending
    assert copy.deepcopy(teacher).drop_pending() == venv.num_envs  # only the running episodes' proposals
    # learn goes on with the running episodes (no reset)
    resets = []
    venv.reset = lambda **kw: resets.append(kw)
    try:
        agent.learn(venv, total_steps=128, n_steps=32)
    except InvalidScoreError:  # (this rollout's scores may be refused too: it is trained on all the same)
        pass
    assert not resets and agent.steps == agent.n_trained_steps == 128
    venv.close()
