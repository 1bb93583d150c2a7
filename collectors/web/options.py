"""Typed options for a web capture: settings give the defaults, a source may override some.

One function turns them into Chromium launch arguments, one into Playwright context options,
so no other module invents browser flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.options import Option, OptionSet

# FIELD-NOTES flags, plus: keep every frame in the page's renderer so one CDP session sees
# (and polices) all of a page's requests, iframes included; refuse pop-up windows; no sound.
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
    "--block-new-web-contents",
    "--mute-audio",
    "--hide-scrollbars",
)


@dataclass(frozen=True)
class WebOptions:
    """The typed options of one capture: defaults here, rules and help in ``OPTIONS``."""

    viewport_width: int = 1366
    viewport_height: int = 900
    user_agent: str = ""
    nav_timeout_s: float = 30.0
    load_timeout_s: float = 20.0
    idle_quiet_ms: int = 250
    idle_max_s: float = 8.0
    scroll_max_steps: int = 25
    scroll_step_ms: int = 120
    scroll_max_s: float = 8.0
    capture_timeout_s: float = 180.0
    max_response_bytes: int = 200 * 1024 * 1024
    max_capture_bytes: int = 2 * 1024 * 1024 * 1024
    media_min_bytes: int = 10_000
    pdf: bool = False
    screenshot: bool = True
    wacz: bool = True

    @classmethod
    def from_settings(
        cls, settings: Any, overrides: dict[str, Any] | None = None
    ) -> WebOptions:
        """Settings give the size limits and user agent; the source's options win over them.

        Unknown keys are skipped here (sources added before options were checked at the door
        may hold some); ``watch add`` refuses them.
        """
        values: dict[str, Any] = {
            "max_response_bytes": settings.max_response_bytes,
            "max_capture_bytes": settings.max_capture_bytes,
            "user_agent": settings.user_agent,
            **(overrides or {}),
        }
        return OPTIONS.build(values, strict=False)

    def context_options(self, user_agent: str) -> dict[str, Any]:
        """Playwright ``new_context`` arguments: a fresh, isolated profile per capture."""
        return {
            "viewport": {"width": self.viewport_width, "height": self.viewport_height},
            "user_agent": user_agent,
            "ignore_https_errors": True,  # evidence sites with broken TLS are still captured
            "service_workers": "block",  # their fetches would bypass the page's interception
            "accept_downloads": False,
        }


def launch_args() -> list[str]:
    return list(BASE_ARGS)


def _seconds(name: str, help: str) -> Option:
    return Option(name, "float", help, above=0)


def _count(name: str, help: str, kind: str = "int") -> Option:
    return Option(name, kind, help, minimum=0)


OPTIONS = OptionSet(
    "web",
    WebOptions,
    [
        Option("viewport_width", "int", "browser window width (CSS pixels)", minimum=1,
               maximum=16384),
        Option("viewport_height", "int", "browser window height (CSS pixels)", minimum=1,
               maximum=16384),
        Option("user_agent", "text", "the User-Agent header; empty: Chromium's own, without "
               '"Headless"', max_length=500, default_text="`WITNESSBOX_USER_AGENT`"),
        _seconds("nav_timeout_s", "seconds to wait for the main document's response"),
        _seconds("load_timeout_s", "seconds to wait for the load event"),
        _count("idle_quiet_ms", '"idle" = this many ms with no request activity ...'),
        _count("idle_max_s", "... waited for at most this many seconds", "float"),
        _count("scroll_max_steps", "bounded scrolling for lazy content (0: no scrolling)"),
        _count("scroll_step_ms", "pause after each scroll step (ms)"),
        _count("scroll_max_s", "seconds of scrolling at most", "float"),
        _seconds("capture_timeout_s", "seconds for the whole capture, browser work included"),
        Option("max_response_bytes", "int", "per response (larger bodies are truncated)",
               minimum=1, default_text="`WITNESSBOX_MAX_RESPONSE_BYTES` (200 MiB)"),
        Option("max_capture_bytes", "int", "all bodies of one capture", minimum=1,
               default_text="`WITNESSBOX_MAX_CAPTURE_BYTES` (2 GiB)"),
        _count("media_min_bytes", "smaller images (icons, spacers) stay in the WARC only"),
        Option("pdf", "bool", "also print the page to PDF"),
        Option("screenshot", "bool", "take the full-page screenshot"),
        Option("wacz", "bool", "also write the WACZ"),
    ],
)  # fmt: skip
