"""Which collector serves which source kind; imported lazily so the CLI starts fast."""

from __future__ import annotations

import importlib

from collectors.base import Collector
from kernel.errors import InputError

COLLECTORS: dict[str, str] = {
    "web": "collectors.web.collector:WebCollector",
    "video": "collectors.video.collector:VideoCollector",
    "telegram": "collectors.telegram.collector:TelegramCollector",
}


def get_collector(kind: str) -> Collector:
    target = COLLECTORS.get(kind)
    if target is None:
        raise InputError(f"unknown source kind {kind!r}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise InputError(f"no collector for {kind} sources in this installation") from None
        raise
    return getattr(module, attr)()
