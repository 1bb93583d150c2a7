"""Signed, short-lived passes from the Airflow UI to the replay origin.

Replayed pages run archived scripts. With the setting ``replay_origin`` the Airflow plugin
serves replays from a second origin (another host name for the same API server) whose
cookies are not Airflow's, so a hostile page cannot act with the viewer's login. The
Airflow origin, where the viewer is logged in, hands out a *ticket* (one capture, one
minute); the replay origin trades it for a *pass* cookie (that capture only, a few hours).
Both are ``payload.mac``: base64url JSON and an HMAC-SHA256 with the installation's replay
secret (the setting ``replay_secret``, else ``<home>/keys/replay.key``, made on first use).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from kernel.errors import ConfigError
from kernel.settings import Settings

TICKET_SECONDS = 60
PASS_SECONDS = 8 * 3600
KINDS = ("ticket", "pass")


def replay_secret(settings: Settings) -> bytes:
    """The HMAC key: the setting, else a random key kept beside the signing key."""
    if settings.replay_secret:
        return settings.replay_secret.encode()
    path = settings.home / "keys" / "replay.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        return _create_key(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the replay key {path}: {exc}") from None


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:  # O_EXCL: two API server workers starting at once agree on one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, kind: str, capture_id: str, user: str, now: float) -> str:
    """A ticket or pass for one capture and one user, valid from ``now``."""
    ttl = TICKET_SECONDS if kind == "ticket" else PASS_SECONDS
    body = {"k": kind, "c": capture_id, "u": user, "exp": int(now) + ttl}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def check(key: bytes, token: str | None, kind: str, capture_id: str, now: float) -> str | None:
    """The user a valid, unexpired ``kind`` token for ``capture_id`` names, else None."""
    if not token or token.count(".") != 1 or len(token) > 2048:
        return None
    payload, mac = token.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        body = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("k") != kind or body.get("c") != capture_id:
        return None
    if not isinstance(body.get("exp"), int) or body["exp"] < now:
        return None
    user = body.get("u")
    return user if isinstance(user, str) else None
