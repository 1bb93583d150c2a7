"""The network policy: no capture may reach inside the operator's own network.

A hostile page (or a hostile watchlist entry) can point a collector at loopback services,
the LAN or a cloud metadata endpoint. Adding a source checks literal addresses and
obviously local names only: a name that does not resolve today is still a valid source.
Fetching checks every address a name resolves to, for every request and redirect
(``check_host``), so DNS tricks cannot reach inside. Operators may allow private targets
(``WITNESSBOX_ALLOW_PRIVATE_NETWORKS=1``, which the tests set).

Cloud metadata endpoints are the hardest line: they hand out credentials, so allowing
private networks does not open them. Only a second, explicit setting does
(``WITNESSBOX_ALLOW_CLOUD_METADATA=1``). Every spelling that reaches them is recognised: the
short, decimal, hex and octal IPv4 forms browsers accept, and IPv4 addresses embedded in IPv6
(mapped, compatible, NAT64, 6to4, Teredo).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from kernel.errors import PolicyError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
}
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, often internal
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
]
#: Names the cloud providers serve metadata under (they resolve only inside the cloud).
_METADATA_NAMES = (
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client; the server is public by construction
    value = int(address)
    if address in _NAT64 or (value >> 32 == 0 and value > 1):  # NAT64 or ::a.b.c.d
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def is_metadata(address: IPAddress) -> bool:
    """True for a cloud metadata address, in any spelling that routes to one."""
    inner = embedded_ipv4(address)
    return address in _METADATA or (inner is not None and inner in _METADATA)


def address_problem(
    address: IPAddress, allow_private: bool = False, allow_metadata: bool = False
) -> str | None:
    """Why an address is refused, or None when the policy lets it through."""
    if is_metadata(address):
        return None if allow_metadata else "a cloud metadata address"
    if allow_private:
        return None
    inner = embedded_ipv4(address)
    if inner is not None:
        return address_problem(inner)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_private or any(address in net for net in _EXTRA_BLOCKED):
        return "a private-network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def parse_literal(host: str) -> IPAddress | None:
    """An IP literal in any spelling browsers accept (also 127.1, 0x7f.1, 2130706433)."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:  # inet_aton accepts the short and hex forms that URL parsers also accept
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allow_metadata: bool = False  # a second, explicit setting: private networks do not imply it

    def _problem(self, address: IPAddress) -> str | None:
        return address_problem(address, self.allow_private, self.allow_metadata)

    def check_source_host(self, host: str) -> None:
        """Checks for a new watchlist entry: literal addresses and local names, no DNS."""
        name = host.lower().rstrip(".").strip("[]")
        literal = parse_literal(name)
        if literal is not None:
            problem = self._problem(literal)
            if problem:
                raise PolicyError(f"refused: {host} is {problem} (network policy)")
            return
        if name in _METADATA_NAMES and not self.allow_metadata:
            raise PolicyError(f"refused: {host} is a cloud metadata name (network policy)")
        if self.allow_private:
            return
        if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or "." not in name:
            raise PolicyError(f"refused: {host} is a local name (network policy)")

    def check_host(self, host: str, port: int | None = None) -> list[str]:
        """Resolve ``host`` and refuse it if any address is not allowed. Returns the addresses."""
        name = host.lower().rstrip(".").strip("[]")
        literal = parse_literal(name)
        if literal is not None:
            addresses = [literal]
        else:
            self.check_source_host(name)
            try:
                infos = socket.getaddrinfo(name, port or 443, proto=socket.IPPROTO_TCP)
            except (socket.gaierror, UnicodeError) as exc:
                raise PolicyError(f"cannot resolve {host}: {exc}") from None
            addresses = list(
                dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos)
            )
        for address in addresses:
            problem = self._problem(address)
            if problem:
                raise PolicyError(
                    f"refused: {host} resolves to {address}, {problem} (network policy)"
                )
        return [str(a) for a in addresses]
