"""Repair: rewrite a missing or damaged copy from a copy whose sha256 verifies.

It acts only on what an audit named (copy, key), so a good copy is never touched. The
expected sha256 of a key comes from outside the copies where it can: a blob's key names it,
a manifest's is in the custody ledger (and the catalogue), a ledger entry's is that of the
catalogue's row; anything else (signatures, seal records, public keys) takes the bytes of
a copy the audit found no fault with. The good bytes are spooled with their sha256 checked,
written under the same key (on a versioned S3 bucket a new version: the damaged, possibly
locked, version stays and the repair says so), read back and checked again, and every
repair appends a ``repaired`` ledger entry: object, copy, the digest found, the digest
restored, and where the good bytes came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kernel.errors import StorageError, WitnessboxError
from kernel.replicas import PRIMARY
from preservation.catalogue.models import Capture, LedgerEntry
from preservation.custody.stages import rehash
from preservation.store import Store, is_blob_key
from preservation.store.base import check_key

if TYPE_CHECKING:
    from preservation.custody.audit import AuditReport
    from preservation.runtime import Runtime

REPAIRABLE = {
    "missing-object",
    "digest-mismatch",
    "size-mismatch",
    "unreadable",
    "manifest-changed",
    "bad-manifest",
    "bad-signature",
}


@dataclass
class Repair:
    copy: str
    key: str
    problem: str
    found_sha256: str | None
    restored_sha256: str | None = None
    source: str | None = None
    note: str = ""
    error: str = ""
    ledger_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.error

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _stores(rt: Runtime) -> dict[str, Store]:
    return {PRIMARY: rt.primary, **{r.name: r.store for r in rt.replicas}}


def _damaged(report: AuditReport) -> dict[tuple[str, str], str]:
    """(copy, key) -> the first problem kind the audit named there."""
    found: dict[tuple[str, str], str] = {}
    for name, copy in report.copies.items():
        for problem in copy.problems:
            if problem.kind not in REPAIRABLE:
                continue
            with contextlib.suppress(ValueError):
                found.setdefault((name, check_key(problem.subject)), problem.kind)
    return found


def _expected(rt: Runtime, key: str) -> str | None:
    """The sha256 a key must have, known independently of the copies, or None."""
    if is_blob_key(key):
        return key.rsplit("/", 1)[1]
    with rt.catalogue.session() as session:
        if key.endswith("/manifest.json"):
            for data in session.scalars(
                select(LedgerEntry.data).where(
                    LedgerEntry.event == "stored", LedgerEntry.subject == key
                )
            ):
                if (data or {}).get("manifest_sha256"):
                    return str(data["manifest_sha256"])
            return session.scalar(
                select(Capture.manifest_sha256).where(Capture.manifest_key == key)
            )
        from preservation.custody.ledger import row_to_entry, seq_of, serialise

        seq = seq_of(key)
        if seq is not None:
            row = session.get(LedgerEntry, seq)
            return hashlib.sha256(serialise(row_to_entry(row))).hexdigest() if row else None
    return None


def _capture_of(report: AuditReport, key: str) -> str | None:
    for check in report.captures:
        if check.manifest_key == key or key.startswith(check.manifest_key.rsplit("/", 1)[0] + "/"):
            return check.capture_id
        if any(a.get("key") == key for a in check.artifacts):
            return check.capture_id
    return None


def _spool_good(
    stores: dict[str, Store], candidates: list[str], key: str, expected: str | None, spool: Path
) -> tuple[str, str] | None:
    """Copy the first candidate whose bytes verify into ``spool``; (copy, sha256)."""
    for name in candidates:
        digest = hashlib.sha256()
        try:
            with stores[name].open(key) as stream, open(spool, "wb") as out:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except StorageError:
            continue
        if expected is None or digest.hexdigest() == expected:
            return name, digest.hexdigest()
    return None


def repair(rt: Runtime, report: AuditReport) -> list[Repair]:
    """Rewrite every damaged or missing copy the audit named; one ledger entry per repair."""
    from preservation.custody.ledger import actor_of, ledger_for

    stores = _stores(rt)
    damaged = _damaged(report)
    faulty_keys: dict[str, set[str]] = {}
    for name, key in damaged:
        faulty_keys.setdefault(key, set()).add(name)
    done: list[Repair] = []
    rt.settings.staging.mkdir(parents=True, exist_ok=True)
    for (name, key), kind in sorted(damaged.items()):
        fix = Repair(name, key, kind, None)
        done.append(fix)
        expected = _expected(rt, key)
        try:
            present = stores[name].stat(key) is not None
        except StorageError as exc:  # out of reach: nothing is known to be damaged
            fix.error = f"cannot reach the copy: {exc}"
            continue
        if present:
            try:
                fix.found_sha256 = rehash(stores[name], key)[0]
            except StorageError:
                fix.found_sha256 = "unreadable"
            if expected is not None and fix.found_sha256 == expected:
                fix.note = "reads correctly now (an outage, not damage): left untouched"
                continue
        candidates = [
            n for n in stores if n not in faulty_keys[key] and n in report.copies and n != name
        ]
        with tempfile.TemporaryDirectory(dir=rt.settings.staging, prefix="repair-") as tmp:
            spool = Path(tmp) / "good"
            good = _spool_good(stores, candidates, key, expected, spool)
            if good is None:
                fix.error = "no copy whose sha256 verifies"
                continue
            fix.source, fix.restored_sha256 = good
            try:
                fix.note = stores[name].put_object_file(
                    key, spool, fix.restored_sha256, replace=present
                )
                after = rehash(stores[name], key)[0]
            except WitnessboxError as exc:
                fix.error = str(exc)
                continue
        if after != fix.restored_sha256:
            fix.error = f"the rewritten copy reads back as {after}"
            continue
        entry = ledger_for(rt).append(
            "repaired",
            key,
            actor_of(rt),
            {
                "key": key,
                "copy": name,
                "capture_id": _capture_of(report, key),
                "problem": kind,
                "found_sha256": fix.found_sha256,
                "restored_sha256": fix.restored_sha256,
                "source": fix.source,
                "note": fix.note,
                "audit_id": report.audit_id,
            },
            rt.clock(),
        )
        fix.ledger_seq = entry["seq"]
    return done


def unrepaired(report: AuditReport, repairs: list[Repair]) -> list[str]:
    """The audit's problems a repair did not mend (what still fails verification)."""
    mended = {(r.copy, r.key) for r in repairs if r.ok}
    left = []
    for name, copy in report.copies.items():
        for problem in copy.problems:
            if (name, problem.subject) not in mended:
                label = "" if name == PRIMARY else f" (replica={name})"
                left.append(f"{problem}{label}")
    return left
