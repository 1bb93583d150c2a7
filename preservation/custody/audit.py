"""Fixity audits: staged checks of captures, every problem gathered, then one verdict.

Stages, cheapest first (as bagit-python validates):

1. manifest present, valid JSON matching its schema, equal to what the catalogue indexed
   and to the digest the custody ledger recorded when it was stored; its Ed25519 signature;
   each artifact's blob present with the right size (a ``stat``, no read);
2. the RFC 3161 seals: inclusion proofs, seal records and tokens against their stored
   certificate chains (each batch once);
3. the full re-read: every blob streamed from the store and its sha256 recomputed, each
   distinct blob once, in a few threads (OpenSSL's sha256 releases the GIL);
4. unless skipped: S3 retention of every object checked (custody.retention: mode and
   retain-until against the configured retention) and the custody ledger's chain
   (custody.ledger.verify_ledger), so ``verify`` answers for custody, not only fixity.

An audit never stops at the first problem. Its result is recorded in the catalogue's
``audits`` table and in the custody ledger.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal_column, select, tablesample, text

from kernel.errors import Findings, InputError, IntegrityError, Problem, StorageError
from kernel.ids import isoformat
from kernel.replicas import PRIMARY
from preservation.catalogue.models import AuditResult, Capture, LedgerEntry
from preservation.custody.seal_check import sealed_batches
from preservation.custody.stages import (
    CaptureCheck,
    check_copy,
    rehash,
    sha256_stream,
)

if TYPE_CHECKING:
    from preservation.runtime import Runtime
    from preservation.store import Store

WORKERS = 2
__all__ = ["AuditReport", "CaptureCheck", "CopyResult", "rehash", "run_audit", "sha256_stream"]


@dataclass
class CopyResult:
    """One copy's share of an audit: what was re-read, its problems (unlabelled), backlog."""

    name: str
    blobs: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "problems": len(self.problems),
            "pending": self.pending,
        }


@dataclass
class AuditReport(Findings):
    scope: str
    started_at: datetime
    finished_at: datetime | None = None
    captures: list[CaptureCheck] = field(default_factory=list)
    blobs: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)  # every problem, once
    audit_id: int | None = None
    ledger_seq: int | None = None
    retention: dict[str, Any] | None = None  # None: skipped (--no-retention)
    ledger: dict[str, Any] | None = None  # None: skipped (--no-ledger)
    copies: dict[str, CopyResult] = field(default_factory=dict)  # primary first, then replicas

    @property
    def failed(self) -> list[CaptureCheck]:
        return [c for c in self.captures if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scope": self.scope,
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at) if self.finished_at else None,
            "checked": {"captures": len(self.captures), "blobs": self.blobs, "bytes": self.bytes},
            "failed_captures": [c.capture_id for c in self.failed],
            "problems": self.problem_dicts(),
            "captures": [c.as_dict() for c in self.captures],
            "copies": {name: copy.as_dict() for name, copy in self.copies.items()},
            "audit_id": self.audit_id,
            "ledger_seq": self.ledger_seq,
            "retention": self.retention,
            "ledger": self.ledger,
        }

    def raise_for_problems(self) -> None:
        if self.problems:
            raise IntegrityError(
                f"{len(self.problems)} problem(s) in {len(self.failed)} capture(s): "
                f"{self.problems[0]}",
                self.problems,
            )


# -- choosing what to check -------------------------------------------------------------------
def _targets(
    rt: Runtime, capture_id: str | None, sample: int | None
) -> tuple[str, list[CaptureCheck], list[Problem]]:
    columns = (Capture.id, Capture.manifest_key, Capture.manifest_sha256, Capture.source_id,
               Capture.source_url)  # fmt: skip
    problems: list[Problem] = []
    with rt.catalogue.session() as session:
        if capture_id is not None:
            row = session.execute(select(*columns).where(Capture.id == capture_id)).first()
            if row is None:
                raise InputError(f"unknown capture: {capture_id}")
            chosen, scope = [tuple(row)], f"capture:{capture_id}"
        elif sample is not None:
            if sample < 1:
                raise InputError("--sample needs a positive number")
            chosen, scope = _sample(session, columns, sample), f"sample:{sample}"
        else:
            chosen = [tuple(r) for r in session.execute(select(*columns).order_by(Capture.id))]
            scope = "all"
    if scope == "all":
        # the store is the truth: a manifest the catalogue lacks is checked too
        known_keys = {r[1] for r in chosen}
        for key in rt.store.list("captures/"):
            if key.endswith("/manifest.json") and key not in known_keys:
                parts = key.split("/")
                chosen.append((parts[-2], key, "", parts[1], ""))
    checks = [
        CaptureCheck(cid, key, source_id=sid, url=url, manifest_sha256=digest)
        for cid, key, digest, sid, url in chosen
    ]
    return scope, checks, problems


def _sample(session: Any, columns: tuple[Any, ...], n: int) -> list[tuple[Any, ...]]:
    """``n`` captures drawn uniformly, without reading the whole table.

    SQLite: random points in the (dense, insertion-ordered) rowid range, each one index
    lookup. PostgreSQL: random table pages. Small tables, or whatever those miss: random
    positions in primary-key order (an index-only walk).
    """
    rng = random.SystemRandom()
    total = session.scalar(select(func.count()).select_from(Capture)) or 0
    picked: dict[str, tuple[Any, ...]] = {}
    if session.get_bind().dialect.name == "sqlite":
        rowid = literal_column("captures.rowid")
        top = session.scalar(select(func.max(rowid)).select_from(Capture)) or 0
        for _attempt in range(n * 20):
            if len(picked) >= min(n, total):
                break
            row = session.execute(
                select(*columns).where(rowid >= rng.randint(1, top)).order_by(rowid).limit(1)
            ).first()
            if row is not None:
                picked.setdefault(row[0], tuple(row))
    elif total > 100 * n:
        picked.update(_sample_pages(session, columns, n, rng))
    if len(picked) < min(n, total):
        for offset in rng.sample(range(total), min(n, total)):
            row = session.execute(select(*columns).order_by(Capture.id).offset(offset).limit(1))
            for r in row:
                picked.setdefault(r[0], tuple(r))
                break
    return sorted(picked.values())[:n]


def _sample_pages(
    session: Any, columns: tuple[Any, ...], n: int, rng: random.SystemRandom
) -> dict[str, tuple[Any, ...]]:
    """PostgreSQL: one random row from each of ``n`` random table pages (TABLESAMPLE SYSTEM
    reads only the pages it picks; rows of one table are about the same size per page)."""
    pages = session.scalar(text("SELECT relpages FROM pg_class WHERE relname = 'captures'")) or 0
    if pages < 10 * n:
        return {}
    sampled = tablesample(Capture.__table__, func.system(min(100.0, 400.0 * n / pages)))
    by_page: dict[str, list[tuple[Any, ...]]] = {}
    cols = [sampled.c[c.key] for c in columns]
    for row in session.execute(select(*cols, literal_column("ctid")).select_from(sampled)):
        by_page.setdefault(str(row[-1]).strip("()").split(",")[0], []).append(tuple(row[:-1]))
    chosen = rng.sample(sorted(by_page), min(n, len(by_page)))
    return {row[0]: row for row in (rng.choice(by_page[p]) for p in chosen)}


def _ledger_digests(rt: Runtime, keys: list[str] | None = None) -> dict[str, str]:
    """manifest key → the sha256 the ledger recorded when the manifest was stored."""
    query = select(LedgerEntry.subject, LedgerEntry.data).where(LedgerEntry.event == "stored")
    out: dict[str, str] = {}
    with rt.catalogue.session() as session:
        if keys is None:
            batches = [session.execute(query).all()]
        else:  # only the captures being checked: one indexed lookup per key
            batches = [session.execute(query.where(LedgerEntry.subject.in_(keys[i : i + 500])))
                       .all() for i in range(0, len(keys), 500)]  # fmt: skip
    for rows in batches:
        out.update({subject: (data or {}).get("manifest_sha256", "") for subject, data in rows})
    return out


# -- the audit --------------------------------------------------------------------------------
def run_audit(
    rt: Runtime,
    capture_id: str | None = None,
    sample: int | None = None,
    workers: int = WORKERS,
    record: bool = True,
    progress: Callable[[str], None] | None = None,
    retention: bool = True,
    ledger: bool = True,
    replicas: list[str] | None = None,
) -> AuditReport:
    """Check one capture, a random sample, or everything, on every copy; record the result.

    The primary is checked first, then each replica (``replicas``: by name, default all) the
    same way, stage by stage, each blob read once per copy. A replica's problems name it
    (``replica=offsite``); objects still queued for a replica are behind, not damaged.
    """
    progress = progress or rt.progress
    scope, checks, global_problems = _targets(rt, capture_id, sample)
    targets = [
        (c.capture_id, c.manifest_key, c.source_id, c.url, c.manifest_sha256) for c in checks
    ]
    report = AuditReport(scope, rt.clock(), captures=checks)
    everything = scope == "all"  # a sample reads only its own rows, never the whole table
    recorded = _ledger_digests(rt, None if everything else [c.manifest_key for c in checks])
    expected_seals = sealed_batches(
        rt.catalogue, None if everything else [c.capture_id for c in checks]
    )
    report.blobs, report.bytes = check_copy(rt, checks, recorded, expected_seals, workers, progress)
    report.copies[PRIMARY] = CopyResult(
        PRIMARY, report.blobs, report.bytes, [p for c in checks for p in c.problems]
    )
    for replica in rt.replicas:
        if replicas is not None and replica.name not in replicas:
            continue
        report.copies[replica.name] = _audit_replica(
            rt, replica, checks, targets, recorded, expected_seals, workers, progress
        )
    global_problems.extend(_custody_checks(rt, report, retention, ledger, workers, progress))
    seen: set[Problem] = set()
    for problem in [*global_problems, *(p for c in checks for p in c.problems)]:
        if problem not in seen:
            seen.add(problem)
            report.problems.append(problem)
    report.finished_at = rt.clock()
    if record:
        _record(rt, report)
    return report


def _custody_checks(
    rt: Runtime,
    report: AuditReport,
    retention: bool,
    ledger: bool,
    workers: int,
    progress: Callable[[str], None],
) -> list[Problem]:
    """Stage 4: retention of every object in scope, then the ledger's chain."""
    from preservation.custody.ledger import verify_ledger
    from preservation.custody.timestamps import ledger_anchors

    problems: list[Problem] = []
    if retention:
        problems.extend(_retention_checks(rt, report, workers, progress))
    if not ledger:
        return problems
    try:
        if report.scope != "all":  # a sample: its captures' entries, not the chain
            from preservation.custody.ledger_local import verify_subjects

            progress("checking the custody ledger entries of the captures checked")
            subjects = [x for c in report.captures for x in (c.capture_id, c.manifest_key)]
            chain = verify_subjects(rt.store, rt.catalogue, subjects)
            scope = {"scope": "entries of the captures checked"}
        else:
            progress("checking the custody ledger")
            chain = verify_ledger(rt.store, rt.catalogue, ledger_anchors(rt.store))
            scope = {}
    except StorageError as exc:  # out of reach: the chain is unknown, not broken
        problems.append(Problem("unreadable", "ledger", str(exc)))
        return problems
    report.ledger = {"entries": chain.entries, "head_seq": chain.head_seq, "ok": chain.ok, **scope}
    problems.extend(chain.problems)
    return problems


def _retention_checks(
    rt: Runtime, report: AuditReport, workers: int, progress: Callable[[str], None]
) -> list[Problem]:
    """Retention of every object in scope on the primary, then on each replica audited
    (against that replica's own retention; objects still queued for it are skipped)."""
    from preservation.custody.retention import check_retention
    from preservation.replication import pending_keys
    from preservation.store.replicas import replica_retention

    def keys_on(store: Store) -> list[str]:
        if report.scope == "all":
            return list(store.list(""))
        keys = [a["key"] for c in report.captures for a in c.artifacts if a.get("key")]
        for c in report.captures:
            keys.extend(store.list(c.manifest_key.rsplit("/", 1)[0] + "/"))
        return keys

    problems: list[Problem] = []
    try:
        keys = keys_on(rt.store)
        progress(f"checking the retention of {len(set(keys))} object(s)")
        found = check_retention(rt.store, rt.settings, keys, workers=max(2, workers))
    except StorageError as exc:  # out of reach: retention unknown, not broken
        problems.append(Problem("unreadable", "retention", str(exc)))
        report.retention = {"checked": 0, "skipped": f"the primary is out of reach: {exc}"}
    else:
        report.retention = found.as_dict()
        problems.extend(found.problems)
    audited = [r for r in rt.replicas if r.name in report.copies]
    if audited:
        report.retention["replicas"] = {}
    for replica in audited:
        label = f"replica={replica.name}"
        days, mode = replica_retention(rt.settings, replica.spec)
        try:
            pending = pending_keys(rt.catalogue, replica.name)
            keys = [k for k in keys_on(replica.store) if k not in pending]
            progress(f"checking the retention of {len(set(keys))} object(s) on {replica.name}")
            on_copy = check_retention(
                replica.store, rt.settings, keys, max(2, workers), days=days, mode=mode
            )
        except StorageError as exc:
            problems.append(Problem("unreadable", "retention", f"{label}: {exc}"))
            continue
        report.retention["replicas"][replica.name] = on_copy.as_dict()
        problems.extend(
            Problem(p.kind, p.subject, f"{label}: {p.detail}" if p.detail else label)
            for p in on_copy.problems
        )
    return problems


def _audit_replica(
    rt: Runtime,
    replica: Any,
    checks: list[CaptureCheck],
    targets: list[tuple[str, str, str, str, str]],
    recorded: dict[str, str],
    expected_seals: dict[str, Any],
    workers: int,
    progress: Callable[[str], None],
) -> CopyResult:
    from preservation.replication import pending_keys, record_check

    pending = pending_keys(rt.catalogue, replica.name)
    copies = [
        CaptureCheck(cid, key, source_id=sid, url=url, manifest_sha256=digest)
        for cid, key, sid, url, digest in targets
    ]
    progress(f"checking replica {replica.name}")
    on_replica = dataclasses.replace(rt, store=replica.store)
    blobs, size = check_copy(on_replica, copies, recorded, expected_seals, workers, progress)
    result = CopyResult(replica.name, blobs, size, pending=len(pending))
    for check, copy in zip(checks, copies, strict=True):
        for p in copy.problems:
            if p.subject in pending:
                continue
            label = f"replica={replica.name}"
            check.problems.append(
                Problem(p.kind, p.subject, f"{label}: {p.detail}" if p.detail else label)
            )
            result.problems.append(p)
    record_check(rt.catalogue, replica.name, not result.problems, rt.clock())
    return result


def _record(rt: Runtime, report: AuditReport) -> None:
    from preservation.custody.ledger import actor_of, ledger_for

    details = [str(p) for p in report.problems]
    with rt.catalogue.session.begin() as session:
        row = AuditResult(
            started_at=report.started_at,
            finished_at=report.finished_at or report.started_at,
            scope=report.scope[:200],
            checked=len(report.captures),
            failed=len(report.failed),
            details=details,
        )
        session.add(row)
        session.flush()
        report.audit_id = row.id
    single = report.scope.startswith("capture:")
    event = "failed-audit" if report.problems else ("verified" if single else "audited")
    subject = report.scope.removeprefix("capture:") if single else f"audit:{report.scope}"
    entry = ledger_for(rt).append(
        event,
        subject,
        actor_of(rt),
        {
            "audit_id": report.audit_id,
            "scope": report.scope,
            "result": "fail" if report.problems else "pass",
            "captures": len(report.captures),
            "blobs": report.blobs,
            "bytes": report.bytes,
            "failed": [c.capture_id for c in report.failed],
            "problems": details[:200],
            "copies": {name: copy.as_dict() for name, copy in report.copies.items()},
        },
        report.finished_at or rt.clock(),
    )
    report.ledger_seq = entry["seq"]
