"""WARC 1.1 writing and reading: what a web capture's network exchanges become on disk.

Build, write and read stay apart: ``HttpExchange`` describes one request and its response as
the browser saw them (pure data); ``CaptureWarcWriter`` serialises exchanges, resources and
metadata into one WARC 1.1 file, each record its own gzip member, with sha256 block and
payload digests; ``iter_records`` and ``check_warc`` read a file back.

The browser hands over *decoded* bodies (no gzip, no chunking). Writing them under the
original ``Content-Encoding`` / ``Transfer-Encoding`` / ``Content-Length`` headers would
make digests and replay wrong, so those headers are kept as ``X-Archive-Orig-*`` (what
Browsertrix and pywb do) and a ``Content-Length`` of the stored payload is added.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

WARC_VERSION = "WARC/1.1"
TRUNCATED_REASONS = ("length", "time", "disconnect", "unspecified")
ENCODING_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
ORIG_PREFIX = "X-Archive-Orig-"
_CHUNK = 1 << 16
GZIP_LEVEL = 6  # warcio uses 9: several times slower for a few percent


def sha256_label(digest: bytes) -> str:
    """A WARC labelled digest in warcio's spelling (base32), which ``warcio check`` verifies."""
    return "sha256:" + base64.b32encode(digest).decode("ascii")


@dataclass
class HttpExchange:
    """One request and its response as the browser saw them; the payload is already decoded."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    response_headers: list[tuple[str, str]]
    date: datetime
    reason: str = ""
    request_body: bytes | None = None
    body: BinaryIO | bytes | None = None  # the stored payload (seekable stream or bytes)
    truncated: str | None = None  # WARC-Truncated: length | time | disconnect | unspecified
    http_version: str = "HTTP/1.1"
    protocol: str | None = None  # as the browser reported it: http/1.1, h2, h3
    remote_ip: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)  # more WARC headers
    decoded: bool = True  # False: the body is as sent (only de-chunked), Content-Encoding holds

    def __post_init__(self) -> None:
        if self.truncated is not None and self.truncated not in TRUNCATED_REASONS:
            raise ValueError(f"bad WARC-Truncated reason {self.truncated!r}")


@dataclass(frozen=True)
class ExchangeRecords:
    response_id: str
    request_id: str
    payload_digest: str
    payload_length: int
    revisit_of: str | None  # the record id holding the identical payload, for a revisit


def _body_stream(body: BinaryIO | bytes | None) -> BinaryIO:
    if body is None:
        return io.BytesIO(b"")
    if isinstance(body, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(body))
    body.seek(0)
    return body


def _measure(stream: BinaryIO) -> tuple[int, bytes]:
    """Length and sha256 of a seekable stream, leaving it at its start."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return size, digest.digest()


def archive_response_headers(
    headers: list[tuple[str, str]], stored_length: int, decoded: bool = True
) -> tuple[list[tuple[str, str]], list[str]]:
    """Headers that describe the stored payload, and the names that were renamed.

    Encoding headers that no longer describe the stored bytes become ``X-Archive-Orig-*``;
    a ``Content-Length`` of the stored payload is added whenever the original one was renamed
    or missing.
    """
    lower = [name.lower() for name, _ in headers]
    encoded = decoded and any(
        name == "content-encoding" and value.strip().lower() not in ("", "identity")
        for (name, value), name in zip(headers, lower, strict=True)
    )
    chunked = "transfer-encoding" in lower
    lengths = [
        value.strip()
        for (_, value), name in zip(headers, lower, strict=True)
        if name == "content-length"
    ]
    length_wrong = any(value != str(stored_length) for value in lengths)
    rename = set()
    if encoded:
        rename.add("content-encoding")
    if chunked:
        rename.add("transfer-encoding")
    if encoded or chunked or length_wrong:
        rename.add("content-length")
    out: list[tuple[str, str]] = []
    renamed: list[str] = []
    for (name, value), low in zip(headers, lower, strict=True):
        if low in rename:
            out.append((ORIG_PREFIX + name, value))
            renamed.append(name)
        else:
            out.append((name, value))
    if "content-length" in rename or not lengths:
        out.append(("Content-Length", str(stored_length)))
    return out, renamed


def _status_line(status: int, reason: str) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".rstrip()


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _GzipMember:
    """One gzip member per record, as WARC readers expect, at a sane compression level."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)

    def write(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))

    def flush(self) -> None:
        self.out.write(self.compressor.flush())
        self.out.flush()


class _Sha256Writer(WARCWriter):
    """warcio's writer with sha256 digests and per-record gzip at ``GZIP_LEVEL``."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")

    def write_record(self, record, params=None) -> None:  # type: ignore[no-untyped-def]
        member = _GzipMember(self.out)
        self._write_warc_record(member, record)


class CaptureWarcWriter:
    """Writes one capture's WARC: warcinfo first, then exchanges, resources and metadata.

    Identical payloads within the capture are written once; later ones become revisit
    records (identical-payload-digest profile) pointing at the first.
    """

    def __init__(self, out: BinaryIO, filename: str, dedupe: bool = True) -> None:
        self.filename = filename
        self.dedupe = dedupe  # False: every response in full (each fetch is its own evidence)
        self._writer = _Sha256Writer(out, gzip=False, warc_version=WARC_VERSION)
        self._seen: dict[str, tuple[str, str, str]] = {}  # payload digest -> id, uri, date
        self.records = 0

    @staticmethod
    def _date(moment: datetime | None) -> str:
        moment = (moment or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        return datetime_to_iso_date(moment, use_micros=True)

    def _write(self, record) -> str:  # type: ignore[no-untyped-def]
        self._writer.write_record(record)
        self.records += 1
        return record.rec_headers.get_header("WARC-Record-ID")

    def warcinfo(self, info: dict[str, str]) -> str:
        record = self._writer.create_warcinfo_record(self.filename, info)
        return self._write(record)

    def exchange(self, ex: HttpExchange) -> ExchangeRecords:
        stream = _body_stream(ex.body)
        length, raw_digest = _measure(stream)
        payload_digest = sha256_label(raw_digest)
        headers, _ = archive_response_headers(ex.response_headers, length, decoded=ex.decoded)
        http_headers = StatusAndHeaders(
            _status_line(ex.status, ex.reason), headers, protocol=ex.http_version
        )
        date = self._date(ex.date)
        warc_headers = {"WARC-Date": date}
        if ex.remote_ip:
            warc_headers["WARC-IP-Address"] = ex.remote_ip
        if ex.protocol:
            warc_headers["WARC-Protocol"] = ex.protocol
        if ex.truncated:
            warc_headers["WARC-Truncated"] = ex.truncated
        warc_headers.update(ex.extra_headers)

        dedupe = self.dedupe and length and not ex.truncated
        previous = self._seen.get(payload_digest) if dedupe else None
        if previous is not None:
            refers_id, refers_uri, refers_date = previous
            warc_headers["WARC-Refers-To"] = refers_id
            record = self._writer.create_revisit_record(
                ex.url, payload_digest, refers_uri, refers_date,
                http_headers=http_headers, warc_headers_dict=warc_headers,
            )  # fmt: skip
        else:
            warc_headers["WARC-Payload-Digest"] = payload_digest
            record = self._writer.create_warc_record(
                ex.url, "response", payload=stream, length=length,
                http_headers=http_headers, warc_headers_dict=warc_headers,
            )  # fmt: skip
        response_id = self._write(record)
        if previous is None and length and not ex.truncated:
            self._seen[payload_digest] = (response_id, ex.url, date)

        request_id = self._write(self._request_record(ex, date, response_id))
        return ExchangeRecords(
            response_id, request_id, payload_digest, length, previous[0] if previous else None
        )

    def _request_record(self, ex: HttpExchange, date: str, response_id: str):  # type: ignore[no-untyped-def]
        body = ex.request_body or b""
        headers = list(ex.request_headers)
        lengths = [value for name, value in headers if name.lower() == "content-length"]
        if body and not lengths:
            headers.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(
            f"{ex.method} {_request_target(ex.url)} {ex.http_version}",
            headers,
            is_http_request=True,
        )
        warc_headers = {"WARC-Date": date, "WARC-Concurrent-To": response_id}
        if ex.remote_ip:
            warc_headers["WARC-IP-Address"] = ex.remote_ip
        return self._writer.create_warc_record(
            ex.url, "request", payload=io.BytesIO(body), length=len(body),
            http_headers=http_headers, warc_headers_dict=warc_headers,
        )  # fmt: skip

    def resource(
        self,
        uri: str,
        content_type: str,
        body: BinaryIO | bytes,
        date: datetime | None = None,
        concurrent_to: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> str:
        stream = _body_stream(body)
        length, raw = _measure(stream)
        headers = {"WARC-Date": self._date(date), "WARC-Payload-Digest": sha256_label(raw)}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        headers.update(extra or {})
        record = self._writer.create_warc_record(
            uri, "resource", payload=stream, length=length,
            warc_content_type=content_type, warc_headers_dict=headers,
        )  # fmt: skip
        return self._write(record)

    def metadata(
        self, uri: str, data: bytes, content_type: str = "application/json",
        date: datetime | None = None, concurrent_to: str | None = None,
    ) -> str:  # fmt: skip
        headers = {"WARC-Date": self._date(date)}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        record = self._writer.create_warc_record(
            uri, "metadata", payload=io.BytesIO(data), length=len(data),
            warc_content_type=content_type, warc_headers_dict=headers,
        )  # fmt: skip
        return self._write(record)


# -- reading --------------------------------------------------------------------------------
@dataclass
class WarcRecordView:
    """One record read back: its WARC headers, HTTP status and headers, and payload."""

    type: str
    uri: str
    record_id: str
    headers: dict[str, str]
    http_status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes
    offset: int

    def http_header(self, name: str) -> str | None:
        for key, value in self.http_headers:
            if key.lower() == name.lower():
                return value
        return None


def iter_records(path: str | Path, max_payload: int = 64 << 20) -> Iterator[WarcRecordView]:
    """Every record of a WARC with its payload (up to ``max_payload`` bytes: a reading aid)."""
    with open(path, "rb") as stream:
        it = ArchiveIterator(stream, no_record_parse=False)
        for record in it:
            http = record.http_headers
            status = None
            if http is not None and record.rec_type in ("response", "revisit"):
                try:
                    status = int(http.get_statuscode())
                except (TypeError, ValueError):
                    status = None
            payload = record.content_stream().read(max_payload)
            yield WarcRecordView(
                type=record.rec_type,
                uri=record.rec_headers.get_header("WARC-Target-URI") or "",
                record_id=record.rec_headers.get_header("WARC-Record-ID") or "",
                headers=dict(record.rec_headers.headers),
                http_status=status,
                http_headers=list(http.headers) if http is not None else [],
                payload=payload,
                offset=it.get_record_offset(),
            )


def check_warc(path: str | Path) -> list[str]:
    """Every digest problem in a WARC (empty when all records verify), as ``warcio check`` does."""
    problems: list[str] = []
    try:
        with open(path, "rb") as stream:
            it = ArchiveIterator(stream, check_digests=True)
            for record in it:
                reader = record.content_stream()
                while reader.read(1 << 20):
                    pass
                if record.digest_checker.passed is False:
                    rec_id = record.rec_headers.get_header("WARC-Record-ID")
                    problems += [f"{rec_id}: {p}" for p in record.digest_checker.problems]
    except ArchiveLoadFailed as exc:
        problems.append(f"unreadable WARC: {exc}")
    return problems
