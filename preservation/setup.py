"""``witnessbox init``: make the home, the catalogue and the store ready, idempotently."""

from __future__ import annotations

from typing import Any

from kernel.settings import Settings
from preservation.catalogue.models import Catalogue
from preservation.store import open_store

#: Extra initialisation steps (signing keys, ...) registered by other modules.
INIT_STEPS: list[Any] = []


def _custody_init(settings: Settings, store: Any) -> dict[str, Any]:
    """custody: the installation's Ed25519 signing key (0600) and its public key object."""
    from preservation.custody.signing import init_step

    return init_step(settings, store)


INIT_STEPS.append(_custody_init)


def _replicas_init(settings: Settings, store: Any) -> dict[str, Any]:
    """Each replica's bucket (with Object Lock, as the primary's) and what protects it."""
    from preservation.store.replicas import open_replica

    facts: dict[str, Any] = {}
    for spec in settings.replicas:
        replica = open_replica(settings, spec)
        inner = getattr(replica.store, "inner", replica.store)
        ensure = getattr(inner, "ensure_bucket", None)
        if callable(ensure):
            ensure()
        lock = _retention_fact(settings.replace(store=spec.url), inner)
        crypt = replica.encryption or (f"server-side ({spec.sse})" if spec.sse else "none")
        if replica.encryption and not settings.kek:
            crypt += " — NO key-encryption key is set (WITNESSBOX_KEK): writes will fail"
        facts[f"replica {spec.name}"] = (
            f"{inner.describe()}; retention: {lock}; encryption: {crypt}"
        )
        replica.store.close()
    return facts


INIT_STEPS.append(_replicas_init)


def _retention_fact(settings: Settings, store: Any) -> str:
    """Say plainly when nothing but permissions protects the evidence from deletion."""
    if store.supports_retention:
        if settings.retention_days == 0:
            return "S3 Object Lock available, but retention_days is 0: objects are not locked"
        return f"S3 Object Lock, {settings.retention_mode} for {settings.retention_days} days"
    if settings.store.startswith("s3://"):
        return (
            "NONE: this bucket has no Object Lock, so anyone with its keys can delete "
            "evidence (create the bucket with Object Lock enabled)"
        )
    return "none (filesystem: read-only files)"


def initialise(settings: Settings) -> dict[str, Any]:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.staging.mkdir(parents=True, exist_ok=True)
    catalogue = Catalogue.open(settings.catalogue)
    catalogue.close()
    store = open_store(settings.store, **settings.s3_options())
    ensure = getattr(store, "ensure_bucket", None)
    if callable(ensure):
        ensure()
    facts: dict[str, Any] = {
        "home": str(settings.home),
        "catalogue": settings.catalogue.split("@")[-1],
        "store": store.describe(),
        "retention": _retention_fact(settings, store),
        "private_networks": "allowed" if settings.allow_private_networks else "refused",
    }
    for step in INIT_STEPS:
        facts.update(step(settings, store) or {})
    store.close()
    return facts
