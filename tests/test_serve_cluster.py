"""Several server processes over one PostgreSQL: leases, forwarding, and a process killed under load."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("psycopg")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

import magister as mg  # noqa: E402
from serve_fixtures import AUTH, Server, free_port, postgres_bin, postgres_cluster, replay, states_equal  # noqa: E402

pytestmark = pytest.mark.skipif(postgres_bin() is None,
                                reason="PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                                       "(make system-deps installs Debian's postgresql)")

SKILLS = {"type": "Discrete", "names": [f"s{i}" for i in range(5)]}
LEASE = "2"


def _node(url: str, **env: str) -> Server:
    port = free_port()
    return Server(url, port=port, checkpoint_every=25,
                  env={"MAGISTER_NODE_URL": f"http://127.0.0.1:{port}", "MAGISTER_LEASE_SECONDS": LEASE, **env})


def _state(url: str, name: str) -> dict:
    r = httpx.get(f"{url}/v1/curricula/{name}/checkpoint", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


@pytest.fixture(scope="module")
def pg_url():
    with postgres_cluster() as url:
        yield url


def test_each_curriculum_is_served_by_one_process_and_requests_are_forwarded(pg_url):
    with _node(pg_url) as a, _node(pg_url) as b:
        with httpx.Client(headers=AUTH, timeout=30) as c:
            r = c.post(f"{a.url}/v1/curricula/bulk", json={"template": {"space": SKILLS, "teacher": "exp3",
                                                                         "seed": 1},
                                                            "learners": [f"u{i}" for i in range(6)]})
            assert r.status_code == 201, r.text
            token = c.post(f"{a.url}/v1/tokens", json={"curricula": ["u0", "u1"]}).json()["token"]
            for i in range(6):  # each first used through a different process
                first = (a, b)[i % 2]
                assert c.post(f"{first.url}/v1/curricula/u{i}/propose").status_code == 200
            for i in range(6):  # then reached through both: answered by its owner either way
                for server in (a, b):
                    tasks = c.post(f"{server.url}/v1/curricula/u{i}/propose", params={"k": 2}).json()["tasks"]
                    r = c.post(f"{server.url}/v1/curricula/u{i}/observe_batch", json={"observations": [
                        {"task": t, "score": 0.5, "id": f"{server.port}-{i}-{j}"} for j, t in enumerate(tasks)]})
                    assert r.status_code == 200, r.text
            scoped = {"Authorization": f"Bearer {token}"}  # a token made through a reaches b too
            assert c.post(f"{b.url}/v1/curricula/u1/propose", headers=scoped).status_code == 200
            assert c.post(f"{b.url}/v1/curricula/u2/propose", headers=scoped).status_code == 403
            for i in range(6):
                sa, sb = _state(a.url, f"u{i}"), _state(b.url, f"u{i}")
                assert states_equal(sa, sb) and sa["n_observed"] == 4
                info = c.get(f"{a.url}/v1/curricula/u{i}").json()
                assert states_equal(sa, replay(info, _history(c, a.url, f"u{i}")).state_dict())
            served = {0: 0, 1: 0}
            for k, server in enumerate((a, b)):
                listing = c.get(f"{server.url}/v1/curricula").json()["curricula"]
                served[k] = sum("served_by" not in x for x in listing)
            assert served[0] + served[1] == 6 and served[0] == 3  # u0, u2, u4 first used through a


def _history(c: httpx.Client, url: str, name: str) -> list[dict]:
    out: list[dict] = []
    after = 0
    while True:
        h = c.get(f"{url}/v1/curricula/{name}/history", params={"after": after}).json()
        out.extend(h["events"])
        if not h["more"]:
            return out
        after = h["last_seq"]


def test_a_process_killed_under_load_loses_no_acknowledged_observation(pg_url):
    a, b = _node(pg_url).start(), _node(pg_url).start()
    names = [f"k{i}" for i in range(8)]
    acked: dict[str, tuple[str, int, int]] = {}  # id -> (curriculum, seq, task)
    lock = threading.Lock()
    alive = [a, b]
    try:
        with httpx.Client(headers=AUTH, timeout=30) as c:
            r = c.post(f"{a.url}/v1/curricula/bulk", json={"template": {"space": SKILLS, "teacher": "exp3",
                                                                         "seed": 2}, "learners": names})
            assert r.status_code == 201, r.text
        killed = threading.Event()

        def learner(worker: int) -> None:
            rng = np.random.default_rng(worker)
            with httpx.Client(headers=AUTH, timeout=10) as c:
                for n in range(60):
                    name = names[int(rng.integers(len(names)))]
                    oid = f"w{worker}-{n}"
                    task = int(rng.integers(5))
                    body = {"task": f"s{task}", "score": float(rng.random()), "id": oid}
                    deadline = time.monotonic() + 60
                    while True:  # like a client behind a load balancer: any live process, retried with its id
                        server = alive[int(rng.integers(len(alive)))]
                        try:
                            r = c.post(f"{server.url}/v1/curricula/{name}/observe", json=body)
                        except httpx.TransportError:
                            r = None
                        if r is not None and r.status_code == 200:
                            with lock:
                                acked[oid] = (name, r.json()["seq"], task)
                            break
                        assert r is None or r.status_code in (502, 503), r.text
                        assert time.monotonic() < deadline, "no process took the curriculum over"
                        time.sleep(0.05)
                    if worker == 0 and n == 20:
                        killed.set()

        threads = [threading.Thread(target=learner, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        assert killed.wait(120)
        a.kill()  # SIGKILL, in the middle of the load: its leases expire and b takes its curricula over
        alive.remove(a)
        for t in threads:
            t.join(180)
        assert len(acked) == 6 * 60
        with httpx.Client(headers=AUTH, timeout=30) as c:
            for name in names:
                events = _history(c, b.url, name)
                logged = {}
                for e in events:
                    if e["kind"] == "observe":
                        assert e["seq"] not in logged
                        logged[e["seq"]] = e["task"]
                mine = {oid: v for oid, v in acked.items() if v[0] == name}
                # every acknowledged observation is in the log once, at the seq it was acknowledged with
                assert {seq: f"s{task}" for _n, seq, task in mine.values()} == logged
                info = c.get(f"{b.url}/v1/curricula/{name}").json()
                assert info["n_observed"] == len(mine)
                assert states_equal(_state(b.url, name), replay(info, events).state_dict())
    finally:
        a.kill()
        b.stop()


def test_a_learner_held_by_another_process_is_forgotten_everywhere(pg_url):
    """Deleting a learner through one process while the other serves (holds) the learner's curricula:
    every row goes, no write is acknowledged for them afterwards, both processes soon answer 404, and
    the other learner's curriculum served by the same process carries on untouched."""
    from sqlalchemy import create_engine, text

    with _node(pg_url) as a, _node(pg_url) as b, httpx.Client(headers=AUTH, timeout=30) as c:
        for name, learner in (("gone-1", "ann"), ("gone-2", "ann"), ("kept", "bob")):
            r = c.post(f"{b.url}/v1/curricula", json={"name": name, "space": SKILLS, "teacher": "exp3",
                                                     "seed": 3, "learner": learner})
            assert r.status_code == 201, r.text
        for name in ("gone-1", "gone-2", "kept"):  # created and used through b: b holds all three
            for j in range(3):
                task = c.post(f"{b.url}/v1/curricula/{name}/propose").json()["tasks"][0]
                r = c.post(f"{b.url}/v1/curricula/{name}/observe", json={"task": task, "score": 0.5,
                                                                        "id": f"{name}-{j}"})
                assert r.status_code == 200, r.text
        listing = c.get(f"{a.url}/v1/curricula").json()["curricula"]
        ours = {"gone-1", "gone-2", "kept"}  # (the module's database also holds other tests' curricula)
        assert {x["name"]: x.get("served_by") for x in listing if x["name"] in ours} == dict.fromkeys(ours, b.url)

        r = c.delete(f"{a.url}/v1/learners/ann")
        assert r.status_code == 200, r.text
        assert sorted(r.json()["deleted"]) == ["gone-1", "gone-2"]

        engine = create_engine(pg_url)
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM curricula WHERE learner = 'ann'")).scalars().all()
            assert ids == []
            for table in ("events", "checkpoints", "leases"):
                left = conn.execute(text(f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "
                                         "(SELECT 1 FROM curricula c WHERE c.id = t.curriculum_id)")).scalar()
                assert left == 0, table
        # no observation is acknowledged for a forgotten curriculum, through either process, and within a
        # few lease periods both answer 404 (b lets its copies go once it learns the rows are gone)
        deadline = time.monotonic() + 30
        pending = {(s.url, n) for s in (a, b) for n in ("gone-1", "gone-2")}
        k = 0
        while pending:
            assert time.monotonic() < deadline, f"still served: {sorted(pending)}"
            for url, name in sorted(pending):
                k += 1
                r = c.post(f"{url}/v1/curricula/{name}/observe", json={"task": "s0", "score": 0.5, "id": f"x{k}"})
                assert r.status_code in (404, 503), (url, name, r.status_code, r.text)
                if r.status_code == 404:
                    p = c.post(f"{url}/v1/curricula/{name}/propose")
                    assert p.status_code == 404, (url, name, p.status_code, p.text)
                    pending.discard((url, name))
            time.sleep(0.2)
        assert c.get(f"{a.url}/v1/learners/ann/export").status_code == 404
        with engine.connect() as conn:  # nothing was written for them after the delete either
            assert conn.execute(text("SELECT count(*) FROM curricula WHERE learner = 'ann'")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM events e WHERE NOT EXISTS "
                                     "(SELECT 1 FROM curricula c WHERE c.id = e.curriculum_id)")).scalar() == 0
        engine.dispose()
        # bob's curriculum, held by b all along, is intact and still served (through either process)
        for server in (a, b):
            task = c.post(f"{server.url}/v1/curricula/kept/propose").json()["tasks"][0]
            r = c.post(f"{server.url}/v1/curricula/kept/observe", json={"task": task, "score": 1.0,
                                                                       "id": f"kept-{server.port}"})
            assert r.status_code == 200, r.text
        info = c.get(f"{a.url}/v1/curricula/kept").json()
        assert info["n_observed"] == 5 and info["learner"] == "bob"
        assert states_equal(_state(b.url, "kept"), replay(info, _history(c, b.url, "kept")).state_dict())


def test_processes_without_a_token_relay_to_each_other_and_refuse_other_sites(pg_url):
    """Without a token each process answers only its own names (against DNS rebinding): the host of its
    MAGISTER_NODE_URL is one of them, so the relays between processes (addressed to that host) still work, while
    a foreign Host gets 400 and a foreign Origin 403 at the process first reached, before any relay."""
    pb = free_port()
    a = _node(pg_url)
    a.admin_token = ""
    b = Server(pg_url, port=pb, admin_token="", checkpoint_every=25,  # relayed to as localhost, reached as 127.0.0.1
               env={"MAGISTER_NODE_URL": f"http://localhost:{pb}", "MAGISTER_LEASE_SECONDS": LEASE})
    with a, b, httpx.Client(timeout=30) as c:
        r = c.post(f"{b.url}/v1/curricula", json={"name": "open-1", "space": SKILLS, "teacher": "exp3", "seed": 4})
        assert r.status_code == 201, r.text
        assert c.post(f"{b.url}/v1/curricula/open-1/propose").status_code == 200  # b holds it
        for j in range(3):  # through a: relayed to b
            task = c.post(f"{a.url}/v1/curricula/open-1/propose").json()["tasks"][0]
            r = c.post(f"{a.url}/v1/curricula/open-1/observe", json={"task": task, "score": 0.5, "id": f"o{j}"})
            assert r.status_code == 200, r.text
        info = c.get(f"{a.url}/v1/curricula/open-1").json()
        assert info["n_observed"] == 3 and info["n_proposed"] == 4
        listing = c.get(f"{a.url}/v1/curricula").json()["curricula"]
        assert [x.get("served_by") for x in listing if x["name"] == "open-1"] == [f"http://localhost:{pb}"]
        r = c.post(f"{a.url}/v1/curricula/open-1/propose", headers={"Host": "evil.example"})
        assert r.status_code == 400, r.text
        r = c.post(f"{a.url}/v1/curricula/open-1/propose", headers={"Origin": "http://evil.example",
                                                                  "Content-Type": "text/plain"})
        assert r.status_code == 403, r.text
        assert c.get(f"{b.url}/v1/curricula/open-1").json()["n_proposed"] == 4
