"""Typed options for a web capture: settings give the defaults, a source may override some.

One function turns them into Chromium launch arguments, one into Playwright context options,
so no other module invents browser flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kernel.errors import InputError
from kernel.settings import Settings

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
    viewport_width: int = 1366
    viewport_height: int = 900
    user_agent: str = ""  # empty: Chromium's own, with "HeadlessChrome" spelled "Chrome"
    nav_timeout_s: float = 30.0  # until the main document's response arrives
    load_timeout_s: float = 20.0  # until the load event
    idle_quiet_ms: int = 250  # network idle: this long without any request activity ...
    idle_max_s: float = 8.0  # ... waited for at most this long
    scroll_max_steps: int = 25  # bounded scrolling for lazy content
    scroll_step_ms: int = 120
    scroll_max_s: float = 8.0
    capture_timeout_s: float = 180.0  # the whole capture, browser work included
    max_response_bytes: int = 200 * 1024 * 1024
    max_capture_bytes: int = 2 * 1024 * 1024 * 1024
    media_min_bytes: int = 10_000  # images at least this big become media artifacts
    pdf: bool = False  # also print the page to PDF
    screenshot: bool = True
    wacz: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, overrides: dict[str, Any] | None = None
    ) -> WebOptions:
        values: dict[str, Any] = {
            "max_response_bytes": settings.max_response_bytes,
            "max_capture_bytes": settings.max_capture_bytes,
            "user_agent": settings.user_agent,
        }
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, raw in (overrides or {}).items():
            if key not in fields:
                continue  # other collectors' options may share the source
            values[key] = _coerce(key, fields[key].type, raw)
        options = cls(**values)
        options.validate()
        return options

    def validate(self) -> None:
        positive = ("viewport_width", "viewport_height", "nav_timeout_s", "load_timeout_s",
                    "capture_timeout_s", "max_response_bytes", "max_capture_bytes")  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise InputError(f"web option {name} must be positive")
        for name in ("idle_quiet_ms", "idle_max_s", "scroll_max_steps", "scroll_step_ms",
                     "scroll_max_s", "media_min_bytes"):  # fmt: skip
            if getattr(self, name) < 0:
                raise InputError(f"web option {name} must not be negative")

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


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            return bool(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
    except (TypeError, ValueError):
        raise InputError(f"web option {name} has a bad value: {raw!r}") from None
    return str(raw)
