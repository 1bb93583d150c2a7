"""Rotating the key-encryption key of an encrypted replica: new objects under the new key,
old ones still readable with the key rotated out, every step refused unless it is proven."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from kernel.settings import load_settings
from preservation.custody.ledger import ledger_for
from preservation.runtime import open_runtime
from preservation.store.envelope import KeyMismatch, kek_id
from tests.support.custody_helpers import capture, cli


def _key() -> tuple[str, str]:
    raw = os.urandom(32)
    return base64.b64encode(raw).decode(), kek_id(raw).hex()


@pytest.fixture
def vault(wb_env, monkeypatch):
    home = Path(wb_env["WITNESSBOX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "witnessbox.toml").write_text(
        f'[[replicas]]\nname = "vault"\nurl = "file://{home / "vault"}"\nencrypt = true\n'
    )
    return home / "vault"


def _captured(files, url):
    rt = open_runtime(load_settings())
    try:
        return capture(rt, files, url=url)
    finally:
        rt.close()


def test_rotating_the_key_of_an_encrypted_replica(vault, monkeypatch, capsys):
    old, old_id = _key()
    new, new_id = _key()
    monkeypatch.setenv("WITNESSBOX_KEK", old)
    first = _captured({"page.html": b"<p>before the rotation</p>"}, "https://example.org/a")
    assert json.loads((vault / "kek.json").read_text())["kek_id"] == old_id

    # a new key without the rotation: the primary commits, the replica refuses to mix keys
    monkeypatch.setenv("WITNESSBOX_KEK", new)
    second = _captured({"page.html": b"<p>after the rotation</p>"}, "https://example.org/b")
    assert second.status == "complete"
    code, out, _ = cli(capsys, "replicas", "status", "--json")
    (row,) = json.loads(out)
    assert row["behind"] >= 3 and "rotate-kek" in row["last_error"]
    code, _, err = cli(capsys, "verify", first.capture_id)
    assert code == 2 and "WITNESSBOX_KEK_PREVIOUS" in err and err.count("\n") == 1

    # rotating needs proof: a key the replica already takes
    code, _, err = cli(capsys, "replicas", "rotate-kek", "vault")
    assert code == 2 and f"takes key(s) {old_id[:16]}" in err
    wrong, _ = _key()
    monkeypatch.setenv("WITNESSBOX_KEK_PREVIOUS", wrong)
    assert cli(capsys, "replicas", "rotate-kek", "vault")[0] == 2
    assert not (vault / "kek-rotations").exists()

    monkeypatch.setenv("WITNESSBOX_KEK_PREVIOUS", f"{wrong},{old}")
    code, out, err = cli(capsys, "replicas", "rotate-kek", "vault")
    assert code == 0, err
    assert f"encrypted under key {new_id[:16]} (was {old_id[:16]})" in out
    record = json.loads((vault / "kek-rotations" / f"{new_id}.json").read_text())
    assert record["kek_id"] == new_id and record["previous"] == old_id
    code, out, _ = cli(capsys, "replicas", "rotate-kek", "vault")
    assert code == 0 and "already takes key" in out

    # the replica catches up under the new key; every object reads with the right one
    code, out, err = cli(capsys, "replicas", "sync")
    assert code == 0 and "0 behind" in out, out + err
    code, out, err = cli(capsys, "verify", "--all", "--json")
    assert code == 0, out + err
    assert json.loads(out)["copies"]["vault"]["ok"] is True
    rt = open_runtime(load_settings())
    try:
        (entry,) = [e for e in ledger_for(rt).entries() if e["event"] == "kek-rotated"]
        assert entry["data"] == {"replica": "vault", "kek_id": new_id, "previous": old_id}
        rt.replicas[0].store.read_bytes(second.manifest_key)
    finally:
        rt.close()
    assert b"after the rotation" not in b"".join(
        p.read_bytes() for p in vault.rglob("*") if p.is_file()
    )

    # without the old key the objects it sealed are named, never mistaken for damage; those
    # stored since read with the new key alone (objects keep the key they were sealed with)
    monkeypatch.delenv("WITNESSBOX_KEK_PREVIOUS")
    code, _, err = cli(capsys, "verify", first.capture_id)
    assert code == 2 and f"encrypted under key {old_id[:16]}" in err
    rt = open_runtime(load_settings())
    try:
        vault_store = rt.replicas[0].store
        assert b"after the rotation" in vault_store.read_bytes(blob_of(rt, second, "page.html"))
        with pytest.raises(KeyMismatch, match="WITNESSBOX_KEK_PREVIOUS"):
            vault_store.read_bytes(blob_of(rt, first, "page.html"))
    finally:
        rt.close()


def blob_of(rt, outcome, name):
    manifest = json.loads(rt.primary.read_bytes(outcome.manifest_key))
    return next(a["key"] for a in manifest["artifacts"] if a["name"] == name)


def test_rotate_kek_refuses_a_plaintext_replica(wb_env, capsys):
    home = Path(wb_env["WITNESSBOX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "witnessbox.toml").write_text(
        f'[[replicas]]\nname = "plain"\nurl = "file://{home / "plain"}"\n'
    )
    code, _, err = cli(capsys, "replicas", "rotate-kek", "plain")
    assert code == 2 and "not encrypted" in err
    assert cli(capsys, "replicas", "rotate-kek", "nope")[0] == 2
