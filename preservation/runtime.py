"""The runtime: settings, store, catalogue and network policy, opened once per command or task.

It sits above the store and the catalogue and below custody and the commit protocol, which
take a ``Runtime``; nothing it imports takes one back. ``file_lock`` is the host-local lock
the ledger and the seal use to keep one writer per home.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.base import Collector
from hashing.enrich import Enricher
from hashing.metadata import ReaderPool
from kernel.ids import uuid7
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from preservation.catalogue import live_index
from preservation.catalogue.leases import worker_name
from preservation.catalogue.models import Catalogue
from preservation.store import Store, open_store


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a capture needs, built once per CLI command or DAG task."""

    settings: Settings
    store: Store
    catalogue: Catalogue
    policy: NetworkPolicy
    clock: Callable[[], datetime] = _utcnow
    new_id: Callable[[], str] = uuid7
    run_context: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str], None] = lambda message: None
    #: how a commit gets its Enricher; by default one on this runtime's warm exiftools
    enricher_factory: Callable[[], Enricher] | None = None
    metadata_readers: ReaderPool = field(default_factory=ReaderPool)
    collectors: dict[str, Collector] = field(default_factory=dict)
    #: this process as named in source leases (catalogue/leases.py)
    worker: str = field(default_factory=worker_name)
    replicas: list[Any] = field(default_factory=list)  # store.replicas.Replica, in settings order
    replicator: Any = None  # replication.Replicator when there are replicas

    @property
    def primary(self) -> Store:
        """The primary store itself (``store`` queues what it writes for the replicas)."""
        return getattr(self.store, "primary", self.store)

    def replica(self, name: str) -> Any:
        from kernel.errors import InputError

        for replica in self.replicas:
            if replica.name == name:
                return replica
        known = ", ".join(r.name for r in self.replicas) or "none configured"
        raise InputError(f"unknown replica {name!r} (replicas: {known})")

    def enricher(self) -> Enricher:
        """An Enricher for one commit (it borrows one of this runtime's exiftools)."""
        if self.enricher_factory is not None:
            return self.enricher_factory()
        return Enricher(readers=self.metadata_readers)

    def collector(self, kind: str) -> Collector:
        if kind not in self.collectors:
            from collectors.registry import get_collector

            self.collectors[kind] = get_collector(kind)
        return self.collectors[kind]

    def close(self) -> None:
        for collector in self.collectors.values():
            close = getattr(collector, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self.metadata_readers.close()
        if self.replicator is not None:
            self.replicator.wait()  # let queued copies finish; what fails stays queued
        for replica in self.replicas:
            replica.store.close()
        self.store.close()
        self.catalogue.close()


def open_runtime(settings: Settings, **kwargs: Any) -> Runtime:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.staging.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store, **settings.s3_options())
    catalogue = Catalogue.open(settings.catalogue)
    if catalogue.engine.dialect.name != "sqlite":  # SQLite keeps them beside its file
        live_index.place_snapshots(catalogue.engine, settings.home / "index")
    policy = NetworkPolicy(
        allow_private=settings.allow_private_networks,
        allow_metadata=settings.allow_cloud_metadata,
    )
    rt = Runtime(settings=settings, store=store, catalogue=catalogue, policy=policy, **kwargs)
    if settings.replicas:
        from preservation.replication import QueuedStore, Replicator
        from preservation.store.replicas import open_replicas

        rt.replicas = open_replicas(settings)
        rt.replicator = Replicator(catalogue, store, rt.replicas, rt.clock)
        rt.store = QueuedStore(
            store, catalogue, [r.name for r in rt.replicas], rt.clock, rt.replicator.notify
        )
    return rt


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock that dies with its process (so SIGKILL never leaves it held)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
