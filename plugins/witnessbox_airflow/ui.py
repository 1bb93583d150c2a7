"""Airflow UI pages for witnessbox: watchlist, captures and audit.

A FastAPI app mounted by the Airflow plugin under ``/witnessbox``. Airflow does not guard
plugin apps, so every request is checked here: the caller's JWT (``Authorization: Bearer``
or the UI's ``_token`` cookie) must be valid for Airflow's auth manager, and the user must
be authorised for the custom view. Changes (POST) also need a CSRF token derived from the
caller's JWT, which a cross-site page cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
from html import escape
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from collectors.registry import KINDS
from witnessbox_airflow.hooks import WitnessboxHook
from witnessbox_airflow.search_ui import search_box

RESOURCE = "witnessbox"
app = FastAPI(title="witnessbox", docs_url=None, redoc_url=None, openapi_url=None)


# -- auth -------------------------------------------------------------------------------------
def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("_token", "")


def csrf_for(token: str) -> str:
    return hashlib.sha256(b"witnessbox-csrf:" + token.encode()).hexdigest()[:32]


async def current_user(request: Request) -> dict[str, Any]:
    from airflow.api_fastapi.app import get_auth_manager

    token = _token(request)
    if not token:
        raise HTTPException(status_code=401, detail="log in to Airflow first")
    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except Exception:
        raise HTTPException(status_code=401, detail="invalid or expired token") from None
    method = "GET" if request.method in ("GET", "HEAD") else "POST"
    if not manager.is_authorized_custom_view(method=method, resource_name=RESOURCE, user=user):
        raise HTTPException(status_code=403, detail="not allowed")
    return {"name": user.get_name(), "token": token}


def _check_csrf(user: dict[str, Any], supplied: str) -> None:
    if not hmac.compare_digest(csrf_for(user["token"]), supplied or ""):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")


#: The API server is one long-lived process: one hook, its runtime opened on first request.
_HOOK = WitnessboxHook({"via": "airflow-ui"})


def _runtime() -> Any:
    return _HOOK.get_conn()


# -- rendering ----------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
code{font-size:.8rem;word-break:break-all} .failed{color:#b00020} .partial{color:#9a6700}
.complete{color:#1a7f37} nav a{margin-right:1rem} form.inline{display:inline}
input,select{margin:.2rem}
"""


def page(title: str, body: str) -> HTMLResponse:
    nav = "".join(
        f'<a href="{href}">{name}</a>'
        for name, href in (("Watchlist", "watchlist"), ("Captures", "captures"),
                           ("Search", "search"), ("Changes", "changes"), ("Audit", "audit"))
    )
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · witnessbox</title>"
        f"<style>{STYLE}</style></head><body><nav>{nav}</nav><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


def rows(data: list[list[Any]], headers: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in data)
    return f"<table><tr>{head}</tr>{body}</table>"


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


# -- watchlist ----------------------------------------------------------------------------------
@app.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("watchlist")


@app.get("/api/watchlist")
def api_watchlist(user: dict = Depends(current_user)) -> JSONResponse:
    from preservation.catalogue import watchlist

    return JSONResponse(
        [watchlist.source_dict(s) for s in watchlist.list_sources(_runtime().catalogue)]
    )


@app.get("/watchlist", response_class=HTMLResponse)
def watchlist_page(user: dict = Depends(current_user)) -> HTMLResponse:
    from preservation.catalogue import watchlist

    csrf = csrf_for(user["token"])
    data = []
    for s in watchlist.list_sources(_runtime().catalogue):
        d = watchlist.source_dict(s)
        action = "resume" if not d["active"] else "pause"
        button = (
            f'<form class="inline" method="post" action="watchlist/{e(d["id"])}/{action}">'
            f'<input type="hidden" name="csrf" value="{csrf}"><button>{action}</button></form>'
        )
        data.append(
            [
                f"<code>{e(d['id'])}</code>",
                e(d["kind"]),
                "active" if d["active"] else "paused",
                e(d["every"]),
                e(d["case"]),
                e(", ".join(d["tags"])),
                f'<span class="{e(d["last_status"])}">{e(d["last_status"] or "-")}</span>',
                e(d["next_due_at"]),
                f"<code>{e(d['url'])}</code>",
                button,
            ]
        )
    form = (
        f'<form method="post" action="watchlist"><input type="hidden" name="csrf" value="{csrf}">'
        '<input name="url" placeholder="URL or @channel" size="50" required>'
        '<select name="kind"><option value="">kind: infer</option>'
        + "".join(f"<option>{e(k)}</option>" for k in KINDS)
        + "</select>"
        '<input name="every" placeholder="every (6h)" size="8">'
        '<input name="case" placeholder="case">'
        '<input name="tags" placeholder="tags, comma-separated">'
        '<input name="note" placeholder="note">'
        '<input name="options" placeholder="options: key=value ..." size="24">'
        "<button>Watch</button></form>"
    )
    table = rows(
        data, ["ID", "Kind", "State", "Every", "Case", "Tags", "Last", "Next due", "URL", ""]
    )
    return page("Watchlist", form + table)


@app.post("/watchlist")
def watchlist_add(
    user: dict = Depends(current_user),
    url: str = Form(...),
    kind: str = Form(""),
    every: str = Form(""),
    case: str = Form(""),
    tags: str = Form(""),
    note: str = Form(""),
    options: str = Form(""),
    csrf: str = Form(""),
) -> Any:
    from collectors.registry import parse_line
    from kernel.errors import InputError
    from preservation.catalogue import watchlist

    _check_csrf(user, csrf)
    rt = _runtime()
    try:
        spec = watchlist.validate_entry(
            url,
            rt.policy,
            kind=kind or None,
            every=every or None,
            tags=[t for t in tags.split(",") if t.strip()],
            case=case,
            note=note,
            options=parse_line(options),
        )
        watchlist.add_source(rt.catalogue, spec, f"airflow:{user['name']}", rt.clock())
    except InputError as exc:
        return page(
            "Watchlist", f'<p class="failed">error: {e(exc)}</p><p><a href="watchlist">back</a></p>'
        )
    return RedirectResponse("watchlist", status_code=303)


@app.post("/watchlist/{source_id}/{action}")
def watchlist_state(
    source_id: str, action: str, user: dict = Depends(current_user), csrf: str = Form("")
) -> Any:
    from kernel.errors import InputError
    from preservation.catalogue import watchlist

    _check_csrf(user, csrf)
    if action not in ("pause", "resume"):
        raise HTTPException(status_code=404)
    try:
        watchlist.set_state(_runtime().catalogue, source_id, active=action == "resume")
    except InputError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return RedirectResponse("../../watchlist", status_code=303)


# -- captures -----------------------------------------------------------------------------------
def _captures(source: str | None, case: str | None, limit: int) -> list[dict[str, Any]]:
    from preservation.queries import list_captures

    return list_captures(
        _runtime().catalogue, source=source, case=case, limit=max(1, min(limit, 1000))
    )


@app.get("/api/captures")
def api_captures(
    source: str | None = None,
    case: str | None = None,
    limit: int = 200,
    user: dict = Depends(current_user),
) -> JSONResponse:
    return JSONResponse(_captures(source, case, limit))


@app.get("/captures", response_class=HTMLResponse)
def captures_page(
    source: str | None = None,
    case: str | None = None,
    limit: int = 200,
    user: dict = Depends(current_user),
) -> HTMLResponse:
    data = [
        [
            f'<a href="captures/{e(c["id"])}"><code>{e(c["id"])}</code></a>',
            e(c["finished_at"][:19]),
            f'<span class="{e(c["status"])}">{e(c["status"])}</span>',
            e(len(c["artifacts"])),
            e(c["case"]),
            f"<code>{e(c['source_id'])}</code>",
            f"<code>{e(c['url'])}</code>",
        ]
        for c in _captures(source, case, limit)
    ]
    form = (
        '<form method="get" action="captures"><input name="case" placeholder="case">'
        '<input name="source" placeholder="source id"><button>Filter</button></form>'
    ) + search_box()  # full-text search (search_ui)
    return page(
        "Captures",
        form
        + rows(data, ["Capture", "Finished (UTC)", "Status", "Files", "Case", "Source", "URL"]),
    )


@app.get("/captures/{capture_id}", response_class=HTMLResponse)
def capture_page(capture_id: str, user: dict = Depends(current_user)) -> HTMLResponse:
    from kernel.errors import InputError
    from preservation.presentation import CAPTURE_FACTS
    from preservation.queries import get_capture

    rt = _runtime()
    try:
        c = get_capture(rt.catalogue, capture_id)
    except InputError:
        raise HTTPException(status_code=404, detail="unknown capture") from None
    facts = rows(
        [[e(k), f"<code>{e(c[k])}</code>"] for k in CAPTURE_FACTS],
        ["Field", "Value"],
    )
    reasons = "".join(f'<p class="failed">{e(r)}</p>' for r in c["reasons"])
    artifacts = rows(
        [
            [
                e(a["name"]),
                e(a["role"]),
                e(a["media_type"]),
                e(a["size"]),
                f"<code>{e(a['sha256'])}</code>",
                f"<code>{e(a['md5'])}</code>",
            ]
            for a in c["artifacts"]
        ],
        ["Name", "Role", "Type", "Bytes", "SHA-256", "MD5"],
    )
    manifest = rt.store.read_bytes(c["manifest_key"]).decode("utf-8", "replace")
    replay = ('<p><a href="../replay/' + e(capture_id) + '">Replay the archived page</a></p>'
              if any(a["role"] == "wacz" for a in c["artifacts"]) else "")  # fmt: skip
    body = (
        f"{facts}{reasons}{replay}<h2>Artifacts</h2>{artifacts}"
        f"<h2>Manifest</h2><pre><code>{e(manifest)}</code></pre>"
    )
    return page(f"Capture {capture_id}", body)


# -- audit --------------------------------------------------------------------------------------
@app.get("/api/audit")
def api_audit(user: dict = Depends(current_user)) -> JSONResponse:
    return JSONResponse(_audits())


def _audits() -> list[dict[str, Any]]:
    from preservation.queries import list_audits

    return list_audits(_runtime().catalogue, limit=100)


@app.get("/api/custody")
def api_custody(user: dict = Depends(current_user)) -> JSONResponse:
    return JSONResponse(_custody())


def _custody() -> dict[str, Any]:
    """How much of the archive is sealed, and where the custody ledger stands."""
    from preservation.queries import custody_summary
    from preservation.staging import sweep

    rt = _runtime()
    staged = len(sweep(rt, remove_empty=False))
    return {**custody_summary(rt.catalogue), "interrupted_in_staging": staged}


@app.get("/audit", response_class=HTMLResponse)
def audit_page(user: dict = Depends(current_user)) -> HTMLResponse:
    custody = _custody()
    data = [
        [
            e(a["finished_at"][:19]),
            e(a["scope"]),
            e(a["checked"]),
            f'<span class="{"failed" if a["failed"] else "complete"}">{e(a["failed"])}</span>',
            "<br>".join(e(d) for d in a["details"][:20]),
        ]
        for a in _audits()
    ]
    note = (
        f"<p>{e(custody['captures'])} captures: {e(custody['sealed'])} sealed with a trusted "
        f"timestamp, {e(custody['unsealed'])} waiting for the next seal. Custody ledger: "
        f"{e(custody['ledger_head'])} entries, last {e(custody['ledger_last_event'] or '-')} "
        f"at {e((custody['ledger_last_at'] or '-')[:19])}. Interrupted captures in staging: "
        f"{e(custody['interrupted_in_staging'])} (<code>witnessbox staging list</code>).</p>"
        "<p>Fixity audits re-read every blob and check digests, signatures and timestamps "
        "(<code>witnessbox verify --all</code>, or the <code>witnessbox_fixity_audit</code> "
        "DAG).</p>"
    )
    return page(
        "Audit", note + rows(data, ["Finished (UTC)", "Scope", "Objects", "Failed", "Problems"])
    )


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException) -> Any:
    if "/api/" in request.url.path:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    return HTMLResponse(f"<!doctype html><p>{e(exc.detail)}</p>", status_code=exc.status_code)
