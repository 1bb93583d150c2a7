"""The Telegram collector: channel monitoring through an account (api) or the public preview.

Mode per source: ``source.options["mode"]`` when it says ``api`` or ``preview``; otherwise
api when Telegram credentials are configured (``WITNESSBOX_TELEGRAM_API_ID``, ``_API_HASH``,
``_SESSION``), else the public ``t.me/s/<name>`` preview. Both modes keep one cursor shape
(``last_id``: every message up to it is captured), so a source can change mode. Telethon is
imported only when api mode runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from collectors.base import (
    CollectContext,
    CollectedCapture,
    Collector,
    CollectorSettings,
    SourceRef,
)
from collectors.telegram.client import TelegramPort, credentials_configured
from collectors.telegram.options import OPTIONS, TelegramOptions
from collectors.telegram.urls import is_reference, is_telegram, telegram_channel

VERSION = "1.0.0"


def choose_mode(opts: TelegramOptions, settings: CollectorSettings) -> str:
    if opts.mode != "auto":
        return opts.mode
    return "api" if credentials_configured(settings) else "preview"


def _connect(settings: CollectorSettings) -> TelegramPort:
    from collectors.telegram.client import TelethonPort

    return TelethonPort.connect(settings)


class TelegramCollector(Collector):
    name = "telegram"
    kind = "telegram"
    title = "Telegram channel"
    every = 3600
    pool = "witnessbox_telegram"
    pool_slots = 1  # one account, one session: never two runs at once
    pool_note = "one Telegram account = one slot"
    dag_every = 5 * 60
    options = OPTIONS
    #: api mode needs the account (id, hash, session); both modes need the rest
    settings_used = (
        "home", "user_agent", "max_capture_bytes", "telegram_preview_url",
        "telegram_api_id", "telegram_api_hash", "telegram_session",
    )  # fmt: skip

    @classmethod
    def suitable(cls, url: str) -> bool:
        return is_telegram(url)

    @classmethod
    def claims(cls, value: str) -> bool:
        return is_reference(value)

    @classmethod
    def normalise(cls, value: str) -> str:
        return f"https://t.me/{telegram_channel(value)}"

    def __init__(
        self,
        connect: Callable[[CollectorSettings], TelegramPort] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._connect = connect or _connect
        self._sleep = sleep

    @property
    def version(self) -> str:
        return VERSION

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        opts = TelegramOptions.parse(source.options)
        username = telegram_channel(source.url)
        mode = choose_mode(opts, ctx.settings)
        if mode == "api":
            from collectors.telegram.api import collect_api

            result = collect_api(source, ctx, opts, username, self._connect, self._sleep)
        else:
            from collectors.telegram.preview import collect_preview

            result = collect_preview(source, ctx, opts, username)
        result.tools.update(_tool_versions(mode))
        return result


def _tool_versions(mode: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    names = ("Telethon",) if mode == "api" else ("warcio",)
    tools: dict[str, Any] = {"witnessbox-telegram": VERSION}
    for name in names:
        try:
            tools[name.lower()] = version(name)
        except PackageNotFoundError:
            tools[name.lower()] = "unknown"
    return tools
