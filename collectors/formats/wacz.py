"""WACZ 1.1.1 packaging: one capture's WARC with its index and page list, in one ZIP.

Layout (https://specs.webrecorder.net/wacz/1.1.1/)::

    archive/<name>.warc.gz     stored, not deflated: replay tools seek into it
    indexes/index.cdx          CDXJ, sorted (what pywb's ``wb-manager add`` and
                               ReplayWeb.page read)
    pages/pages.jsonl          the captured page(s)
    datapackage.json           every file above with its sha256 and size
    datapackage-digest.json    the sha256 of datapackage.json

Written in one pass into a new file; nothing here reads the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from kernel.ids import isoformat

WACZ_VERSION = "1.1.1"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WaczPage:
    url: str
    ts: datetime
    title: str = ""
    id: str = ""
    text: str | None = None  # full text, for ReplayWeb.page's search


def cdxj_lines(warc: Path, filename: str) -> list[str]:
    """Sorted CDXJ index lines for ``warc``, naming it ``filename`` (its path in the WACZ)."""
    from cdxj_indexer.main import CDXJIndexer

    out = io.StringIO()
    indexer = CDXJIndexer(
        out, [str(warc)], sort=True, post_append=True, filename=filename,
        fields="referrer,req.http:method", records="response,revisit,resource,metadata",
    )  # fmt: skip
    # records are named: importing wacz.waczindexer adds warcinfo to the shared default list
    indexer.process_all()
    return [line for line in out.getvalue().splitlines() if line]


def pages_jsonl(pages: Iterable[WaczPage]) -> bytes:
    lines = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
    for n, page in enumerate(pages):
        entry = {"id": page.id or f"page-{n}", "url": page.url, "ts": isoformat(page.ts)}
        if page.title:
            entry["title"] = page.title
        if page.text is not None:
            entry["text"] = page.text
        lines.append(entry)
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


class _HashingWriter:
    """Counts and hashes the bytes written into a ZIP member."""

    def __init__(self, out: io.BufferedIOBase) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


def write_wacz(
    out_path: Path,
    warc: Path,
    pages: list[WaczPage],
    *,
    title: str = "",
    software: str = "witnessbox",
    created: datetime | None = None,
    warc_name: str | None = None,
) -> dict:
    """Package ``warc`` into a new WACZ at ``out_path``; returns the datapackage dict."""
    created = created or datetime.now(UTC)
    warc_name = warc_name or warc.name
    member = f"archive/{warc_name}"
    resources: list[dict] = []
    stamp = created.astimezone(UTC).timetuple()[:6]

    def add(zf: zipfile.ZipFile, name: str, data: bytes | Path, compress: int) -> None:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = compress
        with zf.open(info, "w") as dst:
            sink = _HashingWriter(dst)  # type: ignore[arg-type]
            if isinstance(data, Path):
                with open(data, "rb") as src:
                    shutil.copyfileobj(src, sink, _CHUNK)  # type: ignore[misc]
            else:
                sink.write(data)
        resources.append({
            "name": Path(name).name.lower(),
            "path": name,
            "hash": "sha256:" + sink.sha256.hexdigest(),
            "bytes": sink.size,
        })  # fmt: skip

    index = "".join(line + "\n" for line in cdxj_lines(warc, warc_name)).encode()
    with zipfile.ZipFile(out_path, "x", allowZip64=True) as zf:
        add(zf, member, warc, zipfile.ZIP_STORED)
        add(zf, "indexes/index.cdx", index, zipfile.ZIP_DEFLATED)
        add(zf, "pages/pages.jsonl", pages_jsonl(pages), zipfile.ZIP_DEFLATED)
        package: dict = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "resources": resources,
            "created": isoformat(created, "seconds"),
            "software": software,
        }
        if title:
            package["title"] = title
        if pages:
            package["mainPageURL"] = pages[0].url
            package["mainPageDate"] = isoformat(pages[0].ts)
        package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode()
        info = zipfile.ZipInfo("datapackage.json", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, package_bytes)
        digest = {
            "path": "datapackage.json",
            "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest(),
        }
        info = zipfile.ZipInfo("datapackage-digest.json", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(digest, indent=2).encode())
    return package


def wacz_tool_version() -> str:
    try:
        return metadata.version("wacz")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return ""


def read_datapackage(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("datapackage.json"))


def verify_wacz(path: Path) -> list[str]:
    """Problems with a WACZ's package: missing or unlisted files, wrong digests or sizes."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"not a ZIP file: {exc}"]
    with zf:
        names = set(zf.namelist())
        try:
            package = json.loads(zf.read("datapackage.json"))
        except (KeyError, ValueError) as exc:
            return [f"no readable datapackage.json: {exc}"]
        listed = {res["path"] for res in package.get("resources", [])}
        for extra in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
            problems.append(f"not listed in datapackage.json: {extra}")
        for res in package.get("resources", []):
            if res["path"] not in names:
                problems.append(f"missing: {res['path']}")
                continue
            digest = hashlib.sha256()
            size = 0
            with zf.open(res["path"]) as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            if res.get("hash") != "sha256:" + digest.hexdigest() or res.get("bytes") != size:
                problems.append(f"digest or size mismatch: {res['path']}")
        if "datapackage-digest.json" in names:
            recorded = json.loads(zf.read("datapackage-digest.json")).get("hash")
            actual = "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
            if recorded != actual:
                problems.append("datapackage-digest.json does not match datapackage.json")
    return problems
