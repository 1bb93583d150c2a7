"""WARC 1.1 writing: digests, encoding headers, revisits, truncation, and reading back."""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.formats.warc import (
    CaptureWarcWriter,
    HttpExchange,
    archive_response_headers,
    check_warc,
    iter_records,
)

BIN = Path(sys.executable).parent
WHEN = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def exchange(
    url: str, body: bytes, headers: list[tuple[str, str]] | None = None, **kw
) -> HttpExchange:
    return HttpExchange(
        url=url,
        method=kw.pop("method", "GET"),
        request_headers=[("Host", "example.org"), ("User-Agent", "test")],
        status=kw.pop("status", 200),
        response_headers=headers
        or [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
        date=WHEN,
        body=body,
        remote_ip="93.184.216.34",
        **kw,
    )


def write(path: Path, *exchanges: HttpExchange) -> list:
    with open(path, "wb") as out:
        writer = CaptureWarcWriter(out, path.name)
        writer.warcinfo({"software": "test"})
        ids = [writer.exchange(ex) for ex in exchanges]
        writer.resource(
            "urn:view:http://example.org/",
            "image/png",
            b"\x89PNG fake",
            concurrent_to=ids[0].response_id,
        )
        writer.metadata(
            "urn:pageinfo:http://example.org/", b'{"a": 1}', concurrent_to=ids[0].response_id
        )
    return ids


def test_encoding_headers_are_renamed_only_when_they_no_longer_fit() -> None:
    headers = [
        ("Content-Type", "text/css"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "108"),
    ]
    out, renamed = archive_response_headers(headers, 1560)
    assert out == [("Content-Type", "text/css"), ("X-Archive-Orig-Content-Encoding", "gzip"),
                   ("X-Archive-Orig-Content-Length", "108"), ("Content-Length", "1560")]  # fmt: skip
    assert renamed == ["Content-Encoding", "Content-Length"]
    plain = [("Content-Type", "image/png"), ("Content-Length", "10")]
    assert archive_response_headers(plain, 10) == (plain, [])
    chunked, renamed = archive_response_headers([("Transfer-Encoding", "chunked")], 5)
    assert chunked == [("X-Archive-Orig-Transfer-Encoding", "chunked"), ("Content-Length", "5")]
    cut, renamed = archive_response_headers([("Content-Length", "50000000")], 1000)
    assert cut == [("X-Archive-Orig-Content-Length", "50000000"), ("Content-Length", "1000")]
    identity, renamed = archive_response_headers(
        [("Content-Encoding", "identity"), ("Content-Length", "3")], 3
    )
    assert renamed == []


def test_written_warc_passes_warcio_check_with_sha256(tmp_path: Path) -> None:
    path = tmp_path / "t.warc.gz"
    ids = write(
        path,
        exchange("http://example.org/", b"<p>hello</p>",
                 [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", "30")]),
        exchange("http://example.org/api", b"ok", method="POST", request_body=b'{"q": 1}'),
    )  # fmt: skip
    done = subprocess.run([BIN / "warcio", "check", "-v", path], capture_output=True, text=True)
    assert done.returncode == 0 and "digest pass" in done.stdout, done.stdout
    records = list(iter_records(path))
    assert [r.type for r in records] == [
        "warcinfo", "response", "request", "response", "request", "resource", "metadata"
    ]  # fmt: skip
    first = records[1]
    assert first.headers["WARC-Payload-Digest"].startswith("sha256:")
    assert first.headers["WARC-Block-Digest"].startswith("sha256:")
    assert first.headers["WARC-IP-Address"] == "93.184.216.34"
    assert first.headers["WARC-Date"] == "2026-05-01T12:00:00.123456Z"
    assert first.http_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert first.payload == b"<p>hello</p>"
    post = records[4]
    assert post.payload == b'{"q": 1}' and post.headers["WARC-Concurrent-To"] == ids[1].response_id
    assert records[5].headers["WARC-Concurrent-To"] == ids[0].response_id
    assert check_warc(path) == []
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # every record is a gzip member


def test_identical_payloads_become_revisits_but_truncated_ones_never(tmp_path: Path) -> None:
    path = tmp_path / "t.warc.gz"
    body = b"same bytes" * 100
    ids = write(
        path,
        exchange("http://example.org/a.png", body),
        exchange("http://example.org/b.png", body),
        exchange("http://example.org/c.png", body[:10], truncated="length"),
        exchange("http://example.org/d.png", body[:10]),
    )
    assert ids[1].revisit_of == ids[0].response_id
    assert ids[2].revisit_of is None and ids[3].revisit_of is None
    by_uri = {r.uri: r for r in iter_records(path) if r.type in ("response", "revisit")}
    assert by_uri["http://example.org/b.png"].type == "revisit"
    assert (
        by_uri["http://example.org/b.png"].headers["WARC-Refers-To-Target-URI"]
        == "http://example.org/a.png"
    )
    assert by_uri["http://example.org/c.png"].headers["WARC-Truncated"] == "length"
    assert by_uri["http://example.org/d.png"].type == "response"
    assert check_warc(path) == []


def test_check_finds_a_changed_payload(tmp_path: Path) -> None:
    path = tmp_path / "t.warc.gz"
    write(path, exchange("http://example.org/", b"original testimony"))
    raw = gzip.decompress(path.read_bytes()).replace(b"original testimony", b"altered  testimony")
    tampered = tmp_path / "tampered.warc"
    tampered.write_bytes(raw)
    problems = check_warc(tampered)
    assert problems and any("digest" in p for p in problems)
    done = subprocess.run([BIN / "warcio", "check", tampered], capture_output=True, text=True)
    assert done.returncode == 1


def test_bad_truncation_reason_is_refused() -> None:
    with pytest.raises(ValueError):
        exchange("http://example.org/", b"", truncated="because")
