"""scale: a lease on each source, so many workers on one catalogue capture it once

Revision ID: scale01
Revises: custody01
Create Date: 2026-12-03 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from preservation.catalogue.models import UTCDateTime

revision = "scale01"
down_revision = "custody01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
