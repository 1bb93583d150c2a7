"""The custody ledger: hash chain, store mirror, tampering named, no forks under contention."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from preservation.custody import ledger as ledgers
from preservation.custody.ledger import GENESIS, ledger_for, ledger_key, verify_ledger
from preservation.reindex import reindex
from tests.support.catalogue_sql import sql
from tests.support.custody_helpers import capture, cli, store_path, writable

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL


ROOT = Path(__file__).resolve().parents[2]


def entries_in_store(rt):
    return [json.loads(rt.store.read_bytes(k)) for k in rt.store.list("ledger/")]


def test_captures_are_recorded_as_a_hash_chain_mirrored_in_the_store(runtime, capsys):
    rt = runtime
    first = capture(rt, {"page.html": b"a"})
    capture(rt, {"page.html": b"b"})
    stored = entries_in_store(rt)
    assert [e["seq"] for e in stored] == [1, 2, 3, 4]
    assert [e["event"] for e in stored] == ["captured", "stored"] * 2
    assert stored[0]["subject"] == first.capture_id and stored[0]["prev_hash"] == GENESIS
    assert stored[1]["subject"] == first.manifest_key
    assert stored[1]["data"]["manifest_sha256"]
    for prev, entry in itertools.pairwise(stored):
        assert entry["prev_hash"] == prev["entry_hash"]
        assert ledgers.entry_hash(entry) == entry["entry_hash"]
    assert stored == ledger_for(rt).entries()  # the catalogue holds the same entries
    assert rt.store.list("ledger/").__next__() == "ledger/000000000001.json"
    code, out, err = cli(capsys, "ledger", "verify")
    assert code == 0 and "4 entries" in out and "chain intact" in out, out + err


def test_entries_are_write_once(runtime):
    rt = runtime
    capture(rt, {"page.html": b"a"})
    from kernel.errors import ObjectExistsError

    with pytest.raises(ObjectExistsError):
        rt.store.put_bytes(ledger_key(1), b"{}")


def test_a_removed_entry_is_named(runtime, capsys):
    rt = runtime
    for n in range(3):
        capture(rt, {"page.html": bytes([n])})
    os.remove(store_path(rt, ledger_key(3)))
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1
    assert "missing-entry: ledger/000000000003.json" in out
    assert [line for line in out.splitlines() if line.startswith("FAIL")] == [
        "FAIL missing-entry: ledger/000000000003.json (removed from the store)"
    ], out


def test_a_changed_entry_is_named(runtime, capsys):
    rt = runtime
    for n in range(3):
        capture(rt, {"page.html": bytes([n])})
    path = writable(store_path(rt, ledger_key(2)))
    entry = json.loads(path.read_bytes())
    entry["actor"] = "someone-else"
    path.write_bytes(ledgers.serialise(entry))
    code, out, _ = cli(capsys, "ledger", "verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    named = {(p["kind"], p["subject"]) for p in report["problems"]}
    assert ("changed-entry", "ledger/000000000002.json") in named


def test_a_forged_entry_with_a_recomputed_hash_breaks_the_chain(runtime, capsys):
    rt = runtime
    for n in range(3):
        capture(rt, {"page.html": bytes([n])})
    path = writable(store_path(rt, ledger_key(2)))
    entry = json.loads(path.read_bytes())
    entry["data"]["manifest_sha256"] = "0" * 64
    entry["entry_hash"] = ledgers.entry_hash(entry)  # a careful forger
    path.write_bytes(ledgers.serialise(entry))
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1
    assert "broken-chain: ledger/000000000003.json" in out  # the next link no longer holds
    assert "mismatch: catalogue ledger seq 2" in out  # and the two copies disagree


def test_reordered_entries_are_named(runtime, capsys):
    rt = runtime
    for n in range(3):
        capture(rt, {"page.html": bytes([n])})
    a, b = writable(store_path(rt, ledger_key(3))), writable(store_path(rt, ledger_key(4)))
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1
    assert "moved-entry: ledger/000000000003.json" in out
    assert "moved-entry: ledger/000000000004.json" in out


def test_tampering_with_the_catalogue_copy_is_named(runtime, settings, capsys):
    rt = runtime
    for n in range(3):
        capture(rt, {"page.html": bytes([n])})
    sql(settings, "update ledger set actor = 'mallory' where seq = 5")
    sql(settings, "delete from ledger where seq = 2")
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1
    assert "changed-entry: catalogue ledger seq 5" in out
    assert "missing-entry: catalogue ledger seq 2" in out


def test_an_entry_only_in_the_store_is_indexed_by_the_next_append(runtime):
    """A crash between the store write and the catalogue insert must not fork the chain."""
    rt = runtime
    capture(rt, {"page.html": b"a"})
    ledger = ledger_for(rt)
    orphan = ledgers.build_entry(
        3, datetime(2030, 1, 1, tzinfo=UTC), "verified", "x", "someone", {}, ledger.head()["entry_hash"]
    )
    rt.store.put_bytes(ledger_key(3), ledgers.serialise(orphan))
    entry = ledger.append("verified", "y", "me", {}, datetime(2030, 1, 2, tzinfo=UTC))
    assert entry["seq"] == 4 and entry["prev_hash"] == orphan["entry_hash"]
    assert verify_ledger(rt.store, rt.catalogue).ok


APPENDER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from kernel.settings import load_settings
    from preservation.runtime import open_runtime
    from preservation.custody.ledger import ledger_for
    rt = open_runtime(load_settings())
    ledger = ledger_for(rt)
    for n in range({count}):
        ledger.append("verified", f"worker-{{sys.argv[1]}}-{{n}}", "w", {{"n": n}}, rt.clock())
    rt.close()
    """
)


def test_concurrent_appenders_never_fork_the_chain(runtime):
    rt = runtime
    script = APPENDER.format(root=str(ROOT), count=12)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], env=os.environ.copy())
        for w in range(3)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    report = verify_ledger(rt.store, rt.catalogue)
    assert report.ok, report.problems
    assert report.entries == 36 and report.head_seq == 36
    subjects = [e["subject"] for e in entries_in_store(rt)]
    assert len(set(subjects)) == 36


def test_reindex_restores_the_ledger_from_the_store(runtime, settings, capsys):
    rt = runtime
    for n in range(2):
        capture(rt, {"page.html": bytes([n])})
    before = ledger_for(rt).entries()
    sql(settings, "delete from ledger")
    assert ledger_for(rt).entries() == []
    report = reindex(rt.store, rt.catalogue, rt.clock())
    assert not report.problems
    assert ledger_for(rt).entries() == before
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 0, out


def test_ledger_list_filters_by_subject(runtime, capsys):
    rt = runtime
    a = capture(rt, {"page.html": b"a"})
    capture(rt, {"page.html": b"b"})
    code, out, _ = cli(capsys, "ledger", "list", "--subject", a.capture_id, "--json")
    entries = json.loads(out)
    assert code == 0 and [e["event"] for e in entries] == ["captured", "stored"]
    assert all(a.capture_id in (e["subject"], e["data"].get("capture_id")) for e in entries)


def test_entries_about_a_capture_include_those_that_name_it_in_their_data(runtime, settings):
    rt = runtime
    a = capture(rt, {"page.html": b"a"})
    b = capture(rt, {"page.html": b"b"})
    ledger = ledger_for(rt)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    ledger.append("exported", "export:one", "archivist", {"captures": [a.capture_id]}, now)
    ledger.append("exported", "export:both", "archivist",
                  {"captures": [a.capture_id, b.capture_id]}, now)  # fmt: skip
    about_a = [(e["event"], e["subject"]) for e in ledger.entries([a.capture_id])]
    assert about_a == [("captured", a.capture_id), ("stored", a.manifest_key),
                       ("exported", "export:one"), ("exported", "export:both")]  # fmt: skip
    assert [e["subject"] for e in ledger.entries([b.capture_id], limit=2)] == [
        b.manifest_key, "export:both"]  # fmt: skip
    assert [e["subject"] for e in ledger.entries(limit=1)] == ["export:both"]
    # the catalogue copy lost (rows deleted by hand, foreign keys off): indexed again
    sql(settings, "delete from ledger where seq > 4")
    assert ledger.entries([a.capture_id])[-1]["event"] == "stored"
    reindex(rt.store, rt.catalogue, rt.clock())
    assert [(e["event"], e["subject"]) for e in ledger.entries([a.capture_id])] == about_a



def test_mentions_are_the_ids_an_entry_names_besides_its_subject():
    from preservation.catalogue.ledger_index import MAX_NAME, mentions

    data = {"capture_id": "c-1", "captures": ["c-1", "c-2", 7, "x" * (MAX_NAME + 1)],
            "batch": "b", "manifests": "not a list", "note": "c-9"}  # fmt: skip
    assert mentions("c-1", data) == {"c-2", "b"}  # too long for the column: not indexed
    assert mentions("s", None) == set()
