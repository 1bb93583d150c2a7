"""Turn a ``PageRecording`` into the capture's files: WARC, WACZ, snapshots, media, page info.

File names are fixed words and indexes, never page text. The WARC holds, in order: warcinfo;
a response and a request record per exchange (revisits for repeated payloads); resource
records for the screenshot, DOM, text and PDF (``urn:view:``, ``urn:dom:``, ``urn:text:``,
``urn:pdf:`` + the page URL, as Browsertrix names them); and a metadata record with the page
info JSON, which is also an artifact of its own.
"""

from __future__ import annotations

import json
import mimetypes
import shutil
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.base import StagedArtifact, http_reason
from collectors.formats.wacz import WaczPage, write_wacz
from collectors.formats.warc import CaptureWarcWriter, HttpExchange, archive_response_headers
from collectors.web.gate import PolicyGate
from collectors.web.hops import Hop
from collectors.web.options import WebOptions
from collectors.web.page import PageRecording
from collectors.web.page_info import build_page_info, remote_addresses, tls_facts
from collectors.web.verdicts import idle_reason, is_download

WARC_NAME = "capture.warc.gz"
WACZ_NAME = "capture.wacz"
MEDIA_EXT = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/svg+xml": "svg",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "weba",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/flac": "flac",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/ogg": "ogv",
    "video/quicktime": "mov",
}


@dataclass
class CaptureOutput:
    status: str
    reasons: list[str]
    artifacts: list[StagedArtifact]
    page_info: dict[str, Any]
    network: dict[str, Any]
    platform: dict[str, Any] = field(default_factory=dict)


def _media_type(hop: Hop) -> str:
    value = hop.header("content-type") or ""
    return value.split(";")[0].strip().lower()


def _main_chain(rec: PageRecording) -> list[Hop]:
    """The main document's hops: the first document request chain of the page."""
    for hop in rec.hops:
        if (
            hop.resource_type == "Document"
            and hop.url.split("#")[0] == rec.requested_url.split("#")[0]
        ):
            return [h for h in rec.hops if h.key == hop.key]
    documents = [h for h in rec.hops if h.resource_type == "Document"]
    return [h for h in rec.hops if documents and h.key == documents[0].key]


def _exchange(hop: Hop) -> HttpExchange:
    extra: dict[str, str] = {}
    if hop.security:
        extra["WARC-Cipher-Suite"] = str(hop.security.get("cipher", ""))
    version = hop.http_version or ("HTTP/1.0" if hop.protocol == "http/1.0" else "HTTP/1.1")
    return HttpExchange(
        url=hop.url,
        method=hop.method,
        request_headers=[
            (n, v)
            for n, v in (hop.raw_request_headers or hop.request_headers)
            if not n.startswith(":")
        ],
        request_body=hop.post_data,
        status=hop.status or 0,
        reason=hop.status_text,
        response_headers=hop.raw_response_headers or hop.response_headers,
        body=hop.body,
        truncated=hop.truncated,
        date=datetime.fromtimestamp(hop.started, UTC),
        http_version=version,
        protocol=hop.protocol,
        remote_ip=hop.remote_ip,
        extra_headers={k: v for k, v in extra.items() if v},
    )


def write_outputs(
    rec: PageRecording,
    staging: Path,
    options: WebOptions,
    gate: PolicyGate,
    *,
    capture_id: str,
    operator: str,
    tools: dict[str, str],
    software: str,
) -> CaptureOutput:
    artifacts: list[StagedArtifact] = []
    exchanges: list[dict[str, Any]] = []
    not_captured: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    renamed_any: set[str] = set()
    main_chain = _main_chain(rec)
    main_final = main_chain[-1] if main_chain else None
    download = not rec.committed and is_download(rec.navigation_error, main_final)
    page_url = rec.final_url or rec.requested_url
    main_response_id: str | None = None
    capture_date = datetime.fromtimestamp(rec.timings["started"], UTC)

    for hop in rec.hops:  # policy re-check of the addresses the browser actually used
        if hop.remote_ip:
            gate.check_connected(hop.url, hop.remote_ip)

    warc_path = staging / WARC_NAME
    with open(warc_path, "xb") as out:
        writer = CaptureWarcWriter(out, WARC_NAME)
        writer.warcinfo(
            {
                "software": software,
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "operator": operator,
                "hostname": socket.gethostname(),
                "http-header-user-agent": rec.user_agent,
                "browser": f"Chromium {rec.browser_version}",
                "tools": ", ".join(f"{k} {v}" for k, v in tools.items() if v),
                "capture-id": capture_id,
                "description": f"witnessbox web capture of {rec.requested_url}",
            }
        )
        media_index = 0
        for hop in rec.hops:
            if hop.blocked:
                continue
            if hop.status is None:
                not_captured.append({"url": hop.url, "reason": hop.error or "no response"})
                continue
            if hop.from_cache and hop.body is None:
                continue
            ex = _exchange(hop)
            ids = writer.exchange(ex)
            if hop is main_final:
                main_response_id = ids.response_id
            _, renamed = archive_response_headers(ex.response_headers, hop.body_size)
            renamed_any.update(n.lower() for n in renamed)
            entry = {
                "url": hop.url,
                "method": hop.method,
                "status": hop.status,
                "type": hop.resource_type,
                "media_type": _media_type(hop),
                "bytes": hop.body_size,
                "response_record": ids.response_id,
                "request_record": ids.request_id,
                "payload_digest": ids.payload_digest,
                "remote_ip": hop.remote_ip,
                "protocol": hop.protocol,
            }
            if ids.revisit_of:
                entry["revisit_of"] = ids.revisit_of
            if hop.truncated:
                entry["truncated"] = hop.truncated
                not_captured.append(
                    {
                        "url": hop.url,
                        "reason": "; ".join(hop.notes) or f"truncated ({hop.truncated})",
                    }
                )
            if hop.is_redirect:
                entry["location"] = hop.location
            exchanges.append(entry)
            kind = _media_type(hop)
            wanted = (kind.startswith("image/") and hop.body_size >= options.media_min_bytes) or (
                kind.startswith(("audio/", "video/")) and hop.body_size > 0
            )
            wanted = wanted or (download and hop is main_final)  # the file the URL answers with
            if wanted and not hop.truncated and not ids.revisit_of and hop.status == 200:
                media_index += 1
                ext = MEDIA_EXT.get(kind) or (mimetypes.guess_extension(kind) or ".bin").lstrip(".")
                name = f"media/{media_index:04d}.{ext}"
                target = staging / name
                target.parent.mkdir(exist_ok=True)
                hop.body.seek(0)
                with open(target, "xb") as dst:
                    shutil.copyfileobj(hop.body, dst)
                link = {
                    "warc_record_id": ids.response_id,
                    "url": hop.url,
                    "page_url": page_url,
                    "payload_digest": ids.payload_digest,
                }
                artifacts.append(
                    StagedArtifact(name, "media", kind, derived_from=WARC_NAME, platform=link)
                )
                media.append({"name": name, **link})

        concurrent = main_response_id
        snapshot_files: list[tuple[str, str, str, bytes | None, str]] = [
            ("screenshot.png", "screenshot", "image/png", rec.screenshot, "urn:view:"),
            (
                "dom.html",
                "dom",
                "text/html",
                rec.dom.encode("utf-8") if rec.dom is not None else None,
                "urn:dom:",
            ),
            (
                "text.txt",
                "text",
                "text/plain",
                rec.text.encode("utf-8") if rec.text is not None else None,
                "urn:text:",
            ),
            ("page.pdf", "pdf", "application/pdf", rec.pdf, "urn:pdf:"),
        ]
        resource_ids: dict[str, str] = {}
        for name, role, media_type, data, urn in snapshot_files:
            if data is None:
                continue
            (staging / name).write_bytes(data)
            content_type = media_type + (
                "; charset=utf-8" if media_type.startswith("text/") else ""
            )
            record_id = writer.resource(
                urn + page_url, content_type, data, concurrent_to=concurrent
            )
            resource_ids[name] = record_id
            artifacts.append(
                StagedArtifact(
                    name,
                    role,
                    media_type,
                    platform={"warc_record_id": record_id, "page_url": page_url},
                )
            )

        status, reasons = _status(rec, gate, main_final)
        page_info = build_page_info(
            rec,
            gate,
            options,
            main_chain,
            exchanges,
            not_captured,
            media,
            sorted(renamed_any),
            status,
            reasons,
            tools,
            capture_id,
            resource_ids,
        )
        info_bytes = json.dumps(page_info, indent=2, ensure_ascii=False, sort_keys=True).encode(
            "utf-8"
        )
        record_id = writer.metadata(
            "urn:pageinfo:" + page_url, info_bytes, concurrent_to=concurrent
        )
    (staging / "page-info.json").write_bytes(info_bytes)
    artifacts.insert(0, StagedArtifact(WARC_NAME, "warc", "application/warc"))
    artifacts.append(
        StagedArtifact(
            "page-info.json",
            "page-info",
            "application/json",
            platform={"warc_record_id": record_id, "page_url": page_url},
        )
    )
    if options.wacz:
        pages = [
            WaczPage(url=page_url, ts=capture_date, title=rec.title, id=capture_id, text=rec.text)
        ]
        write_wacz(
            staging / WACZ_NAME,
            warc_path,
            pages,
            title=rec.title or page_url,
            software=software,
            warc_name=WARC_NAME,
        )
        artifacts.insert(
            1, StagedArtifact(WACZ_NAME, "wacz", "application/wacz", derived_from=WARC_NAME)
        )

    network = {
        "resolved": gate.resolved,
        "remote_addresses": remote_addresses(rec),
        "tls": tls_facts(rec),
        "refused": [r.as_dict() for r in gate.refusals],
        "policy_violations": gate.violations,
    }
    platform = {
        "url": rec.requested_url,
        "final_url": page_url,
        "http_status": main_final.status if main_final else None,
        "title": rec.title,
        "warc_records": writer.records,
    }
    return CaptureOutput(status, reasons, artifacts, page_info, network, platform)


def _status(rec: PageRecording, gate: PolicyGate, main_final: Hop | None) -> tuple[str, list[str]]:
    reasons: list[str] = []
    error = rec.navigation_error
    if main_final is not None and not rec.committed and is_download(error, main_final):
        if main_final.truncated:  # a complete capture of that file, unless it was cut short
            return "partial", [f"the downloaded file was truncated ({main_final.truncated})"]
        return "complete", reasons
    if not rec.committed or main_final is None or main_final.status is None:
        reasons.append(f"the page did not load: {rec.navigation_error or 'no main document'}")
        return "failed", reasons
    if main_final.status >= 400:  # kept: the answer is evidence of the disappearance
        reasons.append(http_reason(main_final.status, main_final.status_text))
    if not rec.load_finished:
        reasons.append("the page did not finish loading (no load event) within the load timeout")
    if not rec.network_idle:
        reasons.append(idle_reason(rec.inflight_at_end))
    truncated = [h for h in rec.hops if h.truncated and not h.blocked]
    if truncated:
        reasons.append(f"{len(truncated)} response body(ies) truncated (size or time limit)")
    if rec.capture_limit_hit:
        reasons.append("the capture size limit was reached")
    if gate.refusals:
        reasons.append(f"{len(gate.refusals)} request(s) refused by the network policy")
    if gate.violations:
        reasons.append(
            f"{len(gate.violations)} connection(s) to refused addresses (DNS changed under us)"
        )
    for problem in rec.problems:
        if problem.startswith("screenshot: viewport only"):
            reasons.append(problem)  # a screenshot was kept: say which one
        elif problem.startswith(("screenshot", "viewport screenshot", "DOM", "PDF")):
            reasons.append(f"snapshot step failed: {problem}")
    if main_final.status >= 400:
        return "failed", reasons
    return ("partial" if reasons else "complete"), reasons
