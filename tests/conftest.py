"""Shared fixtures: an isolated WITNESSBOX_HOME per test and a runtime over it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.settings import Settings, load_settings

try:  # the SeaweedFS fixture, when the S3 backend's test support is present
    from tests.support.seaweedfs import seaweedfs  # noqa: F401
except ImportError:  # pragma: no cover
    pass

os.environ.setdefault("WITNESSBOX_OPERATOR", "test-operator")
for _name in list(os.environ):  # tests never read a developer's real configuration
    if _name.startswith("WITNESSBOX_") and _name not in ("WITNESSBOX_OPERATOR",):
        del os.environ[_name]


@pytest.fixture
def wb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a witnessbox whose home is a fresh temporary directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("WITNESSBOX_HOME", str(home))
    return {"WITNESSBOX_HOME": str(home)}


@pytest.fixture
def settings(wb_env: dict[str, str]) -> Settings:
    return load_settings()


@pytest.fixture
def private_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow loopback targets, for tests that serve fixtures on 127.0.0.1."""
    monkeypatch.setenv("WITNESSBOX_ALLOW_PRIVATE_NETWORKS", "1")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[object]:
    from preservation.runtime import open_runtime

    rt = open_runtime(settings)
    yield rt
    rt.close()
