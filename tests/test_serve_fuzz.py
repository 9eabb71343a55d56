"""Bad-input fuzzing with schemathesis against the service's own OpenAPI schema.

Negative mode (requests that violate the schema) on every operation: each
gets a 4xx with a message, never a 5xx, and nothing in the service changes
(every teacher's exact bytes, the event counts, the curricula and the tokens
are compared before and after each request). Positive mode (schema-valid but
arbitrary requests): never a 5xx. The number of examples is bounded so the
file stays fast.
"""

from __future__ import annotations

import hashlib

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from magister.serve.app import create_app  # noqa: E402
from serve_fixtures import ADMIN, AUTH  # noqa: E402

EXAMPLES = 10
FIXED_NAME = "walker"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    app = create_app(str(tmp_path_factory.mktemp("fuzz") / "fuzz.db"), admin_token=ADMIN)
    with TestClient(app) as client:
        client.headers.update(AUTH)
        assert client.post("/v1/curricula", json={"name": FIXED_NAME, "teacher": "uniform", "seed": 1,
                                                  "space": {"type": "Box", "low": [0, 0], "high": [1, 2]}}
                           ).status_code == 201
        assert client.post("/v1/curricula", json={"name": "skills", "teacher": "uniform", "seed": 2,
                                                  "space": {"type": "Discrete", "names": ["a", "b", "c"]}}
                           ).status_code == 201
        client.post(f"/v1/curricula/{FIXED_NAME}/propose", params={"k": 3})
        client.post("/v1/curricula/skills/observe", json={"task": "b", "score": 0.5, "id": "known"})
        client.post("/v1/tokens", json={"curricula": ["skills"]})
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield app, client, schema


def _fingerprint(app) -> tuple:
    service = app.state.service
    parts = []
    for name in sorted(service.names()):
        live = service.curricula[name]
        parts.append((name, live.next_seq, hashlib.sha256(live.teacher.to_bytes()).hexdigest(), len(live.ids)))
    return tuple(parts), tuple(t["id"] for t in app.state.tokens.list())


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def _explore(strategy, check) -> None:
    """Run ``check`` on a bounded, reproducible set of generated cases."""
    settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))(given(case=strategy)(check))()


def _label(op) -> str:
    return f"{op.method.upper()} {op.path}"


def test_the_schema_covers_every_operation(served):
    _, _, schema = served
    labels = {_label(op) for op in _operations(schema)}
    for expected in ("POST /v1/curricula", "POST /v1/curricula/{name}/propose",
                     "POST /v1/curricula/{name}/observe", "POST /v1/curricula/{name}/observe_batch",
                     "GET /v1/curricula/{name}/history", "DELETE /v1/curricula/{name}", "POST /v1/tokens"):
        assert expected in labels


def test_malformed_requests_get_a_4xx_and_change_nothing(served):
    app, client, schema = served
    seen: dict[str, set[int]] = {}
    nothing_to_break: list[str] = []
    for op in _operations(schema):
        label = _label(op)
        kwargs = {"headers": dict(AUTH)}
        if "{name}" in op.path and op.method.upper() == "POST":
            kwargs["path_parameters"] = {"name": FIXED_NAME}  # break the body/query of a real curriculum
        strategy = op.as_strategy(GenerationMode.NEGATIVE, **kwargs)

        def check(case):
            before = _fingerprint(app)
            response = case.call()
            seen.setdefault(label, set()).add(response.status_code)
            assert 400 <= response.status_code < 500, (
                f"{label} answered {response.status_code} to a malformed request:\n"
                f"{case.as_curl_command()}\n{response.text[:500]}")
            assert response.json().get("detail"), "a refusal must say what was wrong"
            assert _fingerprint(app) == before, f"{label} changed state on a refused request"

        try:
            _explore(strategy, check)
        except Unsatisfiable:
            if "path_parameters" not in kwargs:
                nothing_to_break.append(label)  # no parameter or body that could be malformed
                continue
            try:  # nothing to break but the name: break that
                _explore(op.as_strategy(GenerationMode.NEGATIVE, headers=dict(AUTH)), check)
            except Unsatisfiable:
                nothing_to_break.append(label)
    assert len(seen) >= 10, seen
    assert set(nothing_to_break) <= {"GET /v1/health", "GET /v1/curricula", "GET /v1/teachers", "GET /v1/tokens"}


def test_schema_valid_requests_never_get_a_5xx(served):
    app, client, schema = served
    for op in _operations(schema):
        if op.method.upper() == "DELETE":
            continue  # valid deletes are covered by the API tests
        label = _label(op)

        def check(case):
            response = case.call()
            assert response.status_code < 500, (
                f"{label} answered {response.status_code}:\n{case.as_curl_command()}\n{response.text[:500]}")

        _explore(op.as_strategy(GenerationMode.POSITIVE, headers=dict(AUTH)), check)


def test_a_space_spec_with_a_key_its_space_does_not_read_is_refused_and_nothing_is_created(served):
    """Found by a random-body fuzz of the service: {"type": "SeedSpace", "n_seeds": 50} created a curriculum over
    every seed (the unread key ignored, the space stored as {"type": "SeedSpace", "n": null})."""
    app, client, _ = served
    before = _fingerprint(app)
    r = client.post("/v1/curricula", json={"name": "seeds", "teacher": "plr",
                                           "space": {"type": "SeedSpace", "n_seeds": 50}})
    assert r.status_code == 422 and "has no key 'n_seeds'" in r.json()["detail"], r.text
    assert _fingerprint(app) == before and "seeds" not in app.state.service.names()
