"""Search, changes and replay pages inside the real Airflow API server app."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: an admin's client in the real API server app, and the first capture's id
CLIENT = textwrap.dedent(
    """
    import json
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app

    client = TestClient(create_app(), follow_redirects=False)
    token = client.post("/auth/token", json={"username": "admin", "password": "admin-pw"}).json()["access_token"]
    auth = {"cookies": {"_token": token}}
    capture = client.get("/witnessbox/api/captures", **auth).json()[0]["id"]
    out = {"capture": capture}
    """
)
SCRIPT = CLIENT + textwrap.dedent(
    """
    out["anonymous"] = [client.get(p).status_code for p in (
        "/witnessbox/search?q=x", "/witnessbox/changes", f"/witnessbox/replay/{capture}",
        f"/witnessbox/replay/{capture}/capture.wacz", "/witnessbox/replay-assets/replay/sw.js",
        "/witnessbox/replay-assets/replay/")]
    page = client.get("/witnessbox/search", params={"q": "журналіст*"}, **auth)
    out["search"] = [page.status_code, page.text]
    out["api"] = client.get("/witnessbox/api/search", params={"q": "МІНСКУ", "kind": "web"}, **auth).json()
    out["api_source"] = client.get("/witnessbox/api/search", params={"q": "мінску", "source": "nope"}, **auth).json()
    out["bad"] = client.get("/witnessbox/api/search", params={"q": '"open'}, **auth).status_code
    out["bad_page"] = client.get("/witnessbox/search", params={"q": "*"}, **auth).text
    out["captures_box"] = "name='q'" in client.get("/witnessbox/captures", **auth).text
    out["capture_page"] = client.get(f"/witnessbox/captures/{capture}", **auth).text
    out["changes"] = client.get("/witnessbox/changes", **auth).status_code
    out["api_changes"] = client.get("/witnessbox/api/changes?since=1d", **auth).json()
    replay = client.get(f"/witnessbox/replay/{capture}", **auth)
    out["replay"] = [replay.status_code, replay.text]
    ranged = client.get(f"/witnessbox/replay/{capture}/capture.wacz", headers={"Range": "bytes=4-7"}, **auth)
    out["range"] = [ranged.status_code, list(ranged.content), ranged.headers.get("content-range")]
    out["whole"] = len(client.get(f"/witnessbox/replay/{capture}/capture.wacz", **auth).content)
    out["416"] = client.get(f"/witnessbox/replay/{capture}/capture.wacz", headers={"Range": "bytes=99999-"}, **auth).status_code
    sw = client.get("/witnessbox/replay-assets/replay/sw.js", **auth)
    out["sw"] = [sw.status_code, sw.headers.get("content-type"), len(sw.content)]
    out["unknown"] = client.get("/witnessbox/replay/nope", **auth).status_code
    app = client.get("/witnessbox/replay-assets/replay/?source=x", **auth)
    out["app"] = [app.status_code, app.text]
    out["app_ui"] = client.get("/witnessbox/replay-assets/replay/ui.js", **auth).status_code
    print("RESULT" + json.dumps(out))
    """
)

CAPTURE = textwrap.dedent(
    """
    import collectors.registry as registry
    from preservation.cli.main import main
    registry.COLLECTORS["web"] = "tests.support.search_site:TextPageCollector"
    raise SystemExit(main(["run"]))
    """
)


@pytest.mark.slow
def test_search_changes_and_replay_pages(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    subprocess.run([witnessbox, "watch", "add", "https://example.org/statement", "--case", "C1"],
                   env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", CAPTURE], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][6:])
    assert out["anonymous"] == [401] * 6
    status, html = out["search"]
    assert status == 200 and "<mark>журналістаў</mark>" in html and out["capture"] in html
    assert [(h["field"], h["case"]) for h in out["api"]] == [("page", "C1")]
    assert out["api_source"] == []
    assert out["bad"] == 400 and "error: bad search query: a prefix" in out["bad_page"]
    assert out["captures_box"]
    assert f'href="../replay/{out["capture"]}"' in out["capture_page"]
    assert out["changes"] == 200 and out["api_changes"] == []
    status, html = out["replay"]
    assert status == 200 and "<replay-web-page" in html
    assert f"source='/witnessbox/replay/{out['capture']}/capture.wacz'" in html
    assert "replaybase='/witnessbox/replay-assets/replay/'" in html
    assert out["range"] == [206, [0, 1, 2, 3], "bytes 4-7/10244"]
    assert out["whole"] == 10244 and out["416"] == 416
    assert out["sw"][0] == 200 and out["sw"][1].startswith("application/javascript")
    assert out["sw"][2] > 100_000 and out["unknown"] == 404
    # before the worker controls replay/, the server's page registers it and reloads
    assert out["app"][0] == 200 and "serviceWorker.register('sw.js?serveIndex=1'" in out["app"][1]
    assert out["app_ui"] == 200
    # the one replay page served left one access entry (the WACZ's ranges add none)
    (entry,) = replay_accesses(env)
    assert entry["actor"] == "airflow:admin" and entry["subject"] == out["capture"]
    assert entry["data"]["artifact"].endswith(".wacz") and entry["data"]["via"] == "airflow-ui"


def replay_accesses(env: dict[str, str]) -> list[dict]:
    """The ``accessed`` ledger entries replays left (``witnessbox ledger list``)."""
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    listed = subprocess.run([witnessbox, "ledger", "list", "--json"], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return [e for e in json.loads(listed.stdout)
            if e["event"] == "accessed" and e["data"]["reason"].startswith("replayed")]  # fmt: skip
