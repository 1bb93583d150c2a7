"""Replicas follow the primary through a durable queue in the catalogue.

A capture is committed once the primary holds it. ``QueuedStore`` wraps the primary: every
object it stores (blobs, manifests, signatures, seals, ledger entries) is recorded in the
``replication`` table once per replica, *before* the primary write whenever its key is known
then (every named object, and blobs hashed in staging), so a crash between the write and
the queue cannot leave a copy unmade. ``Replicator`` copies queued objects in a background
thread while the commit goes on (so replica writes overlap primary writes), confirms each
copy's sha256, and deletes the row only then; a row whose object is not on the primary yet
waits (its write may be running), and is dropped a day later (that write failed). A replica
that is down keeps its rows and is retried after ``RETRY_AFTER``; ``witnessbox replicas
sync`` (and the DAGs) drain what is left, and ``reconcile`` re-queues what only a listing
finds (a replica added late, a blob hashed while written when the process died).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, func, select

from hashing.crypto import Digests
from kernel.errors import ObjectExistsError, WitnessboxError
from preservation.catalogue.models import Catalogue
from preservation.catalogue.replication_models import ReplicaState, ReplicationItem
from preservation.store import ObjectInfo, Store, blob_key, is_blob_key
from preservation.store.replicas import Replica

log = logging.getLogger("witnessbox.replication")
BATCH = 200
RETRY_AFTER = 30.0  # seconds before a replica that failed is tried again in this process
#: a row queued before its primary write whose object is still absent this long after was
#: left by a write that failed (a crash, the store down): there is nothing to copy
NEVER_WRITTEN_AFTER = 24 * 3600.0


def enqueue(catalogue: Catalogue, replicas: list[str], keys: list[str], now: datetime) -> None:
    """Record that each replica still lacks each key (idempotent)."""
    if not replicas or not keys:
        return
    rows = [
        {"replica": r, "key": k, "enqueued_at": now, "attempts": 0} for r in replicas for k in keys
    ]
    dialect = catalogue.engine.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(ReplicationItem).on_conflict_do_nothing(index_elements=["replica", "key"])
    with catalogue.session.begin() as session:
        session.execute(statement, rows)


class QueuedStore(Store):
    """The primary store, queueing every object it stores for the replicas."""

    def __init__(
        self,
        primary: Store,
        catalogue: Catalogue,
        replicas: list[str],
        clock: Callable[[], datetime],
        notify: Callable[[], None],
    ) -> None:
        self.primary = primary
        self.url = primary.url
        self._catalogue = catalogue
        self._replicas = list(replicas)
        self._clock = clock
        self._notify = notify

    def __getattr__(self, name: str) -> Any:  # backend extras (path, ensure_bucket, bucket)
        return getattr(self.primary, name)

    def _intend(self, key: str) -> None:
        """Queue ``key`` before the primary write: a crash right after the write then
        leaves its row behind instead of a copy nobody knows to make."""
        enqueue(self._catalogue, self._replicas, [key], self._clock())

    def _queued(self, key: str) -> None:  # after a write whose key only it could tell
        self._intend(key)
        self._notify()

    def put_file(self, path: Path) -> Digests:  # the digest is known only once written
        digests = self.primary.put_file(path)
        self._queued(blob_key(digests.sha256))
        return digests

    def put_hashed_file(self, path: Path, known: Digests, *, inode: int, mtime_ns: int) -> Digests:
        self._intend(blob_key(known.sha256))
        digests = self.primary.put_hashed_file(path, known, inode=inode, mtime_ns=mtime_ns)
        if digests.sha256 != known.sha256:  # the file changed since it was hashed
            self._queued(blob_key(digests.sha256))
        self._notify()
        return digests

    def put_stream(self, stream: BinaryIO) -> Digests:  # likewise
        digests = self.primary.put_stream(stream)
        self._queued(blob_key(digests.sha256))
        return digests

    def put_blob_stream(self, stream: BinaryIO, sha256: str) -> None:
        self._intend(blob_key(sha256))
        self.primary.put_blob_stream(stream, sha256)
        self._notify()

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self._intend(key)
        self.primary.put_bytes(key, data, content_type)
        self._notify()

    def put_object_file(
        self, key: str, path: Path, sha256: str | None, *, replace: bool = False
    ) -> str:
        return self.primary.put_object_file(key, path, sha256, replace=replace)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.primary.open(key)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.primary.stat(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.primary.list(prefix)

    @property
    def supports_retention(self) -> bool:
        return self.primary.supports_retention

    def describe(self) -> str:
        return self.primary.describe()

    def close(self) -> None:
        self.primary.close()


def copy_object(source: Store, target: Store, key: str) -> bool:
    """Copy ``key`` unless ``target`` has it; True when bytes were written.

    Blobs are confirmed by their sha256 as they are written; named objects are put-if-absent,
    so a copy that exists with other bytes raises ``ObjectExistsError`` (a repair's job).
    """
    if is_blob_key(key):
        if target.exists(key):
            return False
        with source.open(key) as stream:
            target.put_blob_stream(stream, key.rsplit("/", 1)[1])
        return True
    target.put_bytes(key, source.read_bytes(key))
    return True


class Replicator:
    """Drains the queue into the replicas, in a background thread woken by each write."""

    def __init__(
        self,
        catalogue: Catalogue,
        primary: Store,
        replicas: list[Replica],
        clock: Callable[[], datetime],
    ) -> None:
        self.catalogue = catalogue
        self.primary = primary
        self.replicas = {r.name: r for r in replicas}
        self.clock = clock
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None
        self._down_until: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    # -- background ------------------------------------------------------------------------
    def notify(self) -> None:
        with self._lock:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="witnessbox-replicator", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            try:
                self.drain()
            except Exception:  # the queue keeps every row: a later drain retries
                log.exception("replication pass failed")

    def wait(self) -> None:
        """Block until the background thread has drained what it could."""
        while True:
            with self._lock:
                thread = self._thread
            if thread is None:
                return
            thread.join()

    # -- draining --------------------------------------------------------------------------
    def drain(self, names: list[str] | None = None, force: bool = False) -> dict[str, dict]:
        """Copy every queued object to its replica; per replica: copied, left, error."""
        result: dict[str, dict] = {}
        for name in names or list(self.replicas):
            if name not in self.replicas:
                continue
            if not force and self._down_until.get(name, 0) > time.monotonic():
                result[name] = {"copied": 0, "error": self.errors.get(name, "")}
                continue
            copied, error = self._drain_one(self.replicas[name])
            result[name] = {"copied": copied, "error": error}
        return result

    def _drain_one(self, replica: Replica) -> tuple[int, str]:
        copied = 0
        last_id = 0
        while True:
            with self.catalogue.session() as session:
                rows = session.execute(
                    select(ReplicationItem.id, ReplicationItem.key, ReplicationItem.enqueued_at)
                    .where(ReplicationItem.replica == replica.name, ReplicationItem.id > last_id)
                    .order_by(ReplicationItem.id)
                    .limit(BATCH)
                ).all()
            if not rows:
                self._state(replica.name, error=None)
                self._down_until.pop(replica.name, None)
                self.errors.pop(replica.name, None)
                return copied, ""
            for row_id, key, enqueued_at in rows:
                last_id = row_id
                try:
                    on_primary = self.primary.stat(key) is not None
                except WitnessboxError as exc:  # the primary's trouble: keep the row, go on
                    self._failed(row_id, f"primary: {exc}")
                    continue
                if not on_primary:
                    self._not_yet_written(row_id, key, enqueued_at)
                    continue
                try:
                    copy_object(self.primary, replica.store, key)
                except ObjectExistsError as exc:  # damage for `verify --repair`, not an outage
                    self._failed(
                        row_id, f"{replica.name}: {exc} (run `witnessbox verify --repair`)"
                    )
                    continue
                except WitnessboxError as exc:
                    message = f"{replica.name}: {exc}"
                    self._failed(row_id, message)
                    self._state(replica.name, error=message)
                    self._down_until[replica.name] = time.monotonic() + RETRY_AFTER
                    self.errors[replica.name] = message
                    log.warning("replica %s is behind: %s", replica.name, exc)
                    return copied, message
                with self.catalogue.session.begin() as session:
                    session.execute(delete(ReplicationItem).where(ReplicationItem.id == row_id))
                copied += 1

    def _not_yet_written(self, row_id: int, key: str, enqueued_at: datetime) -> None:
        """A row queued before its primary write: still being written (keep it quietly),
        or the write failed long ago (nothing to copy: drop the row, say so)."""
        age = self.clock().replace(tzinfo=None) - enqueued_at.replace(tzinfo=None)
        if age.total_seconds() < NEVER_WRITTEN_AFTER:
            return
        log.warning("dropping the queue row of %s: never written to the primary", key)
        with self.catalogue.session.begin() as session:
            session.execute(delete(ReplicationItem).where(ReplicationItem.id == row_id))

    def _failed(self, row_id: int, message: str) -> None:
        with self.catalogue.session.begin() as session:
            row = session.get(ReplicationItem, row_id)
            if row is not None:
                row.attempts += 1
                row.last_error = message[:2000]
                row.last_attempt_at = self.clock()

    def _state(self, name: str, *, error: str | None) -> None:
        with self.catalogue.session.begin() as session:
            state = session.get(ReplicaState, name) or ReplicaState(replica=name)
            state.last_sync_at = self.clock()
            state.last_error = error[:2000] if error else None
            session.add(state)


def reconcile(rt: Any, names: list[str] | None = None) -> dict[str, int]:
    """Queue every primary object a replica lacks (after a crash, or a replica added late)."""
    primary_keys = set(rt.store.list(""))
    queued: dict[str, int] = {}
    for replica in rt.replicas:
        if names and replica.name not in names:
            continue
        missing = sorted(primary_keys - set(replica.store.list("")))
        enqueue(rt.catalogue, [replica.name], missing, rt.clock())
        queued[replica.name] = len(missing)
    return queued


def status(rt: Any) -> list[dict[str, Any]]:
    """Per replica: objects behind, the oldest missing, last sync and last check."""
    out = []
    with rt.catalogue.session() as session:
        for replica in rt.replicas:
            behind, oldest = session.execute(
                select(func.count(ReplicationItem.id), func.min(ReplicationItem.enqueued_at)).where(
                    ReplicationItem.replica == replica.name
                )
            ).one()
            first = session.execute(
                select(ReplicationItem.key, ReplicationItem.last_error)
                .where(ReplicationItem.replica == replica.name)
                .order_by(ReplicationItem.id)
                .limit(1)
            ).first()
            state = session.get(ReplicaState, replica.name)
            out.append(
                {
                    **replica.describe(),
                    "behind": int(behind or 0),
                    "oldest_missing": first[0] if first else None,
                    "oldest_missing_since": oldest,
                    "last_sync_at": state.last_sync_at if state else None,
                    "last_error": (state.last_error if state else None)
                    or (first[1] if first else None),
                    "last_check_at": state.last_check_at if state else None,
                    "last_check_ok": state.last_check_ok if state else None,
                }
            )
    return out


def pending_keys(catalogue: Catalogue, name: str) -> set[str]:
    with catalogue.session() as session:
        return set(
            session.scalars(select(ReplicationItem.key).where(ReplicationItem.replica == name))
        )


def record_check(catalogue: Catalogue, name: str, ok: bool, at: datetime) -> None:
    with catalogue.session.begin() as session:
        state = session.get(ReplicaState, name) or ReplicaState(replica=name)
        state.last_check_at = at
        state.last_check_ok = ok
        session.add(state)
