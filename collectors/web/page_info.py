"""The page info of a web capture (``page-info.json``): what happened, with what, and why.

Viewport, user agent, redirect chain, TLS and the address per origin, timings, limits,
what the policy refused and what was not captured. ``output.write_outputs`` stores it as
an artifact and as a WARC metadata record.
"""

from __future__ import annotations

from typing import Any

from collectors.web.gate import PolicyGate
from collectors.web.hops import Hop
from collectors.web.options import WebOptions
from collectors.web.page import PageRecording
from kernel.ids import from_epoch, isoformat


def iso_epoch(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return isoformat(from_epoch(epoch))



def remote_addresses(rec: PageRecording) -> dict[str, str]:
    out: dict[str, str] = {}
    for hop in rec.hops:
        if hop.remote_ip:
            origin = "/".join(hop.url.split("/")[:3])
            out.setdefault(
                origin, f"{hop.remote_ip}:{hop.remote_port}" if hop.remote_port else hop.remote_ip
            )
    return out


def tls_facts(rec: PageRecording) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for origin, details in rec.security.items():
        keep = {
            k: details.get(k)
            for k in (
                "protocol",
                "keyExchange",
                "keyExchangeGroup",
                "cipher",
                "mac",
                "subjectName",
                "sanList",
                "issuer",
                "validFrom",
                "validTo",
                "certificateTransparencyCompliance",
                "serverSignatureAlgorithm",
                "encryptedClientHello",
            )
            if details.get(k) not in (None, "")
        }
        for key in ("validFrom", "validTo"):
            if isinstance(keep.get(key), int | float):
                keep[key] = iso_epoch(keep[key])
        keep["certificate_chain_der_base64"] = rec.certificates.get(origin, [])
        out[origin] = keep
    return out


def build_page_info(
    rec: PageRecording,
    gate: PolicyGate,
    options: WebOptions,
    main_chain: list[Hop],
    exchanges: list[dict[str, Any]],
    not_captured: list[dict[str, Any]],
    media: list[dict[str, Any]],
    renamed: list[str],
    status: str,
    reasons: list[str],
    tools: dict[str, str],
    capture_id: str,
    resource_ids: dict[str, str],
) -> dict[str, Any]:
    timings = {k: iso_epoch(v) if isinstance(v, float) else v for k, v in rec.timings.items()}
    return {
        "capture_id": capture_id,
        "requested_url": rec.requested_url,
        "final_url": rec.final_url,
        "title": rec.title,
        "status": status,
        "reasons": reasons,
        "redirect_chain": [
            {"url": h.url, "status": h.status, "location": h.location, "remote_ip": h.remote_ip}
            for h in main_chain
        ],
        "viewport": rec.viewport,
        "user_agent": rec.user_agent,
        "browser": f"Chromium {rec.browser_version}",
        "tools": tools,
        "timings": timings,
        "load_event": rec.load_finished,
        "network_idle": rec.network_idle,
        "inflight_at_end": rec.inflight_at_end,
        "scroll": rec.scroll,
        "navigation_error": rec.navigation_error,
        "limits": {
            "max_response_bytes": options.max_response_bytes,
            "max_capture_bytes": options.max_capture_bytes,
            "load_timeout_s": options.load_timeout_s,
            "idle_quiet_ms": options.idle_quiet_ms,
            "idle_max_s": options.idle_max_s,
            "scroll_max_steps": options.scroll_max_steps,
        },
        "stored_bytes": rec.stored_bytes,
        "tls": tls_facts(rec),
        "remote_addresses": remote_addresses(rec),
        "resolved": gate.resolved,
        "refused": [r.as_dict() for r in gate.refusals],
        "policy_violations": gate.violations,
        "not_captured": not_captured,
        "problems": rec.problems,
        "websockets_not_archived": rec.websockets,
        "decoded_bodies": {
            "note": "bodies are stored as the browser decoded them; original encoding headers "
            "are kept as X-Archive-Orig-* in each response record",
            "renamed_headers": renamed,
        },
        "redirect_bodies": "the browser does not expose redirect response bodies: "
        "redirect records hold headers only",
        "exchanges": exchanges,
        "media": media,
        "snapshots": resource_ids,
    }
