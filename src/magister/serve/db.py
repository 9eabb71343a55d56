"""Engines and migrations: SQLite by default, PostgreSQL by URL.

``make_engine(url)`` accepts a SQLAlchemy URL or a plain file path (taken as
a SQLite file). SQLite runs in WAL mode with ``synchronous=FULL`` so a commit
is on disk before the service answers; PostgreSQL keeps its default
``synchronous_commit=on``. ``migrate(engine)`` brings the schema to the newest
Alembic revision shipped in ``serve/migrations`` and is run at every start.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from ..errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(db: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a file path (``teachers.db`` -> ``sqlite:///teachers.db``)."""
    s = str(db)
    if "://" in s:
        if s.startswith("postgresql://") or s.startswith("postgres://"):
            # use the psycopg 3 driver that the 'serve' extra installs
            s = "postgresql+psycopg://" + s.split("://", 1)[1]
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(db: str | Path) -> Engine:
    """Create the engine for ``db`` (a URL or a SQLite file path)."""
    url = normalise_url(db)
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise ConfigError("an in-memory SQLite database is not durable; give a file path, e.g. --db teachers.db")
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    raise ConfigError(f"unsupported database URL {url!r}; use a SQLite file path or postgresql+psycopg://...")


def alembic_config(engine: Engine | None = None):
    """An Alembic ``Config`` pointing at the shipped migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (run at every start; a no-op when current)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
