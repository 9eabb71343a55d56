"""The lean lane (hotpath.py) answers exactly what the FastAPI endpoints answer.

Two servers, one with the lane and one without, get the same requests, good
and bad; every reply (status and body) and the final teacher states and event
logs must be identical, and the lane must really have served the good ones.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from magister.serve.app import create_app  # noqa: E402
from magister.serve.hotpath import HotPath  # noqa: E402
from serve_fixtures import ADMIN, AUTH, full_history  # noqa: E402

BOX = {"type": "Box", "low": [0, 0], "high": [1, 2]}
NAMED = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}
JSON = {"Content-Type": "application/json"}

# (method, path, raw body or None, extra headers, token kind); token kinds: admin, scoped (walker only), bad, none
REQUESTS: list[tuple[str, str, object, dict, str]] = [
    ("post", "/v1/curricula/walker/propose", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=3", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=3&request_id=r1", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=3&request_id=r1", None, {}, "scoped"),  # retry: same answer
    ("post", "/v1/curricula/walker/propose?k=2&request_id=r1", None, {}, "admin"),  # id reused: 409
    ("post", "/v1/curricula/walker/propose?k=01", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=0", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=10001", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=%2B2", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?k=2&k=3", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?kk=2", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?request_id=", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?request_id=" + "x" * 129, None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose?request_id=%C3%A9t%C3%A9", None, {}, "admin"),
    ("post", "/v1/curricula/walker/propose", b'{"ignored": true}', JSON, "admin"),
    ("post", "/v1/curricula/walker/propose", None, {}, "bad"),
    ("post", "/v1/curricula/walker/propose", None, {}, "none"),
    ("post", "/v1/curricula/skills/propose", None, {}, "scoped"),
    ("post", "/v1/curricula/nowhere/propose", None, {}, "admin"),
    ("post", "/v1/curricula/-bad/propose", None, {}, "admin"),
    ("post", "/v1/curricula/skills/propose?k=2", None, {}, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 0.25}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 1, "id": "o1"}, JSON, "scoped"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 1, "id": "o1"}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 0.5, "id": "o1"}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 5.0], "score": 0.5}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 1.5}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": "0.5"}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": True}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0]}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 0.5, "x": 1}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": NaN}', JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": 1e999}', JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": 0.5', JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b"[" * 100_000 + b"]" * 100_000, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b"\xff\xfe", JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b"", JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": 0.5}', {}, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": 0.5}',
     {"Content-Type": "text/plain"}, "admin"),
    ("post", "/v1/curricula/walker/observe", b'{"task": [0.5, 1.0], "score": 0.5}',
     {"Content-Type": "application/vnd.api+json"}, "admin"),
    ("post", "/v1/curricula/walker/observe?k=1", {"task": [0.5, 1.0], "score": 0.5}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 0.5}, JSON, "bad"),
    ("post", "/v1/curricula/skills/observe", {"task": "add", "score": 0.5}, JSON, "scoped"),
    ("post", "/v1/curricula/skills/observe", {"task": "add", "score": 0.5}, JSON, "admin"),
    ("post", "/v1/curricula/skills/observe", {"task": "pow", "score": 0.5}, JSON, "admin"),
    ("post", "/v1/curricula/skills/observe", {"task": 2, "score": 0.5}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch",
     {"observations": [{"task": [0.1, 0.2], "score": 0.5, "id": "b1"}, {"task": [0.3, 0.4], "score": 0.75},
                       {"task": [0.1, 0.2], "score": 0.5, "id": "b1"}]}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch",
     {"observations": [{"task": [0.1, 0.2], "score": 0.5, "id": "b1"}, {"task": [0.3, 0.4], "score": 0.5,
                                                                          "id": "b2"}]}, JSON, "scoped"),
    ("post", "/v1/curricula/walker/observe_batch",
     {"observations": [{"task": [0.1, 0.2], "score": 0.5}, {"task": [3, 0.4], "score": 0.5}]}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch", {"observations": []}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch", {"observations": {}}, JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch", [], JSON, "admin"),
    ("post", "/v1/curricula/walker/observe_batch", {"observations": [{"task": [0.1, 0.2], "score": 0.5}]},
     JSON, "none"),
    ("post", "/v1/curricula/walker/propose", None, {}, "admin"),
    ("get", "/v1/curricula/walker/propose", None, {}, "admin"),
]


def _app(db: str, lean: bool) -> TestClient:
    return TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=7, lean=lean))


def _lane(client: TestClient) -> HotPath | None:
    app = client.app.middleware_stack
    while app is not None:
        if isinstance(app, HotPath):
            return app
        app = getattr(app, "app", None)
    return None


def _setup(c: TestClient) -> dict[str, dict[str, str]]:
    for name, space in (("walker", BOX), ("skills", NAMED)):
        r = c.post("/v1/curricula", json={"name": name, "space": space, "teacher": "alp-gmm" if name == "walker"
                                          else "exp3", "seed": 11}, headers=AUTH)
        assert r.status_code == 201, r.text
    secret = c.post("/v1/tokens", json={"curricula": ["walker"]}, headers=AUTH).json()["token"]
    return {"admin": AUTH, "scoped": {"Authorization": f"Bearer {secret}"},
            "bad": {"Authorization": "Bearer nope"}, "none": {}}


def _send(c: TestClient, tokens: dict, method: str, path: str, body: object, headers: dict, who: str):
    h = {**tokens[who], **headers}
    content = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    r = c.request(method, path, content=content, headers=h)
    try:
        payload = r.json()
    except ValueError:
        payload = r.text
    return r.status_code, payload, r.headers.get("www-authenticate")


def test_the_lean_lane_answers_exactly_what_the_endpoints_answer(tmp_path):
    with _app(str(tmp_path / "lean.db"), True) as lean, _app(str(tmp_path / "full.db"), False) as full:
        assert _lane(lean) is not None and _lane(full) is None
        tok_lean, tok_full = _setup(lean), _setup(full)
        ok = 0
        for req in REQUESTS:
            got = _send(lean, tok_lean, *req)
            want = _send(full, tok_full, *req)
            assert got == want, f"{req[:2]}: lean {got} != endpoints {want}"
            ok += want[0] == 200 and req[0] == "post"
        served = _lane(lean).served  # type: ignore[union-attr]
        # every success went through the lane (refusals by the service itself, such as 404 or 409, may too)
        assert 12 <= ok <= served < len(REQUESTS), (ok, served)
        for name in ("walker", "skills"):
            a, b = full_history(lean, name), full_history(full, name)
            strip = [[{k: v for k, v in e.items() if k != "time"} for e in h] for h in (a, b)]
            assert strip[0] == strip[1]
            assert lean.get(f"/v1/curricula/{name}/checkpoint", headers=AUTH).content == \
                full.get(f"/v1/curricula/{name}/checkpoint", headers=AUTH).content


def test_the_lane_serves_the_busy_endpoints_and_delegates_refusals(tmp_path):
    with _app(str(tmp_path / "lean.db"), True) as c:
        tokens = _setup(c)
        lane = _lane(c)
        n = lane.served  # type: ignore[union-attr]
        assert _send(c, tokens, "post", "/v1/curricula/walker/propose?k=2", None, {}, "admin")[0] == 200
        assert _send(c, tokens, "post", "/v1/curricula/walker/observe", {"task": [0.2, 0.2], "score": 0.5},
                     JSON, "admin")[0] == 200
        assert lane.served == n + 2  # type: ignore[union-attr]
        status, body, _ = _send(c, tokens, "post", "/v1/curricula/walker/observe", {"task": [0.2, 0.2]},
                                JSON, "admin")
        assert status == 422 and "score" in body["detail"]
        status, body, auth = _send(c, tokens, "post", "/v1/curricula/walker/propose", None, {}, "bad")
        assert status == 401 and auth == "Bearer"
        assert lane.served == n + 2  # type: ignore[union-attr]
