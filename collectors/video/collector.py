"""The video collector: yt-dlp as a library, for any site it supports.

A single video becomes its media exactly as downloaded (and, when yt-dlp merged separate
video and audio streams, the merge as a derivative of the video stream), the raw
info.json, thumbnail, subtitles and, on request, comments. A channel or playlist is
listed, and only entries the catalogue has not seen for this source are downloaded,
oldest first and bounded per run (``collectors.video.listing``). Every connection
yt-dlp opens passes the network policy (``collectors.video.network``). Failures
end as a capture status with a reason; HTTP 429 backs off, then defers the source.

This module is the declaration (kind, schedule, pool, URLs, options) and stays cheap to
import; yt-dlp is imported when a capture runs (``collectors.video.run``).
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from collectors.base import CollectContext, CollectedCapture, Collector, SourceRef
from collectors.video.options import OPTIONS, VideoOptions
from kernel.errors import InputError, PolicyError
from kernel.urls import normalise_url

COLLECTOR_VERSION = "1.0"
#: Hosts (or host/path prefixes on general sites) whose URLs are videos to yt-dlp.
VIDEO_HOSTS = (
    "youtube.com",
    "youtu.be",
    "youtube-nocookie.com",
    "vimeo.com",
    "dailymotion.com",
    "tiktok.com",
    "rumble.com",
    "rutube.ru",
    "bitchute.com",
    "odysee.com",
    "twitch.tv",
    "vk.com/video",
    "vkvideo.ru",
    "ok.ru/video",
    "streamable.com",
    "kick.com",
    "facebook.com/watch",
    "fb.watch",
    "instagram.com/reel",
    "x.com/i/broadcasts",
)


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str | None:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return None
    try:
        out = subprocess.run(
            [ffmpeg, "-version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split()
    return words[2] if len(words) > 2 and words[0] == "ffmpeg" else None


class VideoCollector(Collector):
    name = "video"
    kind = "video"
    title = "video"
    every = 6 * 3600
    pool = "witnessbox_video"
    pool_slots = 2
    pool_note = "video downloads"
    dag_every = 10 * 60
    options = OPTIONS
    settings_used = ("max_capture_bytes", "user_agent")
    uses = ("web",)  # the watch page option runs the web collector inside a capture

    @classmethod
    def suitable(cls, url: str) -> bool:
        try:
            parts = urlsplit(normalise_url(url))
        except InputError:
            return False
        host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
        hostpath = host + parts.path
        for known in VIDEO_HOSTS:
            if "/" in known:  # a path on a general site, e.g. vk.com/video-1_2
                if hostpath.startswith(known):
                    return True
            elif host == known or host.endswith("." + known):
                return True
        return False

    def __init__(
        self,
        extractors: Iterable[type] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``extractors``: extra yt-dlp extractors tried first (tests use a local site)."""
        self.extractors = tuple(extractors)
        self.sleep = sleep

    @property
    def version(self) -> str:
        from yt_dlp.version import __version__

        return f"{COLLECTOR_VERSION} (yt-dlp {__version__})"

    def tools(self) -> dict[str, str]:
        from yt_dlp.version import RELEASE_GIT_HEAD, __version__

        tools = {"yt-dlp": __version__}
        if RELEASE_GIT_HEAD:
            tools["yt-dlp-git-head"] = RELEASE_GIT_HEAD
        if ffmpeg := ffmpeg_version():
            tools["ffmpeg"] = ffmpeg
        return tools

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        from collectors.video.run import VideoRun
        from collectors.video.session import SeenArchive, YtdlpSession
        from collectors.video.watchpage import WatchPages

        tools = self.tools()
        try:
            options = VideoOptions.parse(source.options)
        except InputError as exc:
            return CollectedCapture("failed", [f"bad option: {exc}"], tools=tools)
        target = urlsplit(source.url)
        try:
            ctx.policy.check_host(target.hostname or "", target.port)
        except PolicyError as exc:
            return CollectedCapture(
                "failed", [f"policy: {exc}"], tools=tools, network={"refused": [str(exc)]}
            )
        archive = SeenArchive(ctx.seen.captured_ids())
        with (
            YtdlpSession(
                options,
                ctx.policy,
                ctx.log
                if isinstance(ctx.log, logging.Logger)
                else logging.getLogger("witnessbox.video"),
                max_capture_bytes=ctx.settings.max_capture_bytes,
                user_agent=ctx.settings.user_agent,
                archive=archive,
                extractors=self.extractors,
                progress=ctx.progress,
            ) as session,
            WatchPages() as pages,
        ):
            capture = VideoRun(self.sleep, source, ctx, options, session, pages).execute()
        capture.tools = {**tools, **capture.tools}
        return capture


__all__ = ["VideoCollector"]
