"""Hostile and malformed inputs through the real CLI: one line, the right exit code, no
traceback, and nothing written (the catalogue's rows and every file of the home compared
before and after each case)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from preservation.cli.main import main

PHASH = "phash:" + "0" * 16
BAD = "0190aaaa-0000-7000-8000-000000000000"

# (case id, argv (HOME, FILES, SOURCE and CAPTURE are filled in), expected exit, text in error)
CASES = [
    # URLs
    ("url-ftp", ["watch", "add", "ftp://example.org/f"], 2, "unsupported URL scheme"),
    ("url-javascript", ["watch", "add", "javascript:alert(1)"], 2, "unsupported URL scheme"),
    ("url-file", ["capture", "file:///etc/passwd"], 2, "unsupported URL scheme"),
    ("url-metadata", ["watch", "add", "http://169.254.169.254/latest/meta-data/"], 2, "metadata"),
    ("url-metadata-hex", ["watch", "add", "http://0xa9fea9fe/"], 2, "metadata"),
    ("url-metadata-v6", ["capture", "http://[::ffff:169.254.169.254]/"], 2, "metadata"),
    ("url-metadata-name", ["watch", "add", "http://metadata.google.internal/"], 2, "network policy"),
    ("url-loopback-short", ["watch", "add", "http://127.1/admin"], 2, "loopback"),
    ("url-localhost", ["capture", "http://localhost:8080/"], 2, "local name"),
    ("url-private", ["watch", "add", "http://10.0.0.5/"], 2, "private-network"),
    ("url-credentials", ["watch", "add", "https://user:pw@example.org/"], 2, "credentials"),
    ("url-space", ["watch", "add", "https://exa mple.org/"], 2, "spaces"),
    ("url-control", ["watch", "add", "https://example.org/\x00"], 2, "control characters"),
    ("url-huge", ["watch", "add", "https://example.org/" + "a" * 5000], 2, "longer than"),
    ("url-port", ["watch", "add", "https://example.org:99999/"], 2, "malformed URL"),
    ("url-empty", ["watch", "add", ""], 2, "empty URL"),
    ("url-bad-host", ["watch", "add", "https://-bad-.org/"], 2, "invalid host"),
    ("url-kind", ["watch", "add", "https://example.org/", "--kind", "telegram"], 2, "Telegram"),
    ("url-invite", ["watch", "add", "https://t.me/+AbCdEf123"], 2, "private invite"),
    ("url-duplicate", ["watch", "add", "https://example.org/watched"], 2, "already watched"),
    # options
    ("option-range", ["watch", "add", "https://example.org/o1", "--option", "viewport_width=-5"], 2,
     "viewport_width"),
    ("option-bool", ["watch", "add", "https://example.org/o2", "--option", "pdf=maybe"], 2, "pdf"),
    ("option-unknown", ["watch", "add", "https://example.org/o3", "--option", "nosuch=1"], 2,
     "nosuch"),
    ("option-shape", ["watch", "add", "https://example.org/o4", "--option", "novalue"], 2,
     "KEY=VALUE"),
    ("option-capture", ["capture", "https://example.org/o5", "--option", "viewport_width=abc"], 2,
     "viewport_width"),
    # schedules
    ("every-words", ["watch", "add", "https://example.org/s1", "--every", "every day"], 2,
     "bad schedule"),
    ("every-short", ["watch", "add", "https://example.org/s2", "--every", "10s"], 2, "shorter"),
    ("every-long", ["watch", "add", "https://example.org/s3", "--every", "999d"], 2, "longer"),
    ("every-negative", ["watch", "add", "https://example.org/s4", "--every=-5m"], 2,
     "bad schedule"),
    ("every-no-unit", ["watch", "add", "https://example.org/s5", "--every", "1h30"], 2,
     "bad schedule"),
    # imports
    ("import-missing", ["watch", "import", "FILES/missing.txt"], 2, "no such file"),
    ("import-directory", ["watch", "import", "FILES"], 2, "not a regular file"),
    ("import-device", ["watch", "import", "/dev/zero"], 2, "not a regular file"),
    ("import-object", ["watch", "import", "FILES/object.json"], 2, "expected a list of sources"),
    ("import-bad-json", ["watch", "import", "FILES/broken.json"], 2, "not valid JSON"),
    ("import-binary", ["watch", "import", "FILES/binary.bin"], 2, "not UTF-8"),
    ("import-one-bad", ["watch", "import", "FILES/one-bad.txt"], 2, "nothing imported"),
    ("import-too-big", ["watch", "import", "FILES/huge.txt"], 2, "limited to"),
    ("import-csv-columns", ["watch", "import", "FILES/columns.csv"], 2, "columns"),
    ("import-types", ["watch", "import", "FILES/types.json"], 2, "tags must be text"),
    # ids
    ("id-show", ["show", "0190-nope"], 2, "unknown capture"),
    ("id-show-path", ["show", "../../etc/passwd"], 2, "unknown capture"),
    ("id-source", ["watch", "show", "src-nope"], 2, "unknown source"),
    ("id-pause", ["watch", "pause", "src-nope"], 2, "unknown source"),
    ("id-sql", ["watch", "remove", "' OR 1=1 --"], 2, "unknown source"),
    ("id-verify", ["verify", "nope"], 2, "unknown capture"),
    ("id-run", ["run", "--source", "src-nope"], 2, "unknown source"),
    ("id-staging-path", ["staging", "commit", "../../etc"], 2, "not a capture id"),
    ("id-staging-unknown", ["staging", "set-aside", BAD], 2, "no interrupted capture"),
    ("id-export", ["export", "FILES/bag", "--capture", "nope"], 2, "unknown capture"),
    # numbers
    ("limit-zero", ["captures", "--limit", "0"], 2, "give 1 or more"),
    ("limit-negative", ["captures", "--limit", "-1"], 2, "give 1 or more"),
    ("limit-text", ["captures", "--limit", "many"], 2, "not a whole number"),
    ("sample-zero", ["verify", "--sample", "0"], 2, "give 1 or more"),
    ("workers-zero", ["verify", "--all", "--workers", "0"], 2, "give 1 or more"),
    ("ledger-limit", ["ledger", "list", "--limit", "-3"], 2, "give 1 or more"),
    ("status", ["captures", "--status", "bogus"], 2, "invalid choice"),
    # files
    ("file-missing", ["similar", "FILES/none.png"], 2, "not a file or a hash"),
    ("file-directory", ["similar", "FILES"], 2, "not a file"),
    ("file-not-image", ["similar", "FILES/one-bad.txt"], 2, "not hashable"),
    ("file-export-exists", ["export", "FILES", "--capture", "CAPTURE"], 2, "exists"),
    ("file-watch-export", ["watch", "export", "FILES/object.json"], 2, "exists"),
    ("file-trust", ["seal", "--trust", "FILES/none.pem", "--tsa", "https://tsa.example.org/"], 2,
     "no such certificate"),
    # hashes
    ("hash-letters", ["similar", "phash:zzzzzzzzzzzzzzzz"], 2, "not a file or a hash"),
    ("hash-length", ["similar", "pdq:abc"], 2, "64 hex digits"),
    ("hash-bare", ["similar", "ffff"], 2, "cannot tell the algorithm"),
    ("hash-algorithm", ["similar", "md5:" + "0" * 32], 2, "unknown hash algorithm"),
    ("hash-distance", ["similar", PHASH, "--max-distance", "-1"], 2, "0 to 256"),
    ("hash-distance-big", ["similar", PHASH, "--max-distance", "999"], 2, "0 to 256"),
]


def _files(root: Path) -> None:
    root.mkdir()
    (root / "object.json").write_text('{"url": "https://example.org/"}')
    (root / "broken.json").write_text('[{"url": "https://example.org/a"}, {"url": ')
    (root / "binary.bin").write_bytes(os.urandom(4096) + b"\xff\xfe")
    (root / "one-bad.txt").write_text("https://example.org/new1\nhttp://192.168.1.1/\n")
    with open(root / "huge.txt", "wb") as out:
        out.truncate(65 * 1024 * 1024)  # sparse: refused by its size
    (root / "columns.csv").write_text("url,every\nhttps://example.org/c,6h,extra,more\n")
    (root / "types.json").write_text('[{"url": "https://example.org/t", "tags": {"a": 1}}]')


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A home with one watched source and one capture (a fake collector: no network)."""
    from kernel.settings import load_settings
    from preservation.runtime import open_runtime
    from tests.support.custody_helpers import capture

    base = tmp_path_factory.mktemp("hostile")
    home = base / "home"
    _files(base / "files")
    rt = open_runtime(load_settings({"WITNESSBOX_HOME": str(home)}))
    try:
        outcome = capture(rt, {"page.html": b"<p>kept</p>"}, url="https://example.org/watched")
    finally:
        rt.close()
    return {"HOME": str(home), "FILES": str(base / "files"), "CAPTURE": outcome.capture_id,
            "SOURCE": outcome.source_id}


def snapshot(home: Path) -> tuple[dict, dict]:
    """Every catalogue row, and every file of the home (path → size and sha256)."""
    con = sqlite3.connect(home / "catalogue.sqlite")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        con.close()
    files = {}
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.name.startswith("catalogue.sqlite"):
            files[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            files[str(path.relative_to(home)) + "/"] = ""
    return rows, files


def test_the_table_is_big_enough():
    kinds = {case[0].split("-")[0] for case in CASES}
    assert len(CASES) >= 40 and {"url", "option", "every", "import", "id", "file", "hash"} <= kinds


@pytest.mark.parametrize(("name", "argv", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(archive, capsys, name, argv, code, text):
    def fill(arg: str) -> str:
        for key in ("FILES", "CAPTURE", "SOURCE"):
            arg = arg.replace(key, archive[key]) if arg.startswith(key) or arg == key else arg
        return arg

    home = Path(archive["HOME"])
    before = snapshot(home)
    exit_code = main(["--home", str(home), *[fill(a) for a in argv]])
    out, err = capsys.readouterr()
    assert exit_code == code, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out and "internal error" not in err, err
    assert text.lower() in err.lower(), err
    after = snapshot(home)
    assert after[0] == before[0], "the catalogue changed"
    assert after[1] == before[1], "files in the home changed"
