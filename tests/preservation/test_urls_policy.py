from __future__ import annotations

import ipaddress

import pytest

from collectors.registry import infer_kind, normalise_source
from collectors.telegram.urls import telegram_channel
from kernel.errors import InputError, PolicyError
from kernel.netpolicy import NetworkPolicy, address_problem, parse_literal
from kernel.schedule import format_interval, parse_interval
from kernel.urls import normalise_url


@pytest.mark.parametrize(("raw", "expected"), [
    ("HTTPS://EXAMPLE.org", "https://example.org/"),
    ("http://example.org:80/a?b=1#c", "http://example.org/a?b=1"),
    ("https://example.org:8443/x", "https://example.org:8443/x"),
    ("example.org", "https://example.org/"),
    ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
])
def test_normalise_url(raw, expected):
    assert normalise_url(raw) == expected


@pytest.mark.parametrize("raw", ["", "https://", "https://exa_mple..org/", "mailto:x@y.org",
                                 "https://example.org:99999/", "https://-bad-.org/", "x" * 5000])
def test_bad_urls(raw):
    with pytest.raises(InputError):
        normalise_url(raw)


@pytest.mark.parametrize(("raw", "kind"), [
    ("https://youtu.be/abc", "video"), ("https://m.youtube.com/watch?v=1", "video"),
    ("https://vk.com/video-1_2", "video"), ("https://vk.com/wall-1_2", "web"),
    ("https://t.me/name_here", "telegram"), ("https://example.org/video.mp4", "web"),
])
def test_infer_kind(raw, kind):
    assert infer_kind(raw) == kind


def test_telegram_forms():
    assert telegram_channel("https://t.me/s/SomeChan/123") == "somechan"
    assert normalise_source("telegram:@SomeChan") == ("telegram", "https://t.me/somechan")
    with pytest.raises(InputError):
        telegram_channel("@ab")
    with pytest.raises(InputError):
        normalise_source("@somechannel", "web")


@pytest.mark.parametrize("addr", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254",
                                  "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "100.64.0.1",
                                  "0.0.0.0", "224.0.0.1"])
def test_non_public_addresses(addr):
    assert address_problem(ipaddress.ip_address(addr))


def test_public_address():
    assert address_problem(ipaddress.ip_address("93.184.216.34")) is None


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "2130706433", "017700000001"])
def test_odd_ipv4_spellings_are_literals(host):
    assert str(parse_literal(host)) == "127.0.0.1"
    with pytest.raises(PolicyError):
        NetworkPolicy().check_source_host(host)


def test_check_host_resolves_and_refuses_loopback_names():
    with pytest.raises(PolicyError):
        NetworkPolicy().check_host("localhost")
    assert NetworkPolicy(allow_private=True).check_host("localhost")
    with pytest.raises(PolicyError):
        NetworkPolicy().check_host("127.0.0.1")


def test_unresolvable_names_are_still_valid_sources():
    NetworkPolicy().check_source_host("no-such-host.example")  # checked again when fetching


def test_intervals():
    assert parse_interval("30m") == 1800 and parse_interval("1h30m") == 5400 and parse_interval("1d") == 86400
    assert format_interval(5400) == "1h30m"
    for bad in ("", "5", "10s", "2y", "m30"):
        with pytest.raises(InputError):
            parse_interval(bad)
