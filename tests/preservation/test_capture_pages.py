"""`witnessbox captures` lists the newest 50 by default and pages on by key (`--before`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from tests.support.custody_helpers import cli

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL


def test_the_default_limit_and_keyset_pages(runtime, capsys):
    now = datetime(2026, 12, 3, tzinfo=UTC)
    ids = [f"0190{n:04x}-0000-7000-8000-000000000000" for n in range(73)]
    from preservation.catalogue.models import Capture

    with runtime.catalogue.engine.begin() as conn:
        conn.execute(insert(Capture), [dict(
            id=cid, source_id="src-1", source_url="https://example.org/", kind="web",
            case_id="C1", started_at=now, finished_at=now, status="complete", reasons=[],
            collector="static", collector_version="1", manifest_key=f"captures/src-1/{cid}",
            manifest_sha256="0" * 64, previous_capture_id=None, run_context={}, indexed_at=now)
            for cid in ids])
    newest_first = ids[::-1]
    code, out, _ = cli(capsys, "captures", "--json")
    first = [c["id"] for c in json.loads(out)]
    assert code == 0 and first == newest_first[:50]
    code, out, _ = cli(capsys, "captures", "--json", "--before", first[-1], "--limit", "20")
    assert [c["id"] for c in json.loads(out)] == newest_first[50:70]
    code, out, _ = cli(capsys, "captures", "--json", "--case", "C1", "--before", newest_first[69])
    assert [c["id"] for c in json.loads(out)] == newest_first[70:]
    code, out, _ = cli(capsys, "captures", "--json", "--all")
    assert [c["id"] for c in json.loads(out)] == newest_first
    code, out, err = cli(capsys, "captures")  # a terminal is told how to see more
    assert code == 0 and f"--before {newest_first[49]}" in err
