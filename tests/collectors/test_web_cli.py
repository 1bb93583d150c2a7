"""End to end: ``witnessbox capture URL --kind web`` stores a verified web capture.

The same capture runs into both store backends: the file store and S3 (a real SeaweedFS with
Object Lock). Blobs are read back through the store, re-checked with ``warcio check`` and
``wacz validate``, and the capture passes ``witnessbox verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from collectors.formats.warc import iter_records
from kernel.settings import load_settings
from preservation.store import open_store
from preservation.store.base import Store
from tests.collectors.test_web import BIN, assert_wacz_valid
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


def blob(store: Store, key: str) -> bytes:
    data = store.read_bytes(key)
    assert key.endswith(hashlib.sha256(data).hexdigest()), "a blob is named by its sha256"
    return data


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A witnessbox environment whose store is the file store or a fresh Object Lock bucket."""
    env = {
        **os.environ,
        "WITNESSBOX_HOME": str(tmp_path / "home"),
        "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "1",
    }
    if request.param == "s3":
        s3 = request.getfixturevalue("seaweedfs")
        env.update(
            WITNESSBOX_STORE=f"s3://{s3.make_bucket(object_lock=True)}/cases/web",
            WITNESSBOX_S3_ENDPOINT=s3.endpoint,
            WITNESSBOX_S3_ACCESS_KEY=s3.access_key,
            WITNESSBOX_S3_SECRET_KEY=s3.secret_key,
            WITNESSBOX_S3_SECURE="0",
            WITNESSBOX_RETENTION_DAYS="1",
        )
    return env


def test_capture_command_stores_a_verified_web_capture(
    site: SiteServer, backend_env: dict[str, str], tmp_path: Path
) -> None:
    env = backend_env
    assert witnessbox(env, "init").returncode == 0
    done = witnessbox(env, "capture", site.url("/"), "--kind", "web", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "complete", outcome

    settings = load_settings(env)
    store = open_store(settings.store, **settings.s3_options())
    on_s3 = "WITNESSBOX_STORE" in env
    assert store.describe().startswith("s3://" if on_s3 else "file://")
    if on_s3:  # nothing went to the file store by mistake
        assert not list((Path(env["WITNESSBOX_HOME"]) / "store").rglob("*.png"))
    manifest = json.loads(store.read_bytes(outcome["manifest_key"]))
    assert manifest["capture"]["collector"]["name"] == "web"
    assert manifest["tools"]["chromium"] and manifest["tools"]["playwright"]
    assert manifest["network"]["remote_addresses"] == {f"http://127.0.0.1:{site.port}": f"127.0.0.1:{site.port}"}
    artifacts = {a["name"]: a for a in manifest["artifacts"]}
    roles = {a["role"] for a in artifacts.values()}
    assert {"warc", "wacz", "screenshot", "dom", "text", "page-info", "media"} <= roles

    warc = tmp_path / "stored.warc.gz"
    warc.write_bytes(blob(store, artifacts["capture.warc.gz"]["key"]))
    check = subprocess.run([BIN / "warcio", "check", "-v", warc], capture_output=True, text=True)
    assert check.returncode == 0 and "fail" not in check.stdout.lower(), check.stdout
    photo = next(a for a in artifacts.values() if a["platform"].get("url") == site.url("/img/photo.png"))
    assert blob(store, photo["key"]) == site.bodies["/img/photo.png"]
    assert photo["derived_from"] == artifacts["capture.warc.gz"]["sha256"]
    assert photo["sha512"] and photo["md5"]
    assert {p["algorithm"] for p in photo.get("perceptual", [])}, "media get perceptual hashes"
    assert photo.get("metadata"), "media get exiftool metadata"
    record_ids = {r.record_id: r.uri for r in iter_records(warc)}
    assert record_ids[photo["platform"]["warc_record_id"]] == site.url("/img/photo.png")
    wacz = tmp_path / "stored.wacz"
    wacz.write_bytes(blob(store, artifacts["capture.wacz"]["key"]))
    assert_wacz_valid(wacz)
    with zipfile.ZipFile(wacz) as zf:
        assert zf.read("archive/capture.warc.gz") == warc.read_bytes()
    screenshot = blob(store, artifacts["screenshot.png"]["key"])
    assert screenshot.startswith(b"\x89PNG")
    store.close()

    shown = witnessbox(env, "show", outcome["capture_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "complete"
    verified = witnessbox(env, "verify", outcome["capture_id"], "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_capture_command_refuses_loopback_without_the_operator_allowing_it(
    site: SiteServer, tmp_path: Path
) -> None:
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home")}
    env.pop("WITNESSBOX_ALLOW_PRIVATE_NETWORKS", None)
    done = witnessbox(env, "capture", site.url("/"), "--kind", "web", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    assert site.hits["/"] == 0
