"""``witnessbox replay CAPTURE``: ReplayWeb.page and one capture's WACZ on 127.0.0.1.

For a laptop: no Airflow, no login (the server listens on loopback only and serves this
one capture). ``/`` is the embedding page, ``/ui.js`` and ``/replay/sw.js`` the pinned
ReplayWeb.page files, ``/replay/`` its app page (until the service worker takes over),
``/capture.wacz`` the WACZ streamed from the store with ranges.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from preservation.replay.core import (
    ASSET_FILES,
    ReplayTarget,
    asset_path,
    embed_page,
    index_page,
    stream_range,
    wacz_answer,
)
from preservation.store import Store

log = logging.getLogger("witnessbox.replay")


class ReplayServer:
    """A loopback HTTP server for one capture; ``start`` runs it in a thread."""

    def __init__(self, store: Store, target: ReplayTarget, port: int = 0,
                 assets: Path | None = None) -> None:  # fmt: skip
        self.store, self.target = store, target
        for name in ASSET_FILES:
            asset_path(name, assets)  # fail now, not in the browser
        self.assets = assets
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                log.debug("replay: " + format, *args)

            def do_HEAD(self) -> None:
                self.do_GET(body=False)

            def do_GET(self, body: bool = True) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/":
                        page = embed_page(server.target, "/", "/capture.wacz").encode()
                        self._send(200, "text/html; charset=utf-8", page, body)
                    elif path in ("/replay/", "/replay/index.html"):
                        page = index_page().encode()
                        self._send(200, "text/html; charset=utf-8", page, body)
                    elif path in ("/ui.js", "/replay/ui.js", "/replay/sw.js"):
                        data = asset_path(path.rsplit("/", 1)[1], server.assets).read_bytes()
                        self._send(200, "application/javascript", data, body)
                    elif path == "/capture.wacz":
                        self._wacz(body)
                    else:
                        self._send(404, "text/plain", b"not found", body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, ctype: str, data: bytes, body: bool) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _wacz(self, body: bool) -> None:
                answer = wacz_answer(server.target, self.headers.get("Range"))
                self.send_response(answer.status)
                if answer.status != 416:
                    self.send_header("Content-Type", "application/wacz")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if body and answer.end >= answer.start:
                    key = server.target.key
                    for chunk in stream_range(server.store, key, answer.start, answer.end):
                        self.wfile.write(chunk)

        return Handler
