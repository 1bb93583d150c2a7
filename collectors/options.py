"""Declared collector options: each option's name, type, range, default and help, stated once.

A collector binds its declarations to its typed options dataclass (``OptionSet``): the
dataclass gives the defaults, the declarations give the rules, and binding fails at import
if the two disagree, so neither can drift. The same declarations check ``--option KEY=VALUE``
when a source is added (``watch add``, ``watch import``, the UI form, ``capture``), parse the
options when the collector runs, and write the README's option tables.

Every refusal is one line naming the option, the value and what is allowed::

    web option viewport_width=-5: must be a whole number of at least 1
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import InputError

TYPES = ("bool", "int", "float", "text", "choice", "list", "size", "path")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPEZY]?)$", re.IGNORECASE)
_SHOWN = 60


class OptionError(InputError):
    """A bad ``--option`` value: exit 2 with one line."""


def show(value: Any) -> str:
    """A value as the user typed it, on one short line (hostile text cannot break the line)."""
    if isinstance(value, str) and value.isprintable():
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def parse_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as typed (``--option``): values that read as JSON are decoded."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"bad option {show(pair)}: use KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def parse_line(text: str) -> dict[str, Any]:
    """``key=value key2="a b"`` on one line (the UI's form field)."""
    try:
        return parse_pairs(shlex.split(text))
    except ValueError as exc:
        raise OptionError(f"bad options {show(text)}: {exc}") from None


def _number(text: str) -> str:
    return str(int(text)) if float(text).is_integer() else str(text)


@dataclass(frozen=True)
class Option:
    """One option's rules. ``default`` is filled from the options dataclass when bound."""

    name: str
    type: str
    help: str
    minimum: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound ("positive": above=0)
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # for choice, and the allowed items of a list
    aliases: tuple[str, ...] = ()
    nullable: bool = False  # None (JSON null) or "" means "not set"
    max_length: int | None = None
    parser: Callable[[Any], Any] | None = None  # a special form; raises ValueError
    allowed_text: str = ""  # what ``parser`` accepts, in words
    default: Any = None
    default_text: str = ""  # when the default is not a constant (e.g. from a setting)
    secret: bool = False  # its value never appears in a message (it may end up in a manifest)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"option {self.name}: unknown type {self.type!r}")

    # -- what is allowed, in words --------------------------------------------------------
    def allowed(self) -> str:
        if self.allowed_text:
            return self.allowed_text
        if self.type == "bool":
            return "true or false"
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "list":
            return "a comma-separated list of " + ", ".join(self.choices)
        if self.type == "size":
            return "a size such as 500K, 50M or 2G, or a number of bytes"
        if self.type == "path":
            return "the path of a readable file"
        if self.type == "text":
            return f"text of at most {self.max_length} characters" if self.max_length else "text"
        word = "a whole number" if self.type == "int" else "a number"
        low = self.minimum
        if low is not None and self.maximum is not None:
            return f"{word} from {_number(str(low))} to {_number(str(self.maximum))}"
        if self.above is not None:
            return f"{word} greater than {_number(str(self.above))}"
        if low is not None:
            return f"{word} of at least {_number(str(low))}"
        if self.maximum is not None:
            return f"{word} of at most {_number(str(self.maximum))}"
        return word

    def default_shown(self) -> str:
        if self.default_text:
            return self.default_text
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple):
            return ",".join(self.default) or "none"
        mib = 1 << 20
        if isinstance(self.default, int) and self.default >= mib and not self.default % mib:
            return f"{self.default} ({self.default // mib} MiB)"
        return str(self.default)

    # -- parsing ---------------------------------------------------------------------------
    def parse(self, value: Any) -> Any:
        """The typed value, or ``ValueError`` (the caller names the option and the value)."""
        if self.nullable and (value is None or value == ""):
            return None
        if self.parser is not None:
            return self.parser(value)
        parse = getattr(self, "_" + self.type)
        return parse(value)

    def _bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int) else ""
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)

    def _check_range(self, number: float) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(number)
        if self.above is not None and number <= self.above:
            raise ValueError(number)
        if self.maximum is not None and number > self.maximum:
            raise ValueError(number)

    def _int(self, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(value)
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str):
            number = int(value.strip())
        else:
            raise ValueError(value)
        self._check_range(number)
        return number

    def _float(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(value)
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(value)
        self._check_range(number)
        return number

    def _text(self, value: Any) -> str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(value)
        text = str(value)
        if self.max_length is not None and len(text) > self.max_length:
            raise ValueError(value)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise ValueError(value)
        return text

    def _choice(self, value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text not in self.choices:
            raise ValueError(value)
        return text

    def _list(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, list | tuple):
            items = [str(v) for v in value]
        else:
            raise ValueError(value)
        out = tuple(i.strip().lower() for i in items if i.strip())
        if self.choices and set(out) - set(self.choices):
            raise ValueError(value)
        return out

    def _size(self, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int | float):
            number = int(value)
        else:
            match = _SIZE.match(str(value).strip())
            if match is None:
                raise ValueError(value)
            power = ["", *"KMGTPEZY"].index(match.group(2).upper())
            number = int(float(match.group(1)) * 1024**power)
        if number <= 0:
            raise ValueError(value)
        return number

    def _path(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(value)
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(value)
        return str(path.absolute())


class OptionSet:
    """The options one collector declares, bound to its typed dataclass."""

    def __init__(self, kind: str, target: type, options: Iterable[Option]) -> None:
        self.kind = kind
        self.target = target
        fields = {f.name: f for f in dataclasses.fields(target)}
        declared = {o.name: o for o in options}
        if set(fields) != set(declared):
            missing = sorted(set(fields) - set(declared))
            extra = sorted(set(declared) - set(fields))
            raise TypeError(
                f"{target.__name__} and its declarations disagree: undeclared {missing}, "
                f"not in the dataclass {extra}"
            )
        self.options: dict[str, Option] = {}
        for name, field in fields.items():
            option = declared[name]
            if field.default is dataclasses.MISSING:
                raise TypeError(f"{target.__name__}.{name} needs a default")
            self.options[name] = dataclasses.replace(option, default=field.default)
        self._keys: dict[str, str] = {}
        for option in self.options.values():
            for key in (option.name, *option.aliases):
                self._keys[key] = option.name

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.options.values())

    def __getitem__(self, name: str) -> Option:
        return self.options[name]

    def key(self, raw: str) -> str | None:
        return self._keys.get(str(raw).strip().lower().replace("-", "_"))

    def parse(self, raw: Mapping[str, Any] | None, *, strict: bool = True) -> dict[str, Any]:
        """Typed values of the options given, by declared name; ``OptionError`` when bad.

        ``strict=False`` skips unknown keys (a collector that tolerated them before
        declarations existed keeps doing so for sources already in the watchlist).
        """
        out: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            name = self.key(key)
            if name is None:
                if not strict:
                    continue
                known = ", ".join(sorted(self.options))
                raise OptionError(
                    f"unknown {self.kind} option {show(key)}={show(value)} (known: {known})"
                )
            option = self.options[name]
            try:
                out[name] = option.parse(value)
            except (TypeError, ValueError, OverflowError):
                shown = "(not shown)" if option.secret else show(value)
                raise OptionError(
                    f"{self.kind} option {name}={shown}: must be {option.allowed()}"
                ) from None
        return out

    def build(self, raw: Mapping[str, Any] | None, *, strict: bool = True, **base: Any) -> Any:
        """The typed dataclass: ``base`` values (e.g. from settings), then the options given."""
        return self.target(**{**base, **self.parse(raw, strict=strict)})

    def table(self) -> str:
        """A Markdown table of the options, for the README."""
        lines = ["| option | allowed | default | what it does |", "|---|---|---|---|"]
        for o in self.options.values():
            name = f"`{o.name}`" + "".join(f" (`{a}`)" for a in o.aliases)
            default = o.default_shown()
            lines.append(f"| {name} | {o.allowed()} | {default} | {o.help} |")
        return "\n".join(lines)
