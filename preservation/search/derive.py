"""After a capture is committed: index its text and record what changed (one entry point).

The commit protocol calls ``derive`` in the catalogue transaction that indexes the
manifest, reading the staged files it has just stored; ``reindex`` calls it with the store.
Everything here is derived data: a failure is logged and recorded, never undoes a capture
(``reindex`` rebuilds it). ``notify`` then tells the configured notifier about alerts.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from kernel.settings import Settings
from preservation.search.changes import change_dict, record_changes
from preservation.search.extract import Opener, documents
from preservation.search.index import index_capture
from preservation.search.models import Observation, SearchIndexed
from preservation.store import Store

log = logging.getLogger("witnessbox.search")


def opener_for(store: Store, files: Path | None = None) -> Opener:
    """Read an artifact from the staging directory when it is still there, else the store."""

    @contextlib.contextmanager
    def open_entry(entry: dict[str, Any]) -> Iterator[IO[bytes]]:
        local = files / entry["name"] if files is not None else None
        if local is not None and local.is_file():
            with open(local, "rb") as stream:
                yield stream
        else:
            with store.open(entry["key"]) as stream:
                yield stream

    return open_entry


def derive(
    session: Session, manifest: dict[str, Any], opener: Opener, now: datetime
) -> list[dict[str, Any]]:
    """Index the capture's text and record its changes; the alerts to notify."""
    capture_id = manifest["capture"]["id"]
    if session.get(SearchIndexed, capture_id) and session.get(Observation, capture_id):
        return []
    try:
        with session.begin_nested():
            docs, problems = documents(manifest, opener)
            index_capture(session, manifest, docs, problems, now)
            changes = record_changes(session, manifest, docs)
            session.flush()
            return [change_dict(c, manifest["source"]["url"]) for c in changes
                    if (c.data or {}).get("alert")]  # fmt: skip
    except Exception as exc:  # derived data: the capture stands, reindex can redo this
        log.warning("search index of %s failed (reindex redoes it): %s", capture_id, exc)
        return []


def notify(settings: Settings, alerts: list[dict[str, Any]]) -> None:
    """Call ``settings.change_notifier`` (an Airflow notifier class) once per alert.

    The class is built with ``change_notifier_args`` (JSON) and its ``notify(context)``
    gets ``{"witnessbox_change": alert}``. A notifier that fails is logged: the capture is
    stored whatever the notifier does.
    """
    if not alerts or not settings.change_notifier:
        return
    try:
        module, _, name = settings.change_notifier.replace(":", ".").rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        kwargs = json.loads(settings.change_notifier_args or "{}")
        notifier = cls(**kwargs)
    except Exception as exc:
        log.error("change notifier %s unusable: %s", settings.change_notifier, exc)
        return
    for alert in alerts:
        try:
            notifier.notify({"witnessbox_change": alert})
        except Exception as exc:
            log.error("change notifier failed for %s: %s", alert["capture_id"], exc)
