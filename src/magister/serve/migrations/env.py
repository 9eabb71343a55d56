"""Alembic environment of the magister service.

The service runs migrations itself at start-up (``magister.serve.db.migrate``)
and hands Alembic an open connection through ``config.attributes``; running
``alembic`` by hand with ``sqlalchemy.url`` set in a config works too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from magister.serve.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
            # Python's sqlite3 runs DDL outside any transaction until a write begins one: a downgrade refused at
            # one step (0004, 0005: data a replay needs) had already dropped the columns of the steps before it,
            # with the recorded revision rolled back. Begun here, every step of one run commits or none does
            connection.exec_driver_sql("BEGIN")
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
