"""The pages' roles, forms and downloads inside the real Airflow API server app."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, re
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app
    from witnessbox_airflow.ui.auth import csrf_for

    client = TestClient(create_app(), follow_redirects=False)
    def token(user):
        return client.post("/auth/token", json={"username": user, "password": user + "-pw"}).json()["access_token"]
    t = {u: token(u) for u in ("admin", "operator", "analyst", "viewer")}
    def get(path, user):
        return client.get(path, cookies={"_token": t[user]})
    def post(path, user, data=None, files=None, csrf=True):
        form = dict(data or {})
        if csrf:
            form["csrf"] = csrf_for(t[user])
        return client.post(path, data=form, files=files, cookies={"_token": t[user]})
    out = {}
    sid = json.loads(get("/witnessbox/api/watchlist", "viewer").text)[0]["id"]
    page = get("/witnessbox/watchlist", "viewer").text
    out["viewer_sees_no_form"] = 'id="add"' not in page and "/pause" not in page
    out["viewer_add"] = post("/witnessbox/watchlist", "viewer", {"url": "https://example.org/v"}).status_code
    out["analyst_pause"] = post(f"/witnessbox/watchlist/{sid}/pause", "analyst").status_code
    out["operator_resume"] = post(f"/witnessbox/watchlist/{sid}/resume", "operator").status_code
    out["analyst_remove"] = post(f"/witnessbox/watchlist/{sid}/remove", "analyst").status_code
    out["operator_remove"] = post(f"/witnessbox/watchlist/{sid}/remove", "operator").status_code
    out["operator_audit"] = post("/witnessbox/audit/run", "operator").status_code
    analyst_page = get("/witnessbox/watchlist", "analyst").text
    out["analyst_sees_no_remove"] = "/remove" not in analyst_page and 'id="add"' in analyst_page
    out["admin_sees_remove"] = f"/watchlist/{sid}/remove" in get("/witnessbox/watchlist", "admin").text
    bad = post("/witnessbox/watchlist", "analyst", {"url": "https://example.org/typed", "every": "9 fortnights",
                                                   "case": "KEEP-ME", "note": "what I typed"})
    out["bad_add"] = [bad.status_code, "bad schedule" in bad.text, 'value="KEEP-ME"' in bad.text,
                      'value="what I typed"' in bad.text, 'value="https://example.org/typed"' in bad.text]
    csv = "url,case,tags\\nhttps://example.org/i1,IMP,a;b\\nhttps://example.org/i2,IMP,\\n"
    imported = post("/witnessbox/watchlist/import", "analyst", files={"file": ("list.csv", csv, "text/csv")})
    out["import"] = [imported.status_code, imported.headers.get("location", "")]
    broken = post("/witnessbox/watchlist/import", "analyst",
                  files={"file": ("list.csv", "url\\nhttp://169.254.169.254/\\n", "text/csv")})
    out["import_bad"] = [broken.status_code, "nothing imported" in broken.text]
    listed = json.loads(get("/witnessbox/api/watchlist", "viewer").text)
    out["imported"] = sorted(s["url"] for s in listed if s["case"] == "IMP")
    out["filtered"] = "example.org/i1" in get("/witnessbox/watchlist?case=IMP&tag=a", "viewer").text and \\
        "example.org/i2" not in get("/witnessbox/watchlist?case=IMP&tag=a", "viewer").text
    out["admin_remove"] = post(f"/witnessbox/watchlist/{sid}/remove", "admin").status_code
    out["removed_gone"] = sid not in get("/witnessbox/api/watchlist", "viewer").text
    captures = json.loads(get("/witnessbox/api/captures", "viewer").text)
    cid = captures[0]["id"]
    detail = get(f"/witnessbox/captures/{cid}", "viewer").text
    out["detail"] = ["page.html" in detail, "sha512" in detail, "Provenance" in detail]
    download = get(f"/witnessbox/captures/{cid}/files/page.html", "viewer")
    out["download"] = [download.status_code, download.content.decode(), download.headers.get("content-disposition"),
                       download.headers.get("x-content-type-options")]
    out["missing_file"] = get(f"/witnessbox/captures/{cid}/files/nope.bin", "viewer").status_code
    after = get(f"/witnessbox/captures/{cid}", "viewer").text
    trail = after.split('<table id="custody">', 1)[1].split("</table>", 1)[0]
    out["trail"] = [("<td>captured</td>" in trail), ("<td>stored</td>" in trail),
                    ("<td>accessed</td>" in trail), ("page.html; downloaded from the Captures page" in trail),
                    "Chain of custody" in detail, "<td>accessed</td>" not in detail.split('id="custody"', 1)[1]]
    out["bad_date"] = get("/witnessbox/captures?since=yesterday", "viewer").status_code
    out["unauth"] = [client.get("/witnessbox/watchlist").status_code, "/api/v2/auth/login?next=" in client.get("/witnessbox/watchlist").text]
    print("RESULT" + json.dumps(out))
    """
)


@pytest.mark.slow
def test_roles_forms_imports_and_downloads(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    passwords = tmp_path / "passwords.json"
    users = ("admin", "operator", "analyst", "viewer")
    passwords.write_text(json.dumps({u: f"{u}-pw" for u in users}))
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin,operator:op,analyst:user,viewer:viewer"
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    subprocess.run([witnessbox, "watch", "add", "https://example.org/watched"], env=env, check=True,
                   capture_output=True)
    capture = textwrap.dedent("""
        import collectors.registry as registry
        from preservation.cli.main import main
        registry.COLLECTORS["web"] = "tests.support.fake_collector:StaticCollectorWithPage"
        raise SystemExit(main(["run"]))
    """)
    subprocess.run([sys.executable, "-c", capture], env=env, check=True, capture_output=True)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][6:])
    assert out["viewer_sees_no_form"] and out["viewer_add"] == 403
    assert out["analyst_pause"] == 303 and out["operator_resume"] == 303
    assert out["analyst_remove"] == 403 and out["operator_remove"] == 403 and out["operator_audit"] == 403
    assert out["analyst_sees_no_remove"] and out["admin_sees_remove"]
    assert out["bad_add"] == [400, True, True, True, True]
    assert out["import"][0] == 303 and "imported+2+source" in out["import"][1]
    assert out["import_bad"] == [400, True]
    assert out["imported"] == ["https://example.org/i1", "https://example.org/i2"] and out["filtered"]
    assert out["admin_remove"] == 303 and out["removed_gone"]
    assert out["detail"] == [True, True, True]
    status, body, disposition, nosniff = out["download"]
    assert status == 200 and body == "<html><body>statement</body></html>"
    assert disposition == 'attachment; filename="page.html"' and nosniff == "nosniff"
    assert out["missing_file"] == 404 and out["bad_date"] == 400
    assert out["trail"] == [True] * 6, out["trail"]  # the capture page shows its chain of custody
    assert out["unauth"] == [401, True]
    # the download is in the custody ledger: who read which artifact, and why
    entries = json.loads(subprocess.run([witnessbox, "--json", "ledger", "list"], env=env, capture_output=True,
                                        text=True, check=True).stdout)
    accessed = [e for e in entries if e["event"] == "accessed"]
    assert len(accessed) == 1 and accessed[0]["actor"] == "airflow:viewer"
    assert accessed[0]["data"]["artifact"] == "page.html" and "downloaded" in accessed[0]["data"]["reason"]
