"""Provenance manifests: pure builders, one canonical serialisation, schema validation.

A manifest is the source of truth for a capture: who watched what, when, with which tools,
and the exact digests of every byte kept. It is serialised canonically (sorted keys, UTF-8,
fixed separators) so its own sha256 (and later its signature) is reproducible.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from kernel.canonical import canonical_json
from kernel.errors import IntegrityError, Problem
from kernel.ids import isoformat

SCHEMA_ID = "urn:witnessbox:schema:manifest:1"


def manifest_key(source_id: str, capture_id: str) -> str:
    return f"captures/{source_id}/{capture_id}/manifest.json"


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(
        resources.files("preservation.formats").joinpath("schemas/manifest-1.json").read_text()
    )
    return Draft202012Validator(schema)


def validate(manifest: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [
            Problem("schema", "/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
            for e in errors[:20]
        ]
        raise IntegrityError(f"manifest does not match its schema: {problems[0]}", problems)


def parse(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"manifest is not valid JSON: {exc}") from None
    validate(manifest)
    return manifest


def build_manifest(
    *,
    capture_id: str,
    source: dict[str, Any],
    status: str,
    reasons: list[str],
    started_at: datetime,
    finished_at: datetime,
    collector: tuple[str, str],
    run: dict[str, Any],
    tools: dict[str, str],
    host: dict[str, Any],
    network: dict[str, Any],
    platform: dict[str, Any],
    artifacts: list[dict[str, Any]],
    store: str,
    previous_capture_id: str | None = None,
    items: list[dict[str, Any]] | None = None,
    cursor: dict[str, Any] | None = None,
    retry_after: datetime | None = None,
) -> dict[str, Any]:
    """The manifest dict for one capture (no I/O; validated before it is returned)."""
    manifest = {
        "schema": SCHEMA_ID,
        "capture": {
            "id": capture_id,
            "status": status,
            "reasons": list(reasons),
            "started_at": isoformat(started_at),
            "finished_at": isoformat(finished_at),
            "collector": {"name": collector[0], "version": collector[1]},
            "run": run,
            "previous_capture_id": previous_capture_id,
            "items": items or [],
            "cursor": cursor,
            "retry_after": isoformat(retry_after) if retry_after else None,
        },
        "source": source,
        "tools": dict(sorted(tools.items())),
        "host": host,
        "network": network,
        "platform": platform,
        "store": store,
        "artifacts": artifacts,
    }
    # JSON round trip: the dict we validate is exactly what gets serialised.
    manifest = json.loads(canonical_json(manifest))
    validate(manifest)
    return manifest
