"""Demo sample: a small bundled web site served on 127.0.0.1, captured by the web collector.

The pages live in ``demo/samples/web_site/``; the photograph is generated at start (so the
repository holds no binary), large enough to become a media artifact of its own.
"""

from __future__ import annotations

import functools
import random
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from demo.samples import Sample

SITE = Path(__file__).with_name("web_site")
PREFERRED_PORT = 47361  # a stable URL keeps repeated demos on one watchlist entry


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _photo(path: Path) -> None:
    from PIL import Image, ImageDraw

    rnd = random.Random(2026)
    image = Image.new("RGB", (320, 200), (120, 150, 180))
    draw = ImageDraw.Draw(image)
    for _ in range(400):  # texture, so the PNG is not trivially small
        x, y = rnd.randrange(320), rnd.randrange(200)
        shade = rnd.randrange(60, 200)
        box = (x, y, x + rnd.randrange(4, 30), y + rnd.randrange(4, 20))
        draw.ellipse(box, fill=(shade, shade - 20, 90))
    draw.rectangle((0, 140, 320, 200), fill=(70, 80, 60))
    image.save(path, "PNG")


def start(workdir: Path) -> Sample:
    root = workdir / "web-site"
    shutil.copytree(SITE, root)
    _photo(root / "photo.png")
    handler = functools.partial(_QuietHandler, directory=str(root))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", PREFERRED_PORT), handler)
    except OSError:  # taken: any free port will do
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-web-site").start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return Sample(
        name="web page (local sample site)",
        kind="web",
        url=f"http://127.0.0.1:{server.server_address[1]}/index.html",
        stop=stop,
    )
