"""Helpers for the custody tests: captures through the real pipeline, the CLI, tampering."""

from __future__ import annotations

import os
from pathlib import Path

from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import watchlist
from preservation.cli.main import main
from preservation.pipeline import CaptureOutcome
from preservation.runner import capture_source
from tests.support.fake_collector import StaticCollector


def capture(rt, files: dict[str, bytes | int], url: str = "https://example.org/page",
            case: str | None = "CASE-1") -> CaptureOutcome:
    """One capture of ``url`` (a watched web source, added when new) holding ``files``."""
    with rt.catalogue.session() as session:
        source = watchlist.find_source(session, "web", url)
    if source is None:
        spec = watchlist.validate_entry(url, NetworkPolicy(), kind="web", case=case)
        source = watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())
    rt.collectors["web"] = StaticCollector(dict(files))
    return capture_source(rt, source)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def store_path(rt, key: str) -> Path:
    return rt.store.path(key)


def writable(path: Path) -> Path:
    """Stored files are read-only: tests that play the attacker make them writable first."""
    os.chmod(path, 0o644)
    return path


def flip_byte(path: Path, offset: int = 0) -> None:
    writable(path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
