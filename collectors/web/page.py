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
from collectors.web.verdicts import (
    VIEWPORT_ONLY,
    VIEWPORT_ONLY_FAILED,
    idle_verdict,
    screenshot_budget,
    settle_budget,
)

log = logging.getLogger("witnessbox.web.page")

#: one scroll step: a viewport down, then two frames (lazy loaders start their requests)
STEP_JS = """async () => {
  const el = document.scrollingElement || document.documentElement;
  window.scrollBy(0, window.innerHeight);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return window.innerHeight + window.scrollY >= el.scrollHeight - 2;
}"""
TOP_JS = """() => {
  const el = document.scrollingElement || document.documentElement;
  const bottom = window.innerHeight + window.scrollY >= el.scrollHeight - 2;
  window.scrollTo(0, 0);
  return {reached_bottom: bottom, height: el.scrollHeight};
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
        if not rec.committed:
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
        scrolled = await _bounded(
            "scroll", _scroll(page, recorder, options), options.scroll_max_s + 2, rec
        )
        rec.scroll = scrolled or {}
    rec.timings["scrolled"] = time.time()
    deadline = time.monotonic() + options.idle_max_s
    for _attempt in range(3):
        seen = recorder.requests_seen
        problems = len(rec.problems)
        quiet = options.idle_quiet_ms / 1000
        budget = settle_budget(deadline, time.monotonic(), quiet) if _attempt else None
        idle, _ = await asyncio.gather(
            recorder.wait_idle(quiet, budget if budget is not None else options.idle_max_s),
            _snapshot(page, options, rec),
        )
        rec.inflight_at_end = recorder.inflight  # the verdict and its reason: one moment
        rec.network_idle = idle_verdict(idle, rec.inflight_at_end)
        if recorder.requests_seen == seen or not rec.network_idle:
            break
        if time.monotonic() >= deadline:
            break  # the snapshots stand: taken while the network was idle
        del rec.problems[problems:]  # this attempt's failures are superseded by the next
    rec.timings["settled"] = time.time()
    timing = await _bounded("navigation timing", page.evaluate(TIMING_JS), 5, rec)
    if timing:
        rec.timings["navigation"] = timing


async def _scroll(page: Any, recorder: NetworkRecorder, options: WebOptions) -> dict[str, Any]:
    """Bounded scrolling for lazy content, paced by the network: a step that started
    requests waits ``scroll_step_ms`` for them; a step that started none goes straight on
    (a fixed pause per step made a 20,000 px page spend 3 s scrolling)."""
    deadline = time.monotonic() + options.scroll_max_s
    steps = paused = 0
    bottom = False
    while steps < options.scroll_max_steps and time.monotonic() < deadline and not bottom:
        seen = recorder.requests_seen
        bottom = bool(await page.evaluate(STEP_JS))
        steps += 1
        if recorder.requests_seen != seen:
            paused += 1
            await asyncio.sleep(options.scroll_step_ms / 1000)
    end = await page.evaluate(TOP_JS)
    return {"steps": steps, "paused_steps": paused, **end}


async def _snapshot(page: Any, options: WebOptions, rec: PageRecording) -> None:
    """The rendered DOM, text and title in one call, then the screenshot (which may resize)."""
    snap = await _bounded("DOM and text", page.evaluate(SNAPSHOT_JS), 20, rec)
    if snap:
        rec.title, rec.text, rec.dom = snap["title"], snap["text"], snap["dom"]
    if options.screenshot:
        await _screenshot(page, options, rec)
    if options.pdf:
        rec.pdf = await _bounded("PDF", page.pdf(print_background=True), 60, rec)


async def _screenshot(page: Any, options: WebOptions, rec: PageRecording) -> None:
    """Full page in a time scaled to its height; else the viewport, and the reason says so."""
    height = rec.scroll.get("height") or await _bounded(
        "page height", page.evaluate("() => document.documentElement.scrollHeight"), 5, rec
    )
    elapsed = time.time() - rec.timings["started"]
    budget = screenshot_budget(height, elapsed, options.capture_timeout_s)
    rec.timings["screenshot_budget_ms"] = int(budget * 1000)
    problems = len(rec.problems)
    started = time.time()
    if budget > 0:
        shot = page.screenshot(full_page=True, type="png", timeout=budget * 1000)
        rec.screenshot = await _bounded("screenshot", shot, budget + 2, rec)
    rec.timings["screenshot_ms"] = int((time.time() - started) * 1000)
    if rec.screenshot is not None:
        return
    failed = rec.problems[problems:]
    del rec.problems[problems:]
    viewport = page.screenshot(type="png", timeout=15_000)
    rec.screenshot = await _bounded("viewport screenshot", viewport, 20, rec)
    if rec.screenshot is not None:
        timed_out = not failed or "gave up" in failed[0] or "Timeout" in failed[0]
        why = failed[0].removeprefix("screenshot: ") if failed else ""
        rec.problems.append(VIEWPORT_ONLY if timed_out else VIEWPORT_ONLY_FAILED.format(why=why))
