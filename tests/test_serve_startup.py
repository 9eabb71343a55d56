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


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
