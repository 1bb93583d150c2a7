"""What the two Telegram modes share: message batches and the artifact list they end in.

api mode (an account) and preview mode (the public page) observe different things but
record them the same way: numbered ``messages/*.json`` batches with the same header, each
listed as a ``message-json`` artifact with the ids it holds, and one ``CollectedCapture``
whose artifacts are everything staged. Each mode says only what is its own: its schema,
how it names the channel, and any extra header.
"""

from __future__ import annotations

from typing import Any, ClassVar

from collectors.base import CollectedCapture
from collectors.run import CollectorRun, id_summary
from collectors.telegram.normalise import iso
from collectors.telegram.staging import Staging


class TelegramRun(CollectorRun):
    """A Telegram run's staging and batches; ``ApiRun`` and ``PreviewRun`` are its modes."""

    mode: ClassVar[str]
    schema: ClassVar[str]
    batch_prefix: ClassVar[str] = ""  # preview batches are named messages/preview-<kind>-...
    staging: Staging

    def __post_init__(self) -> None:
        self.staging = Staging(self.ctx.staging)

    def channel_header(self) -> dict[str, Any]:
        """The channel as a batch header names it."""
        raise NotImplementedError

    def channel_platform(self) -> dict[str, Any]:
        """The channel as an artifact's platform facts name it."""
        raise NotImplementedError

    def batch_extra(self) -> dict[str, Any]:
        """Header fields of this mode's batches besides the common ones."""
        return {}

    def write_batch(
        self, kind: str, records: list[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> None:
        """One ``message-json`` artifact of ``records`` (nothing when there are none)."""
        if not records:
            return
        ids = [r["id"] for r in records]
        name = self.batch_name(f"messages/{self.batch_prefix}{kind}", ids)
        data = {
            "schema": self.schema,
            "mode": self.mode,
            "kind": kind,
            "channel": self.channel_header(),
            **self.batch_extra(),
            "observed_at": iso(self.now()),
            "messages": records,
            **(extra or {}),
        }
        platform = {
            **self.channel_platform(),
            "message_ids": id_summary(ids),
            "count": len(ids),
            "kind": kind,
        }
        self.staging.write_json(name, data, "message-json", platform)

    def collected(
        self, status: str, reasons: list[str] | None = None, **facts: Any
    ) -> CollectedCapture:
        facts.setdefault("artifacts", self.staging.artifacts)
        return super().collected(status, reasons, **facts)
