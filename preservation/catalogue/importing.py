"""``watch import``: a watchlist file read as a stream, validated whole, written at once.

A file can be hostile or simply huge, so nothing here holds it in memory: it is refused
before reading when it is not a regular file or exceeds ``MAX_IMPORT_BYTES``; text is read
line by line (each line capped at ``MAX_LINE``), a JSON array item by item (each item
capped at ``MAX_ITEM``); reading stops after ``MAX_ERRORS`` bad entries, and a file with
more than ``MAX_ENTRIES`` entries is refused. All or nothing: every entry is validated
before any is written, so a refused file leaves the watchlist as it was.

Formats: a JSON array of objects (what ``watch export`` writes), CSV or TSV with a header
row whose first column is ``url``, or one URL per line (``#`` starts a comment).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from preservation.catalogue.models import Catalogue, Source
from preservation.catalogue.watchlist import SourceSpec, find_source, insert_source, validate_entry

MiB = 1 << 20
MAX_IMPORT_BYTES = 64 * MiB
MAX_ENTRIES = 100_000
MAX_ERRORS = 20
MAX_LINE = 64 * 1024
MAX_ITEM = 64 * 1024
CHUNK = 64 * 1024
_TEXT_FIELDS = ("kind", "every", "case", "note")


class _Fatal(Exception):
    """The file cannot be read further (not UTF-8, broken JSON): stop at this entry."""


@dataclass
class ImportReport:
    added: list[Source]
    skipped: list[tuple[str, str]]  # (url, existing id)


@dataclass
class _Problems:
    path: Path
    messages: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, number: int, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_ERRORS:
            self.messages.append(f"entry {number}: {message}")

    @property
    def full(self) -> bool:
        return self.count >= MAX_ERRORS

    def raise_if_any(self, stopped: bool) -> None:
        if not self.count:
            return
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        if stopped:
            more = f" (and {self.count - 1} more; stopped reading after {MAX_ERRORS} errors)"
        raise InputError(f"{self.path}: {self.messages[0]}{more}; nothing imported")


# -- reading ----------------------------------------------------------------------------------
def _open(path: Path) -> IO[str]:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is not a regular file")
    if info.st_size > MAX_IMPORT_BYTES:
        raise InputError(
            f"{path} is {info.st_size // MiB} MiB: watchlist files are limited to "
            f"{MAX_IMPORT_BYTES // MiB} MiB (split it)"
        )
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _read(stream: IO[str], size: int) -> str:
    try:
        text = stream.read(size)
    except UnicodeDecodeError:
        raise _Fatal("the file is not UTF-8 text") from None
    if stream.buffer.tell() > MAX_IMPORT_BYTES:  # it grew after it was measured
        raise _Fatal(f"the file grew past {MAX_IMPORT_BYTES // MiB} MiB while it was read")
    return text


def _lines(stream: IO[str], first: str) -> Iterator[tuple[int, str | None]]:
    """(line number, line) with each line capped; None for a line over ``MAX_LINE``."""
    number = 0
    pending = first
    while True:
        while "\n" not in pending and len(pending) <= MAX_LINE:
            chunk = _read(stream, CHUNK)
            if not chunk:
                break
            pending += chunk
        if not pending:
            return
        number += 1
        line, newline, rest = pending.partition("\n")
        if len(line) > MAX_LINE:
            while not newline:  # skip the rest of the overlong line without keeping it
                rest = _read(stream, CHUNK)
                if not rest:
                    break
                _, newline, rest = rest.partition("\n")
            pending = rest
            yield number, None
            continue
        pending = rest
        yield number, line + newline


def _json_items(stream: IO[str], first: str) -> Iterator[tuple[int, Any]]:
    """(item number, value) of a JSON array, decoded one item at a time."""
    decoder = json.JSONDecoder()
    buffer, pos, eof, number = first, first.index("[") + 1, False, 0

    def fill() -> None:
        nonlocal buffer, pos, eof
        chunk = _read(stream, CHUNK)
        buffer, pos = buffer[pos:] + chunk, 0
        eof = not chunk

    def skip_space() -> str:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                pos += 1
            if pos < len(buffer):
                return buffer[pos]
            fill()
            if eof:
                return ""

    expect_comma = False
    while True:
        char = skip_space()
        if char == "]":
            return
        if not char:
            raise _Fatal(f"not valid JSON: the array is not closed after item {number}")
        if expect_comma:
            if char != ",":
                raise _Fatal(f"not valid JSON after item {number}: expected ',' or ']'")
            pos += 1
            skip_space()
        number += 1
        while True:
            problem = ""
            try:
                value, end = decoder.raw_decode(buffer, pos)
                if end < len(buffer) or eof:  # a value ending at the buffer's end may go on
                    break
            except json.JSONDecodeError as exc:
                problem = exc.msg
                if eof:
                    raise _Fatal(f"not valid JSON in item {number} ({problem})") from None
            if len(buffer) - pos > MAX_ITEM:
                why = f"not valid JSON ({problem})" if problem else "too long"
                raise _Fatal(f"item {number} is {why}: items are at most {MAX_ITEM // 1024} KiB")
            fill()
        if end - pos > MAX_ITEM:
            raise _Fatal(f"item {number} is too long: items are at most {MAX_ITEM // 1024} KiB")
        pos = end
        expect_comma = True
        yield number, value


def _rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(entry number, row) where a row is a dict, or a str naming what is wrong with it."""
    first = ""
    while not first.strip():
        chunk = _read(stream, CHUNK)
        if not chunk:
            return
        first += chunk
    start = first.lstrip()[0]
    if start == "{":
        raise _Fatal("expected a list of sources (a JSON array), found a JSON object")
    if start == "[":
        for number, item in _json_items(stream, first):
            yield number, item if isinstance(item, dict) else "expected an object"
        return
    lines = _lines(stream, first)
    head: list[str | None] = []
    for _, line in lines:
        head.append(line)
        if line is None or line.strip():
            break
    header = head[-1] if head else None
    if header and header.lower().startswith("url") and ("," in header or "\t" in header):
        yield from _csv_rows(header, lines)
        return
    count = 0
    for line in itertools.chain(head, (text for _, text in lines)):
        if line is None:
            count += 1
            yield count, f"longer than {MAX_LINE // 1024} KiB"
        elif line.strip() and not line.startswith("#"):
            count += 1
            yield count, {"url": line.strip()}


def _csv_rows(
    header: str, lines: Iterator[tuple[int, str | None]]
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    dialect = "excel-tab" if "\t" in header else "excel"
    names = [n.strip().lower() for n in next(csv.reader([header], dialect=dialect))]
    overlong: list[int] = []

    def text() -> Iterator[str]:
        for number, line in lines:
            if line is None:
                overlong.append(number)
                yield "\n"
            else:
                yield line

    reader = csv.reader(text(), dialect=dialect)
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield number, f"bad CSV ({exc})"
            continue
        if overlong:
            overlong.clear()
            number += 1
            yield number, f"longer than {MAX_LINE // 1024} KiB"
            continue
        if not any(v.strip() for v in values):
            continue
        number += 1
        if len(values) > len(names):
            yield number, f"{len(values)} columns, the header has {len(names)}"
            continue
        yield number, dict(zip(names, values, strict=False))


# -- validating -------------------------------------------------------------------------------
def _tags_of(row: dict[str, Any]) -> list[str]:
    tags = row.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[;|]", tags) if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError("tags must be text or a list of text")
    return tags


def _spec_of(row: dict[str, Any], policy: NetworkPolicy) -> SourceSpec:
    for name in _TEXT_FIELDS:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise InputError(f"{name} must be text")
    return validate_entry(
        row.get("url", ""),
        policy,
        kind=row.get("kind") or None,
        every=row.get("every") or None,
        tags=_tags_of(row),
        case=row.get("case"),
        note=row.get("note"),
        options=row.get("options") or None,  # checked against the collector's declaration
    )


def read_specs(path: Path, policy: NetworkPolicy) -> list[SourceSpec]:
    """Every entry of the file, validated; ``InputError`` naming the first problems."""
    problems = _Problems(path)
    specs: list[SourceSpec] = []
    stopped = False
    with _open(path) as stream:
        rows = _rows(stream)
        number = 0
        while True:
            try:
                number, row = next(rows)
            except StopIteration:
                break
            except _Fatal as exc:
                if not problems.count and not specs and number == 0:
                    raise InputError(f"{path}: {exc}; nothing imported") from None
                problems.add(number + 1, str(exc))
                break
            if number > MAX_ENTRIES:
                raise InputError(
                    f"{path}: more than {MAX_ENTRIES} entries: split the file; nothing imported"
                )
            if isinstance(row, str):
                problems.add(number, row)
            else:
                try:
                    specs.append(_spec_of(row, policy))
                except InputError as exc:
                    problems.add(number, str(exc))
            if problems.full:
                stopped = True
                break
    problems.raise_if_any(stopped)
    if not specs:
        raise InputError(f"{path}: no entries")
    return specs


def import_sources(
    catalogue: Catalogue, path: Path, policy: NetworkPolicy, added_by: str, now: datetime
) -> ImportReport:
    """All or nothing: every row is validated before any is written."""
    specs = read_specs(path, policy)
    report = ImportReport([], [])
    with catalogue.session.begin() as session:
        seen: set[tuple[str, str]] = set()
        for spec in specs:
            existing = find_source(session, spec.kind, spec.url)
            if existing is not None or (spec.kind, spec.url) in seen:
                report.skipped.append((spec.url, existing.id if existing else "(repeated in file)"))
                continue
            seen.add((spec.kind, spec.url))
            report.added.append(insert_source(session, spec, added_by, now))
    return report
