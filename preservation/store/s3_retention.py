"""S3 Object Lock for the S3 store: whether the bucket has it, the retention every write
asks for, extending an existing object's retention, and checking what the server kept.

Retention is only ever extended (a blob reused by a later capture is kept as long as that
capture), never shortened, and an object's mode is never downgraded.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from minio.error import S3Error
from minio.retention import Retention

from kernel.errors import StorageError
from preservation.store.base import ObjectInfo
from preservation.store.s3_wire import NO_LOCK

#: An existing object's retention is extended only when it falls short by more than this.
RETENTION_SLACK = timedelta(hours=1)


class _Bucket(Protocol):
    """What ``ObjectLock`` uses of its ``S3Store``."""

    bucket: str
    url: str
    retention_days: int
    retention_mode: str

    @property
    def client(self) -> Any: ...

    def _name(self, key: str) -> str: ...

    def _errors(self, action: str) -> AbstractContextManager[None]: ...


class ObjectLock:
    """The Object Lock side of one ``S3Store`` (asked of the bucket once, then cached)."""

    def __init__(self, store: _Bucket) -> None:
        self.store = store
        self._enabled: bool | None = None

    def forget(self) -> None:
        """Ask the bucket again next time (after creating it)."""
        self._enabled = None

    @property
    def enabled(self) -> bool:
        """True when the bucket has Object Lock enabled."""
        if self._enabled is None:
            try:
                with self.store._errors("reading the Object Lock configuration"):
                    self.store.client.get_object_lock_config(self.store.bucket)
                self._enabled = True
            except StorageError as exc:
                cause = exc.__cause__
                if isinstance(cause, S3Error) and cause.code in NO_LOCK:
                    self._enabled = False
                else:
                    raise
        return self._enabled

    def wanted(self) -> Retention | None:
        """The retention a write made now asks for (None: retention off or no lock)."""
        store = self.store
        if store.retention_days <= 0 or not self.enabled:
            return None
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=store.retention_days)
        return Retention(store.retention_mode, until)

    def extend(self, key: str, info: ObjectInfo) -> None:
        """Keep an existing object at least as long as a new write would be kept."""
        wanted = self.wanted()
        if wanted is None:
            return
        if info.retain_until and info.retain_until + RETENTION_SLACK >= wanted.retain_until_date:
            return
        store = self.store
        mode = info.retention_mode or store.retention_mode  # never downgrade a mode
        with store._errors(f"extending the retention of {key}"):
            store.client.set_object_retention(
                store.bucket, store._name(key), Retention(mode, wanted.retain_until_date)
            )

    def check(self, key: str, info: ObjectInfo, wanted: Retention | None) -> None:
        """Refuse an object the server kept without (or with less than) the retention asked."""
        if wanted is None:
            return
        if info.retention_mode is None or info.retain_until is None:
            url = self.store.url
            raise StorageError(f"{key} was stored without Object Lock retention on {url}")
        if info.retain_until + timedelta(seconds=1) < wanted.retain_until_date:
            raise StorageError(f"{key} was stored with a shorter retention than asked")
