"""replicas: the durable replication queue and per-replica state

Revision ID: replicas01
Revises: search01
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from preservation.catalogue.models import UTCDateTime

revision = "replicas01"
down_revision = "search01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replication",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("replica", "key", name="uq_replication_replica_key"),
    )
    op.create_index("ix_replication_replica", "replication", ["replica"])
    op.create_table(
        "replica_state",
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("last_sync_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_check_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_check_ok", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("replica"),
    )


def downgrade() -> None:
    op.drop_table("replica_state")
    op.drop_index("ix_replication_replica", table_name="replication")
    op.drop_table("replication")
