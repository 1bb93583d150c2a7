"""Logged access to originals: who read what, when and why, in the custody ledger.

Every read of an original by a person (``witnessbox get``, a download from the Captures
page, an export) appends one ``accessed`` or ``exported`` ledger entry. Working copies are
separate from the preservation copy by construction: ``get`` writes a new file (an existing
one is refused), and nothing here opens a stored object for writing.

The UI calls ``open_for_download`` (records, then streams) or ``record_access`` directly::

    record_access(rt, "analyst@ui", capture_id, "page.warc.gz", "case review", "accessed",
                  via="ui")
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from kernel.errors import InputError, IntegrityError
from kernel.replicas import PRIMARY
from preservation.catalogue.models import Capture
from preservation.formats import manifest as manifests

if TYPE_CHECKING:
    from preservation.runtime import Runtime

KINDS = ("accessed", "exported")
CHUNK = 1 << 20


def record_access(
    rt: Runtime,
    actor: str,
    capture_id: str,
    artifact: str,
    reason: str,
    kind: str = "accessed",
    *,
    via: str = "cli",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one ``accessed``/``exported`` ledger entry and return it.

    ``artifact`` names what was read (an artifact name or key; ``*`` for a whole capture).
    A person reading an original must say why: an empty ``reason`` is refused (exit 2).
    """
    from preservation.custody.ledger import ledger_for

    if kind not in KINDS:
        raise ValueError(f"access kind must be one of {KINDS}, not {kind!r}")
    reason = (reason or "").strip()
    if not reason:
        raise InputError("say why you read this original: a reason is required (--reason)")
    data = {"capture_id": capture_id, "artifact": artifact, "reason": reason, "via": via}
    data.update(extra or {})
    return ledger_for(rt).append(kind, capture_id, actor or "unknown", data, rt.clock())


def find_artifact(rt: Runtime, capture_id: str, wanted: str) -> dict[str, Any]:
    """The manifest entry of one artifact of a capture, by name, key or sha256."""
    with rt.catalogue.session() as session:
        capture = session.get(Capture, capture_id)
        manifest_key = capture.manifest_key if capture else None
    if manifest_key is None:
        raise InputError(f"unknown capture: {capture_id}")
    manifest = manifests.parse(rt.store.read_bytes(manifest_key))
    for entry in manifest["artifacts"]:
        if wanted in (entry.get("name"), entry.get("key"), entry.get("sha256")):
            return entry
    names = ", ".join(str(a.get("name")) for a in manifest["artifacts"])
    raise InputError(f"capture {capture_id} has no artifact {wanted!r} (it has: {names})")


def _source(rt: Runtime, copy: str | None) -> tuple[str, Any]:
    if copy in (None, "", PRIMARY):
        return PRIMARY, rt.store
    return str(copy), rt.replica(str(copy)).store


def get_original(
    rt: Runtime,
    capture_id: str,
    artifact: str,
    out: Path,
    reason: str,
    *,
    actor: str,
    copy: str | None = None,
) -> dict[str, Any]:
    """Write a working copy of one original to the new file ``out``; log the access.

    The bytes are checked against the manifest's sha256 as they are written: a copy that
    does not match is removed and the read fails. The ledger entry follows a good copy.
    """
    if not (reason or "").strip():
        raise InputError("get: --reason is required: say why you read this original")
    entry = find_artifact(rt, capture_id, artifact)
    name, store = _source(rt, copy)
    out = Path(out).expanduser()
    try:
        target = open(out, "xb")  # a new file only: never overwrite anything
    except FileExistsError:
        raise InputError(f"{out} exists: get writes a new file and never overwrites") from None
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror}") from None
    digest = hashlib.sha256()
    size = 0
    try:
        with target, store.open(entry["key"]) as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise IntegrityError(
                f"{entry['key']} on {name} does not match its manifest (sha256 "
                f"{digest.hexdigest()[:16]}…): run `witnessbox verify {capture_id}`"
            )
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out)  # only the file this command created
        raise
    logged = record_access(
        rt,
        actor,
        capture_id,
        str(entry["name"]),
        reason,
        extra={"key": entry["key"], "sha256": entry["sha256"], "copy": name, "out": str(out)},
    )
    return {
        "capture_id": capture_id,
        "artifact": entry["name"],
        "sha256": entry["sha256"],
        "size": size,
        "out": str(out),
        "copy": name,
        "ledger_seq": logged["seq"],
    }


@contextlib.contextmanager
def open_for_download(
    rt: Runtime, capture_id: str, artifact: str, *, actor: str, reason: str, via: str = "ui"
) -> Iterator[tuple[dict[str, Any], BinaryIO]]:
    """Log the access, then yield the artifact's manifest entry and a read-only stream."""
    entry = find_artifact(rt, capture_id, artifact)
    record_access(
        rt,
        actor,
        capture_id,
        str(entry["name"]),
        reason,
        via=via,
        extra={"key": entry["key"], "sha256": entry["sha256"], "copy": PRIMARY},
    )
    with rt.store.open(entry["key"]) as stream:
        yield entry, stream
