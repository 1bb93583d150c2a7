"""Fixity audits: staged checks of captures, every problem gathered, then one verdict.

Stages, cheapest first (as bagit-python validates):

1. manifest present, valid JSON matching its schema, equal to what the catalogue indexed
   and to the digest the custody ledger recorded when it was stored; its Ed25519 signature;
   each artifact's blob present with the right size (a ``stat``, no read);
2. the RFC 3161 seals: inclusion proofs, seal records and tokens against their stored
   certificate chains (each batch once);
3. the full re-read: every blob streamed from the store and its sha256 recomputed, each
   distinct blob once, in a few threads (OpenSSL's sha256 releases the GIL).

An audit never stops at the first problem. Its result is recorded in the catalogue's
``audits`` table and in the custody ledger.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import select

from kernel.errors import (
    Findings,
    InputError,
    IntegrityError,
    Problem,
    StorageError,
    read_problem,
)
from kernel.ids import isoformat
from preservation.catalogue.models import AuditResult, Capture, LedgerEntry
from preservation.custody.seal_check import SealChecker, sealed_batches
from preservation.custody.signing import check_manifest_signature
from preservation.formats import manifest as manifests
from preservation.store import Store, is_blob_key

if TYPE_CHECKING:
    from preservation.runtime import Runtime

READ_SIZE = 1 << 20
WORKERS = 2


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 and size of a stream, read into one reused buffer (no per-chunk copies)."""
    digest = hashlib.sha256()
    size = 0
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    while n := readinto(buffer):
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def rehash(store: Store, key: str) -> tuple[str, int]:
    with store.open(key) as stream:
        return sha256_stream(stream)


@dataclass
class CaptureCheck(Findings):
    capture_id: str
    manifest_key: str
    source_id: str = ""
    url: str = ""
    manifest_sha256: str = ""
    signed_by: str | None = None
    seals: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "status": "ok" if self.ok else "failed",
            "source_id": self.source_id,
            "url": self.url,
            "manifest_key": self.manifest_key,
            "manifest_sha256": self.manifest_sha256,
            "signed_by": self.signed_by,
            "sealed": self.seals,
            "artifacts": self.artifacts,
            "problems": self.problem_dicts(),
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
            "audit_id": self.audit_id,
            "ledger_seq": self.ledger_seq,
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
    with rt.catalogue.session() as session:
        rows = [
            (c.id, c.manifest_key, c.manifest_sha256, c.source_id, c.source_url)
            for c in session.scalars(select(Capture).order_by(Capture.id))
        ]
    indexed = {r[0]: r for r in rows}
    problems: list[Problem] = []
    if capture_id is not None:
        if capture_id not in indexed:
            raise InputError(f"unknown capture: {capture_id}")
        chosen = [indexed[capture_id]]
        scope = f"capture:{capture_id}"
    else:
        # the store is the truth: a manifest the catalogue lacks is checked too
        known_keys = {r[1] for r in rows}
        for key in rt.store.list("captures/"):
            if key.endswith("/manifest.json") and key not in known_keys:
                parts = key.split("/")
                rows.append((parts[-2], key, "", parts[1], ""))
        chosen = rows
        scope = "all"
        if sample is not None:
            if sample < 1:
                raise InputError("--sample needs a positive number")
            chosen = random.SystemRandom().sample(rows, min(sample, len(rows)))
            chosen.sort()
            scope = f"sample:{sample}"
    checks = [
        CaptureCheck(cid, key, source_id=sid, url=url, manifest_sha256=digest)
        for cid, key, digest, sid, url in chosen
    ]
    return scope, checks, problems


def _ledger_digests(rt: Runtime) -> dict[str, str]:
    """manifest key → the sha256 the ledger recorded when the manifest was stored."""
    with rt.catalogue.session() as session:
        rows = session.execute(
            select(LedgerEntry.subject, LedgerEntry.data).where(LedgerEntry.event == "stored")
        ).all()
    return {subject: (data or {}).get("manifest_sha256", "") for subject, data in rows}


# -- stage 1 ----------------------------------------------------------------------------------
def _check_manifest(
    rt: Runtime, check: CaptureCheck, recorded: dict[str, str], keys: dict[str, Any]
) -> dict[str, Any] | None:
    key = check.manifest_key
    add = check.problems.append
    try:
        data = rt.store.read_bytes(key)
    except StorageError as exc:  # gone, or only out of reach for now: read_problem tells
        add(read_problem(key, exc, f"manifest of capture {check.capture_id}"))
        return None
    actual = hashlib.sha256(data).hexdigest()
    if check.manifest_sha256 and actual != check.manifest_sha256:
        add(Problem("manifest-changed", key, "differs from the digest the catalogue indexed"))
    ledger_digest = recorded.get(key)
    if ledger_digest is None:
        add(Problem("not-in-ledger", key, "no custody record of this manifest being stored"))
    elif ledger_digest != actual:
        add(Problem("manifest-changed", key, "differs from the digest in the custody ledger"))
    check.manifest_sha256 = actual
    try:
        manifest = manifests.parse(data)
    except IntegrityError as exc:
        for p in exc.details or [Problem("schema", key, str(exc))]:
            add(Problem("bad-manifest", key, f"{p.subject}: {p.detail or p.kind}"))
        try:
            manifest = json.loads(data)
        except ValueError:
            return None
        if not isinstance(manifest, dict):
            return None
    capture = manifest.get("capture") or {}
    if capture.get("id") != check.capture_id:
        add(Problem("misplaced-manifest", key, "capture id differs from its key"))
    check.url = check.url or str((manifest.get("source") or {}).get("url", ""))
    sig_problems = check_manifest_signature(rt.store, key, manifest, data, keys)
    check.problems.extend(sig_problems)
    if not sig_problems:
        check.signed_by = (manifest.get("signing") or {}).get("key_fingerprint")
    return manifest


def _check_blob_presence(
    rt: Runtime, check: CaptureCheck, manifest: dict[str, Any], blobs: dict[str, dict]
) -> None:
    for artifact in manifest.get("artifacts") or []:
        if not isinstance(artifact, dict):
            continue
        key, sha, size = artifact.get("key", ""), artifact.get("sha256", ""), artifact.get("size")
        check.artifacts.append({"name": artifact.get("name"), "key": key, "sha256": sha})
        if not is_blob_key(key) or not key.endswith(str(sha)):
            check.problems.append(Problem("bad-manifest", key, "blob key does not name its sha256"))
            continue
        entry = blobs.get(key)
        if entry is None:
            entry = blobs[key] = {"sha256": sha, "size": size, "stat": None, "users": []}
            try:
                info = rt.store.stat(key)
            except StorageError as exc:  # an outage: the blob may be intact
                entry["error"] = str(exc)
            else:
                entry["stat"] = info.size if info else None
        entry["users"].append((check, artifact.get("name")))
        if entry.get("error"):
            check.problems.append(
                Problem(
                    "unreadable",
                    key,
                    f"{artifact.get('name')} of {check.capture_id}: {entry['error']}",
                )
            )
        elif entry["stat"] is None:
            check.problems.append(
                Problem("missing-object", key, f"{artifact.get('name')} of {check.capture_id}")
            )
        elif entry["stat"] != size:
            check.problems.append(
                Problem(
                    "size-mismatch",
                    key,
                    f"{artifact.get('name')} of {check.capture_id}: "
                    f"manifest says {size} bytes, store has {entry['stat']}",
                )
            )


# -- the audit --------------------------------------------------------------------------------
def run_audit(
    rt: Runtime,
    capture_id: str | None = None,
    sample: int | None = None,
    workers: int = WORKERS,
    record: bool = True,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Check one capture, a random sample, or everything; record the result."""
    progress = progress or rt.progress
    scope, checks, global_problems = _targets(rt, capture_id, sample)
    report = AuditReport(scope, rt.clock(), captures=checks)
    recorded = _ledger_digests(rt)
    keys: dict[str, Any] = {}
    blobs: dict[str, dict] = {}
    expected_seals = sealed_batches(rt.catalogue)
    seals = SealChecker(rt.store)
    progress(f"checking {len(checks)} manifest(s), signatures and seals")
    for check in checks:
        manifest = _check_manifest(rt, check, recorded, keys)
        if manifest is not None:
            _check_blob_presence(rt, check, manifest, blobs)
        if manifest is not None or check.manifest_sha256:
            found, problems = seals.check_capture(
                check.manifest_key, check.manifest_sha256, expected_seals.get(check.capture_id, ())
            )
            check.seals = found
            check.problems.extend(problems)
    # stage 3: full re-read of every present blob of the right size, each once
    todo = [k for k, e in blobs.items() if e["stat"] is not None and e["stat"] == e["size"]]
    progress(f"re-reading {len(todo)} blob(s)")

    def work(key: str) -> tuple[str, str | None, int, str]:
        try:
            digest, size = rehash(rt.store, key)
            return key, digest, size, ""
        except StorageError as exc:
            return key, None, 0, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, digest, size, error in pool.map(work, todo):
            entry = blobs[key]
            report.blobs += 1
            report.bytes += size
            if digest == entry["sha256"]:
                continue
            for check, name in entry["users"]:
                detail = (
                    f"{name} of {check.capture_id}: unreadable: {error}"
                    if digest is None
                    else f"{name} of {check.capture_id}: expected sha256 "
                    f"{entry['sha256'][:16]}…, found {digest[:16]}…"
                )
                kind = "unreadable" if digest is None else "digest-mismatch"
                check.problems.append(Problem(kind, key, detail))
    seen: set[Problem] = set()
    for problem in [*global_problems, *(p for c in checks for p in c.problems)]:
        if problem not in seen:
            seen.add(problem)
            report.problems.append(problem)
    report.finished_at = rt.clock()
    if record:
        _record(rt, report)
    return report


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
        },
        report.finished_at or rt.clock(),
    )
    report.ledger_seq = entry["seq"]
