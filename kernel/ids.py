"""Identifiers: UUIDv7 for captures (time-ordered, so listings sort by capture time)."""

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


def isoformat(moment: datetime) -> str:
    """UTC with microseconds and a Z: one spelling everywhere in manifests."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
