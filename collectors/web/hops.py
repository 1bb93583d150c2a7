"""What the web recorder records: one ``Hop`` per request on the wire, and the CDP spellings.

``NetworkRecorder`` (``recorder``) fills these from the Fetch and Network domains; the
writer (``output``) turns them into WARC records. Pure data and parsing: no browser here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass
class Hop:
    """One request on the wire (a redirect chain has one hop per redirect) and its response."""

    key: str  # the Network request id (shared by a redirect chain's hops)
    seq: int  # order in which requests left the page
    url: str
    method: str
    resource_type: str
    started: float  # epoch seconds
    request_headers: list[tuple[str, str]]
    post_data: bytes | None = None
    blocked: str | None = None
    status: int | None = None
    status_text: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None  # a SpooledTemporaryFile with the stored payload
    body_size: int = 0
    truncated: str | None = None  # length | time | unspecified
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the request failed (no response)
    done: bool = False
    # from the Network domain
    remote_ip: str | None = None
    remote_port: int | None = None
    protocol: str | None = None
    security: dict[str, Any] | None = None
    raw_request_headers: list[tuple[str, str]] | None = None
    raw_response_headers: list[tuple[str, str]] | None = None  # with Set-Cookie, in wire order
    http_version: str | None = None  # from the raw status line (HTTP/1.x only)
    from_cache: bool = False

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_CODES and any(
            n.lower() == "location" for n, _ in self.response_headers
        )

    @property
    def location(self) -> str | None:
        for name, value in self.response_headers:
            if name.lower() == "location":
                return value
        return None

    def header(self, name: str) -> str | None:
        for key, value in self.response_headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class NetHop:
    url: str
    response: dict[str, Any] | None = None


@dataclass
class Limits:
    max_response_bytes: int
    max_capture_bytes: int


def headers_list(raw: Any) -> list[tuple[str, str]]:
    """CDP headers (a dict with newline-joined repeats, or a name/value list) as a list."""
    if isinstance(raw, list):
        return [(h["name"], h["value"]) for h in raw]
    out: list[tuple[str, str]] = []
    for name, value in (raw or {}).items():
        for part in str(value).split("\n"):
            out.append((name, part))
    return out


def request_body(request: dict[str, Any]) -> bytes | None:
    entries = request.get("postDataEntries")
    if entries:
        return b"".join(base64.b64decode(e.get("bytes", "")) for e in entries)
    if request.get("postData") is not None:
        return str(request["postData"]).encode("utf-8")
    return None



def apply_raw_response(hop: Hop, extra: dict[str, Any]) -> None:
    """Use the headers as they came off the wire: exact text for HTTP/1.x, else the raw list."""
    text = extra.get("headersText")
    if text:
        lines = text.split("\r\n")
        status_line = lines[0].split(" ", 2)
        if status_line[0].startswith("HTTP/1."):
            hop.http_version = status_line[0]
            if len(status_line) > 2:
                hop.status_text = status_line[2]
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name, value.strip()))
        hop.raw_response_headers = headers
    elif extra.get("headers"):
        hop.raw_response_headers = headers_list(extra["headers"])


def header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().split(",")[0])
    except ValueError:
        return None
