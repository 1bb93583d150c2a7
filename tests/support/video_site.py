"""A small video site on 127.0.0.1 for the video collector's tests.

Routes (``site.url(path)``)::

    /media/<file>                 files of the media kit (Range requests supported)
    /hls/<file>                   the HLS stream
    /page/<name>.html             an HTML5 <video> page from ``site.pages``
    /status/<code>/<anything>     that HTTP status, empty body
    /flaky/<n>/<file>             HTTP 429 (Retry-After: 0) for the first n requests, then the file
    /truncated/<file>             announces more bytes than it sends, then closes
    /redirect?to=<url>            302 to ``to``
    /wbtest/api/channel/<name>.json   the test extractor's channel listing (``site.channels``)
    /wbtest/api/video/<id>.json       the test extractor's video metadata (``site.videos``)

Every request is counted in ``site.hits`` (path without query) so tests can tell what was
fetched, e.g. that a second run downloads nothing.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.video_media import MediaKit

_TYPES = {
    ".mp4": "video/mp4", ".m4a": "audio/mp4", ".jpg": "image/jpeg", ".vtt": "text/vtt",
    ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".html": "text/html",
}  # fmt: skip


class VideoSite:
    def __init__(self, kit: MediaKit) -> None:
        self.kit = kit
        self.pages: dict[str, str] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.hits: Counter[str] = Counter()
        self._flaky: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> VideoSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def media_hits(self) -> int:
        """Requests for audio and video bytes (not pages, API calls, thumbnails or subtitles)."""
        return sum(n for p, n in self.hits.items() if p.endswith((".mp4", ".m4a", ".ts")))

    # -- fixtures ------------------------------------------------------------------------
    def add_video_page(
        self, name: str, media: str = "/media/clip.mp4", title: str = "A page"
    ) -> str:
        self.pages[name] = (
            f"<!doctype html><html><head><title>{title}</title></head><body>"
            f'<video controls src="{media}" poster="/media/thumb.jpg"></video></body></html>'
        )
        return self.url(f"/page/{name}.html")

    def add_video(
        self, video_id: str, timestamp: int = 1_700_000_000, **extra: Any
    ) -> dict[str, Any]:
        record = {"id": video_id, "timestamp": timestamp, **extra}
        self.videos[video_id] = record
        return record

    def add_channel(self, name: str, video_ids: list[str]) -> str:
        self.channels[name] = {"id": name, "videos": list(video_ids)}
        return self.url(f"/wbtest/channel/{name}")

    # -- serving -------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with site._lock:
                    site.hits[parts.path] += 1
                try:
                    site._route(self, parts.path, parse_qs(parts.query))
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_HEAD = do_GET

        return Handler

    def _route(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]) -> None:
        if path.startswith("/media/"):
            return self._file(h, self.kit.path(path[len("/media/") :]))
        if path.startswith("/hls/"):
            return self._file(h, self.kit.path("hls") / path[len("/hls/") :])
        if m := re.fullmatch(r"/page/([\w-]+)\.html", path):
            page = self.pages.get(m.group(1))
            if page is None:
                return self._status(h, 404)
            return self._bytes(h, page.encode(), "text/html; charset=utf-8")
        if m := re.fullmatch(r"/status/(\d{3})/.*", path):
            return self._status(h, int(m.group(1)))
        if m := re.fullmatch(r"/flaky/(\d+)/(.+)", path):
            with self._lock:
                self._flaky[path] += 1
                count = self._flaky[path]
            if count <= int(m.group(1)):
                return self._status(h, 429, {"Retry-After": "0"})
            return self._file(h, self.kit.path(m.group(2)))
        if path.startswith("/truncated/"):
            data = self.kit.path(path[len("/truncated/") :]).read_bytes()
            h.send_response(200)
            h.send_header("Content-Type", "video/mp4")
            h.send_header("Content-Length", str(len(data) + 100_000))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        if path == "/redirect":
            h.send_response(302)
            h.send_header("Location", query.get("to", ["/"])[0])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if m := re.fullmatch(r"/wbtest/api/channel/([\w-]+)\.json", path):
            channel = self.channels.get(m.group(1))
            if channel is None:
                return self._status(h, 404)
            listing = [
                {"id": v, "timestamp": self.videos.get(v, {}).get("timestamp")}
                for v in channel["videos"]
            ]
            return self._json(h, {"id": channel["id"], "title": f"Channel {channel['id']}",
                                  "entries": listing})  # fmt: skip
        if m := re.fullmatch(r"/wbtest/api/video/([\w-]+)\.json", path):
            video = self.videos.get(m.group(1))
            if video is None:
                return self._json(h, {"error": "removed"}, 404)
            error = video.get("error")
            if error == "rate-limited":
                return self._status(h, 429, {"Retry-After": "0"})
            status = {"private": 403, "removed": 404, "geo": 451}.get(error or "", 200)
            return self._json(h, video, status)
        return self._status(h, 404)

    @staticmethod
    def _status(
        h: BaseHTTPRequestHandler, code: int, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(code)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", "0")
        h.end_headers()

    @staticmethod
    def _bytes(h: BaseHTTPRequestHandler, data: bytes, ctype: str, code: int = 200) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _json(self, h: BaseHTTPRequestHandler, value: Any, code: int = 200) -> None:
        self._bytes(h, json.dumps(value).encode(), "application/json", code)

    def _file(self, h: BaseHTTPRequestHandler, path: Path) -> None:
        if not path.is_file() or ".." in path.parts:
            return self._status(h, 404)
        size = path.stat().st_size
        start, end = 0, size - 1
        rng = re.fullmatch(r"bytes=(\d*)-(\d*)", h.headers.get("Range", ""))
        if rng and (rng.group(1) or rng.group(2)):
            if rng.group(1):
                start = int(rng.group(1))
                end = int(rng.group(2)) if rng.group(2) else size - 1
            else:
                start = max(0, size - int(rng.group(2)))
            if start >= size:
                return self._status(h, 416, {"Content-Range": f"bytes */{size}"})
            end = min(end, size - 1)
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            h.send_response(200)
        h.send_header("Content-Type", _TYPES.get(path.suffix, "application/octet-stream"))
        h.send_header("Content-Length", str(end - start + 1))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if h.command == "HEAD":
            return None
        with open(path, "rb") as stream:
            stream.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = stream.read(min(1 << 20, left))
                if not chunk:
                    break
                h.wfile.write(chunk)
                left -= len(chunk)
        return None


@contextmanager
def running_site(kit: MediaKit) -> Iterator[VideoSite]:
    site = VideoSite(kit).start()
    try:
        yield site
    finally:
        site.stop()
