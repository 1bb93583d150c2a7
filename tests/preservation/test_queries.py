"""The read-only lists the CLI and the UI share: filters, limits, unknown ids, summaries."""

from __future__ import annotations

import pytest

from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from preservation import queries
from preservation.catalogue import leases, watchlist
from preservation.custody.audit import run_audit
from preservation.runner import capture_source, capture_source_id, due_source_ids
from tests.support.fake_collector import StaticCollector, failing_collector


def add(rt, url, case):
    spec = watchlist.validate_entry(url, NetworkPolicy(), kind="web", case=case)
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def test_captures_filter_and_limit(runtime):
    rt = runtime
    one, two = add(rt, "https://example.org/one", "A"), add(rt, "https://example.org/two", "B")
    rt.collectors["web"] = StaticCollector({"page.html": b"evidence"})
    first = capture_source(rt, one)
    second = capture_source(rt, two)
    rt.collectors["web"] = failing_collector()
    third = capture_source(rt, one)

    everything = queries.list_captures(rt.catalogue)
    assert [c["id"] for c in everything] == [third.capture_id, second.capture_id, first.capture_id]
    assert [c["id"] for c in queries.list_captures(rt.catalogue, limit=1)] == [third.capture_id]
    assert [c["id"] for c in queries.list_captures(rt.catalogue, limit=0)] == [
        c["id"] for c in everything
    ]
    by_case = queries.list_captures(rt.catalogue, case="B")
    assert [c["id"] for c in by_case] == [second.capture_id]
    assert by_case[0]["artifacts"][0]["name"] == "page.html"
    by_source = queries.list_captures(rt.catalogue, source=one.id, status="complete")
    assert [c["id"] for c in by_source] == [first.capture_id]
    assert [c["status"] for c in queries.list_captures(rt.catalogue, status="failed")] == ["failed"]
    with pytest.raises(InputError, match="unknown status"):
        queries.list_captures(rt.catalogue, status="lost")

    assert queries.get_capture(rt.catalogue, first.capture_id)["url"] == "https://example.org/one"
    with pytest.raises(InputError, match="unknown capture: nope"):
        queries.get_capture(rt.catalogue, "nope")


def test_audits_custody_summary_and_ledger(runtime):
    rt = runtime
    rt.collectors["web"] = StaticCollector({"page.html": b"evidence"})
    capture_source(rt, add(rt, "https://example.org/one", "A"))
    before = queries.custody_summary(rt.catalogue)
    assert (before["captures"], before["sealed"], before["unsealed"]) == (1, 0, 1)
    assert queries.list_audits(rt.catalogue) == []

    report = run_audit(rt, capture_id=None, sample=None)
    (audit,) = queries.list_audits(rt.catalogue)
    assert (audit["id"], audit["failed"], audit["scope"]) == (report.audit_id, 0, report.scope)
    after = queries.custody_summary(rt.catalogue)
    assert after["ledger_head"] == before["ledger_head"] + 1
    assert after["ledger_last_event"] == "audited"

    entries = queries.ledger_entries(rt)
    assert [e["seq"] for e in queries.ledger_entries(rt, limit=1)] == [entries[-1]["seq"]]
    assert queries.ledger_entries(rt, subjects=["nothing-like-this"]) == []


def test_the_dag_task_functions(runtime):
    rt = runtime
    rt.collectors["web"] = StaticCollector({"page.html": b"evidence"})
    one, two = add(rt, "https://example.org/one", "A"), add(rt, "https://example.org/two", "A")
    assert due_source_ids(rt, "web") == [one.id, two.id]
    assert due_source_ids(rt, "web", limit=1) == [one.id]
    assert due_source_ids(rt, "video") == []
    # a source another run is capturing gets no task of its own until its lease ends
    assert leases.claim(rt.catalogue, "other-run", rt.clock(), 60, source_id=one.id) == one.id
    assert due_source_ids(rt, "web") == [two.id]
    leases.release(rt.catalogue, one.id, "other-run")
    assert due_source_ids(rt, "web") == [one.id, two.id]
    watchlist.set_state(rt.catalogue, two.id, active=False)
    assert capture_source_id(rt, two.id) is None  # paused meanwhile: skipped
    assert capture_source_id(rt, "no-such-source") is None
    assert capture_source_id(rt, one.id).status == "complete"
    assert due_source_ids(rt, "web") == []


def test_a_captures_custody_trail_is_its_own_entries_in_order(runtime):
    from preservation.custody.access import record_access

    rt = runtime
    rt.collectors["web"] = StaticCollector({"page.html": b"evidence"})
    one, two = add(rt, "https://example.org/one", "A"), add(rt, "https://example.org/two", "A")
    first, second = capture_source_id(rt, one.id), capture_source_id(rt, two.id)
    record_access(rt, "ana", first.capture_id, "page.html", "case review")
    record_access(rt, "bob", second.capture_id, "page.html", "other case")
    trail = queries.custody_trail(rt, queries.get_capture(rt.catalogue, first.capture_id))
    events = [e["event"] for e in trail]
    assert events[:2] == ["captured", "stored"] and events[-1] == "accessed"
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)
    assert {e["actor"] for e in trail if e["event"] == "accessed"} == {"ana"}
    assert not any(e["data"].get("reason") == "other case" for e in trail)
    assert [e["event"] for e in queries.custody_trail(
        rt, queries.get_capture(rt.catalogue, first.capture_id), limit=1)] == ["accessed"]


def test_a_captures_custody_trail_names_its_exports(runtime, tmp_path):
    """An export's entry names its captures only in its data: the trail still has it."""
    from preservation.custody.export import export_bag

    rt = runtime
    rt.collectors["web"] = StaticCollector({"page.html": b"evidence"})
    first = capture_source_id(rt, add(rt, "https://example.org/one", "A").id)
    export_bag(rt, tmp_path / "bag", capture_ids=[first.capture_id], reason="handover")
    trail = queries.custody_trail(rt, queries.get_capture(rt.catalogue, first.capture_id))
    assert [e["event"] for e in trail][-1] == "exported"
    assert trail[-1]["data"]["reason"] == "handover"
