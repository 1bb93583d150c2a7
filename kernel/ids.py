"""Identifiers and timestamps: UUIDv7 for captures (time-ordered, so listings sort by
capture time), and the one spelling of a moment in manifests, ledger entries and listings."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def uuid7(now_ms: int | None = None) -> str:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def short_id() -> str:
    """Source ids: short enough to type, random enough never to collide in a watchlist."""
    return "src-" + uuid.uuid4().hex[:12]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime, timespec: str = "microseconds") -> str:
    """UTC with a Z; a naive moment is taken as UTC.

    ``microseconds`` (the default: manifests, ledger, listings) always writes six digits,
    so the strings sort as the moments do; ``seconds`` drops them (WACZ's ``created``);
    ``auto`` writes them only when non-zero (Telegram message JSON, as Telethon dates print).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_time(text: str | None) -> datetime | None:
    """The moment an ``isoformat`` string (or any ISO 8601 one) names; None for none.

    Raises ``ValueError`` on text that is not ISO 8601.
    """
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
