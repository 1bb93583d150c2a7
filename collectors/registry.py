"""Which collector serves which source kind, read from the collectors' own declarations.

``COLLECTORS`` is the index (kind -> ``module:Class``, like yt-dlp's extractor list); every
other fact about a kind (default schedule, pool, which URLs it takes, its options, the
settings it may read) is declared once on the collector class (``collectors.base.Collector``)
and read here. Classes are imported on first use only, so ``witnessbox --help`` stays fast;
the declaring modules import nothing heavy (Playwright, yt-dlp and Telethon load inside
``collect``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from collectors.base import Collector, SettingsView
from collectors.options import OptionError, parse_line, parse_pairs
from kernel import schedule
from kernel.errors import InputError

__all__ = [
    "COLLECTORS",
    "KINDS",
    "OptionError",
    "check_options",
    "collector_class",
    "dag_interval",
    "default_interval",
    "describe_options",
    "get_collector",
    "infer_kind",
    "normalise_source",
    "options_table",
    "parse_line",
    "parse_pairs",
    "pool",
    "settings_view",
    "tick_warning",
]

COLLECTORS: dict[str, str] = {
    "web": "collectors.web.collector:WebCollector",
    "video": "collectors.video.collector:VideoCollector",
    "telegram": "collectors.telegram.collector:TelegramCollector",
}
#: the kinds as users see them (inference asks the generic collector last)
KINDS: tuple[str, ...] = tuple(COLLECTORS)


def _unknown(kind: str) -> InputError:
    return InputError(f"unknown kind {kind!r}: use one of {', '.join(COLLECTORS)}")


def collector_class(kind: str) -> type[Collector]:
    """The declaring class of ``kind`` (imported now if need be)."""
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
    cls: type[Collector] = getattr(module, attr)
    if cls.kind and cls.kind != kind:
        raise TypeError(f"{target} declares kind {cls.kind!r}, registered as {kind!r}")
    return cls


def get_collector(kind: str) -> Collector:
    return collector_class(kind)()


def declared() -> list[type[Collector]]:
    """Every installed collector class."""
    out = []
    for kind in list(COLLECTORS):
        try:
            out.append(collector_class(kind))
        except InputError:  # not installed here
            continue
    return out


# -- URLs -------------------------------------------------------------------------------------
def infer_kind(value: str) -> str:
    """The kind of the first collector that finds ``value`` suitable; the generic one last."""
    classes = declared()
    for cls in classes:
        if not cls.generic and cls.suitable(value):
            return cls.kind
    for cls in classes:
        if cls.generic and cls.suitable(value):
            return cls.kind
    # nothing takes it: let the generic collector's normalising say why in one line
    generic = next((c for c in classes if c.generic), None)
    if generic is not None:
        generic.normalise(value)
    raise InputError(f"no collector takes {value!r}")


def normalise_source(value: str, kind: str | None = None) -> tuple[str, str]:
    """(kind, normalised url) for a watchlist entry."""
    if kind is not None and kind not in COLLECTORS:
        raise _unknown(kind)
    kind = kind or infer_kind(value)
    cls = collector_class(kind)
    for other in declared():
        if other.kind != kind and other.claims(value):
            raise InputError(f"{value!r} is a {other.title or other.kind}, not a {kind} URL")
    return kind, cls.normalise(value)


# -- what a kind declares ----------------------------------------------------------------------
def default_interval(kind: str) -> int:
    """A new source's schedule when ``--every`` is not given (seconds)."""
    return collector_class(kind).every


def pool(kind: str) -> tuple[str, int]:
    cls = collector_class(kind)
    return cls.pool or f"witnessbox_{kind}", cls.pool_slots


def dag_interval(kind: str, environ: Mapping[str, str] | None = None) -> int:
    """How often the kind's DAG looks for due sources (seconds): a source cannot be captured
    more often than that. ``WITNESSBOX_DAG_TICK_SECONDS`` sets one tick for every kind."""
    override = schedule.tick_override(environ)
    return override if override is not None else collector_class(kind).dag_every


def tick_warning(kind: str, seconds: int, environ: Mapping[str, str] | None = None) -> str | None:
    """What ``watch add`` warns when ``--every`` is shorter than the kind's DAG tick."""
    return schedule.tick_warning(kind, seconds, dag_interval(kind, environ))


def check_options(kind: str, options: Mapping[str, Any] | None) -> None:
    """Refuse options the kind does not declare, or values outside what it allows.

    ``OptionError`` (an ``InputError``: exit 2) names the option, the value and what is
    allowed. The options are stored as given: the collector parses them the same way.
    """
    declaration = collector_class(kind).options
    if declaration is None:
        if options:
            raise InputError(f"{kind} sources take no options")
        return
    declaration.parse(options)


def settings_names(collector: str | type[Collector] | Collector) -> tuple[str, ...]:
    """The settings a capture may read: the collector's own and those of the kinds it uses."""
    cls = collector_class(collector) if isinstance(collector, str) else collector
    names = list(cls.settings_used)
    for used in cls.uses:
        if used in COLLECTORS:
            names.extend(n for n in settings_names(used) if n not in names)
    return tuple(names)


def settings_view(collector: str | type[Collector] | Collector, settings: Any) -> SettingsView:
    """What ``CollectContext.settings`` holds: never a secret the collector did not declare."""
    return SettingsView(settings, settings_names(collector))


def describe_options(kind: str) -> list[dict[str, Any]]:
    """The kind's declared options as plain data (``witnessbox watch options --json``)."""
    declaration = collector_class(kind).options
    return [
        {"name": o.name, "type": o.type, "allowed": o.allowed(), "default": o.default_shown(),
         "help": o.help, "aliases": list(o.aliases)}
        for o in (declaration or [])
    ]  # fmt: skip


def options_table(kind: str) -> str:
    declaration = collector_class(kind).options
    return declaration.table() if declaration is not None else "(no options)"


def write_readme_tables(path: str) -> None:
    """Rewrite the option tables between ``<!-- options:KIND -->`` markers in ``path``."""
    from pathlib import Path

    file = Path(path)
    text = file.read_text(encoding="utf-8")
    for kind in COLLECTORS:
        start, end = f"<!-- options:{kind} -->\n", f"<!-- /options:{kind} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = head + start + options_table(kind) + "\n" + end + rest.split(end, 1)[1]
    file.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # python -m collectors.registry --readme README.md
    import sys

    if sys.argv[1:2] == ["--readme"] and len(sys.argv) == 3:
        write_readme_tables(sys.argv[2])
    else:
        for kind in COLLECTORS:
            print(f"## {kind}\n\n{options_table(kind)}\n")
