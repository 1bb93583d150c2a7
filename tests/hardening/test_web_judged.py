"""Web captures judged by what happened (real Chromium, a local fixture server).

* idle: with no request in flight the network is idle, however little of ``idle_max_s`` was
  left (no "not idle (0 request(s) in flight)"); a request that never ends is named;
* screenshot: a 20,000 px page gets a full-page screenshot in a time scaled to its height;
  when the full page does not fit its budget the viewport is kept and the reason says so;
* a URL that answers with a file download is a complete capture of that file, also stored
  as a media artifact (the pipeline gives it its digests).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from collectors.base import CollectContext, SourceRef
from collectors.registry import settings_view
from collectors.web import verdicts
from collectors.web.collector import WebCollector
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings

ROWS = 400  # 400 rows of 50 px: 20,000 px tall, over 500 KB of HTML


def long_html() -> bytes:
    rows = "".join(
        f'<div class="r" id="r{i}"><b>{i}</b> ' + ("evidence text " * 90) + "</div>\n"
        for i in range(ROWS)
    )
    return (
        "<!doctype html><html><head><title>long</title><style>"
        ".r{height:50px;overflow:hidden;font:12px sans-serif}</style></head><body>"
        + rows + "</body></html>"
    ).encode()


FILE = gzip.compress(b"<html><body>a documentation page, gzipped</body></html>" * 50)
PAGES = {
    "/plain.html": (b"<!doctype html><title>plain</title><p>plain page</p>", "text/html", {}),
    "/long.html": (long_html(), "text/html", {}),
    "/hang.html": (
        b"<!doctype html><title>hang</title><p>x</p>"
        b"<script>fetch('/never').catch(() => {})</script>",
        "text/html",
        {},
    ),
    "/docs.html.gz": (FILE, "application/gzip", {"Content-Disposition": "attachment"}),
    "/report.gz": (FILE, "application/gzip", {}),
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/never":
            self.server.release.wait(60)  # type: ignore[attr-defined]
            return
        body, ctype, extra = PAGES.get(self.path, (b"not found", "text/plain", {}))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    base = tmp_path_factory.mktemp("judged")
    counter = iter(range(1000))
    with WebCollector() as web:

        def run(url: str, **options: object):
            n = next(counter)
            staging = base / f"s{n}"
            staging.mkdir()
            ctx = CollectContext(
                settings=settings_view(web, Settings(home=base / "home")),
                policy=NetworkPolicy(allow_private=True),
                staging=staging,
                capture_id=f"c{n}",
            )
            result = web.collect(SourceRef("src", "web", url, options), ctx)
            return result, staging

        yield run


def test_idle_is_judged_by_requests_in_flight_not_the_budget(site, capture):
    result, _ = capture(site + "/plain.html", idle_max_s=0)  # no time at all to wait
    assert result.status == "complete", result.reasons
    assert not any("not idle" in r for r in result.reasons)
    result, _ = capture(site + "/hang.html", idle_max_s=1)
    assert result.status == "partial"
    (reason,) = [r for r in result.reasons if "not idle" in r]
    assert "(1 request(s) in flight: " in reason and "/never" in reason


def test_long_page_gets_a_full_page_screenshot(site, capture):
    assert len(PAGES["/long.html"][0]) >= 500_000
    result, staging = capture(site + "/long.html")
    assert result.status == "complete", result.reasons
    with Image.open(staging / "screenshot.png") as shot:
        assert shot.height >= 20_000, shot.size


def test_full_page_that_does_not_fit_keeps_the_viewport_and_says_so(site, capture, monkeypatch):
    import collectors.web.page as page

    monkeypatch.setattr(page, "screenshot_budget", lambda *a: 0.05)
    result, staging = capture(site + "/long.html")
    assert result.status == "partial"
    assert "screenshot: viewport only (full page timed out)" in result.reasons
    with Image.open(staging / "screenshot.png") as shot:
        assert shot.height == 900  # the viewport


def test_screenshot_budget_scales_with_height_within_the_capture_timeout():
    small = verdicts.screenshot_budget(1000, 5, 180)
    tall = verdicts.screenshot_budget(20_000, 5, 180)
    assert small < tall <= 180 - 5 - verdicts.CAPTURE_RESERVE_S
    assert verdicts.screenshot_budget(200_000, 5, 180) == 180 - 5 - verdicts.CAPTURE_RESERVE_S
    assert verdicts.screenshot_budget(20_000, 170, 180) == 0
    assert verdicts.idle_verdict(False, []) and not verdicts.idle_verdict(False, ["u"])
    assert verdicts.settle_budget(10.0, 12.0, 0.25) == pytest.approx(0.35)


@pytest.mark.parametrize("path", ["/docs.html.gz", "/report.gz"])
def test_a_download_is_a_complete_capture_of_that_file(site, capture, path):
    result, staging = capture(site + path)
    assert result.status == "complete", result.reasons
    media = [a for a in result.artifacts if a.role == "media"]
    assert len(media) == 1 and media[0].media_type == "application/gzip"
    stored = (staging / media[0].name).read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(FILE).digest()
    assert media[0].platform["url"] == site + path
    from collectors.formats.warc import iter_records

    records = [r for r in iter_records(staging / "capture.warc.gz") if r.type == "response"]
    assert any(r.uri == site + path for r in records)


class _Hop:
    def __init__(self, status: int, body: object, headers: dict[str, str]) -> None:
        self.status, self.body, self._headers = status, body, headers

    def header(self, name: str) -> str | None:
        return self._headers.get(name)


def test_is_download_needs_a_file_not_an_aborted_page():
    gz = _Hop(200, object(), {"content-type": "application/gzip"})
    page = _Hop(200, object(), {"content-type": "text/html; charset=utf-8"})
    assert verdicts.is_download("Download is starting", gz)
    assert verdicts.is_download("net::ERR_ABORTED at https://x.org/f.gz", gz)
    assert not verdicts.is_download("net::ERR_ABORTED at https://x.org/", page)
    assert verdicts.is_download(None, _Hop(200, object(), {"content-disposition": "attachment"}))
    assert not verdicts.is_download("Download is starting", _Hop(404, object(), {}))
    assert not verdicts.is_download("Download is starting", _Hop(200, None, {}))
