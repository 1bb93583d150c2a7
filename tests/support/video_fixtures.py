"""pytest fixtures for the video collector's tests: import them into a test module."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from collectors.base import CollectContext, CollectedCapture, ItemResult, SourceRef
from collectors.registry import settings_view
from kernel.ids import uuid7
from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from tests.support.video_media import MediaKit, make_kit
from tests.support.video_site import VideoSite, running_site


class MemorySeen:
    """The catalogue's view of a source's items, kept in memory the way the indexer keeps it."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def record(self, items: list[ItemResult]) -> None:
        for item in items:
            row = self.rows.setdefault(item.id, {"status": item.status, "attempts": 0, "data": {}})
            if item.status == "failed":
                row["attempts"] += 1
                if row["status"] != "captured":
                    row["status"] = "failed"
            else:
                row["status"] = item.status
            row["data"] = {**row["data"], **item.data}

    def captured_ids(self) -> set[str]:
        return {i for i, r in self.rows.items() if r["status"] in ("captured", "edited", "deleted")}

    def failed_ids(self) -> set[str]:
        return {i for i, r in self.rows.items() if r["status"] == "failed"}

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.rows.get(item_id)


class Harness:
    """Runs a collector repeatedly against one source, carrying seen items and cursor along."""

    def __init__(self, root: Path, policy: NetworkPolicy | None = None) -> None:
        self.root = root
        self.settings = Settings(home=root / "home", allow_private_networks=True)
        self.policy = policy or NetworkPolicy(allow_private=True)
        self.seen = MemorySeen()
        self.cursor: dict[str, Any] = {}
        self._n = count()
        self.last_staging: Path | None = None

    def run(self, collector: Any, url: str, **options: Any) -> CollectedCapture:
        staging = self.root / f"staging-{next(self._n)}"
        staging.mkdir(parents=True)
        self.last_staging = staging
        ctx = CollectContext(
            settings=settings_view(collector, self.settings),  # what the pipeline hands
            policy=self.policy,
            staging=staging,
            capture_id=uuid7(),
            cursor=dict(self.cursor),
            seen=self.seen,
        )
        result = collector.collect(SourceRef("src-test", "video", url, dict(options)), ctx)
        self.seen.record(result.items)
        if result.cursor is not None:
            self.cursor = result.cursor
        return result

    def path(self, artifact_name: str) -> Path:
        assert self.last_staging is not None
        return self.last_staging / artifact_name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def video_kit(tmp_path_factory: pytest.TempPathFactory) -> MediaKit:
    return make_kit(tmp_path_factory.mktemp("video-kit"))


@pytest.fixture
def video_site(video_kit: MediaKit) -> Iterator[VideoSite]:
    with running_site(video_kit) as site:
        yield site


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
