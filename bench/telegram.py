"""Telegram collector benchmark: 10,000 fake messages, 3,000 of them with a small photo.

Targets (issue: telegram): at least 500 messages/s processed, not counting the time spent
inside the fake client (it stands in for the network), and at most 12 API calls per 1,000
new messages (calls counted in the fake client: resolve, full channel, history pages,
messages by id; media file downloads are counted apart). A second, incremental run of
1,000 new messages shows the per-run overhead (channel lookup, the re-check window).
Usage: python bench/telegram.py [--messages 10000] [--media 3000]. Figures printed last.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
sys.path.insert(0, str(ROOT))

from collectors.telegram.collector import TelegramCollector  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from tests.support.telegram_fake import FakeTelegram  # noqa: E402
from tests.support.telegram_harness import Harness  # noqa: E402


class TimedPort:
    """Delegates to the fake and adds up the time spent inside it (the 'network')."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.fake, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


class TimedCollector(TelegramCollector):
    """Times ``collect`` alone (not the harness's bookkeeping around it)."""

    seconds = 0.0

    def collect(self, source: Any, ctx: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().collect(source, ctx)
        finally:
            self.seconds = time.perf_counter() - started


def build(fake: FakeTelegram, first: int, last: int, media_ids: set[int]) -> None:
    for message_id in range(first, last + 1):
        fake.add(message_id, media="photo" if message_id in media_ids else None, media_size=4096)


def run(harness: Harness, port: TimedPort, fake: FakeTelegram, label: str) -> dict[str, Any]:
    calls_before = fake.api_calls
    downloads_before = fake.calls["download_media"]
    port.seconds = 0.0
    result, _ = harness.run()
    wall = harness.collector.seconds
    new = result.platform["messages"]["new"]
    processing = wall - port.seconds
    figures = {
        "label": label,
        "new": new,
        "wall": wall,
        "fake": port.seconds,
        "processing": processing,
        "rate": new / processing if processing else float("inf"),
        "api_calls": fake.api_calls - calls_before,
        "downloads": fake.calls["download_media"] - downloads_before,
        "status": result.status,
        "media": result.platform["media"]["downloaded"],
    }
    figures["calls_per_1000"] = figures["api_calls"] * 1000 / max(new, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--media", type=int, default=3_000)
    parser.add_argument("--incremental", type=int, default=1_000)
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)  # the project's disk, like WITNESSBOX_HOME
    work = Path(tempfile.mkdtemp(prefix="telegram-", dir=WORK))
    try:
        fake = FakeTelegram()
        step = args.messages / max(args.media, 1)
        media_ids = {int(i * step) + 1 for i in range(args.media)}
        build(fake, 1, args.messages, media_ids)
        port = TimedPort(fake)
        settings = Settings(
            home=work / "home", telegram_api_id="1", telegram_api_hash="x", telegram_session="y"
        )
        collector = TimedCollector(connect=lambda s: port, sleep=lambda s: None)
        options = {"max_messages": args.messages + args.incremental}
        harness = Harness(work, settings, collector, options=options)

        bulk = run(harness, port, fake, f"first run, {args.messages} messages")
        last = args.messages + args.incremental
        build(fake, args.messages + 1, last, {i for i in range(args.messages + 1, last + 1, 3)})
        incremental = run(harness, port, fake, f"incremental run, {args.incremental} new")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for f in (bulk, incremental):
        print(
            f"{f['label']}: status {f['status']}, {f['new']} messages, {f['media']} media files; "
            f"collect {f['wall']:.2f} s, inside the fake {f['fake']:.2f} s, "
            f"processing {f['processing']:.2f} s"
        )
        print(
            f"  API calls {f['api_calls']} ({f['calls_per_1000']:.1f} per 1,000 new), "
            f"file downloads {f['downloads']} (counted apart)"
        )
    rate_ok = bulk["rate"] >= 500
    calls_ok = bulk["calls_per_1000"] <= 12
    verdict = "PASS" if rate_ok and calls_ok and bulk["new"] == args.messages else "FAIL"
    print(
        f"telegram: {bulk['rate']:.0f} messages/s excluding the fake network (target ≥ 500), "
        f"{bulk['calls_per_1000']:.1f} API calls per 1,000 new messages (target ≤ 12) {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
