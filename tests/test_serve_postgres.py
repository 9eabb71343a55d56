"""The PostgreSQL path, against a real PostgreSQL server started (and removed) by the fixture."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")

import httpx  # noqa: E402

import magister as mg  # noqa: E402
from serve_fixtures import AUTH, Server, full_history, postgres_bin, postgres_cluster, replay, states_equal  # noqa: E402

pytestmark = pytest.mark.skipif(postgres_bin() is None,
                                reason="PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                                       "(make system-deps installs Debian's postgresql)")


@pytest.fixture(scope="module")
def pg_url():
    with postgres_cluster() as url:
        yield url


def _state(c, name):
    r = c.get(f"/v1/curricula/{name}/checkpoint")
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


def test_postgres_migrates_serves_and_rebuilds_after_kill9(pg_url):
    from magister.serve.db import current_revision, make_engine

    small = {"MAGISTER_RECENT_IDS": "5"}  # most ids leave the recent set: retries are answered from the log
    server = Server(pg_url, checkpoint_every=20, env=small).start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c:
            r = c.post("/v1/curricula", json={"name": "pg", "space": {"type": "Discrete", "n": 6},
                                              "teacher": "exp3", "seed": 4})
            assert r.status_code == 201, r.text
            for i in range(12):
                tasks = c.post("/v1/curricula/pg/propose", params={"k": 3}).json()["tasks"]
                obs = [{"task": t, "score": (t % 3) / 2, "id": f"o{i}-{j}"} for j, t in enumerate(tasks)]
                if i == 0:
                    first = obs
                assert c.post("/v1/curricula/pg/observe_batch", json={"observations": obs}).status_code == 200
            again = c.post("/v1/curricula/pg/observe", json={"task": obs[0]["task"], "score": obs[0]["score"],
                                                              "id": obs[0]["id"]})
            assert again.json()["seq"] == c.get("/v1/curricula/pg").json()["last_seq"] - 2
            oldest = {"task": first[0]["task"], "score": first[0]["score"], "id": "o0-0"}
            assert c.post("/v1/curricula/pg/observe", json=oldest).json()["seq"] == 2
            assert c.post("/v1/curricula/pg/observe", json={**oldest, "score": 0.25}).status_code == 409
            assert c.post("/v1/curricula/pg/observe", json={"task": 9, "score": 0.5}).status_code == 422
            live = _state(c, "pg")
            assert live["n_observed"] == 36
    finally:
        server.kill()
    engine = make_engine(pg_url)
    assert current_revision(engine) == "0005"
    engine.dispose()
    with Server(pg_url, env=small) as restarted, httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30) as c:
        info = c.get("/v1/curricula/pg").json()
        assert c.post("/v1/curricula/pg/observe", json=oldest).json()["seq"] == 2  # still applied once
        assert c.post("/v1/curricula/pg/observe", json={**oldest, "score": 0.25}).status_code == 409
        assert info["checkpoint_seq"] > 0
        rebuilt = _state(c, "pg")
        assert states_equal(live, rebuilt)
        assert states_equal(rebuilt, replay(info, full_history(c, "pg")).state_dict())
        assert c.delete("/v1/curricula/pg").status_code == 204
        assert c.get("/v1/curricula").json()["curricula"] == []
