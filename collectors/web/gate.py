"""The network policy applied to every request a page makes, not only the first URL.

The recorder asks ``check(url)`` before each request leaves the browser (redirect hops,
iframes, scripts, XHR/fetch, worker requests): a refused one is failed inside the browser and
recorded with the reason. Resolution results are cached per capture. Chromium resolves names
itself afterwards, so ``check_connected`` re-checks the address the browser actually
connected to: a name that resolved to a public address for us and to a private one for the
browser (DNS rebinding) is reported as a violation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy, parse_literal

ALLOWED_SCHEMES = ("http", "https")


@dataclass
class Refusal:
    url: str
    reason: str
    resource_type: str = ""
    redirect: bool = False  # refused as a redirect hop

    def as_dict(self) -> dict[str, object]:
        return {"url": self.url, "reason": self.reason, "resource_type": self.resource_type,
                "redirect_hop": self.redirect}  # fmt: skip


@dataclass
class PolicyGate:
    policy: NetworkPolicy
    resolved: dict[str, list[str]] = field(default_factory=dict)  # host -> addresses
    refused_hosts: dict[str, str] = field(default_factory=dict)  # host -> reason
    refusals: list[Refusal] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _pending: dict[str, asyncio.Future] = field(default_factory=dict)

    def check_now(self, url: str) -> str | None:
        """Synchronous check (may resolve DNS): the reason ``url`` is refused, or None."""
        parts = urlsplit(url)
        if parts.scheme not in ALLOWED_SCHEMES:
            return f"scheme {parts.scheme or '?'!r} is not fetched"
        host = (parts.hostname or "").lower()
        if not host:
            return "URL has no host"
        if host in self.refused_hosts:
            return self.refused_hosts[host]
        if host in self.resolved:
            return None
        try:
            port = parts.port
        except ValueError:
            return "malformed port"
        try:
            self.resolved[host] = self.policy.check_host(host, port)
        except PolicyError as exc:
            self.refused_hosts[host] = str(exc)
            return str(exc)
        return None

    async def check(self, url: str) -> str | None:
        """Like ``check_now``; name resolution runs off the event loop, once per host."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if (
            parts.scheme not in ALLOWED_SCHEMES
            or not host
            or host in self.resolved
            or host in self.refused_hosts
            or parse_literal(host) is not None
        ):
            return self.check_now(url)
        pending = self._pending.get(host)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.run_in_executor(None, self.check_now, url)
            self._pending[host] = pending
        try:
            await asyncio.shield(pending)
        finally:
            self._pending.pop(host, None)
        return self.check_now(url)  # now answered from the cache

    def refuse(
        self, url: str, reason: str, resource_type: str = "", redirect: bool = False
    ) -> None:
        self.refusals.append(Refusal(url, reason, resource_type, redirect))

    def check_connected(self, url: str, address: str) -> None:
        """Record a violation if the browser connected to an address the policy refuses."""
        if not address:
            return
        ip = address.strip("[]")
        try:
            self.policy.check_host(ip)
        except PolicyError as exc:
            self.violations.append(f"{url} connected to {ip}: {exc}")
