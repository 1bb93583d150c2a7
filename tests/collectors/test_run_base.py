"""The run bookkeeping the collectors share (``collectors.run``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collectors.base import CollectContext
from collectors.run import CollectorRun, id_summary
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class DemoRun(CollectorRun):
    ctx: CollectContext
    label: str = "demo"


def _run(tmp_path: Path, **kw) -> DemoRun:
    ctx = CollectContext(Settings(home=tmp_path), NetworkPolicy(), tmp_path, "cap-1",
                         clock=lambda: NOW)  # fmt: skip
    return DemoRun(ctx, **kw)


def test_items_batches_and_deferral(tmp_path):
    run = _run(tmp_path)
    run.item(7, "captured", version=1)
    run.item("8", "failed", "HTTP 500")
    assert [(i.id, i.status, i.error, i.data) for i in run.items] == [
        ("7", "captured", None, {"version": 1}), ("8", "failed", "HTTP 500", {}),
    ]  # fmt: skip
    assert run.batch_name("messages/new", [5, 3, 9]) == "messages/new-00001-3-9.json"
    assert run.batch_name("messages/edits", [4]) == "messages/edits-00002-4-4.json"
    assert run.defer(timedelta(minutes=30)) == NOW + timedelta(minutes=30)
    run.note("one thing missing")
    result = run.collected("partial", platform={"k": 1})
    assert result.reasons == ["one thing missing"] and result.items == run.items
    assert result.retry_after == NOW + timedelta(minutes=30) and result.platform == {"k": 1}


def test_long_reason_lists_are_summarised(tmp_path):
    run = _run(tmp_path, max_reasons=2)
    result = run.collected("failed", [f"entry {n}: gone" for n in range(5)])
    assert result.reasons == ["entry 0: gone", "entry 1: gone", "... and 3 more"]
    assert id_summary(list(range(30))) == [0, "...", 29] and id_summary([1, 2]) == [1, 2]
