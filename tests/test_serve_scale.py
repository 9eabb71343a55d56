"""The service at scale: lazy curricula (load on first use, evict when idle, reload exactly),
bulk creation from a template, and per-learner export and deletion."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import magister as mg  # noqa: E402
from magister.serve.app import create_app  # noqa: E402
from magister.serve.client import create_curricula, export_learner, forget_learner  # noqa: E402
from magister.serve.db import make_engine  # noqa: E402
from magister.serve.service import Service  # noqa: E402
from serve_fixtures import ADMIN, AUTH, free_port, full_history, states_equal  # noqa: E402

SKILLS = {"type": "Discrete", "names": [f"s{i}" for i in range(6)]}


def _client(db, **kw) -> TestClient:
    c = TestClient(create_app(str(db), admin_token=ADMIN, **kw))
    c.headers.update(AUTH)
    return c


def _state(c, name):
    r = c.get(f"/v1/curricula/{name}/checkpoint")
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


def _drive(c, names, rounds, retry_every=5):
    """The same requests to ``names`` in turn; returns every answer (proposals, seqs of observations)."""
    answers = []
    for r in range(rounds):
        for n, name in enumerate(names):
            got = c.post(f"/v1/curricula/{name}/propose", params={"k": 2, "request_id": f"p{r}"})
            assert got.status_code == 200, got.text
            tasks = got.json()["tasks"]
            obs = [{"task": t, "score": ((r + n + j) % 5) / 4, "id": f"{name}-{r}-{j}"} for j, t in enumerate(tasks)]
            res = c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": obs})
            assert res.status_code == 200, res.text
            answers.append((name, got.json(), res.json()))
            if r % retry_every == 0:  # a retry after the curriculum may have left memory: answered the same
                again = c.post(f"/v1/curricula/{name}/observe", json=obs[0])
                assert again.json()["seq"] == res.json()["results"][0]["seq"]
                assert c.post(f"/v1/curricula/{name}/propose",
                              params={"k": 2, "request_id": f"p{r}"}).json() == got.json()
    return answers


def test_evicted_curricula_reload_exactly_like_a_twin_never_evicted(tmp_path):
    names = [f"c{i}" for i in range(5)]
    with _client(tmp_path / "small.db", cache_size=2, checkpoint_every=7) as small, \
            _client(tmp_path / "big.db", checkpoint_every=7) as big:
        for c in (small, big):
            for i, name in enumerate(names):
                teacher = "exp3" if i % 2 else "lp-bandit"
                assert c.post("/v1/curricula", json={"name": name, "space": SKILLS, "teacher": teacher,
                                                     "seed": 10 + i}).status_code == 201
        a, b = _drive(small, names, 12), _drive(big, names, 12)
        assert a == b  # every proposal and every seq identical
        cache = small.app.state.service.curricula
        assert len(cache) <= 2 and cache.evictions > 40 and cache.loads > 40
        assert big.app.state.service.curricula.evictions == 0
        for name in names:
            assert states_equal(_state(small, name), _state(big, name))


def test_a_restart_loads_nothing_until_a_curriculum_is_used(tmp_path):
    with _client(tmp_path / "s.db", checkpoint_every=3) as c:
        for i in range(4):
            assert c.post("/v1/curricula", json={"name": f"c{i}", "space": SKILLS, "teacher": "exp3",
                                                 "seed": i}).status_code == 201
        _drive(c, ["c0", "c1"], 4)
        before = {n: _state(c, n) for n in ("c0", "c1", "c2")}
    with _client(tmp_path / "s.db", checkpoint_every=3) as c:
        service = c.app.state.service
        assert len(service.curricula) == 0 and service.count() == 4
        assert states_equal(_state(c, "c1"), before["c1"])
        assert list(service.curricula) == ["c1"]
        assert [x["name"] for x in c.get("/v1/curricula", params={"limit": 3}).json()["curricula"]] == \
            ["c0", "c1", "c2"]
        page = c.get("/v1/curricula", params={"limit": 3}).json()
        assert page["next"] == "c2"
        assert [x["name"] for x in c.get("/v1/curricula", params={"after": "c2"}).json()["curricula"]] == ["c3"]
        for n in ("c0", "c2"):
            assert states_equal(_state(c, n), before[n])


def test_a_storage_failure_while_loading_is_a_503_and_the_next_request_loads_it(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    with _client(tmp_path / "s.db") as c:
        assert c.post("/v1/curricula", json={"name": "c0", "space": SKILLS, "teacher": "exp3"}).status_code == 201
    with _client(tmp_path / "s.db") as c:
        service = c.app.state.service
        real = service.rebuild

        def failing(*a, **kw):
            raise OperationalError("SELECT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(service, "rebuild", failing)
        for path in ("/v1/curricula/c0/propose", "/v1/curricula/c0/checkpoint"):  # the lean lane and an endpoint
            r = c.post(path)
            assert r.status_code == 503 and "NOT recorded" in r.json()["detail"], r.text
        assert "c0" not in service.curricula  # a transient failure is not kept
        monkeypatch.setattr(service, "rebuild", real)
        assert c.post("/v1/curricula/c0/propose").status_code == 200


def test_a_curriculum_with_writes_not_yet_committed_stays_in_memory(tmp_path):
    service = Service(make_engine(tmp_path / "s.db"), cache_size=1, checkpoint_every=0)
    service.start()
    try:
        for name in ("a", "b", "c"):
            _live, fut = service.create(name, SKILLS, "exp3", {}, 1, None)
            fut.result()
        gate = threading.Event()
        service.writer.submit(lambda conn: gate.wait(30))  # the writer is busy: later writes queue
        tasks, _seq, _fut = service.propose("a", 1)
        seqs, futs = service.observe("a", [(tasks[0], 0.5, "x")])
        assert not futs[0].done()
        held = service.curricula["a"]
        service.get("b")
        service.get("c")  # over the limit, but "a" has a queued write: only idle ones leave
        assert service.curricula.get("a") is held and not held.evicted
        gate.set()
        futs[0].result(timeout=30)
        service.get("b")  # now "a" is idle and leaves
        assert "a" not in service.curricula and held.evicted
        again = service.get("a")
        assert again is not held and again.next_seq == held.next_seq
        assert states_equal(again.teacher.state_dict(), held.teacher.state_dict())
        assert service.observe("a", [(tasks[0], 0.5, "x")])[0] == seqs  # the id is still known
    finally:
        service.close()


def test_a_load_racing_a_creation_keeps_the_one_copy_that_takes_writes(tmp_path, monkeypatch):
    # a request that read a new curriculum's row just as its creation committed replaced the copy the creation
    # had put in memory (and that had taken writes meanwhile): two copies, the same seqs twice, a failed write
    from magister.serve.common import NotFound

    service = Service(make_engine(tmp_path / "s.db"), checkpoint_every=0)
    service.start()
    try:
        busy, gate, loaded = threading.Event(), threading.Event(), threading.Event()
        service.writer.submit(lambda conn: busy.set() or gate.wait(30))  # busy: the next two writes commit
        assert busy.wait(30)                                               # in one group
        before = service.writer.submit(lambda conn: None)
        before.add_done_callback(lambda f: loaded.wait(30))  # holds back the creation's callback meanwhile
        created, fut = service.create("x", SKILLS, "exp3", {}, 1, None)
        real = service.rebuild

        def rebuild(spec, **kw):  # the row is read: the creation now puts its copy in memory, which takes a write
            loaded.set()
            while service.curricula.get("x") is None:
                time.sleep(0.001)
            copy = real(spec, **kw)
            service.propose("x", 1)[2].result(timeout=30)
            return copy

        monkeypatch.setattr(service, "rebuild", rebuild)
        got: list = []

        def load() -> None:
            while True:
                try:
                    got.append(service.get("x"))
                    return
                except NotFound:
                    time.sleep(0.001)

        loader = threading.Thread(target=load)
        loader.start()
        gate.set()
        loader.join(30)
        fut.result(timeout=30)
        assert got == [created] and service.curricula.get("x") is created
        _tasks, seq, write = service.propose("x", 1)
        write.result(timeout=30)  # (failed: the second copy wrote seq 1 again)
        assert seq == 2
    finally:
        service.close()


def test_bulk_creation_from_a_template(tmp_path):
    with _client(tmp_path / "s.db", max_bulk=50) as c:
        learners = [f"l{i:03d}" for i in range(40)]
        names = create_curricula("http://testserver", learners, SKILLS, "exp3", seed=7, prefix="math-",
                                 per_request=15, client=c, token=ADMIN)
        assert names == [f"math-{x}" for x in learners]
        service = c.app.state.service
        assert service.count() == 40 and len(service.curricula) == 0  # nothing built until used
        info = c.get("/v1/curricula/math-l003").json()
        assert info["learner"] == "l003" and info["teacher"] == "exp3"
        seeds = {c.get(f"/v1/curricula/{n}").json()["seed"] for n in names[:10]}
        assert len(seeds) == 10
        # the same request on another server gives the same curricula (seeds derived from seed and name)
        with _client(tmp_path / "t.db") as other:
            create_curricula("http://testserver", ["l003"], SKILLS, "exp3", seed=7, prefix="math-", client=other,
                             token=ADMIN)
            assert other.get("/v1/curricula/math-l003").json()["seed"] == info["seed"]
            props = [other.post("/v1/curricula/math-l003/propose", params={"k": 3}).json()["tasks"]
                     for _ in range(3)]
        assert [c.post("/v1/curricula/math-l003/propose", params={"k": 3}).json()["tasks"]
                for _ in range(3)] == props
        body = {"template": {"space": SKILLS, "teacher": "exp3"}, "learners": ["new1", "l005"], "prefix": "math-"}
        r = c.post("/v1/curricula/bulk", json=body)
        assert r.status_code == 409 and "math-l005" in r.json()["detail"]
        assert service.count() == 40  # all or nothing: new1 was not created either
        r = c.post("/v1/curricula/bulk", json={**body, "learners": ["x", "y", "x"]})
        assert r.status_code == 422 and "more than once" in r.json()["detail"]
        r = c.post("/v1/curricula/bulk", json={**body, "learners": [f"z{i}" for i in range(51)]})
        assert r.status_code == 422 and "MAGISTER_MAX_BULK" in r.json()["detail"]
        r = c.post("/v1/curricula/bulk", json={**body, "learners": ["bad name"]})
        assert r.status_code == 422 and "not valid" in r.json()["detail"]
        r = c.post("/v1/curricula/bulk", json={"template": {"space": SKILLS, "teacher": "nope"}, "learners": ["q"]})
        assert r.status_code == 422
        token = c.post("/v1/tokens", json={"curricula": ["math-a"]}).json()["token"]
        r = c.post("/v1/curricula/bulk", json={**body, "learners": ["a", "b"]},
                   headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "math-b" in r.json()["detail"]
        assert service.count() == 40


def _cells(db) -> list[str]:
    """Every value of every row of every table, as text."""
    con = sqlite3.connect(db)
    try:
        out = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                out.extend(bytes(v).decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
        return out
    finally:
        con.close()


def test_a_learner_is_exported_whole_and_forgotten_completely(tmp_path):
    db = tmp_path / "s.db"
    with _client(db, checkpoint_every=4) as c:
        create_curricula("http://testserver", ["alice", "bob"], SKILLS, "exp3", seed=1, prefix="math-", client=c,
                         token=ADMIN)
        assert c.post("/v1/curricula", json={"name": "reading-alice", "space": SKILLS, "teacher": "lp-bandit",
                                             "learner": "alice"}).status_code == 201
        for name in ("math-alice", "reading-alice", "math-bob"):
            for i in range(6):
                task = c.post(f"/v1/curricula/{name}/propose").json()["tasks"][0]
                assert c.post(f"/v1/curricula/{name}/observe",
                              json={"task": task, "score": 0.5, "id": f"{name}-obs-{i}"}).status_code == 200
        token = c.post("/v1/tokens", json={"curricula": ["math-alice", "math-bob"]}).json()
        only_alice = c.post("/v1/tokens", json={"curricula": ["reading-alice"]}).json()
        bob_state = _state(c, "math-bob")

        data = export_learner("http://testserver", "alice", client=c, token=ADMIN)
        assert data["learner"] == "alice"
        assert [x["name"] for x in data["curricula"]] == ["math-alice", "reading-alice"]
        for cur in data["curricula"]:
            history = full_history(c, cur["name"])
            assert [e["seq"] for e in cur["events"]] == [e["seq"] for e in history]
            assert [e.get("task") for e in cur["events"]] == [e.get("task") for e in history]
            assert cur["checkpoints"] and cur["learner"] == "alice"
            assert {e["id"] for e in cur["events"] if e["kind"] == "observe"} == \
                {f"{cur['name']}-obs-{i}" for i in range(6)}
        scoped = {"Authorization": f"Bearer {token['token']}"}
        assert c.get("/v1/learners/alice/export", headers=scoped).status_code == 403  # not all of alice's
        assert c.delete("/v1/learners/alice", headers=scoped).status_code == 403

        assert forget_learner("http://testserver", "alice", client=c, token=ADMIN) == \
            ["math-alice", "reading-alice"]
        assert c.get("/v1/learners/alice/export").status_code == 404
        assert c.delete("/v1/learners/alice").status_code == 404
        assert c.get("/v1/curricula/math-alice").status_code == 404
        assert states_equal(_state(c, "math-bob"), bob_state)
        tokens = {t["id"]: t for t in c.get("/v1/tokens").json()["tokens"]}
        assert tokens[token["id"]]["curricula"] == ["math-bob"] and only_alice["id"] not in tokens
        assert c.get("/v1/curricula/math-bob", headers=scoped).status_code == 200
        assert c.get("/v1/curricula/math-alice", headers=scoped).status_code == 403
    cells = _cells(db)
    assert not [v for v in cells if "alice" in v]  # nowhere, in any table
    assert any("math-bob" in v for v in cells)
    with _client(db) as c:  # and nothing comes back after a restart
        assert [x["name"] for x in c.get("/v1/curricula").json()["curricula"]] == ["math-bob"]


def test_a_learner_deletion_that_fails_midway_changes_nothing(tmp_path, monkeypatch):
    # a storage failure while loading the second curriculum left the first marked deleted: 404 for good
    from sqlalchemy.exc import OperationalError

    db = tmp_path / "s.db"
    with _client(db) as c:
        for name in ("math-ana", "reading-ana"):
            assert c.post("/v1/curricula", json={"name": name, "space": SKILLS, "learner": "ana"}).status_code == 201
    with _client(db) as c:
        service = c.app.state.service
        assert c.post("/v1/curricula/math-ana/propose").status_code == 200  # in memory; reading-ana is not
        real = service.rebuild

        def failing(*a, **kw):
            raise OperationalError("SELECT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(service, "rebuild", failing)
        r = c.delete("/v1/learners/ana")
        assert r.status_code == 503 and "NOT recorded" in r.json()["detail"]
        monkeypatch.setattr(service, "rebuild", real)
        assert c.post("/v1/curricula/math-ana/propose").status_code == 200
        assert c.get("/v1/curricula/math-ana").status_code == 200 and service.count() == 2
        assert c.delete("/v1/learners/ana").json()["deleted"] == ["math-ana", "reading-ana"]  # the retry deletes both
        assert c.get("/v1/curricula/math-ana").status_code == 404 and service.count() == 0


def test_the_holder_of_a_curriculum_is_remembered_while_relays_to_it_succeed(tmp_path, monkeypatch):
    from magister.serve import service as service_module
    from magister.serve.common import Moved, NotFound
    from magister.serve.db import migrate

    engine = make_engine(str(tmp_path / "s.db"))
    migrate(engine)
    svc = Service(engine, node_url="http://a", lease_seconds=10.0)
    now = [1000.0]
    monkeypatch.setattr(service_module.time, "monotonic", lambda: now[0])
    for name in ("kept", "left", "other"):  # (none of them is in the database: reading it answers 404)
        svc._remember_moved(name, "http://b")
    now[0] += 8
    svc.confirm_moved("kept", "http://b")  # a relay there was answered 200: it held the lease just now
    svc.confirm_moved("other", "http://c")  # an answer from another process says nothing of b
    now[0] += 8  # past the first lease time, within the confirmed one
    with pytest.raises(Moved) as e:
        svc.get("kept")  # relayed again without reading the database
    assert e.value.owner == "http://b"
    for name in ("left", "other"):  # not confirmed: the database is asked again
        with pytest.raises(NotFound):
            svc.get(name)
    svc.forget_moved("kept")  # a relay failed: the database is asked at once
    with pytest.raises(NotFound):
        svc.get("kept")
    engine.dispose()


@contextlib.contextmanager
def _a_lease_to_give_back(tmp_path):
    """A service with curriculum x, whose lease process a took and then released (x left a's memory: the lease
    goes back at a's next renewal), and a second lease book b: ``(engine, x's id, a, b)``."""
    from magister.serve.db import migrate
    from magister.serve.leases import LeaseBook

    engine = make_engine(str(tmp_path / "s.db"))
    migrate(engine)
    service = Service(engine)
    service.start()
    try:
        service.create("x", SKILLS, "exp3", {}, 1, None)[1].result(timeout=30)
        cid = service.get("x").spec.id
        a, b = LeaseBook(engine, "http://a", 10.0), LeaseBook(engine, "http://b", 10.0)
        with engine.connect() as conn:
            assert a.acquire(conn, cid) is None
        a.release(cid)
        yield engine, cid, a, b
    finally:
        service.close()
        engine.dispose()


def test_a_lease_taken_back_while_a_renewal_gives_it_back_stays_held(tmp_path):
    # a curriculum left memory (its lease to be given back), was asked for again while the renewal thread was
    # giving leases back, and the renewal deleted the lease just taken: the process trusted a lease no row
    # recorded, and a second process took the same curriculum (two processes serving it)
    with _a_lease_to_give_back(tmp_path) as (engine, cid, a, b):
        class Gated:  # the renewal waits for its connection until let through
            def __init__(self) -> None:
                self.at, self.go = threading.Event(), threading.Event()

            def begin(self):
                self.at.set()
                self.go.wait(30)
                return engine.begin()

            def __getattr__(self, name):
                return getattr(engine, name)

        gated = a.engine = Gated()
        renewal = threading.Thread(target=a.renew)
        renewal.start()
        assert gated.at.wait(30)
        with engine.connect() as conn:  # meanwhile x is asked of a again
            assert a.acquire(conn, cid) is None
        gated.go.set()
        renewal.join(30)
        assert a.fresh(cid)
        with engine.connect() as conn:
            assert b.acquire(conn, cid) == "http://a" and not b.fresh(cid)


def test_a_lease_taken_back_while_its_give_back_is_being_written_stays_held(tmp_path):
    # as above, one step later: the renewal had read the leases to give back and was deleting them when x was
    # asked for again; the take (committed first) was then deleted. The take must wait for the give-back.
    with _a_lease_to_give_back(tmp_path) as (engine, cid, a, b):
        at, go = threading.Event(), threading.Event()

        class Paused:  # the renewal's connection stops before its first statement (the give-back) until let go
            def __init__(self, conn) -> None:
                self.conn, self.first = conn, True

            def execute(self, *args, **kw):
                if self.first:
                    self.first = False
                    at.set()
                    go.wait(30)
                return self.conn.execute(*args, **kw)

            def __getattr__(self, name):
                return getattr(self.conn, name)

        class Gated:
            @contextlib.contextmanager
            def begin(self):
                with engine.begin() as conn:
                    yield Paused(conn)

            def __getattr__(self, name):
                return getattr(engine, name)

        a.engine = Gated()
        renewal = threading.Thread(target=a.renew)
        renewal.start()
        assert at.wait(30)
        took: list = []

        def take() -> None:
            with engine.connect() as conn:
                took.append(a.acquire(conn, cid))

        taker = threading.Thread(target=take)
        taker.start()
        taker.join(0.5)  # (without the gate the take commits here, before the give-back deletes it)
        go.set()
        renewal.join(30)
        taker.join(30)
        assert took == [None] and a.fresh(cid)
        with engine.connect() as conn:
            assert b.acquire(conn, cid) == "http://a" and not b.fresh(cid)


def test_a_creation_another_process_takes_up_at_once_is_answered_201(tmp_path, monkeypatch):
    # with several processes, another one can take a new curriculum's lease between its creation's commit and
    # the reply: the reply's read was then relayed there as the same POST, which answered 409 "already exists"
    # (seen with two uvicorn processes on one SQLite file, a quarter of the creations): the client was told
    # its creation failed
    from sqlalchemy import insert

    from magister.serve.models import Lease

    port = free_port()  # (nothing listens there: a relay to it fails)
    with _client(tmp_path / "s.db", node_url=f"http://127.0.0.1:{port}") as c:
        service = c.app.state.service
        real = service.create

        def create(*a, **kw):
            live, fut = real(*a, **kw)
            fut.result(timeout=30)
            with service.engine.begin() as conn:  # another process takes the lease the moment it exists
                conn.execute(insert(Lease.__table__).values(curriculum_id=live.spec.id, owner="other",
                                                            url=f"http://127.0.0.1:{port}", expires_at=4e9))
            return live, fut

        monkeypatch.setattr(service, "create", create)
        r = c.post("/v1/curricula", json={"name": "x", "space": SKILLS, "teacher": "exp3", "seed": 3})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "x" and r.json()["seed"] == 3 and r.json()["served_by"].endswith(str(port))
        assert service.count() == 1
        # that reply is bounded as the usual one: large settings left out (they were sent back in full)
        graph = [[1.0 if i == j else 0.123456789 for j in range(40)] for i in range(40)]
        r = c.post("/v1/curricula", json={"name": "y", "space": {"type": "Discrete", "n": 40}, "teacher": "skill-it",
                                          "settings": {"graph": graph}, "seed": 3})
        assert r.status_code == 201, r.text
        assert "omitted" in r.json()["settings"] and len(r.text) < 5000, r.text[:300]


def test_a_learner_whose_name_holds_a_slash_or_dots_can_be_exported_and_forgotten(tmp_path):
    # a learner name is any printable text: "/" (sent as %2F) and ".." (which URL clients resolve away) got 404
    with _client(tmp_path / "s.db") as c:
        for i, learner in enumerate(("school/alice", "..", ".")):
            assert c.post("/v1/curricula", json={"name": f"c{i}", "space": SKILLS, "learner": learner}).status_code \
                == 201
            data = export_learner("http://testserver", learner, client=c, token=ADMIN)
            assert data["learner"] == learner and [x["name"] for x in data["curricula"]] == [f"c{i}"]
            assert forget_learner("http://testserver", learner, client=c, token=ADMIN) == [f"c{i}"]
            assert c.get(f"/v1/curricula/c{i}").status_code == 404


def test_a_learner_name_typed_composed_or_decomposed_is_one_learner(tmp_path):
    # "José" as U+00E9 and as "e" + U+0301 were two learners: an export or a deletion by one missed the other's
    nfc, nfd = "Jos\u00e9", "Jose\u0301"
    db = tmp_path / "s.db"
    with _client(db) as c:
        assert c.post("/v1/curricula", json={"name": "c1", "space": SKILLS, "learner": nfd}).status_code == 201
    with sqlite3.connect(db) as conn:  # as an earlier version stored it: as typed
        assert conn.execute("SELECT learner FROM curricula WHERE name = 'c1'").fetchone() == (nfc,)
        conn.execute("UPDATE curricula SET learner = ? WHERE name = 'c1'", (nfd,))
    with _client(db) as c:
        assert c.post("/v1/curricula", json={"name": "c2", "space": SKILLS, "learner": nfc}).status_code == 201
        for name in (nfc, nfd):
            data = export_learner("http://testserver", name, client=c, token=ADMIN)
            assert data["learner"] == nfc and [x["name"] for x in data["curricula"]] == ["c1", "c2"]
        assert forget_learner("http://testserver", nfc, client=c, token=ADMIN) == ["c1", "c2"]
        assert c.get("/v1/curricula").json()["curricula"] == []
        r = c.post("/v1/curricula", json={"name": "c3", "space": SKILLS, "learner": "an\u200bn"})
        assert r.status_code == 422 and "contains U+200B (zero width space" in r.json()["detail"] \
            and "write it without: 'ann'" in r.json()["detail"], r.text
        assert c.get("/v1/curricula/c3").status_code == 404


@pytest.mark.parametrize("typed", ["\u212bngstr\u00f6m", "a\u0301\u0323x"])
def test_a_learner_stored_by_an_earlier_version_in_neither_form_is_found_by_the_name_as_stored(tmp_path, typed):
    # ed316be stored names as typed: "Ångström" with the Angstrom sign U+212B, whose NFC is U+00C5 and whose NFD
    # of that is "A" + U+030A, or marks in another order than the canonical one. It found them by the exact name;
    # once names were read in NFC they matched neither form, and could be neither exported nor forgotten
    db = tmp_path / "s.db"
    with _client(db) as c:
        assert c.post("/v1/curricula", json={"name": "c1", "space": SKILLS, "learner": "x"}).status_code == 201
    with sqlite3.connect(db) as conn:  # as ed316be stored it
        conn.execute("UPDATE curricula SET learner = ? WHERE name = 'c1'", (typed,))
    with _client(db) as c:
        data = export_learner("http://testserver", typed, client=c, token=ADMIN)
        assert [x["name"] for x in data["curricula"]] == ["c1"]
        assert forget_learner("http://testserver", typed, client=c, token=ADMIN) == ["c1"]
        assert c.get("/v1/curricula").json()["curricula"] == []


def test_a_learner_name_with_spaces_around_it_is_refused_and_one_stored_earlier_still_found_as_stored(tmp_path):
    # the service took " ann" and "ann " (the study app refuses them): three learners a reader sees as one, whose
    # export or deletion by "ann" missed the others. Refused now on every endpoint that names a new learner; a
    # curriculum an earlier version attributed to such a name is still exported and deleted by it, not merged
    db = tmp_path / "s.db"
    with _client(db) as c:
        assert c.post("/v1/curricula", json={"name": "old", "space": SKILLS, "learner": "x"}).status_code == 201
        assert c.post("/v1/curricula", json={"name": "new", "space": SKILLS, "learner": "ann"}).status_code == 201
    with sqlite3.connect(db) as conn:  # as an earlier version stored it
        conn.execute("UPDATE curricula SET learner = ' ann' WHERE name = 'old'")
    with _client(db) as c:
        for bad, edge in ((" ann", "begins with a space"), ("ann ", "ends with a space"),
                          ("ann\u3000", "ends with the white space")):
            r = c.post("/v1/curricula", json={"name": "c3", "space": SKILLS, "learner": bad})
            assert r.status_code == 422 and f"learner {bad!r} {edge}" in r.json()["detail"] \
                and "write it without: 'ann'" in r.json()["detail"], r.text
            r = c.post("/v1/curricula/bulk", json={"template": {"space": SKILLS, "teacher": "uniform"},
                                                   "learners": ["bob", bad], "prefix": "m-"})
            assert r.status_code == 422 and f"learner {bad!r} {edge}" in r.json()["detail"], r.text
            with pytest.raises(mg.ConfigError, match="write it without: 'ann'"):
                create_curricula("http://testserver", [bad], SKILLS, "uniform", token=ADMIN, client=c)
        r = c.post("/v1/curricula", json={"name": "c3", "space": SKILLS, "learner": "  "})
        assert r.status_code == 422 and "'  ' is only white space; write a name" in r.text, r.text
        assert [x["name"] for x in c.get("/v1/curricula").json()["curricula"]] == ["new", "old"]  # none created
        data = export_learner("http://testserver", "ann", client=c, token=ADMIN)
        assert data["learner"] == "ann" and [x["name"] for x in data["curricula"]] == ["new"]  # not merged
        data = export_learner("http://testserver", " ann", client=c, token=ADMIN)
        assert data["learner"] == " ann" and [x["name"] for x in data["curricula"]] == ["old"]
        assert forget_learner("http://testserver", " ann", client=c, token=ADMIN) == ["old"]
        for method, path in (("GET", "/v1/learners/%20ann/export"), ("DELETE", "/v1/learners/%20ann")):
            r = c.request(method, path)
            assert r.status_code == 404 and "refused for new curricula" in r.json()["detail"] \
                and "'ann' is another learner's name" in r.json()["detail"], r.text
        assert [x["name"] for x in c.get("/v1/curricula").json()["curricula"]] == ["new"]


def test_a_curriculum_just_loaded_is_not_evicted_by_its_own_load_when_the_cache_holds_broken_ones():
    # a broken curriculum (it could not be rebuilt) is never evicted; with cache_size of them in memory, loading
    # any other one put it in the cache and evicted it at once (the only idle entry), and the request looked it
    # up again, forever: a worker thread at full CPU and a request never answered (cache_size=1: one broken one)
    from magister.serve.cache import CurriculumCache
    from magister.serve.live import CurriculumSpec, LiveCurriculum

    def live(name):
        spec = CurriculumSpec(name=name, space=SKILLS, teacher="uniform", settings={}, seed=0, score_range={})
        return LiveCurriculum(spec=spec, teacher=None)  # type: ignore[arg-type]

    cache = CurriculumCache(1)
    broken = live("bad")
    broken.broken = "could not be rebuilt (ConfigError: ...)"
    cache.put("bad", broken)
    good = live("good")
    cache.put("good", good)
    assert cache.get("good") is good and not good.evicted
    cache.put("other", live("other"))  # the next load evicts it, idle, as before
    assert good.evicted and cache.get("good") is None and set(cache) == {"bad", "other"}


def test_bulk_creation_refuses_a_per_request_that_is_not_a_whole_number():
    # per_request=2.5 was taken as 2 (int()), True as 1
    for bad in (2.5, 0, True, "10"):
        with pytest.raises(mg.ConfigError, match="per_request"):
            create_curricula("http://testserver", ["a"], SKILLS, "exp3", per_request=bad, token=ADMIN)
