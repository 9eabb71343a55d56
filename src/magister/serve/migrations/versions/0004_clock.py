"""People policies keep the server's time: a nullable ``clock`` column on curricula ("server" or "answers").

Curricula stored before it get NULL: they keep the answer-count clock they had, so their replay is unchanged.
The downgrade refuses to drop a "server" clock that is stored: below this revision that curriculum would replay
on the answer count and rebuild to another state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("curricula", sa.Column("clock", sa.String(16), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    n = 0  # (an offline --sql script reads no rows)
    if not op.get_context().as_sql:
        n = bind.execute(sa.text("SELECT count(*) FROM curricula WHERE clock = 'server'")).scalar()
    if n:
        # (NULL is the answer-count clock: "answers" loses nothing, "server" would replay on the answer count)
        raise RuntimeError(
            f"{n} curricula keep the server's clock (clock 'server'); below revision 0004 they would replay with "
            "the answer-count clock and rebuild to other states. Nothing was changed. Keep this revision, or "
            "delete those curricula first (or, accepting different replays, UPDATE curricula SET clock = NULL)")
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        # as in 0002: before 3.35 only a batch copy drops a column, and with foreign keys on, dropping the old
        # table deletes every event and checkpoint (CASCADE)
        if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError("this SQLite (before 3.35) can only drop the 'clock' column by copying the "
                               "curricula table, which with foreign keys on deletes every event and checkpoint; "
                               "run the downgrade on a connection without 'PRAGMA foreign_keys=ON'")
        with op.batch_alter_table("curricula") as batch:
            batch.drop_column("clock")
    else:
        op.drop_column("curricula", "clock")
