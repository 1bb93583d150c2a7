"""Replay in real headless Chromium: ReplayWeb.page shows the capture from its WACZ alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kernel.errors import InputError
from preservation.catalogue import watchlist
from preservation.catalogue.models import Source
from preservation.replay.core import ReplayTarget, find_wacz, parse_range, wacz_answer
from preservation.runner import capture_source
from tests.support.search_site import SearchSite, article

WITNESSBOX = str(Path(sys.executable).with_name("witnessbox"))
TEXT = "Сёння ў Мінску затрымалі журналістаў"


def test_ranges_are_parsed_like_http_says():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=50-500", 100) == (50, 99)
    assert parse_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole object
    for bad in ("bytes=100-", "bytes=9-3", "items=0-1", "bytes=-0", "bytes=-"):
        with pytest.raises(InputError):
            parse_range(bad, 100)


def test_one_answer_for_both_replay_servers():
    target = ReplayTarget("c", "blobs/x", 100, "https://example.org/", "20260101000000")
    whole = wacz_answer(target, None)
    assert (whole.status, whole.start, whole.end) == (200, 0, 99)
    assert whole.headers == {"Accept-Ranges": "bytes", "Content-Length": "100"}
    part = wacz_answer(target, "bytes=10-19")
    assert (part.status, part.start, part.end) == (206, 10, 19)
    assert part.headers["Content-Range"] == "bytes 10-19/100"
    assert part.headers["Content-Length"] == "10"
    refused = wacz_answer(target, "bytes=100-")
    assert refused.status == 416 and refused.end < refused.start
    assert refused.headers == {"Content-Range": "bytes */100", "Content-Length": "0"}


@pytest.fixture
def captured(private_ok, runtime):
    site = SearchSite()
    site.pages["/statement.html"] = (200, "text/html; charset=utf-8",
                                     article("Заява", [TEXT]))  # fmt: skip
    spec = watchlist.validate_entry(site.url("/statement.html"), runtime.policy, kind="web")
    source = watchlist.add_source(runtime.catalogue, spec, "analyst", runtime.clock())
    with runtime.catalogue.session() as session:
        outcome = capture_source(runtime, session.get(Source, source.id))
    site.close()  # from now on only the archive has the page
    assert outcome.status == "complete", outcome.reasons
    return runtime, outcome.capture_id, site.url("/statement.html")


def _serve(capture_id: str):
    proc = subprocess.Popen([WITNESSBOX, "replay", capture_id, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines = []
    while not lines or lines[-1].strip() != "}":
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        lines.append(line)
    return proc, json.loads("".join(lines))


@pytest.mark.slow
def test_witnessbox_replay_shows_text_and_image_from_the_wacz(captured):
    from playwright.sync_api import sync_playwright

    rt, capture_id, page_url = captured
    target = find_wacz(rt.catalogue, rt.store, capture_id)
    assert target.url == page_url
    proc, info = _serve(capture_id)
    try:
        from preservation.custody.ledger import ledger_for

        entry = list(ledger_for(rt).entries())[-1]  # a replay reads an original: logged first
        assert entry["event"] == "accessed" and entry["subject"] == capture_id
        assert entry["data"]["reason"] == "replayed with witnessbox replay"
        assert entry["data"]["artifact"].endswith(".wacz") and entry["data"]["replay"] == info["url"]
        request = urllib.request.Request(info["url"] + "capture.wacz",
                                         headers={"Range": "bytes=0-3"})  # fmt: skip
        with urllib.request.urlopen(request) as answer:  # a WACZ is a zip: PK\x03\x04
            assert answer.status == 206 and answer.read() == b"PK\x03\x04"
            assert answer.headers["Content-Range"] == f"bytes 0-3/{target.size}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            page = browser.new_page()
            page.goto(info["url"])
            frame = _frame_with(page, TEXT, timeout=90)
            assert frame is not None, [f.url for f in page.frames]
            width = frame.wait_for_function(
                "() => { const i = document.querySelector('img');"
                " return i && i.complete && i.naturalWidth; }", timeout=30_000
            ).json_value()
            assert width == 120  # the fixture's picture, served from the WACZ
            app = next(f.url for f in page.frames if "/replay/?" in f.url)
            browser.close()
            _app_before_the_worker(pw, app)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _app_before_the_worker(pw, app: str) -> None:
    """The embed can open its frame before the worker activates: that request reaches the
    server, whose page waits for the worker and reloads. A fresh browser opening the frame's
    URL directly takes exactly that path."""
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                 args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
    page = browser.new_page()
    first = page.goto(app)
    assert first is not None and not first.from_service_worker  # the server answered
    frame = _frame_with(page, TEXT, timeout=90)
    assert frame is not None, [f.url for f in page.frames]
    browser.close()


def _frame_with(page, text: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if text in (frame.evaluate("() => document.body && document.body.innerText")
                            or ""):  # fmt: skip
                    return frame
            except Exception:  # a frame navigating or detached meanwhile
                continue
        time.sleep(0.5)
    return None


def test_replay_of_an_unknown_capture_is_bad_input(runtime, capsys):
    from preservation.cli.main import main

    assert main(["replay", "nope"]) == 2
    assert "unknown capture" in capsys.readouterr().err


def test_replay_without_a_reason_is_refused(captured, capsys):
    from preservation.cli.main import main

    assert main(["replay", captured[1], "--reason", " "]) == 2
    assert "a reason is required" in capsys.readouterr().err
