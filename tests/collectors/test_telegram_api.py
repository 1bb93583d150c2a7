"""api mode against a fake Telegram that returns real ``telethon.tl.types`` objects."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from datetime import timedelta

import pytest
from telethon import errors
from telethon.tl import types

from collectors.telegram.collector import TelegramCollector, choose_mode
from collectors.telegram.lock import LOCK_NAME
from collectors.telegram.options import TelegramOptions
from kernel.errors import CollectionError, ConfigError, InputError
from kernel.settings import Settings
from tests.support.telegram_fake import EPOCH, FakeTelegram, media_bytes
from tests.support.telegram_harness import Harness, load_batches, stored_messages

API_HASH = "0123456789abcdef0123456789abcdef"
SESSION = "1BVtsOKABu0SECRETSESSIONSTRINGxyz=="


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def harness(tmp_path, fake, slept) -> Harness:
    settings = Settings(
        home=tmp_path / "home",
        telegram_api_id="12345",
        telegram_api_hash=API_HASH,
        telegram_session=SESSION,
    )
    collector = TelegramCollector(connect=lambda s: fake, sleep=slept.append)
    return Harness(tmp_path, settings, collector)


def ids_of(messages: list[dict]) -> list[int]:
    return [m["id"] for m in messages]


def test_first_run_captures_channel_messages_and_media(harness, fake):
    fake.add_range(1, 250, media_every=10)
    result, staging = harness.run()

    assert result.status == "complete", result.reasons
    assert result.cursor["last_id"] == 250
    assert result.cursor["channel_id"] == fake.channel.id
    assert fake.calls["history"] == 3  # 100 + 100 + 50: one request per page
    messages = stored_messages(staging, result)
    assert ids_of(messages) == list(range(1, 251))
    assert {i.id for i in result.items if i.status == "captured"} == {str(i) for i in range(1, 251)}

    channel = json.loads((staging / "channel.json").read_text())
    assert channel["id"] == fake.channel.id
    assert channel["username"] == "witnesschan"
    assert channel["about"] == "Reports from the ground"
    assert channel["participants_count"] == 4321
    assert channel["raw"]["channel"]["_"] == "Channel"
    assert channel["raw"]["channel"]["access_hash"] == "[redacted]"
    photo = next(a for a in result.artifacts if a.name.startswith("channel/photo-"))
    assert (staging / photo.name).read_bytes() == fake.photo

    media = [a for a in result.artifacts if a.role == "media" and a.name.startswith("media/")]
    assert len(media) == 25
    for artifact in media:
        message_id = artifact.platform["message_id"]
        expected = media_bytes(10_000_000 + message_id, 2048)
        assert (staging / artifact.name).read_bytes() == expected
        assert artifact.media_type == "image/jpeg"
        assert artifact.name == f"media/{message_id}-photo-{10_000_000 + message_id}.jpg"
    tenth = next(m for m in messages if m["id"] == 10)
    assert tenth["media_file"] == f"media/10-photo-{10_000_010}.jpg"
    assert tenth["media"]["size"] == 2048
    assert tenth["raw"]["_"] == "Message"
    assert tenth["raw"]["media"]["photo"]["file_reference"] == "[redacted]"
    assert tenth["date"] == (EPOCH + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert tenth["views"] == 110


def test_incremental_run_fetches_only_new_messages(harness, fake):
    fake.add_range(1, 40)
    first, _ = harness.run()
    assert first.cursor["last_id"] == 40
    fake.add_range(41, 45)
    fake.history_args.clear()

    second, staging = harness.run()

    assert second.status == "complete", second.reasons
    assert fake.history_args[0] == (40, 100)
    assert ids_of(stored_messages(staging, second)) == [41, 42, 43, 44, 45]
    assert second.cursor["last_id"] == 45
    captured = [i.id for i in second.items if i.status == "captured"]
    assert captured == ["41", "42", "43", "44", "45"]


def test_nothing_new_keeps_cursor_and_writes_no_message_batch(harness, fake):
    fake.add_range(1, 5)
    harness.run()
    result, staging = harness.run()
    assert result.cursor["last_id"] == 5
    assert stored_messages(staging, result) == []
    assert any(a.role == "channel-json" for a in result.artifacts)


def test_album_across_a_page_boundary_is_stored_in_one_batch(harness, fake):
    harness.options = {"page_size": 5}
    fake.add_range(1, 3)
    for message_id in (4, 5, 6):  # an album of three photos: ids 4, 5 on page one, 6 on page two
        fake.add(message_id, media="photo", grouped_id=7777)
    fake.add_range(7, 8)

    result, staging = harness.run()

    batches = load_batches(staging, result, "new")
    album_batches = [b for b in batches if any(m["grouped_id"] == 7777 for m in b["messages"])]
    assert len(album_batches) == 1
    assert [m["id"] for m in album_batches[0]["messages"] if m["grouped_id"] == 7777] == [4, 5, 6]
    assert ids_of(stored_messages(staging, result)) == list(range(1, 9))
    album_media = [a for a in result.artifacts if a.platform.get("grouped_id") == 7777]
    assert len(album_media) == 3


def test_run_limit_never_splits_an_album(harness, fake):
    harness.options = {"page_size": 5, "max_messages": 5}
    fake.add_range(1, 3)
    for message_id in (4, 5, 6):
        fake.add(message_id, media="photo", grouped_id=8888)

    first, staging = harness.run()
    assert ids_of(stored_messages(staging, first)) == [1, 2, 3]
    assert first.cursor["last_id"] == 3  # the album waits whole for the next run

    second, staging2 = harness.run()
    assert ids_of(stored_messages(staging2, second)) == [4, 5, 6]
    assert second.cursor["last_id"] == 6


def test_forward_origin_reply_and_links_are_normalised(harness, fake):
    header = types.MessageFwdHeader(
        date=EPOCH - timedelta(days=3),
        from_id=types.PeerChannel(channel_id=1_234_567),
        channel_post=555,
        post_author="Origin Editor",
    )
    text = "Sources 🔥 here: https://example.org/a and more"
    entities = [
        types.MessageEntityUrl(offset=17, length=21),
        types.MessageEntityTextUrl(offset=0, length=7, url="https://example.net/doc"),
    ]
    fake.add(1, "first")
    fake.add(2, text, fwd_from=header, reply_to=1, entities=entities, post_author="Desk")

    result, staging = harness.run()

    second = stored_messages(staging, result)[1]
    assert second["fwd_from"]["from_id"] == {"type": "channel", "id": 1_234_567}
    assert second["fwd_from"]["channel_post"] == 555
    assert second["fwd_from"]["date"] == "2024-02-27T12:00:00Z"
    assert second["fwd_from"]["post_author"] == "Origin Editor"
    assert second["reply_to"]["msg_id"] == 1
    assert second["post_author"] == "Desk"
    assert second["entities"][0]["text"] == "https://example.org/a"  # UTF-16 offsets past the emoji
    assert second["links"] == ["https://example.org/a", "https://example.net/doc"]
    assert second["raw"]["fwd_from"]["_"] == "MessageFwdHeader"


def test_edit_is_stored_as_a_new_version_and_the_old_one_kept(harness, fake):
    fake.add_range(1, 10)
    first, first_staging = harness.run()
    original = next(m for m in stored_messages(first_staging, first) if m["id"] == 7)
    first_bytes = {a.name: (first_staging / a.name).read_bytes() for a in first.artifacts}

    fake.edit(7, "message 7 (corrected)")
    second, staging = harness.run()

    edited = [i for i in second.items if i.status == "edited"]
    assert [i.id for i in edited] == ["7"]
    assert edited[0].data["version"] == 2
    assert edited[0].data["edit_date"] == "2024-03-03T12:00:00Z"
    versions = stored_messages(staging, second, "edits")
    assert len(versions) == 1
    assert versions[0]["text"] == "message 7 (corrected)"
    assert versions[0]["previous"]["capture_id"] == "cap-0001"
    assert versions[0]["previous"]["fingerprint"] == original["fingerprint"]
    assert original["text"] == "message 7"
    for name, data in first_bytes.items():  # the first capture's files are untouched
        assert (first_staging / name).read_bytes() == data

    third, staging3 = harness.run()  # no further change: no new version
    assert [i for i in third.items if i.status == "edited"] == []
    assert stored_messages(staging3, third, "edits") == []

    fake.edit(7, "message 7 (changed again)", when=EPOCH + timedelta(days=3))
    fourth, _ = harness.run()
    assert [i.data["version"] for i in fourth.items if i.status == "edited"] == [3]


def test_deleted_message_is_recorded_with_the_observation_time(harness, fake):
    fake.add_range(1, 10)
    harness.run()
    fake.delete(4)
    harness.clock.advance(hours=6)

    result, staging = harness.run()

    deleted = [i for i in result.items if i.status == "deleted"]
    assert [i.id for i in deleted] == ["4"]
    assert deleted[0].data["deleted_observed_at"] == "2024-03-10T15:00:00Z"
    entries = [m for b in load_batches(staging, result, "deletions") for m in b["messages"]]
    assert entries[0]["id"] == 4
    assert entries[0]["last_capture_id"] == "cap-0001"
    assert result.status == "complete"

    again, _ = harness.run()  # already known as deleted: not reported twice
    assert [i for i in again.items if i.status == "deleted"] == []


def test_recheck_window_is_bounded_by_count_and_days(harness, fake):
    harness.options = {"recheck_messages": 3, "recheck_days": 0}
    fake.add_range(1, 20)
    harness.run()
    fake.edit(2, "old edit")  # outside the window of the newest 3
    fake.edit(19, "new edit")
    result, _ = harness.run()
    assert [i.id for i in result.items if i.status == "edited"] == ["19"]

    harness.options = {"recheck_messages": 1, "recheck_days": 30}
    result, _ = harness.run()  # every message is newer than 30 days: all re-checked
    assert [i.id for i in result.items if i.status == "edited"] == ["2"]


def test_long_flood_wait_stops_cleanly_and_the_next_run_resumes(harness, fake, slept):
    fake.add_range(1, 250)
    original = fake.history

    def history(channel, after_id, limit):
        if after_id == 100 and not getattr(history, "done", False):
            history.done = True
            fake.calls["history"] += 1
            raise FakeTelegram.flood(3600)
        return original(channel, after_id, limit)

    fake.history = history
    first, staging = harness.run()

    assert first.status == "partial"
    assert "flood wait of 3600 s" in first.reasons[0]
    assert first.cursor["last_id"] == 100
    assert first.retry_after == harness.clock.now + timedelta(seconds=3600)
    assert ids_of(stored_messages(staging, first)) == list(range(1, 101))
    assert slept == []  # nothing slept: 3600 s is over the threshold

    second, staging2 = harness.run()
    assert second.status == "complete", second.reasons
    assert ids_of(stored_messages(staging2, second)) == list(range(101, 251))
    assert second.cursor["last_id"] == 250


def test_flood_wait_in_a_capture_never_stored_loses_nothing(harness, fake):
    fake.add_range(1, 30)
    fake.fail("history", FakeTelegram.flood(7200))
    stopped, _ = harness.run()
    assert stopped.status == "partial"
    assert stopped.cursor["last_id"] == 0
    assert stopped.retry_after == harness.clock.now + timedelta(seconds=7200)

    lost, _ = harness.run(store=False)  # collected but the store failed: cursor not applied
    assert lost.cursor["last_id"] == 30
    assert harness.cursor.get("last_id", 0) == 0

    third, staging = harness.run()
    assert ids_of(stored_messages(staging, third)) == list(range(1, 31))


def test_short_flood_waits_are_slept_through(harness, fake, slept):
    fake.add_range(1, 150)
    fake.fail("history", FakeTelegram.flood(5))
    fake.fail("download_media", FakeTelegram.flood(2))
    fake.add(151, media="photo")

    result, staging = harness.run()

    assert result.status == "complete", result.reasons
    assert slept == [5, 2]
    assert ids_of(stored_messages(staging, result)) == list(range(1, 152))
    media = next(a for a in result.artifacts if a.name.startswith("media/151-"))
    assert (staging / media.name).read_bytes() == media_bytes(10_000_151, 2048)
    assert result.platform["flood_slept_seconds"] == 7


def test_flood_wait_during_media_defers_media_but_keeps_the_batch(harness, fake):
    for message_id in range(1, 6):
        fake.add(message_id, media="photo")
    fake.fail("download_media", FakeTelegram.flood(900))

    first, staging = harness.run()
    assert first.status == "partial"
    assert ids_of(stored_messages(staging, first)) == [1, 2, 3, 4, 5]
    assert first.cursor["last_id"] == 5
    assert [r["id"] for r in first.cursor["media_retry"]] == [1, 2, 3, 4, 5]
    assert not any(a.name.startswith("media/") for a in first.artifacts)

    second, _ = harness.run()
    got = sorted(a.platform["message_id"] for a in second.artifacts if a.name.startswith("media/"))
    assert got == [1, 2, 3, 4, 5]
    assert second.cursor["media_retry"] == []
    assert second.status == "complete", second.reasons


def test_owed_media_survive_a_second_flood_and_give_up_after_the_limit(harness, fake):
    harness.options = {"media_retry_attempts": 2}
    for message_id in range(1, 4):
        fake.add(message_id, media="photo")
    fake.fail("download_media", FakeTelegram.flood(900))
    harness.run()
    fake.fail("messages", FakeTelegram.flood(900))  # the retry's refetch floods too

    second, _ = harness.run()
    assert second.status == "partial"
    assert [r["id"] for r in second.cursor["media_retry"]] == [1, 2, 3]

    broken = errors.FileIdInvalidError(request=None)
    fake.fail("download_media", broken, broken, broken)
    third, _ = harness.run()  # 1, 2, 3 fail: one attempt each
    assert [r["attempts"] for r in third.cursor["media_retry"]] == [1, 1, 1]
    fake.fail("download_media", broken, broken, broken)
    harness.run()
    fifth, _ = harness.run()  # attempts exhausted: reported once, then dropped
    assert fifth.cursor["media_retry"] == []
    assert sum("media not captured after 2 runs" in r for r in fifth.reasons) == 3


def test_expired_file_reference_refetches_the_message(harness, fake):
    fake.add(1, media="video", media_size=5000)
    fake.add(2, media="photo")
    fake.expire_reference_after_fetch(10_000_001)

    result, staging = harness.run()

    assert result.status == "complete", result.reasons
    assert fake.calls["messages"] == 1  # the one refetch
    assert fake.calls["download_media"] == 3  # expired, retried, and message 2
    video = next(a for a in result.artifacts if a.name.startswith("media/1-video-"))
    assert (staging / video.name).read_bytes() == media_bytes(10_000_001, 5000)
    assert video.media_type == "video/mp4"
    records = stored_messages(staging, result)
    assert records[0]["media_refetched"] is True
    assert "media_refetched" not in records[1]
    assert not list(staging.rglob("*.part"))


def test_oversized_and_unselected_media_are_recorded_not_fetched(harness, fake):
    harness.options = {"max_media_bytes": 4096, "media": "photo,video"}
    fake.add(1, media="video", media_size=10_000)
    fake.add(2, media="document", media_size=100)
    fake.add(3, media="photo", media_size=1000)

    result, staging = harness.run()

    records = {m["id"]: m for m in stored_messages(staging, result)}
    assert "over the 4096 limit" in records[1]["media_status"]
    assert "document not selected" in records[2]["media_status"]
    assert records[3]["media_file"].startswith("media/3-photo-")
    assert records[2]["media"]["file_name"] == "../../etc/x.pdf"  # recorded, never a path
    assert fake.calls["download_media"] == 1
    assert result.status == "complete"


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (errors.ChannelPrivateError(request=None), "private"),
        (errors.UsernameNotOccupiedError(request=None), "no channel has this username"),
        (errors.UsernameInvalidError(request=None), "not valid"),
        (errors.AuthKeyUnregisteredError(request=None), "witnessbox telegram login"),
    ],
)
def test_unavailable_channels_fail_with_a_clear_reason(harness, fake, error, needle):
    fake.fail("resolve", error)
    with pytest.raises(CollectionError) as caught:
        harness.run()
    assert needle in str(caught.value)
    assert fake.closed == 1


def test_channel_going_private_mid_run_keeps_what_was_fetched(harness, fake):
    fake.add_range(1, 150)
    original = fake.history

    def history(channel, after_id, limit):
        if after_id >= 100:
            raise errors.ChannelPrivateError(request=None)
        return original(channel, after_id, limit)

    fake.history = history
    result, staging = harness.run()
    assert result.status == "partial"
    assert "private" in result.reasons[0]
    assert result.cursor["last_id"] == 100
    assert len(stored_messages(staging, result)) == 100


def test_username_taken_over_by_another_channel_is_refused(harness, fake):
    fake.add_range(1, 3)
    harness.run()
    fake.channel.id = 42
    with pytest.raises(CollectionError, match="different channel"):
        harness.run()


def test_account_lock_refuses_a_second_run(harness, fake):
    harness.options = {"lock_wait": 0.2}
    path = harness.settings.home / "locks" / LOCK_NAME
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result, _ = harness.run()
    finally:
        os.close(fd)
    assert result.status == "failed"
    assert "in use by another run" in result.reasons[0]
    assert result.retry_after is not None
    assert fake.calls["resolve"] == 0  # never connected while another run held the account

    fake.add_range(1, 2)
    result, _ = harness.run()
    assert result.status == "complete"


def test_secrets_never_reach_artifacts_logs_or_results(harness, fake, caplog):
    fake.add_range(1, 20, media_every=5)
    fake.fail("resolve", errors.ChannelPrivateError(request=None))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(CollectionError) as caught:
            harness.run()
        result, staging = harness.run()
    texts = [
        caplog.text,
        str(caught.value),
        json.dumps(result.reasons),
        json.dumps(result.platform),
    ]
    texts.append(json.dumps(result.cursor))
    texts.append(repr(harness.settings))
    for path in staging.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    for secret in (API_HASH, SESSION):
        assert all(secret not in text for text in texts)


def test_bad_session_string_is_a_config_error_that_hides_it(tmp_path):
    from collectors.telegram.client import TelethonPort

    settings = Settings(
        home=tmp_path,
        telegram_api_id="1",
        telegram_api_hash=API_HASH,
        telegram_session="1Anot-a-session-SECRET",
    )
    with pytest.raises(ConfigError) as caught:
        TelethonPort.connect(settings)
    assert "SECRET" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_mode_follows_options_then_credentials(tmp_path):
    bare = Settings(home=tmp_path)
    full = Settings(home=tmp_path, telegram_api_id="1", telegram_api_hash="h", telegram_session="s")
    assert choose_mode(TelegramOptions.parse({}), bare) == "preview"
    assert choose_mode(TelegramOptions.parse({}), full) == "api"
    assert choose_mode(TelegramOptions.parse({"mode": "preview"}), full) == "preview"
    assert choose_mode(TelegramOptions.parse({"mode": "api"}), bare) == "api"
    with pytest.raises(InputError):
        TelegramOptions.parse({"mdoe": "api"})
    with pytest.raises(InputError):
        TelegramOptions.parse({"page_size": "500"})
    assert TelegramOptions.parse({"page_size": "50", "media": "photo, video"}).media == (
        "photo",
        "video",
    )


def test_api_mode_without_credentials_says_what_to_set(tmp_path):
    from collectors.telegram.client import TelethonPort

    with pytest.raises(ConfigError, match="WITNESSBOX_TELEGRAM_API_ID"):
        TelethonPort.connect(Settings(home=tmp_path))


def test_message_json_is_stable_for_the_same_message(harness, fake):
    fake.add(1, "same", media="photo")
    a, staging_a = harness.run()
    harness.cursor = {}
    b, staging_b = harness.run()
    first = stored_messages(staging_a, a)[0]
    second = stored_messages(staging_b, b)[0]
    assert first["fingerprint"] == second["fingerprint"]
    digest = hashlib.sha256
    media_a = next(a_ for a_ in a.artifacts if a_.name.startswith("media/"))
    media_b = next(b_ for b_ in b.artifacts if b_.name.startswith("media/"))
    assert (
        digest((staging_a / media_a.name).read_bytes()).hexdigest()
        == digest((staging_b / media_b.name).read_bytes()).hexdigest()
    )
