"""The FastAPI app the Airflow plugin mounts at ``/witnessbox``: routers and error pages."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from witnessbox_airflow.ui import audit, captures, watchlist
from witnessbox_airflow.ui.auth import User, current_user
from witnessbox_airflow.ui.render import error_page, url

app = FastAPI(title="witnessbox", docs_url=None, redoc_url=None, openapi_url=None)
for module in (watchlist, captures, audit):
    app.include_router(module.router)


@app.get("/", include_in_schema=False)
def index(user: User = Depends(current_user)) -> RedirectResponse:
    return RedirectResponse(url("watchlist"))


def _next(request: Request) -> str:
    """Where to come back after logging in (a path on this server only)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException) -> Any:
    if "/api/" in request.url.path:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    return error_page(exc.status_code, str(exc.detail), _next(request))


@app.exception_handler(RequestValidationError)
async def bad_request(request: Request, exc: RequestValidationError) -> Any:
    fields = ", ".join(str(err.get("loc", ["?"])[-1]) for err in exc.errors()) or "the request"
    detail = f"missing or invalid: {fields}"
    if "/api/" in request.url.path:
        return JSONResponse({"detail": detail}, status_code=400)
    return error_page(400, detail, _next(request))
