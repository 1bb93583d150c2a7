"""The bookkeeping every collector run keeps, written once: reasons, item fates, batches, time.

A run of a collector (one Telegram channel, one video source) collects *reasons* (what is
missing or suspect, for the capture's status), the *fate of each item* (captured, edited,
deleted, failed), numbered *batches* of records, and possibly a time before which the
source should not be tried again. ``CollectorRun`` holds these and turns them into the
``CollectedCapture`` the pipeline stores; collectors subclass it (a dataclass whose own
fields come first) and keep only what is theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from collectors.base import CollectContext, CollectedCapture, ItemResult


@dataclass
class CollectorRun:
    """Reasons, items, batch numbers and ``retry_after`` of one run; ``ctx`` comes from the
    subclass (every collector run has one)."""

    reasons: list[str] = field(default_factory=list, kw_only=True)
    items: list[ItemResult] = field(default_factory=list, kw_only=True)
    batch_seq: int = field(default=0, kw_only=True)
    retry_after: datetime | None = field(default=None, kw_only=True)
    max_reasons: int | None = field(default=None, kw_only=True)  # longer lists are summarised

    if TYPE_CHECKING:  # every subclass has one; declared there so its fields keep their order
        ctx: CollectContext

    def now(self) -> datetime:
        """The run's clock: the context's (tests pin it), else UTC now."""
        return self.ctx.clock() if self.ctx.clock else datetime.now(UTC)

    def note(self, reason: str) -> None:
        self.reasons.append(reason)

    def item(self, item_id: Any, status: str, error: str | None = None, **data: Any) -> ItemResult:
        """Record the fate of one item (its id as the catalogue keys it: text)."""
        result = ItemResult(str(item_id), status, error, data=dict(data))
        self.items.append(result)
        return result

    def defer(self, delay: timedelta) -> datetime:
        """Ask the scheduler not to come back before ``now + delay`` (the latest ask wins)."""
        self.retry_after = self.now() + delay
        return self.retry_after

    def batch_name(self, prefix: str, ids: Iterable[int], suffix: str = ".json") -> str:
        """``<prefix>-<seq>-<first id>-<last id>.json``: ordered, unique, never from text."""
        numbers = list(ids)
        self.batch_seq += 1
        return f"{prefix}-{self.batch_seq:05d}-{min(numbers)}-{max(numbers)}{suffix}"

    def summarised(self, reasons: list[str]) -> list[str]:
        limit = self.max_reasons
        if limit is None or len(reasons) <= limit:
            return list(reasons)
        return [*reasons[:limit], f"... and {len(reasons) - limit} more"]

    def collected(
        self, status: str, reasons: list[str] | None = None, **facts: Any
    ) -> CollectedCapture:
        """The run's result: ``reasons`` (default: the noted ones), items and ``retry_after``
        filled in; ``facts`` are the other ``CollectedCapture`` fields."""
        facts.setdefault("items", self.items)
        facts.setdefault("retry_after", self.retry_after)
        chosen = self.reasons if reasons is None else reasons
        return CollectedCapture(status, self.summarised(chosen), **facts)


def id_summary(ids: list[Any], limit: int = 20) -> list[Any]:
    """Ids for an artifact's platform facts: all of them, or first and last of a long list."""
    return ids if len(ids) <= limit else [min(ids), "...", max(ids)]
