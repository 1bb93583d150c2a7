"""ledger: the ids each entry's data names, indexed (export reads only its captures' entries)

Revision ID: ledger01
Revises: operate01
Create Date: 2026-12-03 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from preservation.catalogue.ledger_index import mentions

revision = "ledger01"
down_revision = "operate01"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "ledger_mentions",
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["ledger.seq"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "seq"),
    )
    op.create_index("ix_ledger_mentions_seq", "ledger_mentions", ["seq"])
    _backfill(op.get_bind())


def _backfill(bind: sa.engine.Connection) -> None:
    """Index the mentions of the entries already in the ledger, a batch at a time."""
    ledger = sa.table(
        "ledger", sa.column("seq", sa.Integer), sa.column("subject"), sa.column("data", sa.JSON)
    )
    target = sa.table("ledger_mentions", sa.column("name"), sa.column("seq", sa.Integer))
    after = 0
    while True:
        rows = bind.execute(
            sa.select(ledger.c.seq, ledger.c.subject, ledger.c.data)
            .where(ledger.c.seq > after)
            .order_by(ledger.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        found = [
            {"name": name, "seq": seq}
            for seq, subject, data in rows
            for name in sorted(mentions(subject, data if isinstance(data, dict) else None))
        ]
        if found:
            bind.execute(target.insert(), found)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_ledger_mentions_seq", table_name="ledger_mentions")
    op.drop_table("ledger_mentions")
