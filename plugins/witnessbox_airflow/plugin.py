"""Registers the witnessbox pages (watchlist, captures, audit) in the Airflow UI.

Airflow finds it through the ``airflow.plugins`` entry point in ``pyproject.toml``, so it
loads with any ``plugins_folder`` (leave that folder empty of witnessbox files).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from witnessbox_airflow.ui.app import app


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
            "name": "Audit",
            "href": "/witnessbox/audit",
            "destination": "nav",
            "category": "witnessbox",
            "url_route": "witnessbox-audit",
        },
    ]
