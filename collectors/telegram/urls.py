"""Telegram source references: ``@name``, ``telegram:@name`` and t.me URLs, one spelling kept.

The Telegram collector's ``suitable`` and ``normalise`` read these; a channel is always
stored as ``https://t.me/<name>`` (lower case), so two spellings are one source.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from kernel.errors import InputError

TELEGRAM_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me"}
_TELEGRAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def _telegram_from_path(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "s":
        parts = parts[1:]
    if not parts:
        return None
    name = parts[0].lstrip("@")
    if name.startswith("+") or name == "joinchat":
        raise InputError(
            "private invite links cannot be watched: join the channel and use its name"
        )
    return name


def telegram_channel(value: str) -> str:
    """The channel username from ``@name``, ``telegram:@name`` or a t.me URL."""
    text = value.strip()
    if text.lower().startswith("telegram:"):
        text = text.split(":", 1)[1]
    if text.startswith("@"):
        name = text[1:]
    else:
        parts = urlsplit(text if "://" in text else "https://" + text)
        name = _telegram_from_path(parts.path) or ""
    if not _TELEGRAM_NAME.match(name):
        raise InputError(f"not a Telegram channel name: {value!r}")
    return name.lower()


def is_reference(value: str) -> bool:
    """``@name`` or ``telegram:...``: text that names a channel and nothing else."""
    return value.strip().lower().startswith(("telegram:", "@"))


def is_telegram(value: str) -> bool:
    if is_reference(value):
        return True
    text = value.strip().lower()
    try:
        host = urlsplit(text if "://" in text else "https://" + text).hostname or ""
    except ValueError:
        return False
    return host in TELEGRAM_HOSTS
