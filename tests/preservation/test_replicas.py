"""Replicas: a file primary and two SeaweedFS servers (separate data dirs and ports).

``offsite`` is a plaintext S3 replica on the session's server; ``vault`` is an encrypted
S3 replica (witnessbox AES-256-GCM) on a second server of its own that the tests stop and
start again. Both buckets have Object Lock.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kernel.settings import load_settings
from preservation.custody.ledger import ledger_for
from preservation.runtime import open_runtime
from preservation.store import blob_key
from tests.support.custody_helpers import capture, cli, flip_byte
from tests.support.seaweedfs import restart, start, stop

PHRASE = b"the witness saw the convoy at the northern checkpoint"
PAGE = b"<html><body><p>" + PHRASE + b"</p></body></html>"


@pytest.fixture(scope="module")
def vault_server(tmp_path_factory):
    server = start(tmp_path_factory.mktemp("seaweedfs-vault"))
    yield server
    stop(server.process)


@pytest.fixture
def replicated(catalogue_url, wb_env, monkeypatch, seaweedfs, vault_server):
    """A home whose witnessbox.toml names the two replicas (on SQLite and on PostgreSQL,
    since the replication queue is a catalogue table); returns the buckets."""
    if vault_server.process.poll() is not None:
        restart(vault_server)
    home = Path(wb_env["WITNESSBOX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    buckets = {
        "offsite": (seaweedfs, seaweedfs.make_bucket(object_lock=True)),
        "vault": (vault_server, vault_server.make_bucket(object_lock=True)),
    }
    (home / "witnessbox.toml").write_text(
        "retention_days = 1\n"
        f'[[replicas]]\nname = "offsite"\nurl = "s3://{buckets["offsite"][1]}"\n'
        f'endpoint = "http://{seaweedfs.endpoint}"\n\n'
        f'[[replicas]]\nname = "vault"\nurl = "s3://{buckets["vault"][1]}"\n'
        f'endpoint = "http://{vault_server.endpoint}"\nencrypt = true\n'
    )
    for name, (server, _) in buckets.items():
        monkeypatch.setenv(f"WITNESSBOX_REPLICA_{name.upper()}_ACCESS_KEY", server.access_key)
        monkeypatch.setenv(f"WITNESSBOX_REPLICA_{name.upper()}_SECRET_KEY", server.secret_key)
    monkeypatch.setenv("WITNESSBOX_KEK", base64.b64encode(os.urandom(32)).decode())
    return buckets


def captured(files):
    """One capture through the real pipeline; the runtime is closed (replicas drained)."""
    rt = open_runtime(load_settings())
    try:
        outcome = capture(rt, files)
    finally:
        rt.close()
    return outcome


def status(capsys):
    code, out, err = cli(capsys, "replicas", "status", "--json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)}


def fails(out):
    return [line.removeprefix("FAIL ") for line in out.splitlines() if line.startswith("FAIL ")]


def raw(buckets, name, key):
    server, bucket = buckets[name]
    return server.client().get_object(bucket, key).read()


def overwrite(buckets, name, key, data):
    """Damage as a reader sees it: a new latest version (Object Lock keeps the old one),
    locked like the original, so that only its bytes are wrong."""
    from minio.commonconfig import COMPLIANCE
    from minio.retention import Retention

    server, bucket = buckets[name]
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    server.client().put_object(
        bucket, key, io.BytesIO(data), len(data), retention=Retention(COMPLIANCE, until)
    )


def manifest_of(outcome):
    rt = open_runtime(load_settings())
    try:
        return json.loads(rt.primary.read_bytes(outcome.manifest_key))
    finally:
        rt.close()


def test_a_capture_while_a_replica_is_down_commits_and_catches_up(replicated, vault_server, capsys):
    stop(vault_server.process)
    outcome = captured({"page.html": PAGE, "video.mp4": 2 << 20})
    assert outcome.status == "complete"  # committed: the primary holds it
    rows = status(capsys)
    assert rows["offsite"]["behind"] == 0 and rows["offsite"]["last_error"] is None
    assert rows["vault"]["behind"] >= 5  # two blobs, signature, manifest, ledger entries
    assert rows["vault"]["oldest_missing"].startswith(("blobs/", "keys/"))
    assert "vault" in rows["vault"]["last_error"]
    code, out, _ = cli(capsys, "replicas", "sync")
    assert code == 1 and "behind" in out  # still down: nothing lost, still queued

    restart(vault_server)
    code, out, err = cli(capsys, "replicas", "sync")
    assert code == 0, out + err
    assert "vault: copied" in out and "0 behind" in out
    assert status(capsys)["vault"]["behind"] == 0
    code, out, err = cli(capsys, "verify", "--all", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["copies"]["vault"] == {
        "ok": True,
        "blobs": 2,
        "bytes": report["copies"]["primary"]["bytes"],
        "problems": 0,
        "pending": 0,
    }
    assert report["copies"]["offsite"]["blobs"] == 2
    code, out, _ = cli(capsys, "ledger", "list", "--json")
    audited = json.loads(out)[-1]
    assert audited["event"] == "audited" and audited["data"]["copies"]["vault"]["ok"] is True
    rows = status(capsys)
    assert rows["vault"]["last_check_ok"] is True and rows["vault"]["last_check_at"]
    for name in ("offsite", "vault"):  # Object Lock retention on every S3 replica
        server, bucket = replicated[name]
        stat = server.client().stat_object(bucket, outcome.manifest_key)
        assert stat.metadata.get("x-amz-object-lock-mode") == "COMPLIANCE"


def test_a_flipped_byte_is_named_with_its_copy_and_repaired_from_a_good_one(
    replicated, settings, capsys
):
    outcome = captured({"page.html": PAGE})
    page = next(a for a in manifest_of(outcome)["artifacts"] if a["name"] == "page.html")
    key = page["key"]
    damaged = bytearray(raw(replicated, "offsite", key))
    damaged[3] ^= 0x01
    overwrite(replicated, "offsite", key, bytes(damaged))
    flip_byte(settings.home / "store" / key, offset=5)  # the primary too: only vault is good

    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    problems = fails(out)
    assert f"digest-mismatch: {key} (page.html of {outcome.capture_id}" in problems[0]
    assert any(
        p.startswith(f"digest-mismatch: {key} (replica=offsite: page.html") for p in problems
    )
    assert not any("replica=vault" in p for p in problems)

    code, out, err = cli(capsys, "verify", "--all", "--repair", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    repairs = {r["copy"]: r for r in report["repairs"]}
    assert set(repairs) == {"primary", "offsite"} and report["unrepaired"] == []
    assert {r["source"] for r in repairs.values()} == {"vault"}
    assert "new version" in repairs["offsite"]["note"]
    assert repairs["primary"]["note"] == "replaced the damaged copy"
    rt = open_runtime(load_settings())
    entries = [e for e in ledger_for(rt).entries() if e["event"] == "repaired"]
    rt.close()
    assert {e["data"]["copy"] for e in entries} == {"primary", "offsite"}
    for entry in entries:
        assert entry["subject"] == key and entry["data"]["restored_sha256"] == page["sha256"]
        assert entry["data"]["found_sha256"] not in (None, page["sha256"])
        assert entry["data"]["capture_id"] == outcome.capture_id
    assert raw(replicated, "offsite", key) == PAGE
    server, bucket = replicated["offsite"]
    versions = [v for v in server.client().list_objects(bucket, prefix=key, include_version=True)]
    assert len(versions) >= 3  # the original, the damaged one, the repair: nothing deleted

    code, out, err = cli(capsys, "verify", "--all")
    assert code == 0, out + err
    cli(capsys, "replicas", "sync")  # the repaired entries reach the replicas too
    code, out, err = cli(capsys, "ledger", "verify")
    assert code == 0, out + err


def test_a_manifest_deleted_from_one_replica_is_repaired(replicated, capsys):
    outcome = captured({"page.html": PAGE})
    server, bucket = replicated["vault"]
    server.client().remove_object(bucket, outcome.manifest_key)  # a delete marker
    code, out, _ = cli(capsys, "verify", outcome.capture_id)
    assert code == 1
    assert fails(out) == [
        f"missing-object: {outcome.manifest_key} (replica=vault: manifest of capture "
        f"{outcome.capture_id})"
    ]
    code, out, err = cli(capsys, "verify", outcome.capture_id, "--repair")
    assert code == 0, out + err
    assert f"REPAIRED {outcome.manifest_key} on vault from primary" in out
    code, out, err = cli(capsys, "verify", outcome.capture_id)
    assert code == 0, out + err
    code, out, err = cli(capsys, "ledger", "verify")
    assert code == 0, out + err
    code, out, _ = cli(capsys, "ledger", "list", "--json")
    (entry,) = [e for e in json.loads(out) if e["event"] == "repaired"]
    assert entry["data"]["copy"] == "vault" and entry["data"]["found_sha256"] is None


def test_retention_is_checked_on_every_replica_against_its_own_setting(replicated, capsys):
    outcome = captured({"page.html": PAGE})
    code, out, err = cli(capsys, "verify", "--all", "--json")
    assert code == 0, out + err
    found = json.loads(out)["retention"]
    assert found["skipped"]  # the file primary has no Object Lock: said, not passed
    for name in ("offsite", "vault"):
        server, bucket = replicated[name]
        stored = list(server.client().list_objects(bucket, recursive=True))
        # everything but the ledger entry this audit wrote after checking
        assert found["replicas"][name] == {"checked": len(stored) - 1, "skipped": None}
        assert len(stored) >= 5  # blob, manifest, signature, ledger entries

    # an object on one replica without the lock is named with that replica only
    server, bucket = replicated["offsite"]
    server.client().put_object(bucket, f"{outcome.manifest_key}.extra", io.BytesIO(b"x"), 1)
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    assert fails(out) == [
        f"no-retention: {outcome.manifest_key}.extra (replica=offsite: stored without Object "
        "Lock retention)"
    ]
    assert "retention on vault: " in out and "object(s) checked" in out
    assert cli(capsys, "verify", "--all", "--no-retention")[0] == 0


def test_an_encrypted_replica_holds_no_plaintext_yet_verifies_and_exports_the_same(
    replicated, seaweedfs, vault_server, capsys, tmp_path, monkeypatch
):
    outcome = captured({"page.html": PAGE, "video.mp4": 1 << 20})

    def on_disk(server) -> bool:
        found = subprocess.run(
            ["grep", "-rlF", PHRASE.decode(), str(server.data)], capture_output=True
        )
        return found.returncode == 0

    assert on_disk(seaweedfs)  # the plaintext replica's disks hold the page: the grep works
    assert not on_disk(vault_server)
    page_key = blob_key(
        next(a for a in manifest_of(outcome)["artifacts"] if a["name"] == "page.html")["sha256"]
    )
    assert PHRASE not in raw(replicated, "vault", page_key)
    copies = {r["name"]: r for r in manifest_of(outcome)["replicas"]}
    assert (
        copies["vault"]["encryption"] == "AES-256-GCM" and copies["offsite"]["encryption"] is None
    )

    code, out, err = cli(capsys, "verify", outcome.capture_id, "--replica", "vault", "--json")
    assert code == 0, out + err
    assert set(json.loads(out)["copies"]) == {"primary", "vault"}
    code, _, err = cli(capsys, "export", "--capture", outcome.capture_id, str(tmp_path / "a"))
    assert code == 0, err
    code, _, err = cli(
        capsys,
        "export",
        "--capture",
        outcome.capture_id,
        "--replica",
        "vault",
        "--reason",
        "court disclosure",
        str(tmp_path / "b"),
    )
    assert code == 0, err
    evidence = sorted((tmp_path / "a" / "data" / "captures").rglob("*"))
    assert len([p for p in evidence if p.is_file()]) >= 4
    for path in evidence:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.is_dir() or path.read_bytes() == twin.read_bytes(), path

    monkeypatch.setenv("WITNESSBOX_KEK", base64.b64encode(os.urandom(32)).decode())
    code, out, err = cli(capsys, "verify", "--all")
    assert code == 2 and "wrong key-encryption key" in err and err.count("\n") == 1
    code, _, err = cli(
        capsys,
        "get",
        outcome.capture_id,
        "page.html",
        str(tmp_path / "p"),
        "--replica",
        "vault",
        "--reason",
        "check",
    )
    assert code == 2 and "wrong key-encryption key" in err and not (tmp_path / "p").exists()
    monkeypatch.delenv("WITNESSBOX_KEK")
    code, _, err = cli(capsys, "verify", "--all")
    assert code == 2 and "no key-encryption key is set" in err


def test_get_needs_a_reason_and_every_read_leaves_one_ledger_entry(
    catalogue_url, runtime, capsys, tmp_path
):
    from preservation.custody.access import open_for_download

    rt = runtime
    outcome = capture(rt, {"page.html": PAGE})
    ledger = ledger_for(rt)

    def new_entries(before):
        return ledger.entries()[len(before) :]

    before = ledger.entries()
    out = tmp_path / "working-copy.html"
    code, _, err = cli(capsys, "get", outcome.capture_id, "page.html", str(out))
    assert code == 2 and "--reason" in err and not out.exists()
    assert new_entries(before) == []
    code, _, err = cli(
        capsys, "get", outcome.capture_id, "page.html", str(out), "--reason", "review"
    )
    assert code == 0, err
    assert out.read_bytes() == PAGE
    (entry,) = new_entries(before)
    assert entry["event"] == "accessed" and entry["subject"] == outcome.capture_id
    assert entry["actor"] == "test-operator" and entry["at"]
    assert entry["data"]["artifact"] == "page.html" and entry["data"]["reason"] == "review"

    before = ledger.entries()
    code, _, err = cli(
        capsys, "get", outcome.capture_id, "page.html", str(out), "--reason", "again"
    )
    assert code == 2 and "never overwrites" in err and out.read_bytes() == PAGE
    assert new_entries(before) == []

    with open_for_download(
        rt, outcome.capture_id, "page.html", actor="ana", reason="ui review"
    ) as (
        entry,
        stream,
    ):
        assert stream.read() == PAGE
    (logged,) = new_entries(before)
    assert logged["event"] == "accessed" and logged["actor"] == "ana"
    assert logged["data"]["via"] == "ui"

    before = ledger.entries()
    code, _, err = cli(
        capsys,
        "export",
        "--capture",
        outcome.capture_id,
        "--reason",
        "handover",
        str(tmp_path / "bag"),
    )
    assert code == 0, err
    (exported,) = new_entries(before)
    assert exported["event"] == "exported" and exported["data"]["reason"] == "handover"
    assert exported["data"]["captures"] == [outcome.capture_id]


def test_an_sse_s3_replica_is_encrypted_by_the_server(
    wb_env, monkeypatch, seaweedfs, vault_server, capsys
):
    """SeaweedFS offers SSE-S3: the replica asks for it; its disks hold no plaintext."""
    if vault_server.process.poll() is not None:
        restart(vault_server)
    phrase = b"sse phrase: the second convoy turned east at dawn"
    home = Path(wb_env["WITNESSBOX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    plain, sse = seaweedfs.make_bucket(object_lock=True), vault_server.make_bucket(object_lock=True)
    (home / "witnessbox.toml").write_text(
        "retention_days = 1\n"
        f'[[replicas]]\nname = "plain"\nurl = "s3://{plain}"\nendpoint = "http://{seaweedfs.endpoint}"\n\n'
        f'[[replicas]]\nname = "sse"\nurl = "s3://{sse}"\nendpoint = "http://{vault_server.endpoint}"\n'
        'sse = "s3"\n'
    )
    for name, server in (("PLAIN", seaweedfs), ("SSE", vault_server)):
        monkeypatch.setenv(f"WITNESSBOX_REPLICA_{name}_ACCESS_KEY", server.access_key)
        monkeypatch.setenv(f"WITNESSBOX_REPLICA_{name}_SECRET_KEY", server.secret_key)
    code, out, err = cli(capsys, "init")
    assert code == 0, err
    assert "replica sse: s3://" in out and "encryption: server-side (s3)" in out
    assert "retention: S3 Object Lock, COMPLIANCE for 1 days" in out
    outcome = captured({"page.html": b"<p>" + phrase + b"</p>"})
    stat = vault_server.client().stat_object(sse, outcome.manifest_key)
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"
    copies = {r["name"]: r for r in manifest_of(outcome)["replicas"]}
    assert copies["sse"] == {
        "name": "sse",
        "url": f"s3://{sse}",
        "encryption": None,
        "server_side_encryption": "s3",
    }

    def on_disk(server) -> bool:
        found = subprocess.run(
            ["grep", "-rlF", phrase.decode(), str(server.data)], capture_output=True
        )
        return found.returncode == 0

    assert on_disk(seaweedfs) and not on_disk(vault_server)
    code, out, err = cli(capsys, "verify", "--all", "--json")
    assert code == 0, out + err
    assert json.loads(out)["copies"]["sse"]["blobs"] == 1


def test_replica_settings_keep_secrets_out_of_files_and_logs(tmp_path):
    from kernel.errors import ConfigError

    (tmp_path / "witnessbox.toml").write_text(
        '[[replicas]]\nname = "offsite"\nurl = "s3://b"\nsecret_key = "inline"\n'
    )
    with pytest.raises(ConfigError, match="secrets go in the environment"):
        load_settings({"WITNESSBOX_HOME": str(tmp_path)})
    (tmp_path / "witnessbox.toml").write_text('[[replicas]]\nname = "offsite"\nurl = "s3://b"\n')
    env = {
        "WITNESSBOX_HOME": str(tmp_path),
        "WITNESSBOX_REPLICA_OFFSITE_SECRET_KEY": "s3cr3t-v4lue",
        "WITNESSBOX_KEK": "k" * 44,
    }
    s = load_settings(env)
    assert s.replicas[0].secret_key == "s3cr3t-v4lue"
    assert "s3cr3t-v4lue" not in repr(s) and "s3cr3t-v4lue" not in json.dumps(s.public_dict())
    assert s.public_dict()["kek"] == "(set)"
    for bad in ('name = "Primary"', 'name = "primary"', 'name = "x"\nurl = "ftp://h"'):
        (tmp_path / "witnessbox.toml").write_text(f"[[replicas]]\n{bad}\n")
        with pytest.raises(ConfigError):
            load_settings({"WITNESSBOX_HOME": str(tmp_path)})


def test_a_conflicting_copy_stays_queued_without_blocking_the_rest(tmp_path):
    from datetime import UTC, datetime

    from kernel.replicas import ReplicaSpec
    from preservation.catalogue.models import Catalogue
    from preservation.replication import QueuedStore, Replicator, pending_keys
    from preservation.store.filesystem import FileStore
    from preservation.store.replicas import Replica

    catalogue = Catalogue.open(f"sqlite:///{tmp_path / 'c.sqlite'}")
    copy = FileStore(tmp_path / "copy")
    copy.put_bytes("ledger/000000000001.json", b'{"tampered": true}')
    replicator = Replicator(
        catalogue,
        FileStore(tmp_path / "primary"),
        [Replica("copy", copy, ReplicaSpec("copy", "file:///x"))],
        lambda: datetime.now(UTC),
    )
    store = QueuedStore(
        replicator.primary, catalogue, ["copy"], lambda: datetime.now(UTC), lambda: None
    )
    store.put_bytes("ledger/000000000001.json", b'{"seq": 1}')
    store.put_bytes("ledger/000000000002.json", b'{"seq": 2}')
    assert replicator.drain() == {"copy": {"copied": 1, "error": ""}}
    assert copy.read_bytes("ledger/000000000002.json") == b'{"seq": 2}'
    assert copy.read_bytes("ledger/000000000001.json") == b'{"tampered": true}'  # untouched
    assert pending_keys(catalogue, "copy") == {"ledger/000000000001.json"}
    catalogue.close()


def test_damaged_ciphertext_is_named_unreadable_and_repaired(replicated, capsys):
    outcome = captured({"page.html": PAGE})
    page = next(a for a in manifest_of(outcome)["artifacts"] if a["name"] == "page.html")
    sealed = bytearray(raw(replicated, "vault", page["key"]))
    sealed[-20] ^= 0x01  # inside the last segment
    overwrite(replicated, "vault", page["key"], bytes(sealed))
    code, out, _ = cli(capsys, "verify", outcome.capture_id)
    assert code == 1
    (problem,) = fails(out)
    assert problem.startswith(f"unreadable: {page['key']} (replica=vault: page.html")
    assert "fails its tag" in problem
    code, out, err = cli(capsys, "verify", outcome.capture_id, "--repair")
    assert code == 0, out + err
    assert f"REPAIRED {page['key']} on vault from primary: wrote a new version" in out
    code, out, err = cli(capsys, "verify", outcome.capture_id)
    assert code == 0, out + err


def _file_replication(tmp_path, clock):
    from kernel.replicas import ReplicaSpec
    from preservation.catalogue.models import Catalogue
    from preservation.replication import QueuedStore, Replicator
    from preservation.store.filesystem import FileStore
    from preservation.store.replicas import Replica

    catalogue = Catalogue.open(f"sqlite:///{tmp_path / 'c.sqlite'}")
    copy = FileStore(tmp_path / "copy")
    replicator = Replicator(catalogue, FileStore(tmp_path / "primary"),
                            [Replica("copy", copy, ReplicaSpec("copy", "file:///x"))], clock)  # fmt: skip
    store = QueuedStore(replicator.primary, catalogue, ["copy"], clock, lambda: None)
    return catalogue, copy, replicator, store


class Crash(BaseException):
    """The process dying right after a write (nothing after it runs)."""


def test_a_crash_right_after_a_primary_write_still_leaves_the_copy_queued(tmp_path, monkeypatch):
    from preservation.replication import enqueue, pending_keys

    clock = lambda: datetime.now(UTC)  # noqa: E731
    catalogue, copy, replicator, store = _file_replication(tmp_path, clock)
    blob = tmp_path / "photo.jpg"
    blob.write_bytes(b"\xff\xd8 a photo")
    from hashing.crypto import digest_file

    known = digest_file(blob)
    for name in ("put_bytes", "put_hashed_file"):
        real = getattr(replicator.primary, name)

        def crash_after(*args, _real=real, **kwargs):
            _real(*args, **kwargs)
            raise Crash

        monkeypatch.setattr(replicator.primary, name, crash_after)
    with pytest.raises(Crash):
        store.put_bytes("manifests/ab/cd/m.json", b'{"capture": 1}')
    with pytest.raises(Crash):
        st = blob.stat()
        store.put_hashed_file(blob, known, inode=st.st_ino, mtime_ns=st.st_mtime_ns)
    assert pending_keys(catalogue, "copy") == {"manifests/ab/cd/m.json", blob_key(known.sha256)}
    assert replicator.drain() == {"copy": {"copied": 2, "error": ""}}
    assert copy.read_bytes("manifests/ab/cd/m.json") == b'{"capture": 1}'
    assert copy.exists(blob_key(known.sha256)) and pending_keys(catalogue, "copy") == set()

    # a row whose write never happened waits quietly, then is dropped a day later
    enqueue(catalogue, ["copy"], ["manifests/never/written.json"], clock())
    assert replicator.drain() == {"copy": {"copied": 0, "error": ""}}
    assert status_rows(catalogue)["manifests/never/written.json"] == (0, None)
    replicator.clock = lambda: datetime.now(UTC) + timedelta(days=2)
    assert replicator.drain() == {"copy": {"copied": 0, "error": ""}}
    assert pending_keys(catalogue, "copy") == set()
    catalogue.close()


def status_rows(catalogue):
    from sqlalchemy import select

    from preservation.catalogue.replication_models import ReplicationItem

    with catalogue.session() as session:
        rows = session.execute(select(ReplicationItem.key, ReplicationItem.attempts,
                                      ReplicationItem.last_error)).all()  # fmt: skip
    return {key: (attempts, error) for key, attempts, error in rows}
