"""The custody ledger around a few captures: what a sampled audit checks of it.

``verify_ledger`` walks the whole chain (every catalogue row, every store entry): right for
``verify --all`` and ``ledger verify``, but a sample of ten captures must not read a
million entries first. Here only the entries about the sampled captures are read (by
subject, indexed), each with the entry before it: every one must match its own hash, be
identical to its write-once copy in the store, and continue its predecessor's hash. A
tampered entry of a sampled capture is found; the rest of the chain is ``verify --all``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from kernel.errors import Problem, StorageError
from preservation.catalogue.models import Catalogue, LedgerEntry
from preservation.custody.ledger import (
    GENESIS,
    LedgerReport,
    entry_hash,
    ledger_key,
    parse_entry,
    row_to_entry,
)
from preservation.store import Store


def verify_subjects(store: Store, catalogue: Catalogue, subjects: Iterable[str]) -> LedgerReport:
    """Check the ledger entries about ``subjects`` (capture ids, manifest keys)."""
    wanted = sorted(set(subjects))
    report = LedgerReport()
    with catalogue.session() as session:
        rows: dict[int, dict[str, Any]] = {}
        for i in range(0, len(wanted), 500):
            for row in session.scalars(
                select(LedgerEntry).where(LedgerEntry.subject.in_(wanted[i : i + 500]))
            ):
                rows[row.seq] = row_to_entry(row)
        before = sorted({seq - 1 for seq in rows if seq > 1} - set(rows))
        previous: dict[int, dict[str, Any]] = {}
        for i in range(0, len(before), 500):
            for row in session.scalars(
                select(LedgerEntry).where(LedgerEntry.seq.in_(before[i : i + 500]))
            ):
                previous[row.seq] = row_to_entry(row)
    previous.update(rows)
    for seq, entry in sorted(rows.items()):
        key = ledger_key(seq)
        if entry_hash(entry) != entry["entry_hash"]:
            report.problems.append(
                Problem("changed-entry", f"catalogue ledger seq {seq}",
                        "content does not match its hash")
            )
        try:
            stored = parse_entry(store.read_bytes(key)) if store.exists(key) else None
        except (StorageError, ValueError, UnicodeDecodeError) as exc:
            report.problems.append(Problem("unreadable", key, str(exc)))
            stored = entry
        if stored is None:
            report.problems.append(Problem("missing-entry", key, "removed from the store"))
        elif stored != entry:
            report.problems.append(
                Problem("mismatch", f"catalogue ledger seq {seq}", f"differs from {key}")
            )
        prev = GENESIS if seq == 1 else (previous.get(seq - 1) or {}).get("entry_hash")
        if prev is None:
            report.problems.append(
                Problem("missing-entry", f"catalogue ledger seq {seq - 1}", "not in the catalogue")
            )
        elif entry.get("prev_hash") != prev:
            report.problems.append(
                Problem("broken-chain", key, f"prev_hash does not match entry {seq - 1}")
            )
        report.entries += 1
        report.head_seq, report.head_hash = seq, entry["entry_hash"]
    return report
