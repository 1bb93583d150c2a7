"""Shared fixtures: an isolated WITNESSBOX_HOME per test and a runtime over it.

The catalogue is SQLite in that home, unless the test uses ``catalogue_url`` (it then runs
once per backend: SQLite and a fresh PostgreSQL database), or the run says otherwise:

- ``WITNESSBOX_TEST_CATALOGUES=sqlite,postgresql``: the backends ``catalogue_url`` runs on;
- ``WITNESSBOX_TEST_DEFAULT_CATALOGUE=postgresql``: every other test on PostgreSQL too;
- ``WITNESSBOX_TEST_POSTGRES_URL``: an existing server instead of the throwaway cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kernel.settings import Settings, load_settings
from tests.support.postgres import postgres  # noqa: F401

try:  # the SeaweedFS fixture, when the S3 backend's test support is present
    from tests.support.seaweedfs import seaweedfs  # noqa: F401
except ImportError:  # pragma: no cover
    pass

os.environ.setdefault("WITNESSBOX_OPERATOR", "test-operator")
for _name in list(os.environ):  # tests never read a developer's real configuration
    if _name.startswith("WITNESSBOX_") and _name != "WITNESSBOX_OPERATOR":
        if not _name.startswith("WITNESSBOX_TEST_"):  # the test run's own choices stay
            del os.environ[_name]

BACKENDS = ("sqlite", "postgresql")
CATALOGUES = [
    b.strip() for b in os.environ.get("WITNESSBOX_TEST_CATALOGUES", ",".join(BACKENDS)).split(",")
]
if unknown := set(CATALOGUES) - set(BACKENDS):
    raise pytest.UsageError(f"WITNESSBOX_TEST_CATALOGUES: unknown backend {sorted(unknown)}")
DEFAULT_CATALOGUE = os.environ.get("WITNESSBOX_TEST_DEFAULT_CATALOGUE", "sqlite")


def _catalogue_for(backend: str, home: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{home / 'catalogue.sqlite'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(params=CATALOGUES)
def catalogue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's catalogue: SQLite in its home, or a fresh PostgreSQL database (at head)."""
    return _catalogue_for(request.param, tmp_path / "home", request)


@pytest.fixture
def fresh_catalogue(request: pytest.FixtureRequest) -> Callable[[Path], str]:
    """Another empty catalogue on the test's backend, for a second home."""
    backend = "sqlite"
    if "catalogue_url" in request.fixturenames:
        backend = request.getfixturevalue("catalogue_url").split(":")[0].split("+")[0]
    elif DEFAULT_CATALOGUE != "sqlite":
        backend = DEFAULT_CATALOGUE
    return lambda home: _catalogue_for(backend, home, request)


@pytest.fixture
def wb_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Environment for a witnessbox whose home is a fresh temporary directory."""
    home = tmp_path / "home"
    if "catalogue_url" in request.fixturenames:
        url = request.getfixturevalue("catalogue_url")
    else:
        url = _catalogue_for(DEFAULT_CATALOGUE, home, request)
    env = {"WITNESSBOX_HOME": str(home)}
    if url != _catalogue_for("sqlite", home, request):  # SQLite in the home is the default
        env["WITNESSBOX_CATALOGUE"] = url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


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
