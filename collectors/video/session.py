"""One yt-dlp session per capture: params, guarded network, logging, the cookies copy.

yt-dlp writes its cookie jar back to the cookies file when it closes, and prints paths in
some messages: it only ever sees a private temporary copy of the operator's file, which is
removed when the session ends. Nothing about cookies leaves this module but a yes/no.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from collectors.video.failures import clean_message
from collectors.video.files import safe_part
from collectors.video.network import ConnectionGuard, GuardedYoutubeDL
from collectors.video.options import VideoOptions, ytdlp_params
from collectors.video.tee import DigestBook
from kernel.closing import Closing
from kernel.netpolicy import NetworkPolicy


class SeenArchive:
    """yt-dlp's ``download_archive`` as a set over the catalogue's item ids.

    yt-dlp asks about ``"<extractor> <id>"`` strings; the catalogue keeps ids per source,
    so the extractor part is ignored (ids are already scoped to one source).
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids = set(ids)
        self.added: list[str] = []

    @staticmethod
    def _id(archive_id: str) -> str:
        return archive_id.split(" ", 1)[-1]

    def __contains__(self, archive_id: object) -> bool:
        return isinstance(archive_id, str) and self._id(archive_id) in self.ids

    def add(self, archive_id: str) -> None:
        self.ids.add(self._id(archive_id))
        self.added.append(self._id(archive_id))

    def discard(self, item_id: str) -> None:
        self.ids.discard(item_id)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)


class YtdlpLog:
    """yt-dlp's logger: to ours, and the last warnings kept to explain silent failures."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.warnings: list[str] = []
        self.notes: list[str] = []

    def debug(self, message: str) -> None:
        if message.startswith("[debug] "):
            return
        if "larger than max-filesize" in message or "max-filesize" in message:
            self.notes.append(clean_message(message))
        self.log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        self.debug(message)

    def warning(self, message: str) -> None:
        text = clean_message(message)
        self.warnings.append(text)
        del self.warnings[:-50]
        self.log.info("yt-dlp warning: %s", text)

    def error(self, message: str) -> None:
        self.log.info("yt-dlp error: %s", clean_message(message))


def _safe_subtitle_names_pp() -> Any:
    """A pre-download step that makes subtitle languages and thumbnail ids safe file names.

    yt-dlp puts the subtitle language and the thumbnail id, which come from the page, into
    file names unchecked; the originals are kept in ``__wb_*`` fields for provenance.
    """
    from yt_dlp.postprocessor.common import PostProcessor

    class SafeNames(PostProcessor):
        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            subs = info.get("requested_subtitles") or {}
            renamed: dict[str, Any] = {}
            languages: dict[str, str] = {}
            for lang, sub in subs.items():
                key = base = safe_part(str(lang), "und")
                n = 2
                while key in renamed:
                    key, n = f"{base}-{n}", n + 1
                sub = dict(sub)
                sub["ext"] = safe_part(str(sub.get("ext") or "sub"), "sub")
                renamed[key] = sub
                languages[key] = str(lang)
            if subs:
                info["requested_subtitles"] = renamed
                info["__wb_subtitle_languages"] = languages
            for index, thumb in enumerate(info.get("thumbnails") or []):
                if isinstance(thumb, dict):
                    thumb["id"] = safe_part(str(thumb.get("id", index)), str(index))
                    if thumb.get("ext"):
                        thumb["ext"] = safe_part(str(thumb["ext"]), "jpg")
            return [], info

    return SafeNames()


class YtdlpSession(Closing):
    """A guarded YoutubeDL configured for one capture. Use as a context manager."""

    def __init__(
        self,
        options: VideoOptions,
        policy: NetworkPolicy,
        log: logging.Logger,
        *,
        max_capture_bytes: int | None,
        user_agent: str = "",
        archive: SeenArchive | None = None,
        extractors: Iterable[type] = (),
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.options = options
        self.guard = ConnectionGuard(policy)
        self.logger = YtdlpLog(log)
        self.archive = archive if archive is not None else SeenArchive()
        self.progress = progress
        self._cookie_dir: str | None = None
        cookiefile = self._private_cookies(options.cookies) if options.cookies else None
        params = ytdlp_params(
            options,
            max_capture_bytes=max_capture_bytes,
            cookiefile=cookiefile,
            user_agent=user_agent,
            archive=self.archive,
            logger=self.logger,
        )
        self.digests = DigestBook()
        self.ydl = GuardedYoutubeDL(
            params, guard=self.guard, extractors=extractors, digests=self.digests
        )
        self.ydl.add_post_processor(_safe_subtitle_names_pp(), when="video")
        self.ydl.add_progress_hook(self._on_progress)
        self._last_progress = 0.0

    def _private_cookies(self, path: str) -> str:
        self._cookie_dir = tempfile.mkdtemp(prefix="wb-cookies-")
        os.chmod(self._cookie_dir, 0o700)
        copy = os.path.join(self._cookie_dir, "cookies.txt")
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o600)
        return copy

    def _on_progress(self, status: dict[str, Any]) -> None:
        now = time.monotonic()
        if status.get("status") == "downloading" and now - self._last_progress < 5:
            return
        self._last_progress = now
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        state = status.get("status", "")
        info = status.get("info_dict") or {}
        label = f"{info.get('id', '')} {info.get('format_id') or ''}".strip()
        size = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "") + " MB"
        self.progress(f"video {label}: {state} {size}")

    def set_item_dir(self, directory: str) -> None:
        self.ydl.params["paths"] = {"home": directory, "temp": ""}

    def tools(self) -> dict[str, str]:
        from yt_dlp.version import RELEASE_GIT_HEAD, __version__

        tools = {"yt-dlp": __version__}
        if RELEASE_GIT_HEAD:
            tools["yt-dlp-git-head"] = RELEASE_GIT_HEAD
        return tools

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ydl.close()
        if self._cookie_dir:
            shutil.rmtree(self._cookie_dir, ignore_errors=True)
            self._cookie_dir = None

