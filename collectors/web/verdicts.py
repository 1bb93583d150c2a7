"""How a web capture is judged by what happened, not by the clock.

Small decisions the page driver and the output writer share, kept apart so each is one
testable function:

* idle: the network is idle when no request is in flight at the moment of the verdict; a
  wait that ran out of budget with nothing pending is idle (a repeated settle step after a
  slow snapshot used to get a zero budget and call an idle network "not idle (0 in flight)");
* the screenshot's time: scaled to the page's height, within what is left of
  ``capture_timeout_s``; when the full page does not fit, the viewport is kept and the
  reason says so (``screenshot: viewport only (full page timed out)``);
* a download: a URL that answers with a file (``Content-Disposition: attachment``, or a
  navigation that Chromium turned into a download) is a complete capture of that file.
"""

from __future__ import annotations

from typing import Any

VIEWPORT_ONLY = "screenshot: viewport only (full page timed out)"
VIEWPORT_ONLY_FAILED = "screenshot: viewport only (full page failed: {why})"
#: full-page screenshot budget: a base plus this much per 1,000 CSS pixels of height
SCREENSHOT_BASE_S = 10.0
SCREENSHOT_PER_1000PX_S = 1.5
#: kept back from ``capture_timeout_s`` for the viewport fallback, the PDF and the files
CAPTURE_RESERVE_S = 20.0


def idle_verdict(waited_idle: bool, inflight: list[str]) -> bool:
    """Idle when the wait said so, or when nothing at all is in flight now."""
    return waited_idle or not inflight


def idle_reason(inflight: list[str]) -> str:
    shown = ", ".join(inflight[:3]) + (", …" if len(inflight) > 3 else "")
    return (
        f"the network was not idle when the capture ended "
        f"({len(inflight)} request(s) in flight: {shown})"
    )


def settle_budget(deadline: float, now: float, quiet_s: float) -> float:
    """What a settle step may wait: the time left, but never less than one quiet period."""
    return max(deadline - now, quiet_s + 0.1)


def screenshot_budget(
    height_px: int | None, elapsed_s: float, capture_timeout_s: float
) -> float:
    """Seconds for a full-page screenshot of a page ``height_px`` tall (0: no time left)."""
    wanted = SCREENSHOT_BASE_S + SCREENSHOT_PER_1000PX_S * max(0, height_px or 0) / 1000
    left = capture_timeout_s - elapsed_s - CAPTURE_RESERVE_S
    return max(0.0, min(wanted, left))


def header(hop: Any, name: str) -> str:
    getter = getattr(hop, "header", None)
    return (getter(name) if callable(getter) else "") or ""


def is_download(navigation_error: str | None, main_final: Any) -> bool:
    """True when the main document answered with a file rather than a page to render."""
    if main_final is None or main_final.status != 200 or main_final.body is None:
        return False
    if header(main_final, "content-disposition").strip().lower().startswith("attachment"):
        return True
    if not navigation_error:
        return False
    if "Download is starting" in navigation_error:
        return True
    # an aborted navigation is a download only when what came back is not a page
    kind = header(main_final, "content-type").split(";")[0].strip().lower()
    return "net::ERR_ABORTED" in navigation_error and kind not in ("text/html", "")
