"""End to end: ``witnessbox capture URL --kind web`` stores a verified web capture."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from preservation.warc import check_warc, iter_records
from tests.support.web_site import SiteServer, start_site

WITNESSBOX = str(Path(sys.executable).with_name("witnessbox"))
pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> SiteServer:
    server = start_site()
    yield server
    server.close()


def witnessbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WITNESSBOX, *args], env=env, capture_output=True, text=True, timeout=300)


def blob(home: Path, key: str) -> bytes:
    data = (home / "store" / key).read_bytes()
    assert key.endswith(hashlib.sha256(data).hexdigest()), "a blob is named by its sha256"
    return data


def test_capture_command_stores_a_web_capture_in_the_file_store(site: SiteServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "WITNESSBOX_HOME": str(home), "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "1"}
    assert witnessbox(env, "init").returncode == 0
    done = witnessbox(env, "capture", site.url("/"), "--kind", "web", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "complete", outcome

    manifest = json.loads((home / "store" / outcome["manifest_key"]).read_text())
    assert manifest["capture"]["collector"]["name"] == "web"
    assert manifest["tools"]["chromium"] and manifest["tools"]["playwright"]
    assert manifest["network"]["remote_addresses"] == {f"http://127.0.0.1:{site.port}": f"127.0.0.1:{site.port}"}
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    roles = {a["role"] for a in artifacts.values()}
    assert {"warc", "wacz", "screenshot", "dom", "text", "page-info", "media"} <= roles

    warc = tmp_path / "stored.warc.gz"
    warc.write_bytes(blob(home, artifacts["capture.warc.gz"]["key"]))
    assert check_warc(warc) == []
    photo = next(a for a in artifacts.values() if a["platform"].get("url") == site.url("/img/photo.png"))
    assert blob(home, photo["key"]) == site.bodies["/img/photo.png"]
    assert photo["derived_from"] == artifacts["capture.warc.gz"]["sha256"]
    record_ids = {r.record_id: r.uri for r in iter_records(warc)}
    assert record_ids[photo["platform"]["warc_record_id"]] == site.url("/img/photo.png")
    wacz = tmp_path / "stored.wacz"
    wacz.write_bytes(blob(home, artifacts["capture.wacz"]["key"]))
    with zipfile.ZipFile(wacz) as zf:
        assert zf.read("archive/capture.warc.gz") == warc.read_bytes()

    shown = witnessbox(env, "show", outcome["capture_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "complete"


def test_capture_command_refuses_loopback_without_the_operator_allowing_it(
    site: SiteServer, tmp_path: Path
) -> None:
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home")}
    env.pop("WITNESSBOX_ALLOW_PRIVATE_NETWORKS", None)
    done = witnessbox(env, "capture", site.url("/"), "--kind", "web", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    assert site.hits["/"] == 0
