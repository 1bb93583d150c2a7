"""Demo sample: a video page served on 127.0.0.1 (a clip made with ffmpeg, its poster and captions).

``make demo`` watches it as a ``video`` source: yt-dlp finds the HTML5 ``<video>`` on the
page and witnessbox keeps the clip byte for byte, with its poster, captions and info.json.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from demo.samples import Sample

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo: a local video page</title></head>
<body>
<h1>Market square, 14:05</h1>
<p>A short clip served by the witnessbox demo on 127.0.0.1.</p>
<video controls width="640" poster="poster.jpg" src="clip.mp4">
  <track kind="subtitles" srclang="en" label="English" src="captions.en.vtt">
</video>
</body></html>
"""
PREFERRED_PORT = 47362
CAPTIONS = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nDemo clip, generated locally\n"


def _ffmpeg(*args: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("demo: ffmpeg is needed for the video sample (scripts/ensure-system.sh)")
    subprocess.run([ffmpeg, "-v", "error", "-y", *args], check=True, timeout=120)


def make_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    clip = root / "clip.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
        "-f", "lavfi", "-i", "sine=frequency=330:duration=4",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(clip),
    )  # fmt: skip
    _ffmpeg("-ss", "1", "-i", str(clip), "-frames:v", "1", "-q:v", "3", str(root / "poster.jpg"))
    (root / "captions.en.vtt").write_text(CAPTIONS, encoding="utf-8")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    return root


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def start(workdir: Path) -> Sample:
    root = make_site(workdir / "video-sample")
    handler = functools.partial(_Quiet, directory=str(root))
    try:  # a stable port keeps the same watchlist entry across demo runs
        server = ThreadingHTTPServer(("127.0.0.1", PREFERRED_PORT), handler)
    except OSError:  # taken: any free port will do
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    port = server.server_address[1]
    return Sample(
        name="local video page",
        kind="video",
        url=f"http://127.0.0.1:{port}/index.html",
        stop=stop,
        options={"comments": False},
    )
