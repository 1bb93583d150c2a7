"""The collector contract: what every collector receives and what it hands back.

A collector turns one watched source into files in an empty staging directory plus the raw
platform facts about them. It does not hash, store or index anything: the pipeline does,
the same way for every collector (``preservation.pipeline``). A collector never names a
file after untrusted text (titles, captions): names come from ids and fixed words.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from kernel.netpolicy import NetworkPolicy
from kernel.settings import Settings
from kernel.urls import normalise_url

if TYPE_CHECKING:
    from collectors.options import OptionSet

STATUSES = ("complete", "partial", "failed")
ROLES = (
    "warc",
    "wacz",
    "media",
    "screenshot",
    "dom",
    "pdf",
    "text",
    "info-json",
    "message-json",
    "channel-json",
    "thumbnail",
    "subtitles",
    "comments",
    "page-info",
    "exif",
    "other",
)
_SAFE_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,4}$"
)


def http_reason(status: int, phrase: str = "") -> str:
    """A failed capture's reason for an HTTP error answer: ``http-404: Not Found``.

    HTTP/2 carries no reason phrase, so the standard one is used when the server sent none.
    """
    from http import HTTPStatus

    if not phrase.strip():
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
    return f"http-{status}: {phrase.strip()}"


def check_artifact_name(name: str) -> str:
    """Artifact names are relative paths of safe characters: never from untrusted text."""
    if not _SAFE_NAME.match(name) or ".." in name.split("/"):
        raise ValueError(f"unsafe artifact name: {name!r}")
    return name


@dataclass(frozen=True)
class SourceRef:
    """The watchlist entry being collected, as the collector may see it."""

    id: str
    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    case: str | None = None
    tags: tuple[str, ...] = ()


class SeenItems(Protocol):
    """What the catalogue knows about a source's items (video ids, message ids)."""

    def captured_ids(self) -> set[str]: ...

    def failed_ids(self) -> set[str]: ...

    def get(self, item_id: str) -> dict[str, Any] | None: ...


class NoSeenItems:
    def captured_ids(self) -> set[str]:
        return set()

    def failed_ids(self) -> set[str]:
        return set()

    def get(self, item_id: str) -> dict[str, Any] | None:
        return None


class SettingsView:
    """The settings one collector declared it reads (``Collector.settings_used``), nothing else.

    Collectors parse hostile pages and media: a secret they do not need (the S3 keys, the
    signing key, the Telegram session) must not be within their reach. Reading a setting
    that was not declared raises ``AttributeError`` naming the declaration to change.
    """

    __slots__ = ("_values",)

    def __init__(self, settings: Settings | SettingsView, names: tuple[str, ...]) -> None:
        object.__setattr__(self, "_values", {name: getattr(settings, name) for name in names})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_values":  # copy/pickle probes: not settings
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"setting {name!r} is not in this collector's view: add it to settings_used"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("collector settings are read-only")

    def names(self) -> tuple[str, ...]:
        return tuple(self._values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_settings_view, (self._values,))

    def __repr__(self) -> str:
        return f"SettingsView({', '.join(self._values)})"


#: What a collector reads settings from: the pipeline hands a ``SettingsView``; tests and
#: benchmarks may pass whole ``Settings``.
CollectorSettings = Settings | SettingsView


def _settings_view(values: dict[str, Any]) -> SettingsView:
    view = object.__new__(SettingsView)
    object.__setattr__(view, "_values", dict(values))
    return view


@dataclass
class CollectContext:
    settings: CollectorSettings
    policy: NetworkPolicy
    staging: Path  # an empty directory that belongs to this capture alone
    capture_id: str
    cursor: dict[str, Any] = field(default_factory=dict)  # state after the last stored capture
    seen: SeenItems = field(default_factory=NoSeenItems)
    clock: Callable[[], datetime] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("witnessbox.collect"))
    progress: Callable[[str], None] = lambda message: None


@dataclass
class StagedArtifact:
    name: str  # path relative to the staging directory
    role: str
    media_type: str
    derived_from: str | None = None  # name of the artifact this one was made from
    platform: dict[str, Any] = field(default_factory=dict)  # ids that locate it on the platform
    # digests the collector computed while writing the file (a hashing tee): size, sha256,
    # sha512, md5, inode, mtime_ns. The pipeline reuses them when the file is unchanged.
    digests: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_artifact_name(self.name)
        if self.role not in ROLES:
            raise ValueError(f"unknown artifact role {self.role!r}")


@dataclass
class ItemResult:
    """The fate of one item of a source in this capture (a video, a message)."""

    id: str
    status: str  # captured | failed | deleted | edited | skipped
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectedCapture:
    status: str
    reasons: list[str] = field(default_factory=list)
    artifacts: list[StagedArtifact] = field(default_factory=list)
    platform: dict[str, Any] = field(default_factory=dict)  # channel, video id, message ids
    tools: dict[str, str] = field(default_factory=dict)  # tool name -> version
    network: dict[str, Any] = field(default_factory=dict)  # resolved IPs, TLS, egress facts
    items: list[ItemResult] = field(default_factory=list)
    cursor: dict[str, Any] | None = None  # new cursor; applied only once this capture is stored
    retry_after: datetime | None = None  # e.g. a Telegram flood wait: defer the source until then

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown capture status {self.status!r}")


class Collector(ABC):
    """One collector per source kind. Heavy imports happen inside ``collect``.

    A collector declares itself in class attributes, as yt-dlp's extractors do; the registry,
    the watchlist, the default schedules and the DAG factory read these and nothing else:

    - ``kind``: the source kind it serves; ``title``: that kind in words;
    - ``every``: a new source's default schedule (seconds);
    - ``pool`` / ``pool_slots`` / ``pool_note``: the Airflow pool bounding its concurrency;
      ``dag_every``: how often its DAG looks for due sources (seconds);
    - ``suitable(url)``: whether it would collect ``url`` (``generic``: any http(s) URL, the
      fallback when no other collector claims a URL);
    - ``options``: its declared per-source options (``collectors.options.OptionSet``);
    - ``settings_used``: the settings it reads (``uses``: kinds it runs inside a capture).
    """

    name: str = "collector"
    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    every: ClassVar[int] = 86400
    pool: ClassVar[str] = ""
    pool_slots: ClassVar[int] = 1
    pool_note: ClassVar[str] = ""
    dag_every: ClassVar[int] = 900
    generic: ClassVar[bool] = False
    options: ClassVar[OptionSet | None] = None
    settings_used: ClassVar[tuple[str, ...]] = ()
    uses: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def suitable(cls, url: str) -> bool:
        """Whether ``url`` (as the user typed it) is a source of this kind."""
        return False

    @classmethod
    def claims(cls, value: str) -> bool:
        """Whether ``value`` can only mean a source of this kind (e.g. ``@channel``)."""
        return False

    @classmethod
    def normalise(cls, value: str) -> str:
        """The one spelling of a source URL of this kind (duplicates become visible)."""
        return normalise_url(value)

    @property
    @abstractmethod
    def version(self) -> str:
        """The collector's version string, recorded in every manifest."""

    @abstractmethod
    def collect(self, source: SourceRef, ctx: CollectContext) -> CollectedCapture:
        """Capture ``source`` into ``ctx.staging``. Raise ``CollectionError`` on total failure."""
