"""The hot queries are planned on indexes on both backends (EXPLAIN), so nothing a command
or a commit asks grows with the archive: no full scan, no sort of a whole table."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from preservation.catalogue.models import (
    Artifact,
    Capture,
    Catalogue,
    LedgerEntry,
    LedgerMention,
    PerceptualHash,
    SimilarLink,
    Source,
)

CID = "0190a000-0000-7000-8000-000000000000"
SHA = "ab" * 32

#: (name, statement, the index it must use). The claim of due sources scans the watchlist
#: (its size is the number of watched sources, not of captures), so it is not here.
HOT = [
    ("commit: is this hash indexed already",
     select(PerceptualHash.id).where(PerceptualHash.sha256 == SHA,
                                     PerceptualHash.algorithm == "phash",
                                     PerceptualHash.frame.is_(None)),
     "ix_phash_sha256_algorithm_frame"),
    ("commit: the source's previous capture",
     select(Capture.id).where(Capture.source_id == "src-1", Capture.id != CID)
     .order_by(Capture.id.desc()).limit(1),
     "ix_captures_source_id_id"),
    ("commit: is this ledger event recorded",
     select(func.count()).select_from(LedgerEntry)
     .where(LedgerEntry.event == "stored", LedgerEntry.subject == "captures/x/manifest.json"),
     "ix_ledger_"),
    ("commit: the ledger head",
     select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1), "primary key"),
    ("captures: newest first, a page",
     select(Capture.id).order_by(Capture.id.desc()).limit(50), None),
    ("captures: a case's next page (keyset)",
     select(Capture.id).where(Capture.case_id == "C1", Capture.id < "0190a000")
     .order_by(Capture.id.desc()).limit(50),
     None),  # the case's index, or the primary key backwards when the case is most rows
    ("captures: a status's page",
     select(Capture.id).where(Capture.status == "failed").order_by(Capture.id.desc()).limit(50),
     None),
    ("show: a capture's artifacts",
     select(Artifact.id).where(Artifact.capture_id == CID), "ix_artifacts_capture_id"),
    ("show: links from the other side",
     select(SimilarLink.a_sha256).where(SimilarLink.b_sha256 == SHA), "ix_similar_links_b_sha256"),
    ("similar: a hit's artifacts",
     select(Artifact.id).where(Artifact.sha256.in_([SHA, "cd" * 32])), "ix_artifacts_sha256"),
    ("export: the ledger entries about its captures (subjects)",
     select(LedgerEntry.seq).where(LedgerEntry.subject.in_(["s7", "s8"])), "ix_ledger_subject"),
    ("export: the ledger entries naming its captures (mentions)",
     select(LedgerMention.seq).where(LedgerMention.name.in_([CID, "m9"])), None),
    ("live index: rows newer than the base",
     select(PerceptualHash.id, PerceptualHash.value).where(PerceptualHash.id > 2_900),
     "primary key"),
]


def _fill(catalogue: Catalogue) -> None:
    """A few thousand rows shaped like an archive's, and fresh statistics, so the planners
    choose as they would at scale (on empty tables they guess)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    now = datetime(2026, 12, 3, tzinfo=UTC)
    with catalogue.engine.begin() as conn:
        conn.execute(insert(Capture), [dict(
            id=f"0190{n:04x}-0000-7000-8000-000000000000", source_id=f"src-{n % 40}",
            source_url="https://example.org/", kind="web", case_id=f"C{n % 2}", started_at=now,
            finished_at=now, status="failed" if n % 20 == 0 else "complete", reasons=[],
            collector="static", collector_version="1", manifest_key=f"captures/{n}",
            manifest_sha256="0" * 64, previous_capture_id=None, run_context={}, indexed_at=now)
            for n in range(3000)])  # fmt: skip
        conn.execute(insert(Source), [dict(
            id=f"src-{n}", kind="web", url=f"https://example.org/{n}", schedule_seconds=60,
            tags=[], case_id=None, note=None, options={}, added_by="t", added_at=now,
            active=True, removed_at=None, last_capture_at=None, last_status=None,
            next_due_at=None if n % 50 == 0 else now) for n in range(2000)])  # fmt: skip
        conn.execute(insert(SimilarLink), [dict(
            a_sha256=f"{n:064x}", b_sha256=f"{n + 1:064x}", algorithm="phash", distance=3,
            found_at=now) for n in range(2000)])  # fmt: skip
        conn.execute(insert(Artifact), [dict(
            capture_id=f"0190{n % 3000:04x}-0000-7000-8000-000000000000", name=f"f{n}", role="media",
            media_type="image/png", size=1, sha256=f"{n:064x}", sha512="0" * 128, md5="0" * 32,
            derived_from=None, summary={}) for n in range(3000)])  # fmt: skip
        conn.execute(insert(PerceptualHash), [dict(
            sha256=f"{n // 3:064x}", algorithm=("phash", "pdq", "dhash")[n % 3], bits=64,
            value=f"{n:016x}", prefix=n % 65536, frame=None, quality=None, library="t")
            for n in range(3000)])  # fmt: skip
        conn.execute(insert(LedgerEntry), [dict(
            seq=n + 1, at=now, event=("captured", "stored")[n % 2], subject=f"s{n}", actor="t",
            data={}, prev_hash="0" * 64, entry_hash=f"{n:064x}") for n in range(2000)])  # fmt: skip
        conn.execute(insert(LedgerMention), [dict(name=f"m{n // 2}", seq=n + 1)
            for n in range(2000)])  # fmt: skip
        conn.execute(text("ANALYZE"))


def _plan(conn: Connection, statement) -> str:
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    return "\n".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {sql}")))


def _problems(dialect: str, plan: str, index: str | None) -> list[str]:
    found = []
    if dialect == "sqlite":
        for line in plan.splitlines():
            rowid_order = index == "primary key" and line.strip() in ("SCAN ledger",)
            if line.strip().startswith("SCAN") and "USING" not in line and not rowid_order:
                found.append(f"full scan: {line.strip()}")
        if "TEMP B-TREE" in plan:
            found.append("sorts the table")
    else:
        if "Seq Scan" in plan:
            found.append("sequential scan")
        if "Sort" in plan:
            found.append("sorts the table")
    if index and index != "primary key" and index not in plan:
        found.append(f"not planned on {index}")
    return found


def test_hot_queries_use_an_index(catalogue_url):
    catalogue = Catalogue.open(catalogue_url)
    try:
        _fill(catalogue)
        failures = []
        with catalogue.engine.connect() as conn:
            for name, statement, index in HOT:
                plan = _plan(conn, statement)
                for problem in _problems(conn.dialect.name, plan, index):
                    failures.append(f"{name}: {problem}\n{plan}")
    finally:
        catalogue.close()
    assert not failures, "\n\n".join(failures)
