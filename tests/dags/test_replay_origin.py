"""Replay from a second origin: tickets and passes through the real Airflow API server app."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.dags.test_search_ui import CAPTURE, CLIENT, replay_accesses

SCRIPT = CLIENT + textwrap.dedent(
    """
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app

    out["anonymous"] = client.get(f"/witnessbox/replay/{capture}").status_code
    sent = client.get(f"/witnessbox/replay/{capture}", **auth)
    out["sent"] = [sent.status_code, sent.headers.get("location", "")]
    ticket_url = sent.headers["location"]
    out["forged"] = client.get(ticket_url[:-3] + "xyz").status_code
    out["other_capture"] = client.get(ticket_url.replace(f"/replay-open/{capture}", "/replay-open/nope")).status_code
    out["open_on_airflow"] = client.get(ticket_url.replace("http://replay.test", "")).status_code
    opened = client.get(ticket_url)
    out["opened"] = [opened.status_code, opened.headers.get("location"), opened.headers.get("set-cookie", "")]
    page = client.get(f"http://replay.test/witnessbox/replay/{capture}")
    out["page"] = [page.status_code, page.text]
    ranged = client.get(f"http://replay.test/witnessbox/replay/{capture}/capture.wacz", headers={"Range": "bytes=0-3"})
    out["wacz"] = [ranged.status_code, list(ranged.content)]
    out["assets"] = [client.get(f"http://replay.test/witnessbox/{p}").status_code
                     for p in ("replay-assets/ui.js", "replay-assets/replay/sw.js", "replay-assets/replay/")]
    out["unknown"] = client.get("http://replay.test/witnessbox/replay/nope").status_code
    # the replay origin serves nothing else, even with a valid Airflow login
    out["guard"] = [client.get("http://replay.test" + p, **auth).status_code
                    for p in ("/witnessbox/watchlist", "/witnessbox/api/captures", "/", "/auth/token")]
    out["guard_api"] = client.get("http://replay.test/api/v2/dags",
                                  headers={"Authorization": f"Bearer {token}"}).status_code
    # the pass opens nothing on the Airflow origin
    pass_value = opened.cookies.get("witnessbox_replay")
    fresh = TestClient(create_app(), follow_redirects=False)
    out["pass_elsewhere"] = [fresh.get(p, cookies={"witnessbox_replay": pass_value}).status_code
                             for p in ("/witnessbox/captures", f"/witnessbox/replay/{capture}/capture.wacz")]
    # the Airflow origin itself is unchanged: the other pages answer
    out["airflow"] = client.get("/witnessbox/captures", **auth).status_code
    print("RESULT" + json.dumps(out))
    """
)


@pytest.mark.slow
def test_replay_moves_to_its_own_origin_with_a_pass_for_one_capture(airflow_env, tmp_path):
    env = dict(airflow_env)
    env["WITNESSBOX_HOME"] = str(tmp_path / "wb")
    env["WITNESSBOX_REPLAY_ORIGIN"] = "http://replay.test"
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    subprocess.run([witnessbox, "watch", "add", "https://example.org/statement"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", CAPTURE], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][6:])
    capture = out["capture"]
    assert out["anonymous"] == 401
    status, location = out["sent"]
    assert status == 303
    assert location.startswith(f"http://replay.test/witnessbox/replay-open/{capture}?ticket=")
    assert out["forged"] == 401 and out["other_capture"] == 401 and out["open_on_airflow"] == 404
    status, location, cookie = out["opened"]
    assert status == 303 and location == f"/witnessbox/replay/{capture}"
    assert "witnessbox_replay=" in cookie and f"Path=/witnessbox/replay/{capture}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    status, html = out["page"]
    assert status == 200 and "<replay-web-page" in html
    assert out["wacz"] == [206, list(b"PK\x03\x04")]
    assert out["assets"] == [200, 200, 200]
    assert out["unknown"] == 401  # a pass for one capture opens no other
    assert out["guard"] == [403] * 4 and out["guard_api"] == 403
    assert out["pass_elsewhere"] == [401, 401]
    assert out["airflow"] == 200
    (entry,) = replay_accesses(env)  # one page view on the replay origin, by the ticket's user
    assert entry["actor"] == "airflow:admin" and entry["data"]["isolated"] is True
    # the replay key was made once, readable by its owner only
    key = tmp_path / "wb" / "keys" / "replay.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(bytes.fromhex(key.read_text())) == 32
