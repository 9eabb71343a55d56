"""The teacher service: many curricula behind an HTTP API, durable, with a live dashboard.

* ``magister serve --db teachers.db`` runs it (``magister.serve.cli``);
* :func:`create_app` builds the FastAPI app (``magister.serve.app``);
* :class:`RemoteTeacher` is a drop-in teacher that talks to it
  (``magister.serve.client``).

Needs the ``serve`` extra (FastAPI, uvicorn, SQLAlchemy, Alembic, httpx, psycopg).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "RemoteTeacher"]


def __getattr__(name: str) -> Any:  # light import: FastAPI/SQLAlchemy load on first use
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "RemoteTeacher":
        from .client import RemoteTeacher

        return RemoteTeacher
    raise AttributeError(name)
