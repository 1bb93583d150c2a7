"""The Captures page and a capture's detail: screenshot, artifacts, hashes, provenance.

Files stream from the store in chunks (never whole into memory) and every read is written
to the custody ledger as ``accessed``. Only raster images are ever shown inline; every other
file downloads as an attachment with ``nosniff``, so captured HTML never runs here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from preservation.custody.access import record_access
from preservation.queries import custody_trail
from preservation.store import blob_key
from witnessbox_airflow.ui import data
from witnessbox_airflow.ui.auth import User, current_user
from witnessbox_airflow.ui.render import (
    e,
    field,
    kind_options,
    link,
    page,
    q,
    rows,
    select,
    status,
    url,
    when,
)

router = APIRouter()
STATUSES = [
    ("", "any status"),
    ("complete", "complete"),
    ("partial", "partial"),
    ("failed", "failed"),
]
INLINE = {"image/png", "image/jpeg", "image/webp", "image/gif"}
PREVIEW_ROLES = ("screenshot", "thumbnail")
CHUNK = 1024 * 1024


def _day(value: str, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{what}: use a date like 2026-01-31") from None


def _filters(request: Request) -> data.CaptureFilter:
    p = request.query_params
    until = _day(p.get("until", ""), "until")
    return data.CaptureFilter(
        source=p.get("source", ""),
        case=p.get("case", ""),
        kind=p.get("kind", ""),
        status=p.get("status", ""),
        since=_day(p.get("since", ""), "since"),
        until=until + timedelta(days=1) if until else None,
        before=p.get("before", ""),
    )


def airflow_links(run: dict[str, Any]) -> str:
    """Links to the Airflow run and the task's log that made a capture."""
    if not run or run.get("via") != "airflow" or not run.get("dag_id"):
        return e(run.get("user") or run.get("via") or "-") if run else "-"
    base = f"/dags/{q(run['dag_id'])}/runs/{q(str(run.get('run_id', '')))}"
    task = f"{base}/tasks/{q(str(run.get('task_id', '')))}"
    if run.get("map_index") is not None and int(run["map_index"]) >= 0:
        task += f"/mapped/{int(run['map_index'])}"
    try_no = run.get("try_number")
    return (
        f"{link(base, 'run')} · {link(task + (f'?try_number={try_no}' if try_no else ''), 'log')}"
    )


@router.get("/api/captures")
def api_captures(request: Request, user: User = Depends(current_user)) -> JSONResponse:
    from preservation.presentation import capture_dict

    with data.runtime().catalogue.session() as session:
        found = data.captures(session, _filters(request), limit=200)
        return JSONResponse([capture_dict(c, with_artifacts=False) for c in found])


@router.get("/captures")
def captures_page(request: Request, user: User = Depends(current_user)) -> Any:
    f = _filters(request)
    with data.runtime().catalogue.session() as session:
        found = data.captures(session, f)
        counts = data.artifact_counts(session, [c.id for c in found])
    table = [
        [
            link(url(f"captures/{c.id}"), c.id),
            when(c.started_at),
            status(c.status),
            e(counts.get(c.id, 0)),
            e(c.kind),
            e(c.case_id),
            link(url("captures", source=c.source_id), c.source_id),
            f"<code>{e(c.source_url)}</code>",
            airflow_links(c.run_context or {}),
        ]
        for c in found
    ]
    p = dict(request.query_params)
    form = (
        f'<form method="get" action="{url("captures")}" id="filter">'
        f"{field('source', p, 'source id', 10)}{field('case', p, 'case', 10)}"
        f"{select('kind', p, kind_options())}{select('status', p, STATUSES)}"
        f"{field('since', p, 'from YYYY-MM-DD', 12)}{field('until', p, 'to YYYY-MM-DD', 12)}"
        "<button>Filter</button></form>"
    )
    more = ""
    if len(found) == data.PAGE:
        older = {k: v for k, v in p.items() if k != "before"}
        more = f"<p>{link(url('captures', **older, before=found[-1].id), 'older')}</p>"
    headers = [
        "Capture",
        "Started (UTC)",
        "Status",
        "Files",
        "Kind",
        "Case",
        "Source",
        "URL",
        "Airflow",
    ]
    from witnessbox_airflow.search_ui import search_box  # the analyst's full-text search

    body = form + search_box() + rows(table, headers, "captures") + more
    return page("Captures", body, user)


def _hashes(rows_: list[Any]) -> str:
    return "<br>".join(
        f"{e(h.algorithm)}{'@' + e(h.frame) if h.frame else ''} <code>{e(h.value)}</code>"
        for h in rows_[:8]
    )


def _metadata(summary: dict[str, Any]) -> str:
    items = list((summary or {}).items())[:12]
    return "<br>".join(f"{e(k)}: <code>{e(v)}</code>" for k, v in items)


def _capture_or_404(rt: Any, capture_id: str) -> dict[str, Any]:
    from kernel.errors import InputError
    from preservation.queries import get_capture

    try:
        return get_capture(rt.catalogue, capture_id)
    except InputError:
        raise HTTPException(status_code=404, detail=f"no capture {capture_id}") from None


@router.get("/captures/{capture_id}")
def capture_page(capture_id: str, user: User = Depends(current_user)) -> Any:
    from preservation.presentation import CAPTURE_FACTS

    rt = data.runtime()
    c = _capture_or_404(rt, capture_id)
    manifest = json.loads(rt.store.read_bytes(c["manifest_key"]))
    run = dict(manifest.get("capture", {}).get("run") or {})
    shas = [a["sha256"] for a in c["artifacts"]]
    with rt.catalogue.session() as session:
        hashes = data.perceptual(session, shas)
        dupes = data.near_duplicates(session, shas)
    facts = rows(
        [[e(k), f"<code>{e(c[k])}</code>"] for k in CAPTURE_FACTS]
        + [
            ["source", link(url("captures", source=c["source_id"]), c["source_id"])],
            ["made by", airflow_links(run)],
        ],
        ["Field", "Value"],
        "facts",
    )
    reasons = "".join(f'<p class="{e(c["status"])}">{e(r)}</p>' for r in c["reasons"])
    base = f"captures/{q(capture_id)}/files/"
    preview = next(
        (
            a
            for r in PREVIEW_ROLES
            for a in c["artifacts"]
            if a["role"] == r and a["media_type"] in INLINE
        ),
        None,
    )
    shot = ""
    if preview:
        shot = (
            f'<h2>{e(preview["role"].capitalize())}</h2><a href="{url(base + q(preview["name"]))}">'
            f'<img class="shot" id="preview" alt="{e(preview["role"])} of {e(capture_id)}" '
            f'src="{url(base + q(preview["name"]), inline=1)}"></a>'
        )
    artifacts = rows(
        [
            [
                link(url(base + q(a["name"])), a["name"]),
                e(a["role"]),
                e(a["media_type"]),
                e(a["size"]),
                f"sha256 <code>{e(a['sha256'])}</code><br>sha512 <code>{e(a['sha512'])}</code>"
                f"<br>md5 <code>{e(a['md5'])}</code>"
                + (
                    f"<br>derived from <code>{e(a['derived_from'])}</code>"
                    if a["derived_from"]
                    else ""
                ),
                _hashes(hashes.get(a["sha256"], [])),
                _metadata(a["metadata"]),
            ]
            for a in c["artifacts"]
        ],
        [
            "File (download)",
            "Role",
            "Type",
            "Bytes",
            "Digests",
            "Perceptual hashes",
            "Embedded metadata",
        ],
        "artifacts",
    )
    near = (
        rows(
            [
                [
                    f"<code>{e(d['mine'][:16])}…</code>",
                    e(d["algorithm"]),
                    e(d["distance"]),
                    "<br>".join(
                        link(url(f"captures/{cid}"), f"{cid} ({name})")
                        for cid, name in d["holders"]
                    )
                    or f"<code>{e(d['other'][:16])}…</code>",
                ]
                for d in dupes
            ],
            ["This artifact", "Algorithm", "Distance", "Near-duplicate in"],
            "near",
        )
        if dupes
        else ('<p class="muted">No near-duplicates linked.</p>')
    )
    prov = manifest.get("capture", {})
    provenance = rows(
        [
            [e(k), f"<code>{e(json.dumps(v, default=str)[:600])}</code>"]
            for k, v in (
                ("run", prov.get("run")),
                ("collector", prov.get("collector")),
                ("tools", manifest.get("tools")),
                ("host", manifest.get("host")),
                ("network", manifest.get("network")),
                ("signing", manifest.get("signing")),
                ("source", manifest.get("source")),
            )
            if v
        ],
        ["", ""],
        "provenance",
    )
    replay = (
        f"<p>{link(f'../replay/{q(capture_id)}', 'Replay the archived page')}</p>"
        if any(a["role"] == "wacz" for a in c["artifacts"])
        else ""
    )
    trail = rows(
        [
            [e(t["seq"]), e(t["at"]), e(t["event"]), e(t["actor"]), e(trail_note(t))]
            for t in custody_trail(rt, c)
        ],
        ["#", "At (UTC)", "Event", "Who", "What"],
        "custody",
    )
    body = (
        f"{facts}{reasons}{replay}{shot}<h2>Artifacts</h2>{artifacts}<h2>Near-duplicates</h2>{near}"
        f"<h2>Chain of custody</h2>{trail}"
        f"<h2>Provenance</h2>{provenance}<details><summary>Manifest</summary><pre><code>"
        f"{e(json.dumps(manifest, indent=1, default=str))}</code></pre></details>"
    )
    return page(f"Capture {capture_id}", body, user)


def trail_note(entry: dict[str, Any]) -> str:
    """One line on what a ledger entry says: the artifact and why, a result, a copy."""
    d = entry.get("data") or {}
    parts = [str(d[k]) for k in ("artifact", "reason", "result", "copy", "tsa") if d.get(k)]
    if entry["event"] == "sealed" and d.get("tokens"):
        parts.append(", ".join(str(t.get("tsa", "")) for t in d["tokens"]))
    if entry["event"] == "repaired":
        parts.append(f"{entry['subject']} from {d.get('source', '?')}")
    return "; ".join(parts)[:300]


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/captures/{capture_id}/files/{name:path}")
def capture_file(
    capture_id: str, name: str, inline: int = 0, user: User = Depends(current_user)
) -> StreamingResponse:
    rt = data.runtime()
    c = _capture_or_404(rt, capture_id)
    artifact = next((a for a in c["artifacts"] if a["name"] == name), None)
    if artifact is None:
        raise HTTPException(status_code=404, detail=f"no file {name!r} in capture {capture_id}")
    sha256, media = artifact["sha256"], artifact["media_type"]
    key = blob_key(sha256)
    if rt.store.stat(key) is None:
        raise HTTPException(status_code=410, detail=f"{name} is missing from the store: audit it")
    show = bool(inline) and media in INLINE
    record_access(
        rt,
        f"airflow:{user.name}",
        capture_id,
        name,
        "viewed in the Captures page" if show else "downloaded from the Captures page",
        via="airflow-ui",
    )

    def chunks() -> Iterator[bytes]:
        with rt.store.open(key) as stream:
            while block := stream.read(CHUNK):
                yield block

    filename = _SAFE_NAME.sub("_", name)[-150:] or "artifact"
    return StreamingResponse(
        chunks(),
        media_type=media if show else "application/octet-stream",
        headers={
            "Content-Disposition": f'{"inline" if show else "attachment"}; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
