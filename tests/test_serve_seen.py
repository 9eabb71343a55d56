"""Client ids in bounded memory: the Bloom filters of ``serve/seen.py`` and the service's retries of old ids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from magister.errors import ConfigError
from magister.serve.seen import BloomFilter, ClientIds, ScalableBloomFilter, id_hashes


def _ids(rng: np.random.Generator, n: int, prefix: str = "") -> list[str]:
    return [f"{prefix}{x:016x}" for x in rng.integers(0, 2**63, size=n)]


# ------------------------------------------------------------- the filters
def test_bloom_filter_has_no_false_negatives_and_its_target_false_positive_rate():
    rng = np.random.default_rng(0)
    for target in (0.01, 0.001):
        f = BloomFilter(20_000, target)
        keys = _ids(rng, 20_000, "in-")
        for key in keys:
            f.add(key)
        assert all(key in f for key in keys)
        probes = _ids(rng, 100_000, "out-")
        rate = sum(key in f for key in probes) / len(probes)
        assert 0.5 * target < rate < 1.5 * target, (target, rate)
        # about 1.44 * log2(1/p) bits per key when full (the optimum), not more
        assert f.nbytes * 8 / f.count == pytest.approx(-math.log2(target) / math.log(2), rel=0.02)


def test_bulk_and_single_adds_set_the_same_bits():
    keys = _ids(np.random.default_rng(1), 3000) + ["caf\u00e9", "\ud800lone surrogate", ""]
    one, bulk = ScalableBloomFilter(0.01, initial_capacity=500), ScalableBloomFilter(0.01, initial_capacity=500)
    for key in keys:
        one.add(key)
    bulk.add_many(keys, chunk=700)  # chunks that straddle slice boundaries
    assert [s.capacity for s in one.slices] == [s.capacity for s in bulk.slices] == [500, 1000, 2000]
    for a, b in zip(one.slices, bulk.slices):
        assert a.count == b.count and np.array_equal(a.bits, b.bits)
    assert all(key in bulk for key in keys)


def test_the_scalable_filter_grows_and_keeps_its_total_false_positive_rate():
    rng = np.random.default_rng(2)
    f = ScalableBloomFilter(0.01, initial_capacity=1000)
    assert "anything" not in f and f.nbytes == 0  # an empty filter costs nothing
    keys = _ids(rng, 30_000, "in-")
    f.add_many(keys[:20_000])
    for key in keys[20_000:]:
        f.add(key)
    assert f.count == 30_000 and len(f.slices) == 5  # 1k, 2k, 4k, 8k, 16k (part full)
    assert [s.capacity for s in f.slices] == [1000, 2000, 4000, 8000, 16000]
    rates = [s.fp_rate for s in f.slices]
    assert all(b < a for a, b in zip(rates, rates[1:])) and sum(rates) < 0.01
    assert all(key in f for key in keys)  # no false negatives across slices
    probes = _ids(rng, 100_000, "out-")
    rate = sum(key in f for key in probes) / len(probes)
    assert 0.001 < rate < 0.01, rate
    assert f.nbytes / f.count < 3.0  # bytes per id at 1% (a dict entry holds ~150)


def test_reserve_sizes_one_slice_for_a_bulk_load():
    f = ScalableBloomFilter(1e-3, initial_capacity=100)
    f.reserve(50_000)
    f.add_many(_ids(np.random.default_rng(3), 50_000))
    assert len(f.slices) == 1 and f.slices[0].full
    # the optimum for the first slice's share of the rate (1e-3 * (1 - 0.8)): ~17.7 bits per id
    assert f.nbytes * 8 / f.count == pytest.approx(-math.log2(2e-4) / math.log(2), rel=0.02)
    f.add("one more")
    assert len(f.slices) == 2 and f.slices[1].capacity == 100_000


def test_hashes_are_stable_across_processes():
    """A filter rebuilt by another process probes the same bits (unlike Python's salted hash())."""
    import subprocess
    import sys

    code = "from magister.serve.seen import id_hashes; print(id_hashes('obs-1'), hash('obs-1'))"
    outs = [subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True,
                           text=True, check=True).stdout.rsplit(" ", 1) for seed in ("1", "2")]
    assert outs[0][0] == outs[1][0] == str(id_hashes("obs-1"))
    assert outs[0][1] != outs[1][1]  # the salted hash differs, so the comparison above means something
    h1, h2 = id_hashes("obs-1")
    assert 0 <= h1 < 2**64 and 0 < h2 < 2**64 and h2 % 2 == 1


@pytest.mark.parametrize("make", [lambda: BloomFilter(0, 0.1), lambda: BloomFilter(10, 0.0),
                                  lambda: BloomFilter(10, 1.0), lambda: ScalableBloomFilter(growth=1.0),
                                  lambda: ScalableBloomFilter(tightening=1.0), lambda: ClientIds(0),
                                  lambda: ClientIds(True)])
def test_bad_filter_settings_are_refused(make):
    with pytest.raises(ConfigError):
        make()


def test_client_ids_keep_the_recent_ones_and_never_move_an_uncommitted_one():
    ids = ClientIds(3)
    for seq in range(1, 9):
        ids.remember(f"id-{seq}", seq, 2**64 - seq)
    committed_upto = 4
    moved = ids.trim(lambda seq: seq <= committed_upto)
    assert moved == 4 and ids.n_recent == 4 and len(ids) == 8  # id-5 is not committed yet: it stays
    assert ids.get("id-5") == (5, 2**64 - 5) and ids.get("id-1") is None
    assert all(ids.maybe_old(f"id-{s}") for s in range(1, 5))
    committed_upto = 8
    assert ids.trim(lambda seq: seq <= committed_upto) == 1 and ids.n_recent == 3
    assert ids.get("id-8") == (8, 2**64 - 8)


# ------------------------------------------------------------ the service
# Only these need the service's packages; the filter tests above are pure numpy and run without them.
import magister as mg  # noqa: E402

try:
    from fastapi.testclient import TestClient

    from magister.serve.app import app_from_env, create_app
    from serve_fixtures import ADMIN, AUTH, full_history, states_equal
    MISSING = None
except ImportError as e:  # reported by the skip below (and a failure under MAGISTER_STRICT_DEPS=1)
    MISSING = f"the service's packages are not installed (the 'serve' extra): {e}"

needs_serve = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

NAMED = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}


def _server(db, recent=5):
    c = TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=7, recent_ids=recent))
    c.headers.update(AUTH)
    return c


def _state(c):
    r = c.get("/v1/curricula/skills/checkpoint")
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


def _obs(i):
    return {"task": NAMED["names"][i % 4], "score": (i % 10) / 10, "id": f"o-{i}"}


def _check_old_retries(c, first: dict, proposals: dict):
    """Retries of ids long out of the recent set: applied once, same answers, 409 on other content."""
    service = c.app.state.service
    live = service.curricula["skills"]
    before, info = _state(c), c.get("/v1/curricula/skills").json()
    reads = service.old_id_reads
    for i in (0, 1, 7):
        r = c.post("/v1/curricula/skills/observe", json=_obs(i))
        assert r.status_code == 200 and r.json()["seq"] == first[f"o-{i}"], r.text
    batch = [_obs(2), _obs(3), _obs(2)]
    r = c.post("/v1/curricula/skills/observe_batch", json={"observations": batch})
    assert [x["seq"] for x in r.json()["results"]] == [first["o-2"], first["o-3"], first["o-2"]]
    for rid, (k, answer) in proposals.items():
        r = c.post("/v1/curricula/skills/propose", params={"k": k, "request_id": rid})
        assert r.status_code == 200 and r.json() == answer
    assert service.old_id_reads > reads  # answered from the log: these ids were no longer recent
    clash = c.post("/v1/curricula/skills/observe", json={**_obs(4), "score": 0.99})
    assert clash.status_code == 409 and "o-4" in clash.json()["detail"]
    other_task = {**_obs(5), "task": "div"}  # o-5 was "sub"
    clash = c.post("/v1/curricula/skills/observe_batch", json={"observations": [_obs(100), other_task]})
    assert clash.status_code == 409 and "observation 1" in clash.json()["detail"]
    rid = next(iter(proposals))
    assert c.post("/v1/curricula/skills/propose", params={"k": 4, "request_id": rid}).status_code == 409
    assert c.post("/v1/curricula/skills/propose", params={"k": 1, "request_id": "o-6"}).status_code == 409
    assert states_equal(before, _state(c))  # nothing was applied twice, nothing refused changed anything
    assert c.get("/v1/curricula/skills").json()["last_seq"] == info["last_seq"]
    assert live.ids.n_recent <= 5


@needs_serve
def test_old_ids_are_applied_once_with_a_tiny_recent_set_and_after_a_restart(tmp_path):
    db = str(tmp_path / "serve.db")
    first: dict[str, int] = {}
    proposals: dict[str, tuple[int, dict]] = {}
    with _server(db) as c:
        assert c.post("/v1/curricula", json={"name": "skills", "space": NAMED, "seed": 3}).status_code == 201
        for i in range(40):
            if i % 10 == 0:
                rid = f"p-{i}"
                r = c.post("/v1/curricula/skills/propose", params={"k": 2, "request_id": rid})
                proposals[rid] = (2, r.json())
            if i % 3:
                r = c.post("/v1/curricula/skills/observe", json=_obs(i))
                first[f"o-{i}"] = r.json()["seq"]
            if i == 20:  # a batch, in the middle
                rest = [_obs(j) for j in range(40) if j % 3 == 0]
                r = c.post("/v1/curricula/skills/observe_batch", json={"observations": rest})
                first.update({x["id"]: x["seq"] for x in r.json()["results"]})
        live = c.app.state.service.curricula["skills"]
        assert len(live.ids) == 44 and live.ids.n_recent == 5 and live.ids.old.count == 39
        c.app.state.service.curricula["skills"].proposals.clear()  # as if evicted: read from the log
        _check_old_retries(c, first, proposals)
        live_state = _state(c)
    with _server(db) as c:  # the first use after the restart rebuilds the recent set and the filter from the log
        assert "skills" not in c.app.state.service.curricula  # nothing is loaded before it is used
        live = c.app.state.service.get("skills")
        assert len(live.ids) == 44 and live.ids.n_recent == 5 and live.ids.old.count == 39
        assert states_equal(live_state, _state(c))
        _check_old_retries(c, first, proposals)
        r = c.post("/v1/curricula/skills/observe", json=_obs(1000))  # a new id is still new
        assert r.status_code == 200 and r.json()["seq"] == c.get("/v1/curricula/skills").json()["last_seq"]
    with _server(db, recent=100) as c:  # a larger window holds them all again
        live = c.app.state.service.get("skills")
        assert live.ids.n_recent == 45 and live.ids.old.count == 0
        reads = c.app.state.service.old_id_reads
        assert c.post("/v1/curricula/skills/observe", json=_obs(0)).json()["seq"] == first["o-0"]
        assert c.app.state.service.old_id_reads == reads
        events = full_history(c, "skills")
        ids = [e for e in events if e["kind"] == "observe"]
        assert len(ids) == 41  # 40 observations and o-1000, each once


@needs_serve
def test_a_false_positive_costs_a_read_and_the_id_is_still_new(tmp_path, monkeypatch):
    with _server(str(tmp_path / "serve.db")) as c:
        assert c.post("/v1/curricula", json={"name": "skills", "space": NAMED, "seed": 3}).status_code == 201
        service = c.app.state.service
        ids = service.curricula["skills"].ids
        monkeypatch.setattr(type(ids), "maybe_old", lambda self, cid: True)  # the filter says "maybe" to all
        reads = service.old_id_reads
        seqs = [c.post("/v1/curricula/skills/observe", json=_obs(i)).json()["seq"] for i in range(3)]
        r = c.post("/v1/curricula/skills/propose", params={"k": 1, "request_id": "p-new"})
        assert seqs == [1, 2, 3] and r.json()["seq"] == 4 and service.old_id_reads == reads + 4
        assert c.get("/v1/curricula/skills").json()["n_observed"] == 3

        def down():
            raise ConnectionError("database unreachable")

        monkeypatch.setattr(service.engine, "connect", down)  # the log cannot answer: refuse, record nothing
        r = c.post("/v1/curricula/skills/observe", json=_obs(9))
        assert r.status_code == 503 and "o-9" in r.json()["detail"] and "retry" in r.json()["detail"]
        monkeypatch.undo()
        assert c.get("/v1/curricula/skills").json()["n_observed"] == 3


@needs_serve
def test_recent_ids_is_a_validated_setting_of_the_app_the_env_and_the_command(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from magister.cli import app

    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError, match="recent_ids"):
            create_app(str(tmp_path / "a.db"), recent_ids=bad)
    monkeypatch.setenv("MAGISTER_DB", str(tmp_path / "b.db"))
    monkeypatch.setenv("MAGISTER_RECENT_IDS", "1_000")
    assert app_from_env().state.service.recent_ids == 1000
    monkeypatch.setenv("MAGISTER_RECENT_IDS", "lots")
    with pytest.raises(ValueError, match="MAGISTER_RECENT_IDS"):
        app_from_env()
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert "--recent-ids" in result.output
    result = CliRunner().invoke(app, ["serve", "--recent-ids", "0", "--no-auth"])
    assert result.exit_code != 0 and "recent-ids" in result.output


@needs_serve
def test_ids_whose_write_is_not_committed_stay_recent(tmp_path):
    import threading

    from magister.serve.db import make_engine
    from magister.serve.service import Service

    service = Service(make_engine(str(tmp_path / "serve.db")), recent_ids=3)
    service.start()
    try:
        _, fut = service.create("skills", NAMED, "uniform", {}, 3, None)
        fut.result()
        gate = threading.Event()
        service.writer.submit(lambda conn: gate.wait(10))  # holds every later write back
        futs = []
        for i in range(8):
            seqs, waits = service.observe("skills", [("add", 0.5, f"o-{i}")])
            futs += waits
        live = service.curricula["skills"]
        assert live.ids.n_recent == 8 and live.ids.old.count == 0  # none committed: all kept exactly
        seqs, waits = service.observe("skills", [("add", 0.5, "o-0")])
        assert seqs == [1] and waits  # the retry waits for the first attempt's commit
        gate.set()
        for f in futs:
            f.result(timeout=10)
        service.observe("skills", [("sub", 0.5, "o-8")])
        assert live.ids.n_recent == 3 and live.ids.old.count == 6 and len(live.ids) == 9
        assert service.observe("skills", [("add", 0.5, "o-0")])[0] == [1]
    finally:
        service.close()
        service.engine.dispose()
