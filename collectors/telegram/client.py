"""The small port over the Telethon calls the collector needs, and its Telethon implementation.

Each port method is one Telegram request (downloads excepted, which Telethon splits into
chunks), so a fake implementing the same methods can count API calls honestly. Telethon is
async; ``TelethonPort`` keeps one private event loop and runs each call to completion on it,
so the collector stays plain synchronous code. Telethon's own flood sleeping is turned off
(``flood_sleep_threshold=0``): the collector decides what to sleep and what to defer.

Errors cross the boundary through ``translate``: Telethon's exception classes become the few
outcomes the collector acts on. Their messages never contain the session or the api hash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, BinaryIO, Protocol

from collectors.base import CollectorSettings
from kernel.errors import CollectionError, ConfigError


class TelegramPort(Protocol):
    def resolve(self, username: str) -> Any:
        """The ``types.Channel`` a public username names."""

    def full_channel(self, channel: Any) -> Any:
        """The ``types.ChannelFull`` (about, participant count, pinned message)."""

    def history(self, channel: Any, after_id: int, limit: int) -> list[Any]:
        """Up to ``limit`` (≤100) messages with id > ``after_id``, oldest first: one request."""

    def messages(self, channel: Any, ids: list[int]) -> list[Any | None]:
        """The messages with these ids (≤100), ``None`` where one is gone: one request."""

    def download_media(self, message: Any, out: BinaryIO) -> None:
        """Write the message's media file into ``out``."""

    def download_profile_photo(self, channel: Any, out: BinaryIO) -> bool:
        """Write the channel's current photo into ``out``; False when it has none."""

    def close(self) -> None: ...


# -- outcomes the collector acts on -------------------------------------------------------------
class FloodWait(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"Telegram asks to wait {seconds} s (flood wait)")
        self.seconds = seconds


class FileReferenceExpired(Exception):
    """The media's file reference is stale: refetch the message, then download again."""


class MediaTooLarge(Exception):
    pass


_CHANNEL_ERRORS = {
    "ChannelPrivateError": "the channel is private or this account was banned from it",
    "ChannelInvalidError": "the channel is invalid",
    "ChannelBannedError": "the channel is banned",
    "ChannelPublicGroupNaError": "the channel is not available",
    "ChatForbiddenError": "this account may not read the channel",
    "ChatAdminRequiredError": "the channel hides its history from non-admins",
    "UsernameNotOccupiedError": "no channel has this username (any more)",
    "UsernameInvalidError": "the username is not valid on Telegram",
    "UsernameNotModifiedError": "the username is not valid on Telegram",
    "MsgIdInvalidError": "Telegram refused the message ids",
}
_ACCOUNT_ERRORS = {
    "AuthKeyUnregisteredError", "AuthKeyInvalidError", "AuthKeyDuplicatedError",
    "SessionRevokedError", "SessionExpiredError", "UserDeactivatedError",
    "UserDeactivatedBanError", "PhoneNumberBannedError", "AuthKeyPermEmptyError",
    "ApiIdInvalidError", "ApiIdPublishedFloodError", "UnauthorizedError",
}  # fmt: skip


class ChannelUnavailable(CollectionError):
    pass


class AccountUnusable(CollectionError):
    pass


def translate(exc: BaseException) -> BaseException:
    """Telethon's exceptions → the collector's outcomes (``raise translate(exc) from None``)."""
    name = type(exc).__name__
    if name in ("FloodWaitError", "FloodPremiumWaitError", "SlowModeWaitError"):
        return FloodWait(int(getattr(exc, "seconds", 60)))
    if name in ("FileReferenceExpiredError", "FileReferenceInvalidError"):
        return FileReferenceExpired(name)
    if isinstance(exc, MediaTooLarge | FloodWait | FileReferenceExpired | CollectionError):
        return exc
    if name in _CHANNEL_ERRORS:
        return ChannelUnavailable(f"Telegram: {_CHANNEL_ERRORS[name]} ({name})")
    if name in _ACCOUNT_ERRORS or any(c.__name__ == "UnauthorizedError" for c in type(exc).__mro__):
        return AccountUnusable(
            f"Telegram refused the account session ({name}): "
            "create a new one with `witnessbox telegram login`"
        )
    if any(c.__name__ == "RPCError" for c in type(exc).__mro__):
        return CollectionError(f"Telegram refused a request: {name}: {getattr(exc, 'message', '')}")
    if isinstance(exc, ConnectionError | TimeoutError | OSError | asyncio.TimeoutError):
        return CollectionError(f"cannot reach Telegram: {type(exc).__name__}")
    return exc


# -- the Telethon implementation ----------------------------------------------------------------
def credentials_configured(settings: CollectorSettings) -> bool:
    return bool(
        settings.telegram_api_id and settings.telegram_api_hash and settings.telegram_session
    )


class TelethonPort:
    """One connected Telethon client on a private event loop. Build with ``connect``."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    @classmethod
    def build(cls, settings: CollectorSettings) -> TelethonPort:
        """The client, not yet connected (nothing touches the network here)."""
        from telethon import TelegramClient
        from telethon.sessions import StringSession

        if not credentials_configured(settings):
            raise ConfigError(
                "Telegram api mode needs WITNESSBOX_TELEGRAM_API_ID, _API_HASH and _SESSION"
            )
        try:
            api_id = int(settings.telegram_api_id)
        except ValueError:
            raise ConfigError("WITNESSBOX_TELEGRAM_API_ID must be a number") from None
        try:
            session = StringSession(settings.telegram_session)
        except Exception:  # never echo the string: it is the account's key
            raise ConfigError("WITNESSBOX_TELEGRAM_SESSION is not a valid session string") from None
        loop = asyncio.new_event_loop()
        client = TelegramClient(
            session,
            api_id,
            settings.telegram_api_hash,
            flood_sleep_threshold=0,
            receive_updates=False,
            request_retries=3,
            connection_retries=3,
        )
        return cls(client, loop)

    @classmethod
    def connect(cls, settings: CollectorSettings) -> TelethonPort:
        port = cls.build(settings)
        try:
            port._run(port._client.connect())
            if not port._run(port._client.is_user_authorized()):
                raise AccountUnusable(
                    "the Telegram session is not logged in: run `witnessbox telegram login`"
                )
        except BaseException:
            port.close()
            raise
        return port

    def _run(self, coro: Any) -> Any:
        try:
            return self._loop.run_until_complete(coro)
        except Exception as exc:
            raise translate(exc) from None

    def resolve(self, username: str) -> Any:
        from telethon.tl import types

        entity = self._run(self._client.get_entity(username))
        if not isinstance(entity, types.Channel):
            raise ChannelUnavailable(f"@{username} is not a channel or group")
        return entity

    def full_channel(self, channel: Any) -> Any:
        from telethon.tl.functions.channels import GetFullChannelRequest

        return self._run(self._client(GetFullChannelRequest(channel))).full_chat

    def history(self, channel: Any, after_id: int, limit: int) -> list[Any]:
        return list(
            self._run(
                self._client.get_messages(channel, limit=limit, min_id=after_id, reverse=True)
            )
        )

    def messages(self, channel: Any, ids: list[int]) -> list[Any | None]:
        found = self._run(self._client.get_messages(channel, ids=list(ids)))
        return [m if m is not None and type(m).__name__ != "MessageEmpty" else None for m in found]

    def download_media(self, message: Any, out: BinaryIO) -> None:
        self._run(self._client.download_media(message, file=out))

    def download_profile_photo(self, channel: Any, out: BinaryIO) -> bool:
        return self._run(self._client.download_profile_photo(channel, file=out)) is not None

    def close(self) -> None:
        try:
            if self._client.is_connected():
                self._loop.run_until_complete(self._client.disconnect())
        except Exception as exc:  # closing must never mask the run's own outcome
            logging.getLogger("witnessbox.collect").debug("telegram disconnect: %s", type(exc))
        finally:
            self._loop.close()
