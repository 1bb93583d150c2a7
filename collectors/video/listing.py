"""Which entries of a channel or playlist this run downloads, and in which order.

Pure functions over the listing and what the catalogue already knows, so the rules are
testable without a network: new entries oldest first (a first backfill then walks forward
in time and a later run picks up where it stopped), bounded per run; failed entries
retried with their own budget, fewest attempts first, so a video that fails every time
never holds back the others; entries skipped for their size are left alone until the size
limit is raised.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any

from collectors.base import SeenItems


@dataclass
class Entry:
    id: str
    position: int  # index in the site's listing
    info: dict[str, Any]  # the flat entry (a url result) or an inline video dict
    timestamp: float | None = None

    @property
    def url(self) -> str | None:
        return self.info.get("url") or self.info.get("webpage_url")

    @property
    def is_reference(self) -> bool:
        return self.info.get("_type") in ("url", "url_transparent")


@dataclass
class Plan:
    order: str  # "date", "newest-first listing reversed" or "as listed"
    listed: int
    new: list[Entry] = field(default_factory=list)  # selected this run
    retries: list[Entry] = field(default_factory=list)  # failed before, retried this run
    deferred_new: int = 0  # new entries left for later runs
    deferred_retries: int = 0
    given_up: list[str] = field(default_factory=list)  # failed max_attempts times
    size_skipped: list[str] = field(default_factory=list)
    known: int = 0  # already captured
    no_longer_listed: list[str] = field(default_factory=list)

    @property
    def selected(self) -> list[Entry]:
        return self.retries + self.new

    @property
    def backfill_complete(self) -> bool:
        return self.deferred_new == 0


def entry_timestamp(info: dict[str, Any]) -> float | None:
    for key in ("timestamp", "release_timestamp"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
    for key in ("upload_date", "release_date"):
        value = info.get(key)
        if isinstance(value, str) and len(value) == 8 and value.isdigit():
            return float(calendar.timegm(time.strptime(value, "%Y%m%d")))
    return None


def entries_from(playlist: dict[str, Any], limit: int = 100_000) -> list[Entry]:
    """The listing's entries with ids, duplicates removed, in the site's order."""
    out: list[Entry] = []
    seen: set[str] = set()
    for position, info in enumerate(playlist.get("entries") or []):
        if position >= limit:
            break
        if not isinstance(info, dict) or not info.get("id"):
            continue
        item_id = str(info["id"])
        if item_id in seen:
            continue
        seen.add(item_id)
        out.append(Entry(item_id, position, info, entry_timestamp(info)))
    return out


def order_entries(entries: list[Entry], listing: str) -> tuple[list[Entry], str]:
    """Oldest first: by date when every entry has one, else from the listing order."""
    if entries and all(e.timestamp is not None for e in entries):
        return sorted(entries, key=lambda e: (e.timestamp, -e.position)), "date"
    if listing == "newest-first":
        return list(reversed(entries)), "newest-first listing reversed"
    return list(entries), "as listed"


def plan_entries(
    entries: list[Entry],
    seen: SeenItems,
    *,
    max_entries: int,
    max_retries: int | None,
    max_attempts: int,
    listing: str,
    max_filesize: int | None,
) -> Plan:
    ordered, order = order_entries(entries, listing)
    captured = seen.captured_ids()
    failed = seen.failed_ids()
    plan = Plan(order=order, listed=len(entries))
    new: list[Entry] = []
    retry: list[tuple[int, int, Entry]] = []
    for rank, entry in enumerate(ordered):
        if entry.id in captured:
            plan.known += 1
            continue
        record = seen.get(entry.id) or {}
        if entry.id in failed:
            attempts = int(record.get("attempts") or 0)
            if attempts >= max_attempts:
                plan.given_up.append(entry.id)
            else:
                retry.append((attempts, rank, entry))
            continue
        if record.get("status") == "skipped" and _still_too_large(record, max_filesize):
            plan.size_skipped.append(entry.id)
            continue
        new.append(entry)
    retry.sort(key=lambda t: (t[0], t[1]))
    retry_budget = max_entries if max_retries is None else max_retries
    plan.retries = [e for _, _, e in retry[:retry_budget]]
    plan.deferred_retries = max(0, len(retry) - retry_budget)
    plan.new = new[:max_entries]
    plan.deferred_new = max(0, len(new) - max_entries)
    listed = {e.id for e in entries}
    plan.no_longer_listed = sorted(captured - listed)
    return plan


def _still_too_large(record: dict[str, Any], max_filesize: int | None) -> bool:
    data = record.get("data") or {}
    limit = data.get("max_filesize")
    if not isinstance(limit, int):
        return False
    return max_filesize is not None and max_filesize <= limit
