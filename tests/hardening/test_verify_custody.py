"""``verify`` answers for custody: S3 retention of every object and the ledger's chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kernel.settings import load_settings
from preservation.custody.ledger import ledger_key
from preservation.custody.retention import object_problem
from preservation.store import ObjectInfo
from tests.support.custody_helpers import capture, cli, store_path, writable

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("info", "kind"), [
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=30), "COMPLIANCE"), None),
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=400), "COMPLIANCE"), None),  # extended
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=30, minutes=-30), "COMPLIANCE"), None),  # clocks
    (ObjectInfo("k", 1, NOW, None, None), "no-retention"),
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=30), None), "no-retention"),
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=30), "GOVERNANCE"), "weak-retention"),
    (ObjectInfo("k", 1, NOW, NOW + timedelta(days=29), "COMPLIANCE"), "short-retention"),
])
def test_object_problem(info, kind):
    problem = object_problem(info, "COMPLIANCE", 30)
    assert (problem.kind if problem else None) == kind


def test_governance_is_satisfied_by_compliance():
    info = ObjectInfo("k", 1, NOW, NOW + timedelta(days=30), "COMPLIANCE")
    assert object_problem(info, "GOVERNANCE", 30) is None


def test_file_store_says_retention_is_not_checked_and_ledger_is(runtime, capsys):
    rt = runtime
    a = capture(rt, {"page.html": b"<p>one</p>"})
    capture(rt, {"page.html": b"<p>two</p>"}, url="https://example.org/two")
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 0
    assert "retention: not checked: " in out and "has no Object Lock" in out
    assert "ledger: " in out and "chain intact" in out
    report = json.loads(cli(capsys, "verify", a.capture_id, "--json")[1])
    assert report["retention"]["skipped"] and report["ledger"]["ok"]

    entry = store_path(rt, ledger_key(2))
    writable(entry)
    entry.unlink()
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1 and f"FAIL missing-entry: {ledger_key(2)}" in out
    code, out, _ = cli(capsys, "verify", a.capture_id)
    assert code == 1, "one capture's verify runs the ledger check too"
    code, out, _ = cli(capsys, "verify", "--all", "--no-ledger", "--json")
    assert code == 0 and json.loads(out)["ledger"] is None


@pytest.fixture
def s3_env(seaweedfs, wb_env, monkeypatch):
    bucket = seaweedfs.make_bucket(object_lock=True)
    env = {
        "STORE": f"s3://{bucket}/archive",
        "S3_ENDPOINT": seaweedfs.endpoint,
        "S3_ACCESS_KEY": seaweedfs.access_key,
        "S3_SECRET_KEY": seaweedfs.secret_key,
        "S3_SECURE": "0",
        "RETENTION_DAYS": "1",
        "RETENTION_MODE": "GOVERNANCE",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"WITNESSBOX_{name}", value)
    return bucket


@pytest.mark.s3
def test_s3_retention_of_every_object_is_checked(seaweedfs, s3_env, monkeypatch, capsys):
    import io

    from preservation.runtime import open_runtime

    rt = open_runtime(load_settings())
    try:
        a = capture(rt, {"page.html": b"<p>kept</p>", "photo.jpg": 20_000})
    finally:
        rt.close()
    code, out, _ = cli(capsys, "verify", "--all", "--json")
    report = json.loads(out)
    assert code == 0, report["problems"]
    every = list(seaweedfs.client().list_objects(s3_env, prefix="archive/", recursive=True))
    # everything but the ledger entry this audit wrote after checking
    assert report["retention"]["checked"] == len(every) - 1 >= 6
    one = json.loads(cli(capsys, "verify", a.capture_id, "--json")[1])
    assert 4 <= one["retention"]["checked"] < len(every)

    # the configuration now asks for more than the objects were given
    monkeypatch.setenv("WITNESSBOX_RETENTION_MODE", "COMPLIANCE")
    code, out, _ = cli(capsys, "verify", "--all", "--json")
    kinds = {p["kind"] for p in json.loads(out)["problems"]}
    assert code == 1 and kinds == {"weak-retention"}
    monkeypatch.setenv("WITNESSBOX_RETENTION_MODE", "GOVERNANCE")
    monkeypatch.setenv("WITNESSBOX_RETENTION_DAYS", "30")
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1 and f"FAIL short-retention: {a.manifest_key}" in out
    assert cli(capsys, "verify", "--all", "--no-retention")[0] == 0
    monkeypatch.setenv("WITNESSBOX_RETENTION_DAYS", "1")

    # an object written on top without the lock (a new version) is named
    client = seaweedfs.client()
    client.put_object(s3_env, f"archive/{a.manifest_key}.extra", io.BytesIO(b"x"), 1)
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1 and f"FAIL no-retention: {a.manifest_key}.extra" in out


def test_a_store_out_of_reach_leaves_retention_unknown_not_passed(runtime, monkeypatch):
    from kernel.errors import StorageError
    from preservation.custody.audit import run_audit

    rt = runtime
    a = capture(rt, {"page.html": b"<p>kept</p>"})

    def unreachable(prefix=""):
        raise StorageError("connection refused")

    monkeypatch.setattr(rt.store, "list", unreachable)
    report = run_audit(rt, capture_id=a.capture_id, ledger=False, record=False)
    assert report.retention == {"checked": 0,
                                "skipped": "the primary is out of reach: connection refused"}
    assert "unreadable: retention (connection refused)" in [str(p) for p in report.problems]
    assert not report.ok
