"""URL normalisation and source-kind inference for the watchlist.

Normalising makes duplicates visible (``HTTP://Example.com:443/a#x`` and
``https://example.com/a`` are one source when the scheme matches). It never changes what
would be fetched: only case of scheme and host, default ports, empty paths and fragments.
Telegram sources are kept in one spelling, ``https://t.me/<channel>``.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from kernel.errors import InputError

KINDS = ("web", "video", "telegram")
MAX_URL_LENGTH = 4096

TELEGRAM_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me"}
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
_TELEGRAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _telegram_from_path(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "s":
        parts = parts[1:]
    if not parts:
        return None
    name = parts[0].lstrip("@")
    if name.startswith("+") or name == "joinchat":
        raise InputError(
            "private invite links cannot be watched: join the channel and use its name"
        )
    return name


def telegram_channel(value: str) -> str:
    """The channel username from ``@name``, ``telegram:@name`` or a t.me URL."""
    text = value.strip()
    if text.lower().startswith("telegram:"):
        text = text.split(":", 1)[1]
    if text.startswith("@"):
        name = text[1:]
    else:
        parts = urlsplit(text if "://" in text else "https://" + text)
        name = _telegram_from_path(parts.path) or ""
    if not _TELEGRAM_NAME.match(name):
        raise InputError(f"not a Telegram channel name: {value!r}")
    return name.lower()


def _is_telegram(value: str) -> bool:
    text = value.strip().lower()
    if text.startswith(("telegram:", "@")):
        return True
    host = urlsplit(text if "://" in text else "https://" + text).hostname or ""
    return host in TELEGRAM_HOSTS


def _normalise_host(host: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InputError(f"invalid host name: {host!r}") from None
    if ascii_host.startswith("[") or ":" in ascii_host:
        return ascii_host
    labels = ascii_host.rstrip(".").split(".")
    if not all(_HOST_LABEL.match(label) or label == "_" for label in labels):
        raise InputError(f"invalid host name: {host!r}")
    return ".".join(labels)


def normalise_url(value: str) -> str:
    """A web URL in canonical spelling; ``InputError`` with one line when it cannot be one."""
    text = value.strip()
    if not text:
        raise InputError("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InputError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise InputError("URL contains spaces or control characters")
    if "://" not in text:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", text) and not re.match(r"^[^:/]+:\d+", text):
            raise InputError(
                f"unsupported URL scheme: {text.split(':', 1)[0]!r} (http or https only)"
            )
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"unsupported URL scheme: {scheme!r} (http or https only)")
    if parts.username is not None or parts.password is not None:
        raise InputError("URLs with credentials are refused: they would end up in manifests")
    if not parts.hostname:
        raise InputError(f"URL has no host: {value!r}")
    host = _normalise_host(parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    # non-ASCII in path and query is percent-encoded as browsers send it; existing escapes stay
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return urlunsplit(SplitResult(scheme, netloc, path, query, ""))


def infer_kind(value: str) -> str:
    if _is_telegram(value):
        return "telegram"
    url = normalise_url(value)
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
    hostpath = host + parts.path
    for known in VIDEO_HOSTS:
        if "/" in known:  # a path on a general site, e.g. vk.com/video-1_2
            if hostpath.startswith(known):
                return "video"
        elif host == known or host.endswith("." + known):
            return "video"
    return "web"


def normalise_source(value: str, kind: str | None = None) -> tuple[str, str]:
    """(kind, normalised url) for a watchlist entry."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    kind = kind or infer_kind(value)
    if kind == "telegram":
        return kind, f"https://t.me/{telegram_channel(value)}"
    if _is_telegram(value) and value.strip().lower().startswith(("telegram:", "@")):
        raise InputError(f"{value!r} is a Telegram channel, not a {kind} URL")
    return kind, normalise_url(value)


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""
