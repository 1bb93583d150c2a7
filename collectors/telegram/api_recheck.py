"""api mode, step 4: re-check a window of known messages for edits and deletions.

The window is the newest ``recheck_messages`` known messages plus every one newer than
``recheck_days``, at most ``recheck_max``. A changed ``edit_date`` or content is stored as a
new version (``edits`` batch); a message that is gone is recorded as deleted with the time
that was observed (``deletions`` batch). Earlier versions stay in earlier captures.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.telegram.normalise import iso, message_record
from kernel.ids import parse_time

IDS_PER_REQUEST = 100


class Recheck:
    """The re-check part of ``ApiRun`` (a mixin: it uses the run's port, clock and batches)."""

    def recheck_window(self) -> list[tuple[int, dict[str, Any]]]:
        seen = self.ctx.seen
        known: list[tuple[int, dict[str, Any]]] = []
        for item_id in seen.captured_ids():
            info = seen.get(item_id) or {}
            if info.get("status") == "deleted" or not item_id.isdigit():
                continue
            message_id = int(item_id)
            if message_id in self.fetched_ids or message_id > self.last_id:
                continue
            known.append((message_id, info))
        known.sort(key=lambda pair: pair[0], reverse=True)
        chosen = dict(known[: self.opts.recheck_messages])
        if self.opts.recheck_days > 0:
            since = self.now() - timedelta(days=self.opts.recheck_days)
            for message_id, info in known:
                date = (info.get("data") or {}).get("date")
                if date and parse_time(date) >= since:
                    chosen.setdefault(message_id, info)
        newest = sorted(chosen.items(), key=lambda pair: pair[0], reverse=True)[
            : self.opts.recheck_max
        ]
        return sorted(newest, key=lambda pair: pair[0])

    def recheck(self) -> None:
        window = self.recheck_window()
        edited: list[dict[str, Any]] = []
        deleted: list[dict[str, Any]] = []
        try:
            for start in range(0, len(window), IDS_PER_REQUEST):
                chunk = window[start : start + IDS_PER_REQUEST]
                found = self.call(self.port.messages, self.channel, [i for i, _ in chunk])
                self.counters.rechecked += len(chunk)
                for (message_id, info), message in zip(chunk, found, strict=False):
                    self.compare(message_id, info, message, edited, deleted)
        finally:
            self.write_batch("edits", edited)
            if deleted:
                self.write_batch("deletions", deleted)

    def compare(
        self,
        message_id: int,
        info: dict[str, Any],
        message: Any,
        edited: list[dict[str, Any]],
        deleted: list[dict[str, Any]],
    ) -> None:
        stored = info.get("data") or {}
        observed = iso(self.now())
        if message is None:
            entry = {
                "id": message_id,
                "deleted_observed_at": observed,
                "last_capture_id": info.get("capture_id"),
                "last_fingerprint": stored.get("fingerprint"),
                "last_version": stored.get("version", 1),
            }
            deleted.append(entry)
            self.counters.deleted += 1
            self.item(message_id, "deleted", deleted_observed_at=observed,
                      deleted_in_capture=self.ctx.capture_id)  # fmt: skip
            return
        record = message_record(message)
        same_mode = stored.get("mode") == "api"
        changed = record["edit_date"] != stored.get("edit_date") or (
            record["fingerprint"] != stored.get("fingerprint")
        )
        if same_mode and not changed:
            return
        version = int(stored.get("version", 1)) + (1 if same_mode else 0)
        record["version"] = version
        record["previous"] = {
            "capture_id": info.get("capture_id"),
            "edit_date": stored.get("edit_date"),
            "fingerprint": stored.get("fingerprint"),
            "mode": stored.get("mode"),
        }
        if record.get("media") and (
            record["media"].get("id") != stored.get("media_id") or not same_mode
        ):
            self.fetch_media(message, record)
        edited.append(record)
        status = "edited" if same_mode else "captured"
        self.counters.edited += 1 if same_mode else 0
        self.item(message_id, status, **self.item_data(record, version))
