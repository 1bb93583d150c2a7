"""Fixity audits: each kind of damage is detected, named exactly, recorded, and exits 1."""

from __future__ import annotations

import json
import os

import pytest

from kernel.errors import IntegrityError
from preservation.custody.audit import run_audit
from preservation.custody.ledger import ledger_for
from preservation.store import blob_key
from tests.support.catalogue_sql import sql
from tests.support.custody_helpers import capture, cli, flip_byte, store_path, writable

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL



def fails(out: str) -> list[str]:
    return [line.removeprefix("FAIL ") for line in out.splitlines() if line.startswith("FAIL ")]


@pytest.fixture
def three(runtime):
    """Three captures of two sources; the big blob spans several read chunks."""
    rt = runtime
    a = capture(rt, {"page.html": b"<p>one</p>", "video.mp4": 3 << 20})
    b = capture(rt, {"page.html": b"<p>two</p>"}, url="https://example.org/other")
    c = capture(rt, {"page.html": b"<p>three</p>"})
    return rt, a, b, c


def artifact(rt, outcome, name):
    manifest = json.loads(rt.store.read_bytes(outcome.manifest_key))
    return next(x for x in manifest["artifacts"] if x["name"] == name)


def test_an_intact_archive_verifies_and_the_audit_is_recorded(three, settings, capsys):
    rt, a, b, c = three
    code, out, err = cli(capsys, "verify", "--all", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["checked"]["captures"] == 3 and report["checked"]["blobs"] == 4
    assert report["checked"]["bytes"] == (3 << 20) + len(b"<p>one</p><p>two</p><p>three</p>")
    assert {c["status"] for c in report["captures"]} == {"ok"}
    assert all(c["signed_by"] for c in report["captures"])
    assert sql(settings, "select scope, checked, failed from audits") == [("all", 3, 0)]
    last = ledger_for(rt).entries()[-1]
    assert last["event"] == "audited" and last["data"]["result"] == "pass"
    assert last["data"]["audit_id"] == report["audit_id"]


def test_one_flipped_byte_in_a_blob_is_named_with_its_capture(three, capsys):
    rt, a, b, c = three
    video = artifact(rt, a, "video.mp4")
    flip_byte(store_path(rt, video["key"]), offset=(3 << 20) - 1)  # the very last byte
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    (problem,) = fails(out)
    assert problem.startswith(f"digest-mismatch: {video['key']} (video.mp4 of {a.capture_id}")
    code, out, _ = cli(capsys, "verify", "--all", "--json")
    report = json.loads(out)
    assert report["failed_captures"] == [a.capture_id]
    assert [p["subject"] for p in report["problems"]] == [video["key"]]
    last = ledger_for(rt).entries()[-1]
    assert last["event"] == "failed-audit" and last["data"]["failed"] == [a.capture_id]


def test_a_deleted_blob_and_a_truncated_blob_are_both_reported(three, capsys):
    rt, a, b, c = three
    gone = artifact(rt, b, "page.html")["key"]
    short = artifact(rt, a, "video.mp4")["key"]
    os.remove(store_path(rt, gone))
    path = writable(store_path(rt, short))
    os.truncate(path, 1000)
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    assert sorted(fails(out)) == sorted(
        [
            f"missing-object: {gone} (page.html of {b.capture_id})",
            f"size-mismatch: {short} (video.mp4 of {a.capture_id}: manifest says "
            f"{3 << 20} bytes, store has 1000)",
        ]
    )


def test_an_edited_manifest_is_named(three, capsys):
    rt, a, b, c = three
    path = writable(store_path(rt, c.manifest_key))
    path.write_bytes(path.read_bytes().replace(b"<p>", b"<p>").replace(b'"complete"', b'"partial"'))
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    sig_key = c.manifest_key.replace(".json", ".sig")
    assert sorted(fails(out)) == sorted(
        [
            f"manifest-changed: {c.manifest_key} (differs from the digest the catalogue indexed)",
            f"manifest-changed: {c.manifest_key} (differs from the digest in the custody ledger)",
            f"bad-signature: {sig_key} (does not verify {c.manifest_key} with key "
            f"{json.loads(path.read_bytes())['signing']['key_fingerprint'][:16]})",
        ]
    )


def test_a_deleted_manifest_or_signature_is_named(three, capsys):
    rt, a, b, c = three
    os.remove(store_path(rt, a.manifest_key))
    sig_key = b.manifest_key.replace(".json", ".sig")
    os.remove(store_path(rt, sig_key))
    code, out, _ = cli(capsys, "verify", "--all")
    assert code == 1
    found = fails(out)
    assert sorted(found) == sorted(
        [
            f"missing-object: {a.manifest_key} (manifest of capture {a.capture_id})",
            f"missing-object: {sig_key} (the manifest's detached signature)",
        ]
    )


def test_a_manifest_the_catalogue_lost_is_still_checked(three, settings, capsys):
    rt, a, b, c = three
    sql(settings, "delete from artifacts where capture_id = :id", id=b.capture_id)
    sql(settings, "delete from captures where id = :id", id=b.capture_id)
    flip_byte(store_path(rt, artifact(rt, b, "page.html")["key"]))
    code, out, _ = cli(capsys, "verify", "--all", "--json")
    report = json.loads(out)
    assert code == 1 and report["checked"]["captures"] == 3
    assert report["failed_captures"] == [b.capture_id]


def test_sample_checks_only_n_captures(three, capsys):
    code, out, _ = cli(capsys, "verify", "--sample", "2", "--json")
    report = json.loads(out)
    assert code == 0 and report["scope"] == "sample:2" and len(report["captures"]) == 2


def test_one_capture_by_id_and_bad_input(three, capsys):
    rt, a, b, c = three
    code, out, _ = cli(capsys, "verify", b.capture_id, "--json")
    report = json.loads(out)
    assert code == 0 and [x["capture_id"] for x in report["captures"]] == [b.capture_id]
    assert ledger_for(rt).entries()[-1]["event"] == "verified"
    assert cli(capsys, "verify", "01a20000-0000-7000-8000-000000000000")[0] == 2
    assert cli(capsys, "verify")[0] == 2
    assert cli(capsys, "verify", "--all", "--sample", "1")[0] == 2


def test_the_library_raises_an_integrity_error_with_every_problem(three):
    rt, a, b, c = three
    os.remove(store_path(rt, artifact(rt, a, "page.html")["key"]))
    flip_byte(store_path(rt, artifact(rt, c, "page.html")["key"]))
    report = run_audit(rt, record=False)
    with pytest.raises(IntegrityError) as info:
        report.raise_for_problems()
    assert sorted(p.kind for p in info.value.details) == ["digest-mismatch", "missing-object"]
    assert blob_key(artifact(rt, c, "page.html")["sha256"]) in {p.subject for p in info.value.details}
