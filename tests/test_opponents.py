"""The opponent pool, the opponent teachers (with a pool), the dual curriculum and the ratings."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError, InvalidScoreError, MagisterError
from magister.opponents import (
    DualCurriculum,
    OpponentPool,
    SnapshotError,
    UnknownOpponentError,
    fit_elo,
    plot_cross_play,
)
from magister.testing import CHECKS, default_spaces
from magister.teachers import Uniform

OPPONENT_TEACHERS = ["self-play", "fsp", "pfsp", "opponent-lp"]


def _pool(directory: Path, n: int = 6, max_size: int = 4, **kw) -> OpponentPool:
    pool = OpponentPool(directory, max_size=max_size, max_ids=kw.pop("max_ids", 50), **kw)
    for i in range(n):
        pool.add(f"snapshot {i}".encode() * (i + 1), step=100 * i)
    return pool


# ------------------------------------------------------------------ the pool
def test_pool_keeps_bounded_members_on_disk_with_records(tmp_path: Path) -> None:
    pool = _pool(tmp_path, n=6, max_size=4)
    assert pool.ids == [2, 3, 4, 5] and pool.latest == 5 and pool.n_added == 6
    # the members' files, and the evicted ones' kept for a rewind (the last keep_evicted evictions)
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [f"{i:06d}.bin" for i in range(6)]
    _pool(tmp_path / "lean", n=6, max_size=4, keep_evicted=1)
    assert sorted(p.name for p in (tmp_path / "lean" / "snapshots").iterdir()) == [
        f"{i:06d}.bin" for i in (1, 2, 3, 4, 5)]
    assert pool.load(3) == b"snapshot 3" * 4
    assert pool.record(3).step == 300 and pool.record(3).games == 0
    pool.report(3, "win")
    pool.report(3, 0.5)
    rec = pool.report(3, "loss")
    assert (rec.games, rec.wins, rec.draws, rec.losses) == (3, 1, 1, 1) and rec.win_rate == 0.5
    again = OpponentPool(tmp_path)  # reopened from the index, settings included
    assert again.ids == pool.ids and again.record(3) == rec and again.max_size == 4
    assert again.learner_rating == pool.learner_rating


def test_pool_file_snapshots_and_eviction_policies(tmp_path: Path) -> None:
    f = tmp_path / "policy.pt"
    f.write_bytes(b"\x00weights")
    pool = OpponentPool(tmp_path / "a", max_size=2, keep_first=True)
    i = pool.add(f)
    assert pool.load(i) == b"\x00weights" and pool.path(i).read_bytes() == b"\x00weights"
    for _ in range(3):
        pool.add(b"x")
    assert pool.ids == [0, 3]  # the first is kept, the newest is kept
    easy = OpponentPool(tmp_path / "b", max_size=3, eviction="easiest")
    for _ in range(3):
        easy.add(b"y")
    easy.report_many([0, 1, 1], ["loss", "win", "win"])
    easy.add(b"z")
    assert easy.ids == [0, 2, 3]  # the learner beat 1 most
    # two pools with one seed, in two folders (one folder opened twice is two writers, which is refused)
    rnd = [OpponentPool(tmp_path / f"r{n}", max_size=3, eviction="random", seed=1) for n in (0, 1)]
    for p in rnd:
        for _ in range(10):
            p.add(b"w")
    assert rnd[0].ids == rnd[1].ids and rnd[0].latest == 9 and len(rnd[0]) == 3


def test_reservoir_eviction_keeps_a_uniform_sample_of_the_whole_past(tmp_path: Path) -> None:
    """Random eviction forgets the early run (a member survives an addition with chance 1 - 1/max_size); the
    reservoir keeps each earlier snapshot with the same chance, the two newest always, and resumes exactly."""
    first_half = {"random": 0, "reservoir": 0}
    for eviction in first_half:
        for seed in range(10):
            pool = OpponentPool(tmp_path / f"{eviction}{seed}", max_size=6, eviction=eviction, seed=seed, max_ids=50)
            for i in range(40):
                pool.add(b"s%d" % i)
            assert len(pool) == 6 and pool.ids[-2:] == [38, 39]
            first_half[eviction] += sum(i < 20 for i in pool.ids)
    # 4 of 6 members are drawn from snapshots 0-37, so about 20/38 of 40 (21) are from the first half
    assert 12 <= first_half["reservoir"] <= 32 and first_half["random"] <= 3, first_half
    a = OpponentPool(tmp_path / "a", max_size=5, eviction="reservoir", seed=3, keep_first=True, max_ids=50)
    b = OpponentPool(tmp_path / "b", max_size=5, eviction="reservoir", seed=3, keep_first=True, max_ids=50)
    for i in range(30):
        a.add(b"a")
        b.add(b"b")
        if i == 12:
            b = OpponentPool(tmp_path / "b")  # reopened: the generator is in the index
    assert a.ids == b.ids and a.ids[0] == 0 and a.ids[-2:] == [28, 29]


def test_a_records_dict_is_dataclasses_asdict_without_its_deep_copies() -> None:
    """The pool writes every member's record at each change; to_dict builds it field by field (asdict's deep copy
    was half the cost of a report with 1,000 members) and gives what asdict gives, in the same order."""
    from dataclasses import asdict

    from magister.opponents.records import Record

    r = Record(id=3, step=70, games=5, wins=2, draws=1, losses=2, rating=1012.5, sha256="ab" * 32, size=9, name="x")
    assert r.to_dict() == asdict(r) and list(r.to_dict()) == list(asdict(r))
    assert Record.from_dict(r.to_dict()) == r


@pytest.mark.parametrize("bad", ["unknown", "evicted", "outcome", "none", "missing", "corrupt", "batch"])
def test_bad_input_is_refused_and_changes_no_record(tmp_path: Path, bad: str) -> None:
    pool = _pool(tmp_path, n=6, max_size=4)
    pool.report(4, "win")
    before = json.loads(pool.index_path.read_text())
    records = pool.records()
    with pytest.raises(MagisterError) as err:
        if bad == "unknown":
            pool.report(99, "win")
        elif bad == "evicted":
            pool.report(0, "win")
        elif bad == "outcome":
            pool.report(4, "victory")
        elif bad == "none":
            pool.report(4, None)
        elif bad == "missing":
            (tmp_path / "snapshots" / "000004.bin").unlink()
            pool.load(4)
        elif bad == "corrupt":
            (tmp_path / "snapshots" / "000004.bin").write_bytes(b"snapshot 4" * 4 + b"!")
            pool.load(4)
        else:
            pool.report_many([4, 5, 77], ["win", "loss", "win"])
    msg = str(err.value)
    expected = {"unknown": (UnknownOpponentError, "not in the pool"), "evicted": (UnknownOpponentError, "evicted"),
                "outcome": (InvalidScoreError, "'win', 'draw' or 'loss'"), "none": (InvalidScoreError, "outcome"),
                "missing": (SnapshotError, "missing"), "corrupt": (SnapshotError, "corrupt"),
                "batch": (UnknownOpponentError, "77")}[bad]
    assert isinstance(err.value, expected[0]) and expected[1] in msg
    assert "No record was changed" in msg or "Nothing was recorded" in msg or bad in ("outcome", "none")
    assert pool.records() == records
    assert json.loads(pool.index_path.read_text()) == before


def test_pool_settings_and_readers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="eviction"):
        OpponentPool(tmp_path / "x", eviction="lru")
    with pytest.raises(ConfigError, match="max_size"):
        OpponentPool(tmp_path / "y", max_size=0)
    pool = _pool(tmp_path / "p", n=2)
    with pytest.raises(ConfigError, match="other settings"):
        OpponentPool(tmp_path / "p", max_size=9)
    with pytest.raises(SnapshotError, match="no opponent pool"):
        OpponentPool(tmp_path / "nothing", readonly=True)
    reader = OpponentPool(tmp_path / "p", readonly=True)
    with pytest.raises(ConfigError, match="read-only"):
        reader.add(b"x")
    pool.add(b"new")
    assert reader.ids == [0, 1] and reader.refresh() and reader.ids == [0, 1, 2]
    assert not reader.refresh()
    (tmp_path / "p" / "pool.json").write_text("{not json")
    with pytest.raises(SnapshotError, match="cannot be read"):
        reader.refresh()
    for not_an_object in ("null", "[]", "5", '"pool"'):  # valid JSON, but not an index
        (tmp_path / "p" / "pool.json").write_text(not_an_object)
        with pytest.raises(SnapshotError, match="cannot be read"):
            reader.refresh()
        with pytest.raises(SnapshotError, match="cannot be read"):
            OpponentPool(tmp_path / "p")
    assert reader.ids == [0, 1, 2], "a refused index leaves the reader as it was"
    small = OpponentPool(tmp_path / "s", max_ids=2)
    small.add(b"a")
    small.add(b"b")
    with pytest.raises(ConfigError, match="max_ids"):
        small.add(b"c")
    assert small.ids == [0, 1]


def test_a_reader_loading_a_member_evicted_since_its_last_read_is_told_it_was_evicted(tmp_path: Path) -> None:
    kept = OpponentPool(tmp_path / "kept", max_size=2)  # the evicted member's file is kept (for rewinds):
    kept.add(b"a")
    kept.add(b"b")
    stale = OpponentPool(tmp_path / "kept", readonly=True)
    kept.add(b"c")
    assert stale.ids == [0, 1] and stale.load(0) == b"a"  # a stale reader still plays it (the game is dropped
    # when reported, as a game that began before the eviction)
    writer = OpponentPool(tmp_path / "p", max_size=2, keep_evicted=0)
    writer.add(b"a")
    writer.add(b"b")
    reader = OpponentPool(tmp_path / "p", readonly=True)
    writer.add(b"c")  # evicts 0 (the oldest) and deletes its file; the reader has not refreshed
    assert reader.ids == [0, 1]
    # before: SnapshotError "missing ... remove it with pool.remove(0) or restore the file", which a reader
    # cannot do and which was not the problem
    for read in (reader.load, reader.path):
        with pytest.raises(UnknownOpponentError, match="evicted"):
            read(0)
    assert reader.ids == [1, 2] and reader.load(2) == b"c"
    # a file that is really missing is still named as such
    writer._snapshot_path(1).unlink()
    with pytest.raises(SnapshotError, match="missing.*pool.remove\\(1\\)"):
        reader.load(1)


# ------------------------------------------------------- teachers over a pool
def _pool_factory(root: Path, name: str):
    def factory(space, seed):
        d = Path(tempfile.mkdtemp(dir=root))
        pool = OpponentPool(d, max_size=max(2, space.n - 1), max_ids=space.n)
        for i in range(space.n):
            pool.add(bytes([i]))
        cls = mg.teacher_class(name)
        return cls(space, pool=pool, seed=seed, **getattr(cls, "conformance_kwargs", {}))
    return factory


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
@pytest.mark.parametrize("check", ["determinism", "resume", "bad_input", "batch_observe", "settings", "beliefs",
                                   "extremes", "task_forms"])
def test_conformance_with_a_pool(tmp_path: Path, name: str, check: str) -> None:
    factory = _pool_factory(tmp_path, name)
    for space in default_spaces("discrete"):
        CHECKS[check](factory, space, 60)


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_proposals_are_members_and_resume_is_exact_while_the_pool_grows(tmp_path: Path, name: str) -> None:
    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=3)
    rng = np.random.default_rng(0)

    def play(teacher, steps):
        out = []
        for _ in range(steps):
            ids = list(teacher.propose(4))
            assert set(ids) <= set(pool.ids)
            teacher.observe_batch(ids, [float(rng.random() < 0.3 + 0.05 * i) for i in ids])
            out += ids
        return out

    for _ in range(4):
        play(t, 5)
        pool.add(b"next")
    t.save(tmp_path / "t.ckpt")
    rng_state = rng.bit_generator.state
    a = play(t, 6)
    pool_after = pool.ids
    rng.bit_generator.state = rng_state
    b_teacher = mg.load(tmp_path / "t.ckpt")
    assert b_teacher.pool.directory == pool.directory and b_teacher.pool.ids == pool_after
    assert play(b_teacher, 6) == a


def test_a_teacher_given_the_pool_s_relative_folder_saves_the_folder_itself(tmp_path: Path, monkeypatch) -> None:
    # the folder was saved as typed ("pool"): the checkpoint reopened another folder (or none) from another
    # working directory, and a strict load into a teacher over the same pool was refused as "other settings"
    monkeypatch.chdir(tmp_path)
    pool = _pool(tmp_path / "pool", n=3)
    t = mg.make_teacher("pfsp", pool.space, pool="pool", seed=0)
    t.observe(1, 1.0)
    t.save(tmp_path / "t.ckpt")
    monkeypatch.chdir(tmp_path.parent)
    back = mg.load(tmp_path / "t.ckpt")
    assert back.pool.directory == pool.directory and np.array_equal(back.probabilities(), t.probabilities())
    same = mg.make_teacher("pfsp", pool.space, pool=str(tmp_path / "pool"), seed=0)
    same.load_state_dict(t.state_dict())
    assert np.array_equal(same.probabilities(), t.probabilities())


def test_teacher_weights_follow_their_rule(tmp_path: Path) -> None:
    pool = _pool(tmp_path, n=3, max_size=3)
    space = pool.space
    sp = mg.make_teacher("self-play", space, pool=pool, seed=0)
    assert set(sp.propose(20)) == {2}
    hard = mg.make_teacher("pfsp", space, pool=pool, seed=0, epsilon=0.0, prior=0.0)
    var = mg.make_teacher("pfsp", space, pool=pool, seed=0, weighting="variance", epsilon=0.0, prior=0.0)
    for t in (hard, var):
        t.observe_batch([0] * 10 + [1] * 10 + [2] * 10, [1.0] * 9 + [0.0] + [1.0] * 5 + [0.0] * 5 + [0.0] * 10)
    p_hard, p_var = hard.probabilities()[:3], var.probabilities()[:3]
    rates = hard.win_rates(np.arange(3))
    np.testing.assert_allclose(rates, [0.9, 0.5, 0.0])
    np.testing.assert_allclose(p_hard, (1 - rates) ** 2 / ((1 - rates) ** 2).sum())
    np.testing.assert_allclose(p_var, rates * (1 - rates) / (rates * (1 - rates)).sum())
    # unplayed members have no evidence even without a prior: 0.5 each (not 0/0 read as 0, which made the hard
    # weighting favour them), so a fresh teacher is uniform
    fresh = mg.make_teacher("pfsp", space, pool=pool, seed=0, epsilon=0.0, prior=0.0)
    np.testing.assert_allclose(fresh.win_rates(np.arange(3)), 0.5)
    np.testing.assert_allclose(fresh.probabilities()[:3], 1 / 3)
    lp = mg.make_teacher("opponent-lp", space, pool=pool, seed=0, epsilon=0.0, denoise=0.0)
    lp.observe_batch([0, 1, 2] + [0] * 10, [0.0, 0.0, 0.0] + [1.0] * 10)
    assert lp.probabilities()[0] == pytest.approx(1.0)
    pool.add(b"new")
    assert lp.probabilities()[3] == pytest.approx(1.0)  # a new member is tried first
    fsp = mg.make_teacher("fsp", space, pool=pool, seed=0)
    np.testing.assert_allclose(fsp.probabilities()[pool.ids], 1 / 3)


def test_teacher_refuses_a_mismatched_space_and_an_empty_pool(tmp_path: Path) -> None:
    pool = OpponentPool(tmp_path, max_ids=10)
    with pytest.raises(ConfigError, match="pool.space"):
        mg.make_teacher("fsp", mg.Discrete(5), pool=pool)
    t = mg.make_teacher("fsp", pool.space, pool=pool)
    with pytest.raises(UnknownOpponentError, match="empty"):
        t.propose()
    assert t.n_proposed == 0


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_beliefs_of_an_opponent_teacher_over_an_empty_pool_are_empty(tmp_path: Path, name: str) -> None:
    # beliefs() (a dashboard's summary) raised UnknownOpponentError before the first snapshot
    pool = OpponentPool(tmp_path, max_ids=10)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    b = t.beliefs()
    assert b["opponents"] == [] and b["probability"] == [] and b["win_rate"] == [] and b["games"] == []
    json.dumps(b)
    pool.add(b"first")
    assert t.beliefs()["opponents"] == [0] and t.beliefs()["probability"] == [pytest.approx(1.0)]


# --------------------------------------------------------------------- dual
def test_dual_curriculum_pairs_levels_and_opponents(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    dual = DualCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["3x3", "4x4"]), seed=0),
                          mg.make_teacher("pfsp", pool.space, pool=pool, seed=0))
    pairs = dual.propose(6)
    assert all(level in ("3x3", "4x4") and opp in pool.ids for level, opp in pairs)
    dual.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], [1.0, 0.0, 0.5, 1.0, 1.0, 0.0])
    before = dual.state_dict()
    with pytest.raises(MagisterError):
        dual.observe("3x3", 999, 1.0)  # unknown opponent: the level teacher is rolled back too
    with pytest.raises(MagisterError):
        dual.observe("5x5", 0, 1.0)
    from magister.testing import states_equal
    assert states_equal(before, dual.state_dict())
    dual.save(tmp_path / "dual.ckpt")
    again = DualCurriculum.load(tmp_path / "dual.ckpt")
    assert again.propose(5) == dual.propose(5)
    with pytest.raises(ConfigError, match="opponent teacher"):
        DualCurriculum(mg.make_teacher("uniform", mg.Discrete(2)), mg.make_teacher("uniform", mg.Discrete(2)))


def test_dual_curriculum_refuses_one_teacher_as_both_halves(tmp_path: Path) -> None:
    # before: DualCurriculum(t, t) was taken, and every game was observed twice by t (2 games: n_observed 4)
    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    before = t.state_dict()
    with pytest.raises(ConfigError, match="both the level and the opponent teacher.*give it two teachers"):
        DualCurriculum(t, t)
    from magister.testing import states_equal
    assert states_equal(before, t.state_dict())
    # two teachers over the same pool are two teachers
    dual = DualCurriculum(mg.make_teacher("pfsp", pool.space, pool=pool, seed=1), t)
    (level, opponent) = dual.propose()
    dual.observe(level, opponent, 1.0)
    assert t.n_observed == dual.levels.n_observed == 1


class _LevelsThatFail(Uniform):
    """A level teacher of one's own whose proposals fail while ``fail`` is set (a generator of levels that raises)."""

    fail = False

    def _propose(self, k):
        if self.fail:
            raise ConfigError("no level can be made now")
        return super()._propose(k)


@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("with_info", [False, True])
def test_a_dual_proposal_the_level_teacher_refuses_changes_neither_teacher(tmp_path: Path, k, with_info) -> None:
    # before: the opponent teacher drew first, so a level teacher's failure left its generator moved: the next
    # pairs were not those a twin without the failure proposed
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=4, max_size=5)

    def dual():
        return DualCurriculum(_LevelsThatFail(mg.Discrete(["3x3", "4x4", "5x5"]), seed=0),
                              mg.make_teacher("pfsp", pool.space, pool=pool, seed=0))

    a, twin = dual(), dual()
    before = (a.levels._get_state(), a.levels.n_proposed, a.opponents.state_dict())
    a.levels.fail = True
    with pytest.raises(ConfigError, match="no level can be made"):
        a.propose_with_info(k) if with_info else a.propose(k)
    a.levels.fail = False
    assert states_equal(before[2], a.opponents.state_dict()) and a.opponents.n_proposed == 0
    assert states_equal(before[0], a.levels._get_state()) and a.levels.n_proposed == before[1]
    for _ in range(3):
        assert a.propose_with_info(k) == twin.propose_with_info(k)
        assert a.propose(k) == twin.propose(k)


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_an_opponent_teachers_proposal_changes_only_its_generator_and_count(tmp_path: Path, name) -> None:
    # DualCurriculum takes back a proposal of magister's own opponent teachers by their generator and count alone
    # (a copy of the whole state, max_ids long, cost every pair milliseconds): they must change nothing else
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=4, max_size=5)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    for opp, s in zip(t.propose(6), [1.0, 0.0, 0.5, 1.0, 0.0, 1.0]):
        t.observe(opp, s)
    before = (t._get_state(), t.n_observed)
    t.propose(), t.propose(4)
    assert states_equal(before[0], t._get_state()) and t.n_observed == before[1]


class _CountingPFSP(mg.teacher_class("pfsp")):
    """An opponent teacher of one's own whose proposals change its state (each member's count of games)."""

    def _propose(self, k):
        self.games[self.members()] += 1  # (its state: put back whole when the pair is refused)
        return super()._propose(k)


def test_a_dual_proposal_refused_puts_back_an_opponent_teacher_of_ones_own_whole(tmp_path: Path) -> None:
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=4, max_size=5)
    a = DualCurriculum(_LevelsThatFail(mg.Discrete(["3x3", "4x4"]), seed=0), _CountingPFSP(pool.space, pool=pool,
                                                                                            seed=0))
    a.propose(2)
    before = (a.opponents._get_state(), generator_state_of(a.opponents), a.opponents.n_proposed)
    a.levels.fail = True
    with pytest.raises(ConfigError, match="no level can be made"):
        a.propose(3)
    assert states_equal(before[0], a.opponents._get_state()) and a.opponents.n_proposed == before[2]
    assert generator_state_of(a.opponents) == before[1]


def generator_state_of(teacher):
    return json.dumps(teacher.rng.bit_generator.state, default=int)


def _dual_with_history(pool: OpponentPool, opponents: mg.Teacher | str, games: int = 30) -> DualCurriculum:
    """plr levels (scores taken in [-1, 2]) and an opponent teacher over ``pool``, after ``games`` games."""
    from magister.levels.spaces import SeedSpace

    if isinstance(opponents, str):
        opponents = mg.make_teacher(opponents, pool.space, pool=pool, seed=0)
    dual = DualCurriculum(mg.make_teacher("plr", SeedSpace(50), seed=0, score_range=(-1.0, 2.0)), opponents)
    pairs = dual.propose(games)
    dual.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], np.linspace(0.0, 1.0, games))
    return dual


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
@pytest.mark.parametrize("bad", ["never added", "outside the space", "score outside its range", "level refused"])
@pytest.mark.parametrize("one", [True, False])
def test_a_dual_game_one_teacher_refuses_changes_neither(tmp_path: Path, name, bad, one) -> None:
    # magister's own opponent teachers check the game before the level teacher records it, and the level teacher
    # is no longer copied to be put back: a game the opponent teacher refuses (the level teacher takes it) must
    # still leave both as they were, and a twin that never saw it goes on with the same pairs and states
    from magister.errors import InvalidTaskError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=4, max_size=5)  # ids 0..3 handed out, of max_ids 50
    a, twin = _dual_with_history(pool, name), _dual_with_history(pool, name)
    (level, opponent), = a.propose(1)
    assert twin.propose(1) == [(level, opponent)]
    game = {"never added": (level, 10, 1.0), "outside the space": (level, 50, 1.0),
            "score outside its range": (level, opponent, 1.5), "level refused": (50, opponent, 1.0)}[bad]
    error = InvalidScoreError if bad == "score outside its range" else InvalidTaskError
    with pytest.raises(error):
        if one:
            a.observe(*game)
        else:  # a good game first in the batch: nothing of it is recorded either
            a.observe_batch([level, game[0]], [opponent, game[1]], [0.5, game[2]])
    assert states_equal(a.state_dict(), twin.state_dict())
    for _ in range(3):
        pairs = a.propose(4)
        assert pairs == twin.propose(4)
        for d in (a, twin):
            d.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], [1.0, 0.0, 0.5, 1.0])
    assert states_equal(a.state_dict(), twin.state_dict())


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_a_dual_game_is_recorded_without_a_copy_of_the_level_teachers_state(tmp_path: Path, monkeypatch, name) -> None:
    # before: every observe copied the level teacher's whole state (plr with 10,000 levels seen: 0.8 ms a game,
    # where recording it in both teachers took 20 us) in case the opponent teacher refused the game
    import magister.opponents.dual as dual_module

    def copied(teacher):
        raise AssertionError(f"{teacher.name}'s state was copied")

    pool = _pool(tmp_path / "pool", n=4, max_size=5)
    dual = _dual_with_history(pool, name)
    monkeypatch.setattr(dual_module, "_snapshot", copied)
    (level, opponent), = dual.propose(1)
    dual.observe(level, opponent, 1.0)
    dual.observe_batch([level, level], [opponent, opponent], [0.0, 0.5])
    with pytest.raises(MagisterError):
        dual.observe(level, 10, 1.0)
    assert dual.levels.n_observed == dual.opponents.n_observed == 33


class _PFSPThatRefusesDraws(mg.teacher_class("pfsp")):
    """An opponent teacher of one's own whose observe refuses a game after it passed the base class's check."""

    def _observe(self, x, scores):
        if (scores == 0.5).any():
            raise InvalidScoreError("this teacher takes no draws")
        super()._observe(x, scores)


def test_a_dual_game_an_opponent_teacher_of_ones_own_refuses_puts_the_level_teacher_back(tmp_path: Path) -> None:
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=4, max_size=5)
    dual = _dual_with_history(pool, _PFSPThatRefusesDraws(pool.space, pool=pool, seed=0))
    (level, opponent), = dual.propose(1)
    before = dual.levels.state_dict()
    for call in (lambda: dual.observe(level, opponent, 0.5), lambda: dual.observe_batch([level] * 2, [opponent] * 2,
                                                                                       [1.0, 0.5])):
        with pytest.raises(InvalidScoreError, match="no draws"):
            call()
        assert states_equal(before, dual.levels.state_dict())
    dual.observe(level, opponent, 1.0)
    assert dual.levels.n_observed == dual.opponents.n_observed == 31


def test_dual_curriculum_says_which_games_are_evaluate_only(tmp_path: Path) -> None:
    # with robust-plr as the level teacher, the learner must not train on new levels: DualCurriculum had no
    # propose_with_info, so the flag never reached the learner
    from magister.levels import SeedSpace

    def dual():
        return DualCurriculum(mg.make_teacher("robust-plr", SeedSpace(), seed=0, capacity=8),
                              mg.make_teacher("fsp", pool.space, pool=pool, seed=0))

    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    a, b = dual(), dual()
    infos = []
    for _ in range(20):
        pairs, inf = a.propose_with_info(3)
        assert pairs == b.propose(3)  # the same games as propose
        a.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], [(p[0] % 7) / 7 for p in pairs])
        b.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], [(p[0] % 7) / 7 for p in pairs])
        infos += inf
    assert {i["train"] for i in infos} == {True, False} and all(i["train"] == i["replay"] for i in infos)
    (level, opponent), info = a.propose_with_info()
    assert (level, opponent) == b.propose() and opponent in pool.ids and info["train"] == info["replay"]


def test_a_dual_curriculum_keeps_its_waiting_level_proposals_and_a_new_process_drops_them(tmp_path: Path) -> None:
    # docs/selfplay.md: DualCurriculum.load keeps the level teacher's proposals waiting for a score; a run resumed in
    # a new process gives them back with dual.levels.drop_pending() (the page did not say so)
    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    dual = DualCurriculum(mg.make_teacher("robust-plr", mg.Discrete(["3x3", "4x4", "5x5"]), seed=0),
                          mg.make_teacher("fsp", pool.space, pool=pool, seed=0))
    pairs, _ = dual.propose_with_info(4)
    dual.save(tmp_path / "dual.ckpt")
    same_run = DualCurriculum.load(tmp_path / "dual.ckpt")  # loaded back into the run: the games' scores answer them
    same_run.observe_batch([p[0] for p in pairs], [p[1] for p in pairs], [0.5] * 4)
    assert same_run.levels.drop_pending() == 0
    resumed = DualCurriculum.load(tmp_path / "dual.ckpt")  # a new process: those games will never report
    assert resumed.levels.drop_pending() == 4
    assert resumed.levels.drop_pending() == 0


@pytest.mark.parametrize("name", ["pfsp", "opponent-lp"])
def test_per_opponent_statistics_refuse_ids_outside_the_space(tmp_path: Path, name: str) -> None:
    from magister.errors import InvalidTaskError

    pool = _pool(tmp_path / "pool", n=3, max_size=5, max_ids=20)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    t.observe(1, 1.0)
    before = json.dumps(t.beliefs(), sort_keys=True)
    query = t.progress if name == "opponent-lp" else t.win_rates
    # before: 25 was numpy's raw IndexError, -1 read id 19's statistics, a mask numpy's shape error
    for ids in ([25], [-1], [True, False], [0.5]):
        with pytest.raises(InvalidTaskError, match="0 to 19"):
            query(np.array(ids))
    assert json.dumps(t.beliefs(), sort_keys=True) == before
    assert np.array_equal(query([0, 1, 2]), query(None)) and query(np.array([], dtype=int)).shape == (0,)
    assert query(1) == query([1])[0]  # one id: one value (opponent-lp did so; win_rates raised a raw TypeError)


@pytest.mark.parametrize("name", ["pfsp", "opponent-lp"])
def test_proposals_do_not_check_the_members_ids_again(tmp_path: Path, name: str, monkeypatch) -> None:
    # b955e17's checks of the public win_rates / progress ran on every proposal, on the pool's own member ids (a
    # tenth more time per game); the proposals' own path does not check them, the public methods still do
    import magister.opponents.teacher as teacher_module

    def play(t):
        return [int(t.observe(x := t.propose(), float(i % 2)) or x) for i in range(30)]

    pool = _pool(tmp_path / "pool", n=3, max_size=5, max_ids=20)
    ref = play(mg.make_teacher(name, pool.space, pool=pool, seed=0))

    def refuse(*args, **kwargs):
        raise AssertionError("the proposal checked the members' ids again")

    monkeypatch.setattr(teacher_module, "task_indices", refuse)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    assert play(t) == ref
    with pytest.raises(AssertionError, match="checked"):  # the public methods still check
        (t.progress if name == "opponent-lp" else t.win_rates)([0])


@pytest.mark.parametrize("gone", ["levels", "opponents"])
def test_a_dual_state_without_one_of_its_teachers_is_a_checkpoint_error(tmp_path: Path, gone: str) -> None:
    # a raw KeyError from DualCurriculum.load and load_state_dict
    from magister import checkpoint
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=3)
    dual = DualCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["3x3", "4x4"]), seed=0),
                          mg.make_teacher("fsp", pool.space, pool=pool, seed=0))
    state = {k: v for k, v in dual.state_dict().items() if k != gone}
    checkpoint.save_state(tmp_path / "dual.ckpt", state)
    with pytest.raises(CheckpointError, match=f"damaged DualCurriculum state: no {gone} teacher state"):
        DualCurriculum.load(tmp_path / "dual.ckpt")
    before = dual.state_dict()
    with pytest.raises(CheckpointError, match=f"no {gone} teacher state"):
        dual.load_state_dict(state)
    assert states_equal(before, dual.state_dict())
    mg.make_teacher("uniform", mg.Discrete(2)).save(tmp_path / "teacher.ckpt")
    with pytest.raises(CheckpointError, match="is not a DualCurriculum state"):
        DualCurriculum.load(tmp_path / "teacher.ckpt")


def test_magister_load_of_a_dual_checkpoint_names_dual_curriculum_load(tmp_path: Path) -> None:
    # mg.load("dual.ckpt") said only "not a teacher state (missing 'teacher' entry)", as if the file were damaged
    from magister.errors import CheckpointError

    pool = _pool(tmp_path / "pool", n=3)
    DualCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["3x3", "4x4"]), seed=0),
                   mg.make_teacher("fsp", pool.space, pool=pool, seed=0)).save(tmp_path / "dual.ckpt")
    with pytest.raises(CheckpointError, match=r"a DualCurriculum's .*DualCurriculum.load\(path\)"):
        mg.load(tmp_path / "dual.ckpt")
    with pytest.raises(ConfigError, match=r"OpponentPool, which is not one but has one: pass its .space.*"
                                          r"pool.space, pool=pool"):
        mg.make_teacher("pfsp", pool)  # the pool, not its space


def test_dual_curriculum_observe_batch_refuses_a_single_score_clearly(tmp_path: Path) -> None:
    # a scalar score (or a single level given as text) raised a bare TypeError from len()
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=2, max_size=4)
    dual = DualCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["3x3", "4x4"]), seed=0),
                          mg.make_teacher("fsp", pool.space, pool=pool, seed=0))
    (level, opponent), = dual.propose(1)
    before = dual.state_dict()
    for args in (([level], [opponent], 1.0), ([level], [opponent], np.float64(1.0)), (level, [opponent], [1.0])):
        with pytest.raises(InvalidScoreError, match="sequence of"):
            dual.observe_batch(*args)
    assert states_equal(before, dual.state_dict())
    dual.observe_batch([level], [opponent], [1.0])
    assert dual.levels.n_observed == 1


def test_dual_curriculum_refused_proposal_leaves_the_level_teacher_as_it_was(tmp_path: Path) -> None:
    from magister.testing import states_equal

    pool = OpponentPool(tmp_path / "empty", max_size=4, max_ids=10)
    levels = mg.make_teacher("lp-bandit", mg.Discrete(["3x3", "4x4"]), seed=0)
    dual = DualCurriculum(levels, mg.make_teacher("fsp", pool.space, pool=pool, seed=0))
    before = levels.state_dict()
    for k in (None, 3):
        with pytest.raises(UnknownOpponentError, match="pool is empty"):
            dual.propose(k)
    assert states_equal(before, levels.state_dict())  # before: two level draws were spent on refused pairs


def test_dual_curriculum_takes_a_level_teacher_that_cannot_be_saved(tmp_path: Path) -> None:
    from magister.levels.spaces import SeedSpace
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=2, max_size=4)
    levels = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=lambda level, rng: (level + 1) % 100)
    dual = DualCurriculum(levels, mg.make_teacher("fsp", pool.space, pool=pool, seed=0))
    level, opponent = dual.propose()
    dual.observe(level, opponent, 1.0)  # before: CheckpointError, the rollback snapshot needed state_dict()
    assert levels.n_observed == 1 and dual.opponents.n_observed == 1
    before = (levels._get_state(), levels.rng.bit_generator.state, levels.n_observed)
    with pytest.raises(MagisterError):
        dual.observe(level, 999, 1.0)  # unknown opponent: the level teacher is rolled back
    assert states_equal(before, (levels._get_state(), levels.rng.bit_generator.state, levels.n_observed))


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_an_outcome_against_an_id_the_pool_never_handed_out_is_refused(tmp_path: Path, name: str) -> None:
    from magister.errors import InvalidTaskError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=3, max_size=2)  # ids 0..2, 0 evicted
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    before = t.state_dict()
    for bad in ([7], [1, 7]):  # before: counted, and id 7's next snapshot inherited the made-up games
        with pytest.raises(InvalidTaskError, match="never added"):
            t.observe_batch(bad, [1.0] * len(bad))
    with pytest.raises(InvalidTaskError, match="never added"):
        t.observe(3, 1.0)
    assert states_equal(before, t.state_dict())
    t.observe_batch([0, 2], [1.0, 0.0])  # an evicted member's late outcome is still taken
    pool.add(b"new")  # id 3 now exists
    t.observe(3, 0.5)
    assert t.n_observed == 3 and t.games[[0, 2, 3]].tolist() == [1, 1, 1]


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
@pytest.mark.parametrize("entry,value", [("win_mean", float("nan")), ("win_mean", float("inf")), ("games", -4)])
def test_a_state_with_a_nan_win_mean_or_negative_games_is_refused(tmp_path: Path, name: str, entry: str,
                                                                   value: float) -> None:
    # taken as they were: the beliefs held NaN (not JSON) and games counted below zero
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=3)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    for _ in range(10):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    state["algorithm"][entry][1] = value
    u = mg.make_teacher(name, pool.space, pool=pool, seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match="games must be >= 0 and win means finite"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_a_numpy_bool_is_not_taken_for_an_outcome() -> None:
    from magister.opponents import as_outcome

    for flag in (True, False, np.bool_(True), np.bool_(False)):  # before: np.True_ was a win, np.False_ a loss
        with pytest.raises(InvalidScoreError, match="outcome"):
            as_outcome(flag)
    assert as_outcome(np.float64(0.5)) == "draw" and as_outcome(np.int64(1)) == "win"


# ------------------------------------------------------------------ ratings
def test_fit_elo_recovers_ratings_from_cross_play(tmp_path: Path) -> None:
    true = np.array([1000.0, 1200.0, 1400.0, 1700.0])
    e = 1 / (1 + 10 ** ((true[None, :] - true[:, None]) / 400))
    games = np.full((4, 4), 4000.0)
    np.fill_diagonal(games, 0)
    r = fit_elo(e, games, anchor=0, prior_games=0.0)
    np.testing.assert_allclose(r, true, atol=1.0)
    half = np.triu(games)  # each pair played once, seen from one side only
    np.testing.assert_allclose(fit_elo(e, half, anchor=0, prior_games=0.0), true, atol=1.0)
    unbeaten = fit_elo(np.array([[0.5, 1.0], [0.0, 0.5]]), np.array([[0, 10], [10, 0]]))
    assert np.isfinite(unbeaten).all() and unbeaten[0] > unbeaten[1]
    with pytest.raises(ConfigError, match="square"):
        fit_elo(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        fit_elo(np.array([[0.5, 2.0], [0.0, 0.5]]), np.ones((2, 2)))
    out = plot_cross_play(e, ["a", "b", "c", "d"], tmp_path / "x.png")
    assert out.exists() and out.stat().st_size > 1000


def test_a_readers_refused_add_leaves_the_writers_snapshots_alone(tmp_path: Path) -> None:
    # a reader's add() wrote its snapshot file before the index write refused it; with the reader's view stale,
    # that file was a member the writer had just added, which then failed every load as corrupt
    pool = _pool(tmp_path / "p", n=2)
    reader = OpponentPool(tmp_path / "p", readonly=True)
    new = pool.add(b"the writer's snapshot")
    files = {f.name: f.read_bytes() for f in (tmp_path / "p" / "snapshots").iterdir()}
    with pytest.raises(ConfigError, match="read-only"):
        reader.add(b"a reader's bytes")
    assert {f.name: f.read_bytes() for f in (tmp_path / "p" / "snapshots").iterdir()} == files
    assert pool.load(new) == b"the writer's snapshot"


@pytest.mark.parametrize("failing", ["pool.json", "snapshot"])
def test_an_add_whose_index_or_snapshot_write_fails_leaves_the_pool_and_its_folder_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    # before: add() wrote the snapshot file, then the index; an index write that failed (a full disk) left the
    # snapshot file in snapshots/, named by no index, and both failures raised a bare "[Errno 28] No space left on
    # device" naming no file
    import errno

    import magister.opponents.pool as pool_module

    pool = _pool(tmp_path, n=4, max_size=4)  # full: the add evicts a member
    files = {f.name: f.read_bytes() for f in (tmp_path / "snapshots").iterdir()}
    index, state, ids = pool.index_path.read_bytes(), pool.state(), pool.ids
    real = pool_module.atomic_write

    def full_disk(path, data):
        if (Path(path).name == "pool.json") == (failing == "pool.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(pool_module, "atomic_write", full_disk)
    named = "pool.json" if failing == "pool.json" else "000004.bin"
    with pytest.raises(OSError, match=f"{named}.*No space left on device.*nothing was added") as e:
        pool.add(b"new snapshot", step=500)
    assert e.value.errno == errno.ENOSPC
    assert {f.name: f.read_bytes() for f in (tmp_path / "snapshots").iterdir()} == files
    assert pool.index_path.read_bytes() == index and pool.state() == state and pool.ids == ids
    monkeypatch.setattr(pool_module, "atomic_write", real)
    assert pool.add(b"new snapshot", step=500) == 4  # the same writer goes on, with the id the failed add had
    assert pool.load(4) == b"new snapshot" and OpponentPool(tmp_path, readonly=True).ids == pool.ids


def test_a_second_writer_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    # before: two processes opening one pool writable (e.g. an OpponentEnv with report=True in a worker beside the
    # driver's pool.report_many) each wrote the index from memory: the second silently overwrote the games the
    # first recorded, and its add() overwrote the snapshot file of the member the first had just added
    pool = _pool(tmp_path, n=2)
    second = OpponentPool(tmp_path)  # another process's view of the same folder
    pool.report(0, "win")
    new = pool.add(b"the writer's snapshot")
    on_disk = pool.index_path.read_bytes()
    for change in (lambda: second.report(0, "loss"), lambda: second.report_many([1], ["draw"]),
                   lambda: second.add(b"the second writer's"), lambda: second.remove(1),
                   lambda: second.set_ratings({1: 1200.0})):
        with pytest.raises(ConfigError, match="another writer.*readonly=True.*report=False"):
            change()
    assert pool.index_path.read_bytes() == on_disk and pool.load(new) == b"the writer's snapshot"
    assert second.ids == [0, 1] and second.record(0).games == 0, "a refused writer changes nothing, in memory too"
    # a refresh shows the second one the writer's changes, but does not make it the writer (see the next test)
    assert second.refresh() and second.ids == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"another writer.*re-read the pool since"):
        second.report(0, "loss")
    # taking over once the first has stopped: the folder opened anew; the first is refused in turn
    second = OpponentPool(tmp_path)
    second.report(0, "loss")
    with pytest.raises(ConfigError, match="another writer"):
        pool.report(1, "win")
    assert OpponentPool(tmp_path, readonly=True).record(0).games == 2
    # one writer, as usual: its own changes never make it refuse
    assert not second.refresh()
    second.add(b"more")
    second.report_many([0, 2], ["win", "draw"])
    assert OpponentPool(tmp_path, readonly=True).record(0).games == 3


def test_two_writers_that_refresh_before_every_change_are_refused_not_merged(tmp_path: Path) -> None:
    # before: the check compared the index on disk with the one the object last *read*, so a second writer that
    # refreshed before each change (as every opponent teacher's propose and every OpponentEnv reset do) passed it:
    # two runs' snapshots and games were mixed in one pool without a word, and the error came only at random, when
    # the other wrote between a refresh and a change. The design is one writer: the second is refused, every time
    pool = _pool(tmp_path, n=2)
    second = OpponentPool(tmp_path)
    pool.refresh()
    pool.report(0, "win")
    refused = 0
    for i in range(3):
        for writer, outcome in ((second, "loss"), (pool, "win")):
            writer.refresh()
            try:
                writer.report(1, outcome)
            except ConfigError as e:
                assert "another writer" in str(e) and "OpponentPool(folder)" in str(e)
                refused += 1
        second.refresh()
        with pytest.raises(ConfigError, match="another writer"):
            second.add(b"the second run's snapshot %d" % i)
    assert refused == 3, "the second writer is refused at every change, the first one at none"
    assert OpponentPool.coerce(str(tmp_path)) is pool  # (a teacher given the folder takes the writer, not second)
    on_disk = OpponentPool(tmp_path, readonly=True)
    assert on_disk.ids == [0, 1] and [r.games for r in on_disk.records()] == [1, 3]  # nothing of the first lost
    assert sorted(f.name for f in (tmp_path / "snapshots").iterdir()) == ["000000.bin", "000001.bin"]


def _refresh_and_report(folder: str, games: int, conn) -> None:
    pool, recorded = OpponentPool(folder), 0
    for _ in range(games):
        pool.refresh()
        try:
            pool.report(0, "win")
            recorded += 1
        except ConfigError:
            pass
    conn.send(recorded)


def test_two_writers_racing_never_lose_a_recorded_game(tmp_path: Path) -> None:
    # the check of the index and the write are one step under the pool's lock: of two writer processes that
    # both refresh before each report, each report is either on disk or refused, never silently overwritten
    multiprocessing = pytest.importorskip("multiprocessing")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    ctx = multiprocessing.get_context("fork")
    _pool(tmp_path, n=1)
    pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
    procs = [ctx.Process(target=_refresh_and_report, args=(str(tmp_path), 30, w)) for _, w in pipes]
    for p in procs:
        p.start()
    recorded = sum(r.recv() for r, _ in pipes)
    for p in procs:
        p.join()
    assert recorded > 0 and OpponentPool(tmp_path, readonly=True).record(0).games == recorded


@pytest.mark.parametrize("change", ["add", "report"])
def test_threads_sharing_one_pool_lose_no_snapshot_and_no_game(tmp_path: Path, change: str) -> None:
    # one writable pool shared by threads (env workers in threads): each change was planned from the index the
    # object held before taking the lock, and the object's own last write passed the second-writer check, so two
    # adds at once got the same id (one snapshot overwritten) and two reports at once kept one game. Forced: the
    # first thread stops where it enters the lock, the second one's change goes through, then the first goes on.
    import threading

    pool = _pool(tmp_path, n=1)
    enter, stopped, go = pool._writing, threading.Event(), threading.Event()

    def writing():
        if threading.current_thread() is first:
            stopped.set()
            assert go.wait(30)
        return enter()

    pool._writing = writing  # type: ignore[method-assign]
    act = (lambda tag: pool.add(tag.encode())) if change == "add" else (lambda tag: pool.report(0, "win"))
    first = threading.Thread(target=act, args=("first",))
    first.start()
    assert stopped.wait(30)
    act("second")
    go.set()
    first.join(30)
    fresh = OpponentPool(tmp_path, readonly=True)
    if change == "add":
        assert fresh.ids == [0, 1, 2] and {fresh.load(1), fresh.load(2)} == {b"first", b"second"}
    else:
        assert fresh.record(0).games == 2 and fresh.record(0).wins == 2


def test_a_pool_pickles_for_env_workers_with_a_lock_of_its_own(tmp_path: Path) -> None:
    # the thread lock added for threads sharing one pool made every pool unpicklable ("cannot pickle
    # '_thread.RLock' object"): an AsyncVectorEnv of OpponentEnvs sends its pool to the workers by pickle
    import pickle

    pool = _pool(tmp_path, n=2)
    for original in (pool, OpponentPool(tmp_path, readonly=True)):
        copy = pickle.loads(pickle.dumps(original))
        assert copy.ids == original.ids and copy.load(1) == original.load(1)
        assert copy._thread_lock is not original._thread_lock
    pool.report(0, "win")  # the writer still writes
    assert OpponentPool(tmp_path, readonly=True).record(0).wins == 1


@pytest.mark.parametrize("field, value", [("max_size", "x"), ("eviction", "lru"), ("k", None), ("max_ids", 0),
                                          ("keep_first", "yes")])
def test_an_index_with_corrupt_settings_is_refused_as_unreadable(tmp_path: Path, field: str, value) -> None:
    # settings read back from pool.json were not checked: max_size "x" failed with a raw ValueError at open,
    # an unknown eviction silently acted as "easiest"
    pool = _pool(tmp_path / "p", n=2)
    doc = json.loads(pool.index_path.read_text())
    doc["settings"][field] = value
    pool.index_path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=f"cannot be read.*{field}"):
        OpponentPool(tmp_path / "p")
    with pytest.raises(SnapshotError, match="cannot be read"):
        pool.refresh()
    assert pool.ids == [0, 1]


def test_set_ratings_and_report_many_name_a_wrong_argument_kind(tmp_path: Path) -> None:
    # set_ratings([...]) raised a raw AttributeError, report_many(5, [...]) a raw TypeError
    pool = _pool(tmp_path, n=2)
    before = [r.to_dict() for r in pool.records()]
    with pytest.raises(ConfigError, match="set_ratings takes a dict"):
        pool.set_ratings([1200.0])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="report_many takes a list"):
        pool.report_many(0, ["win"])  # type: ignore[arg-type]
    assert [r.to_dict() for r in pool.records()] == before


def test_fit_elo_without_the_prior_refuses_ratings_that_diverge(tmp_path: Path) -> None:
    # prior_games=0 with an unbeaten player returned finite numbers that depended on iterations (4383 at 100,
    # 4681 at 1000): the maximum-likelihood rating is infinite
    s = np.array([[0.5, 1.0, 1.0], [0.0, 0.5, 0.7], [0.0, 0.3, 0.5]])
    g = np.full((3, 3), 10) - 10 * np.eye(3, dtype=int)
    for iterations in (100, 1000):
        with pytest.raises(ConfigError, match="prior_games > 0"):
            fit_elo(s, g, prior_games=0.0, iterations=iterations)
    np.testing.assert_allclose(fit_elo(s, g, iterations=100), fit_elo(s, g, iterations=1000))  # the prior: finite
    np.testing.assert_allclose(fit_elo(np.full((3, 3), 0.5), g, prior_games=0.0), 1000.0)  # draws only
    np.testing.assert_allclose(fit_elo(np.full((3, 3), np.nan), np.zeros((3, 3)), prior_games=0.0), 1000.0)
    assert fit_elo(np.zeros((0, 0)), np.zeros((0, 0))).shape == (0,)
    # the cross-play picture: a score outside [0, 1] was drawn as 0 or 1; nan (not played) stays fine
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        plot_cross_play(np.array([[0.5, 3.0], [0.0, 0.5]]), ["a", "b"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    assert plot_cross_play(np.array([[np.nan, 1.0], [0.0, np.nan]]), ["a", "b"], tmp_path / "ok.png").exists()
    # a single number, not a matrix: a raw TypeError ("len() of unsized object")
    with pytest.raises(ConfigError, match="square score matrix"):
        plot_cross_play(0.5, ["a"], tmp_path / "one.png")
    with pytest.raises(ConfigError, match="one label per row"):
        plot_cross_play(np.full((2, 2), 0.5), ["a"], tmp_path / "one.png")
    # a snapshot label with "$" in it is drawn as written: "a$^$b" failed the picture with the math parser's
    # ValueError, and "run $1 and $2" was drawn with "1 and " as math
    assert plot_cross_play(np.full((2, 2), 0.5), ["a$^$b", "run $1 and $2"], tmp_path / "dollar.png").exists()


def test_fit_elo_refuses_settings_that_cannot_work() -> None:
    # prior_games=-1, iterations=0 and mean=nan returned numbers (nan for mean); anchor=1.0 raised a raw IndexError
    s, g = np.array([[0.0, 0.75], [0.0, 0.0]]), np.array([[0, 4], [0, 0]])
    r = fit_elo(s, g)  # by hand: 3.25 of 4.5 games won with the prior, a gap of 400 log10(3.25 / 1.25)
    assert r.mean() == pytest.approx(1000.0) and r[0] - r[1] == pytest.approx(400 * np.log10(3.25 / 1.25))
    for kw, what in (({"prior_games": -1}, "prior_games"), ({"iterations": 0}, "iterations"),
                     ({"mean": float("nan")}, "mean"), ({"anchor": 1.0}, "anchor"), ({"anchor": True}, "anchor")):
        with pytest.raises(ConfigError, match=what):
            fit_elo(s, g, **kw)
    assert fit_elo(s, g, anchor=np.int64(1))[1] == pytest.approx(1000.0)


def test_an_index_written_by_a_newer_magister_is_refused_saying_to_upgrade(tmp_path: Path) -> None:
    # the refusal advised restoring a backup or starting a new pool in another folder: the index was fine
    pool = _pool(tmp_path / "p", n=2)
    doc = json.loads(pool.index_path.read_text())
    doc["version"] = 2
    pool.index_path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=r"format version 2, written by a newer magister; this one reads up to "
                                            r"1: upgrade magister"):
        OpponentPool(tmp_path / "p")
    assert json.loads(pool.index_path.read_text()) == doc


@pytest.mark.parametrize("field, value", [("version", -1), ("version", 0), ("version", True), ("version", 1.5),
                                          ("version_counter", -1)])
def test_an_index_with_an_impossible_version_is_refused_as_unreadable(tmp_path: Path, field: str, value) -> None:
    # a format version of -1 (or 0, true) and a negative change counter were read as they were (checkpoint fuzz);
    # the checkpoint format refuses such versions as corrupt
    pool = _pool(tmp_path / "p", n=2)
    doc = json.loads(pool.index_path.read_text())
    doc[field] = value
    pool.index_path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=f"cannot be read.*{field}"):
        OpponentPool(tmp_path / "p")
    assert json.loads(pool.index_path.read_text()) == doc


def test_a_pool_index_with_impossible_members_is_refused(tmp_path: Path) -> None:
    # an index listing an id twice lost one record; an id never handed out (>= next_id) had its snapshot
    # overwritten by a later add(), and one >= max_ids made mask() raise IndexError
    _pool(tmp_path, n=3)
    doc = json.loads((tmp_path / "pool.json").read_text())

    def reopen(edit):
        bad = json.loads(json.dumps(doc))
        edit(bad)
        (tmp_path / "pool.json").write_text(json.dumps(bad))
        with pytest.raises(SnapshotError, match="cannot be read"):
            OpponentPool(tmp_path)

    reopen(lambda d: d["members"].append(dict(d["members"][0])))
    reopen(lambda d: d["members"][0].update(id=7))
    reopen(lambda d: d["members"][0].update(id=10**5))
    reopen(lambda d: d["members"][0].update(games=-3, wins=-3))
    reopen(lambda d: d["members"][0].update(games=5))
    reopen(lambda d: d.update(next_id=10**6))
    (tmp_path / "pool.json").write_text(json.dumps(doc))
    assert OpponentPool(tmp_path).ids == [0, 1, 2]


def test_a_boolean_array_outcome_is_refused_as_a_boolean_is(tmp_path: Path) -> None:
    # report(0, True) and report(0, np.True_) were refused but report(0, np.array(True)) recorded a win
    pool = _pool(tmp_path, n=2)
    before = [r.to_dict() for r in pool.records()]
    for bad in (True, np.True_, np.array(True), np.array(False)):
        with pytest.raises(InvalidScoreError, match="outcome must be 'win', 'draw' or 'loss'"):
            pool.report(0, bad)
    assert [r.to_dict() for r in pool.records()] == before
    assert pool.report(0, np.float32(0.5)).draws == 1 and pool.report(1, np.int64(1)).wins == 1


def test_dual_curriculum_does_not_save_an_unregistered_level_teacher(tmp_path: Path) -> None:
    # DualCurriculum.load rebuilds each half by name: an unregistered subclass came back as its parent
    from magister.teachers.uniform import Uniform

    class Mine(Uniform):
        pass

    dual = DualCurriculum(Mine(mg.Discrete(2), seed=0), mg.make_teacher("self-play", mg.Discrete(3), seed=0))
    with pytest.raises(MagisterError, match="Mine is not registered"):
        dual.save(tmp_path / "dual.ckpt")
    assert not (tmp_path / "dual.ckpt").exists()
    dual = DualCurriculum(mg.make_teacher("uniform", mg.Discrete(2), seed=0), dual.opponents)
    assert DualCurriculum.load(dual.save(tmp_path / "dual.ckpt")).propose() == dual.propose()


def test_a_thread_refreshing_while_another_adds_does_not_bring_back_an_older_index(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    # a thread's refresh (an OpponentEnv's reset, an opponent teacher's propose) that saw the index a change had
    # just written, and read it before that change took it in, assigned it after the changes that followed: the
    # pool went back to an older index (the newest member gone) and its next add was refused as if a second
    # writer had changed the pool. Forced: the refresh reads the first add's index, then waits for the second add.
    import threading

    import magister.opponents.pool as pool_module

    pool = _pool(tmp_path, n=1)
    read, go, armed = threading.Event(), threading.Event(), [True]
    write, check = pool_module.atomic_write, pool_module._check_members

    def refresh():
        pool.refresh()

    def atomic_write(path, data):
        write(path, data)
        if armed[0] and Path(path).name == "pool.json":
            armed[0] = False
            refresher.start()
            read.wait(1)  # the fixed pool: the refresh waits for the change to finish instead

    def check_members(*args):
        if threading.current_thread() is refresher:
            read.set()
            assert go.wait(30)
        return check(*args)

    refresher = threading.Thread(target=refresh)
    monkeypatch.setattr(pool_module, "atomic_write", atomic_write)
    monkeypatch.setattr(pool_module, "_check_members", check_members)
    pool.add(b"first")
    pool.add(b"second")
    go.set()
    refresher.join(30)
    assert pool.ids == [0, 1, 2]
    assert pool.add(b"third") == 3
    assert OpponentPool(tmp_path, readonly=True).ids == [0, 1, 2, 3]


@pytest.mark.parametrize("change", ["add", "report", "report_many", "remove", "set_ratings"])
def test_a_change_after_the_pool_s_folder_was_deleted_says_so_and_changes_nothing(tmp_path: Path,
                                                                                   change: str) -> None:
    # before: a raw FileNotFoundError about "pool.lock" (the lock is opened before the index is checked)
    import shutil

    pool = _pool(tmp_path / "pool", n=3)
    records, n_added = pool.records(), pool.n_added
    shutil.rmtree(tmp_path / "pool")
    with pytest.raises(SnapshotError, match="folder .* is gone(.|\n)*Nothing was changed"):
        {"add": lambda: pool.add(b"new"), "report": lambda: pool.report(1, "win"),
         "report_many": lambda: pool.report_many([1, 2], ["win", "loss"]), "remove": lambda: pool.remove(1),
         "set_ratings": lambda: pool.set_ratings({1: 1200.0})}[change]()
    assert pool.records() == records and pool.n_added == n_added and not (tmp_path / "pool").exists()


def test_a_pool_folder_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    # before: a raw NotADirectoryError about "<path>/snapshots"
    (tmp_path / "runs").write_text("not a folder")
    for where in (tmp_path / "runs", tmp_path / "runs" / "pool"):
        with pytest.raises(ConfigError, match="is a file; give the path of a folder"):
            OpponentPool(where)


@pytest.mark.parametrize("entry,value", [("games", 1.5), ("wins", "1"), ("games", True), ("id", 0.5), ("step", 1e300),
                                         ("sha256", 5), ("name", [1]), ("rating", "1000")])
def test_an_index_record_entry_of_another_kind_is_refused_not_truncated(tmp_path: Path, entry: str, value) -> None:
    # before: int()/float()/str() took them: a count of 1.5 as 1 (and the check that games = wins + draws + losses
    # then passed), "1" as 1, true as 1, a float step of 1e300 as a 301-digit id
    pool = _pool(tmp_path, n=2)
    pool.report(0, "win")
    doc = json.loads((tmp_path / "pool.json").read_text())
    edited = json.loads(json.dumps(doc))
    edited["members"][0][entry] = value
    (tmp_path / "pool.json").write_text(json.dumps(edited))
    with pytest.raises(SnapshotError, match=f"cannot be read \\(member entry '{entry}' is .*, not a"):
        OpponentPool(tmp_path, readonly=True)
    (tmp_path / "pool.json").write_text(json.dumps(doc))
    assert OpponentPool(tmp_path, readonly=True).records() == pool.records()


@pytest.mark.parametrize("entry,value", [("next_id", 1.5), ("version_counter", "7"), ("learner_rating", "1000"),
                                         ("members", {})])
def test_an_index_counter_of_another_kind_is_refused(tmp_path: Path, entry: str, value) -> None:
    # before: next_id 1.5 was read as 1, "7" as 7, and members {} (an object, not a list) as an empty pool whose
    # next write dropped every record
    _pool(tmp_path, n=2)
    doc = json.loads((tmp_path / "pool.json").read_text())
    doc[entry] = value
    (tmp_path / "pool.json").write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match=f"cannot be read \\({entry} is .*, not a"):
        OpponentPool(tmp_path)


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_a_teacher_state_with_games_against_ids_the_pool_never_handed_out_is_refused(tmp_path: Path,
                                                                                     name: str) -> None:
    # before: loaded; a new pool made in the folder (or an older copy put back) then handed those ids to new
    # snapshots, which started with the statistics of the old pool's members
    import shutil

    from magister.checkpoint import load_state
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=6, max_size=3)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    for _ in range(30):
        t.observe(t.propose(), 1.0)
    t.save(tmp_path / "t.ckpt")
    assert mg.load(tmp_path / "t.ckpt").state_dict()["algorithm"]["games"].sum() == 30  # its own pool: fine
    shutil.rmtree(tmp_path / "pool")
    fresh = _pool(tmp_path / "pool", n=2, max_size=3)
    with pytest.raises(CheckpointError, match=r"names 6 ids handed out.*only 2.*another pool"):
        mg.load(tmp_path / "t.ckpt")
    with pytest.raises(CheckpointError, match=r"names 6 ids handed out.*only 2.*another pool"):
        mg.load(tmp_path / "t.ckpt", pool="rewind")
    with pytest.raises(CheckpointError, match=r"games against opponents \[([345], )*5\].*handed out only 2"):
        mg.load(tmp_path / "t.ckpt", pool="current")
    u = mg.make_teacher(name, fresh.space, pool=fresh, seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match="saved with another pool"):
        # (the state from the file: t's own pool object is the one the folder was replaced under, and refuses)
        u.load_state_dict(load_state(tmp_path / "t.ckpt"))
    assert states_equal(before, u.state_dict())


def test_a_batch_with_a_member_evicted_during_its_game_names_how_to_record_the_rest(tmp_path: Path) -> None:
    # a vector env's games end after the learner evicted their opponent: the batch is refused whole, and the
    # error said only "(it was evicted)"
    pool = _pool(tmp_path, n=3, max_size=3)
    pool.add(b"new")  # evicts 0 while a game against it was being played
    with pytest.raises(UnknownOpponentError, match=r"evicted(.|\n)*leave out the games against members evicted"):
        pool.report_many([0, 1, 2], ["win", "loss", "draw"])
    assert [r.games for r in pool.records()] == [0, 0, 0]
    ids, outcomes = [0, 1, 2], ["win", "loss", "draw"]
    kept = [k for k, i in enumerate(ids) if i in pool]  # the docs' recipe
    pool.report_many([ids[k] for k in kept], [outcomes[k] for k in kept])
    assert [r.games for r in pool.records()] == [1, 1, 0]
    with pytest.raises(UnknownOpponentError) as err:  # an id never handed out: no advice about evictions
        pool.report_many([1, 99], ["win", "win"])
    assert "leave out" not in str(err.value)


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
@pytest.mark.parametrize("value", [-0.5, 1e300])
def test_a_state_with_a_win_mean_outside_0_1_is_refused(tmp_path: Path, name: str, value: float) -> None:
    # a win rate is an average of outcomes in [0, 1]: 1e300 was taken, and pfsp's next proposal overflowed
    # (found by the checkpoint fuzz)
    from magister.errors import CheckpointError
    from magister.testing import states_equal

    pool = _pool(tmp_path / "pool", n=3)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    for _ in range(10):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    state["algorithm"]["win_mean"][1] = value
    u = mg.make_teacher(name, pool.space, pool=pool, seed=1)
    before = u.state_dict()
    with pytest.raises(CheckpointError, match=r"win_mean\[1\]"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_a_ctrl_c_while_the_cross_play_picture_is_drawn_leaves_the_earlier_one_whole(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    # fig.savefig wrote straight into the file: a Ctrl-C while it drew left a picture cut short
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    scores = np.array([[0.5, 0.9], [0.1, 0.5]])
    picture = tmp_path / "cross.png"
    real = Figure.savefig
    real(_cross_play_figure(scores), tmp_path / "direct.png", dpi=120)  # what fig.savefig(path) wrote
    assert plot_cross_play(scores, ["a", "b"], picture) == picture
    assert picture.read_bytes() == (tmp_path / "direct.png").read_bytes()  # the same bytes as before

    def stopped_savefig(self, fname, **kw):
        (open(fname, "wb") if isinstance(fname, (str, Path)) else fname).write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", stopped_savefig)
    with pytest.raises(KeyboardInterrupt):
        plot_cross_play(scores, ["a", "b"], picture)
    assert picture.read_bytes() == (tmp_path / "direct.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cross.png", "direct.png"]  # no temporary file left


def _cross_play_figure(scores: np.ndarray):
    """The figure plot_cross_play draws for two labels "a" and "b" (its code, up to the save)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 + 0.25 * 2 + 1.5, 4 + 0.25 * 2))
    ax = fig.add_subplot()
    im = ax.imshow(scores, vmin=0, vmax=1, cmap="RdBu", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(2), ["a", "b"], rotation=90, fontsize=6)
    ax.set_yticks(range(2), ["a", "b"], fontsize=6)
    ax.set_xlabel("opponent")
    ax.set_ylabel("player")
    ax.set_title("cross-play: row player's mean score (draw = 0.5)", fontsize=9)
    fig.tight_layout()
    return fig


def test_every_picture_is_written_through_the_one_helper() -> None:
    # benchmarks/selfplay.py, continual_order.py, grpo_curriculum.py and opponents/ratings.py called fig.savefig
    # on the file itself (a Ctrl-C left a picture cut short); checkpoint.save_figure writes whole
    import re

    root = Path(__file__).resolve().parents[1]
    calls = [f"{p.relative_to(root)}:{n}" for folder in ("src", "benchmarks", "examples")
             for p in sorted((root / folder).rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\.savefig\(", line)]
    assert len(calls) == 1 and calls[0].startswith("src/magister/checkpoint.py:"), calls  # save_figure's own


def test_the_pool_s_flags_are_true_or_false_not_any_truthy_value(tmp_path: Path) -> None:
    # before: bool() read them: readonly="false" opened the pool read-only, and report(..., rate="no") moved both
    # ratings
    pool = _pool(tmp_path, n=2)
    before = [r.to_dict() for r in pool.records()], pool.learner_rating
    for bad in ("false", "no", 0, [0]):
        with pytest.raises(ConfigError, match="readonly must be True or False"):
            OpponentPool(tmp_path, readonly=bad)
        with pytest.raises(ConfigError, match="rate must be True or False"):
            pool.report(0, "win", rate=bad)
        with pytest.raises(ConfigError, match="rate must be True or False"):
            pool.report_many([0, 1], ["win", "loss"], rate=bad)
    assert ([r.to_dict() for r in pool.records()], pool.learner_rating) == before
    assert OpponentPool(tmp_path, readonly=np.True_).readonly
    assert pool.report(0, "win", rate=False).rating == before[0][0]["rating"]  # counted, not rated
    assert pool.report(0, "win", rate=np.True_).rating < before[0][0]["rating"]  # the opponent lost


def test_a_rating_gap_past_123_000_points_is_still_rated(tmp_path: Path) -> None:
    # before: elo_expected computed 10 ** (gap / 400), a raw OverflowError past a gap of about 123,300 (a rating set
    # with set_ratings, or a large k), and the pool could never record a game of that pair again
    from magister.opponents import elo_expected

    assert elo_expected(0.0, 125_000.0) == pytest.approx(10.0 ** -312.5, rel=1e-9)
    assert elo_expected(0.0, 1e6) == 0.0 and elo_expected(1e6, 0.0) == 1.0
    assert elo_expected(1000.0, 1400.0) == 1.0 / 11.0  # the usual gaps as before, to the bit
    pool = _pool(tmp_path, n=2)
    pool.set_ratings({0: 125_000.0})
    assert pool.report(0, "loss").rating == 125_000.0  # expected: a loss moves nothing
    assert pool.report(0, "win").rating == 125_000.0 - pool.settings["k"]
    assert (pool.record(0).games, pool.learner_rating) == (2, 1000.0 + pool.settings["k"])


def test_a_pool_directory_that_is_no_path_is_a_config_error(tmp_path: Path) -> None:
    # before: pathlib's raw TypeError ("expected str, bytes or os.PathLike object, not NoneType")
    for bad in (None, b"/tmp/pool", 3):
        with pytest.raises(ConfigError, match="directory is the path of a folder"):
            OpponentPool(bad)  # type: ignore[arg-type]
    assert OpponentPool(str(tmp_path / "p")).directory == OpponentPool(tmp_path / "p").directory


def test_cross_play_matrices_of_text_complex_numbers_or_ragged_rows_are_refused(tmp_path: Path) -> None:
    # before: fit_elo and plot_cross_play read "1" as 1 (ratings fitted from text), and raised numpy's raw
    # "inhomogeneous shape" ValueError for ragged rows and float()'s raw TypeError for a complex number
    import datetime

    good_s, good_g = [[0.0, 1.0], [0.0, 0.0]], [[0, 4], [4, 0]]
    bad = {"text": [[0.0, "1"], ["0", 0.0]], "ragged": [[0.0, 1.0], [0.0]], "complex": [[0.0, 1 + 0j], [0.0, 0.0]],
           "date": np.array([[0, 1], [0, 0]], dtype="datetime64[D]"),
           "object date": [[0.0, datetime.date(2020, 1, 1)], [0.0, 0.0]]}
    for what, m in bad.items():
        with pytest.raises(ConfigError, match="scores must be a square matrix of numbers"):
            fit_elo(m, good_g)
        with pytest.raises(ConfigError, match="games must be a square matrix of numbers"):
            fit_elo(good_s, m)
        with pytest.raises(ConfigError, match="scores must be a square matrix of numbers"):
            plot_cross_play(m, ["a", "b"], tmp_path / f"{what}.png")
        assert not (tmp_path / f"{what}.png").exists()
    r = fit_elo(good_s, good_g)  # numbers, None (a pair that did not play) and numpy arrays as before
    np.testing.assert_array_equal(fit_elo([[None, 1.0], [0.0, None]], np.array(good_g)), r)
    assert plot_cross_play([[None, 1.0], [0.0, None]], ["a", "b"], tmp_path / "none.png").exists()


@pytest.mark.parametrize("weighting", ["hard", "variance"])
def test_pfsp_mixes_its_weights_with_epsilon_uniform(tmp_path: Path, weighting: str) -> None:
    # (1 - epsilon) * w / sum(w) + epsilon / n: the member it always beats keeps epsilon / n, never 0
    pool = _pool(tmp_path, n=3, max_size=3)
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0, weighting=weighting, epsilon=0.3, prior=0.0)
    t.observe_batch([0] * 10 + [1] * 10 + [2] * 10, [1.0] * 10 + [1.0] * 5 + [0.0] * 5 + [0.0] * 10)
    rates = t.win_rates(np.arange(3))
    w = (1 - rates) ** 2 if weighting == "hard" else rates * (1 - rates)
    np.testing.assert_allclose(t.probabilities()[:3], 0.7 * w / w.sum() + 0.3 / 3)
    assert t.probabilities()[0] == pytest.approx(0.1)


def test_opponent_lp_mixes_its_progress_with_epsilon_uniform(tmp_path: Path) -> None:
    # (1 - epsilon) * LP / sum(LP) + epsilon / n: members without progress keep epsilon / n
    pool = _pool(tmp_path, n=3, max_size=3)
    t = mg.make_teacher("opponent-lp", pool.space, pool=pool, seed=0, epsilon=0.3, denoise=0.0)
    t.observe_batch([0, 1, 2] + [0] * 10, [0.0, 0.0, 0.0] + [1.0] * 10)
    p = t.probabilities()[:3]
    np.testing.assert_allclose(p, [0.7 + 0.1, 0.1, 0.1])


class _WholeSpaceLP(mg.teacher_class("opponent-lp")):  # type: ignore[misc]
    """``opponent-lp`` as it weighed the members before: progress and noise of all ``max_ids`` opponents, then
    the members' picked out."""

    def _progress(self, ids: np.ndarray) -> np.ndarray:
        lp = self.stats.progress()[ids]
        if self.denoise > 0:
            lp = np.maximum(lp - self.denoise * self.stats.noise()[ids], 0.0)
        return lp


@pytest.mark.parametrize("settings", [{}, {"denoise": 0.0}, {"denoise": 2.5, "min_tries": 3, "latest": 0.2},
                                      {"min_tries": 0, "epsilon": 0.0, "fast": 0.5, "slow": 0.3}])
def test_opponent_lp_weighs_its_members_alone_to_the_bit(tmp_path: Path, settings: dict) -> None:
    # opponent-lp worked out learning progress and noise over every id of the space (max_ids) at each proposal,
    # to use the members' only: 1.5 ms a proposal with max_ids=100,000 and 10 members. It works over the members
    # now; proposals, weights and states are the same to the bit as the whole-space computation's, and the
    # weights are the docstring's formula worked out opponent by opponent
    import math
    import pickle

    pool = OpponentPool(tmp_path / "pool", max_size=6, max_ids=400, eviction="random", seed=3)
    pool.add(b"first")
    new = mg.make_teacher("opponent-lp", pool.space, pool=pool, seed=7, **settings)
    old = _WholeSpaceLP(pool.space, pool=pool, seed=7, **settings)
    rng = np.random.default_rng(11)
    skill = rng.random(400)
    stats = new.stats
    for step in range(2000):
        if rng.random() < 0.04 and pool.n_added < 400:
            pool.add(b"snapshot %d" % step)
        ids = new.members()
        assert np.array_equal(new._progress(ids), old._progress(ids))
        assert new._weights(ids).tobytes() == old._weights(ids).tobytes()
        for i, got in zip(ids.tolist(), new._progress(ids).tolist()):
            lp = abs(stats.fast[i] - stats.slow[i]) if stats.counts[i] > 0 else 0.0
            if new.denoise > 0:
                lp = max(lp - new.denoise * math.sqrt(max(stats.var[i], 0.0) * stats._noise_factor), 0.0)
            assert got == lp
        k = int(rng.integers(1, 4))
        picked = new.propose(k)
        assert picked == old.propose(k)
        # scores of the games, and now and then one against an evicted opponent (its statistics move too)
        games = list(picked) + ([int(rng.integers(0, pool.n_added))] if rng.random() < 0.1 else [])
        scores = [float(rng.random() < skill[g]) / (1 + (step % 3 == 0)) for g in games]
        new.observe_batch(games, scores)
        old.observe_batch(games, scores)
    assert new.n_proposed > 3000 and len(pool) == 6
    assert pickle.dumps(new.state_dict()["algorithm"]) == pickle.dumps(old.state_dict()["algorithm"])
    assert new.state_dict()["rng"] == old.state_dict()["rng"]
    # a nested list of ids keeps its shape, as array[ids] does
    nested = [[0, 1], [2, 3]]
    assert np.array_equal(new.progress(nested), old.progress(nested))
    assert new.progress(nested).shape == (2, 2)


def _level_space(name: str):
    kind = mg.teacher_class(name).kind
    return default_spaces("continuous")[0] if kind == "continuous" else mg.Discrete(7)


@pytest.mark.parametrize("levels_name", [*mg.available_teachers(), "uniform:box"])
@pytest.mark.parametrize("opponents_name", ["opponent-lp", "pfsp"])
def test_a_dual_game_is_recorded_as_a_batch_of_one_is(tmp_path: Path, levels_name: str, opponents_name: str) -> None:
    # DualCurriculum.observe sent its game through observe_batch's checks, as a batch of one (41 us a game, 17 of
    # them in the two teachers' own observe): magister's own teachers now take it through their observe; the proposals, the
    # states and the saved file are those of the batch of one, to the bit, and a game either refuses changes neither
    # (refused in the same error class, but for a game with two faults, which either may name first)
    import pickle

    from magister.testing import states_equal

    name, _, variant = levels_name.partition(":")
    space = default_spaces("continuous")[0] if variant == "box" else _level_space(name)
    cls = mg.teacher_class(name)
    kw = dict(getattr(cls, "conformance_kwargs", {}))
    pool = _pool(tmp_path / "pool", n=3, max_size=5, max_ids=40)
    one, batch = (DualCurriculum(cls(space, seed=5, **kw), mg.make_teacher(opponents_name, pool.space, pool=pool,
                                                                           seed=6)) for _ in range(2))
    assert all(isinstance(d.opponents, mg.teacher_class(opponents_name)) for d in (one, batch))
    rng = np.random.default_rng(4)
    first = one.propose(1)
    assert pickle.dumps(batch.propose(1)) == pickle.dumps(first)
    level = first[0][0]
    bad = [(level, 999, 1.0), (level, 39, 1.0), (level, 0, float("nan")), (level, 0, 1.5), (level, 0, [1.0, 0.0]),
           (level, 0, "win"), (level, [0, 1], 1.0), ("no such level", 0, 1.0), (level, 0, None)]
    for step in range(150):
        if step % 40 == 39:
            pool.add(b"late %d" % step)
        pair = one.propose()
        assert pickle.dumps(batch.propose()) == pickle.dumps(pair)
        score = float(rng.integers(0, 3)) / 2 if step % 2 else float(rng.random())
        one.observe(pair[0], pair[1], score)
        batch.observe_batch([pair[0]], [pair[1]], [score])
        if step % 50 == 10:
            for args in bad:
                saved = one.state_dict(), batch.state_dict()
                errors = []
                for call in (lambda: one.observe(*args), lambda: batch.observe_batch(*[[a] for a in args])):
                    with pytest.raises(MagisterError) as e:
                        call()
                    errors.append(type(e.value))
                assert errors[0] is errors[1], args
                assert states_equal(saved, (one.state_dict(), batch.state_dict()))
    saved_one = one.state_dict()
    with pytest.raises(MagisterError):
        one.observe("no such level", 999, float("nan"))  # two faults
    assert states_equal(saved_one, one.state_dict())
    assert one.levels.n_observed == one.opponents.n_observed == 150
    assert pickle.dumps(one.state_dict()) == pickle.dumps(batch.state_dict())
    assert one.save(tmp_path / "one.ckpt").read_bytes() == batch.save(tmp_path / "batch.ckpt").read_bytes()


class _LevelsCountingBatches(Uniform):
    """A level teacher of one's own, which sees its games in observe_batch."""

    batches = 0

    def observe_batch(self, tasks, scores):
        self.batches += 1
        super().observe_batch(tasks, scores)


def test_a_dual_game_reaches_teachers_of_ones_own_as_a_batch_of_one(tmp_path: Path) -> None:
    # magister's own teachers take DualCurriculum.observe's game through their observe; a teacher of one's own (a
    # subclass that may tell observe and observe_batch apart) gets the batch of one it got before, either half
    pool = _pool(tmp_path / "pool", n=3, max_size=5)
    levels = _LevelsCountingBatches(mg.Discrete(4), seed=0)
    dual = DualCurriculum(levels, mg.make_teacher("pfsp", pool.space, pool=pool, seed=0))
    level, opponent = dual.propose()
    dual.observe(level, opponent, 1.0)
    assert levels.batches == 1 and levels.n_observed == dual.opponents.n_observed == 1
    calls = []

    class Counting(mg.teacher_class("pfsp")):  # type: ignore[misc]
        def observe_batch(self, tasks, scores):
            calls.append(list(tasks))
            super().observe_batch(tasks, scores)

    dual = DualCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0), Counting(pool.space, pool=pool, seed=0))
    dual.observe(level, opponent, 0.5)
    assert calls == [[opponent]] and dual.levels.n_observed == dual.opponents.n_observed == 1
