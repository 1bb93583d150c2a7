"""`verify --sample N` reads only what it checks: N captures (never every catalogue row),
their own objects (never a listing of the whole store) and their own ledger entries (never
the whole chain), and still finds a tampered ledger entry of a sampled capture."""

from __future__ import annotations

import json

import pytest

from preservation.custody import ledger as ledgers
from preservation.store.filesystem import FileStore
from tests.support.catalogue_sql import sql
from tests.support.custody_helpers import capture, cli

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL


@pytest.fixture
def archive(runtime):
    return [capture(runtime, {"page.html": bytes([n])}, url=f"https://example.org/{n}")
            for n in range(6)]


@pytest.fixture
def no_whole_reads(monkeypatch):
    real_list = FileStore.list

    def listing(self, prefix=""):
        if prefix in ("", "captures/", "ledger/"):
            pytest.fail(f"listed the whole store prefix {prefix!r}")
        return real_list(self, prefix)

    monkeypatch.setattr(FileStore, "list", listing)
    monkeypatch.setattr(ledgers, "verify_ledger", lambda *a, **k: pytest.fail("walked the chain"))


def test_a_sample_reads_only_its_own_captures(archive, no_whole_reads, capsys):
    code, out, err = cli(capsys, "verify", "--sample", "4", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["captures"]) == 4 and len({c["capture_id"] for c in report["captures"]}) == 4
    assert report["ledger"]["ok"] and report["ledger"]["entries"] == 8  # captured + stored each


def test_a_tampered_entry_of_a_sampled_capture_is_found(archive, settings, no_whole_reads, capsys):
    sql(settings, "update ledger set actor = 'mallory' where seq = 3")  # the 2nd capture's
    code, out, _ = cli(capsys, "verify", "--sample", "6")
    assert code == 1 and "changed-entry: catalogue ledger seq 3" in out


def test_sampling_a_large_table_draws_distinct_captures(runtime):
    import random
    from datetime import UTC, datetime

    from sqlalchemy import insert, text

    from preservation.catalogue.models import Capture
    from preservation.custody import audit

    now = datetime(2026, 12, 3, tzinfo=UTC)
    ids = [f"0190{n:04x}-0000-7000-8000-000000000000" for n in range(5000)]
    with runtime.catalogue.engine.begin() as conn:
        conn.execute(insert(Capture), [dict(
            id=cid, source_id="src-1", source_url="https://example.org/", kind="web",
            case_id=None, started_at=now, finished_at=now, status="complete", reasons=[],
            collector="static", collector_version="1", manifest_key=f"captures/src-1/{cid}",
            manifest_sha256="0" * 64, previous_capture_id=None, run_context={}, indexed_at=now)
            for cid in ids])
        conn.execute(text("ANALYZE"))
    columns = (Capture.id, Capture.manifest_key, Capture.manifest_sha256, Capture.source_id,
               Capture.source_url)
    with runtime.catalogue.session() as session:
        drawn = audit._sample(session, columns, 10)
        assert len({r[0] for r in drawn}) == 10 and {r[0] for r in drawn} <= set(ids)
        if session.get_bind().dialect.name == "postgresql":  # random pages, not a walk
            pages = audit._sample_pages(session, columns, 10, random.SystemRandom())
            assert len(pages) == 10 and set(pages) <= set(ids)
        # two draws are not the same draw
        assert {r[0] for r in drawn} != {r[0] for r in audit._sample(session, columns, 10)}
