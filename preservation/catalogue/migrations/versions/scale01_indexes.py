"""scale: indexes for the hot queries, so nothing per command or capture grows with the archive

- ``perceptual_hashes (sha256, algorithm, frame)``: the commit's "is this hash indexed
  already" lookup; SQLite planned it on ``(algorithm, prefix)`` and scanned ~200k rows.
- ``captures (source_id, id)``, ``(case_id, id)``, ``(status, id)``: filtered lists, newest
  first, and a source's previous capture, as index range scans (keyset pagination).
- ``similar_links (b_sha256)``: an artifact's links from either side.
- ``ledger (event, subject)``: "is this event recorded" at every commit.

The single-column indexes these extend (``captures.source_id``, ``captures.case_id``,
``perceptual_hashes.sha256``) are dropped: the composite ones serve every query they
served, and with both present the planners pick the narrower one and sort.

Revision ID: scale01i
Revises: replicas01
Create Date: 2026-12-03 10:30:00
"""

from __future__ import annotations

from alembic import op

revision = "scale01i"
down_revision = "replicas01"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_phash_sha256_algorithm_frame", "perceptual_hashes", ["sha256", "algorithm", "frame"]),
    ("ix_captures_source_id_id", "captures", ["source_id", "id"]),
    ("ix_captures_case_id_id", "captures", ["case_id", "id"]),
    ("ix_captures_status_id", "captures", ["status", "id"]),
    ("ix_similar_links_b_sha256", "similar_links", ["b_sha256"]),
    ("ix_ledger_event_subject", "ledger", ["event", "subject"]),
)


REPLACED = (
    ("ix_captures_source_id", "captures", ["source_id"]),
    ("ix_captures_case_id", "captures", ["case_id"]),
    ("ix_perceptual_hashes_sha256", "perceptual_hashes", ["sha256"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for name, table, _columns in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
