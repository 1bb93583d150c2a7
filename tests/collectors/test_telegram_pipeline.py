"""The Telegram collector through the real pipeline, store and catalogue."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from collectors.telegram.collector import TelegramCollector
from kernel.errors import StorageError
from kernel.ids import parse_time
from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import watchlist
from preservation.catalogue.models import Cursor, Source, SourceItem
from preservation.formats import manifest as manifests
from preservation.pipeline import resume_pending
from preservation.runner import capture_source
from tests.support.telegram_fake import FakeTelegram, media_bytes
from tests.support.telegram_preview_site import PreviewSite, photo


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def api_env(monkeypatch):
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_API_HASH", "feedfacefeedfacefeedfacefeedface")
    monkeypatch.setenv("WITNESSBOX_TELEGRAM_SESSION", "1BsessionSECRETvalue==")


@pytest.fixture
def rt_api(api_env, runtime, fake):
    runtime.collectors["telegram"] = TelegramCollector(connect=lambda s: fake, sleep=lambda s: None)
    return runtime


def add_channel(rt, url="https://t.me/witnesschan", **options):
    spec = watchlist.validate_entry(url, NetworkPolicy(), kind="telegram", options=options)
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def fresh(rt, source_id):
    with rt.catalogue.session() as session:
        return session.get(Source, source_id)


def cursor_of(rt, source_id):
    with rt.catalogue.session() as session:
        row = session.get(Cursor, (source_id, "main"))
        return None if row is None else dict(row.value)


def items_of(rt, source_id):
    with rt.catalogue.session() as session:
        rows = session.scalars(select(SourceItem).where(SourceItem.source_id == source_id))
        return {r.item_id: (r.status, dict(r.data or {}), r.capture_id) for r in rows}


def manifest_of(rt, outcome):
    return manifests.parse(rt.store.read_bytes(outcome.manifest_key))


def test_api_captures_are_stored_indexed_and_incremental(rt_api, fake):
    rt = rt_api
    source = add_channel(rt)
    fake.add_range(1, 120, media_every=30)

    first = capture_source(rt, fresh(rt, source.id))

    assert first.status == "complete", first.reasons
    manifest = manifest_of(rt, first)
    roles = sorted({a["role"] for a in manifest["artifacts"]})
    assert {"channel-json", "media", "message-json"} <= set(roles)
    media = [a for a in manifest["artifacts"] if a["name"].startswith("media/30-photo")]
    assert media[0]["sha256"] == hashlib.sha256(media_bytes(10_000_030, 2048)).hexdigest()
    assert media[0]["platform"]["message_id"] == 30
    assert cursor_of(rt, source.id)["last_id"] == 120
    assert len(items_of(rt, source.id)) == 120
    text = rt.store.read_bytes(first.manifest_key).decode()
    assert "feedface" not in text and "SECRET" not in text

    fake.add_range(121, 125)
    fake.edit(110, "corrected")
    fake.delete(100)
    second = capture_source(rt, fresh(rt, source.id))

    assert second.status == "complete", second.reasons
    assert cursor_of(rt, source.id)["last_id"] == 125
    items = items_of(rt, source.id)
    assert items["110"][0] == "edited" and items["110"][1]["version"] == 2
    assert items["100"][0] == "deleted" and "deleted_observed_at" in items["100"][1]
    assert items["125"][2] == second.capture_id
    assert items["1"][2] == first.capture_id  # untouched rows keep their first capture
    # the first capture's manifest and blobs are still there, unchanged
    assert manifest_of(rt, first) == manifest


def test_flood_wait_defers_the_source_and_keeps_the_cursor_at_what_was_stored(rt_api, fake):
    rt = rt_api
    source = add_channel(rt)
    fake.add_range(1, 250)
    original = fake.history

    def history(channel, after_id, limit):
        if after_id == 200 and not getattr(history, "done", False):
            history.done = True
            raise FakeTelegram.flood(5400)
        return original(channel, after_id, limit)

    fake.history = history
    outcome = capture_source(rt, fresh(rt, source.id))

    assert outcome.status == "partial"
    assert cursor_of(rt, source.id)["last_id"] == 200
    row = fresh(rt, source.id)
    retry_after = parse_time(manifest_of(rt, outcome)["capture"]["retry_after"])
    assert row.next_due_at == retry_after
    assert retry_after >= rt.clock() + timedelta(seconds=5300)
    assert "flood wait of 5400 s" in outcome.reasons[0]
    resumed = capture_source(rt, fresh(rt, source.id))
    assert resumed.status == "complete"
    assert cursor_of(rt, source.id)["last_id"] == 250
    assert set(items_of(rt, source.id)) == {str(i) for i in range(1, 251)}


def test_cursor_moves_only_once_the_capture_is_stored(rt_api, fake, monkeypatch):
    rt = rt_api
    source = add_channel(rt)
    fake.add_range(1, 10)
    capture_source(rt, fresh(rt, source.id))
    fake.add_range(11, 20)

    real_put = rt.store.put_file

    def broken_put(*args, **kwargs):
        raise StorageError("disk full")

    monkeypatch.setattr(rt.store, "put_file", broken_put)
    with pytest.raises(StorageError):
        capture_source(rt, fresh(rt, source.id))
    assert cursor_of(rt, source.id)["last_id"] == 10  # collected, not stored: cursor unchanged

    monkeypatch.setattr(rt.store, "put_file", real_put)
    outcomes = resume_pending(rt)  # the staged capture (with messages 11..20) completes
    assert [o.status for o in outcomes] == ["complete"]
    assert cursor_of(rt, source.id)["last_id"] == 20
    assert {str(i) for i in range(11, 21)} <= set(items_of(rt, source.id))


def test_unavailable_channel_is_a_failed_capture_with_a_clear_reason(rt_api, fake):
    from telethon import errors

    rt = rt_api
    source = add_channel(rt)
    fake.fail("resolve", errors.ChannelPrivateError(request=None))
    outcome = capture_source(rt, fresh(rt, source.id))
    assert outcome.status == "failed"
    assert "private" in outcome.reasons[0]
    assert cursor_of(rt, source.id) is None


def test_preview_through_the_pipeline(private_ok, monkeypatch, wb_env):
    from kernel.settings import load_settings
    from preservation.runtime import open_runtime

    site = PreviewSite().start()
    try:
        monkeypatch.setenv("WITNESSBOX_TELEGRAM_PREVIEW_URL", site.preview_url)
        rt = open_runtime(load_settings())
        try:
            source = add_channel(rt)
            site.publish(1, 30, photo_every=10)
            first = capture_source(rt, fresh(rt, source.id))
            assert first.status == "complete", first.reasons
            manifest = manifest_of(rt, first)
            by_name = {a["name"]: a for a in manifest["artifacts"]}
            assert by_name["preview.warc.gz"]["role"] == "warc"
            assert (
                by_name["media/30-photo-1.jpg"]["sha256"]
                == hashlib.sha256(photo(30, 1)).hexdigest()
            )
            assert cursor_of(rt, source.id)["last_id"] == 30
            site.publish(31, 33)
            second = capture_source(rt, fresh(rt, source.id))
            ids = sorted(
                m["id"]
                for a in manifest_of(rt, second)["artifacts"]
                if a["role"] == "message-json"
                for m in json.loads(rt.store.read_bytes(a["key"]))["messages"]
            )
            assert ids == [31, 32, 33]
        finally:
            rt.close()
    finally:
        site.stop()
