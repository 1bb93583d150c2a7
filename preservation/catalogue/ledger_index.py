"""Finding ledger entries by what they are about, without reading the ledger.

An entry is about its subject and about the ids its data names (``capture_id``,
``captures``, ``manifests``, ``batch``...). The subject is an indexed column; the other ids
are rows of ``ledger_mentions``, written with the entry. An export of ten captures out of a
million-entry ledger reads only their entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from preservation.catalogue.models import LedgerEntry, LedgerMention

#: ids per ``IN (...)``: far below SQLite's and PostgreSQL's parameter limits
CHUNK = 500
#: the longest id indexed (the column's width; the ids are witnessbox's own, far shorter)
MAX_NAME = 512
#: the data fields whose value (a string) or values (a list of strings) an entry is about
SINGLE_FIELDS = ("capture_id", "manifest_key", "batch")
LIST_FIELDS = ("captures", "manifests")


def mentions(subject: str, data: dict[str, Any] | None) -> set[str]:
    """The ids ``data`` names, besides ``subject`` itself."""
    data = data or {}
    found: set[str] = set()
    for name in SINGLE_FIELDS:
        if isinstance(data.get(name), str):
            found.add(data[name])
    for name in LIST_FIELDS:
        if isinstance(data.get(name), list):
            found.update(x for x in data[name] if isinstance(x, str))
    found.discard(subject)
    return {name for name in found if len(name) <= MAX_NAME}


def index_mentions(session: Session, seq: int, subject: str, data: dict[str, Any] | None) -> None:
    """Index the ids entry ``seq`` names. Rows left by a ledger row deleted by hand (without
    SQLite's foreign keys on) are replaced, so the entry can be indexed again."""
    session.execute(delete(LedgerMention).where(LedgerMention.seq == seq))
    session.add_all(LedgerMention(name=name, seq=seq) for name in sorted(mentions(subject, data)))


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def entries_about(
    session: Session, names: Iterable[str], limit: int | None = None
) -> list[LedgerEntry]:
    """The ledger rows whose subject is, or whose data names, any of ``names``, by seq;
    ``limit``: the last N (only their rows are read)."""
    wanted = sorted(set(names))
    seqs: set[int] = set()
    for chunk in _chunks(wanted):
        seqs.update(session.scalars(select(LedgerEntry.seq).where(LedgerEntry.subject.in_(chunk))))
        seqs.update(session.scalars(select(LedgerMention.seq).where(LedgerMention.name.in_(chunk))))
    chosen = sorted(seqs)[-limit:] if limit and limit > 0 else sorted(seqs)
    rows: list[LedgerEntry] = []
    for chunk in _chunks(chosen):
        rows.extend(session.scalars(select(LedgerEntry).where(LedgerEntry.seq.in_(chunk))))
    return sorted(rows, key=lambda row: row.seq)
