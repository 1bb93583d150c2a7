"""Registers the witnessbox pages (watchlist, captures, audit) in the Airflow UI.

Airflow finds it through the ``airflow.plugins`` entry point in ``pyproject.toml``, so it
loads with any ``plugins_folder`` (leave that folder empty of witnessbox files).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from witnessbox_airflow import search_ui, ui
from witnessbox_airflow.ui import app

app.include_router(search_ui.build_router(ui.current_user, ui.page, ui._runtime, ui.rows))


class WitnessboxPlugin(AirflowPlugin):
    name = "witnessbox"
    fastapi_apps = [{"app": app, "url_prefix": "/witnessbox", "name": "witnessbox"}]
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
