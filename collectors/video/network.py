"""yt-dlp with the network policy on every connection it opens, redirects included.

yt-dlp follows redirects and fetches fragments, thumbnails and subtitles from hosts the
source never named, so checking the source URL alone is not enough. ``GuardedYoutubeDL``
replaces yt-dlp's request handlers with one urllib-based handler whose connections resolve
the host once through ``NetworkPolicy.check_host`` and connect only to the addresses it
approved (no second lookup, so DNS rebinding cannot slip in between). Behind a configured
proxy the handler can only check host names: the proxy makes the connections.
"""

from __future__ import annotations

import functools
import http.client
import socket
import threading
import urllib.request
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from yt_dlp import YoutubeDL
from yt_dlp.networking._urllib import (
    HTTPHandler,
    ProxyHandler,
    RedirectHandler,
    UrllibRH,
)

from collectors.video.tee import DigestBook
from kernel.errors import PolicyError
from kernel.netpolicy import NetworkPolicy


class PolicyRefusal(OSError):
    """Raised inside yt-dlp's opener: an OSError, so yt-dlp reports it as a network failure."""


class ConnectionGuard:
    """Checks hosts against the policy and remembers every address it let through."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self.hosts: dict[str, list[str]] = {}
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def addresses(self, host: str, port: int | None) -> list[str]:
        try:
            addresses = self.policy.check_host(host, port)
        except PolicyError as exc:
            with self._lock:
                self.refused.append(str(exc))
            raise PolicyRefusal(str(exc)) from None
        with self._lock:
            known = self.hosts.setdefault(host, [])
            known.extend(a for a in addresses if a not in known)
        return addresses

    def connect(
        self,
        address: tuple[str, int],
        timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
        source_address: Any = None,
    ) -> socket.socket:
        """``socket.create_connection`` that only reaches addresses the policy approved."""
        host, port = address
        error: OSError | None = None
        for ip in self.addresses(host, port):
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError(f"no address for {host}")


class _GuardedHTTPHandler(HTTPHandler):
    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _guarded_open(self, base: type, req: urllib.request.Request, **kwargs: Any) -> Any:
        proxied = req.has_proxy() or req.has_header("Ytdl-socks-proxy")
        if proxied:  # the proxy connects: we can only vet the name
            target = urlsplit(req.full_url)
            self._guard.addresses(target.hostname or "", target.port)
        conn_class = self._make_conn_class(base, req)
        source_address = self._source_address
        guard = None if proxied else self._guard

        def connection(*args: Any, **kw: Any) -> http.client.HTTPConnection:
            conn = conn_class(*args, **kw)
            if guard is not None:
                conn._create_connection = guard.connect  # type: ignore[attr-defined]
            if source_address is not None:
                conn.source_address = (source_address, 0)
            return conn

        return self.do_open(connection, req, **kwargs)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._guarded_open(http.client.HTTPConnection, req)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._guarded_open(http.client.HTTPSConnection, req, context=self._context)


class GuardedRH(UrllibRH):
    """yt-dlp's urllib handler with guarded connections; http, https and data URLs only."""

    _SUPPORTED_URL_SCHEMES = ("http", "https", "data")
    RH_NAME = "urllib+policy"
    guard: ConnectionGuard | None = None

    def _create_instance(self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
        if self.guard is None:
            raise PolicyRefusal("no network policy attached to the request handler")
        opener = urllib.request.OpenerDirector()
        handlers = [
            ProxyHandler(proxies),
            _GuardedHTTPHandler(
                self.guard,
                debuglevel=int(bool(self.verbose)),
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            urllib.request.HTTPCookieProcessor(cookiejar),
            urllib.request.DataHandler(),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            RedirectHandler(),
        ]
        for handler in handlers:
            opener.add_handler(handler)
        opener.addheaders = []
        return opener


@functools.cache
def _teeing(fd_class: type) -> type:
    """A subclass of a yt-dlp downloader whose output streams digest what they write.

    It keeps the class name: yt-dlp derives the downloader's name (``FD_NAME``) from it.
    """

    def sanitize_open(self: Any, filename: str, open_mode: str) -> Any:
        stream, filename = fd_class.sanitize_open(self, filename, open_mode)
        book = getattr(self, "_wb_digests", None)
        if book is not None and filename != "-":
            stream = book.wrap(stream, open_mode)
        return stream, filename

    return type(fd_class.__name__, (fd_class,), {"sanitize_open": sanitize_open})


class GuardedYoutubeDL(YoutubeDL):
    """A YoutubeDL whose every request passes the network policy.

    ``extractors`` are tried before yt-dlp's own (tests register a local playlist site).
    """

    def __init__(
        self,
        params: dict[str, Any],
        *,
        guard: ConnectionGuard,
        extractors: Iterable[type] = (),
        digests: DigestBook | None = None,
    ) -> None:
        self._wb_guard = guard
        self._wb_digests = digests
        super().__init__(params, auto_init=False)
        for extractor in extractors:
            self.add_info_extractor(extractor())
        self.add_default_info_extractors()

    def dl(
        self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False
    ) -> Any:
        """yt-dlp's ``dl`` with two changes: external downloaders (ffmpeg, rtmpdump) connect
        by themselves, so their hosts are vetted first; and native downloaders write through
        the hashing tee (``tee.DigestBook``)."""
        from yt_dlp.downloader import get_suitable_downloader
        from yt_dlp.downloader.external import ExternalFD

        if test or self._wb_digests is None or not info.get("url"):
            return super().dl(name, info, subtitle=subtitle, test=test)
        fd_class = get_suitable_downloader(info, self.params, to_stdout=(name == "-"))
        if issubclass(fd_class, ExternalFD):
            for url in str(info["url"]).split("\n"):
                target = urlsplit(url)
                if target.hostname:
                    self._wb_guard.addresses(target.hostname, target.port)
        else:
            fd_class = _teeing(fd_class)
        fd = fd_class(self, self.params)
        fd._wb_digests = self._wb_digests
        for hook in self._progress_hooks:
            fd.add_progress_hook(hook)
        new_info = self._copy_infodict(info)
        if new_info.get("http_headers") is None:
            new_info["http_headers"] = self._calc_headers(new_info)
        return fd.download(name, new_info, subtitle)

    @functools.cached_property
    def _request_director(self) -> Any:
        director = self.build_request_director([GuardedRH])
        for handler in director.handlers.values():
            handler.guard = self._wb_guard
        return director
