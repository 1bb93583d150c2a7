"""search: searchable text (FTS5 on SQLite, tsvector + GIN on PostgreSQL), observations, changes

Revision ID: search01
Revises: scale01
Create Date: 2026-12-03 10:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from preservation.catalogue.models import UTCDateTime

revision = "search01"
down_revision = "scale01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("capture_id", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("captured_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", UTCDateTime(timezone=True)),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("item", sa.String(256)),
        sa.Column("version", sa.Integer()),
        sa.Column("artifact", sa.String(512)),
        sa.Column("text", sa.Text(), nullable=False),
    )
    # one index besides the word index: the filters are checked on the rows the words found
    op.create_index("ix_search_docs_capture", "search_docs", ["capture_id"])
    if dialect == "postgresql":
        op.execute("ALTER TABLE search_docs ADD COLUMN tsv tsvector NOT NULL")
        op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)")
    elif dialect == "sqlite":
        # contentless: the normalised words only; the original text is in search_docs
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='', tokenize='ascii')"
        )
    op.create_table(
        "search_indexed",
        sa.Column("capture_id", sa.String(36), primary_key=True),
        sa.Column("docs", sa.Integer(), nullable=False),
        sa.Column("indexed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("capture_id", sa.String(36), primary_key=True),
        sa.Column("source_id", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_observations_source_id", "observations", ["source_id"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(200)),
        sa.Column("capture_id", sa.String(36), nullable=False),
        sa.Column("previous_capture_id", sa.String(36)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item", sa.String(256)),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_index("ix_changes_source", "changes", ["source_id"])
    op.create_index("ix_changes_capture_id", "changes", ["capture_id"])


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_table("observations")
    op.drop_table("search_indexed")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_docs")
