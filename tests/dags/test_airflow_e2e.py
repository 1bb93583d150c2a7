"""Airflow as a service, in a real browser: the scheduler captures what an analyst adds.

Real processes on loopback (api-server, scheduler, dag-processor, triggerer) with the
repo's DAGs, real headless Chromium through Playwright against the pages, the real web
collector against a local fixture site. Prints how long a source took from being added
on the Watchlist page to being seen on the Captures page. With
``WITNESSBOX_TEST_DOC_SCREENSHOTS=1`` the page screenshots are also copied into ``docs/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.airflow_service import running_airflow
from tests.support.web_site import start_site

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = ("watchlist", "captures", "capture", "audit")


def http(method: str, url: str, token: str = "", data: dict | None = None) -> tuple[int, str, str]:
    """A real HTTP request (no redirects followed): status, Location, body."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as resp:
            return resp.status, resp.headers.get("Location", ""), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode(errors="replace")


def login(context, base: str, user: str, password: str, then: str):
    page = context.new_page()
    page.goto(f"{base}{then}")
    assert "Log in to Airflow" in page.content()  # the 401 page links to the login
    page.click("#login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}", timeout=60_000)
    return page


def wait_for(page, check, timeout: float, every: float = 2.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
        page.reload()
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_analyst_adds_scheduler_captures_admin_audits_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    site = start_site()
    inbox = tmp_path / "notified.json"
    extra = {
        "WITNESSBOX_HOME": str(tmp_path / "wb"),
        "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "1",
        "WITNESSBOX_DAG_TICK_SECONDS": "15",
        "WITNESSBOX_NOTIFIER": "tests.support.file_notifier:FileNotifier",
        "WITNESSBOX_NOTIFIER_ARGS": json.dumps({"path": str(inbox)}),
        # only the DAGs this test needs run (2 shared cores): unpaused below
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    source_url = site.url("/pages/3.html")
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        with running_airflow(tmp_path / "airflow", extra=extra) as af, sync_playwright() as pw:
            af.wait_dags(["witnessbox_web", "witnessbox_fixity_audit", "witnessbox_seal"])
            for needed in ("witnessbox_web", "witnessbox_seal", "witnessbox_fixity_audit"):
                af.api(f"dags/{needed}", method="PATCH", body={"is_paused": False})
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            analyst_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = login(analyst_ctx, af.url, "analyst", af.passwords["analyst"], "/witnessbox/watchlist")

            # a refused entry answers 400 and keeps what was typed
            page.fill("#add input[name=url]", source_url)
            page.fill("#add input[name=every]", "5 fortnights")
            page.fill("#add input[name=case]", "CASE-E2E")
            with page.expect_response(lambda r: r.request.method == "POST") as refused:
                page.click("#add button")
            assert refused.value.status == 400
            assert "bad schedule" in page.inner_text(".error")
            assert page.input_value("#add input[name=url]") == source_url
            assert page.input_value("#add input[name=case]") == "CASE-E2E"

            # add it properly: nobody triggers anything, the scheduler's next tick captures it
            page.fill("#add input[name=every]", "")
            page.fill("#add input[name=tags]", "e2e")
            page.click("#add button")
            added_at = time.monotonic()
            notice = page.inner_text(".notice")
            source_id = re.search(r"watching (src-[0-9a-f]+)", notice).group(1)
            page.goto(f"{af.url}/witnessbox/captures?source={source_id}")

            def captured():
                row = page.query_selector("#captures tr:nth-child(2)")
                return row if row and "complete" in row.inner_text() else None

            row = wait_for(page, captured, 180, what="the scheduler's capture")
            seconds = time.monotonic() - added_at
            print(f"\nadded on the Watchlist page -> seen on the Captures page: {seconds:.1f} s")
            page.screenshot(path=str(shots / "captures.png"), full_page=True)
            capture_id = row.query_selector("td a").inner_text()
            run_link = row.query_selector("td:last-child a")
            assert run_link and run_link.get_attribute("href").startswith("/dags/witnessbox_web/runs/")

            with page.expect_response(lambda r: "screenshot.png?inline=1" in r.url) as image:
                page.click(f"text={capture_id}")
            assert image.value.status == 200, (image.value.status, af.tail("api-server", 40))
            for _ in range(50):  # (wait_for_function evaluates a string: the CSP forbids it)
                if page.evaluate("document.querySelector('#preview').complete"):
                    break
                time.sleep(0.2)
            assert page.evaluate("document.querySelector('#preview').naturalWidth") > 100
            assert "screenshot.png" in page.inner_text("#artifacts")
            page.screenshot(path=str(shots / "capture.png"), full_page=False)
            with page.expect_download() as download:
                page.click("#artifacts a:text('screenshot.png')")
            shot_bytes = Path(download.value.path()).read_bytes()
            assert shot_bytes.startswith(b"\x89PNG")

            page.goto(f"{af.url}/witnessbox/watchlist")
            page.screenshot(path=str(shots / "watchlist.png"), full_page=True)
            csrf = page.get_attribute("#add input[name=csrf]", "value")

            # an analyst may pause and resume, but not remove
            page.click(f"form[action='/witnessbox/watchlist/{source_id}/pause'] button")
            assert f"{source_id} paused" in page.inner_text(".notice")
            page.click(f"form[action='/witnessbox/watchlist/{source_id}/resume'] button")
            assert page.query_selector(f"form[action='/witnessbox/watchlist/{source_id}/remove']") is None
            refused = page.request.post(f"{af.url}/witnessbox/watchlist/{source_id}/remove",
                                        form={"csrf": csrf}, max_redirects=0)
            assert refused.status == 403 and "only admins may remove" in refused.text()
            page.goto(f"{af.url}/witnessbox/watchlist")
            assert source_id in page.inner_text("#sources")

            # damage one stored blob, then an admin runs a full audit from the Audit page
            shown = json.loads(subprocess.run(
                [str(Path(sys.executable).with_name("witnessbox")), "show", capture_id, "--json"],
                env=af.env, capture_output=True, text=True, check=True).stdout)
            manifest_run = shown["manifest"]["capture"]["run"]
            assert manifest_run["dag_id"] == "witnessbox_web" and manifest_run["task_id"] == "capture"
            assert manifest_run["map_index"] == 0 and manifest_run["try_number"] == 1
            assert manifest_run["run_id"].startswith("scheduled__")
            assert manifest_run["airflow_version"].startswith("3.")
            victim_sha = next(a["sha256"] for a in shown["artifacts"] if a["name"] == "screenshot.png")
            victim = tmp_path / "wb" / "store" / "blobs" / "sha256" / victim_sha[:2] / victim_sha[2:4] / victim_sha
            victim.chmod(0o644)
            damaged = bytearray(victim.read_bytes())
            damaged[len(damaged) // 2] ^= 0x01
            victim.write_bytes(bytes(damaged))

            admin_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            admin = login(admin_ctx, af.url, "admin", af.passwords["admin"], "/witnessbox/audit")
            admin.click("text=Run a full audit now")
            assert "full audit queued as run" in admin.inner_text(".notice")

            def audit_failed():
                text = admin.inner_text("#audits")
                return text if victim_sha in text else None

            text = wait_for(admin, audit_failed, 150, what="the audit naming the damaged blob")
            assert "digest-mismatch" in text
            assert "chain intact" in admin.inner_text("body")
            admin.screenshot(path=str(shots / "audit.png"), full_page=True)
            deadline = time.monotonic() + 90  # the failure callback runs after the task failed
            while not inbox.exists() and time.monotonic() < deadline:
                time.sleep(1)
            audit_logs = sorted((af.home / "logs").glob("dag_id=witnessbox_fixity_audit/**/*.log"))
            assert inbox.exists(), [p.read_text()[-3000:] for p in audit_logs[-2:]]
            told = json.loads(inbox.read_text())  # the notifier was called by the failed task
            assert told["dag_id"] == "witnessbox_fixity_audit" and "failed" in told["subject"]

            # the analyst logs out and is refused
            page.goto(f"{af.url}/api/v2/auth/logout")
            analyst_ctx.clear_cookies()
            response = page.goto(f"{af.url}/witnessbox/watchlist")
            assert response.status == 401 and "Log in to Airflow" in page.content()
            browser.close()

            # real HTTP, no login: every page and API answers 401/403 (or a redirect to login)
            pages = ["/witnessbox/", "/witnessbox/watchlist", "/witnessbox/captures",
                     f"/witnessbox/captures/{capture_id}",
                     f"/witnessbox/captures/{capture_id}/files/screenshot.png",
                     "/witnessbox/audit", "/witnessbox/api/watchlist", "/witnessbox/api/captures",
                     "/witnessbox/api/audit", "/witnessbox/api/custody"]
            for path in pages:
                for token in ("", "not-a-jwt"):
                    code, location, _ = http("GET", af.url + path, token)
                    assert code in (401, 403) or (code in (302, 303, 307) and "login" in location), (path, code)
            posts = ["/witnessbox/watchlist", "/witnessbox/watchlist/import",
                     f"/witnessbox/watchlist/{source_id}/pause", f"/witnessbox/watchlist/{source_id}/remove",
                     "/witnessbox/audit/run"]
            for path in posts:
                code, _, _ = http("POST", af.url + path, data={"url": site.url("/pages/4.html")})
                assert code in (401, 403), (path, code)
            # a valid login without the CSRF token changes nothing
            admin_token = af.token("admin")
            for path in posts:
                code, _, _ = http("POST", af.url + path, admin_token, data={"url": site.url("/pages/4.html")})
                refused = (400, 403) if path.endswith("import") else (403,)  # import: no file sent
                assert code in refused, (path, code)
            code, _, body = http("GET", af.url + "/witnessbox/api/watchlist", admin_token)
            assert code == 200 and site.url("/pages/4.html") not in body and source_url in body

            # the run that captured it is green; its mapped task is named by the source's URL
            run_id = manifest_run["run_id"]
            tis = af.api(f"dags/witnessbox_web/dagRuns/{urllib.parse.quote(run_id)}/taskInstances")
            named = {t["task_id"]: t for t in tis["task_instances"]}
            assert named["capture"]["rendered_map_index"] == source_url
            # the run ends after its last tasks (record, then announce_failed and check): wait for it
            run_url = f"dags/witnessbox_web/dagRuns/{urllib.parse.quote(run_id)}"
            deadline = time.monotonic() + 180
            while af.api(run_url)["state"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(2)
            assert af.api(run_url)["state"] == "success", af.api(f"{run_url}/taskInstances")
            # the capture published an asset event, and witnessbox_seal ran on it
            events = af.api("assets/events?limit=100")["asset_events"]
            ours = [ev for ev in events if ev["extra"].get("capture_id") == capture_id]
            assert ours and ours[0]["extra"]["status"] == "complete"
            seal_runs = af.api("dags/witnessbox_seal/dagRuns?limit=50")["dag_runs"]
            assert any(r["run_type"] == "asset_triggered" for r in seal_runs), seal_runs
    finally:
        site.close()
    if os.environ.get("WITNESSBOX_TEST_DOC_SCREENSHOTS") == "1":
        for name in SHOTS:
            shutil.copy(shots / f"{name}.png", ROOT / "docs" / f"airflow-{name}.png")
