"""The witnessbox pages inside the real Airflow API server app: auth, CSRF, content."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app
    from witnessbox_airflow.ui.auth import csrf_for

    client = TestClient(create_app(), follow_redirects=False)
    out = {}
    out["anonymous"] = client.get("/witnessbox/watchlist").status_code
    out["bad_token"] = client.get("/witnessbox/watchlist", headers={"Authorization": "Bearer nope"}).status_code
    def token(user, pw):
        r = client.post("/auth/token", json={"username": user, "password": pw})
        return r.json()["access_token"]
    admin = token("admin", "admin-pw")
    page = client.get("/witnessbox/watchlist", cookies={"_token": admin})
    out["page"] = page.status_code
    out["page_has_source"] = "https://example.org/watched" in page.text
    out["csp"] = page.headers.get("content-security-policy", "")
    form = {"url": "https://example.org/added-in-ui", "case": "UI-1", "tags": "a,b"}
    out["post_without_csrf"] = client.post("/witnessbox/watchlist", data=form, cookies={"_token": admin}).status_code
    form["csrf"] = csrf_for(admin)
    added = client.post("/witnessbox/watchlist", data=form, cookies={"_token": admin})
    out["post_with_csrf"] = added.status_code
    api = client.get("/witnessbox/api/watchlist", headers={"Authorization": "Bearer " + admin})
    out["api"] = sorted(s["url"] for s in api.json())
    out["added_by"] = [s["added_by"] for s in api.json() if s["case"] == "UI-1"]
    hostile = dict(form, url="http://169.254.169.254/latest/")
    out["hostile"] = client.post("/witnessbox/watchlist", data=hostile, cookies={"_token": admin}).text
    bad_option = dict(form, url="https://example.org/bad-option", options="pdf=true viewport_width=-5")
    out["bad_option"] = client.post("/witnessbox/watchlist", data=bad_option, cookies={"_token": admin}).text
    good_option = dict(form, url="https://example.org/with-option", options="pdf=true media_min_bytes=5")
    out["good_option"] = client.post("/witnessbox/watchlist", data=good_option, cookies={"_token": admin}).status_code
    api = client.get("/witnessbox/api/watchlist", headers={"Authorization": "Bearer " + admin})
    out["options_after"] = {s["url"]: s["options"] for s in api.json()}
    out["captures"] = client.get("/witnessbox/captures", cookies={"_token": admin}).status_code
    audit = client.get("/witnessbox/audit", cookies={"_token": admin})
    out["audit"] = audit.status_code
    out["audit_summary"] = "1 captures: 0 sealed" in audit.text
    out["audit_staging"] = "Interrupted captures in staging: 1 " in audit.text
    out["custody"] = client.get("/witnessbox/api/custody", headers={"Authorization": "Bearer " + admin}).json()
    out["unknown_capture"] = client.get("/witnessbox/captures/nope", cookies={"_token": admin}).status_code
    print("RESULT" + json.dumps(out))
    """
)


CAPTURE_ONE = textwrap.dedent(
    """
    import collectors.registry as registry
    from preservation.cli.main import main
    registry.COLLECTORS["web"] = "tests.support.fake_collector:StaticCollectorWithPage"
    raise SystemExit(main(["run"]))
    """
)


@pytest.mark.slow
def test_pages_need_airflow_login_and_csrf(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    subprocess.run([witnessbox, "watch", "add", "https://example.org/watched"], env=env, check=True,
                   capture_output=True)
    # one capture for the audit page's custody summary (a fake collector: no network)
    subprocess.run([sys.executable, "-c", CAPTURE_ONE], env=env, check=True, capture_output=True)
    interrupted = tmp_path / "wb" / "staging" / "0190aaaa-0000-7000-8000-000000000001" / "files"
    interrupted.mkdir(parents=True)
    (interrupted / "page.warc.gz").write_bytes(b"left by a killed run")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][6:])
    assert out["anonymous"] == 401 and out["bad_token"] == 401
    assert out["page"] == 200 and out["page_has_source"] and "default-src" in out["csp"]
    assert out["post_without_csrf"] == 403
    assert out["post_with_csrf"] == 303
    assert out["api"] == ["https://example.org/added-in-ui", "https://example.org/watched"]
    assert out["added_by"] == ["airflow:admin"]
    assert "network policy" in out["hostile"]
    assert "web option viewport_width=-5: must be a whole number" in out["bad_option"]
    assert "https://example.org/bad-option" not in out["options_after"]
    assert out["good_option"] == 303
    assert out["options_after"]["https://example.org/with-option"] == {"pdf": True, "media_min_bytes": 5}
    assert out["captures"] == 200 and out["audit"] == 200 and out["unknown_capture"] == 404
    assert out["audit_summary"], "the audit page summarises sealing"
    assert out["audit_staging"] and out["custody"]["interrupted_in_staging"] == 1
    assert out["custody"]["captures"] == 1 and out["custody"]["unsealed"] == 1
    assert out["custody"]["ledger_head"] >= 2 and out["custody"]["ledger_last_event"]
