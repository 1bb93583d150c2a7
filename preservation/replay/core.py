"""The pieces every replay server needs: the assets, the capture's WACZ, ranges, the page.

ReplayWeb.page runs in the browser: ``ui.js`` defines ``<replay-web-page>``, whose service
worker (``sw.js``, registered from ``<base>/replay/sw.js``, so its scope is that folder)
reads the WACZ with HTTP range requests and replays the archived page from it. Nothing is
fetched from the internet: the files come from the npm package ``replaywebpage``, pinned
and verified by ``scripts/fetch-replayweb.sh`` (run by ``make``), into ``assets/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path

from sqlalchemy import select

from kernel.errors import ConfigError, InputError
from preservation.catalogue.models import Artifact, Capture, Catalogue
from preservation.formats import manifest as manifests
from preservation.store import Store

ASSETS = Path(__file__).with_name("assets")
ASSET_FILES = {"ui.js": "application/javascript", "sw.js": "application/javascript"}
CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def asset_path(name: str, root: Path | None = None) -> Path:
    """One of ReplayWeb.page's files; ``ConfigError`` when the install step has not run."""
    if name not in ASSET_FILES:
        raise InputError(f"no such replay asset: {name}")
    path = (root or ASSETS) / name
    if not path.is_file():
        raise ConfigError(
            "ReplayWeb.page is not installed: run `make replay-assets` "
            "(scripts/fetch-replayweb.sh fetches the pinned npm package)"
        )
    return path


@dataclass(frozen=True)
class ReplayTarget:
    capture_id: str
    key: str  # the WACZ blob in the store
    size: int
    url: str  # the page to open first
    ts: str  # its capture time, 14 digits
    artifact: str = ""  # the WACZ's artifact name (what the access entry names)


def find_wacz(catalogue: Catalogue, store: Store, capture_id: str) -> ReplayTarget:
    """A capture's WACZ (the page's own, not a video's watch page, when it has both)."""
    with catalogue.session() as session:
        capture = session.get(Capture, capture_id)
        if capture is None:
            raise InputError(f"unknown capture: {capture_id}")
        waczs = list(session.scalars(
            select(Artifact).where(Artifact.capture_id == capture_id, Artifact.role == "wacz")
            .order_by(Artifact.name)))  # fmt: skip
        if not waczs:
            raise InputError(f"capture {capture_id} has no WACZ to replay")
        wacz = min(waczs, key=lambda a: (a.name.count("/"), a.name))
        manifest = manifests.parse(store.read_bytes(capture.manifest_key))
        started = capture.started_at
    platform = manifest.get("platform") or {}
    entry = next(a for a in manifest["artifacts"] if a["name"] == wacz.name)
    url = platform.get("final_url") or (entry.get("platform") or {}).get("page_url") or \
        capture.source_url  # fmt: skip
    ts = started.strftime("%Y%m%d%H%M%S")
    return ReplayTarget(capture_id, entry["key"], wacz.size, url, ts, artifact=wacz.name)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` → (start, end inclusive); None for the whole object.

    ``InputError`` for a range that cannot be satisfied (HTTP 416). Several ranges at once
    are answered with the whole object, which HTTP allows.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        if "," in header:
            return None
        raise InputError(f"bad range {header!r}")
    first, last = match.groups()
    if first == "" and last == "":
        raise InputError(f"bad range {header!r}")
    if first == "":
        length = int(last)
        if length == 0:
            raise InputError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise InputError(f"range {header!r} outside 0-{size - 1}")
    return start, end


@dataclass(frozen=True)
class WaczAnswer:
    """How to answer one request for a capture's WACZ: the status, headers and byte span."""

    status: int
    headers: dict[str, str]
    start: int = 0
    end: int = -1  # inclusive; end < start: no body (416)


def wacz_answer(target: ReplayTarget, range_header: str | None) -> WaczAnswer:
    """200 for the whole WACZ, 206 for one range, 416 for a range outside it."""
    try:
        wanted = parse_range(range_header, target.size)
    except InputError:
        return WaczAnswer(416, {"Content-Range": f"bytes */{target.size}", "Content-Length": "0"})
    start, end = wanted or (0, target.size - 1)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{target.size}"
    return WaczAnswer(206 if wanted else 200, headers, start, end)


def stream_range(store: Store, key: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of a stored object, in chunks."""
    left = end - start + 1
    with store.open_range(key, start) as stream:
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def index_page() -> str:
    """What the server answers at ``<base>/replay/``: a page that waits for the worker.

    ReplayWeb.page's service worker serves the app at ``replay/`` once it controls that
    folder; but the embed may open its frame a moment before the worker activates, and
    then the request reaches the server. The app cannot run without the worker (its API
    lives there), so this page registers the same worker, waits until it is active and
    reloads, which the worker then answers. Opening ``replay/?source=…`` directly works too.
    """
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>replay · witnessbox</title>"
        "</head><body><p>Starting the replay…</p><script>"
        "navigator.serviceWorker.register('sw.js?serveIndex=1',{scope:'./'})"
        ".then(function(){return navigator.serviceWorker.ready;})"
        ".then(function(){location.reload();})"
        ".catch(function(e){document.body.textContent='replay cannot start: '+e;});"
        "</script></body></html>"
    )


def embed_page(target: ReplayTarget, base: str, wacz_url: str, title: str = "") -> str:
    """The HTML page holding ``<replay-web-page>`` for one capture.

    ``base`` is the URL folder that serves ``ui.js`` and ``replay/sw.js``.
    """
    heading = escape(title or f"Capture {target.capture_id}")
    t = target.ts
    shown = f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[8:10]}:{t[10:12]}:{t[12:14]}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{heading} · replay · witnessbox</title>"
        f"<script src='{escape(base)}ui.js'></script>"
        "<style>body{margin:0;font-family:system-ui,sans-serif}header{padding:.4rem .8rem;"
        "font-size:.9rem;border-bottom:1px solid #d0d7de}replay-web-page{display:block;"
        "height:calc(100vh - 2.4rem)}</style></head><body>"
        f"<header>{heading}: <code>{escape(target.url)}</code> as captured at "
        f"{escape(shown)} UTC, replayed from the archived WACZ</header>"
        f"<replay-web-page source='{escape(wacz_url)}' url='{escape(target.url)}' "
        f"ts='{escape(target.ts)}' replaybase='{escape(base)}replay/' embed='default'>"
        "</replay-web-page></body></html>"
    )
