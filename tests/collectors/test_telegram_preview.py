"""preview mode against a local site shaped like ``https://t.me/s/<name>``, on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from warcio.archiveiterator import ArchiveIterator

from collectors.telegram.collector import TelegramCollector
from collectors.telegram.preview_html import parse_count, parse_preview_page
from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from tests.support.telegram_harness import Harness, load_batches, stored_messages
from tests.support.telegram_preview_site import PreviewSite, jpeg, photo, video


@pytest.fixture
def site():
    site = PreviewSite().start()
    yield site
    site.stop()


@pytest.fixture
def harness(tmp_path, site) -> Harness:
    settings = Settings(home=tmp_path / "home", telegram_preview_url=site.preview_url)
    return Harness(tmp_path, settings, TelegramCollector(), options={"preview_max_pages": 2})


def all_posts(staging, result) -> list[dict]:
    posts = []
    for kind in ("new", "backfill"):
        posts += stored_messages(staging, result, kind)
    return sorted(posts, key=lambda p: p["id"])


def warc_records(path) -> list[tuple[str, str, int | None]]:
    with open(path, "rb") as stream:
        return [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.http_headers.get_statuscode()
                if r.http_headers and r.rec_type == "response"
                else None,
            )
            for r in ArchiveIterator(stream)
        ]


def test_first_run_pages_back_within_its_budget(harness, site):
    site.publish(1, 50, photo_every=5, video_every=7)

    result, staging = harness.run()

    assert result.status == "complete", result.reasons
    posts = all_posts(staging, result)
    assert [p["id"] for p in posts] == list(range(11, 51))  # two pages of 20, newest first
    assert site.requests[:2] == ["/s/witnesschan", "/s/witnesschan?before=31"]
    assert result.cursor == {"mode": "preview", "newest_id": 50, "gaps": [[0, 11]], "last_id": 0}
    post = next(p for p in posts if p["id"] == 35)
    assert post["text"] == "Post 35 <b>&</b> report"
    assert post["date"] == "2024-03-02T19:00:00+00:00"
    assert post["views"] == 1200 and post["views_raw"] == "1.2K"
    assert post["url"] == "https://t.me/witnesschan/35"
    assert [m["kind"] for m in post["media"]] == ["photo", "video"]
    photo_path = staging / post["media"][0]["file"]
    assert photo_path.read_bytes() == photo(35, 1)
    assert (staging / post["media"][1]["file"]).read_bytes() == video(35)
    media = {a.name: a for a in result.artifacts if a.role == "media"}
    assert media[post["media"][0]["file"]].media_type == "image/jpeg"
    assert media[post["media"][1]["file"]].media_type == "video/mp4"
    channel = json.loads((staging / "channel.json").read_text())
    assert channel["title"] == "Witness Channel"
    assert channel["about"] == "Reports from the ground"
    assert channel["participants_count"] == 4300
    assert (staging / channel["photo_file"]).read_bytes() == jpeg(999)
    assert {i.id for i in result.items} == {str(i) for i in range(11, 51)}


def test_warc_holds_every_page_and_media_fetched(harness, site):
    site.publish(1, 30, photo_every=10)
    result, staging = harness.run()

    warc = next(a for a in result.artifacts if a.role == "warc")
    assert warc.name == "preview.warc.gz" and warc.media_type == "application/warc"
    records = warc_records(staging / warc.name)
    assert records[0][0] == "warcinfo"
    responses = [uri.removeprefix(site.base) for kind, uri, _ in records if kind == "response"]
    requests = [uri.removeprefix(site.base) for kind, uri, _ in records if kind == "request"]
    assert responses == requests
    assert sorted(responses) == sorted(site.requests)
    assert "/s/witnesschan?before=11" in responses
    assert "/file/30-1.jpg" in responses
    with open(staging / warc.name, "rb") as stream:  # every digest verified while reading
        for record in ArchiveIterator(stream, check_digests="raise"):
            if record.rec_type == "response":
                assert record.rec_headers.get_header("WARC-Payload-Digest").startswith("sha256:")
                assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
                if record.rec_headers.get_header("WARC-Target-URI").endswith("/file/30-1.jpg"):
                    assert record.content_stream().read() == photo(30, 1)


def test_second_run_is_incremental_and_fills_the_backfill_gap(harness, site):
    site.publish(1, 50)
    harness.run()
    site.publish(51, 53)
    site.requests.clear()

    result, staging = harness.run()

    assert result.status == "complete", result.reasons
    new = stored_messages(staging, result, "new")
    assert [p["id"] for p in new] == [51, 52, 53]
    backfill = stored_messages(staging, result, "backfill")
    assert [p["id"] for p in backfill] == list(range(1, 11))
    assert result.cursor == {"mode": "preview", "newest_id": 53, "gaps": [], "last_id": 53}
    pages = [r for r in site.requests if r.startswith("/s/")]
    assert pages == ["/s/witnesschan", "/s/witnesschan?before=11"]

    third, staging3 = harness.run()
    assert all_posts(staging3, third) == []
    assert third.cursor["last_id"] == 53


def test_a_burst_larger_than_the_budget_leaves_a_gap_that_later_runs_fill(harness, site):
    harness.options = {"preview_max_pages": 2, "preview_backfill": False}
    site.publish(1, 10)
    first, _ = harness.run()
    assert first.cursor == {"mode": "preview", "newest_id": 10, "gaps": [], "last_id": 10}
    site.publish(11, 70)  # 60 new posts: three pages, two per run

    second, staging = harness.run()
    assert second.status == "partial"
    assert [p["id"] for p in all_posts(staging, second)] == list(range(31, 71))
    assert second.cursor == {"mode": "preview", "newest_id": 70, "gaps": [[10, 31]], "last_id": 10}

    seen: list[int] = []
    for _ in range(2):
        result, staging = harness.run()
        seen += [p["id"] for p in all_posts(staging, result)]
    assert sorted(seen) == list(range(11, 31))
    assert harness.cursor == {"mode": "preview", "newest_id": 70, "gaps": [], "last_id": 70}
    assert result.status == "complete"


def test_forward_reply_album_author_and_links_are_parsed(harness, site):
    site.publish(1, 5)
    post = site.posts[5]
    post.fwd_name, post.fwd_url = "Origin News", "https://t.me/originnews/77"
    post.reply_to = 3
    post.author = "Desk Editor"
    post.photos = 3
    post.links = ["https://example.org/report"]
    post.text = "Line one\nLine two"

    result, staging = harness.run()

    record = next(p for p in all_posts(staging, result) if p["id"] == 5)
    assert record["fwd_from"] == {
        "url": "https://t.me/originnews/77",
        "channel": "originnews",
        "channel_post": 77,
        "name": "Origin News",
    }
    assert record["reply_to"]["msg_id"] == 3
    assert record["post_author"] == "Desk Editor"
    assert record["album"] is True
    assert [m.get("message_id") for m in record["media"]] == [5, 6, 7]
    assert record["links"] == ["https://example.org/report"]
    assert record["text"] == "Line one\nLine two https://example.org/report"
    assert all((staging / m["file"]).is_file() for m in record["media"])


def test_edited_and_deleted_posts_on_the_first_page_are_recorded(harness, site):
    site.publish(1, 15)
    harness.run()
    site.posts[12].text = "Post 12 corrected"
    site.posts[12].edited = True
    del site.posts[9]

    result, staging = harness.run()

    assert [(i.id, i.data["version"]) for i in result.items if i.status == "edited"] == [("12", 2)]
    versions = stored_messages(staging, result, "edits")
    assert versions[0]["text"] == "Post 12 corrected" and versions[0]["edited"] is True
    assert versions[0]["previous"]["capture_id"] == "cap-0001"
    deleted = [i for i in result.items if i.status == "deleted"]
    assert [i.id for i in deleted] == ["9"]
    assert deleted[0].data["deleted_observed_at"] == "2024-03-10T09:00:00Z"
    assert [b["messages"][0]["id"] for b in load_batches(staging, result, "deletions")] == [9]


def test_channel_without_a_preview_fails_and_keeps_the_warc(tmp_path, site):
    settings = Settings(home=tmp_path / "home", telegram_preview_url=site.preview_url)
    harness = Harness(tmp_path, settings, TelegramCollector(), url="https://t.me/nosuchchan")
    result, staging = harness.run()
    assert result.status == "failed"
    assert "no public preview" in result.reasons[0]
    assert [a.role for a in result.artifacts] == ["warc"]
    records = warc_records(staging / "preview.warc.gz")
    assert [s for k, _, s in records if k == "response"] == ["302", "404"]
    assert harness.cursor == {}


def test_network_policy_is_checked_on_every_fetch(tmp_path, site):
    settings = Settings(home=tmp_path / "home", telegram_preview_url=site.preview_url)
    harness = Harness(
        tmp_path, settings, TelegramCollector(), policy=NetworkPolicy(allow_private=False)
    )
    site.publish(1, 3)
    with pytest.raises(PolicyError):
        harness.run()
    assert site.requests == []


def test_media_on_a_refused_host_is_recorded_not_fetched(harness, site):
    site.publish(1, 3, photo_every=1)
    site.media_host = "metadata.internal"
    result, staging = harness.run()
    posts = all_posts(staging, result)
    assert all(p["media"][0]["status"].startswith("refused") for p in posts) or all(
        "failed" in p["media"][0]["status"] for p in posts
    )
    assert not [a for a in result.artifacts if a.name.startswith("media/")]
    assert result.status == "partial"


def test_parse_counts_and_page_shape(site):
    assert parse_count("1.2K") == 1200
    assert parse_count("3M") == 3_000_000
    assert parse_count("987") == 987
    assert parse_count("n/a") is None
    site.publish(1, 25)
    page = parse_preview_page(site.render_page(None), "https://t.me/s/witnesschan")
    assert [p.id for p in page.posts] == list(range(6, 26))
    assert page.before == 6
    older = parse_preview_page(site.render_page(6), "https://t.me/s/witnesschan")
    assert [p.id for p in older.posts] == [1, 2, 3, 4, 5]
    assert older.before is None


def test_preview_warc_is_written_by_the_shared_writer(harness, site):
    """One WARC writer for every collector: WARC/1.1, sha256 digests, each fetch in full."""
    from collectors.formats.warc import check_warc, iter_records

    site.publish(1, 12, photo_every=4)
    result, staging = harness.run()
    path = staging / "preview.warc.gz"
    assert check_warc(path) == []
    records = list(iter_records(path))
    assert {r.type for r in records} == {"warcinfo", "response", "request"}  # no revisits
    for record in records:
        assert record.headers["WARC-Date"].endswith("Z") and "." in record.headers["WARC-Date"]
    responses = [r for r in records if r.type == "response"]
    assert all(r.headers["WARC-IP-Address"] == "127.0.0.1" for r in responses)
    assert all(r.headers["WARC-Payload-Digest"].startswith("sha256:") for r in responses)
    assert all(r.http_header("Content-Length") == str(len(r.payload)) for r in responses)
