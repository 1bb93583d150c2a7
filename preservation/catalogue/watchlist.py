"""The watchlist: what analysts ask witnessbox to watch, validated before anything is written.

Every entry is normalised (so duplicates are visible and refused with the existing id),
checked against the network policy, and recorded with who added it and when. Removing a
source only stops collecting it: its captures are evidence and stay.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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


# -- import / export ------------------------------------------------------------------------
def _rows_from_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: a JSON watchlist is an array of objects")
        return rows
    first = stripped.splitlines()[0] if stripped else ""
    if first.lower().startswith("url") and ("," in first or "\t" in first):
        dialect = "excel-tab" if "\t" in first else "excel"
        return [dict(r) for r in csv.DictReader(io.StringIO(stripped), dialect=dialect)]
    return [
        {"url": line.strip()}
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def _tags_of(row: dict[str, Any]) -> list[str]:
    tags = row.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[;|]", tags) if t.strip()]
    return list(tags)


@dataclass
class ImportReport:
    added: list[Source]
    skipped: list[tuple[str, str]]  # (url, existing id)


def import_sources(
    catalogue: Catalogue, path: Path, policy: NetworkPolicy, added_by: str, now: datetime
) -> ImportReport:
    """All or nothing: every row is validated before any is written."""
    rows = _rows_from_file(path)
    if not rows:
        raise InputError(f"{path}: no entries")
    specs: list[SourceSpec] = []
    problems: list[str] = []
    for number, row in enumerate(rows, start=1):
        try:
            specs.append(
                validate_entry(
                    row.get("url", ""),
                    policy,
                    kind=row.get("kind") or None,
                    every=row.get("every") or None,
                    tags=_tags_of(row),
                    case=row.get("case"),
                    note=row.get("note"),
                    options=row.get("options") or None,
                )
            )
        except InputError as exc:
            problems.append(f"entry {number}: {exc}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{path}: {problems[0]}{more}; nothing imported")
    report = ImportReport([], [])
    with catalogue.session.begin() as session:
        seen: set[tuple[str, str]] = set()
        for spec in specs:
            existing = find_source(session, spec.kind, spec.url)
            if existing is not None or (spec.kind, spec.url) in seen:
                report.skipped.append((spec.url, existing.id if existing else "(repeated in file)"))
                continue
            seen.add((spec.kind, spec.url))
            report.added.append(insert_source(session, spec, added_by, now))
    return report


def export_sources(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [source_dict(s) for s in list_sources(catalogue, include_removed=True)]
