"""What the catalogue tells a collector and a manifest about a source.

A collector gets a ``SourceRef`` (never the ORM row: it parses hostile pages and must not
reach the session) and the items already seen; the manifest records a snapshot of the
watchlist entry as it stood when the capture ran.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from collectors.base import SourceRef
from kernel.ids import isoformat
from preservation.catalogue.models import Catalogue, Source, SourceItem


class CatalogueSeenItems:
    """What the catalogue knows of a source's items, read once per capture."""

    def __init__(self, catalogue: Catalogue, source_id: str) -> None:
        with catalogue.session() as session:
            rows = session.scalars(
                select(SourceItem).where(SourceItem.source_id == source_id)
            ).all()
        self._rows = {r.item_id: r for r in rows}

    def captured_ids(self) -> set[str]:
        return {i for i, r in self._rows.items() if r.status in ("captured", "edited", "deleted")}

    def failed_ids(self) -> set[str]:
        return {i for i, r in self._rows.items() if r.status == "failed"}

    def get(self, item_id: str) -> dict[str, Any] | None:
        row = self._rows.get(item_id)
        if row is None:
            return None
        return {
            "status": row.status,
            "capture_id": row.capture_id,
            "attempts": row.attempts,
            "data": dict(row.data or {}),
        }


def source_ref(source: Source) -> SourceRef:
    return SourceRef(
        source.id,
        source.kind,
        source.url,
        dict(source.options or {}),
        source.case_id,
        tuple(source.tags or ()),
    )


def source_snapshot(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "url": source.url,
        "case": source.case_id,
        "tags": list(source.tags or []),
        "added_by": source.added_by,
        "added_at": isoformat(source.added_at) if source.added_at else None,
        "note": source.note,
    }
