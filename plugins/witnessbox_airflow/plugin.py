"""Registers the witnessbox pages (watchlist, captures, audit) in the Airflow UI.

Airflow finds it through the ``airflow.plugins`` entry point in ``pyproject.toml``, so it
loads with any ``plugins_folder`` (leave that folder empty of witnessbox files).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from witnessbox_airflow import replay_ui, search_ui
from witnessbox_airflow.ui import data, render
from witnessbox_airflow.ui.app import app
from witnessbox_airflow.ui.auth import current_user

# the analyst's Search, Changes and Replay pages share the login check, layout and runtime
app.include_router(
    search_ui.build_router(current_user, render.page, data.runtime, render.rows)
)
app.include_router(replay_ui.build_router(current_user, data.runtime))


class WitnessboxPlugin(AirflowPlugin):
    name = "witnessbox"
    fastapi_apps = [{"app": app, "url_prefix": "/witnessbox", "name": "witnessbox"}]
    # with the setting replay_origin, that origin serves replays and nothing else
    fastapi_root_middlewares = [
        {"middleware": replay_ui.ReplayOriginGuard, "name": "witnessbox-replay-origin"}
    ]
    external_views = [
        {
            "name": "Watchlist",
            "href": "/witnessbox/watchlist",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-watchlist",
        },
        {
            "name": "Captures",
            "href": "/witnessbox/captures",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-captures",
        },
        {
            "name": "Search",
            "href": "/witnessbox/search",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-search",
        },
        {
            "name": "Changes",
            "href": "/witnessbox/changes",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-changes",
        },
        {
            "name": "Audit",
            "href": "/witnessbox/audit",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-audit",
        },
    ]
