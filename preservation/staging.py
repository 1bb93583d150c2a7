"""Staging directories that no run will finish: found, listed, committed or set aside.

A run killed while its collector is still writing leaves ``staging/<capture_id>/`` without
``pending.json``: the commit protocol never saw it. Its files may be the only copy of a post
deleted since, so it is never deleted: ``sweep`` (every run, before collecting) removes only
directories that hold no file at all, and reports the others. An operator then commits one
as a ``partial`` capture with the reason ``collection interrupted`` (``prepare_commit``
writes the ``pending.json`` the commit protocol completes), or sets it aside
(``set_aside``: moved to ``staging-set-aside/``, out of every run's way, kept).

A directory being written right now is locked by its run (``<capture_id>.lock``): sweeps
and commands skip it. ``started.json``, written before the collector starts, names the
source, the collector and the run, so a commit can say what the files are.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.base import check_artifact_name
from kernel.errors import InputError
from kernel.ids import isoformat
from preservation.runtime import file_lock

if TYPE_CHECKING:
    from preservation.runtime import Runtime

PENDING = "pending.json"
STARTED = "started.json"
FILES = "files"
SET_ASIDE = "staging-set-aside"
INTERRUPTED = "collection interrupted"
_CAPTURE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_ROLE_BY_SUFFIX = {".warc": "warc", ".gz": "warc", ".wacz": "wacz", ".pdf": "pdf"}


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def write_started(staging: Path, started: dict[str, Any]) -> None:
    """Record what a staging directory is for, before anything is collected into it."""
    write_atomic(staging / STARTED, json.dumps(started, default=str).encode())


@dataclass
class Leftover:
    """A staging directory without ``pending.json`` that holds files."""

    capture_id: str
    path: Path
    files: int
    bytes: int
    source_id: str | None
    url: str | None
    started_at: str | None
    last_write: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
            "source_id": self.source_id,
            "url": self.url,
            "started_at": self.started_at,
            "last_write": isoformat(self.last_write),
        }


def _files(path: Path) -> list[Path]:
    root = path / FILES
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def _started(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / STARTED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _leftover(path: Path, files: list[Path]) -> Leftover:
    started = _started(path)
    source = started.get("source") if isinstance(started.get("source"), dict) else {}
    stats = [p.stat() for p in files]
    newest = max((s.st_mtime for s in stats), default=path.stat().st_mtime)
    return Leftover(
        path.name,
        path,
        len(files),
        sum(s.st_size for s in stats),
        source.get("id"),
        source.get("url"),
        started.get("started_at"),
        datetime.fromtimestamp(newest, UTC),
    )


def sweep(rt: Runtime, remove_empty: bool = True) -> list[Leftover]:
    """Remove abandoned empty staging directories; return the ones holding files."""
    root = rt.settings.staging
    leftovers: list[Leftover] = []
    if not root.is_dir():
        return leftovers
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if (path / PENDING).is_file():
            continue  # the commit protocol completes it (resume_pending)
        lock = path.with_suffix(".lock")
        with file_lock(lock, blocking=False) as locked:
            if not locked or (path / PENDING).is_file():
                continue  # a live run is collecting into it
            files = _files(path)
            if files:
                leftovers.append(_leftover(path, files))
                continue
            if remove_empty:
                shutil.rmtree(path, ignore_errors=True)
        if remove_empty and not path.exists():
            lock.unlink(missing_ok=True)
    return leftovers


def find(rt: Runtime, capture_id: str) -> Leftover:
    """One interrupted staging directory by its id; ``InputError`` for anything else."""
    if not _CAPTURE_ID.match(capture_id):
        raise InputError(f"not a capture id: {capture_id!r}")
    for leftover in sweep(rt, remove_empty=False):
        if leftover.capture_id == capture_id:
            return leftover
    path = rt.settings.staging / capture_id
    if (path / PENDING).is_file():
        raise InputError(f"{capture_id} is complete in staging: any run commits it")
    raise InputError(f"no interrupted capture in staging: {capture_id}")


def _artifact(files: Path, path: Path) -> dict[str, Any]:
    name = path.relative_to(files).as_posix()
    try:
        check_artifact_name(name)
    except ValueError:
        raise InputError(
            f"staged file {name!r} has a name the store cannot keep: set the capture aside"
        ) from None
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    role = _ROLE_BY_SUFFIX.get(path.suffix.lower(), "other")
    if role == "warc" and not name.endswith(".warc.gz"):
        role = "other"
    if media_type.split("/")[0] in ("image", "video", "audio"):
        role = "media"
    return {"name": name, "role": role, "media_type": media_type}


def prepare_commit(rt: Runtime, leftover: Leftover, source: dict[str, Any]) -> Path:
    """Write the ``pending.json`` that commits ``leftover`` as a partial capture."""
    started = _started(leftover.path)
    now = rt.clock()
    files = leftover.path / FILES
    artifacts = [_artifact(files, p) for p in _files(leftover.path)]
    earliest = min((p.stat().st_mtime for p in _files(leftover.path)), default=now.timestamp())
    collector = started.get("collector") or [f"{source.get('kind', 'unknown')}", "unknown"]
    reasons = [
        INTERRUPTED,
        f"committed from staging by {rt.settings.operator} at {isoformat(now)}: "
        f"{len(artifacts)} file(s) as the collector left them",
    ]
    pending = {
        "capture_id": leftover.capture_id,
        "source": started.get("source") or source,
        "started_at": started.get("started_at")
        or isoformat(datetime.fromtimestamp(earliest, UTC)),
        "finished_at": isoformat(leftover.last_write),
        "collector": list(collector),
        "run": {**(started.get("run") or {}), "committed_by": rt.run_context},
        "collected": {
            "status": "partial",
            "reasons": reasons,
            "artifacts": [
                {**a, "derived_from": None, "platform": {}, "digests": None} for a in artifacts
            ],
            "platform": {},
            "tools": {},
            "network": {},
            "items": [],
            "cursor": None,
            "retry_after": None,
        },
    }
    write_atomic(leftover.path / PENDING, json.dumps(pending, default=str).encode())
    return leftover.path


def set_aside(rt: Runtime, leftover: Leftover) -> Path:
    """Move an interrupted staging directory out of every run's way; it is kept."""
    target_root = rt.settings.home / SET_ASIDE
    target_root.mkdir(parents=True, exist_ok=True)
    target = target_root / leftover.capture_id
    if target.exists():
        raise InputError(f"{target} exists already")
    note = {"set_aside_by": rt.settings.operator, "set_aside_at": isoformat(rt.clock())}
    write_atomic(leftover.path / "set-aside.json", json.dumps(note).encode())
    os.replace(leftover.path, target)
    leftover.path.with_suffix(".lock").unlink(missing_ok=True)
    return target
