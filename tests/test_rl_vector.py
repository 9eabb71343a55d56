"""CurriculumVectorEnv: batched teacher calls, no outcome lost or counted twice (sync and async)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError
from magister.rl import CurriculumVectorEnv
from magister.rl.envs import CliffWalk

from test_rl_wrapper import RIGHT, STOP, Recorder


class CountingRecorder(Recorder):
    def __init__(self):
        super().__init__(seed=1)
        self.propose_calls = 0
        self.observe_calls = 0

    def propose(self, k=None):
        self.propose_calls += 1
        return super().propose(k)

    def observe_batch(self, tasks, scores):
        self.observe_calls += 1
        super().observe_batch(tasks, scores)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_every_finished_episode_is_observed_exactly_once_with_its_task(vectorization, prefetch):
    teacher = CountingRecorder()
    # the score encodes the task the sub-env ran, so a mismatched pair would show
    venv = CurriculumVectorEnv([CliffWalk] * 4, teacher, vectorization=vectorization, prefetch=prefetch,
                               score=lambda ep: float(ep.task[0]))
    rng = np.random.default_rng(0)
    venv.reset(seed=0)
    finished = 0
    steps_with_ends = 0
    for _ in range(200):
        _, _, term, trunc, infos = venv.step(rng.integers(0, 3, size=4))
        ends = int(np.sum(term | trunc))
        finished += ends
        steps_with_ends += ends > 0
        if ends:
            assert infos["_final_obs"].sum() == ends
            for i in np.flatnonzero(term | trunc):
                assert infos["final_obs"][i] is not None
    venv.close()
    assert finished > 50
    assert len(teacher.observed) == finished == venv.n_reported == teacher.inner.n_observed
    assert teacher.observe_calls == steps_with_ends  # one batched call per step with endings
    if prefetch == 0:
        assert teacher.propose_calls == steps_with_ends + 1  # plus the first reset
        assert len(teacher.proposed) == finished + 4 == venv.n_assigned
        assert venv.n_extra_calls == steps_with_ends
    else:
        assert venv.n_assigned == finished + 4
        # tasks still queued were proposed but not run yet
        assert len(teacher.proposed) == finished + 4 + sum(len(q) for q in venv._queues)
        assert venv.n_extra_calls < steps_with_ends
    # each observed task was proposed, in the right pair, never twice
    proposed = {tuple(np.round(t, 12)) for t in teacher.proposed}
    seen = [tuple(np.round(t, 12)) for t, _ in teacher.observed]
    assert len(set(seen)) == len(seen) and set(seen) <= proposed
    for task, score in teacher.observed:
        assert score == pytest.approx(task[0])


@pytest.mark.parametrize("prefetch", [0, 3])
def test_sync_and_async_agree(prefetch):
    def run(vec):
        teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=3)
        venv = CurriculumVectorEnv([CliffWalk] * 3, teacher, vectorization=vec, prefetch=prefetch)
        obs, _ = venv.reset(seed=5)
        out = [obs]
        for t in range(60):
            obs, rew, term, trunc, _ = venv.step(np.array([t % 3, 0, 1]))
            out.append(obs)
        venv.close()
        return np.array(out), teacher.n_observed

    a, na = run("sync")
    b, nb = run("async")
    np.testing.assert_array_equal(a, b)
    assert na == nb > 0


def test_same_step_reset_gives_first_observation_of_next_episode():
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher)
    venv.reset(seed=0)
    obs, _, term, _, infos = venv.step(np.array([1, 0]))  # env 0 stops at once
    assert term[0] and not term[1]
    assert obs[0][0] == 0.0 and obs[0][3] == 0.0  # fresh episode: x = 0, t = 0
    assert infos["final_obs"][0][3] > 0.0 and infos["final_obs"][1] is None
    assert teacher.n_observed == 1 and teacher.n_proposed == 3


def test_config_errors():
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    with pytest.raises(ConfigError):
        CurriculumVectorEnv([CliffWalk], object())
    with pytest.raises(ConfigError):
        CurriculumVectorEnv([CliffWalk], teacher, autoreset_mode="next_step")
    with pytest.raises(ConfigError):
        CurriculumVectorEnv([CliffWalk], teacher, vectorization="threads")
    with pytest.raises(ConfigError):
        CurriculumVectorEnv([], teacher)
    with pytest.raises(ConfigError):
        CurriculumVectorEnv([CliffWalk], teacher, prefetch=-1)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_env_instances_instead_of_functions_are_refused_clearly(vectorization):
    # before: TypeError "'CliffWalk' object is not callable" (from a worker's traceback when async), and a bare
    # class "'type' object is not iterable"
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    with pytest.raises(ConfigError, match=r"not env instances.*\[MyEnv\] \* n"):
        CurriculumVectorEnv([CliffWalk(), CliffWalk()], teacher, vectorization=vectorization)
    with pytest.raises(ConfigError, match="needs a list of functions returning an env"):
        CurriculumVectorEnv(CliffWalk, teacher, vectorization=vectorization)


def test_an_async_sub_env_wrapping_a_local_teacher_is_refused_as_its_workers_would_hold_copies():
    # before: accepted; each worker process held its own copy of the teacher (a warning in each worker), and the
    # copies proposed and observed alone: the teacher in this process never heard those scores. (Sync refused the
    # vector env's own teacher inside already: every episode counted twice.)
    from magister.rl import CurriculumWrapper

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    other = mg.make_teacher("uniform", CliffWalk.task_space, seed=1)
    for inner in (teacher, other):
        with pytest.raises(ConfigError, match=r"vectorization='async'.*sub-env 0 is a CurriculumWrapper of the "
                                              r"teacher Uniform.*copy.*never reaches.*return the bare env"):
            CurriculumVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(CurriculumWrapper(CliffWalk(), inner))]
                                * 2, teacher, vectorization="async")
        assert inner.n_proposed == inner.n_observed == 0
    # one process: another teacher inside is heard (unchanged), the vector env's own is still counted twice
    CurriculumVectorEnv([lambda: CurriculumWrapper(CliffWalk(), other)], teacher).close()
    with pytest.raises(ConfigError, match="twice"):
        CurriculumVectorEnv([lambda: CurriculumWrapper(CliffWalk(), teacher)], teacher)
    # an export-mode wrapper (no teacher) in the workers: every episode reaches the vector env's teacher, once
    venv = CurriculumVectorEnv([lambda: CurriculumWrapper(CliffWalk(), None)] * 2, teacher, vectorization="async")
    venv.reset(seed=0)
    for _ in range(5):
        venv.step(np.full(2, STOP, dtype=np.int64))
    venv.close()
    assert teacher.n_observed == venv.n_reported == 10


def test_sub_envs_built_before_one_that_fails_are_closed():
    # before (sync): SyncVectorEnv built the sub-envs one after the other, and when a later one failed (an env
    # function raising, an OpponentEnv refused) the ones already built were never closed
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    made, closed = [], []

    class Tracked(CliffWalk):
        def close(self):
            closed.append(self)
            super().close()

    def ok():
        made.append(Tracked())
        return made[-1]

    def fails():
        raise RuntimeError("no env today")

    with pytest.raises(RuntimeError, match="no env today"):
        CurriculumVectorEnv([ok, ok, fails, ok], teacher)
    assert len(made) == 2 and closed == made
    made.clear(), closed.clear()
    venv = CurriculumVectorEnv([ok, ok], teacher)
    venv.reset(seed=0)
    assert not closed
    venv.close()
    assert closed == made


def test_prefetch_reset_mid_run_drops_the_old_queue():
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, prefetch=2)
    venv.reset(seed=0)
    venv.step(np.array([1, 1]))  # both stop: they start their first queued task
    venv.reset(seed=1)  # queues replaced
    for _ in range(5):
        venv.step(np.array([1, 1]))
    assert teacher.n_observed == 2 + 10
    np.testing.assert_allclose(np.array(venv.get_attr("task")), np.array(venv.tasks))


def test_factory_mode_in_a_vector_env():
    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([lambda task: CliffWalk(task)] * 2, teacher, task_mode="factory")
    venv.reset(seed=0)
    for _ in range(3):
        venv.step(np.array([1, 1]))
    assert teacher.n_observed == 6
    got = np.array(venv.get_attr("task"))
    np.testing.assert_allclose(got, np.array(venv.tasks))


class _Phases(CliffWalk):
    """CliffWalk whose reset info and step info say which they are."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, dict(info, phase="reset", started=float(self.task[0]))

    def step(self, action):
        obs, reward, term, trunc, info = super().step(action)
        return obs, reward, term, trunc, dict(info, phase="step")


def _phases_step(actions, prefetch):
    """One step of ``len(actions)`` ``_Phases`` sub-envs under a uniform teacher, after a reset, then closed:
    ``(venv, terminated, infos)``."""
    venv = CurriculumVectorEnv([_Phases] * len(actions), mg.make_teacher("uniform", CliffWalk.task_space, seed=0),
                               prefetch=prefetch)
    venv.reset(seed=0)
    _, _, term, _, infos = venv.step(np.array(actions))
    venv.close()
    return venv, term, infos


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_restarted_sub_env_shows_its_new_episodes_reset_info(prefetch):
    # Gymnasium's SAME_STEP: a sub-env that restarted shows its reset info, the last step's info is in
    # final_info. Before, prefetch=0 dropped the reset info and showed the ended episode's step info instead
    venv, term, infos = _phases_step([STOP, RIGHT], prefetch)  # sub-env 0 ends, 1 goes on
    assert list(term) == [True, False]
    assert list(infos["phase"]) == ["reset", "step"] and infos["_started"][0] and not infos["_started"][1]
    assert infos["started"][0] == pytest.approx(venv.tasks[0][0])
    assert infos["final_info"]["phase"][0] == "step" and infos["final_info"]["_magister_score"][0]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_final_info_holds_only_the_finished_sub_envs(prefetch):
    # Gymnasium's SAME_STEP (and prefetch=2): final_info's masks mark the sub-envs that ended. Before, prefetch=0
    # put the whole step info there, so final_info["phase"][final_info["_phase"]] read running episodes as ended
    venv, term, infos = _phases_step([RIGHT, STOP, RIGHT], prefetch)
    assert list(term) == [False, True, False] and list(infos["_final_info"]) == [False, True, False]
    final = infos["final_info"]
    assert list(final["_phase"]) == [False, True, False] and final["phase"][1] == "step"
    assert list(final["_magister_score"]) == [False, True, False]
    assert list(infos["_phase"]) == [True, True, True]  # the step infos themselves are all still there


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_restarted_sub_envs_reset_info_keeps_its_dtypes(prefetch):
    # before: prefetch=0 took each restarted sub-env's reset info out one value at a time and put it back with
    # VectorEnv._add_info: a bool (magister_train, the proposal info's "train") became an object array of None and
    # np.True_, so ~infos["magister_train"] raised TypeError where prefetch=2 gave a bool array
    venv, term, infos = _phases_step([STOP, RIGHT, STOP], prefetch)
    assert list(term) == [True, False, True]
    assert infos["magister_train"].dtype == bool and infos["magister_task_info"]["train"].dtype == bool
    assert list(infos["_magister_train"]) == [True, False, True] and (~infos["magister_train"]).dtype == bool
    assert infos["started"].dtype == float and list(infos["phase"]) == ["reset", "step", "reset"]


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_reset_of_the_vector_env_mid_episode_does_not_warn_of_an_outside_time_limit(vectorization):
    # before: each sub-env's wrapper warned "put TimeLimit inside CurriculumWrapper" (an error under -W error, in
    # this process when sync) on CurriculumVectorEnv.reset() mid-episode, which is documented to drop the running
    # episodes and is what a PPO agent restored with load_state_dict does; no outside wrapper can exist there
    import warnings

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, vectorization=vectorization)
    venv.reset(seed=0)
    venv.step(np.array([RIGHT, RIGHT]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        venv.reset(seed=1)
        venv.step(np.array([STOP, STOP]))
    caught = venv.call("_warned_cut")
    venv.close()
    assert teacher.n_observed == 2 and caught == (False, False)


class _BufferingClient(CountingRecorder):
    """What ``close_client`` sees of a Ray client: ``flush``, ``close`` and, for a copy, ``_copy``."""

    def __init__(self, copy: bool):
        super().__init__()
        self._copy, self.closing = copy, []

    def flush(self):
        self.closing.append("flush")

    def close(self):
        self.closing.append("close")


@pytest.mark.parametrize("copy", [False, True])
def test_closing_the_vector_env_flushes_its_teacher_client(copy):
    # before: close() closed the sub-envs only, so a RayTeacher client's last outcomes (fewer than flush_every)
    # were never sent; now it is flushed (or closed, when it is a copy made for this process), as by the wrapper
    client = _BufferingClient(copy)
    venv = CurriculumVectorEnv([CliffWalk] * 2, client)
    venv.reset(seed=0)
    venv.close()
    assert client.closing == (["close"] if copy else ["flush"])
    venv.close()  # closed once
    assert len(client.closing) == 1


class _TakingBackClient(_BufferingClient):
    """A Ray client that takes back the tasks it handed out that will never be scored (``give_back``)."""

    def __init__(self):
        super().__init__(copy=False)
        self.given_back: list[tuple[np.ndarray, dict]] = []

    def give_back(self, tasks, infos):
        self.closing.append("give_back")
        self.given_back.extend(zip([np.asarray(t) for t in tasks], infos))
        return len(tasks)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_tasks_a_reset_or_close_leaves_unscored_go_back_to_a_client_that_takes_them(prefetch):
    # before: the running episodes cut by reset() or close(), and every task queued by prefetch, were handed out by
    # the RayTeacher client and never scored nor given back: a level teacher's new levels among them were lost
    client = _TakingBackClient()
    venv = CurriculumVectorEnv([CliffWalk] * 2, client, prefetch=prefetch)
    venv.reset(seed=0)
    assert client.given_back == []  # nothing ran yet
    venv.step(np.array([STOP, RIGHT]))  # sub-env 0 ends (scored), 1 runs on
    running = [np.asarray(t) for t in venv.tasks]
    queued = [t for q in venv._queues for _, t, _ in q]  # prefetch: 1 left for sub-env 0, 2 for sub-env 1
    assert len(queued) == (3 if prefetch else 0)
    venv.reset(options={"reset_mask": np.array([False, True])})  # cuts sub-env 1's episode only
    back = [t for t, _ in client.given_back]
    assert len(back) == 1 + len(queued) and np.allclose(back[0], running[1])
    assert all(np.allclose(a, b) for a, b in zip(back[1:], queued))
    venv.step(np.array([RIGHT, RIGHT]))
    venv.close()
    assert client.closing[-2:] == ["give_back", "flush"]  # given back before the client's buffer is sent
    assert len(client.proposed) == len(client.observed) + len(client.given_back)  # nothing lost
    assert all(i["train"] for _, i in client.given_back)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_level_teacher_saved_mid_run_and_resumed_in_a_new_run_drops_its_old_episodes_proposals(prefetch, tmp_path):
    # before: saved while the vector env had episodes running (and tasks queued), a teacher resumed in a new process
    # waited for their scores forever; a later score of one of their levels was taken for them
    teacher = mg.make_teacher("plr", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, prefetch=prefetch)
    venv.reset(seed=0)
    venv.step(np.array([STOP, RIGHT]))  # sub-env 0 ends (scored, its next episode starts), 1 runs on
    out = sum(len(q) for q in venv._queues) + 2  # the two running episodes, and the tasks queued
    path = teacher.save(tmp_path / "teacher.ckpt")
    venv.close()  # (the live teacher: what the close cut is given back)
    assert not teacher._pending
    resumed = mg.load(path)  # a new process: the old episodes are gone
    assert sum(e[2] + e[3].count("r") for e in resumed._pending.values()) == out
    assert resumed.drop_pending() == out and not resumed._pending
    venv = CurriculumVectorEnv([CliffWalk] * 2, resumed, prefetch=prefetch)
    venv.reset(seed=0)
    for _ in range(3):
        venv.step(np.array([STOP, STOP]))
    venv.close()
    assert not resumed._pending  # the new run's proposals scored or given back, and nothing else waits


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_reset_with_a_bad_mask_or_a_task_changes_nothing(prefetch):
    # before: a reset_mask given as a list (Gymnasium takes only a bool array) failed after the teacher had proposed
    # and the sub-env's id had moved on, so the next episode end raised "outcome/task mismatch"; options={'task': t}
    # was passed to every sub-env, which played t instead of the proposed task and then failed with a KeyError
    client = _TakingBackClient()
    venv = CurriculumVectorEnv([CliffWalk] * 2, client, prefetch=prefetch)
    venv.reset(seed=0)
    before = (venv.episode_ids, len(client.proposed), [list(q) for q in venv._queues])
    for bad in (np.array([False, False]), np.array([True]), np.array([1, 0])):
        with pytest.raises(ConfigError, match="reset_mask must be 2 booleans"):
            venv.reset(options={"reset_mask": bad})
    with pytest.raises(ConfigError, match="credited to a task it never played"):
        venv.reset(options={"task": [0.1, 0.0]})
    assert (venv.episode_ids.tolist(), len(client.proposed), [list(q) for q in venv._queues]) == \
        (before[0].tolist(), before[1], before[2])
    assert client.given_back == []
    venv.reset(options={"reset_mask": [True, False]})  # a list of bools is a mask
    for _ in range(3):
        venv.step(np.array([STOP, STOP]))
    assert len(client.observed) == 6
    np.testing.assert_allclose(np.array(venv.get_attr("task")), np.array(venv.tasks))
    venv.close()


def test_factory_envs_whose_observation_space_changes_with_the_task_are_refused_clearly():
    # before: Gymnasium's "ValueError: Output array is the wrong shape" from inside the batching, naming neither
    # the task nor the space
    class Sized(CliffWalk):  # one more (zero) number in the observation for a goal beyond the middle
        def __init__(self, task):
            super().__init__(task)
            self.n = 4 if task[0] <= 0.5 else 5
            self.observation_space = gym.spaces.Box(0.0, 1.5, shape=(self.n,), dtype=np.float32)

        def reset(self, **kwargs):
            obs, info = super().reset(**kwargs)
            return np.resize(obs, self.n), info

        def step(self, action):
            obs, *rest = super().step(action)
            return (np.resize(obs, self.n), *rest)

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    venv = CurriculumVectorEnv([lambda task: Sized(task)] * 2, teacher, task_mode="factory")
    with pytest.raises(ConfigError, match=r"observation space Box\(.*\(5,\).*differs from the first env's"):
        for _ in range(5):  # the first env is the centre task's (4 numbers); a task with distance > 0.5 differs
            venv.reset()
    venv.close()
    # bounds that follow the task are batched as before
    class Bounded(CliffWalk):
        def __init__(self, task):
            super().__init__(task)
            self.observation_space = gym.spaces.Box(0.0, 1.0 + float(task[0]), shape=(4,), dtype=np.float32)

    venv = CurriculumVectorEnv([lambda task: Bounded(task)] * 2, teacher, task_mode="factory")
    venv.reset(seed=0)
    for _ in range(3):
        venv.step(np.array([1, 1]))
    venv.close()


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_the_vector_env_renders_its_sub_envs_and_shows_their_render_mode(vectorization):
    # render() raised NotImplementedError and render_mode read None, so gymnasium's vector RecordVideo refused it
    from magister.levels import SeedSpace
    from magister.rl.envs import MazeEnv

    venv = CurriculumVectorEnv([lambda: MazeEnv(render_mode="ansi")] * 2, mg.make_teacher("uniform", SeedSpace(), seed=0),
                               vectorization=vectorization)
    try:
        venv.reset(seed=0)
        assert venv.render_mode == "ansi"
        frames = venv.render()
        assert len(frames) == 2 and all(isinstance(f, str) and f.count("\n") == 14 for f in frames)
    finally:
        venv.close()


def test_an_async_sub_env_refused_in_its_worker_is_the_same_config_error_here():
    # before: gymnasium builds only sub-env 0 in this process; a later sub-env refused in its worker (here one holding
    # a local teacher) ended that worker with a traceback, and the vector env raised a raw ConnectionResetError
    from magister.rl import CurriculumWrapper

    teacher = mg.make_teacher("uniform", CliffWalk.task_space, seed=0)
    other = mg.make_teacher("uniform", CliffWalk.task_space, seed=1)
    with pytest.raises(ConfigError, match=r"vectorization='async'.*sub-env 1 is a CurriculumWrapper of the teacher"):
        CurriculumVectorEnv([CliffWalk, lambda: CurriculumWrapper(CliffWalk(), other)], teacher, vectorization="async")
    assert teacher.n_proposed == other.n_proposed == other.n_observed == 0
    venv = CurriculumVectorEnv([CliffWalk] * 2, teacher, vectorization="async")  # bare envs: unchanged
    venv.reset(seed=0)
    venv.close()
    assert teacher.n_proposed == 2


def test_vector_reset_refuses_options_that_are_not_a_dict():
    # options=3 raised "'int' object is not iterable", "x" failed in dict() ("dictionary update sequence")
    from magister.errors import SettingTypeError

    env = CurriculumVectorEnv([CliffWalk] * 2, mg.make_teacher("uniform", CliffWalk.task_space, seed=0))
    env.reset(seed=0)
    for options in (3, "x", ["reset_mask"]):
        with pytest.raises(SettingTypeError, match=r"CurriculumVectorEnv\.reset\(options=...\) takes a dict such as "
                                                   r"\{'reset_mask': mask\}, or None"):
            env.reset(options=options)
    env.reset(options={"reset_mask": np.array([True, False])})


def _score_some_refused(ep):
    """task[0] as the score, NaN (refused by the score function) above 0.8, 2.0 (outside the teacher's range [0, 1],
    refused by the teacher) between 0.6 and 0.8."""
    x = float(ep.task[0])
    return float("nan") if x > 0.8 else 2.0 if x > 0.6 else x


@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("name", ["uniform", "plr"])
def test_a_refused_score_is_raised_after_the_step_is_done_and_the_env_goes_on(vectorization, prefetch, name):
    # before: a score the score function refused (NaN) raised inside the inner vector env's step, so the sub-envs after
    # it never stepped (sync; the next step raised "a finished sub-env did not report its score") or the worker died
    # (async: every later step raised AttributeError "'NoneType' object has no attribute 'send'"); a score the
    # teacher refused left the finished sub-envs un-reset (every later step: Gymnasium's AssertionError
    # "self._autoreset_envs=..."), until reset()
    from magister.errors import InvalidScoreError

    teacher = mg.make_teacher(name, CliffWalk.task_space, seed=0, score_range=(0, 1))
    venv = CurriculumVectorEnv([CliffWalk] * 3, teacher, vectorization=vectorization, prefetch=prefetch,
                               score=_score_some_refused)
    rng = np.random.default_rng(0)
    venv.reset(seed=0)
    finished = refused_by_fn = in_range = errors = 0
    for _ in range(120):
        try:
            obs, _, term, trunc, infos = venv.step(rng.integers(0, 3, size=3))
        except InvalidScoreError as e:
            errors += 1
            assert "was refused, and nothing of it recorded" in str(e) and "step_result" in str(e)
            obs, _, term, trunc, infos = e.step_result
        assert obs.shape[0] == 3
        finished += int(np.sum(term | trunc))
        final = infos.get("final_info", {})
        refused_by_fn += int(np.sum(final.get("_magister_score_refused", np.zeros(3, dtype=bool))))
        if "_magister_score" in final:  # scored by the score function: recorded where the teacher takes it
            scored = np.asarray(final["magister_score"])[final["_magister_score"]].astype(float)
            in_range += int(np.sum(scored <= 1.0))
    venv.close()
    assert errors > 0 and refused_by_fn > 0 and finished > 40
    # every finished episode scored in range was recorded, none refused was
    assert 0 < in_range == teacher.n_observed == venv.n_reported < finished - refused_by_fn
    if name == "plr":  # the refused tasks (and at close the running and queued ones) went back: none waits for a score
        assert teacher.drop_pending() == 0
    assert venv.n_assigned == finished + 3 and teacher.n_proposed >= venv.n_assigned
