"""Helpers for the service tests: a uvicorn subprocess, a throwaway PostgreSQL cluster, log replay."""

from __future__ import annotations

import json
from typing import Any

import magister as mg
from magister.serve.harness import ADMIN, AUTH, Server, free_port, postgres_bin, postgres_cluster

__all__ = ["ADMIN", "AUTH", "Server", "free_port", "postgres_bin", "postgres_cluster", "replay", "full_history",
           "states_equal", "LoseReplies"]


def replay(info: dict[str, Any], events: list[dict[str, Any]]) -> mg.Teacher:
    """Rebuild a teacher from a curriculum's settings and its full event log, independently of the server (a
    people policy on the server clock has its clock moved on to each request's logged time first, or to an
    observation's own ``answer_time``: a request's observations go in runs of equal times)."""
    teacher = mg.make_teacher(info["teacher"], mg.space_from_spec(info["space"]), seed=info["seed"],
                              score_range=info["score_range"], **info["settings"])
    space = teacher.space
    group: list[dict[str, Any]] = []

    def when(e: dict[str, Any]) -> float:
        return e.get("answer_time", e["time"])

    def at(e: dict[str, Any]) -> None:
        if info.get("clock") == "server" and when(e) > teacher.clock:
            teacher.set_time(when(e))

    def flush() -> None:
        while group:
            n = next((i for i, e in enumerate(group) if when(e) != when(group[0])), len(group))
            at(group[0])
            teacher.observe_batch([space.from_json(e["task"]) for e in group[:n]], [e["score"] for e in group[:n]])
            del group[:n]

    for e in events:
        if e["kind"] == "observe":
            if group and group[0]["batch"] != e["batch"]:
                flush()
            group.append(e)
        elif e["kind"] == "giveback":
            flush()
            teacher.give_back([space.from_json(t) for t in e["tasks"]], e["infos"])
        else:
            flush()
            at(e)
            tasks = teacher.propose(e["k"])
            assert json.dumps([space.to_json(t) for t in tasks]) == json.dumps(e["tasks"]), "replayed draw differs"
    flush()
    return teacher


def full_history(client: Any, name: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get(f"/v1/curricula/{name}/history", params={"after": after, "limit": 50000},
                       headers=headers or AUTH)
        assert r.status_code == 200, r.text
        h = r.json()
        out.extend(h["events"])
        if not h["more"]:
            return out
        after = h["last_seq"]


def states_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Deep equality of two state dicts (numpy arrays compared exactly)."""
    import numpy as np

    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(np.asarray(a), np.asarray(b))
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and a != a:
        return b != b
    return a == b




class LoseReplies:
    """An httpx transport: forwards each request, then pretends the reply of the first ``n`` POSTs was lost."""

    def __init__(self, inner: Any, n: int):
        self.inner, self.n, self.calls = inner, n, 0

    def handle_request(self, request: Any) -> Any:
        import httpx

        self.calls += 1
        response = self.inner.handle_request(request)
        response.read()
        if request.method == "POST" and self.n > 0:
            self.n -= 1
            raise httpx.ReadTimeout("reply lost", request=request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    def close(self) -> None:
        pass
