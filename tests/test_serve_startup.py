"""A restart answers its first request without loading what it does not need.

Behaviour checks, not timings: a fresh interpreter builds the app on a
database that already holds a ``mastery-learning`` curriculum, starts it,
answers a propose, and must not have imported the heavy libraries (pandas,
SciPy, scikit-learn, PyTorch, Matplotlib), Alembic (the schema is current),
SQLAlchemy's ORM or the two dozen built-in teachers it does not serve.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from magister.serve.app import create_app  # noqa: E402
from magister.serve.db import head_revision, make_engine, migrate  # noqa: E402
from serve_fixtures import ADMIN, AUTH  # noqa: E402

SPACE = {"type": "Discrete", "names": [f"skill-{i}" for i in range(20)]}
NOT_NEEDED = ["pandas", "scipy", "sklearn", "torch", "matplotlib", "alembic", "sqlalchemy.orm", "magister.teachers"]

CHILD = """
import json, sys
from fastapi.testclient import TestClient
from magister.serve.app import create_app
app = create_app(sys.argv[1], admin_token=sys.argv[2])
with TestClient(app) as c:
    r = c.post("/v1/curricula/l1/propose", headers={"Authorization": "Bearer " + sys.argv[2]})
    assert r.status_code == 200, r.text
print(json.dumps({"task": r.json()["tasks"][0], "loaded": [m for m in json.loads(sys.argv[3]) if m in sys.modules]}))
"""


def test_a_restart_serves_a_curriculum_without_loading_heavy_modules(tmp_path):
    db = str(tmp_path / "t.db")
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        r = c.post("/v1/curricula/bulk", headers=AUTH,
                   json={"template": {"space": SPACE, "teacher": "mastery-learning", "seed": 0},
                         "learners": ["l0", "l1", "l2"]})
        assert r.status_code == 201, r.text
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", CHILD, db, ADMIN, json.dumps(NOT_NEEDED)], capture_output=True,
                         text=True, timeout=300, env={**_env(), "PYTHONPATH": src})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["task"] in SPACE["names"]
    assert result["loaded"] == []


def test_the_schema_check_without_alembic_agrees_with_alembic(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from magister.serve.db import alembic_config
    from magister.serve.models import metadata

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = make_engine(tmp_path / "m.db")
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []  # tables = migrations
    migrate(engine)  # at head: the short cut; the schema is unchanged and usable
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    engine.dispose()


@pytest.mark.parametrize("migrated", [False, True], ids=["new-file", "tables-made-before"])
def test_a_request_before_the_start_up_is_refused_naming_the_fix(tmp_path, migrated):
    """A ``TestClient(app)`` used without ``with`` skips the app's lifespan (tables, writer): every request was a
    503 "no such table: curricula ... Retry in a moment" (on a file whose tables existed, a bare 500 for each write),
    and retrying never helps. Each is now a 500 saying that the start-up has not run and how to run it, and changes
    nothing; entered with ``with``, the same app answers as usual."""
    db = str(tmp_path / "t.db")
    if migrated:
        engine = make_engine(db)
        migrate(engine)
        engine.dispose()
    app = create_app(db, admin_token=ADMIN)
    bare = TestClient(app, headers=AUTH)  # no `with`: no start-up
    body = {"name": "c", "space": SPACE, "seed": 1}
    for method, path, payload in [("POST", "/v1/curricula", body), ("GET", "/v1/curricula", None),
                                  ("POST", "/v1/curricula/c/propose", None),  # (the lean lane's path too)
                                  ("POST", "/v1/curricula/c/observe", {"task": "skill-0", "score": 1.0}),
                                  ("GET", "/v1/health", None)]:
        r = bare.request(method, path, json=payload)
        assert r.status_code == 500, (path, r.text)
        detail = r.json()["detail"]
        assert "start-up has not run" in detail and "with TestClient(app) as client:" in detail, detail
        assert "magister serve" in detail and "retrying will not help" in detail and "Retry" not in detail
    with TestClient(app, headers=AUTH) as c:
        assert c.get("/v1/curricula").json()["curricula"] == []  # the refused create changed nothing
        assert c.post("/v1/curricula", json=body).status_code == 201
        r = c.post("/v1/curricula/c/propose")
        assert r.status_code == 200 and r.json()["tasks"][0] in SPACE["names"], r.text


@pytest.mark.parametrize("lean", [True, False], ids=["lean-lane", "endpoints"])
def test_a_request_after_the_shutdown_is_refused_and_changes_nothing(tmp_path, lean):
    """Once the app's lifespan shutdown ran (the writer closed), a propose on the same client was answered 200 and
    its draw never logged (``durable_proposals`` off does not wait for the write): the learner trained on a task
    the restarted server did not remember drawing. Every request is now refused like a write then was (503, which
    ``HTTPTeacher`` retries), and nothing changes: not the database, not the curriculum in memory."""
    db = str(tmp_path / "t.db")
    app = create_app(db, admin_token=ADMIN, lean=lean)
    with TestClient(app, headers=AUTH) as c:
        assert c.post("/v1/curricula", json={"name": "c", "space": SPACE, "seed": 1}).status_code == 201
        assert c.post("/v1/curricula/c/propose").json()["seq"] == 1
        state = c.get("/v1/curricula/c/checkpoint").content
    for method, path, payload in [("POST", "/v1/curricula/c/propose", None),
                                  ("POST", "/v1/curricula/c/propose?k=2&request_id=r1", None),
                                  ("POST", "/v1/curricula/c/observe", {"task": "skill-0", "score": 1.0}),
                                  ("POST", "/v1/curricula/c/observe_batch",
                                   {"observations": [{"task": "skill-0", "score": 1.0}]}),
                                  ("POST", "/v1/curricula/c/checkpoint", None),
                                  ("GET", "/v1/curricula/c", None), ("GET", "/v1/health", None)]:
        r = c.request(method, path, json=payload)
        assert r.status_code == 503, (path, r.text)
        assert "shutting down" in r.json()["detail"] and "restarted server" in r.json()["detail"], r.text
    with TestClient(app, headers=AUTH) as c:  # the same app started again: its curriculum in memory is unchanged
        assert c.get("/v1/curricula/c/checkpoint").content == state
        assert c.get("/v1/curricula/c").json()["last_seq"] == 1
    with TestClient(create_app(db, admin_token=ADMIN), headers=AUTH) as c:  # a new server: nothing was logged
        assert c.get("/v1/curricula/c/checkpoint").content == state
        assert [e["kind"] for e in c.get("/v1/curricula/c/history").json()["events"]] == ["propose"]


@pytest.mark.parametrize("lean", [True, False], ids=["lean-lane", "endpoints"])
def test_a_proposal_whose_log_write_failed_at_once_is_not_answered_200(tmp_path, lean):
    """A shutdown that begins while a propose is under way (its request passed the check, then the writer closed)
    failed the proposal's write at once; with ``durable_proposals`` off it was answered 200 all the same, a draw
    never logged. Stood for here by closing the writer alone: the proposal is refused with the writer's 503."""
    db = str(tmp_path / "t.db")
    app = create_app(db, admin_token=ADMIN, lean=lean)
    with TestClient(app, headers=AUTH) as c:
        assert c.post("/v1/curricula", json={"name": "c", "space": SPACE, "seed": 1}).status_code == 201
        assert c.post("/v1/curricula/c/propose").json()["seq"] == 1
        app.state.service.writer.close()
        r = c.post("/v1/curricula/c/propose")
        assert r.status_code == 503 and "shutting down" in r.json()["detail"], r.text
    with TestClient(create_app(db, admin_token=ADMIN), headers=AUTH) as c:
        assert [e["kind"] for e in c.get("/v1/curricula/c/history").json()["events"]] == ["propose"]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_a_lifespan_run_again_inside_the_first_shares_it_and_the_outer_one_stops_the_service(tmp_path):
    """The app's lifespan run a second time inside the first (two clients entered on one app; schemathesis's own
    client beside a test's) started a second writer, orphaning the first, and its end closed the writer under the
    outer client: after the fix for requests after a shutdown, every request of the outer client was then refused
    as after a shutdown (503). A start while serving shares the running service; the outermost end stops it."""
    db = str(tmp_path / "t.db")
    app = create_app(db, admin_token=ADMIN)
    with TestClient(app, headers=AUTH) as outer:
        assert outer.post("/v1/curricula", json={"name": "c", "space": SPACE, "seed": 1}).status_code == 201
        writer = app.state.service.writer
        with TestClient(app, headers=AUTH) as inner:
            assert inner.post("/v1/curricula/c/propose").status_code == 200
        assert app.state.service.writer is writer  # (not a second writer)
        r = outer.post("/v1/curricula/c/propose")
        assert r.status_code == 200, r.text
    r = outer.post("/v1/curricula/c/propose")
    assert r.status_code == 503 and "shutting down" in r.json()["detail"]
    with TestClient(create_app(db, admin_token=ADMIN), headers=AUTH) as c:  # both draws were logged
        kinds = [e["kind"] for e in c.get("/v1/curricula/c/history").json()["events"]]
        assert kinds.count("propose") == 2, kinds
