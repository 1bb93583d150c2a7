"""Airflow UI pages for finding things: text search and changes (replay: ``replay_ui``).

``build_router`` gets the app's login check, page renderer and runtime from ``ui`` (passed
in by ``plugin.py``, so this module never imports ``ui``), and every route requires the
Airflow login like the other witnessbox pages.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse

from collectors import registry

KINDS = ("", *registry.KINDS)  # "" = any kind
STATUSES = ("", "complete", "partial", "failed")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def search_box(query: str = "", case: str = "", kind: str = "", status: str = "",
               since: str = "", until: str = "", action: str = "search",
               source: str = "") -> str:  # fmt: skip
    """The search form (also on the Captures page)."""
    def options(values: tuple[str, ...], chosen: str, label: str) -> str:
        return "".join(
            f"<option value='{v}'{' selected' if v == chosen else ''}>{v or label}</option>"
            for v in values
        )

    return (
        f"<form method='get' action='{action}'>"
        f"<input name='q' value='{_e(query)}' size='50' placeholder='words, \"a phrase\", "
        "prefix*, OR, NOT' required>"
        f"<input name='case' value='{_e(case)}' placeholder='case'>"
        f"<input name='source' value='{_e(source)}' placeholder='source id' size='10'>"
        f"<select name='kind'>{options(KINDS, kind, 'any kind')}</select>"
        f"<select name='status'>{options(STATUSES, status, 'any status')}</select>"
        f"<input name='since' value='{_e(since)}' placeholder='since (7d, 2026-05-01)' size='14'>"
        f"<input name='until' value='{_e(until)}' placeholder='until' size='12'>"
        "<button>Search</button></form>"
    )


def _marked(snippet: str, marks: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in marks:
        out += [_e(snippet[pos:start]), "<mark>", _e(snippet[start:end]), "</mark>"]
        pos = end
    return "".join([*out, _e(snippet[pos:])])


def _where(hit: dict[str, Any]) -> str:
    where = _e(hit["field"])
    if hit["item"] and hit["field"] != "page":
        where += f" {_e(hit['item'])}"
    if (hit["version"] or 1) > 1:
        where += f" v{hit['version']}"
    return where


def build_router(
    current_user: Callable[..., Any],
    page: Callable[[str, str], HTMLResponse],
    runtime: Callable[[], Any],
    rows: Callable[[list[list[Any]], list[str]], str],
) -> APIRouter:
    router = APIRouter()

    def run_search(q: str, case: str, kind: str, status: str, since: str, until: str,
                   limit: int, source: str = "") -> list[dict[str, Any]]:  # fmt: skip
        from preservation.cli.search import parse_moment
        from preservation.search.index import Filters, search

        rt = runtime()
        now = rt.clock()
        filters = Filters(
            case=case or None, kind=kind or None, status=status or None, source=source or None,
            since=parse_moment(since, now) if since else None,
            until=parse_moment(until, now) if until else None,
        )  # fmt: skip
        with rt.catalogue.session() as session:
            return [h.as_dict() for h in search(session, q, filters, limit=max(1, min(limit, 500)))]

    @router.get("/api/search")
    def api_search(q: str, case: str = "", kind: str = "", status: str = "", since: str = "",
                   until: str = "", limit: int = 50, source: str = "",
                   user: dict = Depends(current_user)) -> JSONResponse:  # fmt: skip
        from kernel.errors import InputError

        try:
            return JSONResponse(run_search(q, case, kind, status, since, until, limit, source))
        except InputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

    @router.get("/search", response_class=HTMLResponse)
    def search_page(q: str = "", case: str = "", kind: str = "", status: str = "",
                    since: str = "", until: str = "", limit: int = 50, source: str = "",
                    user: dict = Depends(current_user)) -> HTMLResponse:  # fmt: skip
        from kernel.errors import InputError

        form = search_box(q, case, kind, status, since, until, source=source)
        if not q:
            return page("Search", form)
        try:
            hits = run_search(q, case, kind, status, since, until, limit, source)
        except InputError as exc:
            return page("Search", form + f"<p class='failed'>error: {_e(exc)}</p>")
        data = [
            [
                f"<a href='captures/{_e(h['capture_id'])}'><code>{_e(h['capture_id'])}</code></a>",
                _e(h["captured_at"][:19]),
                _e(h["kind"]) + f" <span class='{_e(h['status'])}'>{_e(h['status'])}</span>",
                _where(h),
                _e((h["posted_at"] or "")[:19]),
                f"<code>{_e(h['source_url'])}</code><br>{_marked(h['snippet'], h['marks'])}",
            ]
            for h in hits
        ]
        table = rows(data, ["Capture", "Captured (UTC)", "Kind", "Where", "Posted", "Text"])
        note = f"<p>{len(hits)} match(es), newest capture first.</p>"
        return page("Search", form + note + table)

    @router.get("/api/changes")
    def api_changes(since: str = "", case: str = "", limit: int = 200,
                    user: dict = Depends(current_user)) -> JSONResponse:  # fmt: skip
        return JSONResponse(_changes(since, case, limit))

    def _changes(since: str, case: str, limit: int) -> list[dict[str, Any]]:
        from kernel.errors import InputError
        from preservation.cli.search import parse_moment
        from preservation.search.changes import list_changes

        rt = runtime()
        try:
            moment = parse_moment(since, rt.clock()) if since else None
        except InputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        with rt.catalogue.session() as session:
            return list_changes(session, since=moment, case=case or None,
                                limit=max(1, min(limit, 2000)))  # fmt: skip

    @router.get("/changes", response_class=HTMLResponse)
    def changes_page(since: str = "", case: str = "", limit: int = 200,
                     user: dict = Depends(current_user)) -> HTMLResponse:  # fmt: skip
        form = (
            f"<form method='get' action='changes'><input name='since' value='{_e(since)}' "
            "placeholder='since (1d, 2026-05-01)'>"
            f"<input name='case' value='{_e(case)}' placeholder='case'><button>Show</button></form>"
        )
        data = [
            [
                _e(c["at"][:19]),
                f"<span class='{'failed' if c['alert'] else ''}'>{_e(c['kind'])}</span>",
                f"<code>{_e(c['source_url'] or c['source_id'])}</code>",
                _e(c["item"]),
                f"<a href='captures/{_e(c['capture_id'])}'><code>{_e(c['capture_id'])}</code></a>",
                _e(c["summary"]),
            ]
            for c in _changes(since, case, limit)
        ]
        return page("Changes", form + rows(data, ["At (UTC)", "Kind", "Source", "Item",
                                                  "Capture", "What"]))  # fmt: skip

    return router
