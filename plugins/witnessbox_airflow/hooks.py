"""The witnessbox hook: settings from the environment plus Airflow connections/variables.

Like a provider hook it holds connection ids and builds its client (the runtime: store,
catalogue, policy) lazily on first use; nothing connects in ``__init__``. A task uses it
as a context manager, so the runtime is closed when the task ends::

    with WitnessboxHook(run_context()) as hook:
        capture_source_id(hook.get_conn(), source_id)

Connections:

- ``witnessbox_s3``: host = endpoint (``minio:9000``), login/password = access/secret key,
  schema = bucket, extra ``{"secure": false, "region": "...", "prefix": "..."}``.
- ``witnessbox_telegram``: login = api_id, password = api_hash, extra ``{"session": "..."}``.
- ``witnessbox_signing``: password = the Ed25519 private key (PEM).
- ``witnessbox_kek``: password = the key-encryption key of encrypted replicas.

Variables ``witnessbox_<setting>`` (e.g. ``witnessbox_retention_days``) override settings.
A connection or variable that is not defined falls back to the environment; a secrets
backend that fails (unreachable, access denied) is an error, never a silent fallback:
running on the wrong bucket or without the signing key would be worse than not running.
Secrets stay in connections; nothing here logs them.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from airflow.sdk import BaseHook

from kernel.errors import ConfigError
from kernel.settings import Settings, load_settings

S3_CONN_ID = "witnessbox_s3"
TELEGRAM_CONN_ID = "witnessbox_telegram"
SIGNING_CONN_ID = "witnessbox_signing"
KEK_CONN_ID = "witnessbox_kek"  # password: the replicas' key-encryption key (base64 or hex)
VARIABLE_PREFIX = "witnessbox_"


def _not_found(exc: Exception) -> bool:
    """Only Airflow's "not defined" answers mean "use the environment"."""
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError, ErrorType

    if isinstance(exc, AirflowNotFoundException):
        return True
    not_found = (ErrorType.CONNECTION_NOT_FOUND, ErrorType.VARIABLE_NOT_FOUND)
    return isinstance(exc, AirflowRuntimeError) and getattr(exc.error, "error", None) in not_found


def _secrets_error(what: str, exc: Exception) -> ConfigError:
    # the type only: a backend's message may quote the secret it failed to parse
    return ConfigError(
        f"cannot read Airflow {what}: {type(exc).__name__} from the secrets backend "
        "(witnessbox does not fall back to the environment when a backend fails)",
        exit_code=1,
    )


def connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, or None when it is not defined."""
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise _secrets_error(f"connection {conn_id}", exc) from exc


def variable(name: str) -> str | None:
    """The Airflow variable ``name``, or None when it is not defined."""
    from airflow.sdk import Variable

    try:
        return Variable.get(name, default=None)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise _secrets_error(f"variable {name}", exc) from exc


def _extra(conn: Any) -> dict[str, Any]:
    raw = getattr(conn, "extra", None) or "{}"
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}  # a JSON list or number is no extra


def airflow_overrides(
    s3_conn_id: str = S3_CONN_ID,
    telegram_conn_id: str = TELEGRAM_CONN_ID,
    signing_conn_id: str = SIGNING_CONN_ID,
) -> dict[str, Any]:
    """Setting overrides from the witnessbox connections and variables."""
    overrides: dict[str, Any] = {}
    s3 = connection(s3_conn_id)
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
    telegram = connection(telegram_conn_id)
    if telegram is not None:
        overrides.update(
            telegram_api_id=telegram.login or "",
            telegram_api_hash=telegram.password or "",
            telegram_session=_extra(telegram).get("session", ""),
        )
    signing = connection(signing_conn_id)
    if signing is not None and signing.password:
        overrides["signing_key_pem"] = signing.password  # the Ed25519 private key, PEM
    kek = connection(KEK_CONN_ID)
    if kek is not None and kek.password:
        overrides["kek"] = kek.password
    for name, spec in Settings.__dataclass_fields__.items():
        if "secret" in spec.metadata:
            continue  # secrets only from connections or the environment
        value = variable(VARIABLE_PREFIX + name)
        if value is not None:
            overrides[name] = value
    return overrides


class WitnessboxHook(BaseHook):
    """Connection ids plus a lazily built, cached runtime; ``close()`` releases it."""

    conn_name_attr = "s3_conn_id"
    default_conn_name = S3_CONN_ID
    hook_name = "witnessbox"

    def __init__(
        self,
        run_context: dict[str, Any] | None = None,
        *,
        s3_conn_id: str = S3_CONN_ID,
        telegram_conn_id: str = TELEGRAM_CONN_ID,
        signing_conn_id: str = SIGNING_CONN_ID,
    ) -> None:
        super().__init__()
        self.run_context = dict(run_context or {})
        self.s3_conn_id = s3_conn_id
        self.telegram_conn_id = telegram_conn_id
        self.signing_conn_id = signing_conn_id
        self._settings: Settings | None = None
        self._runtime: Any = None
        self._lock = threading.Lock()  # the UI serves requests from a thread pool

    def settings(self) -> Settings:
        """The environment's settings with the connections and variables laid over them."""
        if self._settings is None:
            overrides = airflow_overrides(
                self.s3_conn_id, self.telegram_conn_id, self.signing_conn_id
            )
            self._settings = load_settings(os.environ, **overrides)
        return self._settings

    def get_conn(self) -> Any:
        """The runtime (store, catalogue, policy), opened on first use and then reused."""
        with self._lock:
            if self._runtime is None:
                from preservation.runtime import open_runtime

                self._runtime = open_runtime(self.settings(), run_context=dict(self.run_context))
            return self._runtime

    runtime = get_conn

    def close(self) -> None:
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close()

    def __enter__(self) -> WitnessboxHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
