"""The Store contract, run against both backends: FileStore and S3Store on SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.errors import ObjectExistsError, StorageError
from preservation.store import Store, blob_key, open_store

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Backend:
    name: str
    store: Store
    #: write bytes under a key behind the store's back (to play a tampered or racing store)
    raw_put: Callable[[str, bytes], None]


def _file_backend(tmp_path: Path) -> Backend:
    store = open_store(f"file://{tmp_path / 'store'}")

    def raw_put(key: str, data: bytes) -> None:
        path = tmp_path / "store" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return Backend("file", store, raw_put)


def _s3_backend(seaweedfs) -> Backend:
    bucket = seaweedfs.make_bucket()
    store = seaweedfs.store(bucket, prefix="evidence")
    client = seaweedfs.client()

    def raw_put(key: str, data: bytes) -> None:
        client.put_object(bucket, f"evidence/{key}", io.BytesIO(data), len(data))

    return Backend("s3", store, raw_put)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        b = _file_backend(tmp_path)
    else:
        b = _s3_backend(request.getfixturevalue("seaweedfs"))
    yield b
    b.store.close()


def _content(size: int, seed: int = 0) -> bytes:
    return random.Random(size * 7919 + seed).randbytes(size)


def _expected(data: bytes) -> dict[str, str | int]:
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


# -- named objects ------------------------------------------------------------------------


def test_put_bytes_round_trip(backend: Backend) -> None:
    store = backend.store
    key = "captures/src-1/cap-1/manifest.json"
    data = json.dumps({"hello": "world", "n": list(range(100))}).encode()
    assert not store.exists(key)
    store.put_bytes(key, data)
    assert store.exists(key)
    assert store.read_bytes(key) == data
    info = store.stat(key)
    assert info is not None and info.key == key and info.size == len(data)
    with store.open(key) as stream:
        chunks = [stream.read(7) for _ in range(3)]
        rest = stream.read()
    assert b"".join(chunks) + rest == data


def test_put_bytes_is_write_once(backend: Backend) -> None:
    store = backend.store
    key = "ledger/000001.json"
    store.put_bytes(key, b'{"seq": 1}')
    store.put_bytes(key, b'{"seq": 1}')  # an identical retry is fine
    with pytest.raises(ObjectExistsError):
        store.put_bytes(key, b'{"seq": 2}')
    with pytest.raises(ObjectExistsError):
        store.put_bytes(key, b'{"seq": 1} ')  # same size class, different bytes
    assert store.read_bytes(key) == b'{"seq": 1}'


def test_put_bytes_empty_object(backend: Backend) -> None:
    backend.store.put_bytes("captures/s/c/empty.txt", b"", content_type="text/plain")
    assert backend.store.read_bytes("captures/s/c/empty.txt") == b""
    assert backend.store.stat("captures/s/c/empty.txt").size == 0


# -- blobs --------------------------------------------------------------------------------

SIZES = [0, 1, 1000, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 11 * MiB + 3]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
@pytest.mark.parametrize("method", ["put_file", "put_stream"])
def test_blob_digests(backend: Backend, tmp_path: Path, size: int, method: str) -> None:
    data = _content(size)
    src = tmp_path / "artifact.bin"
    src.write_bytes(data)
    if method == "put_file":
        digests = backend.store.put_file(src)
    else:
        with open(src, "rb") as stream:
            digests = backend.store.put_stream(stream)
    assert digests.as_dict() == _expected(data)
    key = blob_key(digests.sha256)
    assert backend.store.has_blob(digests.sha256)
    assert backend.store.stat(key).size == size
    with backend.store.open(key) as stream:
        read_back = hashlib.sha256()
        while chunk := stream.read(1 * MiB + 17):
            read_back.update(chunk)
    assert read_back.hexdigest() == digests.sha256


def test_same_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    data = _content(70_000)
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(data)
    second.write_bytes(data)
    d1 = backend.store.put_file(first)
    d2 = backend.store.put_file(second)
    d3 = backend.store.put_stream(io.BytesIO(data))
    assert d1 == d2 == d3
    other = backend.store.put_stream(io.BytesIO(data + b"!"))
    assert list(backend.store.list("blobs/")) == sorted(
        [blob_key(d1.sha256), blob_key(other.sha256)]
    )


def test_a_tampered_blob_is_not_taken_for_the_real_one(backend: Backend, tmp_path: Path) -> None:
    data = _content(5000)
    key = blob_key(hashlib.sha256(data).hexdigest())
    backend.raw_put(key, b"truncated evidence")
    src = tmp_path / "a.bin"
    src.write_bytes(data)
    with pytest.raises(StorageError, match="wrong size"):
        backend.store.put_file(src)


def test_missing_staged_file(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="vanished"):
        backend.store.put_file(tmp_path / "never-written.bin")


# -- reading, listing, keys ---------------------------------------------------------------


def test_missing_object(backend: Backend) -> None:
    key = "captures/nope/nope/manifest.json"
    assert backend.store.stat(key) is None
    assert not backend.store.exists(key)
    assert not backend.store.has_blob("0" * 64)
    with pytest.raises(StorageError, match="missing object"):
        backend.store.read_bytes(key)
    with pytest.raises(StorageError, match="missing object"), backend.store.open(key):
        pass


def test_listing_is_lexical_and_prefix_filtered(backend: Backend) -> None:
    keys = ["a/b", "a-c", "a.d", "ab", "a/b.x/c", "z", "ledger/000002.json", "ledger/000010.json"]
    for key in keys:
        backend.store.put_bytes(key, key.encode())
    assert list(backend.store.list()) == sorted(keys)
    assert list(backend.store.list("a")) == sorted(k for k in keys if k.startswith("a"))
    assert list(backend.store.list("a/")) == ["a/b", "a/b.x/c"]
    assert list(backend.store.list("ledger/")) == ["ledger/000002.json", "ledger/000010.json"]
    assert list(backend.store.list("nothing/")) == []


UNSAFE = ["", "../x", "/etc/passwd", "a//b", "a/../b", ".hidden", "a/.", "a\\b", "a b", "a/", "~x"]


@pytest.mark.parametrize("key", UNSAFE)
def test_unsafe_keys_are_refused(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError):
        backend.store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        backend.store.stat(key)
    with pytest.raises(ValueError), backend.store.open(key):
        pass


@pytest.mark.parametrize("prefix", ["../", "../../etc/", "/etc/", "a//"])
def test_unsafe_list_prefixes_are_refused(backend: Backend, prefix: str) -> None:
    with pytest.raises(ValueError):
        list(backend.store.list(prefix))


def test_describe_names_the_store(backend: Backend) -> None:
    text = backend.store.describe()
    assert text.startswith(f"{backend.name}://")
    assert backend.store.url in text


# -- memory -------------------------------------------------------------------------------

# Peak RSS from VmHWM: ``ru_maxrss`` would include the forking pytest process's own peak.
RSS_SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path
from preservation.store import blob_key, open_store
spec = json.loads(sys.argv[1])
store = open_store(spec["url"], **spec["options"])
digests = store.put_file(Path(spec["path"]))
with open(spec["path"], "rb") as stream:
    stream.seek(1)  # other content, so the stream is really spooled and uploaded
    streamed = store.put_stream(stream)
sha = hashlib.sha256()
with store.open(blob_key(digests.sha256)) as stream:
    while chunk := stream.read(4 << 20):
        sha.update(chunk)
status = Path("/proc/self/status").read_text()
hwm_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
print(json.dumps({"sha256": digests.sha256, "read_sha256": sha.hexdigest(),
                  "size": digests.size, "streamed_size": streamed.size,
                  "max_rss_mib": hwm_kib / 1024}))
"""


def _sparse_file(path: Path, size: int) -> str:
    """A big file that costs no disk time: random head and tail around a hole."""
    head, tail = _content(64 * 1024, 1), _content(64 * 1024, 2)
    with open(path, "wb") as out:
        out.write(head)
        out.truncate(size - len(tail))
        out.seek(size - len(tail))
        out.write(tail)
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(8 * MiB):
            sha.update(chunk)
    return sha.hexdigest()


@pytest.mark.slow
def test_large_file_streams_in_bounded_memory(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    size = 2 * 1024 * MiB  # the figure: a 2 GiB file, under 100 MiB RSS
    path = tmp_path / "big.bin"
    expected = _sparse_file(path, size)
    if backend.name == "file":
        spec = {"url": backend.store.url, "options": {}}
    else:
        server = request.getfixturevalue("seaweedfs")
        store = backend.store
        spec = {
            "url": store.url,
            "options": server.store_options(retention_days=0),
        }
    spec["path"] = str(path)
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["size"] == size and result["streamed_size"] == size - 1
    assert result["sha256"] == result["read_sha256"] == expected
    assert result["max_rss_mib"] < 100, result
