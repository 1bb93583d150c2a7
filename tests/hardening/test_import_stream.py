"""``watch import`` streams: big or hostile files are refused fast, in little memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from preservation.catalogue import importing
from preservation.catalogue.importing import MAX_ERRORS, read_specs

POLICY = NetworkPolicy()


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def refused(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_specs(path, POLICY)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_formats_read_item_by_item(tmp_path):
    items = [{"url": f"https://example.org/{i}", "tags": ["t"], "every": "6h"} for i in range(3000)]
    path = write(tmp_path, "w.json", json.dumps(items, indent=1))
    specs = read_specs(path, POLICY)
    assert [s.url for s in specs] == [i["url"] for i in items]
    lines = write(tmp_path, "w.txt", "# comment\n\nexample.org/a\r\nhttps://example.org/b\n")
    assert [s.url for s in read_specs(lines, POLICY)] == ["https://example.org/a", "https://example.org/b"]
    tsv = write(tmp_path, "w.tsv", "url\tevery\texample\nhttps://example.org/c\t1d\tx\n")
    assert read_specs(tsv, POLICY)[0].schedule_seconds == 86400
    bom = write(tmp_path, "bom.csv", "\ufeffurl,tags\nhttps://example.org/d,a;b\n")
    assert read_specs(bom, POLICY)[0].tags == ("a", "b")


def test_small_chunks_split_items_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 7)
    items = [{"url": f"https://example.org/{i}", "note": "x" * (i % 13), "every": "1d"} for i in range(50)]
    path = write(tmp_path, "w.json", "  [" + ",\n".join(json.dumps(i) for i in items) + "  ]  ")
    assert len(read_specs(path, POLICY)) == 50
    path = write(tmp_path, "w.txt", "\n".join(i["url"] for i in items))
    assert len(read_specs(path, POLICY)) == 50


@pytest.mark.parametrize(("content", "expected"), [
    ('{"url": "https://example.org/"}', "expected a list of sources"),
    ('[{"url": "https://example.org/"}', "not closed"),
    ('[{"url": "https://example.org/"} {"url": "x"}]', "expected ',' or ']'"),
    ('[{"url": "https://example.org/", }]', "not valid JSON"),
    ('["https://example.org/"]', "entry 1: expected an object"),
    ('[{"url": 5}]', "URL must be text"),
    ('[{"url": "https://example.org/", "tags": 5}]', "tags must be text"),
    ('[{"url": "https://example.org/", "case": ["a"]}]', "case must be text"),
    ('[{"url": "https://example.org/", "options": [1]}]', "options must be an object"),
    ('[{"url": "https://example.org/", "every": 60}]', "every must be text"),
    ("", "no entries"),
    ("[]", "no entries"),
    ("\n\n# only comments\n", "no entries"),
])
def test_shapes(tmp_path, content, expected):
    assert expected in refused(write(tmp_path, "f", content))


def test_not_utf8_and_not_regular(tmp_path):
    assert "not UTF-8" in refused(write(tmp_path, "bin", b"https://example.org/\n\xff\xfe\x00garbage"))
    assert "not a regular file" in refused(tmp_path)
    assert "not a regular file" in refused(Path("/dev/zero"))
    assert "no such file" in refused(tmp_path / "missing")


def test_limits(tmp_path, monkeypatch):
    big = write(tmp_path, "big", "")
    with open(big, "wb") as out:
        out.truncate(importing.MAX_IMPORT_BYTES + 1)  # sparse: refused by size, never read
    assert "limited to 64 MiB" in refused(big)
    long_line = write(tmp_path, "long", "https://example.org/" + "a" * (importing.MAX_LINE + 10) + "\n")
    assert "entry 1: longer than 64 KiB" in refused(long_line)
    long_item = write(tmp_path, "long.json", '[{"url": "https://example.org/", "note": "' + "n" * 70_000 + '"}]')
    assert "item 1 is too long" in refused(long_item)
    monkeypatch.setattr(importing, "MAX_ENTRIES", 5)
    many = write(tmp_path, "many", "\n".join(f"https://example.org/{i}" for i in range(6)))
    assert "more than 5 entries" in refused(many)


def test_stops_after_twenty_errors_with_a_count(tmp_path):
    lines = [f"not a url {i}" for i in range(1000)]
    message = refused(write(tmp_path, "bad", "\n".join(lines)))
    assert message.count("entry") == 1 and "entry 1:" in message
    assert f"(and {MAX_ERRORS - 1} more; stopped reading after {MAX_ERRORS} errors)" in message
    assert message.endswith("nothing imported")
    few = refused(write(tmp_path, "few", "https://example.org/\nftp://x.org/\nhttps://example.org/b\nbad url\n"))
    assert "entry 2:" in few and "(and 1 more)" in few


GARBAGE = {
    "text": lambda: b"".join(os.urandom(60).hex().encode() + b" %$\n" for _ in range(50 * 1024 * 1024 // 125)),
    "bytes": lambda: os.urandom(50 * 1024 * 1024),
    "json": lambda: b"[" + b'{"url": "nope"},' * (50 * 1024 * 1024 // 16) + b"]",
    "oneline": lambda: b"https://example.org/" + b"x" * (50 * 1024 * 1024),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_fifty_megabytes_of_garbage_is_refused_in_seconds_and_little_memory(tmp_path, kind):
    """Measured in a fresh process through the real CLI: seconds and peak RSS (VmHWM)."""
    path = tmp_path / f"garbage-{kind}"
    path.write_bytes(GARBAGE[kind]())
    assert path.stat().st_size >= 50_000_000
    code = (
        "import re, sys, time\n"
        "from preservation.cli.main import main\n"
        "t = time.perf_counter(); rc = main(['watch', 'import', sys.argv[1]])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(rc, time.perf_counter() - t, hwm)\n"
    )
    env = {**os.environ, "WITNESSBOX_HOME": str(tmp_path / "home")}
    baseline = subprocess.run(
        [sys.executable, "-c", code.replace("main(['watch', 'import', sys.argv[1]])", "main(['watch', 'list'])"),
         str(path)], capture_output=True, text=True, env=env, check=True,
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
    rc, seconds, rss_kib = done.stdout.splitlines()[-1].split()
    base_rss = int(baseline.stdout.splitlines()[-1].split()[2])
    print(f"{kind}: exit {rc}, {float(seconds):.2f} s, peak RSS {int(rss_kib) // 1024} MiB "
          f"({(int(rss_kib) - base_rss) // 1024} MiB over a bare `watch list`)")
    assert rc == "2" and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert int(rss_kib) - base_rss < 40 * 1024  # the file is 50 MiB: it was never held whole


def test_a_file_that_grows_after_it_was_measured_is_still_bounded(tmp_path, monkeypatch):
    path = write(tmp_path, "grows", "\n".join(f"https://example.org/{i}" for i in range(500)))
    real_open = importing._open

    def open_then_grow(p):  # as if it grew past the limit between the stat and the reads
        stream = real_open(p)
        monkeypatch.setattr(importing, "MAX_IMPORT_BYTES", 1000)
        return stream

    monkeypatch.setattr(importing, "_open", open_then_grow)
    assert "grew past" in refused(path)
