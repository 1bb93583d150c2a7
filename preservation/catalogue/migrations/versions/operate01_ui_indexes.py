"""operate: indexes for the UI pages (newest sources first; a source's captures by status)

Revision ID: operate01
Revises: scale01i
Create Date: 2026-12-03 10:20:00
"""

from __future__ import annotations

from alembic import op

revision = "operate01"
down_revision = "scale01i"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sources_added_at_id", "sources", ["added_at", "id"])
    op.create_index("ix_captures_source_status_id", "captures", ["source_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_captures_source_status_id", table_name="captures")
    op.drop_index("ix_sources_added_at_id", table_name="sources")
