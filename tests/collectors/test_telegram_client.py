"""The Telethon port's own behaviour (its event loop, call shapes, error translation) and the
normalisation of TL objects. No test here connects anywhere."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from telethon import errors
from telethon.tl import types

from collectors.telegram.client import (
    AccountUnusable,
    ChannelUnavailable,
    FileReferenceExpired,
    FloodWait,
    TelethonPort,
    translate,
)
from collectors.telegram.normalise import json_safe, media_plan, message_record
from kernel.errors import CollectionError
from kernel.settings import Settings
from tests.support.telegram_fake import FakeTelegram


def _message_empty(message_id: int) -> types.MessageEmpty:
    """What Telegram sends for a deleted id (built as the deserialiser does, no __init__)."""
    empty = object.__new__(types.MessageEmpty)
    empty.id = message_id
    empty.peer_id = None
    return empty


class AsyncClient:
    """The few TelegramClient coroutines the port awaits, recording how they were called."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.calls: list[tuple] = []
        self.raise_next: BaseException | None = None
        self.connected = True

    async def _maybe_raise(self) -> None:
        await asyncio.sleep(0)
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc

    async def get_entity(self, username):
        self.calls.append(("get_entity", username))
        await self._maybe_raise()
        return self.fake.channel if username == "witnesschan" else types.User(id=5)

    async def get_messages(self, channel, **kwargs):
        self.calls.append(("get_messages", kwargs))
        await self._maybe_raise()
        if "ids" in kwargs:
            return [self.fake.by_id.get(i) or _message_empty(i) for i in kwargs["ids"]]
        return self.fake.history(channel, kwargs["min_id"], kwargs["limit"])

    async def download_media(self, message, file):
        self.calls.append(("download_media", message.id))
        await self._maybe_raise()
        file.write(b"bytes")

    def is_connected(self):
        return self.connected

    async def disconnect(self):
        self.connected = False


@pytest.fixture
def port():
    fake = FakeTelegram()
    fake.add_range(1, 5)
    client = AsyncClient(fake)
    port = TelethonPort(client, asyncio.new_event_loop())
    yield port
    port.close()


def test_history_asks_for_newer_messages_oldest_first(port):
    page = port.history(port._client.fake.channel, 2, 100)
    assert [m.id for m in page] == [3, 4, 5]
    assert port._client.calls[-1] == ("get_messages", {"limit": 100, "min_id": 2, "reverse": True})


def test_messages_turns_empty_into_none_and_resolve_wants_a_channel(port):
    found = port.messages(port._client.fake.channel, [1, 99])
    assert found[0].id == 1 and found[1] is None
    assert port.resolve("witnesschan").id == port._client.fake.channel.id
    with pytest.raises(ChannelUnavailable, match="not a channel"):
        port.resolve("someuser")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.FloodWaitError(request=None, capture=42), FloodWait),
        (errors.FileReferenceExpiredError(request=None), FileReferenceExpired),
        (errors.ChannelPrivateError(request=None), ChannelUnavailable),
        (errors.AuthKeyDuplicatedError(request=None), AccountUnusable),
        (errors.SessionRevokedError(request=None), AccountUnusable),
        (ConnectionError("reset"), CollectionError),
    ],
)
def test_errors_are_translated_at_the_boundary(port, error, expected):
    port._client.raise_next = error
    with pytest.raises(expected) as caught:
        port.history(port._client.fake.channel, 0, 10)
    if expected is FloodWait:
        assert caught.value.seconds == 42
    assert translate(error).__class__ is expected


def test_close_disconnects_and_closes_its_loop(port):
    port.close()
    assert port._client.connected is False
    assert port._loop.is_closed()


def test_a_real_client_builds_offline_with_the_settings_it_needs(tmp_path):
    from telethon.crypto import AuthKey
    from telethon.sessions import StringSession

    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)  # only written into the string: nothing connects
    session.auth_key = AuthKey(bytes(range(256)))
    settings = Settings(
        home=tmp_path,
        telegram_api_id="12345",
        telegram_api_hash="0123456789abcdef0123456789abcdef",
        telegram_session=session.save(),
    )
    port = TelethonPort.build(settings)
    try:
        assert port._client.flood_sleep_threshold == 0  # we decide what to sleep
        assert not port._client.is_connected()
    finally:
        port.close()


def test_media_plans_name_files_from_ids_only():
    doc = types.Document(
        id=-77,
        access_hash=1,
        file_reference=b"r",
        date=datetime(2024, 1, 1, tzinfo=UTC),
        mime_type="audio/ogg",
        size=999,
        dc_id=2,
        attributes=[
            types.DocumentAttributeAudio(duration=3, voice=True),
            types.DocumentAttributeFilename(file_name="../../evil name.ogg"),
        ],
    )
    plan = media_plan(types.MessageMediaDocument(document=doc, voice=True))
    assert plan.kind == "voice" and plan.size == 999 and plan.mime == "audio/ogg"
    assert plan.file_name(12) == "media/12-voice-n77.ogg"
    weird = types.Document(**{**doc.__dict__, "mime_type": "../../x", "attributes": []})
    plan = media_plan(types.MessageMediaDocument(document=weird))
    assert plan.mime == "application/octet-stream" and plan.file_name(3).endswith(".bin")
    round_video = types.Document(
        **{**doc.__dict__, "id": 5, "mime_type": "video/mp4",
           "attributes": [types.DocumentAttributeVideo(duration=1, w=240, h=240, round_message=True)]}
    )  # fmt: skip
    assert media_plan(types.MessageMediaDocument(document=round_video)).kind == "round"
    assert media_plan(types.MessageMediaWebPage(webpage=types.WebPageEmpty(id=1))) is None
    assert media_plan(types.MessageMediaPhoto()) is None  # expired self-destructing photo


def test_raw_json_is_json_safe_and_redacts_access_tokens():
    fake = FakeTelegram()
    message = fake.add(1, "text", media="photo")
    record = message_record(message)
    text = json.dumps(record)
    assert "file_reference" in text and "ref-1" not in text
    assert record["raw"]["media"]["photo"]["access_hash"] == "[redacted]"
    assert record["raw"]["media"]["photo"]["sizes"][0]["bytes"] == {"base64": "AQI="}
    assert json_safe({"access_hash": None, "date": datetime(2024, 1, 1, tzinfo=UTC)}) == {
        "access_hash": None,
        "date": "2024-01-01T00:00:00Z",
    }
    service = types.MessageService(
        id=9,
        peer_id=types.PeerChannel(channel_id=1),
        date=datetime(2024, 1, 1, tzinfo=UTC),
        action=types.MessageActionPinMessage(),
    )
    record = message_record(service)
    assert record["type"] == "service" and record["action"] == "MessageActionPinMessage"
