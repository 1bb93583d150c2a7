"""A test-only yt-dlp "platform" on the local video site: a channel and its videos.

Registered only where a test passes it to ``VideoCollector(extractors=TEST_EXTRACTORS)``;
never part of the installed collector. Its videos come as separate video and audio
streams (so merging is exercised), with a thumbnail, subtitles (one with a hostile
language code), comments, uploader and channel ids, and the errors platforms give.
"""

from __future__ import annotations

from typing import Any

from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.utils import ExtractorError


def _base(url: str) -> str:
    return url.split("/wbtest/", 1)[0]


class WbTestChannelIE(InfoExtractor):
    IE_NAME = "wbtest:channel"
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/wbtest/channel/(?P<id>[\w-]+)"

    def _real_extract(self, url: str) -> dict[str, Any]:
        name = self._match_id(url)
        data = self._download_json(f"{_base(url)}/wbtest/api/channel/{name}.json", name)
        entries = [
            self.url_result(
                f"{_base(url)}/wbtest/video/{entry['id']}",
                WbTestVideoIE,
                entry["id"],
                timestamp=entry.get("timestamp"),
            )
            for entry in data["entries"]
        ]
        return self.playlist_result(
            entries, name, data.get("title"), channel_id=f"UC-{name}", uploader_id=f"@{name}"
        )


class WbTestVideoIE(InfoExtractor):
    IE_NAME = "wbtest:video"
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/wbtest/video/(?P<id>[\w-]+)"

    def _real_extract(self, url: str) -> dict[str, Any]:
        video_id = self._match_id(url)
        base = _base(url)
        data, handle = self._download_json_handle(
            f"{base}/wbtest/api/video/{video_id}.json", video_id, expected_status=(403, 404, 451)
        )
        error = data.get("error") if handle.status != 200 else None
        if error == "private":
            raise ExtractorError(
                "Private video. Sign in if you've been granted access", expected=True
            )
        if error == "removed" or handle.status == 404:
            raise ExtractorError("Video unavailable. This video has been removed", expected=True)
        if error == "geo":
            self.raise_geo_restricted(countries=["XX"])
        media = data.get("media", {})
        formats = [
            {
                "format_id": "v1", "url": base + media.get("video", "/media/video-only.mp4"),
                "ext": "mp4", "vcodec": "avc1.42c01e", "acodec": "none", "width": 320,
                "height": 240, "tbr": 300,
            },
            {
                "format_id": "a1", "url": base + media.get("audio", "/media/audio-only.m4a"),
                "ext": "m4a", "vcodec": "none", "acodec": "mp4a.40.2", "abr": 128,
            },
        ]  # fmt: skip
        if media.get("single"):
            formats = [{"format_id": "av1", "url": base + media["single"], "ext": "mp4"}]
        return {
            "id": video_id,
            "title": data.get("title", f"Video {video_id} ../../etc/passwd"),
            "formats": formats,
            "thumbnails": [{"url": base + "/media/thumb.jpg", "id": "../thumb"}],
            "subtitles": {
                "en": [{"url": base + "/media/subs.en.vtt", "ext": "vtt"}],
                "../../evil": [{"url": base + "/media/subs.en.vtt", "ext": "vtt"}],
            },
            "description": data.get("description", ""),
            "uploader": data.get("uploader", "Test uploader"),
            "uploader_id": "@tester",
            "channel_id": "UC-test",
            "channel_url": base + "/wbtest/channel/test",
            "timestamp": data.get("timestamp"),
            "webpage_url": url,
            "__post_extractor": self.extract_comments(video_id),
        }

    def _get_comments(self, video_id: str) -> Any:
        for n in range(3):
            yield {"id": f"c{n}", "text": f"comment {n} on {video_id}", "author": "someone",
                   "timestamp": 1_700_000_000 + n, "parent": "root"}  # fmt: skip


TEST_EXTRACTORS = (WbTestChannelIE, WbTestVideoIE)
