"""One Chromium for many captures, driven by Playwright's async API on a private loop thread.

Launching Chromium costs about a second; a capture of a small page costs less. The host
starts the browser on first use and keeps it until ``close()``, and every capture gets its
own browser context (no cookies or cache shared between sources). Running the async API on
its own thread keeps ``collect`` callable from any thread, including ones that already run
an event loop (Airflow task runners, pytest plugins), where Playwright's sync API refuses to
work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kernel.errors import CollectionError

log = logging.getLogger("witnessbox.web.browser")
T = TypeVar("T")


class BrowserHost:
    def __init__(self, executable: str, args: list[str], headless: bool = True) -> None:
        self.executable = executable
        self.args = list(args)
        self.headless = headless
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._launch_lock: asyncio.Lock | None = None

    # -- the loop thread ---------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="witnessbox-browser", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    async def _get_browser(self) -> Any:
        if self._launch_lock is None:
            self._launch_lock = asyncio.Lock()
        async with self._launch_lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            from playwright.async_api import Error as PlaywrightError
            from playwright.async_api import async_playwright

            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self.executable, headless=self.headless, args=self.args
                )
            except PlaywrightError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise CollectionError(
                    f"cannot start Chromium at {self.executable}: {first}"
                ) from None
            log.debug("launched Chromium %s", self._browser.version)
            return self._browser

    def run(self, job: Callable[[Any], Awaitable[T]], timeout: float) -> T:
        """Run ``job(browser)`` on the loop thread and wait at most ``timeout`` seconds."""
        loop = self._ensure_loop()

        async def wrapped() -> T:
            browser = await self._get_browser()
            return await asyncio.wait_for(job(browser), timeout)

        future = asyncio.run_coroutine_threadsafe(wrapped(), loop)
        try:
            return future.result(timeout + 60)  # the inner wait_for fires first
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise CollectionError(f"the browser did not finish within {timeout:.0f} s") from None

    def browser_version(self) -> str:
        return self._browser.version if self._browser is not None else ""

    def close(self) -> None:
        """Close the browser and stop the loop thread; the host can start again later."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or not loop.is_running():
            return

        async def shutdown() -> None:
            try:
                if self._browser is not None:
                    await self._browser.close()
            except Exception:  # the browser may already be gone
                log.debug("closing the browser failed", exc_info=True)
            try:
                if self._playwright is not None:
                    await self._playwright.stop()
            except Exception:
                log.debug("stopping Playwright failed", exc_info=True)
            self._browser = self._playwright = None
            self._launch_lock = None

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(30)
        except Exception:
            log.debug("browser shutdown did not finish", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        if not loop.is_running():
            loop.close()
