"""Changes and search over real web (Chromium) and video (yt-dlp) captures of local fixtures."""

from __future__ import annotations

import pytest

from collectors.video.collector import VideoCollector
from preservation.catalogue import watchlist
from preservation.catalogue.models import Source
from preservation.runner import capture_source
from preservation.search.changes import list_changes
from preservation.search.index import Filters, search
from tests.support import video_fixtures
from tests.support.search_site import SearchSite, article
from tests.support.video_extractor import TEST_EXTRACTORS

video_kit = video_fixtures.video_kit
video_site = video_fixtures.video_site


@pytest.fixture
def site():
    served = SearchSite()
    yield served
    served.close()


def _watch(rt, url, kind, case="CASE-7"):
    spec = watchlist.validate_entry(url, rt.policy, kind=kind, case=case)
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def _capture(rt, source_id):
    with rt.catalogue.session() as session:
        return capture_source(rt, session.get(Source, source_id))


def _changes(rt, source_id):
    with rt.catalogue.session() as session:
        return list_changes(session, source=source_id)


def _find(rt, query, **filters):
    with rt.catalogue.session() as session:
        return search(session, query, Filters(**filters))


@pytest.mark.slow
def test_web_page_edited_then_removed(private_ok, catalogue_url, runtime, site):
    rt = runtime
    site.pages["/statement.html"] = (200, "text/html; charset=utf-8", article(
        "Заява", ["Сёння ў Мінску затрымалі журналістаў.", "Police detained reporters."]))  # fmt: skip
    source = _watch(rt, site.url("/statement.html"), "web")
    first = _capture(rt, source.id)
    assert first.status == "complete", first.reasons
    hits = _find(rt, "затрымалі журналістаў", kind="web")
    assert [(h.capture_id, h.field) for h in hits] == [(first.capture_id, "page")]
    assert [h.field for h in _find(rt, "заява")] == ["page", "title"]

    site.pages["/statement.html"] = (200, "text/html; charset=utf-8", article(
        "Заява", ["Сёння ў Мінску вызвалілі журналістаў.", "Police detained reporters."]))  # fmt: skip
    second = _capture(rt, source.id)
    assert second.status == "complete", second.reasons
    edited = _changes(rt, source.id)
    assert [c["kind"] for c in edited] == ["text"]
    assert edited[0]["data"]["added"] == 1 and edited[0]["data"]["removed"] == 1
    assert "вызвалілі" in edited[0]["summary"]

    del site.pages["/statement.html"]
    third = _capture(rt, source.id)
    assert third.status == "failed" and third.reasons[0] == "http-404: Not Found"
    changes = _changes(rt, source.id)
    status = [c for c in changes if c["kind"] == "http-status"]
    assert len(status) == 1 and status[0]["alert"] and status[0]["capture_id"] == third.capture_id
    assert status[0]["data"] == {"from": 200, "to": 404, "alert": True}
    assert changes[0]["at"] >= edited[0]["at"]  # newest first
    # the earlier versions stay searchable; the 404 page is kept and searchable as failed
    assert {h.capture_id for h in _find(rt, "затрымалі")} == {first.capture_id}
    assert [h.capture_id for h in _find(rt, "not found", status="failed")] == [third.capture_id]


@pytest.mark.slow
def test_video_title_changed_then_removed(private_ok, catalogue_url, runtime, video_site):
    rt = runtime
    rt.collectors["video"] = VideoCollector(extractors=TEST_EXTRACTORS, sleep=lambda s: None)
    video_site.add_video("v1", title="Пратэст у Гомелі", description="Відэа з вуліцы Савецкай",
                         uploader="Вясна")  # fmt: skip
    source = _watch(rt, video_site.url("/wbtest/video/v1"), "video")
    first = _capture(rt, source.id)
    assert first.status == "complete", first.reasons
    assert [h.field for h in _find(rt, "гомелі вясна")] == ["video"]
    assert {h.field for h in _find(rt, '"test caption"', kind="video")} == {"subtitles"}

    video_site.videos["v1"]["title"] = "Пратэст у Гомелі (выдалена)"
    second = _capture(rt, source.id)
    assert second.status == "complete", second.reasons
    assert [c["kind"] for c in _changes(rt, source.id)] == ["video-title"]

    video_site.videos["v1"]["error"] = "removed"
    third = _capture(rt, source.id)
    assert third.status == "failed"
    changes = _changes(rt, source.id)
    assert [(c["kind"], c["item"]) for c in changes] == [("video-removed", "v1"),
                                                         ("video-title", "v1")]  # fmt: skip
    assert changes[0]["alert"] and changes[0]["capture_id"] == third.capture_id
    assert changes[0]["at"] > changes[1]["at"]
