"""Replica settings: the copies kept beside the primary store, each in its own failure domain.

``witnessbox.toml`` lists them as ``[[replicas]]`` tables (or ``WITNESSBOX_REPLICAS`` holds the
same list as JSON)::

    [[replicas]]
    name = "offsite"
    url = "s3://evidence-offsite"
    endpoint = "https://s3.other-provider.example"
    encrypt = true              # witnessbox encrypts before the bytes leave the host
    # sse = "s3" | "kms:KEY-ID"  # or ask the S3 server to encrypt (where it offers it)

Credentials never sit in the file: they come from ``WITNESSBOX_REPLICA_<NAME>_ACCESS_KEY`` and
``..._SECRET_KEY`` (or the variables named by ``access_key_env`` / ``secret_key_env``), and are
kept out of ``repr`` so they never reach a log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import ConfigError
from kernel.values import as_bool

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_KEYS = {
    "name",
    "url",
    "endpoint",
    "secure",
    "region",
    "encrypt",
    "sse",
    "access_key_env",
    "secret_key_env",
    "retention_days",
    "retention_mode",
}
#: the name verify and the ledger use for the primary store
PRIMARY = "primary"


@dataclass(frozen=True)
class ReplicaSpec:
    name: str
    url: str
    endpoint: str = ""
    secure: bool = True
    region: str = ""
    encrypt: bool = False
    sse: str = ""  # "", "s3" or "kms:<key id>"
    retention_days: int | None = None
    retention_mode: str | None = None
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "endpoint": self.endpoint,
            "encrypt": self.encrypt,
            "sse": self.sse,
            "credentials": "(set)" if self.secret_key else "",
        }


def _bool(name: str, key: str, raw: Any) -> bool:
    value = as_bool(raw)
    if value is None:
        raise ConfigError(f"replica {name}: {key} must be true or false, not {raw!r}")
    return value


def parse_replicas(raw: Any, env: Mapping[str, str]) -> list[ReplicaSpec]:
    """Validate the ``replicas`` setting and fill in credentials from the environment."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError:
            raise ConfigError("WITNESSBOX_REPLICAS must be a JSON list of replica tables") from None
    if not isinstance(raw, list):
        raise ConfigError("replicas must be a list of [[replicas]] tables")
    specs: list[ReplicaSpec] = []
    for entry in raw:
        if isinstance(entry, ReplicaSpec):
            specs.append(entry)
            continue
        if not isinstance(entry, dict):
            raise ConfigError("each replica must be a table with a name and a url")
        name = str(entry.get("name", ""))
        if not _NAME.match(name) or name == PRIMARY:
            raise ConfigError(
                f"replica name {name!r} must be lower-case letters, digits, - or _ "
                f"(and not {PRIMARY!r})"
            )
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            secret = {"access_key", "secret_key"} & set(unknown)
            hint = " (secrets go in the environment)" if secret else ""
            raise ConfigError(f"replica {name}: unknown key(s) {', '.join(unknown)}{hint}")
        url = str(entry.get("url", ""))
        if not url.startswith(("file://", "s3://")):
            raise ConfigError(f"replica {name}: url must be file:///PATH or s3://BUCKET")
        sse = str(entry.get("sse", "") or "")
        if sse and (not url.startswith("s3://") or (sse != "s3" and not sse.startswith("kms:"))):
            raise ConfigError(
                f'replica {name}: sse must be "s3" or "kms:KEY-ID" on an s3:// replica'
            )
        encrypt = _bool(name, "encrypt", entry.get("encrypt", False))
        upper = name.upper().replace("-", "_")
        access_env = str(entry.get("access_key_env") or f"WITNESSBOX_REPLICA_{upper}_ACCESS_KEY")
        secret_env = str(entry.get("secret_key_env") or f"WITNESSBOX_REPLICA_{upper}_SECRET_KEY")
        days = entry.get("retention_days")
        specs.append(
            ReplicaSpec(
                name=name,
                url=url,
                endpoint=str(entry.get("endpoint", "") or ""),
                secure=_bool(name, "secure", entry.get("secure", True)),
                region=str(entry.get("region", "") or ""),
                encrypt=encrypt,
                sse=sse,
                retention_days=int(days) if days is not None else None,
                retention_mode=entry.get("retention_mode") or None,
                access_key=env.get(access_env, ""),
                secret_key=env.get(secret_env, ""),
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("two replicas share a name")
    return specs
