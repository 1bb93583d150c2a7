"""Rebuild the catalogue from the store alone: captures, hashes, links, the ledger, the seals.

It sits above the catalogue and custody because it restores both; the commit protocol uses
only ``catalogue.indexer.index_manifest``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select

from kernel.errors import Findings, IntegrityError, Problem, StorageError
from preservation.catalogue.indexer import index_manifest, link_safely, relink_all
from preservation.catalogue.live_index import forget as forget_live_index
from preservation.catalogue.models import (
    Artifact,
    Capture,
    Catalogue,
    Cursor,
    PerceptualHash,
    SimilarLink,
    SourceItem,
)
from preservation.custody import ledger, timestamps
from preservation.formats import manifest as manifests
from preservation.search import derive as search
from preservation.search import index as search_index
from preservation.store import Store


@dataclass
class ReindexReport(Findings):
    manifests: int = 0
    indexed: int = 0
    already: int = 0
    problems: list[Problem] = field(default_factory=list)
    links: int = 0


def reindex(store: Store, catalogue: Catalogue, now: datetime, wipe: bool = False) -> ReindexReport:
    """Rebuild the capture index from the manifests in the store (the truth)."""
    report = ReindexReport()
    keys = [k for k in store.list("captures/") if k.endswith("/manifest.json")]
    # capture ids are UUIDv7: sorting by them replays captures in the order they happened
    keys.sort(key=lambda k: k.rsplit("/", 2)[-2])
    with catalogue.session.begin() as session:
        if wipe:
            for model in (SimilarLink, PerceptualHash, Artifact, Capture, SourceItem, Cursor):
                session.execute(delete(model))
            search_index.clear(session)
        forget_live_index(catalogue.engine)
    for key in keys:
        report.manifests += 1
        try:
            data = store.read_bytes(key)
            manifest = manifests.parse(data)
        except (StorageError, IntegrityError) as exc:
            report.problems.append(Problem("unreadable-manifest", key, str(exc)))
            continue
        if manifest["capture"]["id"] != key.rsplit("/", 2)[-2]:
            report.problems.append(
                Problem("misplaced-manifest", key, "capture id differs from key")
            )
            continue
        with catalogue.session.begin() as session:
            if session.get(Capture, manifest["capture"]["id"]) is not None:
                report.already += 1
            else:
                index_manifest(
                    session, manifest, key, hashlib.sha256(data).hexdigest(), now, link=False
                )
                report.indexed += 1
            search.derive(session, manifest, search.opener_for(store), now)  # text, changes
    if report.indexed:
        with catalogue.session.begin() as session:
            before = session.scalar(select(func.count()).select_from(SimilarLink)) or 0
            link_safely(session, lambda: relink_all(session, now))
            after = session.scalar(select(func.count()).select_from(SimilarLink)) or 0
            report.links = after - before
    # custody: the ledger and the seal batches are restored from the store too
    for restore in (ledger.restore, timestamps.restore):
        report.problems.extend(restore(store, catalogue)[1])
    return report
