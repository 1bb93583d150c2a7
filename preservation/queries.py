"""The lists people read, asked once for the CLI and the Airflow UI alike.

``witnessbox captures`` and the Captures page, ``witnessbox show`` and a capture's page,
``ledger list`` and the Audit page ask these functions, so a filter or a field can never
mean one thing on the command line and another in the browser. They only read: plain
dicts and lists come back (JSON-ready), never live ORM rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import selectinload

from kernel.errors import InputError
from kernel.ids import isoformat
from preservation.catalogue.models import AuditResult, Capture, Catalogue, LedgerEntry
from preservation.custody.ledger import ledger_for
from preservation.custody.timestamps import SealedCapture
from preservation.presentation import STATUSES, capture_dict
from preservation.runtime import Runtime


def list_captures(
    catalogue: Catalogue,
    *,
    source: str | None = None,
    case: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """Captures, newest first, with their artifacts; ``limit`` None or <= 0: all of them.

    ``before`` (a capture id) pages by key: only captures older than it, so the n-th page
    costs what the first does (an index range scan, never an OFFSET over the archive).
    """
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    query = select(Capture).options(selectinload(Capture.artifacts)).order_by(Capture.id.desc())
    if source:
        query = query.where(Capture.source_id == source)
    if case:
        query = query.where(Capture.case_id == case)
    if status:
        query = query.where(Capture.status == status)
    if before:
        query = query.where(Capture.id < before)
    if limit and limit > 0:
        query = query.limit(limit)
    with catalogue.session() as session:
        return [capture_dict(c) for c in session.scalars(query)]


def get_capture(catalogue: Catalogue, capture_id: str) -> dict[str, Any]:
    """One capture with its artifacts; an unknown id is bad input (exit 2, HTTP 404)."""
    query = select(Capture).options(selectinload(Capture.artifacts)).where(Capture.id == capture_id)
    with catalogue.session() as session:
        capture = session.scalar(query)
        if capture is None:
            raise InputError(f"unknown capture: {capture_id}")
        return capture_dict(capture)


def list_audits(catalogue: Catalogue, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent fixity audits, newest first."""
    query = select(AuditResult).order_by(AuditResult.id.desc())
    if limit and limit > 0:
        query = query.limit(limit)
    with catalogue.session() as session:
        return [
            {
                "id": a.id,
                "started_at": isoformat(a.started_at),
                "finished_at": isoformat(a.finished_at),
                "scope": a.scope,
                "checked": a.checked,
                "failed": a.failed,
                "details": list(a.details or []),
            }
            for a in session.scalars(query)
        ]


def custody_summary(catalogue: Catalogue) -> dict[str, Any]:
    """How much of the archive is sealed, and where the custody ledger stands."""
    with catalogue.session() as session:
        captures = session.scalar(select(func.count()).select_from(Capture)) or 0
        sealed = session.scalar(select(func.count(distinct(SealedCapture.capture_id)))) or 0
        newest = select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)
        head = session.scalars(newest).first()
        return {
            "captures": captures,
            "sealed": sealed,
            "unsealed": captures - sealed,
            "ledger_head": head.seq if head else 0,
            "ledger_last_event": head.event if head else None,
            "ledger_last_at": isoformat(head.at) if head else None,
        }


def ledger_entries(
    rt: Runtime, subjects: Iterable[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Custody ledger entries in order (about any of ``subjects``); ``limit``: the last N."""
    return ledger_for(rt).entries(subjects, limit)


def custody_trail(rt: Runtime, capture: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    """The ledger entries about one capture, oldest first: captured, stored, sealed, and
    every access, export, verification and repair of it or its blobs.

    Entries found by subject (the capture, its manifest, its blobs) or by naming the
    capture in their data (seals, exports), both indexed, never a scan of the ledger;
    ``limit``: the newest N.
    """
    from preservation.catalogue.ledger_index import entries_about
    from preservation.custody.ledger import row_to_entry
    from preservation.store import blob_key

    names = {capture["id"], capture["manifest_key"]}
    names.update(blob_key(a["sha256"]) for a in capture.get("artifacts", []) if a.get("sha256"))
    with rt.catalogue.session() as session:
        return [row_to_entry(r) for r in entries_about(session, names, limit)]
