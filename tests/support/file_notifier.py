"""An Airflow notifier that writes what it was told to a file: the e2e test's inbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier


class FileNotifier(BaseNotifier):
    template_fields = ("subject", "text")

    def __init__(self, path: str, subject: str = "", text: str = "") -> None:
        super().__init__()
        self.path, self.subject, self.text = path, subject, text

    def notify(self, context: Any) -> None:
        ti = context.get("ti")
        Path(self.path).write_text(json.dumps({
            "subject": self.subject, "text": self.text, "dag_id": getattr(ti, "dag_id", None),
        }))
