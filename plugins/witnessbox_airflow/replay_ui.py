"""Replay of a capture in the Airflow UI: ReplayWeb.page and the WACZ streamed with ranges.

Replayed pages run their archived scripts. Without the setting ``replay_origin`` they run
in the Airflow UI's origin (inside ReplayWeb.page's frames), where a hostile page could act
with the viewer's login. With it (another host name for the same API server, e.g.
``http://localhost:8080`` beside ``http://127.0.0.1:8080``) the replay moves there:

1. ``/replay/{id}`` on the Airflow origin checks the Airflow login and redirects to
   ``/replay-open/{id}?ticket=…`` on the replay origin (a one-minute signed ticket);
2. the replay origin trades the ticket for a pass cookie scoped to that capture's path;
3. the replay page and WACZ there accept that pass only; ReplayWeb.page's own files are
   public. ``ReplayOriginGuard`` answers every other path on the replay origin with 403,
   so Airflow's pages and API are never served there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

PASS_COOKIE = "witnessbox_replay"  # noqa: S105 (a cookie name)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self' 'unsafe-inline' 'unsafe-eval' blob: data:; "
    "object-src 'none'",
    "X-Frame-Options": "SAMEORIGIN",
}


def replay_origin() -> str:
    """The configured replay origin, or "" (settings that cannot load: none)."""
    from kernel.errors import WitnessboxError
    from kernel.settings import load_settings

    try:
        return load_settings().replay_origin
    except WitnessboxError:
        return ""


def on_origin(host: str | None, origin: str) -> bool:
    """Whether a request's Host header names ``origin`` (scheme://host[:port])."""
    if not origin or not host:
        return False
    netloc = origin.split("://", 1)[1]
    default = ":443" if origin.startswith("https:") else ":80"
    return host.lower() in (netloc, netloc + default, netloc.removesuffix(default))


class ReplayOriginGuard:
    """Root ASGI middleware: on the replay origin, only the replay routes answer."""

    def __init__(self, app: Any, prefix: str = "/witnessbox") -> None:
        self.app, self.prefix = app, prefix
        self._origin: str | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self._origin is None:
                self._origin = replay_origin()
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            path = scope.get("path", "")
            allowed = path.startswith((f"{self.prefix}/replay/", f"{self.prefix}/replay-"))
            if on_origin(host, self._origin) and not allowed:
                body = b"this address serves replays only: open Airflow at its own address"
                headers = [(b"content-type", b"text/plain"),
                           (b"content-length", str(len(body)).encode())]  # fmt: skip
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def build_router(current_user: Callable[..., Any], runtime: Callable[[], Any]) -> APIRouter:
    """The replay routes; ``current_user`` is the Airflow login check of the other pages."""
    router = APIRouter()

    def origin() -> str:
        return runtime().settings.replay_origin

    def isolated(request: Request) -> bool:
        return on_origin(request.headers.get("host"), origin())

    keys: dict[str, bytes] = {}  # home → the replay key (read once, not per request)
    targets: dict[tuple[str, str], Any] = {}  # (store, capture) → its WACZ: captures are
    # write-once, so a WACZ found stays right; range requests then cost no manifest read

    def key() -> bytes:
        from preservation.replay.tickets import replay_secret

        settings = runtime().settings
        home = str(settings.home)
        if home not in keys:
            keys[home] = replay_secret(settings)
        return keys[home]

    def prefix(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    async def viewer(request: Request, capture_id: str) -> str:
        """Who may see this capture's replay here: the pass on the replay origin, else the
        Airflow login (only where no replay origin is set: see ``replay_page``)."""
        if isolated(request):
            from preservation.replay.tickets import check

            cookie = request.cookies.get(PASS_COOKIE)
            user = check(key(), cookie, "pass", capture_id, time.time())
            if user is None:
                raise HTTPException(status_code=401, detail="open the replay from the capture page")
            return user
        return (await current_user(request)).name

    async def assets_allowed(request: Request) -> None:
        if not isolated(request):  # on the replay origin these public files need no login
            await current_user(request)

    @router.get("/replay/{capture_id}", response_class=HTMLResponse)
    async def replay_page(capture_id: str, request: Request) -> Response:
        from preservation.replay.core import embed_page

        if origin() and not isolated(request):
            from preservation.replay.tickets import issue

            user = await current_user(request)
            target = _target(capture_id)
            ticket = issue(key(), "ticket", target.capture_id, user.name, time.time())
            where = f"{origin()}{prefix(request)}/replay-open/{quote(capture_id)}?ticket={ticket}"
            return RedirectResponse(where, status_code=303)
        user = await viewer(request, capture_id)
        target = _target(capture_id)
        from preservation.custody.access import record_access

        # a replay reads an original for a person: one `accessed` entry per page view
        record_access(runtime(), f"airflow:{user}", capture_id, target.artifact,
                      "replayed in the Airflow UI", via="airflow-ui",
                      extra={"isolated": isolated(request)})  # fmt: skip
        base = f"{prefix(request)}/replay-assets/"
        html = embed_page(target, base, f"{prefix(request)}/replay/{capture_id}/capture.wacz")
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @router.get("/replay-open/{capture_id}")
    async def replay_open(capture_id: str, request: Request, ticket: str = "") -> Response:
        from preservation.replay.tickets import PASS_SECONDS, check, issue

        if not isolated(request):
            raise HTTPException(status_code=404, detail="not the replay origin")
        now = time.time()
        user = check(key(), ticket, "ticket", capture_id, now)
        if user is None:
            raise HTTPException(status_code=401, detail="this replay link expired: open it again")
        answer = RedirectResponse(f"{prefix(request)}/replay/{quote(capture_id)}", status_code=303)
        answer.set_cookie(
            PASS_COOKIE,
            issue(key(), "pass", capture_id, user, now),
            max_age=PASS_SECONDS,
            path=f"{prefix(request)}/replay/{capture_id}",
            httponly=True,
            samesite="lax",
            secure=origin().startswith("https:"),
        )
        return answer

    @router.get("/replay-assets/replay/", response_class=HTMLResponse)
    @router.get("/replay-assets/replay/index.html", response_class=HTMLResponse)
    async def replay_app(request: Request) -> HTMLResponse:
        from preservation.replay.core import index_page

        await assets_allowed(request)
        return HTMLResponse(index_page(), headers={"X-Frame-Options": "SAMEORIGIN"})

    @router.get("/replay-assets/ui.js")
    @router.get("/replay-assets/replay/ui.js")
    @router.get("/replay-assets/replay/sw.js")
    async def replay_asset(request: Request) -> Response:
        from kernel.errors import WitnessboxError
        from preservation.replay.core import asset_path

        await assets_allowed(request)
        name = request.url.path.rsplit("/", 1)[1]
        try:
            data = asset_path(name).read_bytes()
        except WitnessboxError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return Response(data, media_type="application/javascript",
                        headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip

    @router.api_route("/replay/{capture_id}/capture.wacz", methods=["GET", "HEAD"])
    async def replay_wacz(capture_id: str, request: Request) -> Response:
        from preservation.replay.core import stream_range, wacz_answer

        await viewer(request, capture_id)
        target = _target(capture_id)
        answer = wacz_answer(target, request.headers.get("range"))
        if answer.status == 416:
            return Response(status_code=416, headers=answer.headers)
        if request.method == "HEAD":
            return Response(status_code=answer.status, headers=answer.headers,
                            media_type="application/wacz")  # fmt: skip
        body = stream_range(runtime().store, target.key, answer.start, answer.end)
        return StreamingResponse(body, status_code=answer.status, headers=answer.headers,
                                 media_type="application/wacz")  # fmt: skip

    def _target(capture_id: str) -> Any:
        from kernel.errors import InputError
        from preservation.replay.core import find_wacz

        rt = runtime()
        cached = (rt.store.url, capture_id)
        if cached not in targets:
            try:
                target = find_wacz(rt.catalogue, rt.store, capture_id)
            except InputError as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from None
            if len(targets) >= 1024:
                targets.clear()
            targets[cached] = target
        return targets[cached]

    return router
