"""Tickets and passes for the replay origin: signed, scoped to one capture, short-lived."""

from __future__ import annotations

import pytest
from witnessbox_airflow.replay_ui import on_origin

from kernel.errors import ConfigError
from kernel.settings import Settings
from kernel.urls import normal_origin
from preservation.replay import tickets

KEY = b"k" * 32


def test_a_ticket_names_its_user_for_its_capture_only_until_it_expires():
    t = tickets.issue(KEY, "ticket", "cap-1", "ana", now=1000)
    assert tickets.check(KEY, t, "ticket", "cap-1", now=1000) == "ana"
    assert tickets.check(KEY, t, "ticket", "cap-1", now=1000 + tickets.TICKET_SECONDS) == "ana"
    assert tickets.check(KEY, t, "ticket", "cap-1", now=1001 + tickets.TICKET_SECONDS) is None
    assert tickets.check(KEY, t, "ticket", "cap-2", now=1000) is None
    assert tickets.check(KEY, t, "pass", "cap-1", now=1000) is None  # a ticket is no pass
    assert tickets.check(b"other" * 8, t, "ticket", "cap-1", now=1000) is None
    p = tickets.issue(KEY, "pass", "cap-1", "ana", now=1000)
    assert tickets.check(KEY, p, "pass", "cap-1", now=1000 + 3600) == "ana"


@pytest.mark.parametrize("token", [None, "", "x", "a.b.c", "a.b", "." * 3000,
                                   "eyJrIjoidGlja2V0In0.AAAA", "!!!.???"])  # fmt: skip
def test_garbage_and_forgeries_are_refused(token):
    assert tickets.check(KEY, token, "ticket", "cap-1", now=1000) is None


def test_a_tampered_payload_fails_its_mac():
    payload, mac = tickets.issue(KEY, "ticket", "cap-1", "ana", now=1000).split(".")
    other, _ = tickets.issue(KEY, "ticket", "cap-1", "admin", now=1000).split(".")
    assert tickets.check(KEY, f"{other}.{mac}", "ticket", "cap-1", now=1000) is None


def test_the_replay_key_is_made_once_or_taken_from_the_setting(tmp_path):
    settings = Settings(home=tmp_path)
    first = tickets.replay_secret(settings)
    assert len(first) == 32 and tickets.replay_secret(settings) == first
    assert (tmp_path / "keys" / "replay.key").stat().st_mode & 0o777 == 0o600
    assert tickets.replay_secret(Settings(home=tmp_path, replay_secret="s3cret")) == b"s3cret"
    assert "s3cret" not in repr(Settings(home=tmp_path, replay_secret="s3cret"))


@pytest.mark.parametrize(("raw", "origin"), [
    ("http://localhost:8080", "http://localhost:8080"),
    ("HTTPS://Replay.Example.org/", "https://replay.example.org"),
    ("http://[::1]:9000", "http://[::1]:9000"),
])  # fmt: skip
def test_replay_origin_setting_is_normalised(raw, origin):
    assert normal_origin(raw) == origin
    assert Settings(replay_origin=raw).replay_origin == origin


@pytest.mark.parametrize("raw", ["localhost:8080", "ftp://h", "http://h/replay", "http://h:99999",
                                 "http://u@h", "http://h/?q=1"])  # fmt: skip
def test_a_bad_replay_origin_is_a_config_error(raw):
    with pytest.raises(ConfigError, match="replay_origin"):
        normal_origin(raw)


def test_requests_are_matched_to_the_origin_by_host():
    assert on_origin("localhost:8080", "http://localhost:8080")
    assert on_origin("LOCALHOST:8080", "http://localhost:8080")
    assert not on_origin("127.0.0.1:8080", "http://localhost:8080")
    assert not on_origin("localhost:8081", "http://localhost:8080")
    assert on_origin("replay.example.org:443", "https://replay.example.org")
    assert on_origin("replay.example.org", "https://replay.example.org")
    assert not on_origin("replay.example.org", "")
    assert not on_origin(None, "http://localhost:8080")
