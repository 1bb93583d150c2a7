"""Web capture benchmark: 50 pages of a local fixture site, full capture vs a bare visit.

Target (issue 4): the collector captures at least 40 pages/min on this 2-core machine and
takes at most 1.5x the wall time of a bare Playwright loop that only visits and screenshots
the same pages, measured in the same run. Both reuse one Chromium (same flags) and open one
browser context per page; both take a full-page PNG screenshot. The capture additionally
records every exchange through CDP, applies the network policy, scrolls, waits for network
idle, and writes the WARC, WACZ, DOM, text, media and page info. Both loops run once to warm
up before timing, then alternate in blocks of ``--block`` pages (so load from other processes
on the shared machine falls on both alike); each loop's time is the sum of its blocks. Every
capture must come out ``complete``, else the run fails. Usage: python bench/web.py
[--pages 50] [--rounds 1] [--block 10]. The PASS/FAIL line with the ratio is printed last.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.base import CollectContext, SourceRef  # noqa: E402
from collectors.web.browser import BrowserHost  # noqa: E402
from collectors.web.collector import WebCollector  # noqa: E402
from collectors.web.options import WebOptions, launch_args  # noqa: E402
from kernel.netpolicy import NetworkPolicy  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from tests.support.web_site import start_site  # noqa: E402


def bare_loop(host: BrowserHost, urls: list[str]) -> float:
    """Visit and screenshot each page: one context per page, nothing recorded."""
    options = WebOptions()

    async def job(browser) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for url in urls:
            context = await browser.new_context(viewport={"width": options.viewport_width,
                                                          "height": options.viewport_height})  # fmt: skip
            page = await context.new_page()
            await page.goto(url, wait_until="load")
            await page.screenshot(full_page=True, type="png")
            await context.close()
        return time.perf_counter() - started

    return host.run(job, 600)


def capture_loop(collector: WebCollector, urls: list[str], work: Path) -> tuple[float, list[str]]:
    settings = Settings(home=work / "home")
    policy = NetworkPolicy(allow_private=True)
    statuses: list[str] = []
    started = time.perf_counter()
    for n, url in enumerate(urls):
        staging = Path(tempfile.mkdtemp(prefix=f"p{n}-", dir=work))
        ctx = CollectContext(
            settings=settings, policy=policy, staging=staging, capture_id=f"bench-{n}"
        )
        result = collector.collect(SourceRef(id="bench", kind="web", url=url), ctx)
        statuses.append(result.status)
    return time.perf_counter() - started, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--block", type=int, default=10)
    args = parser.parse_args()
    site = start_site()
    urls = [site.url(f"/pages/{n % 50}.html") for n in range(args.pages)]
    work = Path(tempfile.mkdtemp(prefix="witnessbox-bench-web-"))
    host = BrowserHost(Settings().chromium, launch_args())
    collector = WebCollector()
    code = 1
    try:
        bare_loop(host, urls[:2])  # warm up: launch, first context
        capture_loop(collector, urls[:2], work)
        bare_times, capture_times = [], []
        statuses: list[str] = []
        for _ in range(args.rounds):
            bare_sum = capture_sum = 0.0
            size = max(1, args.block)
            for block in (urls[i : i + size] for i in range(0, len(urls), size)):
                bare_sum += bare_loop(host, block)
                seconds, got = capture_loop(collector, block, work)
                capture_sum += seconds
                statuses += got
            bare_times.append(bare_sum)
            capture_times.append(capture_sum)
        bare, capture = statistics.median(bare_times), statistics.median(capture_times)
        rate, ratio = args.pages / capture * 60, capture / bare
        incomplete = len(statuses) - statuses.count("complete")
        print(f"pages:              {args.pages} x {args.rounds} round(s), blocks of {args.block}")
        print(f"bare visit+shot:    {bare:6.2f} s  ({args.pages / bare * 60:6.1f} pages/min)")
        print(f"full capture:       {capture:6.2f} s  ({rate:6.1f} pages/min)")
        print(f"per page:           bare {bare / args.pages * 1000:.0f} ms, capture "
              f"{capture / args.pages * 1000:.0f} ms")  # fmt: skip
        print(f"captures not complete: {incomplete}")
        ok = rate >= 40 and ratio <= 1.5 and incomplete == 0
        print(f"{'PASS' if ok else 'FAIL'}: {rate:.1f} pages/min (target >= 40), "
              f"ratio capture/bare {ratio:.2f} (target <= 1.50)")
        code = 0 if ok else 1
    finally:
        collector.close()
        host.close()
        site.close()
        shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
