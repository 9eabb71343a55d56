"""The teacher service: many curricula behind an HTTP API, durable, with a live dashboard.

* ``magister serve --db teachers.db`` runs it (``magister.serve.cli``);
* :func:`create_app` builds the FastAPI app (``magister.serve.app``);
* :class:`HTTPTeacher` is a drop-in teacher that talks to it
  (``magister.serve.client``).

Needs the ``serve`` extra (FastAPI, uvicorn, SQLAlchemy, Alembic, httpx, psycopg).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "HTTPTeacher"]

if TYPE_CHECKING:  # the same names for type checkers (a lazy name was Any to them); at run time, __getattr__
    from .app import create_app
    from .client import HTTPTeacher

#: old names kept for a while (they warn): the HTTP client was called RemoteTeacher, like Ray's handle
_DEPRECATED = {"RemoteTeacher": "HTTPTeacher"}


def __getattr__(name: str) -> Any:  # light import: FastAPI/SQLAlchemy load on first use
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "HTTPTeacher":
        from .client import HTTPTeacher

        return HTTPTeacher
    if name in _DEPRECATED:
        from . import client

        return getattr(client, name)
    raise AttributeError(name)
