"""Cloud metadata stays refused when private networks are allowed, in every spelling."""

from __future__ import annotations

import ipaddress

import pytest

from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy, address_problem, embedded_ipv4, is_metadata
from kernel.settings import load_settings
from kernel.urls import normalise_url, url_host

METADATA_SPELLINGS = [
    "169.254.169.254",
    "169.254.169.254.",
    "2852039166",  # decimal
    "0xa9fea9fe",  # hex
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",  # octal
    "0x00a9fea9fe",
    "169.254.43518",  # short form
    "[::ffff:169.254.169.254]",  # IPv4-mapped IPv6
    "[::ffff:a9fe:a9fe]",
    "[0:0:0:0:0:ffff:a9fe:a9fe]",
    "[::a9fe:a9fe]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64
    "[2002:a9fe:a9fe::1]",  # 6to4
    "[fd00:ec2::254]",
    "[fd00:ec2:0:0:0:0:0:254]",
    "169.254.170.2",  # ECS task metadata
    "100.100.100.200",  # Alibaba
    "metadata.google.internal",
    "METADATA.GOOGLE.INTERNAL.",
    "metadata.goog",
    "instance-data",
]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_metadata_refused_even_with_private_networks_allowed(host):
    for policy in (NetworkPolicy(), NetworkPolicy(allow_private=True)):
        with pytest.raises(PolicyError, match="metadata"):
            policy.check_source_host(host)
        with pytest.raises(PolicyError, match="metadata"):
            policy.check_host(host)


@pytest.mark.parametrize("host", [h for h in METADATA_SPELLINGS if "." in h or ":" in h])
def test_metadata_urls_in_any_spelling_are_refused_at_the_door(host):
    url = normalise_url(f"http://{host}/latest/meta-data/")
    with pytest.raises(PolicyError, match="metadata"):
        NetworkPolicy(allow_private=True).check_source_host(url_host(url))


def test_fullwidth_digits_reach_the_same_address():
    url = normalise_url("http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/")
    with pytest.raises(PolicyError, match="metadata"):
        NetworkPolicy(allow_private=True).check_source_host(url_host(url))


@pytest.mark.parametrize("host", ["169.254.169.254", "[fd00:ec2::254]", "0xa9fea9fe"])
def test_second_setting_opens_metadata(host):
    policy = NetworkPolicy(allow_private=True, allow_metadata=True)
    policy.check_source_host(host)
    assert policy.check_host(host)


def test_metadata_setting_alone_does_not_open_private_networks():
    policy = NetworkPolicy(allow_metadata=True)
    policy.check_source_host("169.254.169.254")
    with pytest.raises(PolicyError, match="loopback"):
        policy.check_host("127.0.0.1")
    with pytest.raises(PolicyError, match="private"):
        policy.check_source_host("10.0.0.1")


def test_private_networks_still_open():
    policy = NetworkPolicy(allow_private=True)
    for host in ("127.0.0.1", "10.1.2.3", "169.254.1.1", "[::1]", "localhost"):
        policy.check_host(host)


def test_embedded_ipv4_and_public_addresses():
    assert embedded_ipv4(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.ip_address("10.0.0.1")
    assert embedded_ipv4(ipaddress.ip_address("::1")) is None
    assert embedded_ipv4(ipaddress.ip_address("2001:db8::1")) is None
    assert not is_metadata(ipaddress.ip_address("93.184.216.34"))
    assert address_problem(ipaddress.ip_address("64:ff9b::5db8:d822")) is None  # public via NAT64
    assert address_problem(ipaddress.ip_address("64:ff9b::7f00:1")) == "a loopback address"


def test_settings_and_runtime_carry_the_second_switch(tmp_path):
    from preservation.runtime import open_runtime

    env = {"WITNESSBOX_HOME": str(tmp_path), "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "1"}
    rt = open_runtime(load_settings(env))
    try:
        assert rt.policy.allow_private and not rt.policy.allow_metadata
    finally:
        rt.close()
    rt = open_runtime(load_settings({**env, "WITNESSBOX_ALLOW_CLOUD_METADATA": "yes"}))
    try:
        assert rt.policy.allow_metadata
    finally:
        rt.close()
