"""Reading setting values the way every settings source spells them (toml, env, JSON)."""

from __future__ import annotations

from typing import Any

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


def as_bool(raw: Any) -> bool | None:
    """``raw`` as a boolean, or None when it spells neither (the caller names the setting)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    return True if text in TRUE else False if text in FALSE else None
