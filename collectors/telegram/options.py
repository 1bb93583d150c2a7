"""Typed per-source options for Telegram sources, parsed once from ``source.options``.

Values arrive as JSON from the watchlist (``--option key=value``), so numbers may be strings;
unknown keys are refused so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kernel.errors import InputError

MEDIA_KINDS = ("photo", "video", "document", "voice", "audio", "round", "gif", "sticker")
MODES = ("auto", "api", "preview")


@dataclass(frozen=True)
class TelegramOptions:
    mode: str = "auto"  # auto: api when credentials are configured, else preview
    page_size: int = 100  # messages per history request (Telegram's maximum is 100)
    max_messages: int = 5000  # new messages per run; a backlog continues next run
    recheck_messages: int = 100  # re-fetch the newest N known messages for edits/deletions
    recheck_days: float = 0.0  # ... and every known message newer than D days (0: off)
    recheck_max: int = 1000  # upper bound on ids re-fetched per run
    media: tuple[str, ...] = MEDIA_KINDS  # kinds of media downloaded
    max_media_bytes: int = 200 * 1024 * 1024  # one file; larger files are recorded, not fetched
    flood_sleep_max: int = 60  # flood waits up to this many seconds are slept
    flood_sleep_budget: int = 300  # ... up to this many seconds in total per run
    lock_wait: float = 600.0  # seconds to wait for the account lock held by another run
    media_retry_attempts: int = 3  # runs that retry a failed media download
    preview_max_pages: int = 20  # preview pages fetched per run
    preview_backfill: bool = True  # walk back to the channel's first post over later runs
    preview_media: bool = True  # download photos and videos the preview serves
    preview_max_page_bytes: int = 8 * 1024 * 1024

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> TelegramOptions:
        raw = dict(raw or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise InputError(f"unknown Telegram option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            default = getattr(cls, name)
            values[name] = _coerce(name, default, value)
        opts = cls(**values)
        opts.validate()
        return opts

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"Telegram option mode must be one of {', '.join(MODES)}")
        if not 1 <= self.page_size <= 100:
            raise InputError("Telegram option page_size must be between 1 and 100")
        for name in ("max_messages", "preview_max_pages"):
            if getattr(self, name) < 1:
                raise InputError(f"Telegram option {name} must be at least 1")
        bad = sorted(set(self.media) - set(MEDIA_KINDS))
        if bad:
            raise InputError(
                f"unknown media kind(s): {', '.join(bad)} (use {', '.join(MEDIA_KINDS)})"
            )


def _coerce(name: str, default: Any, value: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip().lower() for i in items if str(i).strip())
        return str(value)
    except (TypeError, ValueError):
        raise InputError(f"Telegram option {name}: bad value {value!r}") from None
