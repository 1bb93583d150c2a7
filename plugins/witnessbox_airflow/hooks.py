"""The witnessbox hook: settings from the environment plus Airflow connections/variables.

Like a provider hook, it holds connection ids and builds its client (the runtime) lazily,
once per process. Connections:

- ``witnessbox_s3``: host = endpoint (``minio:9000``), login/password = access/secret key,
  schema = bucket, extra ``{"secure": false, "region": "...", "prefix": "..."}``.
- ``witnessbox_telegram``: login = api_id, password = api_hash, extra ``{"session": "..."}``.
- ``witnessbox_kek``: password = the key-encryption key of encrypted replicas.

Variables ``witnessbox_<setting>`` (e.g. ``witnessbox_retention_days``) override settings.
Secrets stay in connections; nothing here logs them.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from kernel.settings import Settings, load_settings

log = logging.getLogger(__name__)
S3_CONN_ID = "witnessbox_s3"
TELEGRAM_CONN_ID = "witnessbox_telegram"
SIGNING_CONN_ID = "witnessbox_signing"
KEK_CONN_ID = "witnessbox_kek"  # password: the replicas' key-encryption key (base64 or hex)
VARIABLE_PREFIX = "witnessbox_"


def _connection(conn_id: str) -> Any | None:
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id)
    except Exception:  # not defined (or no Airflow context): settings fall back to env
        return None


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:
        return None


def _extra(conn: Any) -> dict[str, Any]:
    raw = getattr(conn, "extra", None) or "{}"
    try:
        return json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError:
        return {}


def airflow_overrides() -> dict[str, Any]:
    """Setting overrides from the witnessbox connections and variables."""
    overrides: dict[str, Any] = {}
    s3 = _connection(S3_CONN_ID)
    if s3 is not None:
        extra = _extra(s3)
        endpoint = s3.host + (f":{s3.port}" if getattr(s3, "port", None) else "")
        overrides.update(
            s3_endpoint=endpoint, s3_access_key=s3.login or "", s3_secret_key=s3.password or ""
        )
        if "secure" in extra:
            overrides["s3_secure"] = extra["secure"]
        if extra.get("region"):
            overrides["s3_region"] = extra["region"]
        if s3.schema:
            prefix = f"/{extra['prefix'].strip('/')}" if extra.get("prefix") else ""
            overrides["store"] = f"s3://{s3.schema}{prefix}"
    telegram = _connection(TELEGRAM_CONN_ID)
    if telegram is not None:
        overrides.update(
            telegram_api_id=telegram.login or "",
            telegram_api_hash=telegram.password or "",
            telegram_session=_extra(telegram).get("session", ""),
        )
    signing = _connection(SIGNING_CONN_ID)
    if signing is not None and signing.password:
        overrides["signing_key_pem"] = signing.password  # the Ed25519 private key, PEM
    kek = _connection(KEK_CONN_ID)
    if kek is not None and kek.password:
        overrides["kek"] = kek.password
    for name in Settings.__dataclass_fields__:
        if "secret" in Settings.__dataclass_fields__[name].metadata:
            continue  # secrets only from connections or the environment
        value = _variable(VARIABLE_PREFIX + name)
        if value is not None:
            overrides[name] = value
    return overrides


class WitnessboxHook:
    """Builds (once) the settings and runtime a task uses."""

    _runtime: Any = None

    def __init__(self, run_context: dict[str, Any] | None = None) -> None:
        self.run_context = run_context or {}

    def settings(self) -> Settings:
        overrides = airflow_overrides()
        return load_settings(os.environ, **overrides)

    def runtime(self) -> Any:
        from preservation.runtime import open_runtime

        if WitnessboxHook._runtime is None:
            WitnessboxHook._runtime = open_runtime(self.settings())
        WitnessboxHook._runtime.run_context = dict(self.run_context)
        return WitnessboxHook._runtime

    @classmethod
    def reset(cls) -> None:
        if cls._runtime is not None:
            cls._runtime.close()
            cls._runtime = None
