"""The S3 server dies while a capture's blobs are being uploaded, then comes back.

A dedicated SeaweedFS (not the session's shared one) is SIGKILLed in the middle of a blob's
upload: the first blob is stored, the second is half sent. The capture process fails with
one line; nothing half-written is visible (no manifest, no partial object); after a restart
the next run commits the capture whole under its original id and ``verify --all`` passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kernel.settings import load_settings
from preservation.cli.main import main
from preservation.formats import manifest as manifests
from tests.support import seaweedfs as weed

pytestmark = pytest.mark.s3
ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20

UPLOAD_THEN_HANG = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from kernel.settings import load_settings
    from preservation.catalogue.models import Source
    from preservation.cli.main import main
    from preservation.runner import capture_source
    from preservation.runtime import open_runtime
    from preservation.store import s3, s3_wire
    from tests.support.fake_collector import StaticCollector

    confirmed = []
    original_confirm, original_read = s3.S3Store._confirm_blob, s3_wire.SentBytesCheck.read

    def confirm(self, key, digests, wanted):
        original_confirm(self, key, digests, wanted)
        confirmed.append(key)

    def read(self, size=-1):
        if confirmed and self._seen >= 4 * {mib}:  # the second blob, well under way
            Path({marker!r}).write_text(str(len(confirmed)))
            time.sleep(0.2)  # slow from here on: the server dies meanwhile
        return original_read(self, size)

    s3.S3Store._confirm_blob, s3_wire.SentBytesCheck.read = confirm, read
    rt = open_runtime(load_settings())
    rt.collectors["web"] = StaticCollector(
        {{"first.bin": 3 * {mib}, "second.bin": 24 * {mib}, "third.txt": b"third"}}
    )
    with rt.catalogue.session() as s:
        source = s.get(Source, {source_id!r})
    try:
        capture_source(rt, source)
    except Exception as exc:
        print("FAILED", type(exc).__name__, str(exc).splitlines()[0], flush=True)
        sys.exit(1)
    print("COMMITTED", flush=True)
    """
)


@pytest.fixture
def own_server(tmp_path):
    (tmp_path / "weed").mkdir()
    server = weed.start(tmp_path / "weed")
    yield server
    weed.stop(server.process)


def test_outage_mid_upload_commits_whole_under_the_original_id(own_server, tmp_path, monkeypatch, capsys):
    from kernel.netpolicy import NetworkPolicy
    from preservation.catalogue import watchlist
    from preservation.runtime import open_runtime

    server = own_server
    bucket = server.make_bucket(object_lock=True)
    env = {
        "WITNESSBOX_HOME": str(tmp_path / "home"),
        "WITNESSBOX_STORE": f"s3://{bucket}",
        "WITNESSBOX_S3_ENDPOINT": server.endpoint,
        "WITNESSBOX_S3_ACCESS_KEY": server.access_key,
        "WITNESSBOX_S3_SECRET_KEY": server.secret_key,
        "WITNESSBOX_S3_SECURE": "0",
        "WITNESSBOX_RETENTION_DAYS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = open_runtime(load_settings())
    spec = watchlist.validate_entry("https://example.org/outage", NetworkPolicy(), kind="web")
    source = watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())
    rt.close()

    marker = tmp_path / "uploading"
    script = UPLOAD_THEN_HANG.format(root=str(ROOT), marker=str(marker), source_id=source.id, mib=MiB)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the upload never reached the second blob"
        time.sleep(0.05)
    assert marker.read_text() == "1", "exactly one blob was stored before the outage"
    os.killpg(server.process.pid, signal.SIGKILL)  # a power cut, not a clean stop
    server.process.wait(10)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "FAILED StorageError" in out, (out, err[-2000:])
    staged = [p for p in (tmp_path / "home" / "staging").iterdir() if p.is_dir()]
    assert len(staged) == 1 and (staged[0] / "pending.json").is_file(), "the capture waits in staging"
    capture_id = staged[0].name

    weed.restart(server)
    client = server.client()
    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    assert not any(n.startswith("captures/") for n in names), "no manifest before the commit"
    blobs = [n for n in names if n.startswith("blobs/")]
    assert len(blobs) <= 1, f"only the blob confirmed before the outage is visible: {blobs}"

    code = main(["run", "--json"])  # the next run completes the capture first
    data = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # the due source itself cannot be fetched here (no network)
    resumed = [c for c in data["captures"] if c["resumed"]]
    assert [c["capture_id"] for c in resumed] == [capture_id]
    assert resumed[0]["status"] == "complete" and resumed[0]["artifacts"] == 3
    rt = open_runtime(load_settings())
    try:
        manifest = manifests.parse(rt.store.read_bytes(resumed[0]["manifest_key"]))
        assert manifest["capture"]["id"] == capture_id
        sizes = {a["name"]: a["size"] for a in manifest["artifacts"]}
        assert sizes == {"first.bin": 3 * MiB, "second.bin": 24 * MiB, "third.txt": 5}
    finally:
        rt.close()
    code = main(["verify", "--all"])
    out = capsys.readouterr().out
    assert code == 0, out
