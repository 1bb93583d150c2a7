"""A fake Telegram behind the collector's port, built from REAL ``telethon.tl.types`` objects.

It keeps a channel's messages in memory, answers the port's calls the way Telegram does
(history oldest-first above ``min_id``, 100 at most per request; ``None`` for deleted ids),
raises real Telethon errors when a test scripts them, and counts every call so tests and
the benchmark can check how many API requests a run costs.
"""

from __future__ import annotations

import collections
import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from telethon import errors
from telethon.tl import types

EPOCH = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
API_METHODS = ("resolve", "full_channel", "history", "messages")


def media_bytes(media_id: int, size: int) -> bytes:
    """Deterministic content for a media id (a JPEG-ish header, then hash-derived bytes)."""
    seed = hashlib.sha256(str(media_id).encode()).digest()
    body = (seed * (size // len(seed) + 1))[: max(size - 4, 0)]
    return b"\xff\xd8\xff\xe0" + body


class FakeTelegram:
    def __init__(
        self,
        username: str = "witnesschan",
        channel_id: int = 1_500_000_001,
        title: str = "Witness Channel",
        about: str = "Reports from the ground",
        participants: int = 4321,
    ) -> None:
        self.username = username
        self.channel = types.Channel(
            id=channel_id,
            title=title,
            photo=types.ChatPhoto(photo_id=777_001, dc_id=2),
            date=EPOCH - timedelta(days=400),
            broadcast=True,
            access_hash=987654321987,
            username=username,
            participants_count=participants,
        )
        self.full = types.ChannelFull(
            id=channel_id,
            about=about,
            read_inbox_max_id=0,
            read_outbox_max_id=0,
            unread_count=0,
            chat_photo=types.PhotoEmpty(id=0),
            notify_settings=types.PeerNotifySettings(),
            bot_info=[],
            pts=1,
            participants_count=participants,
        )
        self.by_id: dict[int, types.Message] = {}
        self.blobs: dict[int, bytes] = {}  # media id -> file content
        self.references: dict[int, bytes] = {}  # media id -> current file_reference
        self.expire_after_fetch: set[int] = set()  # media ids whose reference expires once fetched
        self.errors: dict[str, collections.deque[BaseException]] = collections.defaultdict(
            collections.deque
        )
        self.calls: collections.Counter[str] = collections.Counter()
        self.history_args: list[tuple[int, int]] = []
        self.closed = 0
        self.photo = b"\xff\xd8\xff\xe0channel-photo"

    # -- building the channel -----------------------------------------------------------------
    def _photo(self, media_id: int, size: int) -> types.MessageMediaPhoto:
        self.references.setdefault(media_id, b"ref-1")
        return types.MessageMediaPhoto(
            photo=types.Photo(
                id=media_id,
                access_hash=555,
                file_reference=self.references[media_id],
                date=EPOCH,
                sizes=[
                    types.PhotoStrippedSize(type="i", bytes=b"\x01\x02"),
                    types.PhotoSize(type="m", w=320, h=240, size=max(size // 4, 1)),
                    types.PhotoSize(type="y", w=1280, h=960, size=size),
                ],
                dc_id=2,
            )
        )

    def _document(self, media_id: int, size: int, kind: str) -> types.MessageMediaDocument:
        self.references.setdefault(media_id, b"ref-1")
        attributes: list[Any]
        if kind == "video":
            mime, attributes = (
                "video/mp4",
                [types.DocumentAttributeVideo(duration=3.0, w=640, h=360)],
            )
        elif kind == "voice":
            mime, attributes = "audio/ogg", [types.DocumentAttributeAudio(duration=2, voice=True)]
        else:
            mime, attributes = (
                "application/pdf",
                [types.DocumentAttributeFilename("../../etc/x.pdf")],
            )
        return types.MessageMediaDocument(
            document=types.Document(
                id=media_id,
                access_hash=556,
                file_reference=self.references[media_id],
                date=EPOCH,
                mime_type=mime,
                size=size,
                dc_id=2,
                attributes=attributes,
            ),
            video=kind == "video" or None,
            voice=kind == "voice" or None,
        )

    def add(
        self,
        message_id: int,
        text: str = "",
        *,
        media: str | None = None,
        media_size: int = 2048,
        grouped_id: int | None = None,
        fwd_from: types.MessageFwdHeader | None = None,
        reply_to: int | None = None,
        entities: list[Any] | None = None,
        post_author: str | None = None,
        date: datetime | None = None,
    ) -> types.Message:
        media_obj: Any = None
        if media is not None:
            media_id = 10_000_000 + message_id
            self.blobs[media_id] = media_bytes(media_id, media_size)
            media_obj = (
                self._photo(media_id, media_size)
                if media == "photo"
                else self._document(media_id, media_size, media)
            )
        message = types.Message(
            id=message_id,
            peer_id=types.PeerChannel(channel_id=self.channel.id),
            date=date or EPOCH + timedelta(minutes=message_id),
            message=text or f"message {message_id}",
            post=True,
            fwd_from=fwd_from,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
            media=media_obj,
            entities=entities or [],
            views=100 + message_id,
            forwards=message_id % 7,
            post_author=post_author,
            grouped_id=grouped_id,
        )
        self.by_id[message_id] = message
        return message

    def add_range(self, first: int, last: int, media_every: int = 0) -> None:
        for message_id in range(first, last + 1):
            media = "photo" if media_every and message_id % media_every == 0 else None
            self.add(message_id, media=media)

    def edit(self, message_id: int, text: str, when: datetime | None = None) -> None:
        message = self.by_id[message_id]
        message.message = text
        message.edit_date = when or EPOCH + timedelta(days=2)

    def delete(self, message_id: int) -> None:
        del self.by_id[message_id]

    def expire_reference_after_fetch(self, media_id: int) -> None:
        """The reference handed out by the next fetch expires at once; a fresh one replaces it."""
        self.expire_after_fetch.add(media_id)

    def _rotate_reference(self, message: types.Message) -> None:
        media = message.media
        held = getattr(media, "photo", None) or getattr(media, "document", None)
        self.references[held.id] = self.references[held.id] + b"+"
        fresh = type(held)(**{**held.__dict__, "file_reference": self.references[held.id]})
        if isinstance(media, types.MessageMediaPhoto):
            new_media: Any = types.MessageMediaPhoto(photo=fresh)
        else:
            new_media = types.MessageMediaDocument(
                document=fresh, video=media.video, voice=media.voice
            )
        fresh_message = copy.copy(message)  # the copy Telegram would send on a refetch
        fresh_message.media = new_media
        self.by_id[message.id] = fresh_message

    def fail(self, method: str, *excs: BaseException) -> None:
        """Raise these (real Telethon) errors on the next calls of ``method``."""
        self.errors[method].extend(excs)

    @staticmethod
    def flood(seconds: int) -> errors.FloodWaitError:
        return errors.FloodWaitError(request=None, capture=seconds)

    # -- the port -----------------------------------------------------------------------------
    @property
    def api_calls(self) -> int:
        return sum(self.calls[m] for m in API_METHODS)

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        if self.errors[method]:
            raise self.errors[method].popleft()

    def resolve(self, username: str) -> types.Channel:
        self._enter("resolve")
        if username.lower() != self.username:
            raise errors.UsernameNotOccupiedError(request=None)
        return self.channel

    def full_channel(self, channel: Any) -> types.ChannelFull:
        self._enter("full_channel")
        return self.full

    def history(self, channel: Any, after_id: int, limit: int) -> list[types.Message]:
        self._enter("history")
        assert limit <= 100, "Telegram returns at most 100 messages per request"
        self.history_args.append((after_id, limit))
        ids = sorted(i for i in self.by_id if i > after_id)[:limit]
        page = [self.by_id[i] for i in ids]
        for message in page:
            held = getattr(message.media, "photo", None) or getattr(message.media, "document", None)
            if held is not None and held.id in self.expire_after_fetch:
                self.expire_after_fetch.discard(held.id)
                self._rotate_reference(message)
        return page

    def messages_by_ids(self, ids: list[int]) -> list[types.Message | None]:
        return [self.by_id.get(i) for i in ids]

    def messages(self, channel: Any, ids: list[int]) -> list[types.Message | None]:
        self._enter("messages")
        assert len(ids) <= 100, "Telegram accepts at most 100 ids per request"
        return self.messages_by_ids(ids)

    def download_media(self, message: Any, out: BinaryIO) -> None:
        self.calls["download_media"] += 1
        if self.errors["download_media"]:
            raise self.errors["download_media"].popleft()
        media = getattr(message.media, "photo", None) or getattr(message.media, "document", None)
        if media.file_reference != self.references[media.id]:
            raise errors.FileReferenceExpiredError(request=None)
        data = self.blobs[media.id]
        for start in range(0, len(data), 64 * 1024):  # Telethon writes in chunks
            out.write(data[start : start + 64 * 1024])

    def download_profile_photo(self, channel: Any, out: BinaryIO) -> bool:
        self.calls["download_profile_photo"] += 1
        out.write(self.photo)
        return True

    def close(self) -> None:
        self.closed += 1
