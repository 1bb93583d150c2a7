"""The Watchlist page (analysts): filter, add, pause, resume, remove (admins), bulk import.

Adding uses the CLI's validation and messages; a refused entry answers 400 with the form
still filled in. Each row shows the source's last capture, next due time and how many
captures failed in a row.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse

from kernel.errors import InputError
from witnessbox_airflow.ui import data
from witnessbox_airflow.ui.auth import User, check_csrf, current_user, require
from witnessbox_airflow.ui.render import (
    e,
    field,
    hidden_csrf,
    kind_options,
    link,
    page,
    post_button,
    rows,
    select,
    url,
    when,
)

router = APIRouter()
STATES = [
    ("", "any state"),
    ("active", "active"),
    ("paused", "paused"),
    ("failing", "last capture failed"),
]
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@router.get("/api/watchlist")
def api_watchlist(user: User = Depends(current_user)) -> JSONResponse:
    from preservation.catalogue import watchlist

    return JSONResponse(
        [watchlist.source_dict(s) for s in watchlist.list_sources(data.runtime().catalogue)]
    )


def _filters(request: Request) -> data.SourceFilter:
    p = request.query_params
    try:
        offset = max(0, int(p.get("offset") or 0))
    except ValueError:
        offset = 0
    return data.SourceFilter(
        p.get("kind", ""), p.get("case", ""), p.get("tag", ""), p.get("state", ""), offset
    )


def render(
    user: User,
    f: data.SourceFilter,
    typed: dict[str, str] | None = None,
    message: str = "",
    error: str = "",
    status_code: int = 200,
) -> Any:
    from preservation.catalogue import watchlist

    with data.runtime().catalogue.session() as session:
        total, found = data.sources(session, f)
        facts = data.source_facts(session, [s.id for s in found])
    csrf = user.csrf
    table = []
    for s in found:
        d = watchlist.source_dict(s)
        fact = facts[s.id]
        actions = ""
        if user.can("analyst"):
            verb = "pause" if d["active"] else "resume"
            actions = post_button(url(f"watchlist/{d['id']}/{verb}"), verb, csrf)
        if user.can("admin"):
            actions += post_button(url(f"watchlist/{d['id']}/remove"), "remove", csrf)
        if fact["last_capture"]:
            last = link(url(f"captures/{fact['last_capture']}"), d["last_status"] or "capture")
            last = f'<span class="{e(d["last_status"])}">{last}</span> {when(d["last_capture_at"])}'
        else:
            last = '<span class="muted">never</span>'
        due = (
            "-" if not d["active"] else when(d["next_due_at"]) if d["next_due_at"] else "next tick"
        )
        table.append(
            [
                f"<code>{e(d['id'])}</code>",
                e(d["kind"]),
                "active" if d["active"] else "paused",
                e(d["every"]),
                e(d["case"]),
                e(", ".join(d["tags"])),
                last,
                due,
                f'<span class="failed">{fact["failures"]}</span>' if fact["failures"] else "0",
                link(url("captures", source=d["id"]), d["url"]),
                actions,
            ]
        )
    typed = typed or {}
    filters = (
        f'<form method="get" action="{url("watchlist")}" id="filter">'
        f"{select('kind', vars(f), kind_options())}{field('case', vars(f), 'case')}"
        f"{field('tag', vars(f), 'tag')}{select('state', vars(f), STATES)}"
        "<button>Filter</button></form>"
    )
    add = ""
    if user.can("analyst"):
        add = (
            f'<fieldset><legend>Watch a source</legend><form method="post" '
            f'action="{url("watchlist")}" id="add">{hidden_csrf(csrf)}'
            f"{field('url', typed, 'URL or @channel', 50)}"
            f"{select('kind', typed, kind_options('kind: infer'))}"
            f"{field('every', typed, 'every (6h)', 8)}{field('case', typed, 'case')}"
            f"{field('tags', typed, 'tags, comma-separated')}{field('note', typed, 'note')}"
            f"{field('options', typed, 'options: key=value ...', 24)}"
            "<button>Watch</button></form>"
            f'<form method="post" action="{url("watchlist/import")}" id="import" '
            f'enctype="multipart/form-data">{hidden_csrf(csrf)}'
            "Bulk import (CSV with a url column, or a JSON array): "
            '<input type="file" name="file" accept=".csv,.json,.txt,.tsv" aria-label="file">'
            "<button>Import</button></form></fieldset>"
        )
    notes = (f'<p class="error" role="alert">error: {e(error)}</p>' if error else "") + (
        f'<p class="notice">{e(message)}</p>' if message else ""
    )
    shown = f"{f.offset + 1} to {f.offset + len(found)} of {total}" if found else "no sources"
    pager = f'<p class="muted">{shown}'
    if f.offset + len(found) < total:
        pager += " " + link(url("watchlist", **{**vars(f), "offset": f.offset + data.PAGE}), "next")
    pager += "</p>"
    headers = [
        "ID",
        "Kind",
        "State",
        "Every",
        "Case",
        "Tags",
        "Last capture",
        "Next due",
        "Failed in a row",
        "URL",
        "",
    ]
    body = notes + add + filters + pager + rows(table, headers, "sources")
    return page("Watchlist", body, user, status_code)


@router.get("/watchlist")
def watchlist_page(request: Request, user: User = Depends(current_user)) -> Any:
    message = request.query_params.get("done", "")
    return render(user, _filters(request), message=message[:300])


@router.post("/watchlist")
def watchlist_add(
    user: User = Depends(current_user),
    url_: str = Form("", alias="url"),
    kind: str = Form(""),
    every: str = Form(""),
    case: str = Form(""),
    tags: str = Form(""),
    note: str = Form(""),
    options: str = Form(""),
    csrf: str = Form(""),
) -> Any:
    from collectors.registry import parse_line, tick_warning
    from preservation.catalogue import watchlist

    check_csrf(user, csrf)
    require(user, "analyst", "add sources")
    typed = {"url": url_, "kind": kind, "every": every, "case": case, "tags": tags,
             "note": note, "options": options}
    rt = data.runtime()
    try:
        spec = watchlist.validate_entry(
            url_,
            rt.policy,
            kind=kind or None,
            every=every or None,
            tags=[t for t in tags.split(",") if t.strip()],
            case=case,
            note=note,
            options=parse_line(options),
        )
        source = watchlist.add_source(rt.catalogue, spec, f"airflow:{user.name}", rt.clock())
    except InputError as exc:
        return render(user, data.SourceFilter(), typed, error=str(exc), status_code=400)
    done = f"watching {source.id}: {source.url}"
    warning = tick_warning(spec.kind, spec.schedule_seconds)
    if warning:
        done += f" (warning: {warning})"
    return RedirectResponse(url("watchlist", done=done), status_code=303)


@router.post("/watchlist/import")
async def watchlist_import(
    user: User = Depends(current_user), file: UploadFile = File(...), csrf: str = Form("")
) -> Any:
    from preservation.catalogue import watchlist

    check_csrf(user, csrf)
    require(user, "analyst", "import sources")
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        return render(
            user, data.SourceFilter(), error="the file is larger than 5 MiB", status_code=413
        )
    suffix = Path(file.filename or "import.txt").suffix[:8] or ".txt"
    rt = data.runtime()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"import{suffix}"
        path.write_bytes(raw)
        try:
            report = watchlist.import_sources(
                rt.catalogue, path, rt.policy, f"airflow:{user.name}", rt.clock()
            )
        except InputError as exc:
            text = str(exc).replace(str(path), file.filename or "the file")
            return render(user, data.SourceFilter(), error=text, status_code=400)
    done = f"imported {len(report.added)} source(s)"
    if report.skipped:
        done += f", {len(report.skipped)} already watched"
    return RedirectResponse(url("watchlist", done=done), status_code=303)


@router.post("/watchlist/{source_id}/{action}")
def watchlist_state(
    source_id: str, action: str, user: User = Depends(current_user), csrf: str = Form("")
) -> Any:
    from preservation.catalogue import watchlist

    check_csrf(user, csrf)
    if action not in ("pause", "resume", "remove"):
        raise HTTPException(status_code=404, detail=f"no action {action!r}")
    if action == "remove":
        require(user, "admin", "remove sources")
    else:
        require(user, "analyst", f"{action} sources")
    rt = data.runtime()
    try:
        if action == "remove":
            watchlist.set_state(rt.catalogue, source_id, active=False, removed_at=rt.clock())
        else:
            watchlist.set_state(rt.catalogue, source_id, active=action == "resume")
    except InputError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    word = {"pause": "paused", "resume": "resumed", "remove": "removed (its captures stay)"}
    return RedirectResponse(url("watchlist", done=f"{source_id} {word[action]}"), status_code=303)
