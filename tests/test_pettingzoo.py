"""OpponentEnv: a learner's seat in a PettingZoo game against pool members (AEC, parallel, vector envs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
gym = pytest.importorskip("gymnasium")

import magister as mg  # noqa: E402
from magister.errors import CheckpointError, ConfigError  # noqa: E402
from magister.opponents import OpponentPool, SnapshotError, UnknownOpponentError  # noqa: E402
from magister.rl import CurriculumVectorEnv  # noqa: E402
from magister.rl.pettingzoo import NoOutcomeError, OpponentEnv, game_score  # noqa: E402
from magister.testing import states_equal  # noqa: E402
from pettingzoo import AECEnv  # noqa: E402
from pettingzoo.classic import rps_v2, tictactoe_v3  # noqa: E402


def load_policy(data: bytes):
    """Snapshots here are tiny: b"first" plays the first legal move, b"random:<seed>" a random legal one."""
    if data == b"first":
        return lambda obs: int(np.flatnonzero(obs["action_mask"])[0])
    rng = np.random.default_rng(int(data.split(b":")[1]))
    return lambda obs: int(rng.choice(np.flatnonzero(obs["action_mask"])))


def _pool(tmp_path: Path) -> OpponentPool:
    pool = OpponentPool(tmp_path / "pool", max_size=4, max_ids=20)
    pool.add(b"first")
    pool.add(b"random:1")
    return pool


def _play(env: gym.Env, rng: np.random.Generator, games: int, options=None) -> list[dict]:
    finals = []
    for g in range(games):
        obs, info = env.reset(seed=g, options=options)
        assert info["seat"] == env.learner and "opponent" in info
        while True:
            action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            obs, reward, term, trunc, info = env.step(action)
            if term or trunc:
                finals.append(info)
                break
    return finals


def test_aec_game_reports_each_outcome_to_the_pool_and_the_teacher(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=teacher)
    finals = _play(env, np.random.default_rng(0), 40)
    assert [f["seat"] for f in finals[:4]] == ["player_1", "player_2"] * 2
    assert teacher.n_observed == 40
    by_opp: dict[int, list[str]] = {}
    for f in finals:
        assert f["outcome"] in ("win", "draw", "loss")
        assert f["magister_outcome_score"] == {"win": 1.0, "draw": 0.5, "loss": 0.0}[f["outcome"]]
        by_opp.setdefault(f["opponent"], []).append(f["outcome"])
    for opp, outs in by_opp.items():
        rec = pool.record(opp)
        assert (rec.games, rec.wins, rec.draws, rec.losses) == (
            len(outs), outs.count("win"), outs.count("draw"), outs.count("loss"))
    assert set(by_opp) == {0, 1}


def test_a_wrapper_with_the_env_s_own_teacher_is_refused_instead_of_recording_twice(tmp_path: Path) -> None:
    from magister.rl import CurriculumWrapper

    pool = _pool(tmp_path)
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    with pytest.raises(ConfigError, match="record every episode twice"):
        CurriculumWrapper(OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=teacher), teacher,
                          score=game_score)
    # one owner of the teacher: the wrapper proposes the opponent and observes each game once
    env = CurriculumWrapper(OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=None), teacher,
                            score=game_score)
    rng = np.random.default_rng(0)
    for g in range(6):
        obs, info = env.reset(seed=g)
        term = trunc = False
        while not (term or trunc):
            obs, _, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        assert info["opponent"] in (0, 1)
    assert teacher.n_observed == 6 == sum(pool.record(i).games for i in pool.ids)


def test_an_opponent_option_that_is_not_the_wrapper_s_task_is_refused_not_credited_to_the_task(
        tmp_path: Path) -> None:
    from magister.rl import CurriculumWrapper

    pool = _pool(tmp_path)
    pool.add(b"first")
    teacher = mg.make_teacher("self-play", pool.space, pool=pool, seed=0)  # proposes the newest member, 2
    env = CurriculumWrapper(OpponentEnv(tictactoe_v3.env, pool, load_policy, report=False), teacher,
                            score=game_score)
    # before: the game was played against 0 and its score credited to the teacher's task, 2
    with pytest.raises(ConfigError, match="options=\\{'task': id\\}"):
        env.reset(seed=0, options={"opponent": 0})
    assert teacher.games.sum() == 0
    # the teacher's proposal was not lost, and an opponent given as the task is played and credited to itself
    obs, info = env.reset(seed=0)
    assert info["opponent"] == env.task == 2
    obs, info = env.reset(seed=0, options={"task": 0})
    assert info["opponent"] == env.task == 0
    obs, info = env.reset(seed=0, options={"opponent": 0, "task": np.int64(0)})  # the same id twice is fine
    term = trunc = False
    while not (term or trunc):
        obs, _, term, trunc, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert info["opponent"] == 0 and teacher.games[0] == 1 and teacher.games[2] == 0


def test_reset_options_it_does_not_read_are_named_in_one_warning(tmp_path: Path) -> None:
    import warnings

    pool = _pool(tmp_path)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, report=False)
    # before: a misspelled key was ignored without a word and the game played the pool's newest member
    with pytest.warns(UserWarning, match=r"ignores the option keys \['oponent'\]: it reads only \['opponent', 'task'\]"):
        _, info = env.reset(seed=0, options={"oponent": 0})
    assert info["opponent"] == 1  # still ignored (wrappers may pass options meant for others): warned, not refused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(seed=0, options={"seat": "player_2"})  # once per env
        other = OpponentEnv(tictactoe_v3.env, pool, load_policy, report=False)
        assert other.reset(seed=0, options={"opponent": 0})[1]["opponent"] == 0  # the keys it reads: no warning
        assert other.reset(seed=0, options={"task": 1})[1]["opponent"] == 1


def test_reset_with_a_seed_reproduces_a_random_seat(tmp_path: Path) -> None:
    pool = _pool(tmp_path)

    def seats(env: OpponentEnv, seeds: list[int]) -> list[str]:
        return [env.reset(seed=s)[1]["seat"] for s in seeds]

    # before: the seat came from the env's own generator whatever reset's seed, so a seeded game was not reproduced
    envs = [OpponentEnv(tictactoe_v3.env, pool, load_policy, seat="random", report=False) for _ in range(2)]
    runs = [seats(env, list(range(12))) for env in envs]
    assert runs[0] == runs[1] and len(set(runs[0])) == 2
    assert len(set(seats(envs[0], [3] * 12))) == 1
    # reset() without a seed goes on drawing from where the last seed left it
    a, b = (OpponentEnv(tictactoe_v3.env, pool, load_policy, seat="random", report=False) for _ in range(2))
    a.reset(seed=7)
    b.reset(seed=7)
    assert [a.reset()[1]["seat"] for _ in range(10)] == [b.reset()[1]["seat"] for _ in range(10)]


@pytest.mark.parametrize("seat", ["alternate", "random"])
def test_a_resumed_env_loaded_with_its_saved_state_plays_the_seats_of_the_run_that_went_on(
        tmp_path: Path, seat: str) -> None:
    # before: the env had no state to save, and a new env built to resume a run from a teacher checkpoint saved after
    # an odd number of games played every later game in the other seat than the run that went on (exact resume,
    # docs/selfplay.md, held for the teacher and the pool but not for the games)
    pool = _pool(tmp_path)
    went_on = OpponentEnv(tictactoe_v3.env, pool, load_policy, seat=seat, report=False, seed=3)
    for _ in range(5):
        went_on.reset()
    saved = json.loads(json.dumps(went_on.state_dict()))  # (it goes beside the teacher's checkpoint, as JSON here)
    resumed = OpponentEnv(tictactoe_v3.env, pool, load_policy, seat=seat, report=False)
    resumed.load_state_dict(saved)
    assert [went_on.reset()[1]["seat"] for _ in range(8)] == [resumed.reset()[1]["seat"] for _ in range(8)]
    before = resumed.state_dict()
    with pytest.raises(CheckpointError, match="state_dict"):
        resumed.load_state_dict({"games": -1, "rng": saved["rng"]})
    assert states_equal(resumed.state_dict(), before)


class _DrawsAhead:
    """A teacher client that draws opponents ahead, as a ``RayTeacher`` with ``prefetch`` does, and hands out again
    the tasks it is given back (``give_back``), as the Ray client does."""

    def __init__(self, teacher, ahead: int) -> None:
        self.teacher, self.ahead, self.buffer, self.given_back = teacher, ahead, [], []
        self.space = teacher.space

    def propose(self, k: int = 1) -> list:
        if len(self.buffer) < k:
            self.buffer += [int(i) for i in self.teacher.propose(self.ahead)]
        out, self.buffer = self.buffer[:k], self.buffer[k:]
        return out

    def observe(self, task, score) -> None:
        self.teacher.observe(task, score)

    def observe_batch(self, tasks, scores) -> None:
        self.teacher.observe_batch(tasks, scores)

    def give_back(self, tasks, infos) -> int:
        self.given_back += list(tasks)
        self.buffer[:0] = list(tasks)
        return len(tasks)


def test_an_opponent_evicted_after_a_client_drew_it_ahead_fails_one_reset_not_every_later_one(tmp_path: Path) -> None:
    # before: the CurriculumWrapper put the evicted opponent back at the front of its tasks, so every later reset
    # failed on it again ("opponent 0 is not in the pool (it was evicted)", which did not say why or what to do),
    # as in docs/selfplay.md's Ray set-up (RayTeacher's default prefetch is 32) once the learner's pool evicted
    from magister.rl import CurriculumWrapper

    pool = OpponentPool(tmp_path / "pool", max_size=2, max_ids=20)
    pool.add(b"first")
    client = _DrawsAhead(mg.make_teacher("self-play", pool.space, pool=pool, seed=0), ahead=3)
    env = CurriculumWrapper(OpponentEnv(tictactoe_v3.env, tmp_path / "pool", load_policy, report=False), client,
                            score=game_score)
    obs, _ = env.reset()
    done = False
    while not done:  # one game, the first legal move each turn
        obs, _, term, trunc, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        done = term or trunc
    pool.add(b"random:1")
    pool.add(b"random:2")  # evicts 0, which the client drew twice more ahead
    for _ in range(2):
        with pytest.raises(UnknownOpponentError, match=r"opponent 0 .*evicted.*prefetch.*Reset again"):
            env.reset()
    assert client.given_back == []  # (the client would hand an evicted opponent out again)
    obs, info = env.reset()
    assert info["opponent"] == 2


def test_an_evicted_opponent_pushed_by_an_rllib_client_fails_one_reset_and_is_not_given_back(tmp_path: Path) -> None:
    # before: a task pushed into the wrapper (rllib_callback pushes the RayTeacher's task before each episode) whose
    # opponent was evicted since the client drew it went back to the front of the pushed tasks, so every later reset
    # failed on it again; and the next episode's give_back_unscored handed it to the client, whose actor re-issued it
    # to the next proposal, another worker's, where it failed again: an evicted opponent went round for good
    from magister.rl import CurriculumWrapper
    from magister.rl.wrapper import give_back_unscored

    pool = OpponentPool(tmp_path / "pool", max_size=2, max_ids=20)
    pool.add(b"first")
    client = _DrawsAhead(mg.make_teacher("self-play", pool.space, pool=pool, seed=0), ahead=3)
    env = CurriculumWrapper(OpponentEnv(tictactoe_v3.env, tmp_path / "pool", load_policy, report=False),
                            score=game_score)
    env.push_task(client.propose()[0])
    _play_wrapped(env)
    env.push_task(client.propose()[0])  # opponent 0, drawn ahead...
    pool.add(b"random:1")
    pool.add(b"random:2")  # ... and evicted before its episode starts
    with pytest.raises(UnknownOpponentError, match=r"opponent 0 .*evicted"):
        env.reset()
    assert give_back_unscored(env, client) == 0 and client.given_back == []  # not handed out again
    env.push_task(2)
    obs, info = env.reset()  # the next pushed task plays
    assert info["opponent"] == 2


@pytest.mark.parametrize("prefetch", [0, 3])
def test_a_vector_env_forgets_evicted_opponents_instead_of_giving_them_back_at_every_reset(tmp_path: Path,
                                                                                            prefetch: int) -> None:
    # before: with a client that takes tasks back (a RayTeacher), once the pool evicted the opponents drawn ahead,
    # the vector env's reset gave the one its sub-env had just failed on back to the client (as a running episode's),
    # which handed it out again first: every later reset failed on it, for good (and with prefetch, the queued
    # copies of a gone opponent went back to the client and the wrapper's queue, each failing again)
    pool = OpponentPool(tmp_path / "pool", max_size=2, max_ids=20)
    pool.add(b"first")
    pool.add(b"random:1")
    client = _DrawsAhead(mg.make_teacher("fsp", pool.space, pool=pool, seed=0), ahead=4)
    venv = CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, tmp_path / "pool", load_policy, report=False)],
                               client, score=game_score, prefetch=prefetch)
    obs, _ = venv.reset(seed=0)
    drawn = {int(venv.tasks[0])} | {int(t) for _, t, _ in venv._queues[0]} | set(client.buffer)
    assert drawn == {0, 1}
    pool.add(b"random:2")
    pool.add(b"random:3")  # evicts 0 and 1: every opponent drawn so far is gone
    failures, played = 0, 0
    for _ in range(200):
        try:
            obs, _, term, trunc, _ = venv.step(np.array([int(np.flatnonzero(obs["action_mask"][0])[0])]))
            played += int(term[0] or trunc[0])
            if played == 3:
                break
            continue
        except UnknownOpponentError:
            failures += 1
        while True:  # the way on in a sync vector env: reset it, until a reset finds an opponent in the pool
            try:
                obs, _ = venv.reset()
                break
            except UnknownOpponentError:
                failures += 1
                assert failures < 10, "a gone opponent keeps coming back"
    assert played == 3 and int(venv.tasks[0]) in (2, 3)
    # each opponent given back at most once (the episode a reset cut), none that a sub-env had failed on
    assert len(client.given_back) == len(set(client.given_back)) <= 1
    venv.close()


def _play_wrapped(env) -> None:
    obs, _ = env.reset()
    while True:
        obs, _, term, trunc, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        if term or trunc:
            return


def test_an_env_teacher_built_without_the_pool_is_named_when_it_proposes_a_non_member(tmp_path: Path) -> None:
    # before: make_teacher("pfsp", pool.space) without pool= proposed any id of Discrete(max_ids), and the reset
    # said only "opponent 2697 is not in the pool; members are [0, 1]"
    pool = _pool(tmp_path)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=mg.make_teacher("pfsp", pool.space, seed=0))
    with pytest.raises(UnknownOpponentError, match=r"teacher has no pool.*make_teacher\(name, pool\.space, pool=pool\)"):
        env.reset()
    assert env.opponent_id is None and pool.records()[0].games == 0


class _TwoSeats(AECEnv):
    """A two-seat AEC game's bookkeeping: seats "a" then "b", a move counter; ``reset`` starts a new game."""

    possible_agents = ["a", "b"]

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self.moves, self.agent_selection = 0, "a"


class Gifts(_TwoSeats):
    """A 3-move AEC game (a, b, a) where every move pays the OTHER seat +1, as a reward of that step."""

    metadata = {"name": "gifts", "render_modes": []}

    def observation_space(self, agent):
        return gym.spaces.Dict({"action_mask": gym.spaces.MultiBinary(1)})

    def action_space(self, agent):
        return gym.spaces.Discrete(1)

    def observe(self, agent):
        return {"action_mask": np.ones(1, dtype=np.int8)}


    def step(self, action):
        if self.terminations[self.agent_selection]:
            return self._was_dead_step(action)
        other = "b" if self.agent_selection == "a" else "a"
        self.rewards = {self.agent_selection: 0.0, other: 1.0}
        self.moves += 1
        if self.moves == 3:
            self.terminations = {a: True for a in self.agents}
        self.agent_selection = other
        self._accumulate_rewards()


def test_a_second_writer_in_the_same_process_is_named_as_such(tmp_path: Path) -> None:
    # before: an OpponentEnv given the folder with report=True opens a writable pool of its own beside the learner's,
    # and the learner's next add() was refused with an error about "a second process" and worker envs, in a script
    # that runs one process (the fix: pass the pool object, not the folder)
    # (since: an env given the folder takes the writable pool object of it this process holds)
    pool = _pool(tmp_path)
    env = OpponentEnv(tictactoe_v3.env, str(pool.directory), load_policy)
    assert env.pool is pool
    _play(env, np.random.default_rng(0), 1)
    assert pool.add(b"first") == 2  # one pool object: one writer, nothing refused
    other = OpponentPool(pool.directory)  # a second object opened on purpose is still a second writer, named so
    env = OpponentEnv(tictactoe_v3.env, other, load_policy)
    _play(env, np.random.default_rng(0), 1)
    with pytest.raises(ConfigError, match=r"another writer(.|\n)*This process holds another writable OpponentPool"
                                          r"(.|\n)*OpponentEnv\(game, pool, load_policy\)"):
        pool.add(b"random:3")
    assert pool.refresh()  # a refresh shows the learner the other's game, but does not make it the writer again
    with pytest.raises(ConfigError, match=r"another writer.*re-read the pool since.*OpponentPool\(folder\)"):
        pool.add(b"random:3")
    pool = OpponentPool(pool.directory)  # opened anew, the learner goes on (and the other object is refused)
    assert pool.add(b"random:3") == 3
    assert sum(r.games for r in pool.records()) == 2


def test_a_pool_refusing_the_outcome_leaves_the_env_s_teacher_as_it_was(tmp_path: Path) -> None:
    # before: the teacher took the game, then the pool refused it ("nothing was changed"), so the teacher kept a
    # game the pool never recorded
    pool = _pool(tmp_path)
    teacher = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    env = OpponentEnv(tictactoe_v3.env, OpponentPool(pool.directory), load_policy, teacher=teacher)
    before = teacher.state_dict()
    obs, _ = env.reset(seed=0)
    pool.add(b"first")  # the learner's pool writes during the game: the env's own pool object is a second writer
    with pytest.raises(ConfigError, match="another writer"):
        while True:
            obs, _, term, trunc, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
            assert not (term or trunc)
    after = teacher.state_dict()
    assert after["n_observed"] == 0 and mg.checkpoint.states_equal(after["algorithm"], before["algorithm"])
    assert [r.games for r in pool.records()] == [0, 0, 0]


@pytest.mark.parametrize("name", ["pfsp", "opponent-lp"])
def test_the_env_s_own_opponent_teacher_takes_each_game_without_a_copy_of_its_state(tmp_path: Path, monkeypatch,
                                                                                     name) -> None:
    # before: every game's end copied the teacher's whole state (its per-opponent arrays, max_ids long: a quarter
    # of the pool's write for opponent-lp, more than the write with max_ids=100_000) in case the pool refused it
    import magister.rl.pettingzoo as pz

    def copied(teacher):
        raise AssertionError(f"{teacher.name}'s state was copied")

    monkeypatch.setattr(pz, "_snapshot", copied)
    pool = _pool(tmp_path)
    teacher = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=teacher)
    finals = _play(env, np.random.default_rng(0), 6)
    assert teacher.n_observed == 6 and sum(r.games for r in pool.records()) == 6
    assert teacher.games.sum() == 6 and all("unrecorded" not in f for f in finals)
    # a member evicted during the game: the pool cannot record it, the teacher still takes it (as before)
    obs, info = env.reset(seed=9, options={"opponent": 0})
    for _ in range(3):
        pool.add(b"first")  # max_size 4: member 0 is evicted
    while True:
        obs, _, term, trunc, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        if term or trunc:
            break
    assert info["unrecorded"].startswith("the opponent was evicted") and teacher.n_observed == 7
    assert teacher.games[0] == 1 + sum(f["opponent"] == 0 for f in finals)


def test_the_env_s_own_opponent_teacher_refusing_the_game_leaves_it_and_the_pool_as_they_were(tmp_path: Path) -> None:
    # magister's opponent teachers check the game before the pool records it and take it after: a game the teacher
    # refuses (a score outside its range) must leave both as they were
    pool = _pool(tmp_path)
    teacher = mg.make_teacher("opponent-lp", pool.space, pool=pool, seed=0, score_range=(2.0, 3.0))
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=teacher)
    index, before = json.loads(pool.index_path.read_text()), teacher.state_dict()
    with pytest.raises(mg.errors.InvalidScoreError):
        _play(env, np.random.default_rng(0), 1)
    after = teacher.state_dict()  # (the game's reset drew its opponent from the teacher)
    assert json.loads(pool.index_path.read_text()) == index
    assert after["n_observed"] == 0 and states_equal(after["algorithm"], before["algorithm"])


def test_the_learner_is_paid_the_reward_of_the_opponent_s_opening_move(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    env = OpponentEnv(Gifts(), pool, lambda data: (lambda obs: 0), seat="b", on_truncation="draw")
    obs, _ = env.reset(seed=0)  # "a" opens: +1 to the learner, which a reset cannot return
    total, term, trunc = 0.0, False, False
    while not (term or trunc):
        obs, reward, term, trunc, info = env.step(0)
        total += reward
    assert total == 2.0  # the opening gift and the gift of a's closing move (the learner's own move paid "a")
    assert info["outcome"] == "win"  # b got 2, a got 1


def test_outcomes_agree_with_the_game_rewards(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    env = OpponentEnv(tictactoe_v3.env(), pool, load_policy, seat="player_2")
    rng = np.random.default_rng(1)
    for g in range(20):
        obs, _ = env.reset(seed=g, options={"opponent": 1})
        total = 0.0
        while True:
            obs, r, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
            total += r
            if term or trunc:
                break
        assert info["outcome"] == {1.0: "win", 0.0: "draw", -1.0: "loss"}[total]
        assert env.learner == "player_2"


@pytest.mark.parametrize("bad", ["seat", "snapshot", "unknown", "no-outcome", "bad-outcome"])
def test_bad_input_gets_a_clear_error_and_changes_no_record(tmp_path: Path, bad: str) -> None:
    pool = _pool(tmp_path)
    before = json.loads(pool.index_path.read_text())
    if bad == "seat":
        with pytest.raises(ConfigError, match="unknown seat 'player_3'.*player_1"):
            OpponentEnv(tictactoe_v3.env, pool, load_policy, seat="player_3")
    elif bad in ("snapshot", "unknown"):
        env = OpponentEnv(tictactoe_v3.env, pool, load_policy)
        if bad == "snapshot":
            (pool.directory / "snapshots" / "000001.bin").write_bytes(b"random:2")
        with pytest.raises(SnapshotError if bad == "snapshot" else UnknownOpponentError, match="corrupt|not in"):
            env.reset(options={"opponent": 1 if bad == "snapshot" else 7})
        with pytest.raises(ConfigError, match="reset"):
            env.step(0)  # the failed reset started no game
    else:
        pool.add(b"random:3")
        before = json.loads(pool.index_path.read_text())
        if bad == "no-outcome":  # rock-paper-scissors stops at a round limit: truncation, no outcome
            env = OpponentEnv(lambda: rps_v2.parallel_env(num_actions=3, max_cycles=3), pool,
                              lambda data: (lambda obs: 0), seat="player_0")
        else:
            env = OpponentEnv(tictactoe_v3.env, pool, load_policy, outcome_fn=lambda *a: "victory")
        env.reset(seed=0, options={"opponent": 2})
        with pytest.raises(NoOutcomeError, match="outcome"):
            for _ in range(20):
                action = 1 if bad == "no-outcome" else int(np.flatnonzero(env.game.last()[0]["action_mask"])[0])
                env.step(action)
    assert json.loads(pool.index_path.read_text()) == before


def test_a_cache_size_that_makes_no_sense_is_refused_when_built(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    for bad in (-1, 2.5, float("nan"), True):  # before: -1 built, then every reset failed with a KeyError
        with pytest.raises(ConfigError, match="cache"):
            OpponentEnv(tictactoe_v3.env, pool, load_policy, cache=bad)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, cache=0)  # 0: load the opponent every game
    assert len(_play(env, np.random.default_rng(0), 3)) == 3 and not env._cache


def test_a_pool_argument_that_is_no_pool_is_refused_with_a_config_error(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    # before: AttributeError ('NoneType' object has no attribute 'readonly'), TypeError or KeyError '__pool__'
    for bad in (None, 3, {"folder": str(pool.directory)}):
        for report in (True, False):
            with pytest.raises(ConfigError, match="pool must be an OpponentPool or its folder"):
                OpponentEnv(tictactoe_v3.env, bad, load_policy, report=report)
    for good in (pool.directory, str(pool.directory), pool.to_config()):  # a folder or a checkpoint's name of it
        env = OpponentEnv(tictactoe_v3.env, good, load_policy, report=False)
        assert env.pool.readonly and env.pool.ids == pool.ids


def test_parallel_game_with_an_outcome_rule(tmp_path: Path) -> None:
    pool = OpponentPool(tmp_path / "rps", max_ids=5)
    pool.add(b"rock")

    def by_totals(rewards, learner, opponent, terminated, truncated):
        a, b = rewards[learner], rewards[opponent]
        return "win" if a > b else "loss" if a < b else "draw"

    env = OpponentEnv(lambda: rps_v2.parallel_env(max_cycles=5), pool, lambda data: (lambda obs: 0),
                      seat="player_0", outcome_fn=by_totals)
    for action, outcome in ((1, "win"), (0, "draw"), (2, "loss")):  # paper beats rock, scissors lose
        env.reset(seed=0)
        done = False
        while not done:
            _, _, term, trunc, info = env.step(action)
            done = term or trunc
        assert info["outcome"] == outcome
    rec = pool.record(0)
    assert (rec.games, rec.wins, rec.draws, rec.losses) == (3, 1, 1, 1)


class _Duel:
    """A parallel game: player_1 is knocked out in round 1 (reward -1), player_0 plays on and finishes in round 3 (+1)."""

    metadata = {"name": "duel", "is_parallelizable": True}
    possible_agents = ["player_0", "player_1"]
    render_mode = None

    def observation_space(self, agent):
        return gym.spaces.Discrete(10)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return {a: 0 for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents), "an action for an agent that left the game"
        self.t += 1
        rewards = {a: 0.0 for a in self.agents}
        terms = {a: (a == "player_1" and self.t == 1) or (a == "player_0" and self.t == 3) for a in self.agents}
        rewards.update({a: (-1.0 if a == "player_1" else 1.0) for a in self.agents if terms[a]})
        out = ({a: self.t for a in self.agents}, rewards, terms, {a: False for a in self.agents},
               {a: {} for a in self.agents})
        self.agents = [a for a in self.agents if not terms[a]]
        return out

    def close(self):
        pass


def test_an_opponent_that_leaves_mid_game_ends_it_the_same_way_in_both_apis(tmp_path: Path) -> None:
    # before: the parallel API ended the learner's episode as truncated when the opponent left, so this game raised
    # NoOutcomeError (or, with on_truncation="draw", counted a draw); the AEC version of the same game said "win"
    from pettingzoo.utils.conversions import parallel_to_aec

    pool = OpponentPool(tmp_path / "pool", max_ids=5)
    pool.add(b"x")
    for game in (lambda: parallel_to_aec(_Duel()), _Duel, _Duel):
        on_truncation = "draw" if game is _Duel and pool.record(0).games == 2 else "error"
        env = OpponentEnv(lambda: game(), pool, lambda data: (lambda obs: 0), seat="player_0",
                          on_truncation=on_truncation)
        env.reset(seed=0)
        steps = [env.step(0) for _ in range(3)]
        assert [s[2] or s[3] for s in steps] == [False, False, True]
        assert steps[-1][2] and not steps[-1][3] and steps[-1][4]["outcome"] == "win"
    rec = pool.record(0)
    assert (rec.games, rec.wins) == (3, 3)


def test_a_teacher_refusing_the_game_leaves_the_pool_record_as_it_was(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    for _ in range(3):
        pool.add(b"first")
    before = json.loads(pool.index_path.read_text())
    # an opponent the teacher cannot take: before, the game was played, the pool counted it, then observe raised
    small = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=small)
    with pytest.raises(mg.errors.InvalidTaskError, match="opponent 4 .*no game was started"):
        env.reset(seed=0, options={"opponent": 4})
    with pytest.raises(ConfigError, match="reset"):
        env.step(0)
    # a teacher that refuses the score when the game is over: refused before the pool is written
    picky = mg.make_teacher("exp3", pool.space, score_range=(2.0, 3.0), seed=0)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=picky, seat="player_2")
    with pytest.raises(mg.errors.InvalidScoreError):
        _play(env, np.random.default_rng(0), 1, options={"opponent": 4})
    assert json.loads(pool.index_path.read_text()) == before and picky.n_observed == 0
    # a read-only pool cannot take outcomes: refused when the env is built, not at the end of every game
    with pytest.raises(ConfigError, match="read-only.*report=False"):
        OpponentEnv(tictactoe_v3.env, OpponentPool(pool.directory, readonly=True), load_policy)


def test_vector_env_shares_one_pool_and_one_teacher(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    teacher = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    folder = str(pool.directory)

    def make():  # a worker's env: the pool opened read-only, outcomes handed back through info
        return OpponentEnv(tictactoe_v3.env, folder, load_policy, report=False)

    venv = CurriculumVectorEnv([make, make], teacher, score=game_score)
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(0)
    finished = 0
    for step in range(150):
        masks = obs["action_mask"]
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, _, term, trunc, infos = venv.step(actions)
        ends = np.flatnonzero(term | trunc)
        finished += len(ends)
        if len(ends):  # the pool's writer records the outcomes
            pool.report_many([int(infos["final_info"]["opponent"][i]) for i in ends],
                             [infos["final_info"]["outcome"][i] for i in ends])
        if step == 60:
            pool.add(b"random:9")  # a new member, seen by the workers at their next reset
    venv.close()
    assert finished > 20 and teacher.n_observed == finished
    assert sum(r.games for r in pool.records()) == finished
    assert teacher.games[2] > 0 and pool.record(2).games > 0


def test_a_vector_env_game_is_recorded_once_and_a_sub_env_that_records_it_too_is_refused(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    folder = str(pool.directory)
    # the sub-env observing the vector env's own teacher: every game went to the teacher twice
    with pytest.raises(ConfigError, match="record every episode twice"):
        CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, folder, load_policy, teacher=teacher,
                                                 report=False)] * 2, teacher, score=game_score)
    # the sub-env writing the pool (report=True, the default) while the main process records final_info: twice
    for sync in (True, False):
        with pytest.raises(ConfigError, match="report=False"):
            CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, pool, load_policy)] * 2, teacher,
                                score=game_score, vectorization="sync" if sync else "async")
    # async: an env with its own local teacher (any) gave each worker a copy, which heard the games alone
    own = mg.make_teacher("fsp", pool.space, pool=pool, seed=1)
    for held in (teacher, own):
        with pytest.raises(ConfigError, match="sub-env 0 is an OpponentEnv with its own teacher.*teacher=None"):
            CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, folder, load_policy, teacher=held,
                                                     report=False)] * 2, teacher, score=game_score,
                                vectorization="async")
    assert own.n_observed == 0
    assert teacher.n_observed == 0 and sum(r.games for r in pool.records()) == 0
    venv = CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, folder, load_policy, report=False)] * 2,
                               teacher, score=game_score)
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(40):
        obs, _, term, trunc, infos = venv.step(np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]]))
        ends = np.flatnonzero(term | trunc)
        finished += len(ends)
        if len(ends):
            pool.report_many([int(infos["final_info"]["opponent"][i]) for i in ends],
                             [infos["final_info"]["outcome"][i] for i in ends])
    venv.close()
    assert finished > 5 and teacher.n_observed == finished == sum(r.games for r in pool.records())


def _ray_worker(folder: str, actor_name: str, games: int, seed: int) -> list[tuple[int, str]]:
    from magister.rl import CurriculumWrapper
    from magister.rl.ray import RayTeacher

    client = RayTeacher(actor_name, prefetch=4, flush_every=4)
    env = CurriculumWrapper(OpponentEnv(tictactoe_v3.env, folder, load_policy, report=False), client, score=game_score)
    rng = np.random.default_rng(seed)
    played = []
    for _ in range(games):
        obs, _ = env.reset()
        while True:
            obs, _, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
            if term or trunc:
                played.append((int(info["opponent"]), info["outcome"]))
                break
    client.flush()
    return played


def test_ray_workers_share_one_pool_through_the_teacher_actor(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from magister.rl.ray import start_teacher_actor

    pool = _pool(tmp_path)
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests folder
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        actor = start_teacher_actor(teacher, name="opponent-teacher")  # reopens the pool from its folder
        worker = ray.remote(num_cpus=0.5)(_ray_worker)
        results = ray.get([worker.remote(str(pool.directory), "opponent-teacher", 12, s) for s in (0, 1)])
        for played in results:  # the driver is the pool's one writer
            pool.report_many([p[0] for p in played], [p[1] for p in played])
        counts = ray.get(actor.counts.remote())
        assert counts["n_observed"] == 24
        assert sum(r.games for r in pool.records()) == 24
        assert {p[0] for played in results for p in played} == {0, 1}
        ray.kill(actor)
    finally:
        ray.shutdown()


class _Client:
    """What ``close_client`` sees of a Ray client: ``flush``, ``close`` and, for a copy, ``_copy``."""

    def __init__(self, copy: bool) -> None:
        self._copy, self.closing = copy, []

    def propose(self) -> int:
        return 0

    def observe(self, task, score) -> None:
        pass

    def flush(self) -> None:
        self.closing.append("flush")

    def close(self) -> None:
        self.closing.append("close")


@pytest.mark.parametrize("copy", [False, True])
def test_closing_the_env_closes_a_copied_teacher_client_and_flushes_any_other(tmp_path: Path, copy: bool) -> None:
    # before: OpponentEnv.close() closed the game only, so a RayTeacher copied into its worker lost its last outcomes
    # (fewer than flush_every) and kept its prefetched ids leased; now it is handled as CurriculumWrapper.close() does
    pool = _pool(tmp_path)
    client = _Client(copy)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, teacher=client, report=False)
    _play(env, np.random.default_rng(0), 1)
    env.close()
    assert client.closing == (["close"] if copy else ["flush"])


class _Asymmetric(_Duel):
    """A parallel game whose seats see and do different things (player_1's observations and actions are larger)."""

    def observation_space(self, agent):
        return gym.spaces.Discrete(10 if agent == "player_0" else 20)

    def action_space(self, agent):
        return gym.spaces.Discrete(2 if agent == "player_0" else 3)


def test_seats_with_different_spaces_need_a_fixed_seat(tmp_path: Path) -> None:
    # before: the env declared player_0's spaces and, every other game (seat="alternate"), returned player_1's
    # observations outside them (and took actions outside its action space)
    pool = OpponentPool(tmp_path / "pool", max_ids=5)
    pool.add(b"x")
    for seat in ("alternate", "random"):
        with pytest.raises(ConfigError, match="spaces differ.*seat='player_0'"):
            OpponentEnv(_Asymmetric(), pool, lambda data: (lambda obs: 0), seat=seat, report=False)
    env = OpponentEnv(_Asymmetric(), pool, lambda data: (lambda obs: 0), seat="player_1", report=False)
    assert env.observation_space == gym.spaces.Discrete(20) and env.action_space == gym.spaces.Discrete(3)
    obs, info = env.reset()
    assert info["seat"] == "player_1" and env.observation_space.contains(obs)


class Resign(_TwoSeats):
    """Two moves (a, then b); each may resign (1: the other seat wins) or pass (0; two passes draw).
    ``limit=1`` stops the game at a round limit after a's move (truncated, no winner)."""

    metadata = {"name": "resign", "render_modes": []}

    def __init__(self, limit: int = 2):
        self.limit = limit

    def observation_space(self, agent):
        return gym.spaces.Discrete(2)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def observe(self, agent):
        return 0


    def step(self, action):
        if self.terminations[self.agent_selection] or self.truncations[self.agent_selection]:
            return self._was_dead_step(action)
        me = self.agent_selection
        other = "b" if me == "a" else "a"
        self._cumulative_rewards[me] = 0.0
        self.rewards = {me: -1.0, other: 1.0} if action == 1 else {a: 0.0 for a in self.agents}
        self.moves += 1
        if action == 1 or self.moves == 2:
            self.terminations = {a: True for a in self.agents}
        elif self.moves == self.limit:
            self.truncations = {a: True for a in self.agents}
        self.agent_selection = other
        self._accumulate_rewards()


def test_a_game_the_opponent_s_opening_move_ends_is_ended_by_the_learner_s_first_step(tmp_path: Path) -> None:
    # before: reset returned an observation as if the learner could move, and its first step raised PettingZoo's
    # raw "ValueError: when an agent is dead, the only valid action is None"; the game was never recorded
    pool = OpponentPool(tmp_path / "pool", max_ids=5)
    resigns, passes = pool.add(b"resign"), pool.add(b"pass")
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    env = OpponentEnv(lambda: Resign(), pool, lambda data: (lambda obs: int(data == b"resign")), seat="b", teacher=teacher)
    env.reset(seed=0, options={"opponent": resigns})
    obs, reward, term, trunc, info = env.step(1)  # the action is not played: the game is over
    assert (reward, term, trunc, info["outcome"]) == (1.0, True, False, "win")
    with pytest.raises(ConfigError, match="reset"):
        env.step(0)
    env.reset(seed=1, options={"opponent": passes})  # the opponent passes: the learner's move is played
    obs, reward, term, trunc, info = env.step(1)
    assert (reward, term, info["outcome"]) == (-1.0, True, "loss")
    assert [(r.games, r.wins, r.losses) for r in pool.records()] == [(1, 1, 0), (1, 0, 1)]
    assert teacher.n_observed == 2
    # a round limit right after the opponent's opening move: no outcome (nothing recorded), or a draw if asked
    env = OpponentEnv(lambda: Resign(limit=1), pool, lambda data: (lambda obs: 0), seat="b")
    env.reset(seed=0, options={"opponent": passes})
    with pytest.raises(NoOutcomeError, match="truncated"):
        env.step(0)
    assert pool.record(passes).games == 1
    env = OpponentEnv(lambda: Resign(limit=1), pool, lambda data: (lambda obs: 0), seat="b", on_truncation="draw")
    env.reset(seed=0, options={"opponent": passes})
    assert env.step(0)[2:4] == (False, True) and pool.record(passes).draws == 1


def _segment(teacher, pool: OpponentPool, seg: int, steps: int, seed: int) -> list[tuple[int, str]]:
    """One stretch of a run: a vector env of workers opening the pool read-only, the main process recording the
    outcomes (pool.report_many) and adding a snapshot of the learner now and then."""
    folder = str(pool.directory)
    venv = CurriculumVectorEnv([lambda: OpponentEnv(tictactoe_v3.env, folder, load_policy, report=False)] * 2,
                               teacher, score=game_score)
    obs, _ = venv.reset(seed=seg)
    rng = np.random.default_rng([seed, seg])
    played: list[tuple[int, str]] = []
    for step in range(steps):
        obs, _, term, trunc, infos = venv.step(np.array([rng.choice(np.flatnonzero(m)) for m in obs["action_mask"]]))
        ends = np.flatnonzero(term | trunc)
        if len(ends):
            games = [(int(infos["final_info"]["opponent"][i]), str(infos["final_info"]["outcome"][i])) for i in ends]
            games = [g for g in games if g[0] in pool]  # (a game against a member evicted meanwhile is not recorded)
            pool.report_many([g[0] for g in games], [g[1] for g in games])
            played += games
        if step % 12 == 11:
            pool.add(f"random:{seed * 1000 + seg * 100 + step}".encode(), step=step)
    venv.close()
    return played


def test_a_vector_env_run_resumed_with_its_pool_rewound_plays_the_games_of_the_run_that_was_saved(
        tmp_path: Path) -> None:
    pool = OpponentPool(tmp_path / "pool", max_size=3, max_ids=100, eviction="random", seed=4)
    pool.add(b"first")
    pool.add(b"random:1")
    teacher = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    _segment(teacher, pool, 0, 30, seed=1)
    teacher.save(tmp_path / "t.ckpt")
    straight = _segment(teacher, pool, 1, 40, seed=1) + _segment(teacher, pool, 2, 40, seed=1)
    index = {k: v for k, v in json.loads(pool.index_path.read_text()).items() if k != "version_counter"}
    files = {p.name: p.read_bytes() for p in (tmp_path / "pool" / "snapshots").iterdir()}
    state = teacher.state_dict()

    # the crash: the run went on from the checkpoint (other games, other snapshots), then died
    _segment(teacher, pool, 1, 30, seed=2)
    resumed = mg.load(tmp_path / "t.ckpt", pool="rewind")
    again = _segment(resumed, resumed.pool, 1, 40, seed=1) + _segment(resumed, resumed.pool, 2, 40, seed=1)
    assert again == straight and len(straight) > 10
    assert {k: v for k, v in json.loads(pool.index_path.read_text()).items() if k != "version_counter"} == index
    assert {p.name: p.read_bytes() for p in (tmp_path / "pool" / "snapshots").iterdir()} == files
    assert states_equal(resumed.state_dict(), state)


def test_an_env_plays_the_snapshot_an_id_names_after_the_pool_was_rewound(tmp_path: Path) -> None:
    # before: the env's policy cache was keyed by id; after a rewind gave the id to a new snapshot, the env went on
    # playing the rewound-away one
    pool = OpponentPool(tmp_path / "pool", max_size=4, max_ids=20)
    pool.add(b"first")
    saved = pool.state()
    pool.add(b"random:1")
    loaded: list[bytes] = []

    def load(data: bytes):
        loaded.append(data)
        return load_policy(data)
    env = OpponentEnv(tictactoe_v3.env, str(pool.directory), load, report=False)
    env.reset(options={"opponent": 1})
    env.reset(options={"opponent": 1})
    pool.rewind(saved)
    pool.add(b"random:2")
    env.reset(options={"opponent": 1})
    assert loaded == [b"random:1", b"random:2"]


@pytest.mark.parametrize("bad", [9, -1, 1.5, float("nan"), "a", None, np.array([9]), 3 + 0j, np.array(["3"]),
                                 np.datetime64(3, "s"), np.timedelta64(1, "s"), np.timedelta64(1)])
def test_an_action_outside_the_game_s_action_space_is_refused_before_anything_is_played(tmp_path: Path, bad) -> None:
    # before: the game's bare AssertionError("action is not in action space"), gone under python -O; a complex
    # number, a text array or a date still got it (the built-in envs' check refused them); a timedelta64, an integer
    # to numpy, raised Python's raw TypeError (int() of one in seconds) or went to the game
    from magister.errors import InvalidActionError

    pool = _pool(tmp_path)
    env = OpponentEnv(tictactoe_v3.env, pool, load_policy, seat="player_1")
    obs, _ = env.reset(seed=0)
    board = obs["observation"].copy()
    with pytest.raises(InvalidActionError, match=r"0\.\.8"):
        env.step(bad)
    obs, _, term, _, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))  # the game goes on as before
    assert not term and int(obs["observation"].sum()) == int(board.sum()) + 2  # the learner's move and the reply
    rps = OpponentEnv(lambda: rps_v2.parallel_env(max_cycles=2), OpponentPool(tmp_path / "rps", max_ids=2),
                      lambda data: (lambda obs: 0), seat="player_0",
                      outcome_fn=lambda r, me, other, *_: "win" if r[me] > r[other] else "loss" if r[me] < r[other]
                      else "draw")
    rps.pool.add(b"rock")
    rps.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"0\.\.2"):
        rps.step(bad if bad != 9 else 3)
    rps.step(1)
    _, _, term, trunc, info = rps.step(1)
    assert (term or trunc) and info["outcome"] == "win" and rps.pool.record(0).games == 1


def test_an_action_the_check_cannot_call_wrong_goes_to_the_game_as_before(tmp_path: Path) -> None:
    # a 1-element array, a whole float or a torch scalar inside the range is the game's to take or refuse (a user's
    # own game may read them): the check refuses only what is surely no move
    import torch

    from magister.rl.envs.base import discrete_action  # (OpponentEnv's check is the built-in envs', as_given)

    for ok in (3, np.int64(3), np.array(3), np.array([3]), 3.0, torch.tensor(3), True, np.array([True])):
        assert discrete_action(ok, 0, 9, as_given=True) is ok, ok  # (unchanged: the game reads it)
    for bad in (9, -1, np.array([9]), 3.5, float("inf"), None, "3", b"3", 2**70, -2**70, np.uint64(2**63), 3 + 0j,
                np.array(["3"]), np.array(b"3"), np.datetime64(3, "s"), np.timedelta64(3, "s"), np.timedelta64(3)):
        assert discrete_action(bad, 0, 9, as_given=True) is None, bad
    for other in (np.array([1, 2]), [[1], [1, 2]], np.array(object()), np.array(["3", "4"])):
        # (not a Discrete move: the game says what it is)
        assert discrete_action(other, 0, 9, as_given=True) is other, other


def test_report_is_true_or_false_not_any_truthy_value(tmp_path: Path) -> None:
    # before: report="false" was read as True: the env opened a writable pool of the folder and wrote every game
    pool = _pool(tmp_path)
    for bad in ("false", 0, None):
        with pytest.raises(ConfigError, match="report must be True or False"):
            OpponentEnv(tictactoe_v3.env, str(pool.directory), load_policy, report=bad)
    env = OpponentEnv(tictactoe_v3.env, str(pool.directory), load_policy, report=np.False_)
    assert env.pool.readonly and env.report is False
    _play(env, np.random.default_rng(0), 2)
    assert [r.games for r in pool.records()] == [0, 0]


class _NanReward(_Duel):
    """_Duel whose knocked-out player_1 gets a NaN reward instead of -1."""

    def step(self, actions):
        obs, rewards, terms, truncs, infos = super().step(actions)
        return obs, {a: (float("nan") if a == "player_1" and r else r) for a, r in rewards.items()}, terms, truncs, infos


def test_a_nan_reward_is_no_outcome_not_a_draw(tmp_path: Path) -> None:
    # before: the default rule compared the totals (nan, 1.0): neither more nor less, so every such game was a draw
    from magister.rl.pettingzoo import reward_outcome

    pool = OpponentPool(tmp_path / "pool", max_ids=5)
    pool.add(b"x")
    teacher = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    before = json.loads(pool.index_path.read_text())
    env = OpponentEnv(lambda: _NanReward(), pool, lambda data: (lambda obs: 0), seat="player_0", teacher=teacher,
                      on_truncation="draw")
    env.reset(seed=0)
    with pytest.raises(NoOutcomeError, match=r"player_0: 1\.0, player_1: nan.*NaN reward.*outcome_fn"):
        for _ in range(3):
            env.step(0)
    assert json.loads(pool.index_path.read_text()) == before and teacher.n_observed == 0
    with pytest.raises(NoOutcomeError, match="NaN"):
        reward_outcome({"a": float("nan"), "b": float("nan")}, "a", "b", True, False)
    assert reward_outcome({"a": float("nan")}, "a", "b", False, True) is None  # truncated: on_truncation decides
    assert reward_outcome({"a": float("inf"), "b": 1.0}, "a", "b", True, False) == "win"  # comparable, as before


def test_a_game_class_is_a_function_returning_a_game(tmp_path: Path) -> None:
    # before: a class with possible_agents as a class attribute was taken for the game itself, and the env failed
    # with a raw TypeError (observation_space() called on the class, "missing 1 required positional argument")
    pool = _pool(tmp_path)
    for cls, seat in ((Gifts, "b"), (_Duel, "player_0")):
        env = OpponentEnv(cls, pool, lambda data: (lambda obs: 0), seat=seat, on_truncation="draw")
        assert isinstance(env.game, cls) and env.parallel == (cls is _Duel)
        env.reset(seed=0, options={"opponent": 0})
        done = False
        while not done:
            _, _, term, trunc, info = env.step(0)
            done = term or trunc
        assert info["outcome"] == "win"
    assert pool.record(0).games == 2
