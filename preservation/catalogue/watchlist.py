"""The watchlist: what analysts ask witnessbox to watch, validated before anything is written.

Every entry is normalised (so duplicates are visible and refused with the existing id),
checked against the network policy, and recorded with who added it and when. Removing a
source only stops collecting it: its captures are evidence and stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors import registry
from kernel.errors import InputError
from kernel.ids import isoformat, short_id
from kernel.netpolicy import NetworkPolicy
from kernel.schedule import format_interval, parse_interval
from kernel.urls import url_host
from preservation.catalogue.models import Capture, Catalogue, Source

_TAG = re.compile(r"^[\w][\w .:/+-]{0,63}$", re.UNICODE)
MAX_CASE = 200
MAX_NOTE = 4000


@dataclass(frozen=True)
class SourceSpec:
    """A validated, normalised watchlist entry, not yet written."""

    kind: str
    url: str
    schedule_seconds: int
    tags: tuple[str, ...] = ()
    case: str | None = None
    note: str | None = None
    options: tuple[tuple[str, Any], ...] = ()


def _clean_text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    if any(ord(c) < 0x20 and c not in "\n\t" for c in text):
        raise InputError(f"{what} contains control characters")
    return text


def validate_entry(
    url: str,
    policy: NetworkPolicy,
    kind: str | None = None,
    every: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    case: str | None = None,
    note: str | None = None,
    options: dict[str, Any] | None = None,
) -> SourceSpec:
    if not isinstance(url, str):
        raise InputError("URL must be text")
    kind, normalised = registry.normalise_source(url, kind)
    policy.check_source_host(url_host(normalised))
    schedule = parse_interval(every) if every else registry.default_interval(kind)
    if options is not None and not isinstance(options, dict):
        raise InputError("options must be an object of KEY: VALUE pairs")
    registry.check_options(kind, options)
    clean_tags: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not _TAG.match(tag):
            raise InputError(f"bad tag {tag!r}: letters, digits and . : / + - _ space, at most 64")
        if tag not in clean_tags:
            clean_tags.append(tag)
    return SourceSpec(
        kind=kind,
        url=normalised,
        schedule_seconds=schedule,
        tags=tuple(clean_tags),
        case=_clean_text(case, "case", MAX_CASE),
        note=_clean_text(note, "note", MAX_NOTE),
        options=tuple(sorted((options or {}).items())),
    )


def find_source(session: Session, kind: str, url: str) -> Source | None:
    return session.scalar(select(Source).where(Source.kind == kind, Source.url == url))


def insert_source(
    session: Session, spec: SourceSpec, added_by: str, now: datetime, active: bool = True
) -> Source:
    existing = find_source(session, spec.kind, spec.url)
    if existing is not None:
        raise InputError(f"already watched as {existing.id}: {existing.url}")
    source = Source(
        id=short_id(),
        kind=spec.kind,
        url=spec.url,
        schedule_seconds=spec.schedule_seconds,
        tags=list(spec.tags),
        case_id=spec.case,
        note=spec.note,
        options=dict(spec.options),
        added_by=added_by,
        added_at=now,
        active=active,
        next_due_at=None,
    )
    session.add(source)
    session.flush()
    return source


def add_source(catalogue: Catalogue, spec: SourceSpec, added_by: str, now: datetime) -> Source:
    with catalogue.session.begin() as session:
        return insert_source(session, spec, added_by, now)


def get_source(session: Session, source_id: str) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise InputError(f"unknown source: {source_id}")
    return source


def set_state(
    catalogue: Catalogue, source_id: str, *, active: bool, removed_at: datetime | None = None
) -> Source:
    with catalogue.session.begin() as session:
        source = get_source(session, source_id)
        if source.removed_at is not None and active:
            raise InputError(f"source {source_id} was removed; add it again to watch it")
        source.active = active
        if removed_at is not None:
            source.removed_at = removed_at
        return source


def list_sources(
    catalogue: Catalogue,
    kind: str | None = None,
    case: str | None = None,
    include_removed: bool = False,
) -> list[Source]:
    with catalogue.session() as session:
        query = select(Source).order_by(Source.added_at, Source.id)
        if kind:
            query = query.where(Source.kind == kind)
        if case:
            query = query.where(Source.case_id == case)
        if not include_removed:
            query = query.where(Source.removed_at.is_(None))
        return list(session.scalars(query))


def capture_count(catalogue: Catalogue, source_id: str) -> int:
    from sqlalchemy import func

    with catalogue.session() as session:
        return session.scalar(select(func.count()).where(Capture.source_id == source_id)) or 0


def source_dict(source: Source) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return isoformat(value) if value else None

    return {
        "id": source.id,
        "kind": source.kind,
        "url": source.url,
        "every": format_interval(source.schedule_seconds),
        "tags": list(source.tags or []),
        "case": source.case_id,
        "note": source.note,
        "options": dict(source.options or {}),
        "added_by": source.added_by,
        "added_at": when(source.added_at),
        "active": bool(source.active),
        "removed_at": when(source.removed_at),
        "last_capture_at": when(source.last_capture_at),
        "last_status": source.last_status,
        "next_due_at": when(source.next_due_at),
    }


# -- export ---------------------------------------------------------------------------------
def export_sources(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [source_dict(s) for s in list_sources(catalogue, include_removed=True)]
