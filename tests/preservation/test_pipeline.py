"""The commit protocol: collect → store → manifest → catalogue, and recovery from crashes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collectors.base import ItemResult
from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import watchlist
from preservation.catalogue.models import Artifact, Capture, Cursor, SourceItem
from preservation.formats import manifest as manifests
from preservation.pipeline import resume_pending
from preservation.reindex import reindex
from preservation.runner import capture_source, run_due
from preservation.runtime import open_runtime
from preservation.store import blob_key
from tests.support.catalogue_sql import wipe
from tests.support.fake_collector import StaticCollector, failing_collector

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL


ROOT = Path(__file__).resolve().parents[2]


def add(rt, url="https://example.org/page", kind="web"):
    spec = watchlist.validate_entry(url, NetworkPolicy(), kind=kind, tags=["t1"], case="CASE-1")
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def count(rt, model):
    with rt.catalogue.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_capture_stores_blobs_manifest_and_index(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"page.html": b"<html>evidence</html>", "img/a.bin": 3 << 20})
    outcome = capture_source(rt, source)

    assert outcome.status == "complete" and outcome.artifacts == 2
    data = rt.store.read_bytes(outcome.manifest_key)
    manifest = manifests.parse(data)
    assert manifest["source"]["id"] == source.id and manifest["source"]["case"] == "CASE-1"
    assert manifest["capture"]["collector"] == {"name": "static", "version": "1.0-test"}
    by_name = {a["name"]: a for a in manifest["artifacts"]}
    expected = hashlib.sha256(b"<html>evidence</html>").hexdigest()
    assert by_name["page.html"]["sha256"] == expected
    assert rt.store.read_bytes(blob_key(expected)) == b"<html>evidence</html>"
    for entry in manifest["artifacts"]:  # every stored blob matches its manifest digests
        with rt.store.open(entry["key"]) as stream:
            assert hashlib.sha512(stream.read()).hexdigest() == entry["sha512"]
    with rt.catalogue.session() as s:
        capture = s.get(Capture, outcome.capture_id)
        assert capture.manifest_sha256 == hashlib.sha256(data).hexdigest()
        assert {a.name for a in capture.artifacts} == {"page.html", "img/a.bin"}
    assert not (rt.settings.staging / outcome.capture_id).exists()


def test_second_capture_links_previous_and_dedupes_blobs(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"page.html": b"same bytes"})
    first = capture_source(rt, source)
    second = capture_source(rt, source)
    manifest = manifests.parse(rt.store.read_bytes(second.manifest_key))
    assert manifest["capture"]["previous_capture_id"] == first.capture_id
    assert len([k for k in rt.store.list("blobs/")]) == 1
    assert count(rt, Artifact) == 2


def test_failed_collection_is_recorded_not_lost(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = failing_collector("HTTP 404 at https://example.org/page")
    outcome = capture_source(rt, source)
    assert outcome.status == "failed"
    assert "404" in outcome.reasons[0]
    manifest = manifests.parse(rt.store.read_bytes(outcome.manifest_key))
    assert manifest["artifacts"] == [] and manifest["capture"]["status"] == "failed"


def test_collector_crash_becomes_failed_capture(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector(fail_with=RuntimeError("boom"))
    outcome = capture_source(rt, source)
    assert outcome.status == "failed" and "RuntimeError: boom" in outcome.reasons[0]


def test_cursor_and_items_apply_only_with_the_capture(runtime):
    rt = runtime
    source = add(rt, "https://t.me/somechannel", "telegram")
    rt.collectors["telegram"] = StaticCollector(
        {"m.json": b"{}"},
        items=[ItemResult("101", "captured"), ItemResult("102", "failed", "timeout")],
        cursor={"last_id": 101},
    )
    capture_source(rt, source)
    with rt.catalogue.session() as s:
        assert s.get(Cursor, (source.id, "main")).value == {"last_id": 101}
        assert s.get(SourceItem, (source.id, "101")).status == "captured"
        failed = s.get(SourceItem, (source.id, "102"))
        assert failed.status == "failed" and failed.attempts == 1
    collector = StaticCollector({"m.json": b"{1}"}, items=[ItemResult("102", "captured")])
    rt.collectors["telegram"] = collector
    capture_source(rt, source)
    ctx = collector.seen_calls[0]
    assert ctx.cursor == {"last_id": 101}
    assert ctx.seen.failed_ids() == {"102"}
    with rt.catalogue.session() as s:
        assert s.get(SourceItem, (source.id, "102")).status == "captured"
        # a capture without a cursor keeps the earlier one
        assert s.get(Cursor, (source.id, "main")).value == {"last_id": 101}


def test_run_due_captures_due_sources_once(runtime):
    rt = runtime
    add(rt, "https://example.org/a")
    add(rt, "https://example.org/b")
    rt.collectors["web"] = StaticCollector({"p": b"x"})
    outcomes, errors = run_due(rt)
    assert len(outcomes) == 2 and not errors
    outcomes, errors = run_due(rt)  # nothing is due again until its schedule says so
    assert outcomes == [] and errors == []


def test_reindex_restores_every_capture_from_the_store(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"page.html": b"a", "b.bin": b"b"}, cursor={"n": 1})
    ids = [capture_source(rt, source).capture_id for _ in range(3)]
    before = sorted((a.capture_id, a.name, a.sha256) for a in _artifacts(rt))
    rt.catalogue.close()
    wipe(rt.settings)  # the catalogue is lost entirely
    rt2 = open_runtime(rt.settings)
    try:
        report = reindex(rt2.store, rt2.catalogue, rt2.clock())
        assert report.indexed == 3 and not report.problems
        assert sorted((a.capture_id, a.name, a.sha256) for a in _artifacts(rt2)) == before
        with rt2.catalogue.session() as s:
            assert sorted(s.scalars(select(Capture.id))) == sorted(ids)
            assert s.get(Cursor, (source.id, "main")).value == {"n": 1}
        again = reindex(rt2.store, rt2.catalogue, rt2.clock())
        assert again.indexed == 0 and again.already == 3
    finally:
        rt2.close()


def _artifacts(rt):
    with rt.catalogue.session() as s:
        return list(s.scalars(select(Artifact)))


def test_reindex_reports_a_damaged_manifest(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"p": b"x"})
    outcome = capture_source(rt, source)
    path = rt.store.path(outcome.manifest_key)
    os.chmod(path, 0o644)
    path.write_text("{not json")
    report = reindex(rt.store, rt.catalogue, rt.clock(), wipe=True)
    assert report.indexed == 0 and report.problems[0].subject == outcome.manifest_key


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from kernel.settings import load_settings
    from preservation.runner import capture_source
    from preservation.runtime import open_runtime
    from preservation.catalogue.models import Source
    from preservation.store.filesystem import FileStore
    from tests.support.fake_collector import StaticCollector

    class SlowStore(FileStore):
        calls = 0
        def put_file(self, path):
            SlowStore.calls += 1
            if SlowStore.calls == 2:  # mid-upload: the first blob is in, the second is not
                Path({marker!r}).write_text("uploading")
                time.sleep(60)
            return super().put_file(path)

    settings = load_settings()
    rt = open_runtime(settings)
    rt.store = SlowStore(settings.home / "store")
    rt.collectors["web"] = StaticCollector({{"a.bin": 2 << 20, "b.bin": 1 << 20, "c.txt": b"c"}})
    with rt.catalogue.session() as s:
        source = s.get(Source, {source_id!r})
    capture_source(rt, source)
    """
)


def test_sigkill_mid_upload_leaves_no_capture_and_rerun_completes_it(settings, runtime, tmp_path):
    rt = runtime
    source = add(rt)
    marker = tmp_path / "uploading"
    script = CRASH_SCRIPT.format(root=str(ROOT), marker=str(marker), source_id=source.id)
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the capture process ended before the upload"
        assert time.monotonic() < deadline, "the capture never reached the upload"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert [k for k in rt.store.list("captures/")] == []
    assert count(rt, Capture) == 0
    pending = list(settings.staging.glob("*/pending.json"))
    assert len(pending) == 1, "the collected data waits in staging"

    outcomes = resume_pending(rt)
    assert len(outcomes) == 1 and outcomes[0].resumed and outcomes[0].status == "complete"
    manifest = manifests.parse(rt.store.read_bytes(outcomes[0].manifest_key))
    assert sorted(a["name"] for a in manifest["artifacts"]) == ["a.bin", "b.bin", "c.txt"]
    assert count(rt, Capture) == 1
    assert list(settings.staging.glob("*/pending.json")) == []
    assert resume_pending(rt) == []


def test_crash_after_manifest_before_index_is_completed(runtime):
    """The manifest exists but the catalogue never heard of it: a rerun indexes it."""
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"p": b"x"})
    from preservation import pipeline

    staging = pipeline.collect_into_staging(rt, source)
    original = pipeline.index_manifest
    try:
        pipeline.index_manifest = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            pipeline.commit_pending(rt, staging)
    finally:
        pipeline.index_manifest = original
    manifests_stored = [k for k in rt.store.list("captures/") if k.endswith("/manifest.json")]
    assert count(rt, Capture) == 0 and len(manifests_stored) == 1  # (+ manifest.sig: custody)
    outcomes = resume_pending(rt)
    assert len(outcomes) == 1 and count(rt, Capture) == 1


def test_manifest_is_write_once(runtime):
    rt = runtime
    source = add(rt)
    rt.collectors["web"] = StaticCollector({"p": b"x"})
    outcome = capture_source(rt, source)
    from kernel.errors import ObjectExistsError

    with pytest.raises(ObjectExistsError):
        rt.store.put_bytes(outcome.manifest_key, b"{}")
    assert json.loads(rt.store.read_bytes(outcome.manifest_key))["capture"]["id"] == outcome.capture_id


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_captures_in_one_runtime_share_a_warm_exiftool(runtime):
    """`witnessbox run` commits source after source: exiftool starts once, not per commit."""
    from hashing.metadata import MetadataReader, ReaderPool

    rt = runtime
    made: list[MetadataReader] = []

    def reader(**kwargs) -> MetadataReader:
        made.append(MetadataReader(**kwargs))
        return made[-1]

    rt.metadata_readers = ReaderPool(factory=reader)
    pids = []
    for n, url in enumerate(("https://example.org/a", "https://example.org/b")):
        rt.collectors["web"] = StaticCollector({"photo.jpg": _jpeg() + bytes([n])})
        outcome = capture_source(rt, add(rt, url))
        photo = next(a for a in manifests.parse(rt.store.read_bytes(outcome.manifest_key))
                     ["artifacts"] if a["name"] == "photo.jpg")  # fmt: skip
        assert photo["metadata"]["exiftool"], photo  # read by exiftool each time
        pids.append(made[0].pid)
    assert len(made) == 1 and pids[0] is not None and pids == [pids[0]] * 2
    rt.close()  # the runtime's close ends the warm process
    assert made[0].pid is None


def test_commits_at_the_same_time_each_borrow_their_own_exiftool():
    from hashing.enrich import Enricher
    from hashing.metadata import ReaderPool

    pool = ReaderPool()
    try:
        first, second = Enricher(readers=pool), Enricher(readers=pool)
        assert first._reader is not second._reader
        first.close()
        with Enricher(readers=pool) as third:  # the idle one is reused
            assert third._reader is first._reader
        second.close()
    finally:
        pool.close()
