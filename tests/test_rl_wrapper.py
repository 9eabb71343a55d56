"""CurriculumWrapper: task modes, where tasks come from, score functions, one report per episode."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError, InvalidScoreError, InvalidTaskError
from magister.rl import CurriculumWrapper, Episode, FunctionScore, ReturnScore, SuccessScore, as_score_fn
from magister.rl.envs import CliffWalk
from magister.rl.wrapper import SCORE_KEY

from env_fixtures import SeedLevels

STOP, RIGHT = 1, 0


class Recorder:
    """Duck-typed teacher recording what it proposes and observes."""

    def __init__(self, seed: int = 0):
        self.inner = mg.make_teacher("uniform", CliffWalk.task_space, seed=seed)
        self.space = self.inner.space
        self.proposed: list[np.ndarray] = []
        self.observed: list[tuple[np.ndarray, float]] = []

    def propose(self, k=None):
        out = self.inner.propose(k)
        self.proposed.extend([out] if k is None else list(out))
        return out

    def observe(self, task, score):
        self.inner.observe(task, score)
        self.observed.append((np.asarray(task), score))

    def observe_batch(self, tasks, scores):
        self.inner.observe_batch(tasks, scores)
        self.observed.extend(zip([np.asarray(t) for t in tasks], scores))


def run_episode(env, first_action=RIGHT):
    env.reset()
    done, n = False, 0
    while not done:
        _, _, term, trunc, info = env.step(first_action if n == 0 else STOP)
        done, n = term or trunc, n + 1
    return info


@pytest.mark.parametrize("mode", ["options", "set_task", "factory"])
def test_each_mode_applies_the_proposed_task_and_reports_once(mode):
    teacher = Recorder()
    env = CurriculumWrapper(CliffWalk if mode == "factory" else CliffWalk(), teacher, task_mode=mode)
    for _ in range(5):
        env.reset()
        np.testing.assert_allclose(env.unwrapped.task, teacher.proposed[-1])
        info = env.step(STOP)[-1]  # stop at the start: a finished, failed episode
        assert info[SCORE_KEY] == 0.0
    assert len(teacher.proposed) == 5 and len(teacher.observed) == 5
    for (task, score), proposed in zip(teacher.observed, teacher.proposed):
        np.testing.assert_allclose(task, proposed)
        assert score == 0.0
    assert teacher.inner.n_observed == 5


def test_success_is_reported_as_one():
    teacher = Recorder()
    env = CurriculumWrapper(CliffWalk(), teacher)
    env.push_task([0.0, 0.0])  # goal at cell 2, no wind
    env.reset()
    for a in (RIGHT, RIGHT):
        env.step(a)
    info = env.step(STOP)[-1]
    assert info["is_success"] and info[SCORE_KEY] == 1.0
    assert teacher.observed[-1][1] == 1.0 and teacher.proposed == []  # pushed task: teacher not asked


def test_task_sources_in_order_and_unfinished_episode_not_reported():
    teacher = Recorder()
    env = CurriculumWrapper(CliffWalk(), teacher)
    env.reset(options={"task": [0.25, 0.5]})
    np.testing.assert_allclose(env.unwrapped.task, [0.25, 0.5])
    env.step(RIGHT)
    env.push_task([0.75, 0.0])
    with pytest.warns(UserWarning, match="not reported to the teacher"):
        env.reset()  # previous episode cut short: not reported (said once)
    np.testing.assert_allclose(env.unwrapped.task, [0.75, 0.0])
    assert teacher.observed == [] and teacher.proposed == []
    env.step(STOP)
    assert len(teacher.observed) == 1
    np.testing.assert_allclose(teacher.observed[0][0], [0.75, 0.0])
    env.step(STOP)  # stepping past the end reports nothing more
    assert len(teacher.observed) == 1


def test_bad_tasks_are_refused_without_change():
    env = CurriculumWrapper(CliffWalk(), Recorder())
    with pytest.raises(InvalidTaskError):
        env.push_task([2.0, 0.0])
    with pytest.raises(InvalidTaskError):
        env.reset(options={"task": [0.5, -1.0]})
    env.reset(options={"task": [0.5, 0.5]})
    np.testing.assert_allclose(env.unwrapped.task, [0.5, 0.5])


def test_export_mode_without_teacher():
    env = CurriculumWrapper(CliffWalk(), None, index=3)
    with pytest.raises(ConfigError, match="no task"):
        env.reset()
    env.reset(options={"magister_tasks": {3: (41, np.array([0.0, 0.0]))}})
    info = env.step(STOP)[-1]
    assert info[SCORE_KEY] == 0.0 and info["magister_task_id"] == 41
    assert env.last_outcome[1] == 0.0 and env.n_episodes == 1


def test_config_errors():
    with pytest.raises(ConfigError):
        CurriculumWrapper(CliffWalk(), Recorder(), task_mode="bogus")
    with pytest.raises(ConfigError):
        CurriculumWrapper(CliffWalk(), Recorder(), task_mode="factory")
    with pytest.raises(ConfigError):
        CurriculumWrapper(CliffWalk, None, task_mode="factory")  # no space to build the first env
    with pytest.raises(ConfigError):
        CurriculumWrapper(CliffWalk(), object())
    import gymnasium as gym
    with pytest.raises(ConfigError, match="set_task"):
        CurriculumWrapper(gym.make("CartPole-v1"), Recorder(), task_mode="set_task")


def test_score_functions():
    ep = Episode(task=None, episode_return=150.0, length=10, info={"is_success": True})
    assert SuccessScore()(ep) == 1.0
    assert SuccessScore("won")(ep) == 0.0
    with pytest.raises(InvalidScoreError):
        SuccessScore("won", missing="error")(ep)
    assert ReturnScore(-100, 300)(ep) == pytest.approx(250 / 400)
    assert ReturnScore(0, 100)(ep) == 1.0  # clipped by default
    with pytest.raises(InvalidScoreError):
        ReturnScore(0, 100, clip=False)(ep)
    assert FunctionScore(lambda e: e.length / 20)(ep) == 0.5
    with pytest.raises(InvalidScoreError):
        FunctionScore(lambda e: float("nan"))(ep)
    with pytest.raises(InvalidScoreError):
        FunctionScore(lambda e: "high")(ep)
    # text that reads as a number is refused too (float() parsed it: the teacher's observe refuses "0.5")
    for text in ("0.5", b"1", np.str_("1"), np.array("0.5"), " 1e0 "):
        with pytest.raises(InvalidScoreError, match="it must return a number"):
            FunctionScore(lambda e: text)(ep)
    assert FunctionScore(lambda e: np.float32(0.25))(ep) == 0.25 and FunctionScore(lambda e: np.array(0.5))(ep) == 0.5
    assert FunctionScore(lambda e: e.info["is_success"])(ep) == 1.0  # a bool, as before
    assert isinstance(as_score_fn((0, 10)), ReturnScore)
    assert isinstance(as_score_fn(mg.ScoreRange(0, 10)), ReturnScore)
    assert isinstance(as_score_fn(lambda e: 1.0), FunctionScore)
    for bad in ("return", "bogus", 3):
        with pytest.raises(ConfigError):
            as_score_fn(bad)


def test_return_score_in_the_loop():
    teacher = Recorder()
    env = CurriculumWrapper(CliffWalk(), teacher, score=ReturnScore(0, 2))
    env.push_task([0.0, 0.0])
    env.reset()
    for a in (RIGHT, RIGHT, STOP):
        env.step(a)
    assert teacher.observed[-1][1] == 0.5


class FlakyReset(CliffWalk):
    """A CliffWalk whose reset raises while ``fail["on"]`` (a simulator that crashes)."""

    def __init__(self, fail: dict, **kwargs):
        super().__init__(**kwargs)
        self.fail = fail

    def reset(self, *, seed=None, options=None):
        if self.fail["on"]:
            raise RuntimeError("the simulator crashed")
        return super().reset(seed=seed, options=options)


@pytest.mark.parametrize("mode", ["options", "set_task", "factory"])
def test_a_reset_the_env_fails_loses_no_proposed_or_pushed_task(mode):
    # the task was taken (proposed, pushed or queued) before env.reset: a failing reset lost it, and in factory
    # mode the old env was closed before the factory ran
    teacher = Recorder()
    fail = {"on": False}

    class Flaky(FlakyReset):
        def set_task(self, task):
            if fail["on"]:
                raise RuntimeError("the simulator crashed")
            return super().set_task(task)

    def factory(task):
        if fail["on"]:
            raise RuntimeError("the simulator crashed")
        return Flaky(fail, task=task)

    env = CurriculumWrapper(factory if mode == "factory" else Flaky(fail), teacher, task_mode=mode)
    env.reset()
    old = env.env
    fail["on"] = True
    with pytest.raises(RuntimeError, match="crashed"):
        env.reset()
    assert len(teacher.proposed) == 2 and env.env is old  # still open: it can step
    env.step(STOP)
    fail["on"] = False
    env.reset()  # plays the task proposed for the failed reset, proposes nothing new
    assert len(teacher.proposed) == 2
    np.testing.assert_allclose(env.unwrapped.task, teacher.proposed[1])
    env.push_task([0.5, 0.1])
    fail["on"] = True
    with pytest.raises(RuntimeError):
        env.reset()
    fail["on"] = False
    env.reset()
    np.testing.assert_allclose(env.unwrapped.task, [0.5, 0.1])
    assert len(teacher.proposed) == 2


@pytest.mark.parametrize("mode", ["options", "set_task", "factory"])
def test_a_run_seeded_at_its_first_reset_repeats_in_every_mode(mode):
    # before: factory mode built each episode's env unseeded after the first, so reset(seed=0) then reset() gave
    # other gusts on every run, where "options" and "set_task" repeat
    def run():
        teacher = mg.make_teacher("uniform", mg.Box([0.3, 0.3], [0.31, 0.31]), seed=0)  # windy, goal 10 cells on
        env = CurriculumWrapper(CliffWalk if mode == "factory" else CliffWalk(), teacher, task_mode=mode)
        ends = []
        for episode in range(6):
            env.reset(seed=0 if episode == 0 else None)
            term = trunc = False
            while not (term or trunc):
                obs, _, term, trunc, _ = env.step(RIGHT)  # falls off past the goal, or the time runs out
            ends.append((float(obs[0]), float(obs[3])))
        return ends

    first = run()
    assert run() == first and len(set(first)) > 1


def test_a_time_limit_outside_the_wrapper_warns_that_its_episodes_are_not_reported():
    # before: TimeLimit(CurriculumWrapper(env, teacher), n) truncated episodes the wrapper never saw end, and the
    # next reset dropped them without a word, so the teacher heard only the episodes that terminated
    from gymnasium.wrappers import TimeLimit

    teacher = Recorder()
    env = TimeLimit(CurriculumWrapper(CliffWalk(), teacher), 1)
    env.reset(options={"task": [0.9, 0.0]})
    _, _, term, trunc, _ = env.step(RIGHT)
    assert trunc and not term and teacher.observed == []
    with pytest.warns(UserWarning, match=r"not reported to the teacher.*CurriculumWrapper\(TimeLimit\(env, n\)"):
        env.reset(options={"task": [0.9, 0.0]})
    inside = CurriculumWrapper(TimeLimit(CliffWalk(), 1), teacher)  # the right order: reported, no warning
    inside.reset(options={"task": [0.9, 0.0]})
    inside.step(RIGHT)
    assert len(teacher.observed) == 1


def _reset_in_child(env):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env.reset()
    return [str(w.message) for w in caught]


def test_a_teacher_copied_into_a_worker_process_warns():
    # before: gym.vector.AsyncVectorEnv([lambda: CurriculumWrapper(make(), teacher)] * n) gave every worker its own
    # copy of the teacher: the same tasks in every worker, and the teacher in the main process never heard a score
    import multiprocessing

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    env = CurriculumWrapper(CliffWalk(), teacher)
    assert _reset_in_child(env) == [], "in the teacher's own process: no warning"
    with multiprocessing.get_context("fork").Pool(1) as pool:
        caught = pool.apply(_reset_in_child, (env,))
    assert len(caught) == 1 and "copy of a teacher built in process" in caught[0] and "CurriculumVectorEnv" in caught[0]
    # it recommends only what works in a worker (before: "a RayTeacher / HTTPTeacher client", which hung in a forked
    # worker, could not be unpickled in a spawned one, and an HTTPTeacher closed over by the env_fns cannot be pickled)
    assert "RayTeacher('actor name')" in caught[0] and "'spawn'" in caught[0]
    assert "HTTPTeacher inside each env_fn" in caught[0]


def _train_in_child(teacher, out):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = CurriculumWrapper(CliffWalk(), teacher)
        run_episode(env)
    out.put(([str(w.message) for w in caught], teacher.n_observed))


def test_a_whole_training_in_a_child_process_with_the_teacher_it_was_given_does_not_warn():
    # before: multiprocessing.Process(target=train, args=(teacher,)) running its own CurriculumWrapper got the
    # "copy of a teacher" warning meant for env workers, though the copy it trains with is the only one in use
    import multiprocessing

    for method in ("fork", "spawn"):
        ctx = multiprocessing.get_context(method)
        out = ctx.Queue()
        child = ctx.Process(target=_train_in_child, args=(mg.make_teacher("uniform", CliffWalk.task_space, seed=0), out))
        child.start()
        caught, n_observed = out.get(timeout=60)
        child.join()
        assert caught == [] and n_observed == 1, method


class _CatchResetWarnings(gym.Wrapper):
    """Outside a CurriculumWrapper in an env worker: the warnings of each reset come back in its info."""

    def reset(self, **kwargs):
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obs, info = self.env.reset(**kwargs)
        return obs, {**info, "warnings": " | ".join(str(w.message) for w in caught)}


def _wrapped_in_worker(teacher):
    return _CatchResetWarnings(CurriculumWrapper(CliffWalk(), teacher))


def test_a_teacher_copied_into_async_vector_env_workers_warns():
    import functools

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    for daemon in (True, False):  # daemonic workers (the default), and the worker loop on the stack otherwise
        venv = gym.vector.AsyncVectorEnv([functools.partial(_wrapped_in_worker, teacher)] * 2, context="fork",
                                            daemon=daemon)
        try:
            _, info = venv.reset(seed=0)
        finally:
            venv.close()
        assert all("copy of a teacher built in process" in w for w in info["warnings"]), (daemon, info["warnings"])


def test_reporting_by_tasks_settles_the_oldest_waiting_episode_of_that_task():
    # before: report(tasks=...) sent the scores but left every episode in pending, so the same episodes could be
    # reported a second time by their ids (and pending grew for the whole run)
    env = CurriculumWrapper(CliffWalk(), Recorder(), score="external")
    ids = []
    for task in ([0.25, 0.5], [0.75, 0.0], [0.25, 0.5]):  # one task played twice
        env.push_task(task)
        ids.append(run_episode(env)["magister_task_id"])
    assert list(env.pending) == ids
    env.report(tasks=[np.array([0.25, 0.5])], scores=[1.0])  # an equal task, written another way
    assert list(env.pending) == ids[1:], "the oldest episode of that task is settled (first in, first out)"
    with pytest.raises(ConfigError, match="not finished episodes"):
        env.report([ids[0]], [1.0])  # ... and cannot be reported again by its id
    with pytest.raises(InvalidTaskError):  # a refused report settles nothing
        env.report(tasks=[[0.25, 0.5], [2.0, 0.0]], scores=[1.0, 1.0])
    assert list(env.pending) == ids[1:] and len(env.teacher.observed) == 1
    env.report(tasks=[[0.5, 0.5], [0.25, 0.5], [0.75, 0.0]], scores=[0.0, 0.5, 0.0])  # [0.5, 0.5] never played
    assert env.pending == {} and len(env.teacher.observed) == 4


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_a_level_teachers_proposals_that_a_reset_or_close_cuts_go_back_as_from_a_vector_env(name):
    # before: a CurriculumWrapper alone never gave its level teacher back the proposals of the episodes a reset cut
    # (played or not) or a close ended, as CurriculumVectorEnv does: the teacher kept waiting for their scores, so
    # a later score of the level answered the stale proposal (its kind: accel did not edit a replay, learnability's
    # evaluation of the level never completed). Now the wrapper alone leaves its teacher as the vector env does
    from magister.levels.spaces import SeedSpace
    from magister.rl import CurriculumVectorEnv
    from magister.testing import states_equal

    def teacher():
        kw = {"eval_interval": 1, "eval_episodes": 2} if name == "learnability" else {}
        return mg.make_teacher(name, SeedSpace(3), seed=0, **kw)

    def score(e):
        return e.task / 10

    alone, together = teacher(), teacher()
    env = CurriculumWrapper(SeedLevels(), alone, score=score)
    venv = CurriculumVectorEnv([SeedLevels], together, score=score)
    env.reset()
    venv.reset()
    env.reset()  # the first proposal: never played
    venv.reset()
    env.step(0)
    venv.step(np.array([0]))
    with pytest.warns(UserWarning, match="not reported to the teacher"):
        env.reset()  # the second: cut after a step
    venv.reset()
    for _ in range(6):
        env.step(1)
        env.reset()
        venv.step(np.array([1]))  # (the vector env restarts a finished episode itself)
    assert states_equal(alone.state_dict(), together.state_dict())
    assert alone.n_proposed == 9 and alone.n_observed == 6
    env.close()  # the running episode's proposal goes back (once: a second close gives nothing back)
    env.close()
    venv.close()
    assert states_equal(alone.state_dict(), together.state_dict())
    state = alone.state_dict()["algorithm"]
    assert not state.get("pending") and not state.get("waiting")  # no proposal waits for a score


def test_only_the_proposals_of_the_wrappers_teacher_go_back_each_once():
    # a task given in the reset options or pushed is not the teacher's to take back; a proposal is either scored or
    # given back, once, also when the env's reset fails (its proposal is played next, or given back at close)
    class TakingBack(Recorder):
        def __init__(self):
            super().__init__()
            self.given_back: list[np.ndarray] = []

        def give_back(self, tasks, infos):
            assert all(i["train"] for i in infos)
            self.given_back.extend(np.asarray(t) for t in tasks)
            return len(tasks)

    fail = {"on": False}

    teacher = TakingBack()
    env = CurriculumWrapper(FlakyReset(fail), teacher)
    env.reset(options={"task": [0.25, 0.5]})  # the caller's task, cut: not given back
    env.push_task([0.75, 0.0])
    env.reset()  # the pushed task, cut: not given back
    env.reset()
    assert teacher.given_back == [] and len(teacher.proposed) == 1
    env.step(STOP)  # scored
    env.reset()
    env.reset()  # proposal 2 cut before it was played: given back
    assert len(teacher.given_back) == 1 and np.allclose(teacher.given_back[0], teacher.proposed[1])
    fail["on"] = True
    with pytest.raises(RuntimeError, match="crashed"):
        env.reset()  # proposal 3 cut (given back); proposal 4 not started
    env.step(STOP)  # the old env goes on, but its task went back: not scored as well
    assert len(teacher.observed) == 1 and len(teacher.given_back) == 2
    env.close()  # proposal 4 goes back (never started); a second close gives nothing more
    env.close()
    assert len(teacher.proposed) == 4 and len(teacher.given_back) == 3
    for back, proposed in zip(teacher.given_back, teacher.proposed[1:]):
        np.testing.assert_allclose(back, proposed)


def test_an_env_that_never_reports_success_is_warned_about_once():
    # CartPole (as most Gymnasium envs) never sets info["is_success"]: with the default score="success" every
    # episode scored 0.0 and the teacher learned nothing, without a word
    import warnings

    env = CurriculumWrapper(gym.make("CartPole-v1"), mg.make_teacher("uniform", mg.Box([0], [1]), seed=0))
    env.action_space.seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for episode in range(2 * SuccessScore.WARN_AFTER):
            env.reset(seed=episode)
            done = False
            while not done:
                _, _, term, trunc, _ = env.step(env.action_space.sample())
                done = term or trunc
        env.reset()
    said = [w for w in caught if "none reported info['is_success']" in str(w.message)]
    assert len(said) == 1 and "ReturnScore" in str(said[0].message)
    # an env that reports the flag once is never warned about; missing='error' refuses instead of warning
    score = SuccessScore()
    score(Episode(task=None, episode_return=0.0, length=1, info={"is_success": False}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2 * SuccessScore.WARN_AFTER):
            assert score(Episode(task=None, episode_return=0.0, length=1, info={})) == 0.0


class _NoOptionsEnv(gym.Env):
    """An env whose reset takes a seed only (written before Gymnasium's reset took options)."""

    observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None):
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 1.0, True, False, {"is_success": True}


def test_an_env_whose_reset_takes_no_options_is_refused_in_options_mode_naming_the_other_modes():
    # it failed at the first reset with a raw "reset() got an unexpected keyword argument 'options'"
    from magister.rl import CurriculumVectorEnv

    teacher = mg.make_teacher("uniform", mg.Box([0], [1]), seed=0)
    with pytest.raises(ConfigError, match=r"_NoOptionsEnv.reset takes no options.*set_task.*factory"):
        CurriculumWrapper(_NoOptionsEnv(), teacher)
    with pytest.raises(ConfigError, match="takes no options"):
        CurriculumVectorEnv([_NoOptionsEnv] * 2, teacher)
    # the factory mode needs no options; an env whose reset takes **kwargs is taken
    env = CurriculumWrapper(lambda task: _NoOptionsEnv(), teacher, task_mode="factory")
    env.reset(seed=0)
    env.step(0)
    assert teacher.n_observed == 1

    class Kwargs(_NoOptionsEnv):
        def reset(self, seed=None, **kwargs):
            return super().reset(seed)

    CurriculumWrapper(Kwargs(), teacher)



def test_a_wrapper_of_the_user_s_that_reads_the_task_option_over_an_env_without_options_is_taken_as_before():
    # the options check read only the bare env's reset: a user's adapter wrapper that reads options["task"] and
    # resets an env written before Gymnasium's options (which worked) was refused; Gymnasium's own wrappers,
    # which pass the options on, are still looked through
    teacher = mg.make_teacher("uniform", mg.Box([0], [1]), seed=0)

    class TaskFromOptions(gym.Wrapper):
        def reset(self, *, seed=None, options=None):
            self.task = (options or {})["task"]
            return self.env.reset(seed=seed)

    env = CurriculumWrapper(TaskFromOptions(_NoOptionsEnv()), teacher)
    env.reset(seed=0)
    env.step(0)
    assert teacher.n_observed == 1 and env.env.task in teacher.space
    with pytest.raises(ConfigError, match=r"_NoOptionsEnv.reset takes no options"):
        CurriculumWrapper(gym.wrappers.TimeLimit(gym.wrappers.RecordEpisodeStatistics(_NoOptionsEnv()), 5), teacher)

    class Passes(gym.Wrapper):  # a user's wrapper that keeps gym.Wrapper.reset passes the options on
        pass

    with pytest.raises(ConfigError, match=r"_NoOptionsEnv.reset takes no options"):
        CurriculumWrapper(Passes(_NoOptionsEnv()), teacher)

def test_a_curriculum_wrapper_of_the_same_teacher_inside_is_refused_as_it_would_count_every_episode_twice():
    # CurriculumWrapper(CurriculumWrapper(env, t), t), or the single-env code's wrapped env given to
    # CurriculumVectorEnv: both layers observed each episode, so the teacher heard every one twice
    from magister.rl import CurriculumVectorEnv

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    inner = CurriculumWrapper(CliffWalk(), teacher)
    with pytest.raises(ConfigError, match="already a CurriculumWrapper of this teacher.*twice.*wrap the env once"):
        CurriculumWrapper(gym.wrappers.RecordEpisodeStatistics(inner), teacher)
    with pytest.raises(ConfigError, match=r"twice.*return the bare env"):
        CurriculumVectorEnv([lambda: CurriculumWrapper(CliffWalk(), teacher)] * 2, teacher)
    # an inner wrapper without a teacher (export mode) records nothing itself: each episode is counted once
    venv = CurriculumVectorEnv([lambda: CurriculumWrapper(CliffWalk(), None)] * 2, teacher)
    venv.reset(seed=0)
    for _ in range(20):
        venv.step(np.ones(2, dtype=np.int64))  # stop at once: every step ends an episode
    assert teacher.n_observed == venv.n_reported == 40
    venv.close()


def test_score_given_as_an_array_is_refused_with_a_magister_error():
    # np.array([0, 1]) == "success" compared elementwise: a raw "truth value of an array is ambiguous"
    with pytest.raises(ConfigError, match="score must be"):
        as_score_fn(np.array([0.0, 1.0]))


def test_set_task_mode_takes_an_env_whose_reset_takes_no_options():
    class WithSetTask(_NoOptionsEnv):
        def set_task(self, task):
            self.task = task

    teacher = mg.make_teacher("uniform", mg.Box([0], [1]), seed=0)
    env = CurriculumWrapper(WithSetTask(), teacher, task_mode="set_task")
    env.reset(seed=0)
    env.step(0)
    assert teacher.n_observed == 1 and env.unwrapped.task is not None


class _AnyTaskEnv(gym.Env):
    """Plays whatever task it is given (keeps it in ``self.task``); every episode is one successful step."""

    observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = (options or {}).get("task")
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 1.0, True, False, {"is_success": True}


def test_a_task_given_in_the_reset_options_that_the_teacher_cannot_take_is_refused_at_reset():
    # a Box task on a Discrete teacher's wrapper was played, and refused only by teacher.observe at the episode's
    # end, out of step(): the episode and its outcome were lost (score="external": at report, after the episode)
    teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
    env = CurriculumWrapper(_AnyTaskEnv(), teacher)
    env.reset(options={"task": 1})
    env.step(0)
    before = teacher.state_dict()
    env.reset(options={"task": 2})  # an episode running: a refused reset leaves it running
    for bad in (np.array([0.3, 0.5]), 7):
        with pytest.raises(InvalidTaskError, match=r"reset\(options=\{'task': \.\.\.\}\).*not played"):
            env.reset(options={"task": bad})
    assert env.unwrapped.task == 2 and env.task == 2
    env.step(0)  # the running episode is still reported
    assert teacher.n_observed == 2 and before["n_observed"] == 1
    box = CurriculumWrapper(_AnyTaskEnv(), mg.make_teacher("alp-gmm", mg.Box([0, 0], [1, 1]), seed=0),
                            score="external")
    with pytest.raises(InvalidTaskError, match="expects 2 numbers"):
        box.reset(options={"task": 2})
    assert box.pending == {} and box.task is None
    # without a teacher (export mode) the wrapper takes any task the env takes
    CurriculumWrapper(_AnyTaskEnv(), None, space=mg.Discrete(3)).reset(options={"task": [0.3, 0.5]})


@pytest.mark.parametrize("flag", ["False", "True", "", np.nan, 0.5, 2, -1, [0], [], np.array(["False"])])
def test_success_score_refuses_flags_that_are_not_true_or_false(flag):
    # bool(info["is_success"]) read "False", NaN, 0.5 and [0] as a success
    with pytest.raises(InvalidScoreError, match=r"final info\['is_success'\] is .*, not a success flag; make the env "
                                                r"report True or False"):
        SuccessScore()(Episode(task=None, episode_return=0.0, length=1, info={"is_success": flag}))


@pytest.mark.parametrize("flag, score", [(True, 1.0), (False, 0.0), (1, 1.0), (0, 0.0), (1.0, 1.0), (np.float32(0), 0.0),
                                         (np.bool_(True), 1.0), (np.array(True), 1.0), (np.array([0.0]), 0.0),
                                         (None, 0.0)])
def test_success_score_reads_bools_and_zero_one_numbers_as_before(flag, score):
    assert SuccessScore()(Episode(task=None, episode_return=0.0, length=1, info={"is_success": flag})) == score


def test_wrapper_reset_refuses_options_that_are_not_a_dict_before_anything_changes():
    # options="x" gave the running episode's task back to the teacher and then failed in dict() ("dictionary update
    # sequence element #0 has length 1"); options=3 raised "argument of type 'int' is not iterable"
    from magister.errors import SettingTypeError

    from magister.levels import SeedSpace
    from magister.rl.envs.maze import MazeEnv

    teacher = mg.make_teacher("learnability", SeedSpace(50), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    env = CurriculumWrapper(MazeEnv(size=7), teacher)
    env.reset(seed=0)
    task, waiting = env.task, dict(teacher._waiting)
    assert waiting
    for options in (3, "task", ["task"], "x"):
        with pytest.raises(SettingTypeError, match=r"CurriculumWrapper\.reset\(options=...\) takes a dict"):
            env.reset(options=options)
        assert env.task == task and env._running and teacher._waiting == waiting  # (not given back)


def test_success_score_reads_a_one_entry_tensor_of_another_library_as_before():
    # bool() read a torch flag; the flag check (6aff5be) refused tensor(True) as "not a success flag"
    import torch

    def score(flag):
        return SuccessScore()(Episode(task=None, episode_return=0.0, length=1, info={"is_success": flag}))

    for flag, expected in [(torch.tensor(True), 1.0), (torch.tensor(False), 0.0), (torch.tensor([True]), 1.0),
                           (torch.tensor(1), 1.0), (torch.tensor(0.0), 0.0), (torch.tensor([[1]]), 1.0)]:
        assert score(flag) == expected
    for flag in (torch.tensor(0.5), torch.tensor(float("nan")), torch.tensor([True, False]), torch.tensor(2)):
        with pytest.raises(InvalidScoreError, match=r"final info\['is_success'\] is tensor\(.*, not a success flag"):
            score(flag)


@pytest.mark.parametrize("bounds", [("0", "100"), (0, "100"), (True, 100), (None, 100), (0, "x"), (0, 10**400),
                                    (np.array(False), 1)])
def test_return_score_bounds_that_are_not_numbers_are_refused_by_name(bounds):
    """ReturnScore (and score=(low, high)) read its bounds with float(): text was parsed ("100"), True was 1.0, and
    None or "x" raised float()'s raw TypeError / ValueError, where ScoreRange refuses each as a ConfigError."""
    with pytest.raises(ConfigError, match=r"ReturnScore's (low|high) must be a finite number"):
        ReturnScore(*bounds)
    with pytest.raises(ConfigError, match="ReturnScore's"):
        CurriculumWrapper(CliffWalk(), Recorder(), score=bounds)


def test_return_score_takes_the_numbers_it_took_before():
    import torch

    assert ReturnScore(np.int64(-2), np.float32(3.0)).range.high == 3.0
    assert ReturnScore(np.array(-1.0), torch.tensor(2.0)).range.low == -1.0  # (0-d arrays and tensors, as float())
    assert as_score_fn((0, 10)).range == ReturnScore(0.0, 10.0).range


@pytest.mark.parametrize("bad", [float("nan"), 2.0])
def test_an_episode_whose_score_is_refused_gives_its_level_back(bad):
    # before: the refused score (the score function's NaN, or 2.0 outside the teacher's range) raised, and the level
    # teacher's proposal waited for a score for good (drop_pending() found 1 after reset() and close()), so a later
    # score of that level answered the stale proposal
    teacher = mg.make_teacher("plr", CliffWalk.task_space, seed=0, score_range=(0, 1))
    env = CurriculumWrapper(CliffWalk(), teacher, score=lambda ep: bad if ep.task[0] < 2 else 0.0)
    env.reset(seed=0)
    with pytest.raises(InvalidScoreError):
        env.step(STOP)
    assert teacher.n_observed == 0 and teacher.drop_pending() == 0
    # a task given in the options (or pushed) is the caller's: not the teacher's to take back
    env.reset(options={"task": [0.5, 0.5]})
    given_back = []
    teacher.give_back = lambda tasks, infos=None: given_back.append(tasks) or len(tasks)
    with pytest.raises(InvalidScoreError):
        env.step(STOP)
    assert given_back == []
    env.close()


def test_send_scores_sends_one_batch_then_each_score_alone_when_the_teacher_refuses_the_batch():
    # the one rule of CurriculumVectorEnv.step and PPO.learn's level scores (rl.wrapper.send_scores)
    from magister.rl.wrapper import refused_text, send_scores

    teacher = mg.make_teacher("uniform", mg.Discrete(4), seed=0, score_range=(0, 1))
    tasks, scores = [0, 1, 2, 3], [0.5, 2.0, 0.25, float("nan")]
    sent = []

    def send(rows):
        sent.append(rows)
        teacher.observe_batch([tasks[j] for j in rows], [scores[j] for j in rows])

    refused = send_scores(4, lambda: send([0, 1, 2, 3]), lambda j: send([j]))
    assert sent == [[0, 1, 2, 3], [0], [1], [2], [3]] and [j for j, _ in refused] == [1, 3]
    assert teacher.n_observed == 2 and "outside the declared range" in refused[0][1]
    assert send_scores(1, lambda: send([1]), lambda j: pytest.fail("one score is not sent again")) == \
        [(0, refused[0][1])]
    assert send_scores(2, lambda: send([0, 2]), lambda j: pytest.fail("a batch taken is not sent again")) == []
    assert teacher.n_observed == 4
    why = [(5, "bad."), (1, "worse"), (7, "bad"), (2, "odd"), (3, "odder")]
    assert refused_text(why, "sub-env") == "sub-envs 5, 7: bad; sub-env 1: worse; sub-env 2: odd; sub-env 3: odder"
    assert refused_text(why, "episode", most=2) == "episodes 5, 7: bad; episode 1: worse; and 2 more"
