"""BagIt (RFC 8493) export of captures for handover: evidence plus everything to check it.

The bag holds, under ``data/``: each capture's artifacts (under safe names derived from the
manifest, never trusted as paths), its manifest, detached signature and seal proofs; the
seal records with their RFC 3161 tokens and certificate chains; the public keys; the custody
ledger entries about those objects (``ledger/entries.jsonl``) and the ledger head; and an
``index.json`` mapping artifact names to bag paths. Payload manifests are sha256 and
sha512; ``bag-info.txt`` names the case(s), the exporter and the date.

Every byte is re-read from the store and checked against the manifest while it is copied
(one pass computes sha256 and sha512): a damaged capture is refused, never exported as if
intact. The output directory must be new; a failed export removes only what it created.
The finished bag is validated with bagit-python, and the export is a ledger event.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import or_, select

from kernel import __version__
from kernel.errors import InputError, IntegrityError, Problem
from kernel.ids import isoformat
from preservation.catalogue.models import Capture
from preservation.custody.signing import check_manifest_signature, public_key_key
from preservation.custody.timestamps import SealedCapture
from preservation.store import Store

if TYPE_CHECKING:
    from preservation.runtime import Runtime

CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NEWLINES = re.compile(r"[\r\n]+")
MAX_COMPONENT = 100
MAX_DEPTH = 8


def safe_relpath(name: str) -> str:
    """A manifest artifact name made into a harmless relative path (no '..', no oddities)."""
    parts = []
    for raw in name.replace("\\", "/").split("/")[-MAX_DEPTH:]:
        part = _UNSAFE.sub("_", raw).lstrip(".-")[:MAX_COMPONENT]
        if part:
            parts.append(part)
    return "/".join(parts) or "artifact"


@dataclass
class _PayloadFile:
    path: str  # relative to the bag, "data/..."
    size: int
    sha256: str
    sha512: str


@dataclass
class ExportReport:
    bag: Path
    captures: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    ledger_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag": str(self.bag),
            "captures": self.captures,
            "cases": self.cases,
            "files": self.files,
            "bytes": self.bytes,
            "ledger_seq": self.ledger_seq,
        }


class _BagWriter:
    """Writes payload files once each, digesting them as they are written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[_PayloadFile] = []
        self._paths: set[str] = set()

    def claim(self, rel: str, digest_hint: str = "") -> str:
        """A unique payload path for ``rel`` (a collision gets the digest appended)."""
        path = f"data/{rel}"
        if path in self._paths:
            stem, dot, ext = rel.rpartition(".")
            suffix = (digest_hint or str(len(self._paths)))[:12]
            rel = f"{stem}-{suffix}.{ext}" if dot and stem else f"{rel}-{suffix}"
            path = f"data/{rel}"
        if path in self._paths:
            raise InputError(f"two exported files would share the name {path}")
        self._paths.add(path)
        return path

    def write_stream(self, path: str, stream: BinaryIO) -> _PayloadFile:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
        with open(target, "xb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                sha256.update(chunk)
                sha512.update(chunk)
                size += len(chunk)
        entry = _PayloadFile(path, size, sha256.hexdigest(), sha512.hexdigest())
        self.files.append(entry)
        return entry

    def write_bytes(self, rel: str, data: bytes) -> _PayloadFile:
        import io

        return self.write_stream(self.claim(rel), io.BytesIO(data))


def _select_captures(rt: Runtime, cases: list[str], capture_ids: list[str]) -> list[Capture]:
    if not cases and not capture_ids:
        raise InputError("name what to export: --case C and/or --capture ID")
    with rt.catalogue.session() as session:
        rows = list(
            session.scalars(
                select(Capture)
                .where(or_(Capture.case_id.in_(cases), Capture.id.in_(capture_ids)))
                .order_by(Capture.id)
            )
        )
    found_ids = {c.id for c in rows}
    missing = [c for c in capture_ids if c not in found_ids]
    if missing:
        raise InputError(f"unknown capture(s): {', '.join(missing)}")
    empty = [c for c in cases if not any(r.case_id == c for r in rows)]
    if empty:
        raise InputError(f"no captures in case(s): {', '.join(empty)}")
    return rows


def _batches_of(rt: Runtime, capture_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(capture_ids)
    with rt.catalogue.session() as session:
        rows = session.scalars(select(SealedCapture).where(SealedCapture.capture_id.in_(ids)))
        out: dict[str, list[str]] = {}
        for row in rows:
            out.setdefault(row.capture_id, []).append(row.batch_id)
    return out


def _copy_capture(
    rt: Runtime, bag: _BagWriter, capture: Capture, batches: list[str]
) -> tuple[dict[str, Any], str | None]:
    """Copy one capture's objects into the bag; return its index entry and signing key."""
    store = rt.store
    data = store.read_bytes(capture.manifest_key)
    if hashlib.sha256(data).hexdigest() != capture.manifest_sha256:
        raise IntegrityError(
            f"refusing to export {capture.id}: its manifest changed since it was indexed",
            [Problem("manifest-changed", capture.manifest_key)],
        )
    manifest = json.loads(data)
    problems = check_manifest_signature(store, capture.manifest_key, manifest, data)
    if problems:
        raise IntegrityError(f"refusing to export {capture.id}: {problems[0]}", problems)
    base = f"captures/{capture.id}"
    bag.write_bytes(f"{base}/manifest.json", data)
    sig_key = capture.manifest_key.rsplit("/", 1)[0] + "/manifest.sig"
    bag.write_bytes(f"{base}/manifest.sig", store.read_bytes(sig_key))
    for batch in batches:
        proof = capture.manifest_key.rsplit("/", 1)[0] + f"/seals/{batch}.json"
        bag.write_bytes(f"{base}/seals/{batch}.json", store.read_bytes(proof))
    artifacts = []
    for artifact in manifest["artifacts"]:
        path = bag.claim(f"{base}/artifacts/{safe_relpath(artifact['name'])}", artifact["sha256"])
        with store.open(artifact["key"]) as stream:
            written = bag.write_stream(path, stream)
        if written.sha256 != artifact["sha256"] or written.size != artifact["size"]:
            raise IntegrityError(
                f"refusing to export {capture.id}: {artifact['key']} does not match its manifest",
                [Problem("digest-mismatch", artifact["key"], capture.id)],
            )
        artifacts.append(
            {
                "name": artifact["name"],
                "path": path,
                "role": artifact["role"],
                "media_type": artifact["media_type"],
                "size": artifact["size"],
                "sha256": artifact["sha256"],
            }
        )
    entry = {
        "capture_id": capture.id,
        "source_id": capture.source_id,
        "url": capture.source_url,
        "case": capture.case_id,
        "status": capture.status,
        "started_at": isoformat(capture.started_at),
        "finished_at": isoformat(capture.finished_at),
        "manifest": f"data/{base}/manifest.json",
        "manifest_sha256": capture.manifest_sha256,
        "signature": f"data/{base}/manifest.sig",
        "seals": [f"data/{base}/seals/{b}.json" for b in batches],
        "artifacts": artifacts,
    }
    return entry, (manifest.get("signing") or {}).get("key_fingerprint")


def _tag_files(root: Path, files: list[_PayloadFile], info: dict[str, list[str]]) -> None:
    def write(name: str, text: str) -> None:
        with open(root / name, "x", encoding="utf-8", newline="\n") as out:
            out.write(text)

    write("bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    for alg in ("sha256", "sha512"):
        lines = "".join(f"{getattr(f, alg)}  {f.path}\n" for f in sorted(files, key=_by_path))
        write(f"manifest-{alg}.txt", lines)
    lines = []
    for key in sorted(info):
        for value in info[key]:
            lines.append(f"{key}: {_NEWLINES.sub(' ', value)}\n")
    write("bag-info.txt", "".join(lines))
    tags = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
    for alg in ("sha256", "sha512"):
        body = "".join(
            f"{hashlib.new(alg, (root / t).read_bytes()).hexdigest()}  {t}\n" for t in tags
        )
        write(f"tagmanifest-{alg}.txt", body)


def _by_path(f: _PayloadFile) -> str:
    return f.path


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def export_bag(
    rt: Runtime,
    out_dir: Path,
    cases: list[str] = (),
    capture_ids: list[str] = (),
    *,
    source: Store | None = None,
    reason: str = "",
) -> ExportReport:
    """Write a validated BagIt bag of the chosen captures into the new directory ``out_dir``.

    ``source`` reads the evidence from another copy (a replica, decrypted transparently);
    the ledger entry always goes to the primary, with who, what, when and ``reason``.
    """
    custody_rt = rt  # the ledger lives on the primary, whatever copy is read
    if source is not None:
        rt = dataclasses.replace(rt, store=source)
    import bagit

    from preservation.custody.ledger import actor_of, ledger_for

    cases, capture_ids = list(dict.fromkeys(cases)), list(dict.fromkeys(capture_ids))
    captures = _select_captures(rt, cases, capture_ids)
    out = Path(out_dir).expanduser().absolute()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.mkdir()  # the exclusive claim: an existing directory is never written into
    except FileExistsError:
        raise InputError(f"{out} exists: exports always go to a new directory") from None
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror}") from None
    cases_found = sorted({c.case_id for c in captures if c.case_id})
    report = ExportReport(out, [c.id for c in captures], cases_found)
    ledger = ledger_for(custody_rt)
    try:
        bag = _BagWriter(out)
        batches = _batches_of(rt, report.captures)
        index, fingerprints, batch_ids = [], set(), set()
        for capture in captures:
            rt.progress(f"exporting {capture.id}")
            entry, fp = _copy_capture(rt, bag, capture, batches.get(capture.id, []))
            index.append(entry)
            if fp:
                fingerprints.add(fp)
            batch_ids.update(batches.get(capture.id, []))
        for fp in sorted(fingerprints):
            bag.write_bytes(f"keys/{fp}.pub", rt.store.read_bytes(public_key_key(fp)))
        for batch in sorted(batch_ids):
            for key in rt.store.list(f"seals/{batch}/"):
                bag.write_bytes(key, rt.store.read_bytes(key))
        head = ledger.sync_tail()
        subjects = {*report.captures, *(c.manifest_key for c in captures)}
        subjects |= {f"seals/{b}/seal.json" for b in batch_ids} | batch_ids
        entries = ledger.entries(subjects)
        bag.write_bytes(
            "ledger/entries.jsonl",
            b"".join(
                json.dumps(e, sort_keys=True, ensure_ascii=False).encode() + b"\n" for e in entries
            ),
        )
        head_info = {"seq": head["seq"], "entry_hash": head["entry_hash"]} if head else None
        bag.write_bytes("ledger/head.json", json.dumps(head_info, indent=1).encode() + b"\n")
        now = rt.clock()
        exporter = actor_of(custody_rt)
        bag.write_bytes(
            "index.json",
            json.dumps(
                {
                    "exported_by": exporter,
                    "exported_at": isoformat(now),
                    "witnessbox": __version__,
                    "cases": report.cases,
                    "captures": index,
                    "ledger": {"entries": "data/ledger/entries.jsonl", "head": head_info},
                    "how_to_verify": {
                        "signature": "openssl pkeyutl -verify -pubin -inkey data/keys/<fp>.pub "
                        "-rawin -in manifest.json -sigfile manifest.sig",
                        "seal": "openssl ts -verify -data <32 root bytes> -in tsa-N.tsr "
                        "-CAfile tsa-N.chain.pem; the proof folds sha256(0x00||manifest "
                        "sha256) with siblings: sha256(0x01||left||right)",
                        "ledger": "entry_hash = sha256 of the entry without entry_hash, as "
                        "compact JSON with sorted keys; prev_hash chains the entries",
                    },
                },
                indent=1,
                ensure_ascii=False,
            ).encode()
            + b"\n",
        )
        report.files = len(bag.files)
        report.bytes = sum(f.size for f in bag.files)
        info = {
            "Bag-Software-Agent": [f"witnessbox {__version__}"],
            "Bagging-Date": [now.date().isoformat()],
            "Bag-Size": [_human_size(report.bytes)],
            "Payload-Oxum": [f"{report.bytes}.{report.files}"],
            "Contact-Name": [exporter],
            "External-Identifier": report.cases or report.captures[:1],
            "External-Description": [
                f"witnessbox evidence export: {len(captures)} capture(s) with manifests, "
                "signatures, RFC 3161 seals, public keys and custody ledger entries"
            ],
            "Witnessbox-Case": report.cases,
            "Witnessbox-Capture-Count": [str(len(captures))],
            "Witnessbox-Exporter": [exporter],
            "Witnessbox-Export-Time": [isoformat(now)],
            "Witnessbox-Ledger-Head": [
                f"{head_info['seq']} {head_info['entry_hash']}" if head_info else "empty"
            ],
        }
        _tag_files(out, bag.files, {k: v for k, v in info.items() if v})
        rt.progress("validating the bag")
        try:
            bagit.Bag(str(out)).validate(processes=1)
        except bagit.BagError as exc:
            raise IntegrityError(f"the new bag does not validate: {exc}") from None
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # only the directory this export created
        raise
    tag_sha256 = hashlib.sha256((out / "manifest-sha256.txt").read_bytes()).hexdigest()
    entry = ledger.append(
        "exported",
        f"export:{out.name}",
        exporter,
        {
            "path": str(out),
            "cases": report.cases,
            "captures": report.captures,
            "payload_oxum": f"{report.bytes}.{report.files}",
            "manifest_sha256_txt": tag_sha256,
            "reason": reason,
            "copy": getattr(source, "url", None) or "primary",
        },
        now,
    )
    report.ledger_seq = entry["seq"]
    return report
