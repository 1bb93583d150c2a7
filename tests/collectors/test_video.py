"""The video collector against a local site: real yt-dlp, real ffmpeg, 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from collectors.video.collector import VideoCollector
from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy
from tests.support import video_fixtures
from tests.support.video_extractor import TEST_EXTRACTORS
from tests.support.video_fixtures import Harness, sha256
from tests.support.video_site import VideoSite

video_kit = video_fixtures.video_kit
video_site = video_fixtures.video_site
harness = video_fixtures.harness


@pytest.fixture
def collector() -> VideoCollector:
    return VideoCollector(extractors=TEST_EXTRACTORS, sleep=lambda seconds: None)


def media(result, name_part: str = "media"):
    return [a for a in result.artifacts if a.role == "media" and name_part in a.name]


def roles(result) -> list[str]:
    return sorted(a.role for a in result.artifacts)


# -- the four kinds of source ----------------------------------------------------------------
def test_direct_mp4_is_stored_byte_for_byte(harness: Harness, video_site: VideoSite, collector):
    result = harness.run(collector, video_site.url("/media/clip.mp4"))
    assert result.status == "complete", result.reasons
    [clip] = media(result)
    assert clip.name == "clip/media.mp4" and clip.media_type == "video/mp4"
    assert sha256(harness.path(clip.name)) == sha256(video_site.kit.path("clip.mp4"))
    assert clip.digests and clip.digests["sha256"] == sha256(video_site.kit.path("clip.mp4"))
    info = json.loads(harness.path("clip/info.json").read_text())
    assert info["_version"]["version"] == result.tools["yt-dlp"]
    assert result.platform["extractor"] == "generic"
    assert result.platform["webpage_url"] == video_site.url("/media/clip.mp4")
    assert result.platform["ytdlp"]["release_git_head"]
    assert "User-Agent" in result.platform["http_headers"]
    assert result.network["hosts"] == {"127.0.0.1": ["127.0.0.1"]}
    assert [(i.id, i.status) for i in result.items] == [("clip", "captured")]
    assert result.cursor == {"video_id": "clip", "extractor": "generic"}


def test_html5_video_page(harness: Harness, video_site: VideoSite, collector):
    url = video_site.add_video_page("watch", media="/media/clip2.mp4")
    result = harness.run(collector, url)
    assert result.status == "complete", result.reasons
    [clip] = media(result)
    assert sha256(harness.path(clip.name)) == sha256(video_site.kit.path("clip2.mp4"))
    assert result.platform["id"] == "watch-1"
    assert result.platform["webpage_url"] == url
    assert "thumbnail" in roles(result)  # the poster


def test_hls_stream_is_kept_as_the_segments_came(
    harness: Harness, video_site: VideoSite, collector
):
    result = harness.run(collector, video_site.url("/hls/stream.m3u8"))
    assert result.status == "complete", result.reasons
    [stream] = media(result)
    # no fixup: the original is the MPEG-TS segments as served, named for what they are
    assert stream.media_type == "video/mp2t" and stream.name.endswith("/media.ts")
    hls = video_site.kit.path("hls")
    segments = sorted(hls.glob("seg*.ts"))
    assert len(segments) >= 2
    served = hashlib.sha256(b"".join(s.read_bytes() for s in segments)).hexdigest()
    assert sha256(harness.path(stream.name)) == served
    assert stream.digests and stream.digests["sha256"] == served  # fragments through the tee
    assert stream.platform["protocol"] == "m3u8_native"


def test_merged_streams_keep_the_originals(harness: Harness, video_site: VideoSite, collector):
    video_site.add_video("abc")
    result = harness.run(collector, video_site.url("/wbtest/video/abc"), comments=True)
    assert result.status == "complete", result.reasons
    by_name = {a.name: a for a in result.artifacts}
    video, audio, merged = (
        by_name["abc/media.fv1.mp4"],
        by_name["abc/media.fa1.m4a"],
        by_name["abc/media.mp4"],
    )
    assert sha256(harness.path(video.name)) == sha256(video_site.kit.path("video-only.mp4"))
    assert sha256(harness.path(audio.name)) == sha256(video_site.kit.path("audio-only.m4a"))
    assert video.derived_from is None and audio.derived_from is None
    assert merged.derived_from == video.name
    assert merged.platform["merged_from"] == sorted([audio.name, video.name])
    assert [s["codec_type"] for s in merged.platform["probe"]["streams"]] == ["video", "audio"]
    assert roles(result) == sorted(
        ["info-json", "comments", "media", "media", "media", "subtitles", "subtitles", "thumbnail"]
    )
    comments = json.loads(harness.path("abc/comments.json").read_text())
    assert comments["count"] == 3
    subs = {a.name: a.platform["language"] for a in result.artifacts if a.role == "subtitles"}
    assert subs == {"abc/subtitles.en.vtt": "en", "abc/subtitles.evil.vtt": "../../evil"}
    facts = result.platform
    assert (facts["uploader_id"], facts["channel_id"], facts["upload_date"]) == (
        "@tester", "UC-test", "20231114"
    )  # fmt: skip
    assert {f["format_id"] for f in facts["formats"]} == {"v1", "a1"}
    # nothing was written outside the staging directory despite hostile names
    staged = {
        p.relative_to(harness.last_staging).as_posix()
        for p in harness.last_staging.rglob("*")
        if p.is_file()
    }
    assert set(by_name) <= staged
    assert not list(harness.root.glob("evil*")) and not list(harness.root.glob("*/evil*"))


def test_comments_only_when_asked(harness: Harness, video_site: VideoSite, collector):
    video_site.add_video("abc")
    result = harness.run(
        collector, video_site.url("/wbtest/video/abc"), subtitles="none", thumbnails="none"
    )
    assert result.status == "complete"
    assert "comments" not in roles(result) and "subtitles" not in roles(result)
    assert "thumbnail" not in roles(result)


# -- playlists: incremental, bounded, oldest first ----------------------------------------------
def _channel(site: VideoSite, ids: list[str], start: int = 1_700_000_000) -> str:
    for n, vid in enumerate(ids):
        site.add_video(vid, timestamp=start + n * 86_400, media={"single": "/media/clip2.mp4"})
    return site.add_channel("chan", list(reversed(ids)))  # the site lists newest first


def test_playlist_second_run_downloads_nothing_then_only_the_new(
    harness: Harness, video_site: VideoSite, collector
):
    url = _channel(video_site, ["v1", "v2", "v3"])
    first = harness.run(collector, url)
    assert first.status == "complete", first.reasons
    assert [i.id for i in first.items] == ["v1", "v2", "v3"]  # oldest first
    assert {i.status for i in first.items} == {"captured"}
    assert first.platform["listing"]["order"] == "date"
    assert first.cursor["backfill_complete"] is True
    assert video_site.media_hits() == 3
    listing = json.loads(harness.path("playlist.info.json").read_text())
    assert [e["id"] for e in listing["entries"]] == ["v3", "v2", "v1"]

    second = harness.run(collector, url)
    assert second.status == "complete" and second.items == []
    assert video_site.media_hits() == 3  # no media fetched again
    assert second.platform["listing"]["already_captured"] == 3

    for n, vid in enumerate(["v4", "v5"]):
        video_site.add_video(vid, timestamp=1_800_000_000 + n, media={"single": "/media/clip2.mp4"})
    video_site.channels["chan"]["videos"][:0] = ["v5", "v4"]
    third = harness.run(collector, url)
    assert [(i.id, i.status) for i in third.items] == [("v4", "captured"), ("v5", "captured")]
    assert video_site.media_hits() == 5
    assert sorted({a.name.split("/")[0] for a in third.artifacts}) == [
        "playlist.info.json",
        "v4",
        "v5",
    ]


def test_first_backfill_is_bounded_and_walks_forward(
    harness: Harness, video_site: VideoSite, collector
):
    url = _channel(video_site, ["a1", "a2", "a3", "a4", "a5"])
    runs = [harness.run(collector, url, max_entries=2) for _ in range(3)]
    assert [[i.id for i in r.items] for r in runs] == [["a1", "a2"], ["a3", "a4"], ["a5"]]
    assert [r.cursor["backfill_complete"] for r in runs] == [False, False, True]
    assert runs[0].platform["listing"]["deferred_new"] == 3


def test_failed_entry_never_blocks_and_is_retried(
    harness: Harness, video_site: VideoSite, collector
):
    url = _channel(video_site, ["ok1", "bad", "ok2"])
    video_site.videos["bad"]["error"] = "private"
    first = harness.run(collector, url)
    assert first.status == "partial"
    assert [(i.id, i.status) for i in first.items] == [
        ("ok1", "captured"),
        ("bad", "failed"),
        ("ok2", "captured"),
    ]
    assert first.items[1].error.startswith("private:")
    assert any(r.startswith("entry bad: private") for r in first.reasons)

    video_site.videos["bad"].pop("error")
    second = harness.run(collector, url)
    assert [(i.id, i.status) for i in second.items] == [("bad", "captured")]
    assert second.status == "complete"


def test_listing_without_dates_uses_the_listing_order(
    harness: Harness, video_site: VideoSite, collector
):
    url = _channel(video_site, ["n1", "n2", "n3"])
    for video in video_site.videos.values():
        video["timestamp"] = None
    first = harness.run(collector, url, max_entries=2)
    assert [i.id for i in first.items] == ["n1", "n2"]  # newest-first listing, reversed
    assert first.platform["listing"]["order"] == "newest-first listing reversed"


# -- failures end in a status with a reason ---------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/media/missing.mp4", "not-found"),
        ("/status/404/clip.mp4", "not-found"),
        ("/status/403/clip.mp4", "forbidden"),
        ("/truncated/clip.mp4", "truncated"),
    ],
)
def test_download_failures(
    harness: Harness, video_site: VideoSite, collector, path: str, kind: str
):
    result = harness.run(collector, video_site.url(path), backoff_retries=0)
    assert result.status == "failed"
    assert result.reasons and result.reasons[0].startswith(f"{kind}:"), result.reasons
    assert not media(result)


def test_corrupt_media_is_kept_and_flagged(harness: Harness, video_site: VideoSite, collector):
    result = harness.run(collector, video_site.url("/media/corrupt.mp4"))
    assert result.status == "partial"
    assert result.reasons[0].startswith("corrupt media: media.mp4: not a decodable media file")
    [kept] = media(result)  # what was served is still evidence
    assert sha256(harness.path(kept.name)) == sha256(video_site.kit.path("corrupt.mp4"))
    assert [(i.id, i.status) for i in result.items] == [("corrupt", "failed")]


def test_unsupported_url(harness: Harness, video_site: VideoSite, collector):
    video_site.pages["empty"] = "<html><head><title>nothing</title></head><body>text</body></html>"
    result = harness.run(collector, video_site.url("/page/empty.html"))
    assert result.status == "failed"
    assert result.reasons[0].startswith("unsupported:")


@pytest.mark.parametrize(
    ("error", "kind"), [("private", "private"), ("removed", "removed"), ("geo", "geo-blocked")]
)
def test_platform_refusals(
    harness: Harness, video_site: VideoSite, collector, error: str, kind: str
):
    video_site.add_video("gone", error=error)
    result = harness.run(collector, video_site.url("/wbtest/video/gone"))
    assert result.status == "failed"
    assert result.reasons[0].startswith(f"{kind}:"), result.reasons


def test_video_removed_after_capture_is_recorded(
    harness: Harness, video_site: VideoSite, collector
):
    video_site.add_video("once")
    assert harness.run(collector, video_site.url("/wbtest/video/once")).status == "complete"
    video_site.videos["once"]["error"] = "removed"
    later = harness.run(collector, video_site.url("/wbtest/video/once"))
    assert later.status == "failed"
    assert [(i.id, i.status) for i in later.items] == [("once", "deleted")]


def test_http_429_backs_off_then_succeeds(harness: Harness, video_site: VideoSite):
    waits: list[float] = []
    collector = VideoCollector(sleep=waits.append)
    result = harness.run(collector, video_site.url("/flaky/2/clip.mp4"), backoff_seconds=0.5)
    assert result.status == "complete", result.reasons
    assert waits == [0.5, 2.0]
    assert sha256(harness.path(media(result)[0].name)) == sha256(video_site.kit.path("clip.mp4"))


def test_http_429_persisting_defers_the_source(harness: Harness, video_site: VideoSite):
    waits: list[float] = []
    collector = VideoCollector(sleep=waits.append)
    result = harness.run(collector, video_site.url("/flaky/99/clip.mp4"), backoff_seconds=0.1)
    assert result.status == "failed"
    assert result.reasons[0].startswith("rate-limited:")
    assert result.retry_after is not None
    assert len(waits) == 2


def test_rate_limited_playlist_stops_and_keeps_the_rest_for_later(
    harness: Harness, video_site: VideoSite, collector
):
    url = _channel(video_site, ["r1", "r2", "r3"])
    video_site.videos["r2"]["error"] = "rate-limited"
    result = harness.run(collector, url, backoff_retries=1, backoff_seconds=0)
    assert [(i.id, i.status) for i in result.items] == [("r1", "captured"), ("r2", "failed")]
    assert result.status == "partial" and result.retry_after is not None
    assert result.cursor["backfill_complete"] is False
    video_site.videos["r2"].pop("error")
    later = harness.run(collector, url)
    assert [(i.id, i.status) for i in later.items] == [("r2", "captured"), ("r3", "captured")]


def test_max_filesize_skips_without_failing_forever(
    harness: Harness, video_site: VideoSite, collector
):
    result = harness.run(collector, video_site.url("/media/clip.mp4"), max_filesize=1000)
    assert result.status == "partial"
    assert "too large" in result.reasons[0]
    assert not media(result)
    assert [(i.id, i.status) for i in result.items] == [("clip", "skipped")]


def test_recapture_of_a_single_video_refreshes_metadata_only(
    harness: Harness, video_site: VideoSite, collector
):
    url = video_site.url("/media/clip.mp4")
    assert harness.run(collector, url).status == "complete"
    hits = video_site.media_hits()
    again = harness.run(collector, url)
    assert again.status == "complete" and not media(again) and again.items == []
    assert roles(again) == ["info-json"]
    assert video_site.media_hits() == hits + 1  # the generic extractor's one probe request
    refetch = harness.run(collector, url, refetch=True)
    assert len(media(refetch)) == 1


# -- the network policy, options and secrets ----------------------------------------------------------
def test_policy_refuses_loopback_by_default(tmp_path: Path, video_site: VideoSite, collector):
    harness = Harness(tmp_path, policy=NetworkPolicy())
    result = harness.run(collector, video_site.url("/media/clip.mp4"))
    assert result.status == "failed" and result.reasons[0].startswith("policy: refused")
    assert video_site.hits == {}


class OnlyLiteralLoopback(NetworkPolicy):
    """Allows 127.0.0.1 by address, refuses every name: to see redirects being checked."""

    def check_host(self, host: str, port: int | None = None) -> list[str]:
        if host != "127.0.0.1":
            raise PolicyError(f"refused: {host} (test policy)")
        return ["127.0.0.1"]


def test_policy_applies_to_redirects(tmp_path: Path, video_site: VideoSite, collector):
    harness = Harness(tmp_path, policy=OnlyLiteralLoopback())
    target = f"http://localhost:{video_site.port}/media/clip.mp4"
    result = harness.run(collector, video_site.url(f"/redirect?to={target}"))
    assert result.status == "failed"
    assert result.reasons[0] == "policy: refused: localhost (test policy)"
    assert result.network["refused"] == ["refused: localhost (test policy)"]
    assert video_site.hits["/media/clip.mp4"] == 0


def test_bad_option_is_a_clear_failure(harness: Harness, video_site: VideoSite, collector):
    result = harness.run(collector, video_site.url("/media/clip.mp4"), colour="blue")
    assert result.status == "failed" and result.reasons[0].startswith(
        "bad option: unknown video option"
    )


def test_cookies_file_is_used_but_never_recorded(
    tmp_path: Path, harness: Harness, video_site: VideoSite, collector
):
    cookies = tmp_path / "secret-cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tTOPSECRET\n"
    )
    before = cookies.read_bytes()
    video_site.add_video("ck")
    result = harness.run(collector, video_site.url("/wbtest/video/ck"), cookies=str(cookies))
    assert result.status == "complete", result.reasons
    assert result.platform["options"]["cookies"] is True
    everything = json.dumps(
        [result.platform, result.network, [a.platform for a in result.artifacts]]
    )
    for path in harness.last_staging.rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("latin-1")
    assert "TOPSECRET" not in everything and "secret-cookies" not in everything
    assert cookies.read_bytes() == before  # yt-dlp only ever saw a copy


def test_watch_page_is_captured_by_the_web_collector(
    harness: Harness, video_site: VideoSite, collector, monkeypatch: pytest.MonkeyPatch
):
    from collectors.formats.warc import iter_records
    from collectors.web.collector import WebCollector

    closed: list[bool] = []
    close = WebCollector.close
    monkeypatch.setattr(WebCollector, "close", lambda self: closed.append(True) or close(self))
    url = video_site.add_video_page("watched", media="/media/clip2.mp4")
    result = harness.run(collector, url, watch_page=True)
    assert result.status == "complete", result.reasons
    page = result.platform["watch_page"]
    assert page["status"] == "complete" and page["collector"] == "web", page
    [warc] = [a for a in result.artifacts if a.name.endswith(".warc.gz")]
    assert warc.name.startswith("watched-1/watch-page/")
    uris = {r.uri for r in iter_records(harness.path(warc.name)) if r.type == "response"}
    assert url in uris
    [clip] = media(result)  # the video itself, as before
    assert sha256(harness.path(clip.name)) == sha256(video_site.kit.path("clip2.mp4"))
    assert closed == [True]  # the browser did not outlive the run


def test_watch_page_without_a_web_collector_is_recorded_as_skipped(
    harness: Harness, video_site: VideoSite, collector, monkeypatch: pytest.MonkeyPatch
):
    from collectors import registry

    monkeypatch.delitem(registry.COLLECTORS, "web")
    result = harness.run(collector, video_site.url("/media/clip.mp4"), watch_page=True)
    assert result.status == "complete"
    assert result.platform["watch_page"]["status"] == "skipped"
    assert len(media(result)) == 1
