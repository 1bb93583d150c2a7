"""The video collector through ``preservation.pipeline`` and the ``witnessbox`` CLI.

A real catalogue remembers which entries were captured (``source_items``) and the next run
reads them back through ``ctx.seen``; the store keeps the bytes the site served.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors.video.collector import VideoCollector
from preservation.catalogue import watchlist
from preservation.catalogue.models import Source, SourceItem
from preservation.formats import manifest as manifests
from preservation.pipeline import ARTIFACTS_DIR, collect_into_staging, commit_pending
from preservation.runner import capture_source
from preservation.runtime import Runtime
from preservation.store import blob_key
from tests.support import video_fixtures
from tests.support.video_extractor import TEST_EXTRACTORS
from tests.support.video_site import VideoSite

video_kit = video_fixtures.video_kit
video_site = video_fixtures.video_site
WITNESSBOX = str(Path(sys.executable).with_name("witnessbox"))


def _add(rt: Runtime, url: str, **options) -> Source:
    spec = watchlist.validate_entry(url, rt.policy, kind="video", options=options)
    source = watchlist.add_source(rt.catalogue, spec, "tester", rt.clock())
    with rt.catalogue.session() as session:
        return session.get(Source, source.id)


def _items(rt: Runtime, source_id: str) -> dict[str, str]:
    with rt.catalogue.session() as session:
        rows = session.scalars(select(SourceItem).where(SourceItem.source_id == source_id))
        return {r.item_id: r.status for r in rows}


def _manifest(rt: Runtime, key: str) -> dict:
    return manifests.parse(rt.store.read_bytes(key))


def _stored_sha(rt: Runtime, sha: str) -> str:
    with rt.store.open(blob_key(sha)) as stream:
        return hashlib.sha256(stream.read()).hexdigest()


@pytest.fixture
def rt(private_ok, runtime) -> Runtime:
    runtime.collectors["video"] = VideoCollector(extractors=TEST_EXTRACTORS, sleep=lambda s: None)
    return runtime


def test_channel_incremental_through_the_pipeline(rt: Runtime, video_site: VideoSite):
    for n, vid in enumerate(["p1", "p2", "p3"]):
        video_site.add_video(vid, timestamp=1_700_000_000 + n)
    url = video_site.add_channel("news", ["p3", "p2", "p1"])
    source = _add(rt, url)

    first = capture_source(rt, source)
    assert first.status == "complete", first.reasons
    assert _items(rt, source.id) == {"p1": "captured", "p2": "captured", "p3": "captured"}
    manifest = _manifest(rt, first.manifest_key)
    assert manifest["platform"]["kind"] == "playlist"
    assert manifest["tools"]["yt-dlp"]
    by_name = {a["name"]: a for a in manifest["artifacts"]}
    served_video = hashlib.sha256(video_site.kit.path("video-only.mp4").read_bytes()).hexdigest()
    assert by_name["p1/media.fv1.mp4"]["sha256"] == served_video
    assert _stored_sha(rt, served_video) == served_video
    assert by_name["p1/media.mp4"]["derived_from"] == served_video  # the merge, from the video stream
    hits = video_site.media_hits()

    with rt.catalogue.session() as session:
        source = session.get(Source, source.id)
    second = capture_source(rt, source)
    assert second.status == "complete"
    assert _manifest(rt, second.manifest_key)["capture"]["items"] == []
    assert video_site.media_hits() == hits

    for n, vid in enumerate(["p4", "p5"]):
        video_site.add_video(vid, timestamp=1_800_000_000 + n)
    video_site.channels["news"]["videos"][:0] = ["p5", "p4"]
    third = capture_source(rt, source)
    items = _manifest(rt, third.manifest_key)["capture"]["items"]
    assert [(i["id"], i["status"]) for i in items] == [("p4", "captured"), ("p5", "captured")]
    assert len(_items(rt, source.id)) == 5


def test_failed_entry_is_retried_by_the_next_run(rt: Runtime, video_site: VideoSite):
    for n, vid in enumerate(["f1", "f2"]):
        video_site.add_video(vid, timestamp=1_700_000_000 + n)
    video_site.videos["f1"]["error"] = "private"
    source = _add(rt, video_site.add_channel("c2", ["f2", "f1"]))
    first = capture_source(rt, source)
    assert first.status == "partial"
    assert _items(rt, source.id) == {"f1": "failed", "f2": "captured"}
    video_site.videos["f1"].pop("error")
    second = capture_source(rt, source)
    assert second.status == "complete"
    assert _items(rt, source.id) == {"f1": "captured", "f2": "captured"}


def test_stored_media_is_the_served_file_through_the_hashing_tee(
    rt: Runtime, video_site: VideoSite, monkeypatch: pytest.MonkeyPatch
):
    reused: list[str] = []
    put_hashed_file = rt.store.put_hashed_file

    def spy(path, known, **stamp):
        reused.append(Path(path).name)
        return put_hashed_file(path, known, **stamp)

    monkeypatch.setattr(rt.store, "put_hashed_file", spy)
    source = _add(rt, video_site.url("/media/clip.mp4"))
    outcome = capture_source(rt, source)
    assert outcome.status == "complete", outcome.reasons
    [media] = [a for a in _manifest(rt, outcome.manifest_key)["artifacts"] if a["role"] == "media"]
    served = video_site.kit.path("clip.mp4").read_bytes()
    assert media["sha256"] == hashlib.sha256(served).hexdigest()
    assert media["sha512"] == hashlib.sha512(served).hexdigest()
    assert media["md5"] == hashlib.md5(served).hexdigest()
    assert _stored_sha(rt, media["sha256"]) == media["sha256"]
    assert reused == ["media.mp4"]  # the tee's digests were used, not a second read


def test_media_changed_after_download_is_stored_as_found(rt: Runtime, video_site: VideoSite):
    source = _add(rt, video_site.url("/media/clip.mp4"))
    staging = collect_into_staging(rt, source)
    staged = staging / ARTIFACTS_DIR / "clip" / "media.mp4"
    with open(staged, "r+b") as stream:  # same size, before the commit
        stream.seek(100)
        stream.write(b"altered")
    altered = hashlib.sha256(staged.read_bytes()).hexdigest()
    outcome = commit_pending(rt, staging)
    assert outcome.status == "partial"
    assert any("clip/media.mp4 changed after it was downloaded" in r for r in outcome.reasons)
    [media] = [a for a in _manifest(rt, outcome.manifest_key)["artifacts"] if a["role"] == "media"]
    assert media["sha256"] == altered  # the manifest describes the bytes stored
    assert _stored_sha(rt, altered) == altered


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WITNESSBOX, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_cli_capture_kind_video_end_to_end(tmp_path: Path, video_site: VideoSite):
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home")}
    env["WITNESSBOX_ALLOW_PRIVATE_NETWORKS"] = "1"
    url = video_site.add_video_page("evidence", media="/media/clip.mp4")
    proc = _cli(env, "capture", url, "--kind", "video", "--json")
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["status"] == "complete"
    shown = json.loads(_cli(env, "show", outcome["capture_id"], "--json").stdout)
    media = [a for a in shown["artifacts"] if a["role"] == "media"]
    served = hashlib.sha256(video_site.kit.path("clip.mp4").read_bytes()).hexdigest()
    assert [a["sha256"] for a in media] == [served]
    assert shown["manifest"]["platform"]["extractor"] == "html5"

    missing = _cli(env, "capture", video_site.url("/media/nothing.mp4"), "--kind", "video", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["reasons"][0].startswith("not-found:")


@pytest.mark.slow
def test_cli_refuses_loopback_without_the_operator_allowing_it(tmp_path: Path, video_site: VideoSite):
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home")}
    env.pop("WITNESSBOX_ALLOW_PRIVATE_NETWORKS", None)
    proc = _cli(env, "capture", video_site.url("/media/clip.mp4"), "--kind", "video")
    assert proc.returncode == 2
    assert "refused" in proc.stderr
    assert video_site.hits == {}
