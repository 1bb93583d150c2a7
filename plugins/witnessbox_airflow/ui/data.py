"""The catalogue queries behind the pages: one page of rows at a time, never the whole table.

Every list is paged (``limit``) with counts and per-row facts fetched for that page only,
so the pages stay fast at 10,000 sources and 100,000 captures (``bench/ui.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from preservation.catalogue.models import (
    Artifact,
    AuditResult,
    Capture,
    PerceptualHash,
    SimilarLink,
    Source,
)
from witnessbox_airflow.hooks import WitnessboxHook

PAGE = 100


#: The API server is one long-lived process: one hook, its runtime opened on first request.
_HOOK = WitnessboxHook({"via": "airflow-ui"})


def runtime() -> Any:
    return _HOOK.get_conn()


@dataclass
class SourceFilter:
    kind: str = ""
    case: str = ""
    tag: str = ""
    state: str = ""  # active | paused | failing
    offset: int = 0


def sources(session: Session, f: SourceFilter, limit: int = PAGE) -> tuple[int, list[Source]]:
    query = select(Source).where(Source.removed_at.is_(None))
    if f.kind:
        query = query.where(Source.kind == f.kind)
    if f.case:
        query = query.where(Source.case_id == f.case)
    if f.tag:
        needle = f.tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(cast(Source.tags, String).like(f'%"{needle}"%', escape="\\"))
    if f.state == "active":
        query = query.where(Source.active.is_(True))
    elif f.state == "paused":
        query = query.where(Source.active.is_(False))
    elif f.state == "failing":
        query = query.where(Source.last_status == "failed")
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Source.added_at.desc(), Source.id.desc())
        .offset(max(0, f.offset))
        .limit(limit)
    )
    return total, list(page)


def source_facts(session: Session, ids: list[str]) -> dict[str, dict[str, Any]]:
    """For each source: its newest capture id and how many captures failed in a row."""
    facts: dict[str, dict[str, Any]] = {i: {"last_capture": None, "failures": 0} for i in ids}
    if not ids:
        return facts
    newest = select(Capture.source_id, func.max(Capture.id)).where(Capture.source_id.in_(ids))
    for source_id, capture_id in session.execute(newest.group_by(Capture.source_id)):
        facts[source_id]["last_capture"] = capture_id
    good = (
        select(Capture.source_id.label("sid"), func.max(Capture.id).label("last_good"))
        .where(Capture.source_id.in_(ids), Capture.status != "failed")
        .group_by(Capture.source_id)
        .subquery()
    )
    streak = (
        select(Capture.source_id, func.count())
        .select_from(Capture)
        .outerjoin(good, good.c.sid == Capture.source_id)
        .where(
            Capture.source_id.in_(ids),
            Capture.status == "failed",
            or_(good.c.last_good.is_(None), Capture.id > good.c.last_good),
        )
        .group_by(Capture.source_id)
    )
    for source_id, count in session.execute(streak):
        facts[source_id]["failures"] = count
    return facts


@dataclass
class CaptureFilter:
    source: str = ""
    case: str = ""
    kind: str = ""
    status: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before: str = ""  # keyset paging: capture ids are time-ordered (UUIDv7)


def captures(session: Session, f: CaptureFilter, limit: int = PAGE) -> list[Capture]:
    query = select(Capture)
    conditions = []
    if f.source:
        conditions.append(Capture.source_id == f.source)
    if f.case:
        conditions.append(Capture.case_id == f.case)
    if f.kind:
        conditions.append(Capture.kind == f.kind)
    if f.status:
        conditions.append(Capture.status == f.status)
    if f.since:
        conditions.append(Capture.started_at >= f.since)
    if f.until:
        conditions.append(Capture.started_at < f.until)
    if f.before:
        conditions.append(Capture.id < f.before)
    if conditions:
        query = query.where(and_(*conditions))
    return list(session.scalars(query.order_by(Capture.id.desc()).limit(limit)))


def artifact_counts(session: Session, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    query = (
        select(Artifact.capture_id, func.count())
        .where(Artifact.capture_id.in_(ids))
        .group_by(Artifact.capture_id)
    )
    return dict(session.execute(query).all())


def perceptual(session: Session, sha256s: list[str]) -> dict[str, list[PerceptualHash]]:
    found: dict[str, list[PerceptualHash]] = {s: [] for s in sha256s}
    if sha256s:
        query = select(PerceptualHash).where(PerceptualHash.sha256.in_(sha256s))
        for row in session.scalars(query.order_by(PerceptualHash.id).limit(2000)):
            found[row.sha256].append(row)
    return found


def near_duplicates(session: Session, sha256s: list[str], limit: int = 50) -> list[dict[str, Any]]:
    """Linked near-duplicates of these artifacts, with the captures that hold them."""
    if not sha256s:
        return []
    links = session.scalars(
        select(SimilarLink)
        .where(or_(SimilarLink.a_sha256.in_(sha256s), SimilarLink.b_sha256.in_(sha256s)))
        .order_by(SimilarLink.distance)
        .limit(limit)
    ).all()
    out = []
    for link in links:
        mine, other = (
            (link.a_sha256, link.b_sha256)
            if link.a_sha256 in sha256s
            else (link.b_sha256, link.a_sha256)
        )
        holders = session.execute(
            select(Artifact.capture_id, Artifact.name).where(Artifact.sha256 == other).limit(5)
        ).all()
        out.append(
            {
                "mine": mine,
                "other": other,
                "algorithm": link.algorithm,
                "distance": link.distance,
                "holders": [tuple(h) for h in holders],
            }
        )
    return out


def unsealed(session: Session, limit: int = 20) -> list[Capture]:
    from preservation.custody.timestamps import SealedCapture

    query = (
        select(Capture)
        .outerjoin(SealedCapture, SealedCapture.capture_id == Capture.id)
        .where(SealedCapture.capture_id.is_(None))
        .order_by(Capture.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def troubled(session: Session, limit: int = 30) -> list[Capture]:
    """The newest failed and partial captures."""
    query = select(Capture).where(Capture.status.in_(("failed", "partial")))
    return list(session.scalars(query.order_by(Capture.id.desc()).limit(limit)))


def last_ledger_check(session: Session) -> AuditResult | None:
    query = select(AuditResult).where(AuditResult.scope == "ledger")
    return session.scalars(query.order_by(AuditResult.id.desc()).limit(1)).first()
