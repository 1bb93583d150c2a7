"""Custody on the S3 backend (a real SeaweedFS): tampering is named, Object Lock holds.

The filesystem cases live in test_audit.py and test_ledger.py; here the attacker works
through the S3 API itself, with the same credentials witnessbox uses.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error

from kernel.settings import load_settings
from preservation.custody.ledger import ledger_key
from preservation.custody.signing import signature_key
from tests.support import custody_tsa
from tests.support.custody_helpers import capture, cli

pytestmark = pytest.mark.s3
local_tsa, tsa = custody_tsa.local_tsa, custody_tsa.tsa


def fails(out: str) -> list[str]:
    return [line.removeprefix("FAIL ") for line in out.splitlines() if line.startswith("FAIL ")]


def _s3_runtime(seaweedfs, wb_env, monkeypatch, object_lock: bool):
    from preservation.runtime import open_runtime

    bucket = seaweedfs.make_bucket(object_lock=object_lock)
    for name, value in seaweedfs.witnessbox_env(bucket).items():
        monkeypatch.setenv(name, value)
    return bucket, open_runtime(load_settings())


@pytest.fixture
def s3rt(seaweedfs, wb_env, monkeypatch):
    bucket, rt = _s3_runtime(seaweedfs, wb_env, monkeypatch, object_lock=False)
    yield bucket, rt
    rt.close()


@pytest.fixture
def locked_rt(seaweedfs, wb_env, monkeypatch):
    bucket, rt = _s3_runtime(seaweedfs, wb_env, monkeypatch, object_lock=True)
    yield bucket, rt
    rt.close()


def _blob(rt, outcome, name: str) -> dict:
    manifest = json.loads(rt.store.read_bytes(outcome.manifest_key))
    return next(a for a in manifest["artifacts"] if a["name"] == name)


def _flip_object(client, bucket: str, name: str, offset: int = 0) -> None:
    """Rewrite an object with one byte changed, as anyone holding the keys could."""
    data = bytearray(client.get_object(bucket, name).read())
    data[offset] ^= 0x01
    client.put_object(bucket, name, io.BytesIO(bytes(data)), len(data))


def test_tampering_through_the_s3_api_is_named(seaweedfs, s3rt, capsys):
    bucket, rt = s3rt
    client = seaweedfs.client()
    a = capture(rt, {"page.html": b"<p>one</p>", "video.mp4": 6 << 20})
    b = capture(rt, {"page.html": b"<p>two</p>"}, url="https://example.org/other")
    c = capture(rt, {"page.html": b"<p>three</p>"})
    assert cli(capsys, "verify", "--all")[0] == 0

    video = _blob(rt, a, "video.mp4")["key"]
    gone = _blob(rt, b, "page.html")["key"]
    _flip_object(client, bucket, f"archive/{video}", offset=(6 << 20) - 1)
    client.remove_object(bucket, f"archive/{gone}")
    _flip_object(client, bucket, f"archive/{c.manifest_key}", offset=1)  # '{' -> 'z'
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    found = fails(out)
    assert any(f.startswith(f"digest-mismatch: {video} (video.mp4 of {a.capture_id}") for f in found)
    assert f"missing-object: {gone} (page.html of {b.capture_id})" in found
    changed = [f for f in found if f.startswith(f"manifest-changed: {c.manifest_key}")]
    assert len(changed) == 2, found  # against the catalogue and against the ledger
    assert {f.split(":")[0] for f in found} <= {
        "digest-mismatch", "missing-object", "manifest-changed", "bad-manifest",
        "bad-signature", "misplaced-manifest",
    }
    code, out, _ = cli(capsys, "verify", "--all", "--json")
    assert code == 1
    assert sorted(json.loads(out)["failed_captures"]) == sorted(
        [a.capture_id, b.capture_id, c.capture_id]
    )

    # a ledger entry removed from the bucket
    assert cli(capsys, "ledger", "verify")[0] == 0
    client.remove_object(bucket, f"archive/{ledger_key(3)}")
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1
    assert f"missing-entry: {ledger_key(3)} (removed from the store)" in fails(out)


def test_object_lock_retains_every_custody_object_and_refuses_deletion(
    seaweedfs, locked_rt, capsys, tsa
):
    bucket, rt = locked_rt
    client = seaweedfs.client()
    a = capture(rt, {"page.html": b"<p>kept</p>", "photo.jpg": 50_000})
    assert cli(capsys, "seal", "--tsa", tsa.url, "--trust", str(tsa.ca_pem))[0] == 0
    assert cli(capsys, "verify", "--all")[0] == 0

    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    kinds = {n.removeprefix("archive/").split("/")[0] for n in names}
    assert {"blobs", "captures", "ledger", "seals", "keys"} <= kinds, kinds
    expected_until = datetime.now(UTC) + timedelta(days=1)
    for name in names:
        retention = client.get_object_retention(bucket, name)
        assert retention is not None and retention.mode == COMPLIANCE, name
        assert abs(retention.retain_until_date - expected_until) < timedelta(minutes=10), name

    blob = _blob(rt, a, "photo.jpg")["key"]
    protected = [blob, a.manifest_key, signature_key(a.manifest_key), ledger_key(1)]
    for key in protected:
        name = f"archive/{key}"
        version = client.stat_object(bucket, name).version_id
        with pytest.raises(S3Error) as refused:
            client.remove_object(bucket, name, version_id=version)
        assert refused.value.code == "AccessDenied", key

    # what the lock cannot stop: a new version on top, or a delete marker. The audit sees
    # both, and the retained original version is still there to recover from.
    page = _blob(rt, a, "page.html")["key"]
    original = client.stat_object(bucket, f"archive/{page}").version_id
    _flip_object(client, bucket, f"archive/{page}")
    client.remove_object(bucket, f"archive/{blob}")  # no version id: a delete marker
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    found = fails(out)
    assert any(f.startswith(f"digest-mismatch: {page} (page.html of {a.capture_id}") for f in found)
    assert f"missing-object: {blob} (photo.jpg of {a.capture_id})" in found
    kept = client.get_object(bucket, f"archive/{page}", version_id=original).read()
    assert kept == b"<p>kept</p>"
