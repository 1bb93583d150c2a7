"""Turn whatever yt-dlp raised into one clear reason an analyst can act on.

yt-dlp reports most failures as ``DownloadError`` wrapping an ``ExtractorError`` wrapping
the network error, with the platform's wording in the message. We walk that chain for
the facts (HTTP status, Retry-After, geo block, policy refusal) and fall back on the
phrases platforms use for removed and private videos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

#: Kinds of failure and whether retrying on a later run can help.
PERMANENT = {"unsupported", "policy", "not-found", "removed", "bad-option"}

_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("policy", ("network policy",)),
    ("unsupported", ("unsupported url",)),
    ("rate-limited", ("http error 429", "too many requests", "rate-limit", "rate limit")),
    ("not-found", ("http error 404", "http error 410")),
    ("geo-blocked", (
        "not available from your location", "not available in your country",
        "geo restrict", "geo-restrict", "blocked it in your country",
        "uploader has not made this video available in your country", "http error 451",
    )),
    ("private", ("private video", "this video is private", "video is private", "members-only",
                 "join this channel")),
    ("login-required", ("sign in to confirm", "login required", "log in", "logged-in",
                        "use --cookies", "authentication", "age-restricted", "age restricted")),
    ("removed", (
        "video unavailable", "has been removed", "no longer available", "been terminated",
        "was deleted", "has been deleted", "does not exist", "copyright claim", "is unavailable",
        "removed by the uploader", "this video has been removed",
    )),
    ("forbidden", ("http error 403",)),
    ("truncated", ("content too short", "incompleteread", "incomplete read",
                   "did not get any data blocks", "bytes, expected")),
    ("no-formats", ("no video formats found", "requested format is not available")),
    ("network", ("unable to download", "connection refused", "timed out", "name or service",
                 "temporary failure in name resolution", "connection reset", "urlopen error")),
]  # fmt: skip

_HTTP_STATUS = re.compile(r"HTTP Error (\d{3})")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Failure:
    kind: str
    reason: str
    http_status: int | None = None
    retry_after: float | None = None  # seconds the server asked us to wait

    @property
    def retryable(self) -> bool:
        return self.kind not in PERMANENT

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: Any = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        nested = None
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1 and exc_info[1] is not current:
            nested = exc_info[1]
        current = (
            nested or getattr(current, "cause", None) or current.__cause__ or current.__context__
        )
        if isinstance(current, str):
            break
    return seen


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def clean_message(text: str) -> str:
    text = _ANSI.sub("", text).strip()
    text = re.sub(r"^ERROR:\s*", "", text)
    return " ".join(text.split())[:500]


def classify(exc: BaseException, refused: list[str] | None = None) -> Failure:
    """One ``Failure`` for an exception from yt-dlp (or ours)."""
    from yt_dlp.networking.exceptions import HTTPError
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError

    chain = _chain(exc)
    message = clean_message(str(exc)) or type(exc).__name__
    if refused:
        return Failure("policy", refused[-1])
    status: int | None = None
    retry_after: float | None = None
    for item in chain:
        if isinstance(item, HTTPError) and status is None:
            status = item.status
            headers = getattr(getattr(item, "response", None), "headers", None)
            if headers is not None:
                retry_after = _retry_after(headers.get("Retry-After"))
        if isinstance(item, GeoRestrictedError):
            countries = getattr(item, "countries", None)
            where = f" (available in: {', '.join(countries)})" if countries else ""
            return Failure("geo-blocked", message + where, status)
        if isinstance(item, UnsupportedError):
            return Failure("unsupported", message)
    if status is None:
        match = _HTTP_STATUS.search(message)
        status = int(match.group(1)) if match else None
    lowered = message.lower()
    if status == 429:
        return Failure("rate-limited", message, status, retry_after)
    for kind, phrases in _PHRASES:
        if any(p in lowered for p in phrases):
            return Failure(kind, message, status, retry_after)
    if status is not None:
        kind = "not-found" if status in (404, 410) else f"http-{status}"
        return Failure(kind, message, status, retry_after)
    return Failure("error", message, status)
