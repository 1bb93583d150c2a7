"""HTML for the witnessbox pages: one layout, escaped cells, forms that keep what was typed.

Server-side HTML without scripts (the Content-Security-Policy forbids them), so the pages
work inside Airflow's iframe and with any browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

PREFIX = "/witnessbox"
AIRFLOW_LOGIN = "/api/v2/auth/login"
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .45rem;text-align:left;vertical-align:top}
code{font-size:.8rem;word-break:break-all} .failed{color:#b00020} .partial{color:#9a6700}
.complete{color:#1a7f37} nav a{margin-right:1rem} form.inline{display:inline}
input,select{margin:.2rem} .error{background:#ffebe9;border:1px solid #ff8182;padding:.5rem}
.notice{background:#dafbe1;border:1px solid #4ac26b;padding:.5rem} img.shot{max-width:100%;
border:1px solid #d0d7de} .muted{color:#57606a} fieldset{border:1px solid #d0d7de;margin:.5rem 0}
"""
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; img-src 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
}


def kind_options(empty: str = "any kind") -> list[tuple[str, str]]:
    """The source kinds the registry knows, for a ``select``."""
    from collectors.registry import KINDS

    return [("", empty), *((k, k) for k in KINDS)]


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def url(path: str, **query: Any) -> str:
    """An absolute witnessbox URL; empty query values are left out."""
    kept = {k: v for k, v in query.items() if v not in (None, "", False)}
    return f"{PREFIX}/{path.lstrip('/')}" + (f"?{urlencode(kept)}" if kept else "")


def q(value: str) -> str:
    return quote(value, safe="")


def link(href: str, text: Any, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<a href="{e(href)}"{klass}>{e(text)}</a>'


def status(value: str | None) -> str:
    return f'<span class="{e(value)}">{e(value or "-")}</span>'


def rows(data: Iterable[Sequence[Any]], headers: Sequence[str], table_id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in data)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>'
    ident = f' id="{e(table_id)}"' if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def field(name: str, values: Mapping[str, Any], placeholder: str, size: int = 16) -> str:
    return (
        f'<input name="{e(name)}" value="{e(values.get(name, ""))}" '
        f'placeholder="{e(placeholder)}" size="{size}" aria-label="{e(placeholder)}">'
    )


def select(name: str, values: Mapping[str, Any], options: Sequence[tuple[str, str]]) -> str:
    chosen = str(values.get(name) or "")
    opts = "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(label)}</option>'
        for v, label in options
    )
    return f'<select name="{e(name)}" aria-label="{e(name)}">{opts}</select>'


def hidden_csrf(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(csrf)}">'


def post_button(action: str, label: str, csrf: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<form class="inline" method="post" action="{e(action)}">{hidden_csrf(csrf)}'
        f"<button{klass}>{e(label)}</button></form>"
    )


def page(title: str, body: str, user: Any = None, status_code: int = 200) -> Any:
    from fastapi.responses import HTMLResponse

    nav = "".join(
        link(url(path), name)
        for name, path in (
            ("Watchlist", "watchlist"),
            ("Captures", "captures"),
            ("Search", "search"),
            ("Changes", "changes"),
            ("Audit", "audit"),
        )
    )
    who = f'<span class="muted">{e(user.name)} ({e(user.role)})</span>' if user else ""
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · witnessbox</title><style>{STYLE}</style></head>"
        f"<body><nav>{nav}{who}</nav><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def error_page(status_code: int, detail: str, next_url: str = "") -> Any:
    """A 4xx page; a 401 links to the Airflow login, coming back here afterwards."""
    body = f'<p class="error">{e(detail)}</p>'
    if status_code == 401:
        login = AIRFLOW_LOGIN + (f"?{urlencode({'next': next_url})}" if next_url else "")
        body += f'<p><a id="login" href="{e(login)}">Log in to Airflow</a> to continue.</p>'
    return page(
        {401: "Log in", 403: "Not allowed", 404: "Not found"}.get(status_code, "Error"),
        body,
        status_code=status_code,
    )


def when(value: Any) -> str:
    return e(str(value)[:19].replace("T", " ")) if value else "-"
