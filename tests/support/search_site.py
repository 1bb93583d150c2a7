"""A tiny site whose pages the test edits and removes, with Cyrillic text and an image.

``pages`` maps a path to ``(status, content type, body)``; change it between captures.
"""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def picture_png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    image = Image.new("RGB", (120, 80), colour)
    for x in range(0, 120, 10):  # a pattern, so the screenshot has structure
        for y in range(80):
            image.putpixel((x, y), (20, 20, 160))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def article(title: str, lines: list[str]) -> bytes:
    body = "".join(f"<p>{line}</p>" for line in lines)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}<img src='/img/square.png' alt='picture'></body></html>"
    ).encode()


class SearchSite:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {
            "/img/square.png": (200, "image/png", picture_png()),
        }
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, ctype, body = site.pages.get(
                    self.path.split("?")[0], (404, "text/html", b"<p>not found</p>")
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _text_page_collector():  # built lazily: the web collector's declarations import Chromium bits
    from collectors.base import CollectedCapture, StagedArtifact
    from collectors.web.collector import WebCollector
    from tests.support.fake_collector import StaticCollector, declared_as

    @declared_as(WebCollector)
    class TextPageCollector(StaticCollector):
        """A registry-constructible web stand-in: page text, a title and a (fake) WACZ."""

        def __init__(self) -> None:
            super().__init__()

        def collect(self, source, ctx):  # type: ignore[no-untyped-def]
            (ctx.staging / "text.txt").write_text("Затрымалі журналістаў у Мінску", "utf-8")
            (ctx.staging / "capture.wacz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
            return CollectedCapture(
                "complete",
                artifacts=[
                    StagedArtifact("text.txt", "text", "text/plain",
                                   platform={"page_url": source.url}),
                    StagedArtifact("capture.wacz", "wacz", "application/wacz"),
                ],
                platform={"final_url": source.url, "title": "Заява", "http_status": 200},
            )

    return TextPageCollector


def __getattr__(name: str):  # the registry imports it by name
    if name == "TextPageCollector":
        return _text_page_collector()
    if name == "RecordingNotifier":
        return _recording_notifier()
    raise AttributeError(name)


def _recording_notifier():  # an Airflow notifier, as an operator would name in the settings
    from airflow.sdk import BaseNotifier

    class RecordingNotifier(BaseNotifier):
        """Appends every change it is told about to the JSON-lines file ``path``."""

        template_fields = ("path",)

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        def notify(self, context):  # type: ignore[no-untyped-def]
            import json

            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(context["witnessbox_change"]) + "\n")

    return RecordingNotifier
