"""collect → hash → preserve: the one path every capture takes, from the CLI or a DAG.

Commit protocol (a crash at any point leaves no capture or a whole one):

1. the collector writes files into ``staging/<capture_id>/``;
2. ``pending.json`` is written atomically: from now on the capture can be completed by
   any later run (``resume_pending``) even if this process dies;
3. every artifact is uploaded as a content-addressed blob and its stored digest confirmed;
4. the manifest is written (put-if-absent): the capture now exists;
5. the catalogue indexes it, in one transaction with the source's cursor and items;
6. the staging directory is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import platform
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors import registry
from collectors.base import CollectContext, CollectedCapture, StagedArtifact
from hashing.crypto import Digests
from kernel import __version__
from kernel.errors import WitnessboxError
from kernel.ids import isoformat, parse_time
from preservation.catalogue.indexer import index_manifest
from preservation.catalogue.models import Capture, Cursor, Source
from preservation.catalogue.views import CatalogueSeenItems, source_ref, source_snapshot
from preservation.custody import ledger as custody_ledger
from preservation.custody import signing
from preservation.formats import manifest as manifests
from preservation.runtime import Runtime, file_lock
from preservation.search import derive as search
from preservation.staging import sweep as sweep_staging
from preservation.staging import write_atomic, write_started
from preservation.store import blob_key

log = logging.getLogger("witnessbox.pipeline")
PENDING = "pending.json"
ARTIFACTS_DIR = "files"
#: Hooks run after a capture is committed (custody ledger, near-duplicate linking).
AFTER_COMMIT: list[Callable[[Runtime, dict[str, Any], str], None]] = []


# -- outcome --------------------------------------------------------------------------------
@dataclass
class CaptureOutcome:
    capture_id: str
    source_id: str
    status: str
    reasons: list[str]
    manifest_key: str
    artifacts: int
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- collect ----------------------------------------------------------------------------------
def _host_facts() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def collect_into_staging(rt: Runtime, source: Source, capture_id: str | None = None) -> Path:
    """Run the collector for ``source`` and leave a committable staging directory.

    ``started.json`` comes first: a run killed while collecting leaves files that
    ``witnessbox staging`` can still name and commit (preservation.staging).
    """
    capture_id = capture_id or rt.new_id()
    staging = rt.settings.staging / capture_id
    files = staging / ARTIFACTS_DIR
    files.mkdir(parents=True)
    collector = rt.collector(source.kind)
    started = rt.clock()
    start = {
        "capture_id": capture_id,
        "source": source_snapshot(source),
        "started_at": isoformat(started),
        "collector": [collector.name, collector.version],
        "run": rt.run_context,
    }
    write_started(staging, start)
    with rt.catalogue.session() as session:
        cursor_row = session.get(Cursor, (source.id, "main"))
        cursor = dict(cursor_row.value) if cursor_row else {}
    collector = rt.collector(source.kind)
    ctx = CollectContext(
        settings=registry.settings_view(collector, rt.settings),
        policy=rt.policy,
        staging=files,
        capture_id=capture_id,
        cursor=cursor,
        seen=CatalogueSeenItems(rt.catalogue, source.id),
        clock=rt.clock,
        progress=rt.progress,
    )
    try:
        collected = collector.collect(source_ref(source), ctx)
    except WitnessboxError as exc:
        collected = CollectedCapture("failed", [str(exc)])
    except Exception as exc:  # a collector bug must still leave a record of the attempt
        log.exception("collector %s crashed on %s", collector.name, source.id)
        collected = CollectedCapture("failed", [f"collector error: {type(exc).__name__}: {exc}"])
    finished = rt.clock()
    pending = {
        **start,
        "finished_at": isoformat(finished),
        "collected": {
            "status": collected.status,
            "reasons": collected.reasons,
            "artifacts": [asdict(a) for a in collected.artifacts],
            "platform": collected.platform,
            "tools": collected.tools,
            "network": collected.network,
            "items": [asdict(i) for i in collected.items],
            "cursor": collected.cursor,
            "retry_after": isoformat(collected.retry_after) if collected.retry_after else None,
        },
    }
    write_atomic(staging / PENDING, json.dumps(pending, default=str).encode())
    return staging


# -- commit ---------------------------------------------------------------------------------
def _known_digests(recorded: dict[str, Any] | None) -> tuple[Digests, int, int] | None:
    """A collector's digests of a staged file, with the inode and mtime it had then."""
    if not recorded:
        return None
    try:
        return Digests.from_dict(recorded), int(recorded["inode"]), int(recorded["mtime_ns"])
    except (KeyError, TypeError, ValueError):
        return None


def _put_artifact(rt: Runtime, path: Path, artifact: StagedArtifact) -> tuple[Digests, str | None]:
    """Store one staged file; its digests, and a problem if it changed since it was written.

    The collector's digests (a hashing tee) are trusted only for the very file it wrote;
    otherwise the store re-reads the file, and the digests are always those of the bytes
    stored. A disagreement means the staged file changed after it was downloaded: it is
    stored as found and the capture says so.
    """
    known = _known_digests(artifact.digests)
    if known is None:
        return rt.store.put_file(path), None
    expected, inode, mtime_ns = known
    digests = rt.store.put_hashed_file(path, expected, inode=inode, mtime_ns=mtime_ns)
    if digests == expected:
        return digests, None
    return digests, (
        f"{artifact.name} changed after it was downloaded: stored as found "
        f"(sha256 {digests.sha256}; as downloaded {expected.sha256})"
    )


def _store_artifacts(
    rt: Runtime, files: Path, staged: list[StagedArtifact]
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    entries: list[dict[str, Any]] = []
    reasons: list[str] = []
    by_name: dict[str, str] = {}
    with rt.enricher() as enricher:
        # described in the background while the files are stored (both only read them)
        described = {
            a.name: enricher.submit(files / a.name, a.media_type, a.role)
            for a in staged
            if (files / a.name).is_file()
        }
        for artifact in staged:
            path = files / artifact.name
            if artifact.name not in described:
                reasons.append(f"artifact missing from staging: {artifact.name}")
                continue
            rt.progress(f"storing {artifact.name}")
            digests, problem = _put_artifact(rt, path, artifact)
            if problem:
                reasons.append(problem)
            by_name[artifact.name] = digests.sha256
            description = described[artifact.name].result()
            entry: dict[str, Any] = {
                "name": artifact.name,
                "key": blob_key(digests.sha256),
                "role": artifact.role,
                "media_type": artifact.media_type,
                **digests.as_dict(),
                "derived_from": None,
                "perceptual": description.perceptual,
                "metadata": description.metadata,
                "notes": description.notes,
                "platform": artifact.platform,
            }
            entries.append(entry)
            if description.full_tags is not None:
                tags_name = f"{artifact.name}.exif.json"
                tags_path = files / tags_name
                tags_path.write_bytes(manifests.canonical_json(description.full_tags))
                tag_digests = rt.store.put_file(tags_path)
                entries.append(
                    {
                        "name": tags_name,
                        "key": blob_key(tag_digests.sha256),
                        "role": "exif",
                        "media_type": "application/json",
                        **tag_digests.as_dict(),
                        "derived_from": digests.sha256,
                        "perceptual": [],
                        "metadata": {},
                        "notes": [],
                        "platform": {},
                    }
                )
        tools = enricher.tools()  # after the work: exiftool started in the background
    names = {a.name: a for a in staged}
    for entry in entries:
        artifact = names.get(entry["name"])
        if artifact is not None and artifact.derived_from:
            entry["derived_from"] = by_name.get(artifact.derived_from)
    return entries, reasons, tools


def commit_pending(rt: Runtime, staging: Path) -> CaptureOutcome:
    """Store, describe and index a staged capture. Safe to repeat after a crash."""
    pending = json.loads((staging / PENDING).read_text())
    collected = pending["collected"]
    capture_id = pending["capture_id"]
    source = pending["source"]
    key = manifests.manifest_key(source["id"], capture_id)
    staged = [StagedArtifact(**a) for a in collected["artifacts"]]
    status, reasons = collected["status"], list(collected["reasons"])

    staged_manifest = staging / "manifest.json"
    if rt.store.exists(key):  # a crash after the manifest was written: just index it
        data = rt.store.read_bytes(key)
        manifest = manifests.parse(data)
    elif staged_manifest.is_file():
        # custody: a crash after signing. Reuse the exact bytes that were signed, so the
        # write-once manifest.sig already in the store matches (Ed25519 is deterministic).
        data = staged_manifest.read_bytes()
        manifest = manifests.parse(data)
        signing.sign_manifest(rt.store, signing.signer_for(rt.settings), key, data)
        rt.store.put_bytes(key, data)
    else:
        entries, missing, enrich_tools = _store_artifacts(rt, staging / ARTIFACTS_DIR, staged)
        if missing:
            reasons.extend(missing)
            status = "partial" if status == "complete" else status
        with rt.catalogue.session() as session:
            previous = session.scalar(
                select(Capture.id)
                .where(Capture.source_id == source["id"], Capture.id != capture_id)
                .order_by(Capture.id.desc())
                .limit(1)
            )
        tools = {"witnessbox": __version__, "python": sys.version.split()[0]}
        tools.update(enrich_tools)
        tools.update(collected["tools"])
        manifest = manifests.build_manifest(
            capture_id=capture_id,
            source=source,
            status=status,
            reasons=reasons,
            started_at=parse_time(pending["started_at"]),
            finished_at=parse_time(pending["finished_at"]),
            collector=tuple(pending["collector"]),
            run=pending["run"],
            tools=tools,
            host=_host_facts(),
            network=collected["network"],
            platform=collected["platform"],
            artifacts=entries,
            store=rt.store.describe(),
            previous_capture_id=previous,
            items=collected["items"],
            cursor=collected["cursor"],
            retry_after=parse_time(collected["retry_after"]),
        )
        # custody: name the signing key inside the signed bytes, keep those bytes in
        # staging, then write manifest.sig BEFORE the manifest: no capture is ever unsigned.
        signer = signing.signer_for(rt.settings)
        manifest["signing"] = signer.info()
        if rt.replicas:  # which copies hold ciphertext, and under which algorithm
            manifest["replicas"] = [r.describe() for r in rt.replicas]
        manifests.validate(manifest)
        data = manifests.canonical_json(manifest)
        write_atomic(staged_manifest, data)
        signing.sign_manifest(rt.store, signer, key, data)
        rt.store.put_bytes(key, data)
    digest = hashlib.sha256(data).hexdigest()
    with rt.catalogue.session.begin() as session:
        index_manifest(session, manifest, key, digest, rt.clock())
        opener = search.opener_for(rt.store, staging / ARTIFACTS_DIR)
        alerts = search.derive(session, manifest, opener, rt.clock())  # text index, changes
    search.notify(rt.settings, alerts)
    custody_ledger.record_capture(rt, manifest, key, digest)  # idempotent on resume
    for hook in AFTER_COMMIT:
        hook(rt, manifest, key)
    shutil.rmtree(staging, ignore_errors=True)
    capture = manifest["capture"]
    return CaptureOutcome(
        capture_id,
        source["id"],
        capture["status"],
        capture["reasons"],
        key,
        len(manifest["artifacts"]),
    )


def _pending_source(staging: Path) -> str | None:
    try:
        return json.loads((staging / PENDING).read_text())["source"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resume_pending(rt: Runtime, source_id: str | None = None) -> list[CaptureOutcome]:
    """Complete captures whose process died after collecting (their data may be gone online);
    with ``source_id``, only that source's."""
    outcomes: list[CaptureOutcome] = []
    if not rt.settings.staging.is_dir():
        return outcomes
    leftovers = sweep_staging(rt)  # empty abandoned directories go
    if leftovers:
        rt.progress(f"{len(leftovers)} interrupted capture(s) in staging: witnessbox staging list")
    for staging in sorted(rt.settings.staging.iterdir()):
        if not (staging / PENDING).is_file():
            continue
        if source_id is not None and _pending_source(staging) != source_id:
            continue
        with file_lock(staging.with_suffix(".lock"), blocking=False) as locked:
            if not locked or not (staging / PENDING).is_file():
                continue  # another process is committing it
            rt.progress(f"completing interrupted capture {staging.name}")
            outcome = commit_pending(rt, staging)
            outcome.resumed = True
            outcomes.append(outcome)
        with contextlib.suppress(FileNotFoundError):
            staging.with_suffix(".lock").unlink()
    return outcomes
