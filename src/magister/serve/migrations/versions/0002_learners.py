"""Curricula belong to a learner (optional): a ``learner`` column, indexed, for export and deletion.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

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
    with op.batch_alter_table("curricula") as batch:
        batch.drop_column("learner")
