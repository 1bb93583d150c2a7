"""The audit's stages on one copy: manifest, signature, seals, presence, then the full re-read.

``check_copy`` runs them against ``rt.store``; ``audit.run_audit`` runs it on the primary
and then on each replica (with the runtime's store swapped for the replica's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from kernel.errors import Findings, IntegrityError, Problem, StorageError, read_problem
from preservation.custody.seal_check import SealChecker
from preservation.custody.signing import check_manifest_signature
from preservation.formats import manifest as manifests
from preservation.store import Store, is_blob_key

if TYPE_CHECKING:
    from preservation.runtime import Runtime

READ_SIZE = 1 << 20


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 and size of a stream, read into one reused buffer (no per-chunk copies)."""
    digest = hashlib.sha256()
    size = 0
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    while n := readinto(buffer):
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def rehash(store: Store, key: str) -> tuple[str, int]:
    with store.open(key) as stream:
        return sha256_stream(stream)


@dataclass
class CaptureCheck(Findings):
    capture_id: str
    manifest_key: str
    source_id: str = ""
    url: str = ""
    manifest_sha256: str = ""
    signed_by: str | None = None
    seals: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "status": "ok" if self.ok else "failed",
            "source_id": self.source_id,
            "url": self.url,
            "manifest_key": self.manifest_key,
            "manifest_sha256": self.manifest_sha256,
            "signed_by": self.signed_by,
            "sealed": self.seals,
            "artifacts": self.artifacts,
            "problems": self.problem_dicts(),
        }


# -- stage 1 ----------------------------------------------------------------------------------
def _check_manifest(
    rt: Runtime, check: CaptureCheck, recorded: dict[str, str], keys: dict[str, Any]
) -> dict[str, Any] | None:
    key = check.manifest_key
    add = check.problems.append
    try:
        data = rt.store.read_bytes(key)
    except StorageError as exc:  # gone, or only out of reach for now: read_problem tells
        add(read_problem(key, exc, f"manifest of capture {check.capture_id}"))
        return None
    actual = hashlib.sha256(data).hexdigest()
    if check.manifest_sha256 and actual != check.manifest_sha256:
        add(Problem("manifest-changed", key, "differs from the digest the catalogue indexed"))
    ledger_digest = recorded.get(key)
    if ledger_digest is None:
        add(Problem("not-in-ledger", key, "no custody record of this manifest being stored"))
    elif ledger_digest != actual:
        add(Problem("manifest-changed", key, "differs from the digest in the custody ledger"))
    check.manifest_sha256 = actual
    try:
        manifest = manifests.parse(data)
    except IntegrityError as exc:
        for p in exc.details or [Problem("schema", key, str(exc))]:
            add(Problem("bad-manifest", key, f"{p.subject}: {p.detail or p.kind}"))
        try:
            manifest = json.loads(data)
        except ValueError:
            return None
        if not isinstance(manifest, dict):
            return None
    capture = manifest.get("capture") or {}
    if capture.get("id") != check.capture_id:
        add(Problem("misplaced-manifest", key, "capture id differs from its key"))
    check.url = check.url or str((manifest.get("source") or {}).get("url", ""))
    sig_problems = check_manifest_signature(rt.store, key, manifest, data, keys)
    check.problems.extend(sig_problems)
    if not sig_problems:
        check.signed_by = (manifest.get("signing") or {}).get("key_fingerprint")
    return manifest


def _check_blob_presence(
    rt: Runtime, check: CaptureCheck, manifest: dict[str, Any], blobs: dict[str, dict]
) -> None:
    for artifact in manifest.get("artifacts") or []:
        if not isinstance(artifact, dict):
            continue
        key, sha, size = artifact.get("key", ""), artifact.get("sha256", ""), artifact.get("size")
        check.artifacts.append({"name": artifact.get("name"), "key": key, "sha256": sha})
        if not is_blob_key(key) or not key.endswith(str(sha)):
            check.problems.append(Problem("bad-manifest", key, "blob key does not name its sha256"))
            continue
        entry = blobs.get(key)
        if entry is None:
            entry = blobs[key] = {"sha256": sha, "size": size, "stat": None, "users": []}
            try:
                info = rt.store.stat(key)
            except StorageError as exc:  # an outage: the blob may be intact
                entry["error"] = str(exc)
            else:
                entry["stat"] = info.size if info else None
        entry["users"].append((check, artifact.get("name")))
        if entry.get("error"):
            check.problems.append(
                Problem(
                    "unreadable",
                    key,
                    f"{artifact.get('name')} of {check.capture_id}: {entry['error']}",
                )
            )
        elif entry["stat"] is None:
            check.problems.append(
                Problem("missing-object", key, f"{artifact.get('name')} of {check.capture_id}")
            )
        elif entry["stat"] != size:
            check.problems.append(
                Problem(
                    "size-mismatch",
                    key,
                    f"{artifact.get('name')} of {check.capture_id}: "
                    f"manifest says {size} bytes, store has {entry['stat']}",
                )
            )


def check_copy(
    rt: Runtime,
    checks: list[CaptureCheck],
    recorded: dict[str, str],
    expected_seals: dict[str, Any],
    workers: int,
    progress: Callable[[str], None],
) -> tuple[int, int]:
    """Stages 1-3 on ``rt.store``; problems go to each check. Blobs and bytes re-read."""
    keys: dict[str, Any] = {}
    blobs: dict[str, dict] = {}
    seals = SealChecker(rt.store)
    progress(f"checking {len(checks)} manifest(s), signatures and seals")
    for check in checks:
        manifest = _check_manifest(rt, check, recorded, keys)
        if manifest is not None:
            _check_blob_presence(rt, check, manifest, blobs)
        if manifest is not None or check.manifest_sha256:
            found, problems = seals.check_capture(
                check.manifest_key, check.manifest_sha256, expected_seals.get(check.capture_id, ())
            )
            check.seals = found
            check.problems.extend(problems)
    # stage 3: full re-read of every present blob of the right size, each once
    todo = [k for k, e in blobs.items() if e["stat"] is not None and e["stat"] == e["size"]]
    progress(f"re-reading {len(todo)} blob(s)")
    read_blobs = read_bytes = 0

    def work(key: str) -> tuple[str, str | None, int, str]:
        try:
            digest, size = rehash(rt.store, key)
            return key, digest, size, ""
        except StorageError as exc:
            return key, None, 0, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, digest, size, error in pool.map(work, todo):
            entry = blobs[key]
            read_blobs += 1
            read_bytes += size
            if digest == entry["sha256"]:
                continue
            for check, name in entry["users"]:
                detail = (
                    f"{name} of {check.capture_id}: unreadable: {error}"
                    if digest is None
                    else f"{name} of {check.capture_id}: expected sha256 "
                    f"{entry['sha256'][:16]}…, found {digest[:16]}…"
                )
                kind = "unreadable" if digest is None else "digest-mismatch"
                check.problems.append(Problem(kind, key, detail))
    return read_blobs, read_bytes
