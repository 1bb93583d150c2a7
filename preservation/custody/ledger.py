"""The custody ledger: append-only, hash-chained events, mirrored write-once into the store.

Each entry records who did what to which object when (``captured``, ``stored``,
``verified``, ``audited``, ``failed-audit``, ``sealed``, ``exported``) and the hash of the
entry before it. An entry's hash is the sha256 of its compact canonical JSON without the
``entry_hash`` field (keys sorted, UTF-8, separators ``,`` and ``:``), so anyone can
recompute the chain from the ``ledger/<seq>.json`` objects with a few lines of code.

Appending takes a per-host lock, then writes the store mirror first (put-if-absent: the
store arbitrates between hosts sharing it) and the catalogue row second; an append that
finds entries in the store that its catalogue lacks (another host, or a crash between the
two writes) indexes them before adding its own. The chain therefore never forks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from kernel.canonical import compact_json
from kernel.errors import Findings, IntegrityError, ObjectExistsError, Problem, StorageError
from kernel.ids import isoformat, parse_time
from preservation.catalogue.ledger_index import entries_about, index_mentions
from preservation.catalogue.models import Catalogue, LedgerEntry
from preservation.store import Store

if TYPE_CHECKING:
    from preservation.runtime import Runtime

log = logging.getLogger("witnessbox.ledger")
SCHEMA = "urn:witnessbox:ledger:1"
GENESIS = "0" * 64
PREFIX = "ledger/"
_KEY = re.compile(r"^ledger/(\d{12})\.json$")
EVENTS = (
    "captured",
    "stored",
    "verified",
    "audited",
    "failed-audit",
    "sealed",
    "exported",
    "accessed",  # a person read an original (custody.access)
    "repaired",  # a damaged or missing copy was rewritten from a good one (custody.repair)
    "kek-rotated",  # an encrypted replica takes a new key-encryption key from now on
)


def ledger_key(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


def seq_of(key: str) -> int | None:
    match = _KEY.match(key)
    return int(match.group(1)) if match else None


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "entry_hash"}
    return hashlib.sha256(compact_json(body)).hexdigest()


def build_entry(
    seq: int,
    at: datetime,
    event: str,
    subject: str,
    actor: str,
    data: dict[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    """A complete entry (pure: no I/O). ``data`` is normalised through JSON first."""
    if event not in EVENTS:
        raise ValueError(f"unknown ledger event {event!r}")
    entry = {
        "schema": SCHEMA,
        "seq": seq,
        "at": isoformat(at),
        "event": event,
        "subject": subject[:512],
        "actor": actor[:200],
        "data": json.loads(compact_json(data)),
        "prev_hash": prev_hash,
    }
    entry["entry_hash"] = entry_hash(entry)
    return entry


def serialise(entry: dict[str, Any]) -> bytes:
    return compact_json(entry) + b"\n"


def row_to_entry(row: LedgerEntry) -> dict[str, Any]:
    entry = {
        "schema": SCHEMA,
        "seq": row.seq,
        "at": isoformat(row.at),
        "event": row.event,
        "subject": row.subject,
        "actor": row.actor,
        "data": row.data or {},
        "prev_hash": row.prev_hash,
    }
    entry["entry_hash"] = row.entry_hash
    return entry


def entry_to_row(entry: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        seq=entry["seq"],
        at=parse_time(entry["at"]),
        event=entry["event"],
        subject=entry["subject"],
        actor=entry["actor"],
        data=entry["data"],
        prev_hash=entry["prev_hash"],
        entry_hash=entry["entry_hash"],
    )


def parse_entry(data: bytes) -> dict[str, Any]:
    entry = json.loads(data.decode("utf-8"))
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
        raise ValueError("not a witnessbox ledger entry")
    return entry


class Ledger:
    """Appends to and reads the ledger of one store + catalogue pair."""

    def __init__(self, store: Store, catalogue: Catalogue, lock_path: Path | None = None) -> None:
        self.store = store
        self.catalogue = catalogue
        self.lock_path = lock_path

    # -- reading ---------------------------------------------------------------------------
    def head(self) -> dict[str, Any] | None:
        with self.catalogue.session() as session:
            row = session.scalar(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1))
            return row_to_entry(row) if row else None

    def entries(
        self, subjects: Iterable[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Catalogue entries in order: all, or those about any of ``subjects`` (their
        subject, or an id their data names; both indexed); ``limit``: the last N."""
        with self.catalogue.session() as session:
            if subjects is not None:
                rows = entries_about(session, subjects, limit)
            else:
                query = select(LedgerEntry).order_by(LedgerEntry.seq.desc())
                if limit and limit > 0:
                    query = query.limit(limit)
                rows = list(reversed(session.scalars(query).all()))
            return [row_to_entry(r) for r in rows]

    def has_event(self, event: str, subject: str) -> bool:
        with self.catalogue.session() as session:
            return bool(
                session.scalar(
                    select(func.count())
                    .select_from(LedgerEntry)
                    .where(LedgerEntry.event == event, LedgerEntry.subject == subject)
                )
            )

    # -- appending -------------------------------------------------------------------------
    def append(
        self, event: str, subject: str, actor: str, data: dict[str, Any], at: datetime
    ) -> dict[str, Any]:
        from preservation.runtime import file_lock

        if self.lock_path is None:
            return self._append(event, subject, actor, data, at)
        with file_lock(self.lock_path):
            return self._append(event, subject, actor, data, at)

    def _append(
        self, event: str, subject: str, actor: str, data: dict[str, Any], at: datetime
    ) -> dict[str, Any]:
        for _attempt in range(100):
            tail = self.sync_tail()
            seq = tail["seq"] + 1 if tail else 1
            prev = tail["entry_hash"] if tail else GENESIS
            entry = build_entry(seq, at, event, subject, actor, data, prev)
            try:
                self.store.put_bytes(ledger_key(seq), serialise(entry))
            except ObjectExistsError:
                continue  # another writer took this seq: index its entry, then try seq+1
            self._insert(entry)
            return entry
        raise StorageError("could not append to the custody ledger: too much contention")

    def _insert(self, entry: dict[str, Any]) -> None:
        try:
            with self.catalogue.session.begin() as session:
                session.add(entry_to_row(entry))
                session.flush()  # the entry before the ids it names (their foreign key)
                index_mentions(session, entry["seq"], entry["subject"], entry["data"])
        except DBIntegrityError:  # another process indexed it from the store meanwhile
            with self.catalogue.session() as session:
                row = session.get(LedgerEntry, entry["seq"])
                if row is None or row.entry_hash != entry["entry_hash"]:
                    raise IntegrityError(
                        f"ledger entry {entry['seq']} differs between catalogue and store",
                        [Problem("ledger-fork", ledger_key(entry["seq"]))],
                    ) from None

    def sync_tail(self) -> dict[str, Any] | None:
        """Index store entries past the catalogue's head; return the head."""
        tail = self.head()
        while True:
            seq = tail["seq"] + 1 if tail else 1
            key = ledger_key(seq)
            if not self.store.exists(key):
                return tail
            try:
                entry = parse_entry(self.store.read_bytes(key))
            except (ValueError, UnicodeDecodeError) as exc:
                raise IntegrityError(
                    f"unreadable ledger entry {key}: run `witnessbox ledger verify`",
                    [Problem("unreadable", key, str(exc))],
                ) from None
            expected_prev = tail["entry_hash"] if tail else GENESIS
            if (
                entry.get("seq") != seq
                or entry_hash(entry) != entry.get("entry_hash")
                or entry.get("prev_hash") != expected_prev
            ):
                raise IntegrityError(
                    f"ledger entry {key} in the store does not continue the chain: "
                    "run `witnessbox ledger verify`",
                    [Problem("broken-chain", key)],
                )
            self._insert(entry)
            tail = entry


# -- the runtime's ledger and the capture events ----------------------------------------------
def ledger_for(rt: Runtime) -> Ledger:
    return Ledger(rt.store, rt.catalogue, rt.settings.home / "locks" / "ledger.lock")


def actor_of(rt: Runtime) -> str:
    """Who acts: the CLI user, or the Airflow task (``airflow:<dag>/<task>``)."""
    run = rt.run_context or {}
    if run.get("dag_id"):
        return f"airflow:{run.get('dag_id')}/{run.get('task_id', '')}".rstrip("/")
    return str(run.get("user") or rt.settings.operator)


def record_capture(rt: Runtime, manifest: dict[str, Any], key: str, digest: str) -> None:
    """Ledger events for a committed capture; idempotent (a resumed commit adds none)."""
    ledger = ledger_for(rt)
    capture = manifest["capture"]
    source = manifest["source"]
    actor = actor_of(rt)
    now = rt.clock()
    if not ledger.has_event("captured", capture["id"]):
        ledger.append(
            "captured",
            capture["id"],
            actor,
            {
                "source_id": source["id"],
                "url": source["url"],
                "case": source.get("case"),
                "status": capture["status"],
                "started_at": capture["started_at"],
                "finished_at": capture["finished_at"],
                "collector": capture["collector"],
                "run": capture.get("run") or {},
            },
            now,
        )
    if not ledger.has_event("stored", key):
        signing = manifest.get("signing") or {}
        ledger.append(
            "stored",
            key,
            actor,
            {
                "capture_id": capture["id"],
                "manifest_sha256": digest,
                "key_fingerprint": signing.get("key_fingerprint"),
                "store": manifest.get("store"),
                "artifacts": [[a["key"], a["size"]] for a in manifest["artifacts"]],
            },
            now,
        )


# -- verification ---------------------------------------------------------------------------
@dataclass
class LedgerReport(Findings):
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    indexed: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "indexed_from_store": self.indexed,
            "problems": self.problem_dicts(),
        }


def _store_entries(store: Store, problems: list[Problem]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key in store.list(PREFIX):
        seq = seq_of(key)
        if seq is None:
            problems.append(Problem("unexpected-object", key, "not a ledger entry name"))
            continue
        try:
            entry = parse_entry(store.read_bytes(key))
        except (StorageError, ValueError, UnicodeDecodeError) as exc:
            problems.append(Problem("unreadable", key, str(exc)))
            continue
        if entry.get("seq") != seq:
            problems.append(
                Problem("moved-entry", key, f"holds entry {entry.get('seq')}, not {seq}")
            )
            continue
        found[seq] = entry
    return found


def verify_ledger(
    store: Store, catalogue: Catalogue, anchors: Iterable[tuple[int, str, str]] = ()
) -> LedgerReport:
    """Check the chain in the store mirror and the catalogue, and that they agree.

    ``anchors`` are (seq, entry_hash, where) pairs recorded elsewhere (seal batches time-
    stamp the ledger head): they catch a ledger truncated after its last entry was sealed.
    """
    report = LedgerReport()
    problems = report.problems
    ledger = Ledger(store, catalogue)
    with catalogue.session() as session:
        rows = {r.seq: row_to_entry(r) for r in session.scalars(select(LedgerEntry))}
    stored = _store_entries(store, problems)
    top_catalogue = max(rows, default=0)
    # entries the catalogue has not indexed yet (a crash between the two writes, another
    # host): index them when they continue the chain, as the next append would
    if max(stored, default=0) > top_catalogue:
        try:
            before = len(rows)
            ledger.sync_tail()
            with catalogue.session() as session:
                rows = {r.seq: row_to_entry(r) for r in session.scalars(select(LedgerEntry))}
            report.indexed = len(rows) - before
        except IntegrityError:
            pass  # the chain check below names the entry
    top = max([*rows, *stored], default=0)
    prev_hash = GENESIS
    for seq in range(1, top + 1):
        key = ledger_key(seq)
        in_store, in_cat = stored.get(seq), rows.get(seq)
        chosen: dict[str, Any] | None = None
        if in_store is not None:
            if entry_hash(in_store) != in_store.get("entry_hash"):
                problems.append(Problem("changed-entry", key, "content does not match its hash"))
            else:
                chosen = in_store
        elif not any(p.subject == key for p in problems):
            problems.append(Problem("missing-entry", key, "removed from the store"))
        if in_cat is not None:
            if entry_hash(in_cat) != in_cat["entry_hash"]:
                problems.append(
                    Problem(
                        "changed-entry",
                        f"catalogue ledger seq {seq}",
                        "content does not match its hash",
                    )
                )
            elif in_store is not None and in_cat != in_store:
                problems.append(
                    Problem(
                        "mismatch",
                        f"catalogue ledger seq {seq}",
                        f"differs from {key}",
                    )
                )
            chosen = chosen or (in_cat if entry_hash(in_cat) == in_cat["entry_hash"] else None)
        elif in_store is not None:
            problems.append(
                Problem("missing-entry", f"catalogue ledger seq {seq}", "not in the catalogue")
            )
        if chosen is None:
            prev_hash = (in_store or in_cat or {}).get("entry_hash", "")
            continue
        if chosen.get("prev_hash") != prev_hash and prev_hash:
            problems.append(
                Problem(
                    "broken-chain",
                    key,
                    f"prev_hash does not match entry {seq - 1} (reordered or an entry changed)",
                )
            )
        prev_hash = chosen["entry_hash"]
        report.entries += 1
        report.head_seq, report.head_hash = seq, chosen["entry_hash"]
    for seq, expected, where in anchors:
        actual = (stored.get(seq) or rows.get(seq) or {}).get("entry_hash")
        if actual != expected:
            problems.append(
                Problem(
                    "truncated" if actual is None else "changed-entry",
                    ledger_key(seq),
                    f"{where} recorded entry {seq} as {expected[:16]}…",
                )
            )
    return report


def restore(store: Store, catalogue: Catalogue) -> tuple[int, list[Problem]]:
    """Reindex: copy the store's ledger into an empty or shorter catalogue ledger."""
    ledger = Ledger(store, catalogue)
    before = ledger.head()
    try:
        after = ledger.sync_tail()
    except IntegrityError as exc:
        return 0, exc.details or [Problem("broken-chain", PREFIX, str(exc))]
    return (after["seq"] if after else 0) - (before["seq"] if before else 0), []


def iter_store_entries(store: Store) -> Iterator[dict[str, Any]]:
    for key in store.list(PREFIX):
        if seq_of(key) is not None:
            yield parse_entry(store.read_bytes(key))
