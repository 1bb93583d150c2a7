"""The web collector: a rendered page captured by Chromium into WARC 1.1 and WACZ.

``WebCollector`` keeps one Chromium (``BrowserHost``) until ``close()`` and gives every
capture a fresh browser context. The network policy applies to every request the page makes
(``PolicyGate``, enforced inside the browser by the recorder), the page is loaded, scrolled
and left to go idle within bounds, and the result is written as:

* ``capture.warc.gz`` (role ``warc``) and ``capture.wacz`` (``wacz``);
* ``screenshot.png``, ``dom.html``, ``text.txt``, optionally ``page.pdf``;
* ``page-info.json`` (``page-info``): viewport, UA, redirect chain, TLS per origin, timings,
  what was refused or not captured and why;
* ``media/NNNN.ext`` (``media``): images above ``media_min_bytes``, audio and video, each
  linked to its WARC record and page.

Source options (``witnessbox watch add ... --option key=value``) may override any field of
``WebOptions`` (declared in ``collectors.web.options``), e.g. ``pdf=true``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from collectors.base import CollectContext, CollectedCapture, Collector, SourceRef
from collectors.web.browser import BrowserHost
from collectors.web.gate import PolicyGate
from collectors.web.options import OPTIONS, WebOptions, launch_args
from kernel.errors import InputError, PolicyError
from kernel.urls import normalise_url

log = logging.getLogger("witnessbox.web")
VERSION = "1.0"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:  # pragma: no cover
        return ""


class WebCollector(Collector):
    name = "web"
    kind = "web"
    title = "web page"
    every = 86400
    pool = "witnessbox_web"
    pool_slots = 2
    pool_note = "browser captures"
    dag_every = 5 * 60
    generic = True  # any http(s) URL no other collector claims
    options = OPTIONS
    settings_used = (
        "chromium", "operator", "user_agent", "max_response_bytes", "max_capture_bytes",
    )  # fmt: skip

    @classmethod
    def suitable(cls, url: str) -> bool:
        try:
            return urlsplit(normalise_url(url)).scheme in ("http", "https")
        except InputError:
            return False

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable
        self._host: BrowserHost | None = None

    @property
    def version(self) -> str:
        return VERSION

    def _browser_host(self, executable: str) -> BrowserHost:
        if self._host is None or self._host.executable != executable:
            if self._host is not None:
                self._host.close()
            self._host = BrowserHost(executable, launch_args())
        return self._host

    def close(self) -> None:
        if self._host is not None:
            self._host.close()
            self._host = None

    def __enter__(self) -> WebCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        from collectors.web.output import write_outputs
        from collectors.web.page import capture_page

        options = WebOptions.from_settings(ctx.settings, source.options)
        url = source.url
        if urlsplit(url).scheme not in ("http", "https"):
            raise PolicyError(f"refused: {url!r} is not an http(s) URL")
        gate = PolicyGate(ctx.policy)
        reason = gate.check_now(url)
        if reason is not None:
            raise PolicyError(reason)
        host = self._browser_host(self._executable or ctx.settings.chromium)
        work = tempfile.mkdtemp(prefix=".web-", dir=ctx.staging)  # body spools: removed below
        ctx.progress(f"capturing {url}")
        try:
            rec = host.run(
                lambda browser: capture_page(browser, url, options, gate, Path(work)),
                options.capture_timeout_s,
            )
            tools = {
                "playwright": _version("playwright"),
                "chromium": rec.browser_version,
                "warcio": _version("warcio"),
                "wacz": _version("wacz"),
                "witnessbox-web": VERSION,
            }
            software = (
                f"witnessbox-web/{VERSION} "
                f"(Playwright {tools['playwright']}, Chromium {rec.browser_version})"
            )
            ctx.progress("writing WARC and WACZ")
            out = write_outputs(
                rec,
                ctx.staging,
                options,
                gate,
                capture_id=ctx.capture_id,
                operator=ctx.settings.operator,
                tools=tools,
                software=software,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return CollectedCapture(
            status=out.status,
            reasons=out.reasons,
            artifacts=out.artifacts,
            platform=out.platform,
            tools=tools,
            network=out.network,
        )
