"""Embedded metadata through one persistent exiftool process (pyexiftool).

Starting exiftool (Perl) costs far more than reading one file, so a capture's media all
go through one ``-stay_open`` process. Tags are read with ``-G1 -a -n``: family-1 group
names (``IFD0:Make``, ``GPS:GPSLatitude``, ``Keys:CreationDate``), duplicates kept, and
numeric values (signed decimal coordinates, no print conversion).

From the full tag set a few fields are normalised for the manifest:

- ``gps``: ``latitude``/``longitude`` signed (south and west negative), ``altitude`` in
  metres (negative below sea level), and the tag group they came from;
- ``device``: ``make``, ``model``, ``software``;
- ``created``: the best creation date as ISO 8601, with its offset where the file states
  one (QuickTime dates are UTC by specification), ``created_source`` naming the tag, and
  ``dates``: every recognised date tag, normalised the same way;
- ``exiftool``: the version that read them.

The full tag set (minus ``System:`` tags describing the staging copy rather than the
evidence: its path, times and permissions) is kept as its own artifact. Files are hostile
input: each read has a deadline and an output cap; a stuck or runaway exiftool is killed
and restarted for the next file, and every problem becomes a note, never an exception.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import select
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exiftool import ExifTool, ExifToolHelper
from exiftool.exceptions import ExifToolNotRunning

from kernel.closing import Closing

COMMON_ARGS = ["-G1", "-a", "-n", "-api", "LargeFileSupport=1"]
TIMEOUT_SECONDS = 30.0
MAX_OUTPUT_BYTES = 64 << 20
#: Kept from the System group: everything else there describes the staging copy.
KEEP_SYSTEM = {"System:FileSize"}


class ExifToolTimeout(Exception):
    pass


class ExifToolFailed(Exception):
    pass


class _BoundedExifTool(ExifTool):
    """pyexiftool's ``execute`` with a deadline, an output cap, and both pipes drained
    together (the stock reader blocks forever on a stuck file and can deadlock when
    stderr fills while it waits on stdout)."""

    timeout: float = TIMEOUT_SECONDS
    max_output: int = MAX_OUTPUT_BYTES

    def execute(self, *params: str | bytes, raw_bytes: bool = False) -> str | bytes:
        if not self.running:
            raise ExifToolNotRunning("Cannot execute()")
        encoding = self._encoding or "utf-8"
        n = random.randint(100000, 999999)
        ready, post = f"{{ready{n}}}".encode(), f"post{n}".encode()
        args = [p if isinstance(p, bytes) else str(p).encode(encoding) for p in params]
        args += [b"-echo4", f"=${{status}}=post{n}".encode(), f"-execute{n}\n".encode()]
        process = self._process
        process.stdin.write(b"\n".join(args))
        process.stdin.flush()
        out, err = self._read_both(ready, post)
        stdout = out.strip()[: -len(ready)]
        stderr = err.strip()[: -len(post)]
        if not stderr.endswith(b"="):
            raise ExifToolFailed("unexpected exiftool status output")
        first = stderr.rfind(b"=", 0, -1)
        self._last_status = int(stderr[first + 1 : -1])
        self._last_stderr = stderr[:first].decode(encoding, "replace")
        self._last_stdout = stdout if raw_bytes else stdout.decode(encoding, "replace")
        return self._last_stdout

    def _read_both(self, ready: bytes, post: bytes) -> tuple[bytes, bytes]:
        fds = {self._process.stdout.fileno(): ready, self._process.stderr.fileno(): post}
        chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
        done: set[int] = set()
        total = 0
        deadline = time.monotonic() + self.timeout
        while len(done) < len(fds):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise ExifToolTimeout(f"exiftool took longer than {self.timeout:.0f} s")
            readable, _, _ = select.select([fd for fd in fds if fd not in done], [], [], remaining)
            for fd in readable:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.kill()
                    raise ExifToolFailed("exiftool exited unexpectedly")
                chunks[fd].append(chunk)
                total += len(chunk)
                if total > self.max_output:
                    self.kill()
                    raise ExifToolFailed(f"exiftool output over {self.max_output} bytes")
                tail = b"".join(chunks[fd][-2:])[-(len(fds[fd]) + 8) :]
                if tail.rstrip().endswith(fds[fd]):
                    done.add(fd)
        return tuple(b"".join(chunks[fd]) for fd in fds)  # type: ignore[return-value]

    def kill(self) -> None:
        """Stop the process now (no graceful ``-stay_open False``: it may be stuck)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        self._flag_running_false()


class _Helper(ExifToolHelper, _BoundedExifTool):
    """ExifToolHelper (auto start, Path arguments) on the bounded ``execute``."""


@dataclass
class MetadataResult:
    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


class MetadataReader(Closing):
    """One exiftool process for many files; start it lazily, ``close`` it when done."""

    def __init__(
        self,
        executable: str = "exiftool",
        timeout: float = TIMEOUT_SECONDS,
        max_output: int = MAX_OUTPUT_BYTES,
        spawn: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``spawn(start)``: where exiftool is started. pyexiftool asks the kernel to stop
        exiftool when the *thread* that started it ends (PR_SET_PDEATHSIG), so a reader
        used after that thread is gone must be started on a thread that outlives it."""
        self._spawn = spawn
        self.executable = executable
        self.timeout = timeout
        self.max_output = max_output
        self._tool: _Helper | None = None
        self._version: str | None = None
        self.unavailable: str | None = None


    def _ensure(self) -> _Helper:
        if self._tool is None:
            if shutil.which(self.executable) is None:
                raise FileNotFoundError(f"{self.executable} not found (apt-get install exiftool)")
            tool = _Helper(executable=self.executable, common_args=COMMON_ARGS, check_execute=False)
            tool.timeout, tool.max_output = self.timeout, self.max_output
            self._tool = tool
        if not self._tool.running:
            if self._spawn is not None:
                self._spawn(self._tool.run)
            else:
                self._tool.run()
            self._version = self._tool.version
        return self._tool

    @property
    def version(self) -> str | None:
        """exiftool's version (starts the process); None if exiftool cannot run."""
        if self._version is None and self.unavailable is None:
            try:
                self._ensure()
            except Exception as exc:
                self.unavailable = str(exc)
        return self._version

    @property
    def pid(self) -> int | None:
        """The exiftool process's id while it runs (to tell a warm process from a new one)."""
        process = getattr(self._tool, "_process", None) if self._tool is not None else None
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        if self._tool is not None and self._tool.running:
            try:
                self._tool.terminate(timeout=5)
            except Exception:
                self._tool.kill()
        self._tool = None

    def read(self, path: str | Path) -> MetadataResult:
        result = MetadataResult()
        name = str(Path(path).absolute())
        if any(c in name for c in "\r\n\0"):  # exiftool's argument protocol is line based
            result.notes.append("metadata not read: unsafe characters in the staged path")
            return result
        try:
            tool = self._ensure()
            output = tool.execute("-j", name)
        except (ExifToolTimeout, ExifToolFailed) as exc:
            result.notes.append(f"metadata not read: {exc}")
            return result
        except Exception as exc:
            if self._tool is not None:
                self._tool.kill()
            result.notes.append(f"metadata not read: {type(exc).__name__}: {exc}")
            return result
        try:
            records = json.loads(output) if output.strip() else []
        except ValueError:
            records = []
        if not records or not isinstance(records[0], dict):
            detail = (tool.last_stderr or "").strip().splitlines()[:1]
            reason = detail[0].replace(name, Path(name).name)[:200] if detail else "no tags"
            result.notes.append(f"metadata not read: exiftool: {reason}")
            return result
        tags = clean_tags(records[0])
        for key in ("ExifTool:Error", "ExifTool:Warning"):
            if key in tags:
                result.notes.append(f"exiftool: {str(tags[key])[:300]}")
        result.tags = tags
        result.fields = normalise(tags)
        if self._version:
            result.fields["exiftool"] = self._version
        return result


class ReaderPool(Closing):
    """exiftool processes kept warm between captures in one process.

    Starting exiftool (Perl) is most of a small capture's commit (~150 ms). ``witnessbox
    run`` commits source after source, so each commit borrows a reader that is already
    running and gives it back; captures committing at the same time (threads) each get
    their own, since one process takes one request at a time. ``close`` ends them all.
    """

    def __init__(self, factory: Callable[..., MetadataReader] = MetadataReader) -> None:
        self._factory = factory
        # every reader's exiftool starts on this one thread, which lives as long as the pool:
        # exiftool is stopped when its starting thread ends (see MetadataReader), and the
        # threads of one commit end with it
        self._starter = ThreadPoolExecutor(1, thread_name_prefix="exiftool-start")
        self._idle: list[MetadataReader] = []
        self._all: list[MetadataReader] = []
        self._lock = threading.Lock()
        self._closed = False

    def borrow(self) -> MetadataReader:
        with self._lock:
            if self._closed:  # a commit after close: a reader of its own, closed with it
                return self._factory()
            if self._idle:
                return self._idle.pop()
            reader = self._factory(spawn=self._start)
            self._all.append(reader)
            return reader

    def _start(self, start: Callable[[], None]) -> None:
        self._starter.submit(start).result()

    def give_back(self, reader: MetadataReader) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(reader)
                return
        reader.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            readers, self._all, self._idle = self._all, [], []
        for reader in readers:
            reader.close()
        self._starter.shutdown(wait=True)


def clean_tags(tags: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in tags.items()
        if k != "SourceFile" and (not k.startswith("System:") or k in KEEP_SYSTEM)
    }


# -- normalisation --------------------------------------------------------------------------
_DATE = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)

#: Creation-date tags, best first: (tag, offset tag or None, UTC by specification).
DATE_TAGS: tuple[tuple[str, str | None, bool], ...] = (
    ("Composite:SubSecDateTimeOriginal", None, False),
    ("ExifIFD:DateTimeOriginal", "ExifIFD:OffsetTimeOriginal", False),
    ("Keys:CreationDate", None, False),
    ("XMP-exif:DateTimeOriginal", None, False),
    ("XMP-photoshop:DateCreated", None, False),
    ("ExifIFD:CreateDate", "ExifIFD:OffsetTimeDigitized", False),
    ("XMP-xmp:CreateDate", None, False),
    ("QuickTime:CreateDate", None, True),
    ("Track1:MediaCreateDate", None, True),
    ("Track1:TrackCreateDate", None, True),
    ("UserData:DateTimeOriginal", None, False),
    ("RIFF:DateTimeOriginal", None, False),
    ("PNG:CreationTime", None, False),
    ("IFD0:ModifyDate", "ExifIFD:OffsetTime", False),
)


def iso_date(value: Any, offset: Any = None, utc: bool = False) -> str | None:
    """exiftool's ``YYYY:MM:DD HH:MM:SS[.s][+HH:MM]`` -> ISO 8601; None if empty or invalid."""
    match = _DATE.match(str(value).strip())
    if not match:
        return None
    y, mo, d, h, mi, s, frac, tz = match.groups()
    try:
        datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:  # 0000:00:00 and friends
        return None
    if h is None:
        return f"{y}-{mo}-{d}"
    text = f"{y}-{mo}-{d}T{h}:{mi}:{s or '00'}{frac or ''}"
    if tz is None and offset is not None and re.fullmatch(r"[+-]\d{2}:\d{2}", str(offset)):
        tz = str(offset)
    if tz is None and utc:
        tz = "+00:00"
    if tz == "Z":
        tz = "+00:00"
    elif tz and ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    return text + (tz or "")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _gps(tags: dict[str, Any]) -> dict[str, Any] | None:
    lat = lon = alt = None
    source = None
    if "Composite:GPSLatitude" in tags and "Composite:GPSLongitude" in tags:
        lat, lon = _number(tags["Composite:GPSLatitude"]), _number(tags["Composite:GPSLongitude"])
        alt, source = _number(tags.get("Composite:GPSAltitude")), "Composite"
    elif "GPS:GPSLatitude" in tags and "GPS:GPSLongitude" in tags:
        lat, lon = _number(tags["GPS:GPSLatitude"]), _number(tags["GPS:GPSLongitude"])
        if lat is not None and str(tags.get("GPS:GPSLatitudeRef", "")).upper().startswith("S"):
            lat = -abs(lat)
        if lon is not None and str(tags.get("GPS:GPSLongitudeRef", "")).upper().startswith("W"):
            lon = -abs(lon)
        alt, source = _number(tags.get("GPS:GPSAltitude")), "GPS"
        if alt is not None and str(tags.get("GPS:GPSAltitudeRef")) == "1":
            alt = -abs(alt)
    else:
        for key in ("Keys:GPSCoordinates", "UserData:GPSCoordinates", "ItemList:GPSCoordinates"):
            if key in tags:
                parts = [_number(p) for p in re.split(r"[\s,]+", str(tags[key]).strip()) if p]
                if len(parts) >= 2:
                    lat, lon = parts[0], parts[1]
                    alt = parts[2] if len(parts) > 2 else None
                    source = key.split(":")[0]
                break
        else:
            xmp_lat, xmp_lon = tags.get("XMP-exif:GPSLatitude"), tags.get("XMP-exif:GPSLongitude")
            if xmp_lat is not None and xmp_lon is not None:
                lat, lon, source = _number(xmp_lat), _number(xmp_lon), "XMP-exif"
                alt = _number(tags.get("XMP-exif:GPSAltitude"))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    out: dict[str, Any] = {"latitude": lat, "longitude": lon}
    if alt is not None:
        out["altitude"] = alt
    out["source"] = source
    return out


def _first_text(tags: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None:
            text = str(value).replace("\0", "").strip()
            if text:
                return text
    return None


def normalise(tags: dict[str, Any]) -> dict[str, Any]:
    """The manifest's normalised fields from a ``-G1 -a -n`` tag set."""
    out: dict[str, Any] = {}
    gps = _gps(tags)
    if gps:
        out["gps"] = gps
    device = {
        "make": _first_text(tags, ("IFD0:Make", "Keys:Make", "UserData:Make", "XMP-tiff:Make")),
        "model": _first_text(
            tags, ("IFD0:Model", "Keys:Model", "UserData:Model", "XMP-tiff:Model")
        ),
        "software": _first_text(
            tags,
            (
                "IFD0:Software",
                "Keys:Software",
                "UserData:Software",
                "XMP-xmp:CreatorTool",
                "PNG:Software",
                "ItemList:Encoder",
                "UserData:Encoder",
            ),
        ),
    }
    device = {k: v for k, v in device.items() if v}
    if device:
        out["device"] = device
    dates: dict[str, str] = {}
    for key, offset_key, utc in DATE_TAGS:
        if key in tags:
            iso = iso_date(tags[key], tags.get(offset_key) if offset_key else None, utc)
            if iso:
                dates[key] = iso
    if dates:
        best = next(iter(dates))
        out["created"] = dates[best]
        out["created_source"] = best
        out["dates"] = dates
    return out
