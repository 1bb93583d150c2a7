"""Typed per-source options for video sources, and the one place they become yt-dlp params.

yt-dlp's ``params`` is an untyped dict documented only in a docstring: every key witnessbox
relies on is set here, next to why. Options come from ``source.options`` (the watchlist
entry), so they are validated like any other user input and refused with ``InputError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import InputError

DEFAULT_FORMAT = "bv*+ba/b"  # best quality; merged when video and audio come apart
DEFAULT_MAX_ENTRIES = 20
LISTING_ORDERS = ("newest-first", "oldest-first")
THUMBNAILS = ("best", "all", "none")


def _bytes(name: str, value: Any) -> int | None:
    """``500K``, ``2M``, ``1.5G`` or a number of bytes."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"option {name} must be a size such as 50M")
    if isinstance(value, int | float):
        if value <= 0:
            raise InputError(f"option {name} must be positive")
        return int(value)
    from yt_dlp.utils import parse_bytes

    parsed = parse_bytes(str(value).strip())
    if not parsed or parsed <= 0:
        raise InputError(f"option {name} must be a size such as 50M, not {value!r}")
    return int(parsed)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InputError(f"option {name} must be true or false, not {value!r}")


def _int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"option {name} must be a whole number, not {value!r}") from None
    if isinstance(value, bool) or number < minimum:
        raise InputError(f"option {name} must be a whole number of at least {minimum}")
    return number


def _float(name: str, value: Any, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"option {name} must be a number, not {value!r}") from None
    if number < minimum:
        raise InputError(f"option {name} must be at least {minimum}")
    return number


def _languages(value: Any) -> tuple[str, ...]:
    """``all`` / ``none`` / ``en,fr`` / a list: which subtitle languages to keep."""
    if isinstance(value, bool):
        return ("all",) if value else ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        raise InputError("option subtitles must be all, none or a list of languages")
    items = [i for i in items if i]
    if items in (["none"], []):
        return ()
    if "all" in items and "-live_chat" not in items:
        items.append("-live_chat")  # a live replay's chat can be larger than the video
    return tuple(items)


@dataclass(frozen=True)
class VideoOptions:
    """What an analyst may set per video source (``witnessbox watch add --option K=V``)."""

    format: str = DEFAULT_FORMAT
    rate_limit: int | None = None  # bytes per second
    max_filesize: int | None = None  # bytes; default: the capture size limit in settings
    cookies: str | None = None  # path to a Netscape cookies file; never recorded anywhere
    comments: bool = False
    subtitles: tuple[str, ...] = ("all", "-live_chat")
    auto_subtitles: bool = False
    thumbnails: str = "best"
    watch_page: bool = False
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_retries: int | None = None  # failed entries retried per run; default max_entries
    max_attempts: int = 10  # an entry failing this often is left alone (reported, not retried)
    listing: str = "newest-first"  # how the site lists entries when they carry no dates
    refetch: bool = False  # download a single video again although it was captured before
    backoff_seconds: float = 15.0  # first wait after HTTP 429; then x4
    backoff_retries: int = 2
    socket_timeout: float = 30.0

    KEYS = {
        "format": "format", "rate_limit": "rate_limit", "ratelimit": "rate_limit",
        "max_filesize": "max_filesize", "max_size": "max_filesize", "cookies": "cookies",
        "cookiefile": "cookies", "cookies_file": "cookies", "comments": "comments",
        "subtitles": "subtitles", "auto_subtitles": "auto_subtitles",
        "thumbnails": "thumbnails", "watch_page": "watch_page", "max_entries": "max_entries",
        "max_retries": "max_retries", "max_attempts": "max_attempts", "listing": "listing",
        "refetch": "refetch", "backoff_seconds": "backoff_seconds",
        "backoff_retries": "backoff_retries", "socket_timeout": "socket_timeout",
    }  # fmt: skip

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> VideoOptions:
        values: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            field = cls.KEYS.get(str(key).strip().lower().replace("-", "_"))
            if field is None:
                known = ", ".join(sorted({v for v in cls.KEYS.values()}))
                raise InputError(f"unknown video option {key!r} (known: {known})")
            values[field] = value
        out: dict[str, Any] = {}
        for name, value in values.items():
            out[name] = _coerce(name, value)
        return cls(**out)

    def public(self) -> dict[str, Any]:
        """The options as recorded in manifests: the cookies path never appears."""
        data = dataclasses.asdict(self)
        data["cookies"] = bool(self.cookies)
        data["subtitles"] = list(self.subtitles)
        return data


def _coerce(name: str, value: Any) -> Any:
    if name == "format":
        text = str(value).strip()
        if not text or len(text) > 500:
            raise InputError("option format must be a yt-dlp format selector")
        return text
    if name in ("rate_limit", "max_filesize"):
        return _bytes(name, value)
    if name == "cookies":
        if value in (None, ""):
            return None
        path = Path(str(value)).expanduser()
        if not path.is_file():
            raise InputError("option cookies must name a readable cookies file")
        return str(path.absolute())
    if name in ("comments", "auto_subtitles", "watch_page", "refetch"):
        return _bool(name, value)
    if name == "subtitles":
        return _languages(value)
    if name == "thumbnails":
        text = str(value).strip().lower()
        if text not in THUMBNAILS:
            raise InputError(f"option thumbnails must be one of {', '.join(THUMBNAILS)}")
        return text
    if name == "listing":
        text = str(value).strip().lower()
        if text not in LISTING_ORDERS:
            raise InputError(f"option listing must be one of {', '.join(LISTING_ORDERS)}")
        return text
    if name in ("max_entries", "max_attempts"):
        return _int(name, value, 1)
    if name in ("max_retries", "backoff_retries"):
        return None if value is None else _int(name, value, 0)
    if name in ("backoff_seconds", "socket_timeout"):
        return _float(name, value, 0.0)
    raise InputError(f"unknown video option {name!r}")  # pragma: no cover


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
