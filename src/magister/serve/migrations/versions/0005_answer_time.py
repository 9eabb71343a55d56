"""Observations may carry their own time: a nullable ``answer_time`` column on events (unix seconds).

An answer made offline and synced later (``observe(..., time=...)``) moves a people policy's server clock to the
time it was made, live and on replay. Events stored before it get NULL: they happened at their ``created_at``, as
before, so their replay is unchanged. The downgrade refuses to drop answer times that are stored: below this
revision a replay would count those answers at their arrival time and rebuild another state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("answer_time", sa.Float, nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    n = 0  # (an offline --sql script reads no rows)
    if not op.get_context().as_sql:
        n = bind.execute(sa.text("SELECT count(*) FROM events WHERE answer_time IS NOT NULL")).scalar()
    if n:
        raise RuntimeError(
            f"{n} observations carry their own answer time; below revision 0005 a replay would count them at the "
            "time they reached the server, so their curricula would rebuild to other states. Nothing was changed. "
            "Keep this revision, or delete those curricula first (or, accepting different replays, clear the times: "
            "UPDATE events SET answer_time = NULL)")
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        # before 3.35 only a batch copy drops a column (no table refers to events: the copy deletes nothing else)
        with op.batch_alter_table("events") as batch:
            batch.drop_column("answer_time")
    else:
        op.drop_column("events", "answer_time")
