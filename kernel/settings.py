"""Settings: defaults, then ``witnessbox.toml``, then ``WITNESSBOX_*`` environment variables.

Inside Airflow the hooks in ``plugins/`` overlay connections and variables on top. Secrets
(S3 keys, Telegram credentials) come only from the environment, a file or a connection, and
are excluded from ``repr`` and from ``public_dict`` so they never reach logs or manifests.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.errors import ConfigError
from kernel.replicas import parse_replicas
from kernel.urls import normal_origin
from kernel.values import as_bool

ENV_PREFIX = "WITNESSBOX_"
SECRET = {"secret": True}


@dataclass
class Settings:
    home: Path = Path("./witnessbox-data")
    store: str = ""  # default: file://<home>/store
    catalogue: str = ""  # default: sqlite:///<home>/catalogue.sqlite
    s3_endpoint: str = "localhost:9000"
    s3_access_key: str = field(default="", repr=False, metadata=SECRET)
    s3_secret_key: str = field(default="", repr=False, metadata=SECRET)
    s3_secure: bool = True
    s3_region: str = ""
    retention_days: int = 3650
    retention_mode: str = "COMPLIANCE"
    allow_private_networks: bool = False
    # cloud metadata endpoints stay refused with private networks allowed; only this opens them
    allow_cloud_metadata: bool = False
    operator: str = ""
    chromium: str = "/usr/bin/chromium"
    user_agent: str = ""
    signing_key: str = ""  # default: <home>/keys/signing.pem
    # the key itself (PEM), e.g. from the Airflow connection witnessbox_signing; wins over the path
    signing_key_pem: str = field(default="", repr=False, metadata=SECRET)
    tsa_urls: str = ""  # comma-separated RFC 3161 endpoints
    lease_seconds: int = 900  # a worker's claim on a source; renewed while it captures
    audit_sample: int = 200  # captures per scheduled fixity audit (0: every capture)
    notifier: str = ""  # "smtp" or an Airflow notifier class, called when an audit fails
    notify_to: str = ""  # comma-separated e-mail addresses (notifier "smtp")
    notifier_args: str = ""  # JSON object: keyword arguments for the notifier class
    telegram_api_id: str = ""
    telegram_api_hash: str = field(default="", repr=False, metadata=SECRET)
    telegram_session: str = field(default="", repr=False, metadata=SECRET)
    telegram_preview_url: str = "https://t.me/s/"
    max_response_bytes: int = 200 * 1024 * 1024
    # an Airflow notifier class (module.Class) told when a watched item vanishes; its
    # keyword arguments as JSON (may hold a webhook URL: a secret)
    change_notifier: str = ""
    change_notifier_args: str = field(default="", repr=False, metadata=SECRET)
    max_capture_bytes: int = 2 * 1024 * 1024 * 1024
    # copies beside the primary store ([[replicas]] tables; see kernel.replicas)
    replicas: list = field(default_factory=list)
    auto_repair: bool = False  # the fixity audit DAG repairs damaged copies from good ones
    # the key-encryption key (32 bytes, base64 or hex) that wraps encrypted replicas' data keys
    kek: str = field(default="", repr=False, metadata=SECRET)
    # keys rotated out (comma-separated): still needed to read what they encrypted
    kek_previous: str = field(default="", repr=False, metadata=SECRET)
    # a second origin (e.g. http://localhost:8080 beside http://127.0.0.1:8080, or
    # https://replay.example.org) from which the Airflow plugin serves replays: archived
    # scripts then run where the viewer's Airflow login is not
    replay_origin: str = ""
    replay_secret: str = field(default="", repr=False, metadata=SECRET)  # HMAC key for passes

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser().absolute()
        if not self.store:
            self.store = f"file://{self.home / 'store'}"
        if not self.catalogue:
            self.catalogue = f"sqlite:///{self.home / 'catalogue.sqlite'}"
        if not self.operator:
            self.operator = _current_user()
        if not self.signing_key:
            self.signing_key = str(self.home / "keys" / "signing.pem")
        if self.retention_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError("retention_mode must be COMPLIANCE or GOVERNANCE")
        if self.audit_sample < 0:
            raise ConfigError("audit_sample must be 0 (every capture) or more")
        if self.lease_seconds < 5:
            raise ConfigError("lease_seconds must be 5 or more")
        if self.retention_days < 0:
            raise ConfigError("retention_days must be 0 (off) or more")
        self.replicas = parse_replicas(self.replicas, {})
        if self.replay_origin:
            self.replay_origin = normal_origin(self.replay_origin)

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    def public_dict(self) -> dict[str, Any]:
        """Everything but the secrets: safe to print or record."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("secret"):
                out[f.name] = "(set)" if getattr(self, f.name) else ""
            elif f.name == "replicas":
                out[f.name] = [spec.public() for spec in self.replicas]
            else:
                value = getattr(self, f.name)
                out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    def s3_options(self) -> dict[str, Any]:
        return {
            "endpoint": self.s3_endpoint,
            "access_key": self.s3_access_key,
            "secret_key": self.s3_secret_key,
            "secure": self.s3_secure,
            "region": self.s3_region or None,
            "retention_days": self.retention_days,
            "retention_mode": self.retention_mode,
        }

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    if kind is bool or kind == "bool":
        value = as_bool(raw)
        if value is None:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
        return value
    if kind is int or kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a whole number") from None
    if kind in (list, "list"):
        return raw
    return raw if kind in (Path, "Path") else str(raw)


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: Any
) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    home = Path(env.get(ENV_PREFIX + "HOME", "./witnessbox-data")).expanduser()
    path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", home / "witnessbox.toml"))
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    for name in fields:
        key = ENV_PREFIX + name.upper()
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    coerced = {name: _coerce(name, fields[name].type, raw) for name, raw in values.items()}
    coerced["replicas"] = parse_replicas(values.get("replicas", []), env)  # credentials from env
    return Settings(**coerced)
