"""The teacher as a Ray actor: concurrent observers, exactly-once batches, checkpoint resume, RLlib callback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import gymnasium as gym  # noqa: E402

import magister as mg  # noqa: E402
from magister.rl import CurriculumWrapper  # noqa: E402
from magister.rl.envs import CliffWalk  # noqa: E402
from magister.rl.ray import RayTeacher, rllib_callback, start_teacher_actor  # noqa: E402

SPACE = CliffWalk.task_space


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@ray.remote(num_cpus=0.25)
def _worker(actor_name: str, n: int, flush_every: int) -> list[list[float]]:
    client = RayTeacher(actor_name, prefetch=8, flush_every=flush_every)
    seen = []
    for _ in range(n):
        task = client.propose()
        client.observe(task, float(task[0]))  # the score encodes the task
        seen.append([float(v) for v in task])
    client.flush()
    return seen


def test_many_workers_observe_concurrently_without_loss_or_double_count(local_ray):
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    actor = start_teacher_actor(teacher, name="t-concurrent")
    results = ray.get([_worker.remote("t-concurrent", 60, fe) for fe in (1, 7, 16, 60)])
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == 4 * 60
    # every task a worker used came from the actor, and no task was handed out twice
    flat = [tuple(t) for r in results for t in r]
    assert len(set(flat)) == len(flat) == 240
    assert counts["n_proposed"] >= 240
    ray.kill(actor)


def test_a_batch_sent_twice_is_applied_once(local_ray):
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    tasks, scores = np.array([[0.1, 0.2], [0.3, 0.4]]), [0.0, 1.0]
    assert ray.get(actor.observe_batch.remote(tasks, scores, "c1", 0)) is True
    assert ray.get(actor.observe_batch.remote(tasks, scores, "c1", 0)) is False  # a retry
    assert ray.get(actor.observe_batch.remote(tasks, scores, "c2", 0)) is True
    assert ray.get(actor.counts.remote())["n_observed"] == 4
    ray.kill(actor)


def test_bad_outcome_is_refused_at_the_worker(local_ray):
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, flush_every=1)
    with pytest.raises(mg.InvalidScoreError):
        client.observe([0.5, 0.5], float("nan"))
    with pytest.raises(mg.InvalidTaskError):
        client.observe([2.0, 0.5], 1.0)
    for bad in ("0.5", "abc"):  # before: "0.5" was sent as 0.5 (the teacher refuses text), "abc" a raw ValueError
        with pytest.raises(mg.InvalidScoreError, match="numbers"):
            client.observe([0.5, 0.5], bad)
    for bad in (0, -1, 2.5, True, float("nan")):  # before: nan passed the check and failed in int()
        with pytest.raises(mg.ConfigError, match="prefetch"):
            RayTeacher(actor, prefetch=bad)
    client.flush()
    assert ray.get(actor.counts.remote())["n_observed"] == 0
    # scores from a generator, as a local teacher takes them (refused as "not numbers" before)
    client.observe_batch([[0.5, 0.5], [0.25, 0.5]], (s for s in (0.2, 0.4)))
    client.flush()
    assert ray.get(actor.counts.remote())["n_observed"] == 2
    ray.kill(actor)


def test_checkpoint_mid_run_resumes_exactly(local_ray, tmp_path):
    name = "alp-gmm" if "alp-gmm" in mg.available_teachers() else "uniform"
    kwargs = getattr(mg.teacher_class(name), "conformance_kwargs", {})
    actor = start_teacher_actor(mg.make_teacher(name, SPACE, seed=1, **kwargs))
    client = RayTeacher(actor, prefetch=4, flush_every=5)
    rng = np.random.default_rng(0)
    for _ in range(60):
        task = client.propose()
        client.observe(task, float(rng.random() < task[0]))
    path = client.save(str(tmp_path / "teacher.ckpt"))
    resumed = start_teacher_actor(mg.load(path))
    local = mg.load(path)
    later_tasks = np.array(ray.get(actor.propose.remote(20)))
    np.testing.assert_array_equal(later_tasks, ray.get(resumed.propose.remote(20)))
    np.testing.assert_array_equal(later_tasks, local.propose(20))
    scores = (rng.random(20) < later_tasks[:, 0]).astype(float)
    for handle in (actor, resumed):
        assert ray.get(handle.observe_batch.remote(later_tasks, scores)) is True
        assert ray.get(handle.counts.remote())["n_observed"] == local.n_observed + 20
    local.observe_batch(later_tasks, scores)
    after = ray.get(actor.propose.remote(30))
    np.testing.assert_array_equal(after, ray.get(resumed.propose.remote(30)))
    np.testing.assert_array_equal(after, local.propose(30))  # the local copy took the same batch
    ray.kill(actor)
    ray.kill(resumed)


@pytest.mark.parametrize("name", ["plr", "learnability"])
def test_the_actor_checkpoint_gives_its_level_teacher_back_the_tasks_no_client_handed_out(local_ray, tmp_path, name):
    # before: the actor saved its teacher only. The tasks of a closed client waiting to be handed out again, and
    # those leased to a live client (prefetched), are in no run resumed from the checkpoint, and its level teacher
    # waited for their scores forever (a later score of one of their levels was taken for them)
    from magister.levels.spaces import SeedSpace
    from magister.teacher import loads

    kwargs = {"n_candidates": 2, "eval_episodes": 1, "eval_interval": 3} if name == "learnability" else {}
    actor = start_teacher_actor(mg.make_teacher(name, SeedSpace(1000), seed=0, **kwargs))
    a, b = RayTeacher(actor, prefetch=4, flush_every=1), RayTeacher(actor, prefetch=4, flush_every=1)
    for _ in range(2):
        a.observe(a.propose(), 0.5)
    first, running = b.propose(), b.propose()
    b.observe(first, 0.5)  # (tells the actor b handed out both) an episode of b runs on; the rest stay leased to b
    left = [t for t, _ in a._tasks] + (list(ray.get(a._pending)[0]) if a._pending is not None else [])
    a.close()  # its prefetched tasks wait in the actor, to be handed out again
    before = ray.get(actor.counts.remote())
    assert before["n_returned"] == len(left) and before["n_leased"]
    for saved in (mg.load(b.save(str(tmp_path / "teacher.ckpt"))), loads(b.state_bytes())):
        waiting = saved._pending if name == "plr" else saved._waiting
        assert list(waiting) == [running]  # only the task handed out (a new run drops it: drop_pending)
        assert saved.drop_pending() == 1
    assert ray.get(actor.counts.remote()) == before  # the live actor is unchanged: it hands its tasks out
    c = RayTeacher(actor, prefetch=4, flush_every=1)
    assert [c.propose() for _ in left] == left
    for t in left + [running]:
        (c if t != running else b).observe(t, 0.5)
    for client in (b, c):
        client.close()
    # a run stopped (every client closed): its checkpoint waits for nothing, while the live teacher waits for the
    # tasks the actor hands out next
    live = loads(ray.get(actor.to_bytes.remote()))
    assert not (live._pending if name == "plr" else live._waiting)
    ray.kill(actor)


class _FakeEpisode:
    def __init__(self):
        self.custom_data = {}


def test_rllib_callback_drives_wrappers_like_the_env_runner(local_ray):
    """Replays RLlib's SingleAgentEnvRunner order of calls on a NEXT_STEP sync vector env."""
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-rllib")
    cb = rllib_callback("t-rllib", prefetch=4, flush_every=3)()
    n = 3
    venv = gym.vector.SyncVectorEnv(
        [lambda i=i: CurriculumWrapper(CliffWalk(), None, index=i) for i in range(n)])
    for i in range(n):
        cb.on_episode_created(env=venv, env_index=i, episode=_FakeEpisode())
    venv.reset(seed=0)
    episodes = [_FakeEpisode() for _ in range(n)]
    for i in range(n):
        cb.on_episode_start(env=venv, env_index=i, episode=episodes[i])
    started = set()
    finished = 0
    rng = np.random.default_rng(0)
    for _ in range(100):
        _, _, term, trunc, _ = venv.step(rng.integers(0, 3, size=n))
        for i in range(n):
            if i in started:
                cb.on_episode_start(env=venv, env_index=i, episode=episodes[i])
                np.testing.assert_array_equal(episodes[i].custom_data["magister_task"], venv.envs[i].unwrapped.task)
                started.discard(i)
            if term[i] or trunc[i]:
                finished += 1
                cb.on_episode_end(env=venv, env_index=i, episode=episodes[i])
                cb.on_episode_end(env=venv, env_index=i, episode=episodes[i])  # a repeated call counts once
                episodes[i] = _FakeEpisode()
                cb.on_episode_created(env=venv, env_index=i, episode=episodes[i])
                started.add(i)
    cb.on_sample_end()
    assert finished > 20
    assert ray.get(actor.counts.remote())["n_observed"] == finished
    ray.kill(actor)


def _runner(index: int, evaluation: bool = False):
    """A stand-in for an RLlib env runner: what the callback reads of it."""
    from types import SimpleNamespace

    return SimpleNamespace(worker_index=index, config=SimpleNamespace(in_evaluation=evaluation),
                           tune_trial_id="default")


def _rllib_venv(n: int = 2):
    return gym.vector.SyncVectorEnv([lambda i=i: CurriculumWrapper(CliffWalk(), None) for i in range(n)])


def _rllib_started(actor_name: str):
    """A runner's callback (prefetch 4) and a 2-env vector env whose first episodes it created, reset: (cb, venv)."""
    cb, venv = rllib_callback(actor_name, prefetch=4, flush_every=100)(), _rllib_venv()
    for i in range(2):
        cb.on_episode_created(env=venv, env_index=i, env_runner=_runner(0), episode=_FakeEpisode())
    venv.reset(seed=0)
    return cb, venv


def test_rllib_runner_that_remakes_its_env_reports_the_new_envs_first_episodes():
    # before: the callback remembered the last reported episode count per env index, so after RLlib re-made the
    # runner's env (make_env after a failure; the old wrappers closed the client and the runner went on), the new
    # wrapper's first episode (its count starting again from 1) was taken for a repeat and never observed
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    cb = rllib_callback(client_factory=lambda: teacher)()
    finished = 0
    for _ in range(2):  # the env, then the one RLlib makes in its place
        venv = _rllib_venv(1)
        cb.on_episode_created(env=venv, env_index=0, env_runner=_runner(1), episode=_FakeEpisode())
        venv.reset(seed=0)
        rng = np.random.default_rng(0)
        term = trunc = np.zeros(1, bool)
        while not (term | trunc).any():
            _, _, term, trunc, _ = venv.step(rng.integers(0, 3, size=1))
        finished += 1
        cb.on_episode_end(env=venv, env_index=0, env_runner=_runner(1), episode=_FakeEpisode())
        cb.on_episode_end(env=venv, env_index=0, env_runner=_runner(1), episode=_FakeEpisode())  # counted once
        venv.close()
    assert teacher.n_observed == finished == 2


def test_rllib_restarted_runner_frees_the_dead_runners_tasks_and_evaluation_runners_are_apart(local_ray):
    # before: each runner's client had no name, so the tasks a runner that died had prefetched stayed leased for
    # good when Ray restarted it; named by worker index alone, an evaluation runner (indices overlap) would have
    # released the training runner's client, whose next refill would then fail
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-rllib-restart")
    callback = rllib_callback("t-rllib-restart", prefetch=4, flush_every=3)
    dead, venv = callback(), _rllib_venv()
    for i in range(2):
        dead.on_episode_created(env=venv, env_index=i, env_runner=_runner(1), episode=_FakeEpisode())
    # never handed out (the buffer and the refill on its way): the runner dies, unclosed
    prefetched = [t for t, _ in dead.client._tasks] + list(ray.get(dead.client._pending)[0])
    assert ray.get(actor.counts.remote())["n_leased"] == len(prefetched) == 6
    restarted, venv = callback(), _rllib_venv()  # Ray restarts the runner: same worker index
    for i in range(2):
        restarted.on_episode_created(env=venv, env_index=i, env_runner=_runner(1), episode=_FakeEpisode())
    client = restarted.client
    got = [venv.envs[i]._pushed[0][0] for i in range(2)] + [t for t, _ in client._tasks]
    got += list(ray.get(client._pending)[0])
    np.testing.assert_array_equal(got[:6], prefetched)  # the dead runner's tasks come first, in order
    evaluation, eval_venv = callback(), _rllib_venv()
    evaluation.on_episode_created(env=eval_venv, env_index=0, env_runner=_runner(1, evaluation=True),
                                  episode=_FakeEpisode())
    assert restarted.client.name == callback.client_name(1)
    assert evaluation.client.name == callback.client_name(1, evaluation=True) != restarted.client.name
    for _ in range(12):  # the training runner's client still refills (it was not released)
        restarted.on_episode_created(env=venv, env_index=0, env_runner=_runner(1), episode=_FakeEpisode())
    # a runner that dies for good is released from the driver by its name
    assert ray.get(actor.release.remote(name=callback.client_name(1, evaluation=True))) > 0
    ray.kill(actor)


def test_rllib_runner_client_is_closed_when_rllib_stops_the_runner(local_ray):
    # before: algo.stop() stops each runner, which closes its env, but the runner's client was never closed: the
    # tasks it had prefetched stayed leased to it for good
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-rllib-stop")
    cb, venv = _rllib_started("t-rllib-stop")
    finished = 0
    rng = np.random.default_rng(0)
    while finished < 3:
        _, _, term, trunc, _ = venv.step(rng.integers(0, 3, size=2))
        for i in np.flatnonzero(term | trunc):
            finished += 1
            cb.on_episode_end(env=venv, env_index=int(i), env_runner=_runner(0), episode=_FakeEpisode())
            cb.on_episode_created(env=venv, env_index=int(i), env_runner=_runner(0), episode=_FakeEpisode())
    held = len(cb.client._tasks)
    assert ray.get(actor.counts.remote())["n_leased"] >= held > 0
    venv.close()  # what SingleAgentEnvRunner.stop() does
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == finished  # its outcomes were sent (fewer than flush_every)
    assert counts["n_leased"] == 0 and counts["n_returned"] >= held
    venv = _rllib_venv()  # a runner that goes on (a new env) gets tasks again
    cb.on_episode_created(env=venv, env_index=0, env_runner=_runner(0), episode=_FakeEpisode())
    assert venv.envs[0]._pushed
    ray.kill(actor)


class _Named:
    """A factory-made client: a local teacher that records its name and whether it was closed."""

    def __init__(self, teacher, name=None):
        self.teacher, self.name, self.closed = teacher, name, 0

    def propose_with_info(self, k):
        return self.teacher.propose(k), [{"train": True}] * k

    def observe(self, task, score):
        self.teacher.observe(task, score)

    def close(self):
        self.closed += 1


def test_rllib_client_factory_clients_are_named_and_closed_like_the_default_client(local_ray, monkeypatch):
    # before: with client_factory= the callback called factory() with no name and never closed what it returned
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    callback = rllib_callback(client_factory=lambda name: _Named(teacher, name))
    cb, venv = callback(), _rllib_venv()
    cb.on_episode_created(env=venv, env_index=0, env_runner=_runner(2, evaluation=True), episode=_FakeEpisode())
    assert cb.client.name == callback.client_name(2, evaluation=True)
    venv.close()  # what RLlib's stop of the runner does
    assert cb.client.closed == 1
    # a factory that takes no name and makes an unnamed RayTeacher: the client takes the runner's name
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-rllib-factory")
    callback = rllib_callback(client_factory=lambda: RayTeacher("t-rllib-factory", prefetch=4))
    cb, venv = callback(), _rllib_venv()
    cb.on_episode_created(env=venv, env_index=0, env_runner=_runner(1), episode=_FakeEpisode())
    assert cb.client.name == callback.client_name(1)
    venv.close()
    assert ray.get(actor.counts.remote())["n_leased"] == 0  # closed: its prefetched tasks went back
    ray.kill(actor)


def test_rllib_factory_client_closed_with_a_remade_env_is_replaced_by_a_new_one():
    # before: the runner's env closed the factory's client (RLlib re-makes the env after a failure and the runner
    # goes on), and the callback went on using the closed client: a closed HTTPTeacher raised at every new episode
    teacher = mg.make_teacher("uniform", SPACE, seed=0)

    class Closable(_Named):
        def propose_with_info(self, k):
            assert not self.closed, "a closed client was used"
            return super().propose_with_info(k)

    made = []
    callback = rllib_callback(client_factory=lambda name: made.append(Closable(teacher, name)) or made[-1])
    cb = callback()
    for _ in range(2):  # the env, then the one RLlib makes in its place
        venv = _rllib_venv(2)
        for i in range(2):
            cb.on_episode_created(env=venv, env_index=i, env_runner=_runner(1), episode=_FakeEpisode())
        venv.reset(seed=0)
        venv.close()
    assert len(made) == 2 and [c.closed for c in made] == [2, 2]  # one client per env, closed with it
    assert made[1].name == callback.client_name(1)


def test_rllib_multi_agent_runners_of_two_tune_trials_are_named_apart(monkeypatch):
    # before: RLlib's MultiAgentEnvRunner keeps no tune_trial_id, so the runners of every Tune trial were named
    # with trial "default": a runner of one trial replaced (and released) the same-index runner of another
    from types import SimpleNamespace

    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    callback = rllib_callback(client_factory=lambda name: _Named(teacher, name))

    def name_in(group):
        monkeypatch.setattr(ray.util, "get_current_placement_group",
                            lambda: None if group is None else SimpleNamespace(id=SimpleNamespace(hex=lambda: group)))
        runner = SimpleNamespace(worker_index=1, config=SimpleNamespace(in_evaluation=False))  # no tune_trial_id
        cb = callback()
        cb.on_episode_created(env=_rllib_venv(1), env_index=0, env_runner=runner, episode=_FakeEpisode())
        return cb.client.name

    # each Tune trial runs its env runners in its own placement group, which stands for the trial id
    assert name_in("aa11") == callback.client_name(1, trial_id="pg-aa11") != name_in("bb22")
    assert name_in(None) == callback.client_name(1)  # outside any placement group (no Tune): "default"


def test_rllib_episodes_cut_by_a_stop_or_a_forced_reset_give_their_tasks_back(local_ray):
    # before: at algo.stop() (the runner closes its env) the running episodes' tasks and the task pushed for each
    # sub-env's next episode were never scored nor given back (proposed, then lost: a level teacher's new level never
    # played); a forced reset (each evaluation round) dropped them the same way
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-rllib-cut")
    cb, venv = _rllib_started("t-rllib-cut")
    venv.step(np.zeros(2, int))
    running = [venv.envs[i].task for i in range(2)]
    for i in range(2):  # a forced reset (RLlib's _reset_envs_and_episodes): new episodes, then a reset of all
        cb.on_episode_created(env=venv, env_index=i, env_runner=_runner(0), episode=_FakeEpisode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # abandoned and given back: not a cut episode to warn about
        venv.reset(seed=1)
    assert ray.get(actor.counts.remote())["n_returned"] == 2
    np.testing.assert_array_equal(ray.get(actor.propose.remote(2)), running)  # they come first
    finished = 0
    rng = np.random.default_rng(0)
    while not finished:
        _, _, term, trunc, _ = venv.step(rng.integers(0, 3, size=2))
        for i in np.flatnonzero(term | trunc):
            finished += 1
            cb.on_episode_end(env=venv, env_index=int(i), env_runner=_runner(0), episode=_FakeEpisode())
            cb.on_episode_created(env=venv, env_index=int(i), env_runner=_runner(0), episode=_FakeEpisode())
    venv.close()  # what SingleAgentEnvRunner.stop() does
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == finished and counts["n_leased"] == 0
    # every task proposed is scored or waits to be handed out again (the two taken by propose(2) above aside)
    assert counts["n_proposed"] == counts["n_observed"] + counts["n_returned"] + 2
    ray.kill(actor)


@ray.remote(num_cpus=0.25)
def _wrapped_worker(actor_name: str, episodes: int) -> int:
    client = RayTeacher(actor_name, prefetch=4, flush_every=5)
    env = CurriculumWrapper(CliffWalk(), client)  # the remote client is the wrapper's teacher
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, _, term, trunc, _ = env.step(int(rng.integers(0, 3)))
            done = term or trunc
    client.flush()
    return env.n_episodes


def test_remote_teacher_inside_the_gymnasium_wrapper(local_ray):
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-wrapped")
    done = ray.get([_wrapped_worker.remote("t-wrapped", 23) for _ in range(3)])
    assert done == [23, 23, 23]
    assert ray.get(actor.counts.remote())["n_observed"] == 69
    ray.kill(actor)


def test_remote_teacher_gives_proposal_infos_and_takes_external_scores(local_ray):
    teacher = mg.make_teacher("uniform", SPACE, seed=3)
    actor = start_teacher_actor(teacher)
    client = RayTeacher(actor, prefetch=4, flush_every=2)
    tasks, infos = client.propose_with_info(6)
    assert len(tasks) == 6 and all(i["train"] is True for i in infos)  # a teacher without infos: train on all
    env = CurriculumWrapper(gym.make("magister/CliffWalk-v0"), client, score="external")
    _, info = env.reset(seed=0)
    assert info["magister_train"] is True
    while True:
        _, _, term, trunc, final = env.step(env.action_space.sample())
        if term or trunc:
            break
    env.report([final["magister_task_id"]], [0.75])  # reaches the actor once flushed
    client.flush()
    assert ray.get(actor.counts.remote())["n_observed"] == 1


def test_remote_level_teacher_sends_evaluate_only_flags_and_takes_open_scores(local_ray):
    from magister.levels.spaces import SeedSpace

    teacher = mg.make_teacher("robust-plr", SeedSpace(), seed=0, replay_prob=0.5)
    actor = start_teacher_actor(teacher)
    client = RayTeacher(actor, prefetch=4, flush_every=1)
    tasks, infos = client.propose_with_info(2)
    assert all(i["train"] is False for i in infos)  # new levels: evaluate only
    client.observe_batch(tasks, [3.5, 0.25])  # learner-computed scores need not lie in [0, 1]
    client.flush()
    flags = [client.propose_with_info(1)[1][0]["train"] for _ in range(40)]
    assert any(flags) and not all(flags)  # replays are trained on, new levels are not


def _unhanded(client):
    """The tasks a client prefetched and has not handed out: its buffer, then a refill on its way."""
    tasks = [tuple(t) for t, _ in client._tasks]
    if client._pending is not None:
        tasks += [tuple(t) for t in ray.get(client._pending)[0]]
    return tasks


def test_tasks_a_gone_worker_prefetched_go_to_the_next_proposals(local_ray):
    # before: the tasks in a worker's prefetch buffer counted as proposed in the teacher, and when the worker
    # stopped or died they were never handed out to anyone (a level teacher's new levels never scored, its
    # replays never played)
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    handed = []

    def take(client, n):
        got = [tuple(client.propose()) for _ in range(n)]
        handed.extend(got)
        return got

    # a worker that stops: close() gives its buffer back
    a = RayTeacher(actor, prefetch=8, flush_every=1)
    for t in take(a, 4):  # the 4th leaves 4 buffered and requests a refill
        a.observe(t, 0.5)
    left = _unhanded(a)
    assert len(left) == 12
    a.close()
    b = RayTeacher(actor, prefetch=8, flush_every=1)
    assert take(b, 12) == left  # in order, before anything new
    # a worker that died: its replacement under the same name frees its lease
    c = RayTeacher(actor, prefetch=8, flush_every=1, name="worker-0")
    for t in take(c, 3):
        c.observe(t, 0.5)  # each batch of outcomes tells the actor how many tasks c handed out
    c.flush()
    left = _unhanded(c)
    assert len(left) == 5
    replacement = RayTeacher(actor, prefetch=8, name="worker-0")
    assert take(replacement, 5) == left
    # or the driver says so; tasks the dead worker handed out after its last message to the actor come again
    d = RayTeacher(actor, prefetch=8)
    take(d, 2)
    handed_since = handed[-2:]
    left = _unhanded(d)
    assert ray.get(actor.release.remote(d.client_id)) == 8
    e = RayTeacher(actor, prefetch=8)
    assert take(e, 8) == handed_since + left
    assert len(set(handed)) == len(handed) - len(handed_since)  # handed out once, but for the dead worker's
    for client in (b, replacement, e):
        client.close()
    counts = ray.get(actor.counts.remote())
    # every proposal was handed out or waits for the next worker: none lost
    assert counts["n_leased"] == 0 and counts["n_proposed"] == len(set(handed)) + counts["n_returned"]
    ray.kill(actor)


def test_the_ray_handle_is_named_for_what_it_is_and_the_old_name_warns():
    from magister.rl import ray as mg_ray

    with pytest.warns(DeprecationWarning, match="RayTeacher"):
        assert mg_ray.RemoteTeacher is mg_ray.RayTeacher


def test_a_bad_k_is_refused_before_the_prefetched_tasks_are_touched():
    # no cluster needed: the check comes before any call to the actor
    import threading

    client = RayTeacher.__new__(RayTeacher)
    client.prefetch, client._pending, client._lock = 32, object(), threading.RLock()
    client._tasks = [(np.array([0.1, 0.2]), {"train": True}), (np.array([0.3, 0.4]), {"train": True})]
    for bad in (-1, 0, 1.5, True, "2"):  # before: k=-1 handed out all but one buffered task and dropped them
        with pytest.raises(mg.errors.ConfigError, match="propose"):
            client.propose_with_info(bad)
        with pytest.raises(mg.errors.ConfigError, match="propose"):
            client.propose(bad)
    assert len(client._tasks) == 2
    tasks, infos = client.propose_with_info(1)
    assert np.allclose(tasks[0], [0.1, 0.2]) and infos == [{"train": True}] and len(client._tasks) == 1


class _Ref:
    """No cluster: a call of the real TeacherActor, run at once (a dead actor's call fails as Ray's do)."""

    def __init__(self, fn, dead=False):
        if dead:  # (a killed actor's calls fail with ActorDiedError; an actor Ray cannot reach, ActorUnavailableError)
            self.value, self.error = None, (ray.exceptions.ActorDiedError() if dead is True else dead)
            return
        try:
            self.value, self.error = fn(), None
        except Exception as e:  # noqa: BLE001 - handed to ray.get, as Ray does
            self.value, self.error = None, e


class _Handle:
    def __init__(self, actor):
        self.actor, self.dead = actor, False

    def __getattr__(self, name):
        import types

        method = getattr(self.actor, name)
        return types.SimpleNamespace(remote=lambda *a, **k: _Ref(lambda: method(*a, **k), self.dead))


def _no_cluster_actor(monkeypatch, teacher):
    """A handle of a real TeacherActor holding a copy of ``teacher``, with ray.get reading the results."""
    import types

    from magister.rl import ray as mg_ray

    def get(ref):
        if isinstance(ref, list):
            return [get(r) for r in ref]
        if ref.error is not None:
            raise ref.error
        return ref.value

    node = types.SimpleNamespace(get_node_id=lambda: "node")  # (one Ray connection, never shut down)
    monkeypatch.setattr(mg_ray, "ray", types.SimpleNamespace(get=get, is_initialized=lambda: True,
                                                             get_runtime_context=lambda: node))
    actor = mg_ray.TeacherActor(teacher.to_bytes())
    return actor, _Handle(actor)


def _no_cluster(monkeypatch, tmp_path):
    """A RayTeacher on a handle of a real TeacherActor (pfsp over a pool of 2) with ray.get reading the results."""
    from magister.opponents import OpponentPool

    pool = OpponentPool(tmp_path / "pool", max_ids=10)
    pool.add(b"a")
    pool.add(b"b")
    return _no_cluster_actor(monkeypatch, mg.make_teacher("pfsp", pool.space, pool=pool, seed=0))


def _refusal(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - compared by class and words
        return type(e), str(e)
    return None


def test_a_client_and_its_actor_refuse_a_bad_k_with_the_local_teachers_error(monkeypatch):
    # before: the client took k=np.array(2) (a local teacher refuses it) and refused k=True or 0 as "propose(k)
    # must be a whole number >= 1, got True; ...", where a local teacher says "propose(k) needs a positive whole
    # number of tasks, got k=True"; k=10**12 went to the actor, which refused it in Ray's wrapper
    from magister.teacher import MAX_PROPOSE

    local = mg.make_teacher("uniform", SPACE, seed=0)
    actor, handle = _no_cluster_actor(monkeypatch, local)
    client = RayTeacher(handle, prefetch=4)
    client.propose()  # (a buffer to keep)
    buffered = [t.tolist() for t, _ in client._tasks]
    for k in (np.array(2), np.array([2]), True, np.True_, 0, -1, 2.0, "2", np.timedelta64(2), MAX_PROPOSE + 1,
              10**12):
        said = _refusal(lambda: local.propose(k))
        assert said is not None and said[0] is mg.ConfigError, k
        assert _refusal(lambda: client.propose(k)) == said, k
        assert _refusal(lambda: client.propose_with_info(k)) == said, k
        assert _refusal(lambda: actor.propose(k)) == said, k
        assert _refusal(lambda: actor.propose_with_info(k, client.client_id, 1)) == said, k
    assert [t.tolist() for t, _ in client._tasks] == buffered and local.n_proposed == 0
    assert len(client.propose(np.int64(2))) == 2 and len(client.propose_with_info(np.uint8(3))[0]) == 3
    assert client.propose(None).shape == (2,)


def test_a_client_s_propose_with_info_without_k_gives_one_task_and_its_info_as_a_local_teacher(monkeypatch):
    # before: client.propose_with_info() raised a TypeError (k missing) and propose_with_info(None) was refused
    # ("propose(k) must be a whole number >= 1, got None"), where a local teacher gives (task, info)
    for local in (mg.make_teacher("uniform", SPACE, seed=0), mg.make_teacher("plr", mg.levels.SeedSpace(100), seed=0)):
        _, handle = _no_cluster_actor(monkeypatch, local)
        client = RayTeacher(handle, prefetch=4)
        for call in (client.propose_with_info, lambda: client.propose_with_info(None)):
            task, info = call()
            want_task, want_info = local.propose_with_info()
            assert np.array_equal(task, want_task) and info == want_info and isinstance(info, dict)
        tasks, infos = client.propose_with_info(2)
        assert len(tasks) == len(infos) == 2 and client._taken == 4


def test_a_prefetch_past_what_a_teacher_proposes_at_once_is_refused_where_it_is_given(monkeypatch):
    # before: RayTeacher(actor, prefetch=10**8) was built, and its first propose was refused in the actor ("propose(k)
    # draws at most 10,000,000 tasks at once, got k=100,000,000", a k never passed); rllib_callback(prefetch=0) (or
    # flush_every="4") was taken, and every env runner failed at its first episode, building its client
    from magister.teacher import MAX_PROPOSE

    _, handle = _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))
    for bad in (MAX_PROPOSE + 1, 10**8):
        with pytest.raises(mg.ConfigError, match=r"prefetch must be at most 10,000,000"):
            RayTeacher(handle, prefetch=bad)
        with pytest.raises(mg.ConfigError, match=r"prefetch must be at most 10,000,000"):
            rllib_callback("t", prefetch=bad)
    for settings in ({"prefetch": 0}, {"prefetch": "4"}, {"flush_every": 0}, {"flush_every": 2.5}):
        with pytest.raises(mg.ConfigError, match=next(iter(settings))):
            rllib_callback("t", **settings)
    assert len(RayTeacher(handle, prefetch=MAX_PROPOSE // 10**6).propose(3)) == 3
    assert rllib_callback("t", prefetch=np.int64(4), flush_every=1) is not None


class _Recording(_Handle):
    """A :class:`_Handle` that notes the name of every method called on it (``sent``): what reached the actor."""

    def __init__(self, actor):
        super().__init__(actor)
        self.sent = []

    def __getattr__(self, name):
        self.sent.append(name)
        return super().__getattr__(name)


_BAD_NAMES = [[1], {"a": 1}, {1}, np.array([1, 2]), np.array(3), ("w", 1), ([1],), 2.5, float("nan"), True,
              np.True_, b"w0"]


def test_a_client_name_that_is_not_a_text_or_a_whole_number_is_refused_before_anything_is_sent(monkeypatch):
    # before: RayTeacher(actor, name=[1]) asked the actor for its info, then failed inside its connect with Python's
    # raw "unhashable type: 'list'" (the actor had counted the client already); a float or a bool was taken (True
    # was the name 1), and the actor's connect / release(name=...) raised the same raw TypeError
    actor, _ = _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))
    handle = _Recording(actor)
    named = RayTeacher(handle, prefetch=4)
    handle.sent.clear()
    for bad in _BAD_NAMES:
        with pytest.raises(mg.errors.SettingTypeError, match=r"^name must be a text or a whole number \(a stable id "
                                                             r"of the worker, e\.g\. its index; .*\), or None; got "):
            RayTeacher(handle, name=bad)
        said = _refusal(lambda: RayTeacher(handle, name=bad))
        for call in (lambda: named.take_name(bad), lambda: actor.connect("c", bad), lambda: actor.release(name=bad)):
            assert _refusal(call) == said, bad  # the actor refuses it in the same words, called directly
    assert handle.sent == [] and named.name is None  # nothing reached the actor
    assert actor._clients == {named.client_id} and actor._names == {}  # and it changed nothing there
    index = RayTeacher(handle, prefetch=4, name=np.int64(3))  # a numpy index is the worker's index
    assert index.name == 3 and type(index.name) is int
    index.propose()
    assert actor.release(name=3) == 4 and RayTeacher(handle, name="w0").name == "w0"


def test_a_client_s_settings_are_refused_before_anything_is_sent(monkeypatch):
    # before: RayTeacher(handle, namespace=3) (or "", or True) was taken and ignored; RayTeacher("t", namespace=3)
    # failed in Ray's lookup with Ray's raw "namespace must be None or a string.", and rllib_callback(namespace=3)
    # was taken, so each env runner failed building its client
    actor, _ = _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))
    handle = _Recording(actor)
    for bad in (3, True, 2.5, [1], b"ns"):
        for call in (lambda: RayTeacher(handle, namespace=bad), lambda: RayTeacher("t", namespace=bad),
                     lambda: rllib_callback("t", namespace=bad)):
            with pytest.raises(mg.errors.SettingTypeError, match=r"^namespace must be a non-empty text \(the Ray "
                                                                 r"namespace the actor was started in\) or None"):
                call()
    for call in (lambda: RayTeacher(handle, namespace=""), lambda: rllib_callback("t", namespace="")):
        with pytest.raises(mg.ConfigError, match=r"^namespace must be a non-empty text .* got ''$"):
            call()
    for setting in ("prefetch", "flush_every"):
        for bad in (0, -1, 2.5, "3", True, None):
            with pytest.raises(mg.ConfigError, match=rf"^{setting} must be a whole number >= 1, got "):
                RayTeacher(handle, **{setting: bad})
    assert handle.sent == [] and actor._clients == set()
    assert RayTeacher(handle, namespace="ns").space == SPACE


def test_rllib_callback_refuses_an_actor_name_that_is_no_name_or_handle_where_it_is_given(monkeypatch):
    # before: rllib_callback(actor_name=3) (or [1], "", None) was taken, and each env runner failed at its first
    # episode building its client ("RayTeacher needs the teacher actor's name or its handle ..., got 3")
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    actor, _ = _no_cluster_actor(monkeypatch, teacher)
    handle = _Recording(actor)
    for bad in (3, True, 2.5, [1], b"t", None):
        with pytest.raises(mg.errors.SettingTypeError, match=r"^actor_name must be a non-empty text \(the name the "
                                                             r"teacher actor was started with: .*; or the actor's "
                                                             r"handle\)"):
            rllib_callback(bad)
    with pytest.raises(mg.ConfigError, match=r"^actor_name must be a non-empty text .* got ''$"):
        rllib_callback("")
    assert handle.sent == []
    callback = rllib_callback(handle, prefetch=2)()  # the actor's handle, as RayTeacher takes it
    assert callback.client.propose().shape == (2,) and "propose_with_info" in handle.sent
    assert rllib_callback(None, client_factory=lambda: teacher)().client is teacher  # (actor_name unused)
    assert rllib_callback("t", prefetch=2) is not None


def test_start_teacher_actor_refuses_a_bad_teacher_name_or_namespace_before_it_starts_anything(monkeypatch):
    # before: start_teacher_actor(3) started an actor (an int has a to_bytes too) that died at once, and returned its
    # handle; start_teacher_actor(None) raised a raw AttributeError; a bad name or namespace got Ray's raw TypeError
    # or ValueError ("The type of keyword 'name' must be ...")
    from magister.rl import ray as mg_ray

    _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))  # (a Ray that cannot start anything)
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    for bad in (3, None, b"teacher", mg.make_teacher("uniform", SPACE, seed=0).to_bytes()):
        with pytest.raises(mg.errors.SettingTypeError, match=r"^start_teacher_actor needs a magister teacher "
                                                             r"\(make_teacher\(\.\.\.\), or magister\.load\(path\) "
                                                             r"to resume\), got .*; nothing was started$"):
            mg_ray.start_teacher_actor(bad)

    class Served:  # (an HTTPTeacher's shape: a copy of the served teacher is its to_local())
        def to_local(self):
            return teacher

    with pytest.raises(mg.errors.SettingTypeError, match=r"nothing was started; for a copy of a served teacher, "
                                                         r"pass its to_local\(\)$"):
        mg_ray.start_teacher_actor(Served())
    for setting in ("name", "namespace"):
        for bad in (3, True, 2.5, [1], ""):
            error = mg.ConfigError if bad == "" else mg.errors.SettingTypeError
            with pytest.raises(error, match=rf"^{setting} must be a non-empty text \(.*\) or None \(.*\), got "):
                mg_ray.start_teacher_actor(teacher, **{setting: bad})


@pytest.mark.parametrize("make, bad", [
    (lambda: mg.make_teacher("uniform", SPACE, seed=0), [5.0, 5.0]),
    (lambda: mg.make_teacher("uniform", mg.spaces.Discrete(3), seed=0), 7),
    (lambda: mg.make_teacher("plr", mg.levels.SeedSpace(100), seed=0), 300),
], ids=["box", "discrete", "level"])
def test_a_client_refuses_bad_outcomes_with_the_local_teachers_error_and_keeps_nothing(monkeypatch, make, bad):
    # before: observe_batch with more scores than tasks was a ConfigError (a local teacher's is an
    # InvalidScoreError: `except InvalidScoreError` missed it), a masked score was recorded as the value it hid,
    # a set of scores or text were refused in other words, a bad task did not say nothing was recorded, and
    # observe(task, [0.5]) or observe(tasks, 0.5) named no fix
    local = make()
    actor, handle = _no_cluster_actor(monkeypatch, local)
    client = RayTeacher(handle, prefetch=4, flush_every=1)
    good = local.space.sample(np.random.default_rng(0))
    masked = np.ma.masked_array([0.5, 0.9], mask=[False, True])
    singles = [(good, float("nan")), (good, "0.5"), (good, None), (good, [0.5]), (bad, 0.5), (bad, float("nan")),
               ([good, good], 0.5), (good, np.ma.masked)]
    batches = [([good, good], [0.5]), ([], [0.5]), ([good], [0.5, 0.5]), ([good, good], masked), ([good], {0.5}),
               ([good], {0: 0.5}), ([good], "0.5"), ([good], None), ([bad], [0.5]), ([bad], [float("nan")]),
               ([bad, good], [0.5]), (5, [0.5])]
    if isinstance(local.space, mg.spaces.Box):  # (a level teacher takes any finite score)
        singles.append((good, 5.0))
        batches.append(([good], [5.0]))
    for args in singles:
        said = _refusal(lambda: local.observe(*args))
        assert said is not None and said == _refusal(lambda: client.observe(*args)), args
    for args in batches:
        said = _refusal(lambda: local.observe_batch(*args))
        assert said is not None and said == _refusal(lambda: client.observe_batch(*args)), args
    client.flush()
    assert local.n_observed == actor.counts()["n_observed"] == 0 and client.n_sent == 0
    client.observe(good, 0.5)
    client.observe_batch([good, good], np.ma.masked_array([0.25, 1.0], mask=[False, False]))
    local.observe(good, 0.5)
    local.observe_batch([good, good], [0.25, 1.0])
    remote = mg.loads(client.state_bytes())
    assert remote.n_observed == local.n_observed == 3 and remote.beliefs() == local.beliefs()


def test_a_batch_the_actor_refuses_raises_once_and_does_not_block_later_flushes(monkeypatch, tmp_path):
    # no cluster: the real TeacherActor and RayTeacher, with calls run at once and ray.get reading their results.
    # before: the refused batch's reference stayed in flight, so every later flush(), save() and close() raised
    # the same error again and the client could never save the teacher
    actor, handle = _no_cluster(monkeypatch, tmp_path)
    client = RayTeacher(handle, prefetch=4, flush_every=2)
    client.observe(0, 1.0)
    client.observe(7, 0.0)  # in the space, but the pool never handed id 7 out: the actor's teacher refuses the batch
    with pytest.raises(mg.InvalidTaskError, match="never added"):
        client.flush()
    client.flush()  # reported once
    client.observe(1, 1.0)
    client.observe(0, 0.5)
    assert actor.counts()["n_observed"] == 2
    assert mg.load(client.save(str(tmp_path / "t.ckpt"))).n_observed == 2
    # past the bound on batches in flight (8), the oldest are waited for when sending: a refusal raises there once
    client.observe_batch([7, 0], [0.0, 1.0])
    for _ in range(7):
        client.observe_batch([0, 1], [0.0, 1.0])
    with pytest.raises(mg.InvalidTaskError):
        client.observe_batch([0, 1], [0.0, 1.0])
    client.observe_batch([0, 1], [0.0, 1.0])
    client.close()
    assert actor.counts()["n_observed"] == 2 + 2 * 9


def test_a_flush_that_meets_a_refused_batch_and_a_dead_actor_says_both(monkeypatch, tmp_path):
    # before: the refused batch's error came first and hid the actor's death, so the outcomes lost with it were never
    # reported (the batches were forgotten: the next flush was quiet)
    from magister.rl import ray as mg_ray

    actor, handle = _no_cluster(monkeypatch, tmp_path)
    client = RayTeacher(handle, prefetch=4, flush_every=2)
    client.observe_batch([7, 0], [0.0, 1.0])  # the pool never handed id 7 out: the actor's teacher refuses the batch
    client.observe_batch([0, 1], [0.0, 1.0])  # applied
    handle.dead = True
    client.observe_batch([1, 0], [1.0, 1.0])  # never reaches the dead actor
    client.observe(0, 0.5)  # buffered, sent by the flush: lost too
    with pytest.raises(mg_ray.TeacherActorDiedError, match=r"last 3 outcome\(s\).*refused.*never added to the pool") as info:
        client.flush()
    assert isinstance(info.value.__cause__, mg.InvalidTaskError)  # (Ray's fields are on the error itself)
    client.flush()  # said once
    assert actor.counts()["n_observed"] == 2
    # a refusal alone is raised as it came; a dead actor alone names the lost outcomes only
    handle.dead = False
    client.observe_batch([7, 0], [0.0, 1.0])
    with pytest.raises(mg.InvalidTaskError, match="never added"):
        client.flush()
    handle.dead = True
    client.observe_batch([1, 0], [1.0, 1.0])
    with pytest.raises(mg_ray.TeacherActorDiedError, match=r"last 2 outcome\(s\).*new RayTeacher on it "
                                                          r"\(RayTeacher\(name\)\)\. Ray's error") as info:
        client.flush()
    assert isinstance(info.value.__cause__, ray.exceptions.ActorDiedError)
    # an actor Ray cannot reach (it may live on) is no death: a ConfigError naming the outcomes not sent again
    handle.dead = ray.exceptions.ActorUnavailableError("unreachable", None)
    client.observe_batch([1, 0], [1.0, 1.0])
    with pytest.raises(mg.ConfigError, match=r"could not reach.*last 2 outcome\(s\)") as info:
        client.flush()
    assert not isinstance(info.value, mg_ray.TeacherActorDiedError)


def test_a_dead_actor_met_past_the_bound_on_batches_in_flight_names_the_outcomes_lost(monkeypatch, tmp_path):
    # before: with more than 8 batches in flight, observe waited for the oldest and a dead actor raised Ray's raw
    # RayActorError there, with no count of the outcomes lost (flush and close already said how many)
    from magister.rl import ray as mg_ray

    actor, handle = _no_cluster(monkeypatch, tmp_path)
    client = RayTeacher(handle, prefetch=4, flush_every=2)
    client.observe_batch([0, 1], [0.0, 1.0])  # applied
    handle.dead = True
    for _ in range(8):  # in flight: 9 batches, the oldest (applied) waited for at the 9th
        client.observe_batch([1, 0], [1.0, 1.0])
    with pytest.raises(mg_ray.TeacherActorDiedError, match=r"actor died before this client's last 18 outcome\(s\)"):
        client.observe_batch([1, 0], [1.0, 1.0])  # waits for a batch the dead actor never applied
    client.flush()  # said once: every batch in flight was lost with it
    assert actor.counts()["n_observed"] == 2


def test_an_actor_that_ray_would_restart_from_its_start_up_teacher_is_refused():
    # Ray restarts an actor by running its constructor again, with the teacher's bytes from the start: every
    # outcome observed since was lost without an error. Refused before Ray is touched (no cluster needed).
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    for n in (1, -1):
        with pytest.raises(mg.ConfigError, match="max_restarts"):
            start_teacher_actor(teacher, max_restarts=n)


def test_a_max_restarts_that_is_no_whole_number_is_refused_for_its_type(monkeypatch):
    # before: max_restarts="0" (or "1", [0]) was refused with "a restarted teacher actor would start again ...",
    # which says nothing of its type, and 0.0 passed the check (0.0 == 0) to Ray's raw TypeError ("The type of
    # keyword 'max_restarts' must be (<class 'int'>, <class 'NoneType'>)")
    from magister.rl import ray as mg_ray

    _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))  # (a Ray that cannot start anything)
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    for bad in ("0", "1", 0.0, np.float64(0), 1.5, [0], True, False, np.array(0)):
        with pytest.raises(mg.errors.SettingTypeError, match=r"^max_restarts must be 0 or None \(Ray's count of "
                                                             r"restarts, a whole number; .*\), got "):
            mg_ray.start_teacher_actor(teacher, max_restarts=bad)
    for n in (1, -1, np.int64(2)):  # a whole number but 0: refused for what Ray would do, as before
        with pytest.raises(mg.ConfigError, match=r"^max_restarts=.*: a restarted teacher actor would start again"):
            mg_ray.start_teacher_actor(teacher, max_restarts=n)


def test_an_actor_started_with_max_restarts_0_or_none_starts(local_ray):
    # before: max_restarts=None, which the check takes (Ray's default, 0), reached Ray 2.60 and failed in it with a raw
    # "'>' not supported between instances of 'NoneType' and 'int'"; np.int64(0) got Ray's raw TypeError
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    for n in (0, None, np.int64(0)):
        actor = start_teacher_actor(teacher, max_restarts=n)
        assert ray.get(actor.counts.remote())["n_observed"] == 0
        ray.kill(actor)


def test_a_worker_that_goes_on_after_its_release_leases_no_more_and_loses_nothing(local_ray):
    # a worker the driver released while it was still alive (a mistake: release is for workers that are gone)
    # hands out what its buffer holds, but its next refill is refused with a clear error rather than leased to it
    # (a refill of a worker that did die can reach the actor after its release: leased, its tasks were lost); its
    # outcomes are still applied, and after its own close() it may go on with a new lease
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    handed = []
    w = RayTeacher(actor, prefetch=8, flush_every=1, name="w0")
    handed += [tuple(w.propose()) for _ in range(2)]  # 6 left in its buffer, 8 leased
    assert ray.get(actor.release.remote(name="w0")) == 8  # the driver thinks w0 died; it goes on
    other = RayTeacher(actor, prefetch=8)
    handed += [tuple(other.propose()) for _ in range(8)]  # the 8 released ones, 6 of them still held by w0
    for _ in range(6):  # its buffer; at 4 left it asks for a refill
        task = w.propose()
        handed.append(tuple(task))
        w.observe(task, 0.5)
    with pytest.raises(mg.ConfigError, match=r"was released \(by actor.release\(\)\).* proposed nothing"):
        w.propose()
    w.close()  # its own close: it may go on
    handed += [tuple(w.propose()) for _ in range(3)]  # a new lease
    for client in (w, other):
        client.close()
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == 6 and counts["n_leased"] == 0
    assert counts["n_proposed"] == len(set(handed)) + counts["n_returned"]  # none lost
    ray.kill(actor)


def test_returned_tasks_wait_on_when_the_teacher_fails_to_propose_the_rest():
    # before: the actor took the tasks of a gone worker off its queue, then asked the teacher for the rest; when
    # the teacher raised, the taken tasks were dropped: neither handed out nor waiting any more
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    actor.propose_with_info(4, "gone", 0)
    assert actor.release("gone") == 4

    def fail(k=None):
        raise RuntimeError("the teacher failed")

    actor.teacher.propose = actor.teacher.propose_with_info = fail
    for call in (lambda: actor.propose_with_info(6, "next", 0), lambda: actor.propose(6)):
        with pytest.raises(RuntimeError, match="the teacher failed"):
            call()
        assert actor.counts()["n_returned"] == 4
    assert len(actor.propose_with_info(4, "next", 0)[0]) == 4 and actor.counts()["n_returned"] == 0


def test_a_task_given_back_is_not_handed_out_again_when_its_client_is_released(local_ray):
    # before: give_back did not tell the actor the client had handed the task out, so it stayed in the client's
    # lease too: when the worker died and the driver released it (or a restarted runner took its name), the task
    # went back a second time and was played twice
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, name="w0")
    task = client.propose()  # prefetched 4, handed out 1 (the actor does not know yet)
    assert client.give_back([task]) == 1  # its episode was cut
    assert ray.get(actor.release.remote(name="w0")) == 3  # the worker died: the 3 it still held
    counts = ray.get(actor.counts.remote())
    assert counts["n_returned"] == 4 == counts["n_proposed"] and counts["n_leased"] == 0
    again = ray.get(actor.propose.remote(4))
    assert len({tuple(t) for t in again}) == 4  # each once
    ray.kill(actor)


def test_a_released_worker_that_gives_back_a_task_its_release_re_issued_does_not_queue_it_twice(local_ray):
    # before: the driver's release re-issued the whole lease, the task the worker had handed out after its last
    # message too; the worker went on (released by mistake, or its give-back sent before it died came late) and gave
    # that task back: it was queued a second time and handed out twice
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, name="w0")
    task = client.propose()  # prefetched 4, handed out 1 (the actor does not know yet)
    assert ray.get(actor.release.remote(name="w0")) == 4
    assert client.give_back([task]) == 0  # re-issued at the release already
    counts = ray.get(actor.counts.remote())
    assert counts["n_returned"] == 4 == counts["n_proposed"] and counts["n_leased"] == 0
    assert len({tuple(t) for t in ray.get(actor.propose.remote(4))}) == 4  # each once
    ray.kill(actor)


def test_a_give_back_after_a_release_queues_only_what_the_release_did_not():
    # the calls in the order Ray may deliver them (a dead worker's give-back after its replacement's connect or the
    # driver's release): a task the release re-issued is not queued again; one the actor knew handed out before the
    # release (so not re-issued) is
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    actor.connect("old", "w")
    tasks, infos = actor.propose_with_info(5, "old", 0)
    assert actor.observe_batch([tasks[0]], [0.5], "old", 0, 2)  # handed out 2 (settled), the first scored
    assert actor.connect("new", "w") == 3  # replaced: tasks 2..4 re-issued
    # it had handed out task 2 after its last message; the episodes of tasks 1 and 2 were cut
    assert actor.give_back("old", tasks[1:3], infos[1:3], 3) == 1
    queued = [tuple(t) for t in actor.propose(actor.counts()["n_returned"])]
    assert sorted(queued) == sorted(tuple(t) for t in tasks[1:5])  # each once
    # equal tasks (a finite space): the re-issued one the worker scored late is not the one it gives back
    actor = TeacherActor(mg.make_teacher("uniform", mg.Discrete(["a", "b"]), seed=0).to_bytes())
    actor.give_back(None, ["a", "b", "a"], [{"train": True}] * 3)  # the next lease, in this order
    assert actor.propose_with_info(3, "old", 0)[0] == ["a", "b", "a"]
    assert actor.observe_batch(["b"], [0.5], "old", 0, 2)  # handed out "a" and "b" (settled), "b" scored
    assert actor.release("old") == 1  # the second "a", handed out after that: re-issued
    assert actor.observe_batch(["a"], [0.5], "old", 1, 3)  # the second "a" scored (late)
    assert actor.give_back("old", ["a"], [{"train": True}], 3) == 1  # the first "a", cut: not re-issued yet
    assert actor.propose(2) == ["a", "a"]


def test_bad_tasks_or_infos_given_back_are_refused_and_change_nothing():
    # before: a task outside the space was queued and handed out to the next worker (whose wrapper refused it
    # there), and a bad info after a good one left the good one queued by a call that raised
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    tasks, infos = actor.propose_with_info(2, "c", 0)
    with pytest.raises(mg.ConfigError, match=r"pass one info dict \(the proposal's info\) per task"):
        actor.give_back("c", tasks, [infos[0], 5])
    with pytest.raises(mg.InvalidTaskError, match="outside the space"):
        actor.give_back("c", [tasks[0], [9.0, 9.0]], infos)
    with pytest.raises(mg.ConfigError, match="2 tasks and 1 infos"):
        actor.give_back("c", tasks, infos[:1])
    assert actor.counts()["n_returned"] == 0 and actor.counts()["n_leased"] == 2
    assert actor.give_back("c", tasks, infos, 2) == 2
    assert actor.counts()["n_returned"] == 2 and actor.counts()["n_leased"] == 0  # settled: handed out


def test_a_client_refuses_bad_give_backs_with_the_local_level_teachers_error_and_queues_nothing(monkeypatch):
    # before: give_back(5), give_back(np.array(3)), infos=5 or a None info raised Python's raw TypeError, a text
    # was given back as one task per character (Discrete(["a", "b"]): "ab" queued both) and a dict as its keys,
    # and the other refusals had other words than a local level teacher's
    from types import MappingProxyType

    local = mg.make_teacher("plr", mg.levels.SeedSpace(100), seed=0)
    actor, handle = _no_cluster_actor(monkeypatch, local)
    client = RayTeacher(handle, prefetch=4, flush_every=1)
    tasks, infos = client.propose_with_info(2)
    for args in [(5,), ("12",), (np.array(3),), ({3: 1},), ([300],), ([1, 2], [{}]), ([1], 5), ([1], "x"),
                 ([1], {"train": True}), ([1], [5])]:
        said = _refusal(lambda: local.give_back(*args))
        assert said is not None and said == _refusal(lambda: client.give_back(*args)), args
    assert actor.counts()["n_returned"] == 0
    assert client.give_back([tasks[0]], [None]) == 1  # (no info: as infos=None)
    assert client.give_back([tasks[1]], [MappingProxyType(infos[1])]) == 1  # (any mapping, as before)
    assert client.give_back((t for t in [7])) == 1
    again, again_infos = actor.propose_with_info(3)  # (the next proposals: the client's buffer holds others)
    assert again[:3] == [tasks[0], tasks[1], 7] and again_infos[:3] == [{"train": True}, infos[1], {"train": True}]
    other, other_handle = _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", mg.spaces.Discrete(["a", "b"])))
    named = RayTeacher(other_handle, prefetch=2, flush_every=1)
    with pytest.raises(mg.InvalidTaskError, match="give_back takes a list of tasks, got str 'ab'"):
        named.give_back("ab")
    assert other.counts()["n_returned"] == 0 and named.give_back(["a", "b"]) == 2


def test_a_client_drops_the_proposals_waiting_in_its_actor_s_level_teacher_as_the_local_teacher_does(monkeypatch):
    # before: neither the client nor the actor had drop_pending, so a run resumed from a checkpoint through a teacher
    # actor could drop the old run's proposals only on the teacher before starting the actor
    saved = mg.make_teacher("plr", mg.levels.SeedSpace(100), seed=0)
    tasks, infos = saved.propose_with_info(3)  # episodes of the old run, running when it was saved
    local = mg.loads(saved.to_bytes())
    actor, handle = _no_cluster_actor(monkeypatch, saved)
    client = RayTeacher(handle, prefetch=2, flush_every=4)
    client.observe(tasks[0], 0.5)  # buffered: answers its proposal first, as on the local teacher
    local.observe(tasks[0], 0.5)
    assert client.drop_pending() == local.drop_pending() == 2 and client.n_sent == 1
    assert client.drop_pending() == local.drop_pending() == 0
    assert mg.loads(client.state_bytes()).drop_pending() == 0
    client.propose()
    # every proposal waiting, as the local teacher's: the client's leases too (4 proposed: 2, and a refill of 2)
    assert actor.drop_pending() == 4
    _, handle = _no_cluster_actor(monkeypatch, mg.make_teacher("uniform", SPACE, seed=0))
    assert RayTeacher(handle).drop_pending() == 0  # (a teacher that keeps no proposals waiting)


@pytest.mark.parametrize("name, flag", [("robust-plr", "replay"), ("learnability", "evaluate")])
def test_a_level_teachers_actor_refuses_a_kind_flag_its_give_back_refuses(name, flag):
    # before: {"replay": 1} was queued (the level teacher refuses it since flags must be True or False), and every
    # later checkpoint failed with the teacher's ConfigError, as to_bytes gives the queued tasks back to a copy
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher(name, mg.Discrete(10), seed=0).to_bytes())
    tasks, infos = actor.propose_with_info(2, "c", 0)
    with pytest.raises(mg.ConfigError, match=rf"{flag!r} = 1; the flag must be True or False"):
        actor.give_back("c", tasks, [infos[0], {**infos[1], flag: 1}], 2)
    assert actor.counts()["n_returned"] == 0 and actor.counts()["n_leased"] == 2  # nothing changed
    assert actor.give_back("c", tasks, [infos[0], {**infos[1], flag: np.bool_(infos[1][flag])}], 2) == 2
    mg.loads(actor.to_bytes())  # the queued tasks given back to a copy: a checkpoint

def test_the_actor_refuses_a_bad_number_of_tasks_with_returned_tasks_waiting():
    # before: with returned tasks waiting, propose(-1) handed out all of them but one and propose(0) gave nothing
    # (the teacher itself refuses both); now both are refused and the returned tasks stay waiting
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    actor.propose_with_info(4, "gone", 0)
    assert actor.release("gone") == 4
    for k in (-1, 0, 2.5):
        for call in (lambda: actor.propose(k), lambda: actor.propose_with_info(k, "next", 0)):
            with pytest.raises(mg.ConfigError, match="propose"):
                call()
            assert actor.counts()["n_returned"] == 4


def test_copies_of_a_client_in_worker_processes_are_clients_of_their_own(local_ray):
    # before: a RayTeacher pickled into each env worker (an env_fn closing over it) kept its client_id, so the actor
    # took the copies' batches (numbered from 0 like the original's) for ones already applied and dropped them
    # without a word, and their leases were settled with each other's counts
    import pickle

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, flush_every=1, name="driver")
    client.observe(client.propose(), 0.5)  # buffered tasks and outcomes stay with the original
    copies = [pickle.loads(pickle.dumps(client)) for _ in range(2)]
    assert len({client.client_id, *(c.client_id for c in copies)}) == 3
    assert all(c.name is None and not c._tasks and not c._out_scores for c in copies)
    for c in copies:
        for _ in range(3):
            c.observe(c.propose(), 0.5)
        c.flush()
        c.close()
    client.close()
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == 7 and counts["n_leased"] == 0
    ray.kill(actor)


def test_a_copy_in_a_worker_takes_a_name_the_driver_can_release_it_by(local_ray):
    # before: a copy had no name (and no way to get one), so the tasks a copy prefetched in a worker that died
    # stayed leased for good: the driver could not know the copy's client id, and it had no name to release
    import pickle

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, name="driver")
    copy = pickle.loads(pickle.dumps(client))
    assert copy.name is None
    assert copy.take_name("worker-0") == 0
    copy.propose()  # prefetched 4; the worker then dies without closing
    assert ray.get(actor.counts.remote())["n_leased"] == 4
    assert ray.get(actor.release.remote(name="worker-0")) == 4
    assert ray.get(actor.counts.remote())["n_leased"] == 0
    with pytest.raises(mg.ConfigError, match="named 'driver' already"):
        client.take_name("other")
    client.close()
    ray.kill(actor)


def test_two_clients_of_one_actor_are_one_teacher_for_the_one_owner_check(local_ray, tmp_path):
    # before: check_one_owner compared teacher objects by identity, so an OpponentEnv(teacher=RayTeacher(actor))
    # in a CurriculumWrapper(env, RayTeacher(actor)) was accepted and the actor observed every game twice
    import pickle

    pytest.importorskip("pettingzoo")
    from pettingzoo.classic import tictactoe_v3

    from magister.errors import ConfigError
    from magister.opponents import OpponentPool
    from magister.rl.pettingzoo import OpponentEnv, game_score

    pool = OpponentPool(tmp_path / "pool", max_ids=10)
    pool.add(b"first")
    actor = start_teacher_actor(mg.make_teacher("fsp", pool.space, pool=pool, seed=0), name="one-owner")
    other = start_teacher_actor(mg.make_teacher("fsp", pool.space, pool=pool, seed=0))

    def first_move(data):
        return lambda obs: int(np.flatnonzero(obs["action_mask"])[0])

    def env(teacher):
        return OpponentEnv(tictactoe_v3.env, pool, first_move, teacher=teacher, report=False)

    client = RayTeacher(actor)
    for same in (RayTeacher(actor), RayTeacher("one-owner"), pickle.loads(pickle.dumps(client)), client):
        with pytest.raises(ConfigError, match="record every episode twice"):
            CurriculumWrapper(env(same), client, score=game_score)
    # clients of another actor, or an env without a teacher, are other owners
    CurriculumWrapper(env(RayTeacher(other)), client, score=game_score)
    wrapped = CurriculumWrapper(env(None), client, score=game_score)
    obs, _ = wrapped.reset(seed=0)
    term = trunc = False
    while not (term or trunc):
        obs, _, term, trunc, _ = wrapped.step(int(np.flatnonzero(obs["action_mask"])[0]))
    client.flush()
    assert ray.get(actor.counts.remote())["n_observed"] == 1
    ray.kill(actor)
    ray.kill(other)


class _Reporting(CliffWalk):
    """An env that reports its episodes to a teacher itself (as OpponentEnv does)."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher = teacher


def test_an_async_sub_env_reporting_to_the_vector_env_s_own_actor_is_refused(local_ray):
    # before: the one-owner check ran on the sync sub-envs only, so an async worker's env given a (pickled) client of
    # the vector env's own actor was accepted, and every episode would reach the actor twice; the worker now checks
    # its sub-env against the actor's id (the teacher itself stays in the main process)
    import functools
    import pickle

    from magister.rl import CurriculumVectorEnv

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="async-owner")
    other = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor)
    for same in (client, RayTeacher("async-owner"), pickle.loads(pickle.dumps(client))):
        with pytest.raises(mg.ConfigError, match="record every episode twice"):
            CurriculumVectorEnv([functools.partial(_Reporting, same)] * 2, client, vectorization="async")
    for fine in (RayTeacher(other), None):  # another actor's client, or none: accepted
        CurriculumVectorEnv([functools.partial(_Reporting, fine)] * 2, client, vectorization="async").close()
    ray.kill(actor)
    ray.kill(other)


def test_a_worker_closed_after_the_driver_released_it_gives_back_no_task_it_handed_out(local_ray):
    # before: close() counted only the tasks it released now as handed out, not what its buffer still held of a lease
    # the driver had released; a worker going on after its close() then had its first handouts of the next lease left
    # unsettled, and they were given out again at its next close()
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    handed = []
    w = RayTeacher(actor, prefetch=8, flush_every=1, name="w0")
    handed += [tuple(w.propose()) for _ in range(2)]  # 6 left in its buffer
    assert ray.get(actor.release.remote(name="w0")) == 8  # the driver thinks w0 died; it goes on
    other = RayTeacher(actor, prefetch=8)
    handed += [tuple(other.propose()) for _ in range(8)]
    handed += [tuple(w.propose()) for _ in range(2)]  # 4 still in its buffer, dropped at its close()
    w.close()
    handed += [tuple(w.propose()) for _ in range(6)]  # and goes on: a new lease
    for client in (w, other):
        client.close()
    n = ray.get(actor.counts.remote())["n_returned"]
    again = [tuple(t) for t in ray.get(actor.propose.remote(n))]
    assert not set(again) & set(handed)
    ray.kill(actor)


def _episodes(env: CurriculumWrapper, n: int) -> None:
    env.reset(seed=0)
    done = 0
    while done < n:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            done += 1
            env.reset()


def test_closing_a_wrapper_sends_what_its_copied_client_buffered_and_gives_its_tasks_back(local_ray):
    # before: CurriculumWrapper.close() left its teacher alone, so a RayTeacher copied into an env worker lost its
    # last outcomes (fewer than flush_every) and kept its prefetched tasks leased when the worker closed its env
    import pickle

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=8, flush_every=100)
    copy = pickle.loads(pickle.dumps(client))  # what an env_fn closing over the client gets in a worker
    env = CurriculumWrapper(CliffWalk(), copy)
    _episodes(env, 3)
    env.close()
    counts = ray.get(actor.counts.remote())
    # 4 tasks handed out (the first reset and one after each episode), 3 scored: the running episode's (never to be
    # scored, given back by the wrapper as a vector env's close does) and the rest prefetched go back, each once
    assert counts["n_observed"] == 3 and counts["n_leased"] == 0 and counts["n_returned"] == counts["n_proposed"] - 3
    # a client this process shares is flushed, not closed: its lease stays for the wrappers still using it
    shared = RayTeacher(actor, prefetch=8, flush_every=100)
    first, second = CurriculumWrapper(CliffWalk(), shared), CurriculumWrapper(CliffWalk(), shared)
    _episodes(first, 2)
    first.close()
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == 5 and counts["n_leased"] > 0
    _episodes(second, 1)
    second.close()
    shared.close()
    assert ray.get(actor.counts.remote())["n_observed"] == 6
    ray.kill(actor)


def test_closing_a_wrapper_after_ray_shutdown_starts_no_new_ray(local_ray):
    # before: CurriculumWrapper.close() (closing its copied client, flushing any other) after ray.shutdown() made
    # Ray start a new local cluster (seconds), then raised "Can't find actor" / "owner is unknown"
    import pickle

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=8, flush_every=1)  # every outcome sent: batches in flight, none buffered
    copied = CurriculumWrapper(CliffWalk(), pickle.loads(pickle.dumps(client)))
    shared = CurriculumWrapper(CliffWalk(), client)
    buffered = CurriculumWrapper(CliffWalk(), RayTeacher(actor, prefetch=8, flush_every=100))
    for env in (copied, shared, buffered):
        _episodes(env, 2)
    ray.shutdown()
    try:
        copied.close()
        shared.close()
        with pytest.raises(mg.ConfigError, match="shut down before this client sent its last 2 outcome"):
            buffered.close()
        buffered.close()  # said once
        assert not ray.is_initialized()
    finally:
        if not ray.is_initialized():  # (for the tests after this one)
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


def test_a_client_used_after_ray_shutdown_or_a_new_ray_init_starts_no_ray_and_says_what_to_do(local_ray, tmp_path):
    # before: propose / save / state_bytes / take_name after ray.shutdown() started a new local Ray (with every CPU
    # of the machine; the user's own ray.init(num_cpus=2) then failed as a second init) and raised Ray's bare
    # "Failed to submit task to actor ... Can't find actor"; after a new ray.init() the same raw error
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, flush_every=100)
    task = client.propose()
    ray.shutdown()
    try:
        calls = {"propose": lambda: client.propose(8), "buffered": client.propose,
                 "observe": lambda: client.observe(task, 0.5), "save": lambda: client.save(str(tmp_path / "t.ckpt")),
                 "bytes": client.state_bytes, "name": lambda: client.take_name("w")}
        for what, call in calls.items():
            with pytest.raises(mg.ConfigError, match=r"shut down \(ray.shutdown\(\)\).*start_teacher_actor"):
                call()
            assert not ray.is_initialized(), what
        assert client.give_back([task]) == 0
        client.close()  # quiet: nothing was buffered
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        for what, call in calls.items():
            with pytest.raises(mg.ConfigError, match="started again"):
                call()
        assert client.give_back([task]) == 0
        client.close()
        fresh = RayTeacher(start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0)))  # the way on
        fresh.observe(fresh.propose(), 0.5)
        fresh.close()
    finally:
        if not ray.is_initialized():  # (for the tests after this one)
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


def test_releasing_a_client_or_a_name_the_actor_never_saw_is_refused():
    # before: release() of a mistyped id or name (name=3 for a worker started with name="3") returned 0 without a
    # word, and the driver believed it had freed the dead worker's tasks, which stayed leased
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    actor.connect("c0", "3")
    actor.propose_with_info(4, "c0", 0)
    for call in (lambda: actor.release("no-such-client"), lambda: actor.release(name=3)):
        with pytest.raises(mg.ConfigError, match=r"ever called this actor \(the names it knows: \['3'\].* "
                                                 r"missing_ok=True"):
            call()
    with pytest.raises(mg.ConfigError, match="client's id"):
        actor.release()
    assert actor.counts()["n_leased"] == 4  # nothing was released
    assert actor.release(name="w9", missing_ok=True) == 0  # a worker that may have died before its client started
    assert actor.release(name="3") == 4
    assert actor.release(name="3") == actor.release("c0") == 0  # released already: nothing more, no error
    assert actor.leave("a-copy-closed-before-its-first-call", 0) == 0  # the client's own close is never refused


def test_a_late_refill_of_a_released_worker_leases_it_nothing():
    # before: Ray does not order the calls of different callers, so a refill a dead worker sent before it died
    # could reach the actor after the driver released it (or after its replacement connected): its tasks were
    # leased to a worker that was gone and never handed out nor re-issued. The calls here come in that order
    from magister.rl.ray import TeacherActor

    actor = TeacherActor(mg.make_teacher("uniform", SPACE, seed=0).to_bytes())
    actor.connect("dead", "w1")
    actor.propose_with_info(4, "dead", 0)
    assert actor.release(name="w1") == 4
    with pytest.raises(mg.ConfigError, match=r"client dead was released \(by actor.release\(\)\).* proposed "
                                             r"nothing"):
        actor.propose_with_info(4, "dead", 2)
    assert actor.counts() == {"n_observed": 0, "n_proposed": 4, "n_leased": 0, "n_returned": 4}
    assert actor.observe_batch([np.array([0.1, 0.2])], [0.5], "dead", 0, 2)  # its outcomes still count
    # replaced by a client of the same name
    actor.connect("old", "w2")
    actor.propose_with_info(3, "old", 0)
    assert actor.connect("new", "w2") == 3
    with pytest.raises(mg.ConfigError, match="replaced by a new client named 'w2'"):
        actor.propose_with_info(2, "old", 1)
    counts = actor.counts()
    assert counts["n_leased"] == 0 and counts["n_returned"] == 4 and counts["n_proposed"] == 4  # (3 re-issued)
    # a client that closed itself may go on: its later calls come after its close
    actor.propose_with_info(7, "new", 0)
    assert actor.leave("new", 2) == 5
    assert len(actor.propose_with_info(2, "new", 7)[0]) == 2 and actor.counts()["n_leased"] == 2
    # and so may one released by the driver, once it closed itself
    assert actor.release("new") == 2
    actor.leave("new", 9)
    assert len(actor.propose_with_info(1, "new", 9)[0]) == 1


def test_closing_a_wrapper_after_the_actor_died_is_quiet_unless_outcomes_are_lost(local_ray):
    # before: with the teacher actor killed first, closing a wrapper whose teacher was a copied RayTeacher raised
    # ActorDiedError (giving its prefetched tasks back) though nothing was buffered; now that is quiet, and outcomes
    # that never reached the actor are reported lost, once
    import pickle

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=8, flush_every=1)
    copied = CurriculumWrapper(CliffWalk(), pickle.loads(pickle.dumps(client)))
    copied.reset(seed=0)  # tasks prefetched, no outcome
    shared = CurriculumWrapper(CliffWalk(), client)
    _episodes(shared, 2)
    client.flush()  # every outcome applied
    buffered = CurriculumWrapper(CliffWalk(), pickle.loads(pickle.dumps(RayTeacher(actor, flush_every=100))))
    _episodes(buffered, 2)
    ray.kill(actor)
    copied.close()
    shared.close()
    with pytest.raises(mg.ConfigError, match="actor died before this client's last 2 outcome"):
        buffered.close()
    buffered.close()  # said once


def _cliff_env(client):
    return lambda: CurriculumWrapper(CliffWalk(), client)


def test_a_client_copied_into_spawned_async_workers_connects_to_the_driver_s_actor(local_ray):
    # before: a RayTeacher pickled into an AsyncVectorEnv worker started with context="spawn" could not be unpickled
    # there (the worker had no Ray connection: "Ray has not been started yet"), so the vector env failed to start;
    # now the copy connects to the driver's cluster and finds the actor by its name (and namespace) at first use
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-spawned-workers")
    client = RayTeacher("t-spawned-workers", prefetch=4, flush_every=2)
    venv = gym.vector.AsyncVectorEnv([_cliff_env(client)] * 2, context="spawn")
    ended = 0
    try:
        venv.reset_async(seed=0)
        venv.reset_wait(timeout=120)  # (a guard against a hang, not a timing check)
        while ended < 6:
            venv.step_async(venv.action_space.sample())
            _, _, term, trunc, _ = venv.step_wait(timeout=120)
            ended += int(np.sum(term | trunc))
    finally:
        venv.close()  # each worker closes its copy: its last outcomes reach the actor, its prefetched tasks go back
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == ended and counts["n_leased"] == 0
    assert client.n_sent == 0  # the workers' copies reported, not the driver's client
    ray.kill(actor)


def test_a_client_inherited_through_fork_fails_fast_naming_the_fix(local_ray):
    # before: a RayTeacher in a worker of AsyncVectorEnv(context="fork") (Linux's default) hung at the first reset:
    # Ray does not survive a fork
    import multiprocessing as mp

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-forked-workers")
    client = RayTeacher("t-forked-workers", prefetch=4)
    venv = gym.vector.AsyncVectorEnv([_cliff_env(client)], context="fork")
    try:
        venv.reset_async(seed=0)
        with pytest.raises(mg.ConfigError, match="fork.*context='spawn'.*CurriculumVectorEnv"):
            venv.reset_wait(timeout=60)  # (a guard against a hang: mp.TimeoutError, not a timing check)
    except mp.TimeoutError:
        pytest.fail("the forked worker's client hung")
    finally:
        venv.close(terminate=True)
    assert client.propose() in SPACE  # the client still works in the process that built it
    client.close()
    ray.kill(actor)


def _propose_in_child(client):
    try:
        return "proposed", client.propose()
    except mg.ConfigError as e:
        return "refused", str(e)


def test_a_copy_sent_to_a_forked_process_fails_fast_naming_the_fix(local_ray):
    # before: a client pickled into a process forked from the driver (a multiprocessing.Pool() worker, Linux's 'fork')
    # took the fork's inherited Ray connection as its own and hung at the first propose: the fork check compared
    # only the client's process, which is the child's for a copy unpickled there
    import multiprocessing as mp

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-copy-in-fork")
    client = RayTeacher("t-copy-in-fork", prefetch=4)
    with mp.get_context("fork").Pool(1) as pool:
        try:
            got = pool.apply_async(_propose_in_child, (client,)).get(timeout=60)
        except mp.TimeoutError:
            pytest.fail("the copy in the forked process hung")
        finally:
            pool.terminate()
    assert got[0] == "refused" and "forked from a process connected to Ray" in got[1] and "'spawn'" in got[1]
    assert client.propose() in SPACE  # the client still works in the process that built it
    client.close()
    ray.kill(actor)


def test_a_copy_of_a_client_built_from_a_bare_handle_says_how_to_reach_the_actor_without_ray(local_ray, monkeypatch):
    # before: unpickling such a copy in a process without Ray raised Ray's "Ray has not been started yet" inside the
    # worker's start-up; a copy of a named client connects there, one of a handle (no name to look up) is refused
    import pickle

    from magister.rl import ray as mg_ray

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    data = pickle.dumps(RayTeacher(actor, prefetch=4))
    monkeypatch.setattr(mg_ray.ray, "is_initialized", lambda: False)  # a process without a Ray connection
    copy = pickle.loads(data)
    assert copy.teacher_key() == ("ray-actor", actor._actor_id.binary())  # known without connecting
    with pytest.raises(mg.ConfigError, match=r"built from an actor handle.*RayTeacher\('teacher'\)"):
        copy.propose()
    copy.close()  # never connected: it leased nothing, and closes quietly
    monkeypatch.undo()
    ray.kill(actor)


def test_a_copy_used_after_the_cluster_it_was_pickled_in_is_gone_says_so_and_starts_nothing(local_ray, monkeypatch):
    # before: a client pickled into a worker, whose first use came after the driver's ray.shutdown(), hung in
    # ray.init(address=...) of the cluster that was gone (Ray retried it for some 20 minutes), at propose, at a
    # flush and at close (closing the env that held it)
    import pickle
    import socket

    from magister.rl import ray as mg_ray

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-cluster-gone")
    data = pickle.dumps(RayTeacher("t-cluster-gone", prefetch=4, flush_every=100))
    with socket.socket() as free:  # an address where nothing listens: the gone cluster's
        free.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{free.getsockname()[1]}"
    monkeypatch.setattr(mg_ray.ray, "is_initialized", lambda: False)  # a process without a Ray connection

    def no_init(*args, **kwargs):
        raise AssertionError(f"ray.init{args, kwargs} (it hung, for a cluster that is gone)")

    monkeypatch.setattr(mg_ray.ray, "init", no_init)
    copy = pickle.loads(data)
    copy._remote = dict(copy._remote, address=gone)
    for call in (copy.propose, lambda: copy.propose_with_info(2), lambda: copy.actor):
        with pytest.raises(mg.ConfigError, match=rf"actor 't-cluster-gone' .* at {gone}, and nothing answers there "
                                                 r".*shut down.*Nothing was sent"):
            call()
    copy.observe(SPACE.sample(np.random.default_rng(0)), 0.5)  # (buffered: sent at a flush)
    with pytest.raises(mg.ConfigError, match=r"nothing answers there.*The 1 outcome\(s\) this copy buffered are lost"):
        copy.flush()
    copy.flush()  # said once
    copy.close()
    monkeypatch.undo()
    # where the cluster answers, the copy connects as before (here through the live connection)
    live = pickle.loads(data)
    assert live.propose() in SPACE
    live.close()
    ray.kill(actor)


def test_threads_sharing_one_client_hand_out_each_task_once_and_lose_no_outcome(local_ray):
    # before: the client's buffers, batch numbers and count of tasks handed out were shared by threads unguarded:
    # two threads sent one batch number (the actor skipped the second batch as a retry: outcomes lost), a batch
    # went out with more scores than tasks (refused by the actor), and tasks handed out went uncounted (their
    # lease never settled). Switching threads every microsecond makes those interleavings happen in every run
    import pickle
    import sys
    import threading

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=8, flush_every=4)
    n_threads, n = 4, 500
    handed: list[tuple[float, ...]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(index: int) -> None:
        try:
            start.wait()
            for i in range(n):
                task = client.propose()
                handed.append(tuple(task))
                client.observe(task, float(task[0]))
                if i % 97 == index:  # a flush now and then, beside the others' sends
                    client.flush()
        except BaseException as e:  # noqa: BLE001 - asserted below, in the test's thread
            errors.append(e)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    assert len(handed) == len(set(handed)) == n_threads * n  # no task handed out twice (uniform: all distinct)
    assert client._taken == n_threads * n
    client.close()
    counts = ray.get(actor.counts.remote())
    assert counts["n_observed"] == n_threads * n  # every outcome reached the actor, once
    # every lease settled: each proposal was handed out once or waits for the next client
    assert counts["n_leased"] == 0 and counts["n_proposed"] == n_threads * n + counts["n_returned"]
    copy = pickle.loads(pickle.dumps(client))  # a copy gets a lock of its own (a lock does not pickle)
    assert copy._lock is not client._lock and copy.propose() in SPACE
    copy.close()
    ray.kill(actor)


_INHERITED: dict[str, RayTeacher] = {}


def _close_inherited() -> str:
    client = _INHERITED["client"]
    client.flush()
    client.close()
    try:
        client.propose()
    except mg.ConfigError as e:
        return str(e)
    return "proposed"


def test_a_client_inherited_through_fork_while_a_thread_held_its_lock_does_not_hang(local_ray):
    # the lock of a client inherited through fork() may be held by a thread of the parent, which does not exist in
    # the child (it is never released there): flush() and close() do nothing there, and a propose raises, as before
    import multiprocessing as mp
    import threading

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4)
    _INHERITED["client"] = client
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with client._lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    try:
        with mp.get_context("fork").Pool(1) as pool:  # forked now, with the lock held by the holder thread
            try:
                got = pool.apply_async(_close_inherited).get(timeout=60)  # (a guard against a hang, not timing)
            except mp.TimeoutError:
                pytest.fail("the inherited client's lock hung the forked process")
            finally:
                pool.terminate()
    finally:
        release.set()
        holder.join()
        _INHERITED.clear()
    assert "fork" in got and "'spawn'" in got
    assert client.propose() in SPACE  # the client still works in the process that built it
    client.close()
    ray.kill(actor)


def test_a_teacher_actor_started_from_an_opponent_teacher_takes_the_pool_as_it_is_when_it_starts(tmp_path):
    # the actor starts after start_teacher_actor returns, while the driver adds snapshots and reports games: the
    # bytes' pool state is older than the pool by then, and a checkpoint load would refuse it (a moved-on pool)
    from magister.opponents import OpponentPool
    from magister.rl import ray as mg_ray

    pool = OpponentPool(tmp_path / "pool", max_size=2, max_ids=10)
    pool.add(b"a")
    pool.add(b"b")
    data = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0).to_bytes()
    pool.add(b"c")  # evicts 0 before the actor is up
    pool.report(2, "win")
    with pytest.raises(mg.CheckpointError, match="changed since this state was saved"):
        mg.loads(data)
    actor = mg_ray.TeacherActor(data)
    assert actor.teacher.pool.ids == [1, 2] and set(np.asarray(actor.teacher.propose(20)).tolist()) <= {1, 2}


def _wait_until_dead(actor):
    """Return once a call of ``actor`` (killed) fails as its death: its name is free then (ray.kill does not wait)."""
    for _ in range(100_000):
        try:
            ray.get(actor.counts.remote())
        except ray.exceptions.ActorDiedError:
            return
    raise AssertionError("the killed actor still answers")


def test_a_client_of_a_dead_actor_says_what_happened_and_how_to_go_on_as_ray_s_error(local_ray, tmp_path):
    # before: propose / save of a client whose actor was killed (then started again under its name, from its
    # checkpoint) raised Ray's bare ActorDiedError "The actor died unexpectedly before finishing this task."
    from ray.exceptions import ActorDiedError, RayActorError

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-dies")
    client = RayTeacher("t-dies", prefetch=4, flush_every=100)
    task = client.propose()
    client.observe(task, 0.5)
    path = client.save(str(tmp_path / "t.ckpt"))
    ray.kill(actor)
    _wait_until_dead(actor)
    resumed = start_teacher_actor(mg.load(path), name="t-dies")
    buffered, taken = list(client._tasks), client._taken
    calls = {"propose": lambda: client.propose(8), "save": lambda: client.save(str(tmp_path / "u.ckpt")),
             "bytes": client.state_bytes, "name": lambda: client.take_name("w")}
    for what, call in calls.items():
        with pytest.raises(mg.ConfigError, match=r"teacher actor .*died.*start_teacher_actor\(magister.load"
                                                 r"\(path\), name=...\).*new RayTeacher") as info:
            call()
        assert isinstance(info.value, ActorDiedError) and isinstance(info.value, RayActorError), what
        assert info.value.actor_id == actor._actor_id.hex(), what  # Ray's own fields, as Ray gave them
        assert isinstance(info.value.__cause__, ActorDiedError), what
        assert [t for t, _ in client._tasks] == [t for t, _ in buffered] and client._taken == taken, what
    assert client.name is None and not (tmp_path / "u.ckpt").exists()
    fresh = RayTeacher("t-dies")  # the way on
    fresh.observe(fresh.propose(), 0.5)
    fresh.flush()
    assert ray.get(resumed.counts.remote())["n_observed"] == 2
    ray.kill(resumed)


def test_outcomes_lost_to_a_killed_actor_raise_the_catchable_actor_died_error_once(local_ray, tmp_path):
    # before: flush() / close() losing outcomes to a dead actor raised a plain ConfigError (not Ray's ActorDiedError,
    # not TeacherActorDiedError), so `except TeacherActorDiedError` / `except RayActorError` missed it
    from ray.exceptions import ActorDiedError

    from magister.rl.ray import TeacherActorDiedError

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor, prefetch=4, flush_every=100)
    closing = RayTeacher(actor, prefetch=4, flush_every=100)
    for c in (client, closing):
        c.observe_batch(c.propose(3), [0.5, 0.5, 0.5])
    client.flush()
    client.observe_batch(client.propose(2), [1.0, 0.0])  # buffered: never reaches the actor
    ray.kill(actor)
    _wait_until_dead(actor)
    with pytest.raises(TeacherActorDiedError, match=r"actor died before this client's last 2 outcome\(s\).*"
                                                    r"start_teacher_actor\(magister.load\(path\), name=...\).*"
                                                    r"new RayTeacher") as info:
        client.flush()
    assert isinstance(info.value, ActorDiedError) and isinstance(info.value, mg.ConfigError)
    assert info.value.actor_id == actor._actor_id.hex() and isinstance(info.value.__cause__, ActorDiedError)
    client.flush()  # said once
    client.close()  # nothing left to lose: quiet
    with pytest.raises(TeacherActorDiedError, match=r"last 3 outcome\(s\)"):
        closing.close()
    closing.close()


def test_a_client_of_an_actor_name_that_is_not_there_says_why_and_starts_no_ray(local_ray, monkeypatch):
    # before: RayTeacher("typo") raised Ray's raw lookup ValueError; RayTeacher(123) an AttributeError ("'int'
    # object has no attribute 'info'"); and RayTeacher(name) in a process without ray.init() started a new local
    # Ray (every CPU of the machine), which has no such actor, then failed with Ray's lookup error
    from magister.rl import ray as mg_ray

    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0), name="t-there")
    with pytest.raises(mg.ConfigError, match=r"no live actor named 't-herre'.*'t-there'.*start_teacher_actor\("
                                             r"teacher, name='t-herre'\).*namespace=") as info:
        RayTeacher("t-herre")
    assert isinstance(info.value, ValueError)  # (what Ray raised: code catching it goes on working)
    with pytest.raises(mg.ConfigError, match="the teacher actor's name or its handle"):
        RayTeacher(123)
    assert RayTeacher("t-there").propose(2) is not None  # the name as started
    ray.kill(actor)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # (with it set, the client connects to that cluster)
    monkeypatch.setattr(mg_ray.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(mg_ray.ray, "get_actor", lambda *a, **k: pytest.fail("ray.get_actor would start a Ray"))
    with pytest.raises(mg.ConfigError, match=r"Ray is not initialised.*ray.init\(\).*nothing was started"):
        RayTeacher("t-there")


def test_a_client_of_a_name_not_in_the_namespace_it_names_lists_the_actors_of_that_namespace(local_ray):
    # before: the "no live actor" error listed the named actors of the job's own namespace (list_named_actors()),
    # whatever namespace= it had searched: "no live actor named 't-gone' in namespace 'magister-elsewhere' (named
    # actors there: ['t-own-ns', ...])", where 't-own-ns' is not there
    teacher = mg.make_teacher("uniform", SPACE, seed=0)
    own = start_teacher_actor(teacher, name="t-own-ns")
    other = start_teacher_actor(teacher, name="t-other-ns", namespace="magister-elsewhere")
    with pytest.raises(mg.ConfigError) as info:
        RayTeacher("t-gone", namespace="magister-elsewhere")
    assert "in namespace 'magister-elsewhere' (named actors there: ['t-other-ns'])" in str(info.value)
    with pytest.raises(mg.ConfigError) as info:  # the job's own namespace, as before
        RayTeacher("t-gone")
    assert "in this job's namespace (named actors there: [" in str(info.value)
    assert "t-other-ns" not in str(info.value)
    assert RayTeacher("t-other-ns", namespace="magister-elsewhere").propose(2) is not None
    ray.kill(own)
    ray.kill(other)


def test_a_client_built_by_name_in_a_ray_job_without_ray_init_connects_to_the_jobs_cluster(local_ray):
    # a Ray job's script (ray job submit sets RAY_ADDRESS) may leave ray.init() out: Ray's first call connects to
    # the cluster, and RayTeacher(name) found its actor so; the check that Ray is initialised (so that no new local
    # Ray starts) refused it. With RAY_ADDRESS set the client connects to that cluster, which starts no Ray.
    import os
    import subprocess
    import sys

    actor = start_teacher_actor(mg.make_teacher("uniform", mg.Discrete(4), seed=0), name="t-in-a-job")
    namespace = ray.get_runtime_context().namespace
    script = ("import ray\nfrom magister.rl.ray import RayTeacher\n"
              f"client = RayTeacher('t-in-a-job', namespace={namespace!r})\n"
              "print('proposed', len(client.propose(3)), ray.is_initialized())\n")
    path = os.pathsep.join(p for p in (os.path.dirname(os.path.dirname(mg.__file__)), os.environ.get("PYTHONPATH"))
                           if p)
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert "proposed 3 True" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    ray.kill(actor)


def test_a_client_tells_its_ray_connection_from_a_later_one_without_asking_ray_for_the_node_id(local_ray, monkeypatch):
    # before: every call that reached the actor asked Ray for the node id (about 2.5 us of a buffered propose; a
    # network round trip with Ray Client) to tell a shutdown and new ray.init() apart. Ray's per-connection object
    # is found on this Ray (else every client falls back to the node id)
    from magister.rl import ray as mg_ray

    assert mg_ray._connection_object() is not None
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))
    client = RayTeacher(actor)
    assert client._node._ref is not None and client._gone() is None
    ray.kill(actor)

    class Connection:
        pass

    now = [Connection()]
    monkeypatch.setattr(mg_ray, "_connection_object", lambda: now[0])
    monkeypatch.setattr(mg_ray, "_node_id", lambda: pytest.fail("asked Ray for the node id"))
    link = mg_ray._Connection()
    assert link.lasts()
    now[0] = Connection()  # a new connection (the first one dropped by Ray: its weak reference is dead)
    assert not link.lasts()
    # where the object is not found (another Ray), the node id, as before
    nodes = ["n1"]
    monkeypatch.setattr(mg_ray, "_connection_object", lambda: None)
    monkeypatch.setattr(mg_ray, "_node_id", lambda: nodes[0])
    link = mg_ray._Connection()
    assert link.lasts()
    nodes[0] = "n2"
    assert not link.lasts()


def test_a_ray_client_of_an_opponent_teacher_gets_the_pool_s_space_so_recommend_names_an_opponent_teacher(
        monkeypatch, tmp_path):
    # before: the client rebuilt its space from the spec, which does not name the pool, so
    # recommend(client.space) said 'sec' for a pfsp teacher's actor
    actor, handle = _no_cluster(monkeypatch, tmp_path)
    client = RayTeacher(handle)
    assert client.space.opponent_pool == str(tmp_path / "pool")
    assert mg.recommend(client.space).name in {"pfsp", "fsp", "self-play", "opponent-lp"}
    assert client.space == actor.teacher.space  # (not part of equality)
    client.close()


def test_a_refusal_inside_the_actor_reaches_the_client_as_the_local_teachers_error(local_ray, tmp_path):
    # before: it came back in Ray's wrapper, class RayTaskError(InvalidTaskError), its message opening with Ray's
    # header and the actor's traceback ("ray::TeacherActor.observe_batch() (pid=..., ip=..., actor_id=...)")
    from ray.exceptions import RayTaskError

    from magister.opponents import OpponentPool

    pool = OpponentPool(tmp_path / "pool", max_ids=10)
    pool.add(b"a")
    pool.add(b"b")
    local = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    actor = start_teacher_actor(local)
    client = RayTeacher(actor, prefetch=2, flush_every=2)
    said = _refusal(lambda: local.observe_batch([0, 7], [1.0, 0.0]))
    assert said is not None and said[0] is mg.InvalidTaskError and "never added" in said[1]
    client.observe(0, 1.0)
    client.observe(7, 0.0)  # in the space, but the pool never handed id 7 out: only the actor's teacher knows
    with pytest.raises(mg.InvalidTaskError) as info:
        client.flush()
    assert (type(info.value), str(info.value)) == said
    assert isinstance(info.value.__cause__, RayTaskError) and "observe_batch" in str(info.value.__cause__)
    # past the bound on batches in flight, met while sending: the same
    client.observe_batch([0, 7], [1.0, 0.0])
    for _ in range(7):
        client.observe_batch([0, 1], [0.0, 1.0])
    assert _refusal(lambda: client.observe_batch([0, 1], [0.0, 1.0])) == said  # (the 9th batch in flight)
    # a refusal of the actor itself: a refill of a client the driver released
    client.propose()
    ray.get(actor.release.remote(client.client_id))
    with pytest.raises(mg.ConfigError, match=r"^client \w+ was released \(by actor.release\(\)\)") as info:
        client.propose(4)
    assert type(info.value) is mg.ConfigError and isinstance(info.value.__cause__, RayTaskError)
    client.flush()
    assert ray.get(actor.counts.remote())["n_observed"] == 2 * 8  # (the refused batches: nothing)
    ray.kill(actor)


def test_a_raw_error_of_the_actor_s_teacher_reaches_the_client_as_the_local_teacher_raises_it(local_ray):
    # before: a teacher's own ValueError came in Ray's wrapper, class RayTaskError(ValueError), its args the error
    # itself and its message Ray's header and the actor's traceback; and it did not pickle, so a worker process
    # (an AsyncVectorEnv's, a Pool's) could not send it to its parent
    import pickle

    from ray.exceptions import RayTaskError

    def refuse(tasks, scores):
        raise ValueError("my teacher refuses this batch")

    local = mg.make_teacher("uniform", SPACE, seed=0)
    local.observe_batch = refuse
    said = _refusal(lambda: local.observe_batch([[0.5, 0.5]], [0.5]))
    actor = start_teacher_actor(mg.make_teacher("uniform", SPACE, seed=0))

    def break_teacher(self):  # (run inside the actor)
        self.teacher.observe_batch = refuse

    ray.get(actor.__ray_call__.remote(break_teacher))
    client = RayTeacher(actor, prefetch=2, flush_every=1)
    client.observe([0.5, 0.5], 0.5)
    with pytest.raises(ValueError) as info:
        client.flush()
    assert (type(info.value), str(info.value)) == said and info.value.args == ("my teacher refuses this batch",)
    assert isinstance(info.value.__cause__, RayTaskError) and "observe_batch" in str(info.value.__cause__)
    assert type(pickle.loads(pickle.dumps(info.value))) is ValueError
    ray.kill(actor)
