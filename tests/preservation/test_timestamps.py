"""RFC 3161 seals: Merkle batching, a real openssl TSA on loopback, offline-first sealing."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from sqlalchemy import select

from preservation.custody import merkle, timestamps
from preservation.custody.ledger import ledger_for
from preservation.custody.timestamps import SealedCapture, unsealed_captures
from preservation.custody.tsa import normalise_certificate_order
from preservation.reindex import reindex
from tests.support import custody_tsa
from tests.support.catalogue_sql import sql
from tests.support.custody_helpers import capture, cli, flip_byte, store_path, writable
from tests.support.custody_tsa import dead_url

pytestmark = pytest.mark.usefixtures("catalogue_url")  # on SQLite and PostgreSQL


local_tsa, tsa, rogue_tsa = custody_tsa.local_tsa, custody_tsa.tsa, custody_tsa.rogue_tsa


# -- the tree -------------------------------------------------------------------------------
def reference_root(items):
    """RFC 6962 section 2.1, written out directly as an independent check."""
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(items[:k]) + reference_root(items[k:])).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100])
def test_every_inclusion_proof_leads_to_the_rfc6962_root(n):
    items = [hashlib.sha256(str(i).encode()).digest() for i in range(n)]
    root, proofs = merkle.build(items)
    assert root == reference_root(items)
    for item, proof in zip(items, proofs, strict=True):
        assert merkle.root_from_proof(item, proof) == root
    if n > 1:  # a proof never fits another leaf
        assert merkle.root_from_proof(items[0], proofs[1]) != root
        assert merkle.root_from_proof(b"\x00" * 32, proofs[0]) != root


# -- sealing --------------------------------------------------------------------------------
def seal(capsys, tsa_obj, *extra):
    return cli(capsys, "seal", "--tsa", tsa_obj.url, "--trust", str(tsa_obj.ca_pem), "--json", *extra)


def test_seal_timestamps_every_capture_in_one_batch(runtime, capsys, tsa, tmp_path):
    rt = runtime
    outcomes = [capture(rt, {"page.html": bytes([n])}) for n in range(3)]
    before = tsa.requests
    code, out, err = seal(capsys, tsa)
    assert code == 0, err
    result = json.loads(out)
    assert sorted(result["sealed"]) == sorted(o.capture_id for o in outcomes)
    assert tsa.requests == before + 1  # one token for the whole batch
    batch = result["batch"]
    record = json.loads(rt.store.read_bytes(f"seals/{batch}/seal.json"))
    assert record["root"] == result["root"] and len(record["leaves"]) == 3
    assert record["ledger_head"]["seq"] == 6  # captured + stored, three times
    for o in outcomes:
        proof = json.loads(rt.store.read_bytes(timestamps.proof_key(o.manifest_key, batch)))
        digest = hashlib.sha256(rt.store.read_bytes(o.manifest_key)).hexdigest()
        assert proof["manifest_sha256"] == digest
        steps = [tuple(s) for s in proof["proof"]]
        assert merkle.root_from_proof(bytes.fromhex(digest), steps).hex() == record["root"]
    # openssl, independently: the token timestamps the 32 root bytes, chained to the TSA CA
    (tmp_path / "root.bin").write_bytes(bytes.fromhex(record["root"]))
    token = record["tokens"][0]
    check = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(tmp_path / "root.bin"),
         "-in", str(store_path(rt, token["token"])), "-CAfile", str(store_path(rt, token["chain"]))],
        capture_output=True, text=True,
    )
    assert check.returncode == 0 and "Verification: OK" in check.stdout, check.stderr
    (entry,) = [e for e in ledger_for(rt).entries() if e["event"] == "sealed"]
    assert entry["data"]["root"] == record["root"] and len(entry["data"]["captures"]) == 3
    # nothing left to seal: a second run asks no TSA
    code, out, _ = seal(capsys, tsa)
    assert code == 0 and json.loads(out)["sealed"] == [] and tsa.requests == before + 1


def test_a_tsa_that_is_down_loses_nothing_and_the_capture_waits(runtime, capsys, tsa):
    rt = runtime
    o = capture(rt, {"page.html": b"x"})
    code, out, err = cli(capsys, "seal", "--tsa", dead_url(), "--trust", str(tsa.ca_pem))
    assert code == 1
    assert "no TSA answered" in err and "unreachable" in err and "stay unsealed" in err
    assert list(rt.store.list("seals/")) == []
    assert [c.id for c in unsealed_captures(rt.catalogue)] == [o.capture_id]
    tsa.fail(503)  # up, but refusing
    code, _, err = cli(capsys, "seal", "--tsa", tsa.url)
    assert code == 1 and "HTTP 503" in err and list(rt.store.list("seals/")) == []
    tsa.fail(0)  # back: the waiting capture is sealed now
    code, out, err = seal(capsys, tsa)
    assert code == 0 and json.loads(out)["sealed"] == [o.capture_id], err


def test_a_token_from_an_untrusted_tsa_is_refused(runtime, capsys, tsa, rogue_tsa):
    rt = runtime
    capture(rt, {"page.html": b"x"})
    code, _, err = cli(capsys, "seal", "--tsa", rogue_tsa.url, "--trust", str(tsa.ca_pem))
    assert code == 1 and "does not verify against any trusted root" in err
    assert list(rt.store.list("seals/")) == []


def test_no_trusted_root_is_a_clear_configuration_error(runtime, capsys, tsa):
    capture(runtime, {"page.html": b"x"})
    code, _, err = cli(capsys, "seal", "--tsa", tsa.url)
    assert code == 2 and "no trusted TSA root" in err


def test_one_tsa_down_of_two_still_seals_with_the_other(runtime, capsys, tsa, monkeypatch):
    rt = runtime
    capture(rt, {"page.html": b"x"})
    monkeypatch.setenv("WITNESSBOX_TSA_URLS", f"{dead_url()}, {tsa.url}")
    code, out, err = cli(capsys, "seal", "--trust", str(tsa.ca_pem), "--json")
    result = json.loads(out)
    assert code == 0 and result["tsas"] == [tsa.url] and len(result["tsa_failures"]) == 1


def test_a_manifest_changed_before_sealing_is_not_sealed(runtime, capsys, tsa):
    rt = runtime
    good = capture(rt, {"page.html": b"good"})
    bad = capture(rt, {"page.html": b"bad"})
    flip_byte(store_path(rt, bad.manifest_key), 40)
    code, out, err = seal(capsys, tsa)
    result = json.loads(out)
    assert code == 1 and result["sealed"] == [good.capture_id]
    assert result["skipped"] == [f"manifest-changed: {bad.manifest_key} (differs from its index)"]


def test_verify_checks_tokens_and_proofs(runtime, capsys, tsa):
    rt = runtime
    o = capture(rt, {"page.html": b"x"})
    seal(capsys, tsa)
    code, out, _ = cli(capsys, "verify", o.capture_id, "--json")
    report = json.loads(out)
    assert code == 0 and report["captures"][0]["sealed"][0]["tsas"] == [tsa.url]
    (batch,) = [k.split("/")[1] for k in rt.store.list("seals/") if k.endswith("seal.json")]
    flip_byte(store_path(rt, f"seals/{batch}/tsa-0.tsr"), 200)
    code, out, _ = cli(capsys, "verify", o.capture_id)
    assert code == 1 and f"bad-token: seals/{batch}/tsa-0.tsr" in out


def test_a_tampered_inclusion_proof_is_named(runtime, capsys, tsa):
    rt = runtime
    outcomes = [capture(rt, {"page.html": bytes([n])}) for n in range(2)]
    result = json.loads(seal(capsys, tsa)[1])
    key = timestamps.proof_key(outcomes[0].manifest_key, result["batch"])
    path = writable(store_path(rt, key))
    proof = json.loads(path.read_bytes())
    proof["proof"][0][1] = "00" * 32
    path.write_bytes(json.dumps(proof).encode())
    code, out, _ = cli(capsys, "verify", "--all")
    fails = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert code == 1 and fails == [f"FAIL bad-proof: {key} (does not lead to the sealed root)"]


def test_certificate_order_is_normalised_without_touching_the_stored_bytes(runtime, capsys, tsa):
    from rfc3161_client import decode_timestamp_response

    rt = runtime
    capture(rt, {"page.html": b"x"})
    batch = json.loads(seal(capsys, tsa)[1])["batch"]
    reply = rt.store.read_bytes(f"seals/{batch}/tsa-0.tsr")
    with pytest.raises(ValueError, match="InvalidSetOrdering"):
        decode_timestamp_response(reply)  # openssl writes the chain in chain order
    fixed = normalise_certificate_order(reply)
    assert len(fixed) == len(reply) and fixed != reply
    assert decode_timestamp_response(fixed).tst_info.serial_number > 0


def test_reindex_restores_seal_batches(runtime, settings, capsys, tsa):
    rt = runtime
    o = capture(rt, {"page.html": b"x"})
    seal(capsys, tsa)
    sql(settings, "delete from sealed_captures")
    sql(settings, "delete from seal_batches")
    assert [c.id for c in unsealed_captures(rt.catalogue)] == [o.capture_id]
    report = reindex(rt.store, rt.catalogue, rt.clock())
    assert not report.problems
    with rt.catalogue.session() as s:
        assert [r.capture_id for r in s.scalars(select(SealedCapture))] == [o.capture_id]


def test_a_truncated_ledger_is_caught_by_the_sealed_head(runtime, settings, capsys, tsa):
    import os

    rt = runtime
    capture(rt, {"page.html": b"x"})
    seal(capsys, tsa)  # timestamps the head (entry 2), then appends "sealed" as entry 3
    for seq in (3, 2):  # an attacker drops the newest entries from both copies
        os.remove(store_path(rt, f"ledger/{seq:012d}.json"))
    sql(settings, "delete from ledger where seq >= 2")
    code, out, _ = cli(capsys, "ledger", "verify")
    assert code == 1 and "truncated: ledger/000000000002.json" in out
