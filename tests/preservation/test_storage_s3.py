"""S3Store specifics against a real SeaweedFS: failures, confirmation, Object Lock."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.retention import Retention

import preservation.store.s3 as s3mod
from hashing.crypto import digest_bytes
from kernel.errors import ObjectExistsError, StorageError
from preservation.store import blob_key, open_store

pytestmark = pytest.mark.s3
MiB = 1 << 20
#: generous bound for "fails fast" (the SDK's defaults would retry for minutes)
FAST = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _write(tmp_path: Path, data: bytes, name: str = "a.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- failures -----------------------------------------------------------------------------


def test_nothing_connects_until_used() -> None:
    store = open_store(
        "s3://evidence/archive",
        endpoint=f"127.0.0.1:{_free_port()}",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI-do-not-print",
        secure=False,
    )
    text = store.describe() + repr(store)
    assert "s3://evidence/archive" in text and "http://127.0.0.1:" in text
    assert "wJalrXUtnFEMI" not in text and "AKIDEXAMPLE" not in text


def test_storage_down_fails_fast_and_clearly() -> None:
    endpoint = f"127.0.0.1:{_free_port()}"  # nothing listens there
    store = open_store("s3://evidence", endpoint=endpoint, secure=False, access_key="a", secret_key="b")
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot reach the S3 endpoint") as info:
        store.put_bytes("ledger/000001.json", b"{}")
    assert time.monotonic() - started < FAST
    assert endpoint in str(info.value) and "connection refused" in str(info.value)
    assert "\n" not in str(info.value)


def test_silent_server_times_out(blackhole: str) -> None:
    store = open_store(
        "s3://evidence", endpoint=blackhole, secure=False, access_key="a", secret_key="b",
        timeout=0.5, retries=1,
    )
    started = time.monotonic()
    with pytest.raises(StorageError, match="timed out"):
        store.stat("ledger/000001.json")
    assert time.monotonic() - started < FAST


def test_wrong_credentials_never_leak_the_secret(seaweedfs, tmp_path: Path) -> None:
    bucket = seaweedfs.make_bucket()
    secret = "Sup3r-Secret-Value-0123456789"
    store = seaweedfs.store(bucket, secret_key=secret)
    attempts = [
        lambda: store.put_bytes("ledger/000001.json", b"{}"),
        lambda: store.put_file(_write(tmp_path, b"evidence")),
        lambda: store.stat("ledger/000001.json"),
        lambda: list(store.list()),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError, match="access denied") as info:
            attempt()
        chain: list[BaseException] = []
        exc: BaseException | None = info.value
        while exc is not None:
            chain.append(exc)
            exc = exc.__cause__ or exc.__context__
        for link in chain:
            assert secret not in str(link) and secret not in repr(link)


def test_missing_bucket_is_named(seaweedfs) -> None:
    store = seaweedfs.store("wb-never-created-bucket")
    with pytest.raises(StorageError, match="bucket wb-never-created-bucket does not exist"):
        store.put_bytes("ledger/000001.json", b"{}")
    with pytest.raises(StorageError, match="does not exist"):
        store.stat("ledger/000001.json")  # a missing bucket is not a missing object


# -- confirmation -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3000, 11 * MiB], ids=["single", "multipart"])
def test_source_changing_during_upload_publishes_nothing(
    seaweedfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The digest named one content, the upload read another: the upload must not land."""
    store = seaweedfs.store(seaweedfs.make_bucket(), part_size=5 * MiB)
    original = bytes(size)
    path = _write(tmp_path, original)
    digested = digest_bytes(original)
    path.write_bytes(b"\x01" + original[1:])  # the file changed after it was digested
    monkeypatch.setattr(s3mod, "digest_file", lambda p: digested)
    with pytest.raises(StorageError, match="changed while it was being uploaded"):
        store.put_file(path)
    assert list(store.list()) == []
    assert store.stat(blob_key(digested.sha256)) is None


def test_the_server_checks_the_sha256(
    seaweedfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seaweedfs.store(seaweedfs.make_bucket())
    monkeypatch.setattr(s3mod, "_b64", lambda hex_digest: "A" * 43 + "=")  # a wrong checksum
    with pytest.raises(StorageError, match="BadDigest"):
        store.put_file(_write(tmp_path, b"evidence bytes"))
    with pytest.raises(StorageError, match="BadDigest"):
        store.put_bytes("captures/s/c/manifest.json", b"{}")
    assert list(store.list()) == []


def test_blobs_carry_their_digests_under_the_prefix(seaweedfs, tmp_path: Path) -> None:
    bucket = seaweedfs.make_bucket()
    store = seaweedfs.store(bucket, prefix="cases/alpha")
    data = b"a photo, say" * 1000
    digests = store.put_file(_write(tmp_path, data))
    names = [o.object_name for o in seaweedfs.client().list_objects(bucket, recursive=True)]
    assert names == [f"cases/alpha/{blob_key(digests.sha256)}"]
    assert list(store.list()) == [blob_key(digests.sha256)]
    meta = seaweedfs.client().stat_object(bucket, names[0]).metadata
    assert meta.get("x-amz-meta-sha256") == hashlib.sha256(data).hexdigest()
    assert meta.get("x-amz-meta-sha512") == hashlib.sha512(data).hexdigest()
    assert meta.get("x-amz-meta-md5") == hashlib.md5(data).hexdigest()


def test_conditional_write_refuses_a_racing_writer(
    seaweedfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between our existence check and our PUT another writer stores the key:
    ``If-None-Match: *`` must stop us overwriting it."""
    bucket = seaweedfs.make_bucket()
    store = seaweedfs.store(bucket)
    key = "captures/s/c/manifest.json"
    seaweedfs.client().put_object(bucket, key, io.BytesIO(b"theirs"), 6)
    real = store._same_or_absent
    calls = []

    def racing(k: str, data: bytes) -> bool:
        calls.append(k)
        return False if len(calls) == 1 else real(k, data)  # the first check saw nothing

    monkeypatch.setattr(store, "_same_or_absent", racing)
    with pytest.raises(ObjectExistsError):
        store.put_bytes(key, b"ours!!")
    assert store.read_bytes(key) == b"theirs"
    calls.clear()
    store.put_bytes(key, b"theirs")  # the racer wrote the same bytes: that is a success


# -- Object Lock --------------------------------------------------------------------------


def _near(value: datetime | None, days: float) -> bool:
    expected = datetime.now(UTC) + timedelta(days=days)
    return value is not None and abs(value - expected) < timedelta(minutes=5)


@pytest.fixture
def locked(seaweedfs):
    bucket = seaweedfs.make_bucket(object_lock=True)
    return bucket, seaweedfs.store(bucket, retention_days=1)


def test_retention_support_is_detected(seaweedfs, locked) -> None:
    assert locked[1].supports_retention
    assert not seaweedfs.store(seaweedfs.make_bucket()).supports_retention


def test_every_object_gets_compliance_retention(locked, tmp_path: Path) -> None:
    bucket, store = locked
    store.part_size = 5 * MiB
    keys = [
        blob_key(store.put_file(_write(tmp_path, b"small evidence")).sha256),
        blob_key(store.put_file(_write(tmp_path, bytes(11 * MiB), "big.bin")).sha256),
        blob_key(store.put_stream(io.BytesIO(b"streamed evidence")).sha256),
    ]
    store.put_bytes("captures/s/c/manifest.json", b'{"capture": 1}')
    store.put_bytes("ledger/000001.json", b'{"seq": 1}')
    keys += ["captures/s/c/manifest.json", "ledger/000001.json"]
    for key in keys:
        info = store.stat(key)
        assert info.retention_mode == COMPLIANCE, key
        assert _near(info.retain_until, 1), (key, info.retain_until)


def test_locked_objects_cannot_be_deleted_or_unlocked(seaweedfs, locked) -> None:
    bucket, store = locked
    key = "captures/s/c/manifest.json"
    store.put_bytes(key, b'{"capture": 1}')
    client = seaweedfs.client()
    stat = client.stat_object(bucket, key)
    version = stat.version_id
    assert version

    with pytest.raises(S3Error) as refused:
        client.remove_object(bucket, key, version_id=version)
    assert refused.value.code == "AccessDenied"

    errors = list(
        client.remove_objects(
            bucket, [DeleteObject(key, version)], bypass_governance_mode=True
        )
    )
    assert errors and errors[0].code == "AccessDenied"

    info = store.stat(key)
    for shorter in (info.retain_until - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5)):
        with pytest.raises(S3Error):
            client.set_object_retention(
                bucket, key, Retention(COMPLIANCE, shorter), version_id=version
            )
    with pytest.raises(S3Error):
        client.set_object_retention(
            bucket, key, Retention(GOVERNANCE, info.retain_until), version_id=version
        )
    assert client.get_object_retention(bucket, key, version_id=version).retain_until_date == (
        info.retain_until
    )
    assert store.read_bytes(key) == b'{"capture": 1}'


def test_reused_blobs_are_kept_as_long_as_the_newest_capture(seaweedfs, locked, tmp_path) -> None:
    bucket, store = locked
    path = _write(tmp_path, b"a frame seen twice")
    key = blob_key(store.put_file(path).sha256)
    assert _near(store.stat(key).retain_until, 1)
    longer = seaweedfs.store(bucket, retention_days=3)
    longer.put_file(path)  # dedupe hit: no upload, retention extended
    assert _near(store.stat(key).retain_until, 3)
    store.put_file(path)  # a shorter setting never shortens it
    assert _near(store.stat(key).retain_until, 3)
    store.put_bytes("ledger/000001.json", b"{}")
    longer.put_bytes("ledger/000001.json", b"{}")  # an identical retry extends too
    assert _near(store.stat("ledger/000001.json").retain_until, 3)


def test_governance_mode_and_zero_days(seaweedfs, locked) -> None:
    bucket, _ = locked
    governance = seaweedfs.store(bucket, retention_mode=GOVERNANCE)
    governance.put_bytes("ledger/000001.json", b"{}")
    assert governance.stat("ledger/000001.json").retention_mode == GOVERNANCE
    off = seaweedfs.store(bucket, retention_days=0)
    off.put_bytes("ledger/000002.json", b"{}")
    assert off.stat("ledger/000002.json").retention_mode is None


def test_ensure_bucket(seaweedfs) -> None:
    name = seaweedfs.make_bucket() + "-new"
    store = seaweedfs.store(name, retention_days=1)
    assert store.ensure_bucket() is True  # retention configured: created with Object Lock
    assert store.supports_retention
    assert store.ensure_bucket(object_lock=True) is False
    plain_name = seaweedfs.make_bucket() + "-plain"
    plain = seaweedfs.store(plain_name, retention_days=0)
    assert plain.ensure_bucket() is True and not plain.supports_retention
    with pytest.raises(StorageError, match="without Object Lock"):
        seaweedfs.store(plain_name).ensure_bucket(object_lock=True)
    seaweedfs.store(plain_name).ensure_bucket()  # an existing bucket is accepted as it is


def test_init_says_plainly_when_a_bucket_has_no_object_lock(seaweedfs, tmp_path: Path) -> None:
    from kernel.settings import Settings
    from preservation.setup import initialise

    common = {
        "home": tmp_path / "home",
        "s3_endpoint": seaweedfs.endpoint,
        "s3_access_key": seaweedfs.access_key,
        "s3_secret_key": seaweedfs.secret_key,
        "s3_secure": False,
    }
    plain = Settings(store=f"s3://{seaweedfs.make_bucket()}", **common)
    assert initialise(plain)["retention"].startswith("NONE: this bucket has no Object Lock")
    locked = Settings(store=f"s3://{seaweedfs.make_bucket(object_lock=True)}", **common)
    assert initialise(locked)["retention"] == "S3 Object Lock, COMPLIANCE for 3650 days"


def test_the_session_server_has_room_for_a_bucket_per_test(seaweedfs) -> None:
    """Each bucket is a SeaweedFS collection with volumes of its own; the default cap
    (free disk / 1 GiB) gave ~50 and a full suite's fresh buckets ran out (InternalError)."""
    seaweedfs.make_bucket()
    topology = seaweedfs.master_status()["Topology"]
    assert topology["Free"] >= 1000, topology
