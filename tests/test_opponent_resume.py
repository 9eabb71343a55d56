"""Exact resume of an opponent teacher, pool included: the checkpoint holds the pool's state, and a pool that went
on after the save (snapshots added and evicted, games reported) is rewound to it on request, or the load refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import magister as mg
from magister.errors import CheckpointError, ConfigError
from magister.checkpoint import load_state
from magister.opponents import DualCurriculum, OpponentPool, SnapshotError
from magister.teacher import from_state_dict
from magister.testing import states_equal

OPPONENT_TEACHERS = ["self-play", "fsp", "pfsp", "opponent-lp"]


def _index(pool: OpponentPool) -> dict:
    """The pool's index without its change counter (which only grows) and its settings."""
    doc = json.loads(pool.index_path.read_text())
    return {k: v for k, v in doc.items() if k not in ("version_counter",)}


def _pool(folder: Path, n: int, max_size: int = 3, **kw) -> OpponentPool:
    """A pool of ``n`` one-byte snapshots 0..n-1 (ids 0..n-1; ``max_size`` bounds the members)."""
    pool = OpponentPool(folder, max_size=max_size, max_ids=kw.pop("max_ids", 50), **kw)
    for i in range(n):
        pool.add(bytes([i]))
    return pool


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "snapshots").iterdir())}


class _Run:
    """A training run in miniature: the teacher picks opponents, the games' outcomes go to the teacher and the pool,
    and every ``every`` games the learner adds a snapshot of itself (evicting one when the pool is full)."""

    def __init__(self, seed: int, every: int = 3):
        self.rng = np.random.default_rng(seed)
        self.every = every

    def play(self, teacher, pool: OpponentPool, start: int, stop: int) -> list[int]:
        picked = []
        for step in range(start, stop):
            opponent = int(teacher.propose())
            outcome = ["loss", "draw", "win"][int(self.rng.integers(3))]
            teacher.observe(opponent, {"loss": 0.0, "draw": 0.5, "win": 1.0}[outcome])
            pool.report(opponent, outcome)
            if step % self.every == self.every - 1:
                pool.add(f"policy after game {step} {self.rng.random()}".encode(), step=step)
            picked.append(opponent)
        return picked


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
@pytest.mark.parametrize("eviction", ["oldest", "random", "easiest", "reservoir"])
def test_a_run_resumed_from_a_checkpoint_with_its_pool_rewound_is_the_run_that_was_saved(
        tmp_path: Path, name: str, eviction: str) -> None:
    # before: the checkpoint held the teacher only; resumed after the pool went on (a crash after more snapshots
    # were added, evicted and played), the teacher proposed from the later members, the pool's records counted the
    # replayed games twice, and the snapshots added again got new ids
    pool = OpponentPool(tmp_path / "pool", max_size=4, eviction=eviction, max_ids=100, keep_evicted=5, seed=1)
    for i in range(3):
        pool.add(f"start {i}".encode())
    teacher = mg.make_teacher(name, pool.space, pool=pool, seed=7)
    run = _Run(seed=3)
    run.play(teacher, pool, 0, 20)
    teacher.save(tmp_path / "t.ckpt")
    saved_rng = run.rng.bit_generator.state
    straight = run.play(teacher, pool, 20, 35)  # the run that was saved, carried on
    straight_index, straight_files = _index(pool), _files(tmp_path / "pool")
    straight_state = teacher.state_dict()

    # the crash: the pool went on past the checkpoint; loading refuses to guess, changing nothing
    moved_on = pool.index_path.read_bytes()
    with pytest.raises(CheckpointError, match=r"changed since this state was saved: 5 snapshot\(s\) added.*"
                                              r"pool='rewind'.*pool='current'"):
        mg.load(tmp_path / "t.ckpt")
    assert pool.index_path.read_bytes() == moved_on and not (tmp_path / "pool" / "rewound").exists()

    resumed = mg.load(tmp_path / "t.ckpt", pool="rewind")
    rewound_pool = resumed.pool
    assert rewound_pool.n_added == 9 and rewound_pool.changes_since(load_state(
        tmp_path / "t.ckpt")["pool"]) is None
    run.rng.bit_generator.state = saved_rng
    assert run.play(resumed, rewound_pool, 20, 35) == straight
    assert _index(rewound_pool) == straight_index and _files(tmp_path / "pool") == straight_files
    assert states_equal(resumed.state_dict(), straight_state)
    # the snapshots the crashed run added after the save were moved aside with their records, not deleted
    aside = next((tmp_path / "pool" / "rewound").iterdir())
    assert sorted(p.name for p in aside.iterdir()) == ["000009.bin", "000010.bin", "000011.bin", "000012.bin",
                                                       "000013.bin", "records.json"]
    assert json.loads((aside / "records.json").read_text())["next_id"] == 9


def test_a_pool_that_did_not_change_loads_without_an_option_and_current_keeps_a_changed_one(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", 4)
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    for _ in range(10):
        t.observe(t.propose(), 1.0)
    t.save(tmp_path / "t.ckpt")
    assert states_equal(mg.load(tmp_path / "t.ckpt").state_dict(), t.state_dict())  # unchanged pool: no option
    pool.add(b"later")
    pool.report(4, "win")
    before = pool.index_path.read_bytes()
    current = mg.load(tmp_path / "t.ckpt", pool="current")
    assert pool.index_path.read_bytes() == before and current.pool.ids == [2, 3, 4]
    assert states_equal(current.state_dict()["algorithm"], t.state_dict()["algorithm"])
    with pytest.raises(CheckpointError, match=r"1 snapshot\(s\) added \(ids 4..4\); 1 member\(s\) evicted"):
        mg.load(tmp_path / "t.ckpt")


def test_a_rewind_to_a_member_no_longer_kept_is_refused_and_changes_neither_pool_nor_teacher(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", 3, keep_evicted=1)
    t = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    t.observe(0, 1.0)
    t.save(tmp_path / "t.ckpt")
    for i in range(3):  # evicts 0, 1 and 2; the pool keeps the file of the last eviction only
        pool.add(bytes([10 + i]))
    u = mg.make_teacher("fsp", pool.space, pool=pool, seed=5)
    u.observe(4, 0.0)
    before_pool, before_teacher = pool.index_path.read_bytes(), u.state_dict()
    for load in (lambda: mg.load(tmp_path / "t.ckpt", pool="rewind"),
                 lambda: u.load_state_dict(load_state(tmp_path / "t.ckpt"), pool="rewind")):
        with pytest.raises(CheckpointError, match=r"snapshot of member 0.*no longer kept.*keep_evicted=1"):
            load()
        assert pool.index_path.read_bytes() == before_pool and states_equal(u.state_dict(), before_teacher)
    assert _files(tmp_path / "pool").keys() == {"000002.bin", "000003.bin", "000004.bin", "000005.bin"}


@pytest.mark.parametrize("name", OPPONENT_TEACHERS)
def test_a_checkpoint_saved_before_a_member_was_removed_rewinds_the_pool(tmp_path: Path, name: str) -> None:
    # pool.remove deleted the member's file at once: the rewind was refused ("no longer kept"), with advice
    # (set_keep_evicted) that could not help
    pool = _pool(tmp_path / "pool", 3, max_size=4, keep_evicted=2)
    t = mg.make_teacher(name, pool.space, pool=pool, seed=0)
    run = _Run(seed=1, every=100)
    run.play(t, pool, 0, 6)
    t.save(tmp_path / "t.ckpt")
    saved_rng, saved_files = run.rng.bit_generator.state, _files(tmp_path / "pool")
    straight = run.play(t, pool, 6, 16)
    straight_index, straight_state = _index(pool), t.state_dict()
    pool.remove(1)
    assert 1 not in pool.ids and "000001.bin" in _files(tmp_path / "pool")  # kept, as an evicted member's is
    resumed = mg.load(tmp_path / "t.ckpt", pool="rewind")
    assert resumed.pool.ids == [0, 1, 2] and _files(tmp_path / "pool") == saved_files
    run.rng.bit_generator.state = saved_rng
    assert run.play(resumed, resumed.pool, 6, 16) == straight
    assert _index(resumed.pool) == straight_index and states_equal(resumed.state_dict(), straight_state)


def test_removed_members_files_are_kept_within_keep_evicted_and_no_more(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", 4, max_size=4, keep_evicted=1)
    pool.remove(0)
    pool.remove(1)  # the kept files are bounded as evictions' are: 0's file goes, 1's stays
    assert _files(tmp_path / "pool").keys() == {"000001.bin", "000002.bin", "000003.bin"}
    pool.set_keep_evicted(0)
    assert _files(tmp_path / "pool").keys() == {"000002.bin", "000003.bin"}
    pool.remove(2)  # with keep_evicted=0 a removal deletes the file at once, as before
    assert _files(tmp_path / "pool").keys() == {"000003.bin"}
    assert OpponentPool(tmp_path / "pool").ids == [3]  # the index opens again


def test_a_kept_file_that_is_not_the_saved_snapshot_is_refused(tmp_path: Path) -> None:
    pool = OpponentPool(tmp_path / "pool", max_size=2, max_ids=50)
    pool.add(b"a")
    pool.add(b"b")
    t = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    t.save(tmp_path / "t.ckpt")
    pool.add(b"c")  # evicts 0, whose file is kept
    pool._snapshot_path(0).write_bytes(b"tampered")
    before = pool.index_path.read_bytes()
    with pytest.raises(CheckpointError, match="kept snapshot of member 0.*not the one the saved state names"):
        mg.load(tmp_path / "t.ckpt", pool="rewind")
    assert pool.index_path.read_bytes() == before


def test_when_the_pool_rewind_fails_the_teacher_is_left_as_it_was(tmp_path: Path, monkeypatch) -> None:
    pool = _pool(tmp_path / "pool", 3)
    saved = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    for _ in range(5):
        saved.observe(saved.propose(), 1.0)
    state = saved.state_dict()
    pool.add(b"later")
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=1)
    t.observe(3, 0.0)
    before = t.state_dict()

    def fail(_saved):
        raise OSError("disk full")
    monkeypatch.setattr(pool, "rewind", fail)
    with pytest.raises(OSError, match="disk full"):
        t.load_state_dict(state, pool="rewind")
    assert states_equal(t.state_dict(), before)


def test_a_damaged_pool_state_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    pool = OpponentPool(tmp_path / "pool", max_size=3, max_ids=50)
    pool.add(b"a")
    t = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    good = t.state_dict()
    for damage in ({"members": "all"}, {"next_id": 1.5}, {"members": [{"id": 7}]}, {"learner_rating": "high"}):
        bad = {**good, "pool": {**good["pool"], **damage}}
        before = pool.index_path.read_bytes()
        with pytest.raises(CheckpointError, match="pool's state in the checkpoint is damaged"):
            t.load_state_dict(bad, pool="rewind")
        assert pool.index_path.read_bytes() == before


def test_load_options_are_checked(tmp_path: Path) -> None:
    t = mg.make_teacher("uniform", mg.Discrete(3), seed=0)
    t.save(tmp_path / "u.ckpt")
    with pytest.raises(ConfigError, match="takes no option pool.*its options: none"):
        mg.load(tmp_path / "u.ckpt", pool="rewind")
    fixed = mg.make_teacher("pfsp", mg.Discrete(["random", "greedy"]), seed=0)
    fixed.save(tmp_path / "f.ckpt")
    with pytest.raises(ConfigError, match="pool='rewind' is for a teacher over an OpponentPool"):
        mg.load(tmp_path / "f.ckpt", pool="rewind")
    assert mg.load(tmp_path / "f.ckpt").name == "pfsp"
    pool = OpponentPool(tmp_path / "pool", max_ids=20)
    pool.add(b"a")
    with pytest.raises(ConfigError, match="pool must be 'rewind' or 'current'"):
        mg.make_teacher("fsp", pool.space, pool=pool).load_state_dict({}, pool="back")


def test_a_checkpoint_saved_before_it_held_the_pool_loads_on_the_current_pool(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", 3)
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0)
    t.observe(1, 1.0)
    old = {k: v for k, v in t.state_dict().items() if k != "pool"}  # what an earlier magister saved
    pool.add(b"later")
    back = from_state_dict(old)
    assert back.pool.ids == [1, 2, 3]
    with pytest.raises(CheckpointError, match="holds no pool state.*pool='current'"):
        from_state_dict(old, pool="rewind")


def test_an_index_written_before_evicted_files_were_kept_opens(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 3, max_size=2)
    doc = json.loads(pool.index_path.read_text())
    del doc["evicted"], doc["settings"]["keep_evicted"]  # as an earlier magister wrote it
    pool._snapshot_path(0).unlink()
    pool.index_path.write_text(json.dumps(doc))
    again = OpponentPool(tmp_path)
    assert again.ids == [1, 2] and again.settings["keep_evicted"] == 10
    again.add(b"x")  # evicts 1, kept from now on
    assert _files(tmp_path).keys() == {"000001.bin", "000002.bin", "000003.bin"}


def test_the_files_a_pool_kept_are_not_orphaned_when_an_older_magister_wrote_its_index(tmp_path: Path) -> None:
    # before: an older magister's write of the index (it drops the kept evicted list it does not know) left the files
    # a newer one kept named by no index: never deleted (the folder grew past max_size + keep_evicted at every such
    # write), and a rewind needing one was refused as "no longer kept" with the file right there
    pool = _pool(tmp_path, 4, max_size=2, keep_evicted=3)
    saved = pool.state()  # members 2, 3; kept 0, 1
    pool.add(bytes([4]))  # evicts 2, kept
    doc = json.loads(pool.index_path.read_text())
    assert doc["evicted"] == [0, 1, 2]
    del doc["evicted"]  # an older magister's write of it (ids, members and files as they were)
    pool.index_path.write_text(json.dumps(doc))
    again = OpponentPool(tmp_path)  # the newer magister again
    again.rewind(saved)  # member 2 comes back from its kept file
    assert again.ids == [2, 3] and again.load(2) == bytes([2])
    for i in range(6):
        again.add(b"later %d" % i)
    assert len(_files(tmp_path)) == 2 + 3, "the folder holds max_size + keep_evicted snapshot files"
    assert _index(again)["evicted"] == [5, 6, 7]
    reader = OpponentPool(tmp_path, readonly=True)  # (a reader takes no file: it deletes none)
    assert reader.ids == again.ids


@pytest.mark.parametrize("evicted", [[5], [1, 1], "0", [0.5], [2]])
def test_an_index_with_impossible_evicted_ids_is_refused(tmp_path: Path, evicted) -> None:
    pool = _pool(tmp_path, 3, max_size=2, keep_evicted=1)
    doc = json.loads(pool.index_path.read_text())
    assert doc["evicted"] == [0]
    doc["evicted"] = evicted  # never handed out, repeated, not a list, not a whole number, a member
    pool.index_path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match="cannot be read"):
        OpponentPool(tmp_path)


def test_a_dual_curriculum_resumes_with_its_pool_rewound(tmp_path: Path) -> None:
    pool = _pool(tmp_path / "pool", 3)
    dual = DualCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0),
                          mg.make_teacher("pfsp", pool.space, pool=pool, seed=1))
    for _ in range(6):
        level, opponent = dual.propose()
        dual.observe(level, opponent, 1.0)
    dual.save(tmp_path / "d.ckpt")
    pool.add(b"later")
    # before: the refusal's example was magister.load(path, pool='rewind'), which refuses a DualCurriculum's file
    with pytest.raises(CheckpointError, match=r"pool='rewind'.*DualCurriculum\.load\(path, pool='rewind'\)"):
        DualCurriculum.load(tmp_path / "d.ckpt")
    back = DualCurriculum.load(tmp_path / "d.ckpt", pool="rewind")
    assert back.opponents.pool.ids == [0, 1, 2] and back.opponents.pool.n_added == 3


def test_a_teacher_loaded_in_the_process_that_holds_the_pool_shares_that_pool_object(tmp_path: Path) -> None:
    # before: magister.load opened a second writable pool object of the folder; rewinding through it left the
    # learner's (or the env's) object behind, whose next add was refused as another writer's
    pool = _pool(tmp_path / "pool", 3)
    t = mg.make_teacher("pfsp", pool.space, pool=str(tmp_path / "pool"), seed=0)
    assert t.pool is pool
    t.save(tmp_path / "t.ckpt")
    pool.add(b"later")
    resumed = mg.load(tmp_path / "t.ckpt", pool="rewind")
    assert resumed.pool is pool and pool.ids == [0, 1, 2]
    assert pool.add(b"again") == 3 and pool.load(3) == b"again"  # the learner's object goes on writing
def _later(tmp_path: Path) -> tuple[OpponentPool, dict]:
    """A pool of 3 members whose state was saved, then 2 snapshots added after the save (evicting 0 and 1)."""
    pool = OpponentPool(tmp_path / "pool", max_size=3, max_ids=50)
    for i in range(3):
        pool.add(f"s{i}".encode())
    saved = pool.state()
    pool.add(b"later-3")
    pool.add(b"later-4")
    return pool, saved


def test_a_crash_inside_a_rewind_loses_no_snapshot_and_leaves_a_pool_that_opens(tmp_path: Path, monkeypatch) -> None:
    # before: the later snapshots were moved aside after the index was written; a crash in between left them in
    # snapshots/, unnamed, where the next add wrote over them: the crashed run's snapshots were lost
    pool, saved = _later(tmp_path)
    write = pool._write_index

    def crash_after(*args, **kwargs):
        write(*args, **kwargs)
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(pool, "_write_index", crash_after)
    with pytest.raises(KeyboardInterrupt):
        pool.rewind(saved)
    again = OpponentPool(tmp_path / "pool")
    assert again.ids == [0, 1, 2] and again.changes_since(saved) is None
    assert again.add(b"resumed-3") == 3 and again.load(3) == b"resumed-3"
    aside = tmp_path / "pool" / "rewound"
    assert {p.name: p.read_bytes() for p in aside.glob("*/*.bin")} == {"000003.bin": b"later-3",
                                                                       "000004.bin": b"later-4"}


def test_a_rewind_that_fails_before_its_index_is_written_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    pool, saved = _later(tmp_path)
    before, files = pool.index_path.read_bytes(), _files(tmp_path / "pool")

    def full(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr(pool, "_write_index", full)
    with pytest.raises(OSError, match="No space"):
        pool.rewind(saved)
    assert pool.index_path.read_bytes() == before and _files(tmp_path / "pool") == files
    assert list((tmp_path / "pool").glob("rewound/*")) == [] and pool.ids == [2, 3, 4]


def test_a_rewind_does_not_write_over_the_files_an_earlier_rewind_set_aside(tmp_path: Path) -> None:
    # a pool folder restored from a copy counts its changes from an earlier number: the second rewind was set aside
    # in the same rewound/<version>/ folder as the first, over the first one's snapshots and records
    folder = tmp_path / "pool"
    pool = OpponentPool(folder, max_size=5, max_ids=50)
    pool.add(b"a")
    saved = pool.state()
    shutil.copytree(folder, tmp_path / "copy")
    pool.add(b"first run")
    pool.rewind(saved)
    shutil.rmtree(folder / "snapshots")
    shutil.copytree(tmp_path / "copy" / "snapshots", folder / "snapshots")
    shutil.copy(tmp_path / "copy" / "pool.json", folder / "pool.json")
    pool = OpponentPool(folder)
    pool.add(b"second run")
    pool.rewind(saved)
    aside = sorted((folder / "rewound").iterdir())
    assert [p.name for p in aside] == ["000003", "000003-2"]
    assert [(p / "000001.bin").read_bytes() for p in aside] == [b"first run", b"second run"]


def test_a_reader_whose_index_predates_a_rewind_loads_the_new_snapshot_of_an_id(tmp_path: Path) -> None:
    # before: the reader's record of id 3 was the rewound-away snapshot's, and the new file was called corrupt
    # ("remove it with pool.remove(3)", which a reader cannot do)
    pool, saved = _later(tmp_path)
    reader = OpponentPool(tmp_path / "pool", readonly=True)
    assert reader.record(3).size == len(b"later-3")
    pool.rewind(saved)
    pool.add(b"resumed 3")
    assert reader.load(3) == b"resumed 3" and reader.record(3) == pool.record(3)


def test_a_run_that_goes_on_after_another_writer_rewound_its_pool_is_stopped(tmp_path: Path) -> None:
    # before: a run still using the pool (another process; here a second writable pool object) when a resume
    # rewound it went on silently: its next refresh took in the rewound index, and it added snapshots under the ids
    # the rewind handed out again, which its teacher already held statistics for
    running = OpponentPool(tmp_path / "pool", max_size=3, max_ids=50)
    running.add(b"a")
    teacher = mg.make_teacher("pfsp", running.space, pool=running, seed=0)
    teacher.observe(teacher.propose(), 1.0)
    saved = running.state()
    running.add(b"b")
    teacher.observe(1, 0.0)
    reader = OpponentPool(tmp_path / "pool", readonly=True)
    assert reader.n_added == 2
    OpponentPool(tmp_path / "pool").rewind(saved)  # the resume, in "another process"
    rewound = running.index_path.read_bytes()
    with pytest.raises(ConfigError, match=r"went back while this writer had it open.*from 2 to 1.*another writer rewound it.*stop it"):
        teacher.propose()
    with pytest.raises(ConfigError):
        running.add(b"c")
    assert running.index_path.read_bytes() == rewound
    # a read-only pool follows the rewind (an env's reader loads what an id names now)
    assert reader.refresh() and reader.n_added == 1


def test_a_pool_folder_put_back_from_an_older_copy_is_refused_with_advice_that_works(tmp_path: Path) -> None:
    # before: the refusal said "or with pool='current' to go on with this one", which was refused in turn when the
    # teacher had played the ids the older copy lacks (the usual case): advice that led nowhere
    pool = OpponentPool(tmp_path / "pool", max_size=3, max_ids=50)
    pool.add(b"a")
    shutil.copytree(tmp_path / "pool", tmp_path / "old-copy")
    pool.add(b"b")
    t = mg.make_teacher("fsp", pool.space, pool=pool, seed=0)
    t.observe(1, 1.0)
    t.save(tmp_path / "t.ckpt")
    del t, pool
    shutil.rmtree(tmp_path / "pool")
    shutil.copytree(tmp_path / "old-copy", tmp_path / "pool")
    with pytest.raises(CheckpointError, match=r"pool='current' goes on with this pool only if the teacher played "
                                              r"none of ids 1\.\.1, else start a new teacher"):
        mg.load(tmp_path / "t.ckpt", pool="rewind")
    with pytest.raises(CheckpointError, match=r"games against opponents \[1\]"):
        mg.load(tmp_path / "t.ckpt", pool="current")


def test_a_checkpoint_whose_pool_folder_moved_says_how_to_load_it_on_the_new_folder(tmp_path: Path) -> None:
    # before: "no opponent pool at .../pool (no pool.json); create it with OpponentPool(...)": a new pool made there
    # was then refused as another pool than the checkpoint's (a run folder copied to another path or machine)
    pool = OpponentPool(tmp_path / "run" / "pool", max_size=3, max_ids=50)
    pool.add(b"a")
    t = mg.make_teacher("pfsp", pool.space, pool=pool, seed=0, epsilon=0.1)
    t.observe(t.propose(), 1.0)
    t.save(tmp_path / "run" / "t.ckpt")
    saved = t.state_dict()
    del t, pool
    shutil.move(tmp_path / "run", tmp_path / "moved")
    with pytest.raises(CheckpointError, match=r"not there.*folder moved.*load_state_dict\(magister\.checkpoint"):
        mg.load(tmp_path / "moved" / "t.ckpt")
    assert not (tmp_path / "run").exists()
    new_folder = tmp_path / "moved" / "pool"  # the advice, followed
    u = mg.make_teacher("pfsp", OpponentPool(new_folder).space, pool=new_folder, seed=0, epsilon=0.1)
    u.load_state_dict(load_state(tmp_path / "moved" / "t.ckpt"))
    assert states_equal(u.state_dict()["algorithm"], saved["algorithm"])


def test_how_many_evicted_files_a_pool_keeps_can_change_on_an_existing_pool(tmp_path: Path) -> None:
    # before: reopening with another keep_evicted was refused as "made with other settings", so a refused rewind's
    # advice (keep more) could only help a new pool
    pool = _pool(tmp_path, 4, max_size=2, keep_evicted=1)
    assert pool._evicted == [1] and _files(tmp_path).keys() == {"000001.bin", "000002.bin", "000003.bin"}
    more = OpponentPool(tmp_path, keep_evicted=3)  # (another object of the folder: the first one is now stale)
    assert more.settings["keep_evicted"] == 3 and OpponentPool(tmp_path).settings["keep_evicted"] == 3
    for i in range(4, 7):
        more.add(bytes([i]))
    assert more._evicted == [1, 2, 3, 4][-3:] and "000001.bin" not in _files(tmp_path)
    more.set_keep_evicted(1)  # lowered: the oldest kept files go
    assert more._evicted == [4] and _files(tmp_path).keys() == {"000004.bin", "000005.bin", "000006.bin"}
    with pytest.raises(ConfigError, match="read-only"):
        OpponentPool(tmp_path, keep_evicted=5, readonly=True)
    with pytest.raises(ConfigError, match="keep_evicted"):
        more.set_keep_evicted(-1)
    assert OpponentPool(tmp_path).settings["keep_evicted"] == 1
