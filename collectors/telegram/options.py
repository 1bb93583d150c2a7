"""Typed per-source options for Telegram sources, parsed once from ``source.options``.

Values arrive as JSON from the watchlist (``--option key=value``), so numbers may be strings;
unknown keys are refused so a typo never silently falls back to a default. The rules are
declared once (``OPTIONS``) and checked when a source is added, too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.options import Option, OptionSet

MEDIA_KINDS = ("photo", "video", "document", "voice", "audio", "round", "gif", "sticker")
MODES = ("auto", "api", "preview")


@dataclass(frozen=True)
class TelegramOptions:
    """The typed options of one capture: defaults here, rules and help in ``OPTIONS``."""

    mode: str = "auto"
    page_size: int = 100
    max_messages: int = 5000
    recheck_messages: int = 100
    recheck_days: float = 0.0
    recheck_max: int = 1000
    media: tuple[str, ...] = MEDIA_KINDS
    max_media_bytes: int = 200 * 1024 * 1024
    flood_sleep_max: int = 60
    flood_sleep_budget: int = 300
    lock_wait: float = 600.0
    media_retry_attempts: int = 3
    preview_max_pages: int = 20
    preview_backfill: bool = True
    preview_media: bool = True
    preview_max_page_bytes: int = 8 * 1024 * 1024

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> TelegramOptions:
        """Typed options from ``source.options``; unknown keys are refused (``OptionError``)."""
        return OPTIONS.build(raw)


def _count(name: str, help: str, minimum: float = 0, kind: str = "int") -> Option:
    return Option(name, kind, help, minimum=minimum)


OPTIONS = OptionSet(
    "telegram",
    TelegramOptions,
    [
        Option("mode", "choice", "`api` (an account), `preview` (the public t.me/s page) or "
               "`auto`: api when Telegram credentials are configured", choices=MODES),
        Option("page_size", "int", "messages per history request", minimum=1, maximum=100),
        _count("max_messages", "new messages per run; a backlog continues next run", 1),
        _count("recheck_messages", "re-fetch the newest N known messages for edits/deletions"),
        _count("recheck_days", "... and every known message newer than D days (0: off)",
               kind="float"),
        _count("recheck_max", "upper bound on messages re-fetched per run"),
        Option("media", "list", "kinds of media downloaded", choices=MEDIA_KINDS),
        _count("max_media_bytes", "largest media file fetched; larger ones are recorded only"),
        _count("flood_sleep_max", "flood waits up to this many seconds are slept"),
        _count("flood_sleep_budget", "... up to this many seconds in total per run"),
        _count("lock_wait", "seconds to wait for the account lock held by another run",
               kind="float"),
        _count("media_retry_attempts", "runs that retry a failed media download"),
        _count("preview_max_pages", "preview pages (of ~20 posts) fetched per run", 1),
        Option("preview_backfill", "bool", "walk back to the first post over later runs"),
        Option("preview_media", "bool", "download photos and videos the preview serves"),
        _count("preview_max_page_bytes", "largest preview page read", 1),
    ],
)  # fmt: skip
