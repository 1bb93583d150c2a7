"""Who is asking: the caller's Airflow login, their witnessbox role, and the CSRF token.

Airflow does not guard plugin apps, so every request is checked here: the caller's JWT
(``Authorization: Bearer`` or the UI's ``_token`` cookie) must be valid for Airflow's auth
manager and the user must be allowed the custom view. Changes (POST) also need a CSRF
token derived from the caller's JWT, which a cross-site page cannot read.

Roles, from the auth manager: with SimpleAuthManager ``viewer`` reads, ``user`` is an
analyst, ``op`` an operator and ``admin`` an admin; with another auth manager the
custom-view permissions decide (POST: analyst, DELETE: admin).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

RESOURCE = "witnessbox"
LEVELS = {"viewer": 0, "analyst": 1, "operator": 2, "admin": 3}
ROLE_NAMES = {
    "viewer": "logged-in users",
    "analyst": "analysts, operators and admins",
    "operator": "operators and admins",
    "admin": "admins",
}
SIMPLE_ROLES = {"VIEWER": "viewer", "USER": "analyst", "OP": "operator", "ADMIN": "admin"}


@dataclass(frozen=True)
class User:
    name: str
    role: str
    token: str

    def can(self, role: str) -> bool:
        return LEVELS[self.role] >= LEVELS[role]

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("_token", "")


def csrf_for(token: str) -> str:
    return hashlib.sha256(b"witnessbox-csrf:" + token.encode()).hexdigest()[:32]


def role_of(manager: Any, user: Any) -> str:
    simple = getattr(user, "role", None)
    if isinstance(simple, str) and simple.upper() in SIMPLE_ROLES:
        return SIMPLE_ROLES[simple.upper()]
    allowed = manager.is_authorized_custom_view
    if allowed(method="DELETE", resource_name=RESOURCE, user=user):
        return "admin"
    if allowed(method="POST", resource_name=RESOURCE, user=user):
        return "analyst"
    return "viewer"


async def current_user(request: Request) -> User:
    from airflow.api_fastapi.app import get_auth_manager

    token = _token(request)
    if not token:
        raise HTTPException(status_code=401, detail="log in to Airflow first")
    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except Exception:
        raise HTTPException(status_code=401, detail="your Airflow login expired") from None
    if not manager.is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user):
        raise HTTPException(status_code=403, detail="not allowed to see witnessbox")
    return User(user.get_name(), role_of(manager, user), token)


def require(user: User, role: str, doing: str) -> None:
    """403 unless ``user`` has at least ``role``."""
    if not user.can(role):
        raise HTTPException(
            status_code=403, detail=f"you are {user.role}: only {ROLE_NAMES[role]} may {doing}"
        )


def check_csrf(user: User, supplied: str | None) -> None:
    if not hmac.compare_digest(user.csrf, supplied or ""):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
