"""The replicas named in the settings, opened as stores (encrypted where asked)."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.replicas import ReplicaSpec
from kernel.settings import Settings
from preservation.store.base import Store
from preservation.store.factory import open_store


@dataclass
class Replica:
    """One copy beside the primary: its name (``replica=offsite`` in reports) and its store."""

    name: str
    store: Store
    spec: ReplicaSpec

    @property
    def encryption(self) -> str | None:
        """The algorithm witnessbox encrypts with, or None (plaintext, or server-side only)."""
        return getattr(self.store, "algorithm", None)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "url": self.store.url,
            "encryption": self.encryption,
            "server_side_encryption": self.spec.sse or None,
        }


def replica_retention(settings: Settings, spec: ReplicaSpec) -> tuple[int, str]:
    """(days, mode) of Object Lock on this replica: its own values, else the primary's."""
    days = settings.retention_days if spec.retention_days is None else spec.retention_days
    return days, spec.retention_mode or settings.retention_mode


def open_replica(settings: Settings, spec: ReplicaSpec) -> Replica:
    options: dict[str, object] = {}
    if spec.url.startswith("s3://"):
        options = {
            "endpoint": spec.endpoint or settings.s3_endpoint,
            "access_key": spec.access_key,
            "secret_key": spec.secret_key,
            "secure": spec.secure,
            "region": spec.region or None,
            "retention_days": replica_retention(settings, spec)[0],
            "retention_mode": replica_retention(settings, spec)[1],
            "sse": spec.sse,
            "spool_dir": settings.staging,
        }
    store = open_store(spec.url, **options)
    if spec.encrypt:
        from preservation.store.encrypted import EncryptedStore

        # ciphertext is spooled beside a file replica (then linked into place), else in staging
        spool = getattr(store, "root", None)
        spool = spool / ".tmp" if spool is not None else settings.staging
        previous = [k for k in settings.kek_previous.split(",") if k.strip()]
        store = EncryptedStore(store, settings.kek, spool_dir=spool, previous=previous)
    return Replica(spec.name, store, spec)


def open_replicas(settings: Settings) -> list[Replica]:
    return [open_replica(settings, spec) for spec in settings.replicas]
