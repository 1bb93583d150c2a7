"""Typed per-source options for video sources, and the one place they become yt-dlp params.

yt-dlp's ``params`` is an untyped dict documented only in a docstring: every key witnessbox
relies on is set here, next to why. Options come from ``source.options`` (the watchlist
entry), so they are validated like any other user input and refused with ``InputError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from collectors.options import Option, OptionSet

DEFAULT_FORMAT = "bv*+ba/b"  # best quality; merged when video and audio come apart
DEFAULT_MAX_ENTRIES = 20
LISTING_ORDERS = ("newest-first", "oldest-first")
THUMBNAILS = ("best", "all", "none")


def _format(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 500 or not text.isprintable():
        raise ValueError(value)
    return text


def _languages(value: Any) -> tuple[str, ...]:
    """``all`` / ``none`` / ``en,fr`` / a list: which subtitle languages to keep."""
    if isinstance(value, bool):
        return ("all",) if value else ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        raise ValueError(value)
    items = [i for i in items if i]
    if any(len(i) > 64 or not i.isprintable() or " " in i for i in items):
        raise ValueError(value)
    if items in (["none"], []):
        return ()
    if "all" in items and "-live_chat" not in items:
        items.append("-live_chat")  # a live replay's chat can be larger than the video
    return tuple(items)


@dataclass(frozen=True)
class VideoOptions:
    """What an analyst may set per video source (``witnessbox watch add --option K=V``).

    Defaults here; the rules and help are declared once in ``OPTIONS`` below.
    """

    format: str = DEFAULT_FORMAT
    rate_limit: int | None = None
    max_filesize: int | None = None
    cookies: str | None = None
    comments: bool = False
    subtitles: tuple[str, ...] = ("all", "-live_chat")
    auto_subtitles: bool = False
    thumbnails: str = "best"
    watch_page: bool = False
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_retries: int | None = None
    max_attempts: int = 10
    listing: str = "newest-first"
    refetch: bool = False
    backoff_seconds: float = 15.0
    backoff_retries: int = 2
    socket_timeout: float = 30.0

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> VideoOptions:
        """Typed options from ``source.options``; unknown keys are refused (``OptionError``)."""
        return OPTIONS.build(raw)

    def public(self) -> dict[str, Any]:
        """The options as recorded in manifests: the cookies path never appears."""
        data = dataclasses.asdict(self)
        data["cookies"] = bool(self.cookies)
        data["subtitles"] = list(self.subtitles)
        return data


def ytdlp_params(
    options: VideoOptions,
    *,
    max_capture_bytes: int | None,
    cookiefile: str | None,
    user_agent: str = "",
    archive: Any = None,
    logger: Any = None,
) -> dict[str, Any]:
    """yt-dlp params for one capture. Output templates are set per item (``item_outtmpl``)."""
    max_filesize = options.max_filesize or max_capture_bytes or None
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "no_warnings": False,
        "logger": logger,
        "ignoreerrors": False,  # failures come back as exceptions, classified by us
        "format": options.format,
        "ratelimit": options.rate_limit,
        "max_filesize": max_filesize,
        "cookiefile": cookiefile,
        "getcomments": options.comments,
        "writesubtitles": bool(options.subtitles),
        "writeautomaticsub": options.auto_subtitles,
        "subtitleslangs": list(options.subtitles) or None,
        "writethumbnail": options.thumbnails == "best",
        "write_all_thumbnails": options.thumbnails == "all",
        "writeinfojson": False,  # written by us, with cookies scrubbed
        "fixup": "never",  # evidence: never rewrite a downloaded original
        "keepvideo": True,  # keep the separate streams when merging
        "restrictfilenames": True,
        "windowsfilenames": False,
        "overwrites": False,
        "continuedl": False,  # never resume into a file of an earlier attempt
        "nopart": False,
        "updatetime": False,  # keep the file's mtime honest: the time it was written
        "hls_prefer_native": True,  # fragments go through our guarded opener, not ffmpeg
        "external_downloader": {},
        "outtmpl": dict(OUTTMPL),
        "allow_playlist_files": False,
        "extract_flat": "in_playlist",  # list playlists without resolving every entry
        "lazy_playlist": False,
        "noplaylist": False,
        "download_archive": archive,
        "socket_timeout": options.socket_timeout,
        "retries": 3,
        "fragment_retries": 5,
        "extractor_retries": 1,
        "skip_unavailable_fragments": False,  # a hole in the media is a failure, not a shrug
        "check_formats": False,
        "cachedir": False,
        "color": "never",
        "consoletitle": False,
        "noresizebuffer": False,
        "compat_opts": set(),
    }
    if user_agent:
        params["http_headers"] = {"User-Agent": user_agent}
    return {k: v for k, v in params.items() if v is not None}


#: Fixed file names inside one item's directory (``paths["home"]``): nothing from titles.
OUTTMPL = {
    "default": "media.%(ext)s",
    "thumbnail": "thumbnail.%(ext)s",
    "subtitle": "subtitles.%(ext)s",
    "infojson": "info.%(ext)s",
    "description": "description.%(ext)s",
    "chapter": "chapter.%(section_number)03d.%(ext)s",
    "link": "link.%(ext)s",
    "pl_thumbnail": "playlist-thumbnail.%(ext)s",
    "pl_infojson": "playlist-info.%(ext)s",
    "pl_description": "playlist-description.%(ext)s",
    "pl_video": "playlist-video.%(ext)s",
}


OPTIONS = OptionSet(
    "video",
    VideoOptions,
    [
        Option("format", "text", "yt-dlp format selector (default: best quality; separate "
               "streams merged, originals kept)", parser=_format,
               allowed_text="a yt-dlp format selector (at most 500 characters)"),
        Option("rate_limit", "size", "download speed cap (bytes per second)",
               aliases=("ratelimit",), nullable=True),
        Option("max_filesize", "size", "larger media are skipped (item `skipped`, capture "
               "`partial`) and left alone until the limit is raised", aliases=("max_size",),
               nullable=True, default_text="the capture limit, 2 GiB"),
        Option("cookies", "path", "a Netscape cookies file, for logged-in or age-gated "
               "content; yt-dlp works on a copy, and the path and its content never appear in "
               "manifests or logs (the manifest says `cookies: true`)",
               aliases=("cookiefile", "cookies_file"), nullable=True, secret=True),
        Option("comments", "bool", "also fetch the comments (`comments.json`)"),
        Option("subtitles", "list", "subtitle languages kept (live chat excluded)",
               parser=_languages, allowed_text="`all`, `none` or languages such as `en,fr`"),
        Option("auto_subtitles", "bool", "also the platform's automatic captions"),
        Option("thumbnails", "choice", "which thumbnails to keep", choices=THUMBNAILS),
        Option("watch_page", "bool", "also capture the watch page as WARC/WACZ through the web "
               "collector (one browser per run)"),
        Option("max_entries", "int", "new playlist entries downloaded per run", minimum=1),
        Option("max_retries", "int", "failed entries retried per run", minimum=0,
               nullable=True, default_text="`max_entries`"),
        Option("max_attempts", "int", "an entry failing this often is reported and no longer "
               "retried", minimum=1),
        Option("listing", "choice", "how the site lists entries when they carry no dates",
               choices=LISTING_ORDERS),
        Option("refetch", "bool", "download a single video again although it was captured "
               "before"),
        Option("backoff_seconds", "float", "first wait after HTTP 429, then x4", minimum=0),
        Option("backoff_retries", "int", "retries after HTTP 429 before the source is deferred",
               minimum=0),
        Option("socket_timeout", "float", "seconds without data before a connection fails",
               minimum=0),
    ],
)  # fmt: skip
