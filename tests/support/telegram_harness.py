"""Runs the Telegram collector capture after capture, the way the pipeline does.

Each run gets a fresh staging directory and capture id; after a run the harness applies the
returned cursor and item states (as ``preservation.catalogue.indexer.apply_items`` does) so the next
run sees them through ``ctx.seen`` and ``ctx.cursor``. Tests through the real pipeline and
catalogue live in ``test_telegram_pipeline.py``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.base import CollectContext, CollectedCapture, SourceRef
from collectors.registry import settings_view
from collectors.telegram.collector import TelegramCollector
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings


class MemorySeen:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def captured_ids(self) -> set[str]:
        return {i for i, r in self.rows.items() if r["status"] in ("captured", "edited", "deleted")}

    def failed_ids(self) -> set[str]:
        return {i for i, r in self.rows.items() if r["status"] == "failed"}

    def get(self, item_id: str) -> dict[str, Any] | None:
        row = self.rows.get(item_id)
        return None if row is None else {**row, "data": dict(row["data"])}

    def apply(self, result: CollectedCapture, capture_id: str) -> None:
        for item in result.items:
            row = self.rows.setdefault(
                item.id, {"status": item.status, "capture_id": None, "attempts": 0, "data": {}}
            )
            if item.status == "failed":
                row["attempts"] += 1
                if row["status"] != "captured":
                    row["status"] = "failed"
            else:
                row["status"] = item.status
                row["capture_id"] = capture_id
            row["data"] = {**row["data"], **item.data}


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 3, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Harness:
    tmp: Path
    settings: Settings
    collector: TelegramCollector
    url: str = "https://t.me/witnesschan"
    options: dict[str, Any] = field(default_factory=dict)
    policy: NetworkPolicy = field(default_factory=lambda: NetworkPolicy(allow_private=True))
    clock: Clock = field(default_factory=Clock)
    seen: MemorySeen = field(default_factory=MemorySeen)
    cursor: dict[str, Any] = field(default_factory=dict)
    runs: int = 0
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("witnessbox.collect"))

    def run(self, store: bool = True) -> tuple[CollectedCapture, Path]:
        """One capture; ``store=False`` simulates a capture that never got stored."""
        self.runs += 1
        capture_id = f"cap-{self.runs:04d}"
        staging = self.tmp / "staging" / capture_id / "files"
        staging.mkdir(parents=True)
        ctx = CollectContext(
            settings=settings_view(self.collector, self.settings),  # what the pipeline hands
            policy=self.policy,
            staging=staging,
            capture_id=capture_id,
            cursor=json.loads(json.dumps(self.cursor)),
            seen=self.seen,
            clock=self.clock,
            log=self.log,
        )
        source = SourceRef("src-telegram01", "telegram", self.url, dict(self.options))
        result = self.collector.collect(source, ctx)
        json.dumps([asdict(a) for a in result.artifacts])  # what the pipeline writes must serialise
        json.dumps(result.platform)
        json.dumps([asdict(i) for i in result.items])
        if store:
            listed = {a.name for a in result.artifacts}
            for name in listed:
                assert (staging / name).is_file(), f"listed artifact missing: {name}"
            self.seen.apply(result, capture_id)
            if result.cursor is not None:
                self.cursor = json.loads(json.dumps(result.cursor))
        return result, staging


def load_batches(staging: Path, result: CollectedCapture, kind: str | None = None) -> list[dict]:
    out = []
    for artifact in result.artifacts:
        if artifact.role == "message-json":
            data = json.loads((staging / artifact.name).read_text())
            if kind is None or data["kind"] == kind:
                out.append(data)
    return out


def stored_messages(staging: Path, result: CollectedCapture, kind: str = "new") -> list[dict]:
    return [m for batch in load_batches(staging, result, kind) for m in batch["messages"]]
