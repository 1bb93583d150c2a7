"""Policy-checked HTTP GETs that write every request and response into one WARC.

Each hop (redirects included) resolves its host through ``NetworkPolicy.check_host`` and
then connects to exactly the address that was checked (TLS still verifies the real host
name), so a name cannot re-resolve to an internal address between the check and the
connection. Bodies stream to a file under a size limit and go into the WARC from that file,
through the one WARC writer the collectors share (``collectors.formats.warc``).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, BinaryIO
from urllib.parse import urljoin, urlsplit

from collectors.formats.warc import CaptureWarcWriter, HttpExchange
from kernel.errors import CollectionError, PolicyError
from kernel.netpolicy import NetworkPolicy

MAX_REDIRECTS = 5
CHUNK = 256 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class TooLarge(CollectionError):
    pass


@dataclass
class Response:
    url: str  # the final URL after redirects
    status: int
    headers: list[tuple[str, str]]
    ip: str
    size: int

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the real host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


@dataclass
class WarcFetcher:
    """GETs through the network policy, recorded into ``warc`` (an open binary file)."""

    warc: BinaryIO
    policy: NetworkPolicy
    user_agent: str
    timeout: float = 30.0
    hosts: dict[str, list[str]] = field(default_factory=dict)  # egress facts for the manifest
    requests: int = 0
    filename: str = "preview.warc.gz"
    _writer: CaptureWarcWriter = field(init=False)

    def __post_init__(self) -> None:
        self._writer = CaptureWarcWriter(self.warc, self.filename, dedupe=False)

    def warcinfo(self, info: dict[str, str]) -> None:
        self._writer.warcinfo(info)

    def get(self, url: str, body: IO[bytes], max_bytes: int, accept: str = "*/*") -> Response:
        """Fetch ``url`` (following redirects) into ``body``; every hop lands in the WARC."""
        for _hop in range(MAX_REDIRECTS + 1):
            body.seek(0)
            body.truncate()
            response = self._one(url, body, max_bytes, accept)
            location = response.header("location")
            if response.status in REDIRECTS and location:
                url = urljoin(url, location)
                continue
            return response
        raise CollectionError(f"too many redirects fetching {url}")

    def _one(self, url: str, body: IO[bytes], max_bytes: int, accept: str) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyError(f"refused to fetch {url!r}: only http and https URLs")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.policy.check_host(parts.hostname, port)
        self.hosts.setdefault(parts.hostname, addresses)
        address = addresses[0]
        host_header = parts.netloc.rsplit("@", 1)[-1]
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [
            ("Host", host_header),
            ("User-Agent", self.user_agent),
            ("Accept", accept),
            ("Accept-Encoding", "identity"),
            ("Connection", "close"),
        ]
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        conn = cls(parts.hostname, port, address, self.timeout)
        self.requests += 1
        when = datetime.now(UTC)
        try:
            conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            size = 0
            while chunk := resp.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{url} is larger than {max_bytes} bytes")
                body.write(chunk)
            status, reason = resp.status, resp.reason
            resp_headers = list(resp.msg.items())
        except (OSError, http.client.HTTPException) as exc:
            raise CollectionError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        self._record(url, address, headers, status, reason, resp_headers, body, when)
        return Response(url, status, resp_headers, address, size)

    def _record(
        self,
        url: str,
        address: str,
        req_headers: list[tuple[str, str]],
        status: int,
        reason: str,
        resp_headers: list[tuple[str, str]],
        body: IO[bytes],
        when: datetime,
    ) -> None:
        # the body is as sent, only de-chunked by http.client: Content-Encoding still holds
        exchange = HttpExchange(
            url=url, method="GET", request_headers=req_headers, status=status,
            response_headers=resp_headers, date=when, reason=reason, body=body,  # type: ignore[arg-type]
            remote_ip=address, decoded=False,
        )  # fmt: skip
        self._writer.exchange(exchange)
        body.seek(0, 2)


def _inflate(data: bytes, gzip_wrapped: bool, limit: int, url: str) -> bytes:
    """Decompress at most ``limit`` bytes: a small hostile body cannot balloon in memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip_wrapped else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise CollectionError(f"{url}: bad compressed body: {exc}") from None
    if inflater.unconsumed_tail:
        raise TooLarge(f"{url} decompresses to more than {limit} bytes")
    return out


def fetch_text(fetcher: WarcFetcher, url: str, max_bytes: int) -> tuple[Response, str]:
    """A page as text (decoded from its Content-Encoding and charset)."""
    with tempfile.SpooledTemporaryFile(max_size=2 * 1024 * 1024) as body:
        response = fetcher.get(url, body, max_bytes, accept="text/html,*/*;q=0.8")
        body.seek(0)
        data = body.read()
    encoding = (response.header("content-encoding") or "").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate"):
        data = _inflate(data, gzip_wrapped=encoding != "deflate", limit=max_bytes, url=url)
    elif encoding not in ("", "identity"):
        raise CollectionError(f"{url}: unsupported Content-Encoding {encoding!r}")
    charset = "utf-8"
    content_type = response.header("content-type") or ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return response, data.decode(charset, errors="replace")
    except LookupError:
        return response, data.decode("utf-8", errors="replace")
