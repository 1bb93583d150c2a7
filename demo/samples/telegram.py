"""Demo sample: a Telegram channel's public preview, served on 127.0.0.1.

It is the same preview stand-in the tests use (``tests/support/telegram_preview_site.py``:
pages shaped like ``https://t.me/s/<name>``, ``?before=`` paging, photos and a video),
filled with a small channel. The source is pinned to preview mode, so a configured Telegram
account is never used by the demo; ``WITNESSBOX_TELEGRAM_PREVIEW_URL`` points at the server.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo.samples import Sample
from tests.support.telegram_preview_site import Post, PreviewSite

CHANNEL = "witnessbox_demo"


def _video(workdir: Path) -> bytes | None:
    """A one-second test-pattern MP4 (ffmpeg), so the video artifact is a real video."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    out = workdir / "telegram-demo.mp4"
    proc = subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
         "-t", "1", "-pix_fmt", "yuv420p", str(out)],
        capture_output=True,
        check=False,
    )  # fmt: skip
    return out.read_bytes() if proc.returncode == 0 and out.is_file() else None


def start(workdir: Path) -> Sample:
    site = PreviewSite(
        channel=CHANNEL,
        title="witnessbox demo channel",
        about="A local stand-in for a public Telegram channel preview",
    )
    start_time = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    for post_id in range(1, 26):  # two preview pages: the collector pages back with ?before=
        site.posts[post_id] = Post(
            post_id,
            text=f"Report {post_id}: situation update from the field",
            photos=1 if post_id % 6 == 0 else 0,
            views=f"{post_id * 37}",
            date=start_time + timedelta(hours=post_id),
        )
    site.posts[24].photos = 3  # an album
    site.posts[25].video = True
    site.posts[25].links = ["https://example.org/statement"]
    site.posts[22].fwd_name, site.posts[22].fwd_url = "Other Channel", "https://t.me/otherchan/41"
    clip = _video(workdir)
    site.start()
    if clip is not None:
        site.files["/file/25.mp4"] = ("video/mp4", clip)
    return Sample(
        name="telegram channel preview",
        kind="telegram",
        url=f"https://t.me/{CHANNEL}",
        stop=site.stop,
        options={"mode": "preview"},
        env={"WITNESSBOX_TELEGRAM_PREVIEW_URL": site.preview_url},
    )
