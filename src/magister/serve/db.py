"""Engines and migrations: SQLite by default, PostgreSQL by URL.

``make_engine(url)`` accepts a SQLAlchemy URL or a plain file path (taken as
a SQLite file). SQLite runs in WAL mode with ``synchronous=FULL`` so a commit
is on disk before the service answers; PostgreSQL keeps its default
``synchronous_commit=on``. ``migrate(engine)`` brings the schema to the newest
Alembic revision shipped in ``serve/migrations`` and is run at every start;
when the database is already at that revision it costs one query and Alembic
is not even imported (a restart answers sooner).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

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
    try:  # (a port that is not a number was Python's bare "invalid literal for int()")
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:
        raise ConfigError(f"--db (MAGISTER_DB) is not a database URL that can be read ({e}); give a SQLite file path "
                          "or postgresql+psycopg://user:pw@host:port/db") from None
    if url.startswith("sqlite"):
        # (sqlite:/// and ?mode=memory are in memory too: they ended in a TypeError traceback from create_engine)
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ConfigError("an in-memory SQLite database is not durable; give a file path as --db (or MAGISTER_DB), "
                              "e.g. --db teachers.db")
        folder = Path(url[len("sqlite:///"):]).parent
        if "://" not in str(db) and not folder.is_dir():  # (SQLite creates the file, not its folder)
            raise ConfigError(f"the folder {str(folder)!r} of the SQLite file {str(db)!r} does not exist; create it "
                              "or give another --db (or MAGISTER_DB) path")
        if "://" not in str(db) and Path(url[len("sqlite:///"):]).is_dir():  # (SQLite's own word: a traceback)
            raise ConfigError(f"--db (MAGISTER_DB) {str(db)!r} is a folder; give the path of a SQLite file, e.g. "
                              f"{str(Path(str(db)) / 'teachers.db')!r}")
        engine = _engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return _engine(url, pool_pre_ping=True)
    raise ConfigError(f"unsupported database URL {url!r}; use a SQLite file path or postgresql+psycopg://...")


def _engine(url: str, **kw) -> Engine:
    """``create_engine`` with the service's pool; a driver SQLAlchemy does not have (``sqlite+nosuch://``) refused
    naming --db (it was a ``NoSuchModuleError`` traceback)."""
    try:
        return create_engine(url, pool_size=8, max_overflow=8, **kw)
    except (NoSuchModuleError, ArgumentError) as e:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"--db (MAGISTER_DB) {shown!r} names a database driver that cannot be used ({e}); give a "
                          "SQLite file path or postgresql+psycopg://user:pw@host:port/db") from None


def check_database(engine: Engine) -> None:
    """Open the database once before serving (``magister serve``, ``app_from_env``): one that cannot be opened (not
    a SQLite file, a PostgreSQL server that refuses the connection) or holds a newer magister's schema was a
    traceback from the server's start-up; a :class:`ConfigError` naming --db instead."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect():
            pass
    except SQLAlchemyError as e:
        reason = " ".join(str(getattr(e, "orig", None) or e).split())
        raise ConfigError(f"cannot open the database {engine.url.render_as_string(hide_password=True)} ({reason}); "
                          "check --db (or MAGISTER_DB)") from None
    check_known_revision(engine)


def alembic_config(engine: Engine | None = None):
    """An Alembic ``Config`` pointing at the shipped migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']\s*$", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.M)


def head_revision() -> str | None:
    """The newest shipped revision, read from the migration files' ``revision`` / ``down_revision`` lines
    without importing Alembic; ``None`` when that is not one plain chain (Alembic then decides)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.findall(source), _DOWN.findall(source)
        if path.name == "__init__.py":
            continue
        if len(rev) != 1 or len(down) != 1:
            return None
        revisions.add(rev[0])
        if down[0]:
            downs.add(down[0])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _shipped_revisions() -> set[str]:
    """Every revision shipped in ``serve/migrations/versions`` (read from the files, as :func:`head_revision`)."""
    out: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        if path.name != "__init__.py":
            out.update(_REVISION.findall(path.read_text(encoding="utf-8")))
    return out


def _stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or ``None`` (no table yet, or it cannot be read)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except Exception:  # noqa: BLE001 - a fresh database has no table: let Alembic create everything
        return None
    return rows[0][0] if len(rows) == 1 else None


def check_known_revision(engine: Engine, stored: str | None = None) -> None:
    """Refuse a database whose schema revision this magister does not ship (a newer magister migrated it):
    Alembic said only "Can't locate revision identified by '0004'"."""
    stored = _stored_revision(engine) if stored is None else stored
    if stored is not None and stored not in _shipped_revisions():
        raise ConfigError(f"the database {engine.url.render_as_string(hide_password=True)} is at schema revision "
                          f"{stored!r}, which this magister does not know: it was written by a newer magister. "
                          "Upgrade magister (pip install -U 'magister[serve]'), or give another --db")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (run at every start; a no-op when current).

    A database already at the newest revision is recognised with one query
    and Alembic is not loaded (it costs a few tenths of a second of CPU at
    start-up, which a restart on a busy machine multiplies)."""
    stored = _stored_revision(engine)
    if revision == "head":
        head = head_revision()
        if head is not None and stored == head:
            return
    check_known_revision(engine, stored)
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
