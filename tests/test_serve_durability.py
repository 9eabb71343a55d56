"""Load and crash: 64 concurrent clients against a real uvicorn process, kill -9 mid-run, restart.

Checks that every acknowledged observation is in the log exactly once, that
the restarted teacher equals an independent replay of the log, and that a
quiet server's live state equals its rebuilt state after another kill -9.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytest.importorskip("uvicorn")

import magister as mg  # noqa: E402
from magister.serve.loadgen import Conn  # noqa: E402
from serve_fixtures import AUTH, Server, full_history, replay, states_equal  # noqa: E402

CLIENTS = 64


def _state(url: str, name: str) -> dict:
    r = httpx.get(f"{url}/v1/curricula/{name}/checkpoint", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


async def _learner(port: int, i: int, name: str, acked: list, stop: asyncio.Event) -> None:
    conn = Conn("127.0.0.1", port, AUTH)
    n = 0
    try:
        while not stop.is_set():
            status, r = await conn.request("POST", f"/v1/curricula/{name}/propose?k=2")
            if status != 200:
                return
            obs = [{"task": t, "score": ((i * 7 + n + j) % 10) / 10, "id": f"c{i}-{n}-{j}"}
                   for j, t in enumerate(r["tasks"])]
            n += 1
            if n % 2:
                status, r = await conn.request("POST", f"/v1/curricula/{name}/observe_batch", {"observations": obs})
                if status != 200:
                    return
                acked.extend((o["id"], x["seq"]) for o, x in zip(obs, r["results"]))
            else:
                for o in obs:
                    status, r = await conn.request("POST", f"/v1/curricula/{name}/observe", o)
                    if status != 200:
                        return
                    acked.append((o["id"], r["seq"]))
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        return  # the server died under us: what was acknowledged is what counts
    finally:
        await conn.close()


async def _drive(port: int, names: list[str], seconds: float, killer) -> list:
    acked: list = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_learner(port, i, names[i % len(names)], acked, stop)) for i in range(CLIENTS)]
    await asyncio.sleep(seconds)
    killer()  # kill -9 while the 64 clients are mid-request
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    return acked


def test_kill9_under_load_loses_no_acknowledged_observation_and_rebuilds_exactly(tmp_path):
    db = str(tmp_path / "load.db")
    names = ["grid", "walker"]
    server = Server(db, checkpoint_every=300).start()
    try:
        httpx.post(f"{server.url}/v1/curricula", headers=AUTH, json={
            "name": "grid", "space": {"type": "Discrete", "names": [f"level-{i}" for i in range(12)]},
            "teacher": "uniform", "seed": 11}).raise_for_status()
        httpx.post(f"{server.url}/v1/curricula", headers=AUTH, json={
            "name": "walker", "space": {"type": "Box", "low": [0, 0], "high": [1, 5]}, "teacher": "uniform",
            "seed": 12}).raise_for_status()
        acked = asyncio.run(_drive(server.port, names, 2.5, server.kill))
    finally:
        server.kill()
    assert server.proc.returncode == -9
    assert len(acked) > 200, f"too little load got through ({len(acked)} acknowledged observations)"

    restarted = Server(db, checkpoint_every=300).start()
    try:
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30) as c:
            for name in names:
                info = c.get(f"/v1/curricula/{name}").json()
                events = full_history(c, name)
                obs = [e for e in events if e["kind"] == "observe"]
                assert info["n_observed"] == len(obs)
                assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
                # the restarted teacher equals an independent replay of the whole log
                assert states_equal(_state(restarted.url, name), replay(info, events).state_dict())
            # no two acknowledged observations were given the same logged event
            assert len({(names[int(cid[1:].split("-")[0]) % len(names)], seq) for cid, seq in acked}) == len(acked)
            # ask the server about each acknowledged id by retrying it: same seq, nothing new applied
            before = {n: c.get(f"/v1/curricula/{n}").json()["n_observed"] for n in names}
            by_curriculum: dict[str, list] = {n: [] for n in names}
            for cid, seq in acked:
                i = int(cid[1:].split("-")[0])
                by_curriculum[names[i % len(names)]].append((cid, seq))
            history = {n: {e["seq"]: e for e in full_history(c, n)} for n in names}
            for name, items in by_curriculum.items():
                for cid, seq in items:
                    assert seq in history[name], f"acknowledged observation {cid} (seq {seq}) was lost"
                    assert history[name][seq]["kind"] == "observe"
                    i, n, j = map(int, cid[1:].split("-"))  # the event acknowledged is this observation's
                    assert history[name][seq]["score"] == ((i * 7 + n + j) % 10) / 10, f"{cid} acked as seq {seq}"
                replies = c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": [
                    {"task": history[name][seq]["task"], "score": history[name][seq]["score"], "id": cid}
                    for cid, seq in items[:2000]]}).json()["results"]
                assert [r["seq"] for r in replies] == [seq for _, seq in items[:2000]]
            after = {n: c.get(f"/v1/curricula/{n}").json()["n_observed"] for n in names}
            assert after == before, "a retried acknowledged id was applied twice"
            # quiet now: the live state must equal what a restart after kill -9 rebuilds
            live = {n: _state(restarted.url, n) for n in names}
    finally:
        restarted.kill()
    with Server(db) as again:
        for name in names:
            assert states_equal(_state(again.url, name), live[name])
