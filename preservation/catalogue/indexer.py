"""Index manifests into the catalogue; rebuild the catalogue from the store alone.

The same ``index_manifest`` serves the commit protocol and ``witnessbox reindex``, so a
catalogue rebuilt from the store holds exactly what the live one held: captures,
artifacts, perceptual hashes, per-item state and the newest cursor of each source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors import registry
from kernel.errors import InputError
from kernel.ids import parse_time
from preservation.catalogue.live_index import LiveSimilarityIndex
from preservation.catalogue.models import (
    Artifact,
    Capture,
    Cursor,
    PerceptualHash,
    Source,
    SourceItem,
)
from preservation.catalogue.similarity import SimilarityIndex, link_artifacts, link_near_duplicates

log = logging.getLogger("witnessbox.index")


def _hash_prefix(value: str, bits: int) -> int:
    try:
        return int(value[:4], 16) if bits >= 16 and len(value) >= 4 else 0
    except ValueError:
        return 0


def _default_interval(kind: str) -> int:
    """The kind's declared default; a day for a kind this installation has no collector for."""
    try:
        return registry.default_interval(kind)
    except InputError:
        return 86400


def _ensure_source(session: Session, info: dict[str, Any], now: datetime) -> Source:
    source = session.get(Source, info["id"])
    if source is None:  # restored from a manifest: the watchlist row was lost
        source = Source(
            id=info["id"],
            kind=info["kind"],
            url=info["url"],
            schedule_seconds=_default_interval(info["kind"]),
            tags=list(info.get("tags") or []),
            case_id=info.get("case"),
            note=info.get("note"),
            options={},
            added_by=info.get("added_by") or "unknown",
            added_at=parse_time(info.get("added_at")) or now,
            active=False,
        )
        session.add(source)
        session.flush()
    return source


def apply_items(
    session: Session, source_id: str, capture_id: str, items: list[dict], now: datetime
) -> None:
    for item in items:
        row = session.get(SourceItem, (source_id, item["id"]))
        if row is None:
            row = SourceItem(
                source_id=source_id,
                item_id=item["id"],
                status=item["status"],
                attempts=0,
                data={},
                updated_at=now,
            )
            session.add(row)
        if item["status"] == "failed":
            row.attempts = (row.attempts or 0) + 1
            row.last_error = item.get("error")
            if row.status != "captured":
                row.status = "failed"
        else:
            row.status = item["status"]
            row.capture_id = capture_id
            row.last_error = None
        if item.get("data"):
            row.data = {**(row.data or {}), **item["data"]}
        row.updated_at = now


def apply_source_state(session: Session, source: Source, manifest: dict[str, Any]) -> None:
    """Move the source's schedule and cursor forward, unless a newer capture already did."""
    capture = manifest["capture"]
    finished = parse_time(capture["finished_at"])
    if source.last_capture_at and finished and source.last_capture_at > finished:
        return
    source.last_capture_at = finished
    source.last_status = capture["status"]
    retry_after = parse_time(capture.get("retry_after"))
    source.next_due_at = retry_after or (finished + timedelta(seconds=source.schedule_seconds))
    if capture.get("cursor") is not None:
        row = session.get(Cursor, (source.id, "main"))
        if row is None:
            session.add(
                Cursor(
                    source_id=source.id, name="main", value=capture["cursor"], updated_at=finished
                )
            )
        else:
            row.value = capture["cursor"]
            row.updated_at = finished


def index_manifest(
    session: Session,
    manifest: dict[str, Any],
    key: str,
    manifest_sha256: str,
    now: datetime,
    *,
    link: bool = True,
) -> Capture:
    """Add one stored manifest to the catalogue (idempotent: an indexed capture is kept).

    With ``link``, its visual artifacts are also linked to their near-duplicates already in
    the archive (``reindex`` links once at the end instead of once per capture).
    """
    capture_info = manifest["capture"]
    existing = session.get(Capture, capture_info["id"])
    if existing is not None:
        return existing
    source_info = manifest["source"]
    source = _ensure_source(session, source_info, now)
    capture = Capture(
        id=capture_info["id"],
        source_id=source_info["id"],
        source_url=source_info["url"],
        kind=source_info["kind"],
        case_id=source_info.get("case"),
        started_at=parse_time(capture_info["started_at"]),
        finished_at=parse_time(capture_info["finished_at"]),
        status=capture_info["status"],
        reasons=capture_info["reasons"],
        collector=capture_info["collector"]["name"],
        collector_version=capture_info["collector"]["version"],
        manifest_key=key,
        manifest_sha256=manifest_sha256,
        previous_capture_id=capture_info.get("previous_capture_id"),
        run_context=capture_info.get("run") or {},
        indexed_at=now,
    )
    session.add(capture)
    seen_hashes: set[tuple[str, str, str | None]] = set()
    for entry in manifest["artifacts"]:
        capture.artifacts.append(
            Artifact(
                name=entry["name"],
                role=entry["role"],
                media_type=entry["media_type"],
                size=entry["size"],
                sha256=entry["sha256"],
                sha512=entry["sha512"],
                md5=entry["md5"],
                derived_from=entry.get("derived_from"),
                summary=entry.get("metadata") or {},
            )
        )
        for phash in entry.get("perceptual") or []:
            marker = (entry["sha256"], phash["algorithm"], phash.get("frame"))
            if marker in seen_hashes:
                continue
            seen_hashes.add(marker)
            known = session.scalar(
                select(PerceptualHash.id).where(
                    PerceptualHash.sha256 == entry["sha256"],
                    PerceptualHash.algorithm == phash["algorithm"],
                    PerceptualHash.frame == phash.get("frame")
                    if phash.get("frame") is not None
                    else PerceptualHash.frame.is_(None),
                )
            )
            if known is None:
                session.add(
                    PerceptualHash(
                        sha256=entry["sha256"],
                        algorithm=phash["algorithm"],
                        bits=phash["bits"],
                        value=phash["value"],
                        prefix=_hash_prefix(phash["value"], phash["bits"]),
                        frame=phash.get("frame"),
                        quality=phash.get("quality"),
                        library=phash["library"],
                    )
                )
    apply_items(session, source.id, capture.id, capture_info.get("items") or [], now)
    apply_source_state(session, source, manifest)
    if link:
        link_safely(
            session,
            lambda: link_artifacts(
                session, manifest["artifacts"], now=now, index=LiveSimilarityIndex(session)
            ),
        )
    return capture


def link_safely(session: Session, linker: Callable[[], int]) -> None:
    """Near-duplicate links are derived data: a failure there must not undo an index entry."""
    try:
        with session.begin_nested():
            linker()
    except Exception as exc:
        log.warning("near-duplicate linking failed: %s", exc)


def relink_all(session: Session, now: datetime) -> int:
    """Link every archived visual artifact to its near-duplicates (one index for all)."""
    by_sha: dict[str, list[dict[str, Any]]] = {}
    for row in session.scalars(select(PerceptualHash)):
        by_sha.setdefault(row.sha256, []).append(
            {
                "algorithm": row.algorithm,
                "bits": row.bits,
                "value": row.value,
                "frame": row.frame,
                "quality": row.quality,
                "low_quality": row.algorithm == "pdq"
                and row.quality is not None
                and row.quality < 50,
            }
        )
    index = SimilarityIndex(session)
    return sum(
        link_near_duplicates(session, sha, hashes, index=index, now=now)
        for sha, hashes in sorted(by_sha.items())
    )
