"""Curricula belong to a learner (optional): a ``learner`` column, indexed, for export and deletion.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("curricula", sa.Column("learner", sa.String(128), nullable=True))
    op.create_index("ix_curricula_learner", "curricula", ["learner"])


def downgrade() -> None:
    op.drop_index("ix_curricula_learner", table_name="curricula")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        # SQLite before 3.35 has no DROP COLUMN: batch mode copies the table and drops the old one, and with
        # foreign keys on (the service's connections) that drop deletes every event and checkpoint (CASCADE)
        if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError("this SQLite (before 3.35) can only drop the 'learner' column by copying the "
                               "curricula table, which with foreign keys on deletes every event and checkpoint; "
                               "run the downgrade on a connection without 'PRAGMA foreign_keys=ON'")
        with op.batch_alter_table("curricula") as batch:
            batch.drop_column("learner")
    else:  # (a batch copy of the table would drop the old one, cascading to the events and checkpoints)
        op.drop_column("curricula", "learner")
