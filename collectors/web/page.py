"""Drive one page in a fresh browser context: navigate, wait (bounded), scroll, snapshot.

Every wait is bounded and every step that can fail records why instead of raising: a page
that never finishes loading is still captured, as ``partial`` with the reason. What comes
back (``PageRecording``) is plain data plus temporary body files; the browser context is
closed before this returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.web.gate import PolicyGate
from collectors.web.hops import Hop, Limits
from collectors.web.options import WebOptions
from collectors.web.recorder import NetworkRecorder

log = logging.getLogger("witnessbox.web.page")

SCROLL_JS = """async ([steps, delay, maxMs]) => {
  const el = document.scrollingElement || document.documentElement;
  const start = Date.now();
  const atBottom = () => window.innerHeight + window.scrollY >= el.scrollHeight - 2;
  let n = 0;
  while (n < steps && Date.now() - start < maxMs && !atBottom()) {
    window.scrollBy(0, window.innerHeight);
    n++;
    await new Promise(r => setTimeout(r, delay));
  }
  const bottom = atBottom();
  window.scrollTo(0, 0);
  return {steps: n, reached_bottom: bottom, height: el.scrollHeight};
}"""
TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  if (!nav) return null;
  return {dom_content_loaded_ms: nav.domContentLoadedEventEnd || null,
          load_ms: nav.loadEventEnd || null, response_end_ms: nav.responseEnd || null};
}"""
SNAPSHOT_JS = """() => {
  const dt = document.doctype;
  const doctype = dt ? '<!DOCTYPE ' + dt.name
      + (dt.publicId ? ' PUBLIC "' + dt.publicId + '"' : '')
      + (!dt.publicId && dt.systemId ? ' SYSTEM' : '')
      + (dt.systemId ? ' "' + dt.systemId + '"' : '') + '>' : '';
  return {title: document.title || '', text: document.body ? document.body.innerText : '',
          dom: doctype + (document.documentElement ? document.documentElement.outerHTML : '')};
}"""


@dataclass
class PageRecording:
    requested_url: str
    user_agent: str
    viewport: dict[str, int]
    browser_version: str
    hops: list[Hop] = field(default_factory=list)
    final_url: str = ""
    title: str = ""
    committed: bool = False
    navigation_error: str | None = None
    load_finished: bool = False
    network_idle: bool = False
    inflight_at_end: list[str] = field(default_factory=list)
    scroll: dict[str, Any] = field(default_factory=dict)
    dom: str | None = None
    text: str | None = None
    screenshot: bytes | None = None
    pdf: bytes | None = None
    problems: list[str] = field(default_factory=list)  # steps that failed, with why
    timings: dict[str, Any] = field(default_factory=dict)
    certificates: dict[str, list[str]] = field(default_factory=dict)  # origin -> base64 DER chain
    security: dict[str, dict[str, Any]] = field(default_factory=dict)
    websockets: list[str] = field(default_factory=list)
    capture_limit_hit: bool = False
    stored_bytes: int = 0


def user_agent_for(options: WebOptions, browser_version: str) -> str:
    """The configured UA, else Chrome's own reduced UA (not the "HeadlessChrome" one)."""
    if options.user_agent:
        return options.user_agent
    major = browser_version.split(".")[0] or "0"
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36")  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _bounded(step: str, coro: Any, seconds: float, rec: PageRecording) -> Any:
    """Run one step with a time bound; on failure record why and return None."""
    try:
        return await asyncio.wait_for(coro, max(seconds, 0.1))
    except TimeoutError:
        rec.problems.append(f"{step}: gave up after {seconds:.1f} s")
    except Exception as exc:  # Playwright's errors: the page, not the collector, failed
        rec.problems.append(f"{step}: {_first_line(exc)}")
    return None


async def capture_page(
    browser: Any, url: str, options: WebOptions, gate: PolicyGate, work_dir: Path
) -> PageRecording:
    from playwright.async_api import Error as PlaywrightError

    ua = user_agent_for(options, browser.version)
    rec = PageRecording(
        requested_url=url,
        user_agent=ua,
        viewport={"width": options.viewport_width, "height": options.viewport_height},
        browser_version=browser.version,
    )
    t0 = time.time()
    rec.timings["started"] = t0
    context = await browser.new_context(**options.context_options(ua))
    recorder: NetworkRecorder | None = None
    try:
        rec.timings["context"] = time.time()
        page = await context.new_page()
        rec.timings["page"] = time.time()
        cdp = await context.new_cdp_session(page)
        recorder = NetworkRecorder(
            cdp, gate, Limits(options.max_response_bytes, options.max_capture_bytes), work_dir
        )
        await recorder.start()
        rec.timings["recording"] = time.time()
        try:
            await page.goto(url, wait_until="commit", timeout=options.nav_timeout_s * 1000)
            rec.committed = True
        except PlaywrightError as exc:
            rec.navigation_error = _first_line(exc)
        rec.timings["committed"] = time.time()
        if rec.committed:
            await _settle(page, recorder, options, rec)
        rec.final_url = page.url if rec.committed else url
        for origin in recorder.security:
            got = await recorder.send_quiet("Network.getCertificate", {"origin": origin})
            if got:
                rec.certificates[origin] = list(got.get("tableNames") or [])
        rec.inflight_at_end = recorder.inflight
    finally:
        if recorder is not None:
            rec.hops = await recorder.finish()
            rec.security = recorder.security
            rec.websockets = recorder.websockets
            rec.capture_limit_hit = recorder.capture_limit_hit
            rec.stored_bytes = recorder.stored_bytes
        try:
            await asyncio.wait_for(context.close(), 15)
        except Exception as exc:
            log.debug("closing the context failed: %s", exc)
    rec.timings["finished"] = time.time()
    return rec


async def _settle(
    page: Any, recorder: NetworkRecorder, options: WebOptions, rec: PageRecording
) -> None:
    """Load event, bounded scrolling, then snapshots taken while waiting for network idle.

    The wait for idle and the snapshots overlap: the snapshots count only if no request
    started while they were taken, else they are taken again once the network has settled
    (at most twice more, and never after the idle deadline).
    """
    try:
        await page.wait_for_load_state("load", timeout=options.load_timeout_s * 1000)
        rec.load_finished = True
    except Exception as exc:
        log.debug("load did not finish: %s", exc)
    rec.timings["loaded"] = time.time()
    if options.scroll_max_steps:
        args = [options.scroll_max_steps, options.scroll_step_ms, int(options.scroll_max_s * 1000)]
        scrolled = await _bounded(
            "scroll", page.evaluate(SCROLL_JS, args), options.scroll_max_s + 2, rec
        )
        rec.scroll = scrolled or {}
    deadline = time.monotonic() + options.idle_max_s
    for _attempt in range(3):
        seen = recorder.requests_seen
        problems = len(rec.problems)
        idle, _ = await asyncio.gather(
            recorder.wait_idle(options.idle_quiet_ms / 1000, max(0.0, deadline - time.monotonic())),
            _snapshot(page, options, rec),
        )
        rec.network_idle = idle
        if recorder.requests_seen == seen or not idle:
            break
        del rec.problems[problems:]  # this attempt's failures are superseded by the next
    rec.timings["settled"] = time.time()
    timing = await _bounded("navigation timing", page.evaluate(TIMING_JS), 5, rec)
    if timing:
        rec.timings["navigation"] = timing


async def _snapshot(page: Any, options: WebOptions, rec: PageRecording) -> None:
    """The rendered DOM, text and title in one call, then the screenshot (which may resize)."""
    snap = await _bounded("DOM and text", page.evaluate(SNAPSHOT_JS), 20, rec)
    if snap:
        rec.title, rec.text, rec.dom = snap["title"], snap["text"], snap["dom"]
    if options.screenshot:
        rec.screenshot = await _bounded(
            "screenshot", page.screenshot(full_page=True, type="png", timeout=30_000), 35, rec
        )
        if rec.screenshot is None:  # very tall pages: fall back to the viewport
            rec.screenshot = await _bounded(
                "viewport screenshot", page.screenshot(type="png", timeout=15_000), 20, rec
            )
    if options.pdf:
        rec.pdf = await _bounded("PDF", page.pdf(print_background=True), 60, rec)
