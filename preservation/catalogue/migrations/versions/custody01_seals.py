"""custody: seal batches and which captures they seal

Revision ID: custody01
Revises: 0001
Create Date: 2026-11-23 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from preservation.catalogue.models import UTCDateTime

revision = "custody01"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seal_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=512), nullable=False),
        sa.Column("tokens", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sealed_captures",
        sa.Column("capture_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("proof_key", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("capture_id", "batch_id"),
    )


def downgrade() -> None:
    op.drop_table("sealed_captures")
    op.drop_table("seal_batches")
