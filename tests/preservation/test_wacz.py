"""WACZ 1.1.1 packaging: what ``wacz validate`` accepts, and what our own check rejects."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from collectors.formats.wacz import WaczPage, cdxj_lines, read_datapackage, verify_wacz, write_wacz
from collectors.formats.warc import CaptureWarcWriter, HttpExchange

WHEN = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_warc(path: Path) -> None:
    with open(path, "wb") as out:
        writer = CaptureWarcWriter(out, path.name)
        writer.warcinfo({"software": "test"})
        for url, body in (
            ("http://example.org/", b"<title>T</title>hello"),
            ("http://example.org/x.css", b"p{}"),
        ):
            writer.exchange(HttpExchange(
                url=url, method="GET", request_headers=[("Host", "example.org")], status=200,
                response_headers=[("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                date=WHEN, body=body,
            ))  # fmt: skip


def wacz_validate(path: Path) -> tuple[int, str]:
    from wacz.main import main as wacz_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = wacz_main(["validate", "-f", str(path)])
    return code, out.getvalue()


def test_wacz_is_valid_and_lists_every_file_with_sha256(tmp_path: Path) -> None:
    warc = tmp_path / "capture.warc.gz"
    make_warc(warc)
    wacz = tmp_path / "capture.wacz"
    package = write_wacz(wacz, warc, [WaczPage("http://example.org/", WHEN, title="T", id="c1", text="hello")],
                         title="T", software="witnessbox test", created=WHEN)  # fmt: skip
    code, output = wacz_validate(wacz)
    assert code == 0, output
    assert verify_wacz(wacz) == []
    assert package == read_datapackage(wacz)
    assert package["wacz_version"] == "1.1.1" and package["mainPageURL"] == "http://example.org/"
    assert {r["path"] for r in package["resources"]} == {
        "archive/capture.warc.gz", "indexes/index.cdx", "pages/pages.jsonl"
    }  # fmt: skip
    assert all(r["hash"].startswith("sha256:") for r in package["resources"])
    with zipfile.ZipFile(wacz) as zf:
        assert zf.getinfo("archive/capture.warc.gz").compress_type == zipfile.ZIP_STORED
        assert zf.read("archive/capture.warc.gz") == warc.read_bytes()
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").splitlines()]
        index = zf.read("indexes/index.cdx").decode()
    assert pages[0]["format"] == "json-pages-1.0"
    assert pages[1] == {"id": "c1", "url": "http://example.org/", "ts": "2026-05-01T12:00:00.000000Z",
                        "title": "T", "text": "hello"}  # fmt: skip
    assert "org,example)/x.css" in index and '"filename": "capture.warc.gz"' in index
    assert index.splitlines() == sorted(index.splitlines())
    assert len(cdxj_lines(warc, "capture.warc.gz")) == 2


def test_a_changed_member_is_found(tmp_path: Path) -> None:
    warc = tmp_path / "capture.warc.gz"
    make_warc(warc)
    good = tmp_path / "good.wacz"
    write_wacz(good, warc, [WaczPage("http://example.org/", WHEN)])
    bad = tmp_path / "bad.wacz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "pages/pages.jsonl":
                data = data.replace(b"example.org", b"example.net")
            dst.writestr(info, data)
    assert verify_wacz(bad) == ["digest or size mismatch: pages/pages.jsonl"]
    code, output = wacz_validate(bad)
    assert code == 1, output
