"""A collector that stages given files: for pipeline tests that need no network."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from collectors.base import (
    CollectContext,
    CollectedCapture,
    Collector,
    ItemResult,
    SourceRef,
    StagedArtifact,
)
from collectors.web.collector import WebCollector
from kernel.errors import CollectionError


@dataclass
class StaticCollector(Collector):
    """Writes ``files`` (name -> bytes, or name -> size for generated content) into staging."""

    files: dict[str, bytes | int] = field(default_factory=dict)
    status: str = "complete"
    fail_with: Exception | None = None
    items: list[ItemResult] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    delay: float = 0.0
    name: str = "static"
    seen_calls: list[CollectContext] = field(default_factory=list)

    @property
    def version(self) -> str:
        return "1.0-test"

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        self.seen_calls.append(ctx)
        if self.fail_with is not None:
            raise self.fail_with
        artifacts = []
        for name, content in self.files.items():
            path = ctx.staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, int):
                with open(path, "wb") as out:
                    block = (name.encode() * 4096)[:1 << 16]
                    left = content
                    while left > 0:
                        out.write(block[: min(left, len(block))])
                        left -= len(block)
            else:
                path.write_bytes(content)
            role = "media" if name.endswith((".jpg", ".png", ".mp4")) else "other"
            artifacts.append(StagedArtifact(name, role, "application/octet-stream"))
        if self.delay:
            time.sleep(self.delay)
        return CollectedCapture(
            self.status,
            reasons=[] if self.status == "complete" else ["test says so"],
            artifacts=artifacts,
            platform={"test": True},
            tools={"static": "1.0"},
            items=list(self.items),
            cursor=self.cursor,
        )


def failing_collector(message: str = "the server said 404") -> StaticCollector:
    return StaticCollector(fail_with=CollectionError(message))


def declared_as(real: type[Collector]):  # type: ignore[no-untyped-def]
    """Give a stand-in the declarations of a real collector (kind, URLs, options, settings)."""

    def wrap(cls: type[Collector]) -> type[Collector]:
        for name in ("kind", "title", "every", "pool", "pool_slots", "pool_note", "dag_every", "generic",
                     "options", "settings_used", "uses"):  # fmt: skip
            setattr(cls, name, getattr(real, name))
        for name in ("suitable", "claims", "normalise"):
            setattr(cls, name, classmethod(getattr(real, name).__func__))
        return cls

    return wrap


@declared_as(WebCollector)
class StaticCollectorWithPage(StaticCollector):
    """A registry-constructible stand-in for the web collector staging one small page."""

    def __init__(self) -> None:
        super().__init__(files={"page.html": b"<html><body>statement</body></html>"})


class GoneOrPageCollector(StaticCollector):
    """Registry-constructible: fails like a 404 for URLs with ``/gone``, else stages a page."""

    def __init__(self) -> None:
        super().__init__(files={"page.html": b"<html><body>statement</body></html>"})

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        if "/gone" in source.url:
            raise CollectionError("http-404: Not Found")
        return super().collect(source, ctx)


class EchoCollector(Collector):
    """A fast collector for many-worker tests: stages one page naming the source and capture.

    ``install()`` makes the registry hand it out for every kind, so a ``witnessbox run``
    started in a subprocess captures without a browser.
    """

    name = "echo"
    version = "1.0-test"

    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        name = "page.html"
        (ctx.staging / name).write_bytes(f"<p>{source.url} {ctx.capture_id}</p>".encode())
        return CollectedCapture(
            "complete",
            artifacts=[StagedArtifact(name, "dom", "text/html")],
            tools={"echo": self.version},
        )

    @classmethod
    def install(cls) -> None:
        from collectors import registry

        registry.get_collector = lambda kind: cls()
