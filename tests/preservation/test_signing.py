"""Ed25519 manifest signatures: the key, the detached signature, and what breaks them."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kernel.errors import ConfigError, IntegrityError
from preservation.custody import signing
from preservation.formats import manifest as manifests
from preservation.pipeline import resume_pending
from tests.support.custody_helpers import capture, cli, store_path, writable


def test_init_creates_a_private_key_0600_and_publishes_the_public_key(wb_env, settings, capsys):
    code, out, err = cli(capsys, "init", "--json")
    assert code == 0, err
    facts = json.loads(out)
    key_file = settings.home / "keys" / "signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    fp = facts["key_fingerprint"]
    assert len(fp) == 64 and "created" in facts["signing_key"]
    pub = (settings.home / "store" / "keys" / f"{fp}.pub").read_bytes()
    assert signing.fingerprint(load_pem_public_key(pub)) == fp
    # idempotent: a second init keeps the same key
    code, out, _ = cli(capsys, "init", "--json")
    assert json.loads(out)["key_fingerprint"] == fp and "existing" in json.loads(out)["signing_key"]


def test_every_manifest_is_signed_and_openssl_agrees(runtime, tmp_path):
    rt = runtime
    outcome = capture(rt, {"page.html": b"<p>evidence</p>"})
    data = rt.store.read_bytes(outcome.manifest_key)
    manifest = manifests.parse(data)
    info = manifest["signing"]
    assert info["algorithm"] == "ed25519" and info["signature"] == "manifest.sig"
    sig_key = outcome.manifest_key.replace("manifest.json", "manifest.sig")
    signature = rt.store.read_bytes(sig_key)
    assert len(signature) == 64
    public = load_pem_public_key(rt.store.read_bytes(info["public_key"]))
    public.verify(signature, data)  # raises if wrong
    # an independent check with the openssl command line, as the docs promise
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(store_path(rt, info["public_key"])),
         "-rawin", "-in", str(store_path(rt, outcome.manifest_key)),
         "-sigfile", str(store_path(rt, sig_key))],
        capture_output=True, text=True,
    )
    assert result.returncode == 0 and "Verified Successfully" in result.stdout, result.stderr
    signing.verify_manifest_signature(rt.store, outcome.manifest_key, data)


def test_an_edited_manifest_no_longer_verifies(runtime):
    rt = runtime
    outcome = capture(rt, {"page.html": b"<p>evidence</p>"})
    path = writable(store_path(rt, outcome.manifest_key))
    edited = path.read_bytes().replace(b"example.org", b"example.net")
    path.write_bytes(edited)
    with pytest.raises(IntegrityError) as info:
        signing.verify_manifest_signature(rt.store, outcome.manifest_key, edited)
    assert info.value.details[0].kind == "bad-signature"
    assert info.value.details[0].subject.endswith("/manifest.sig")


def test_a_signature_made_by_another_key_is_refused(runtime, tmp_path):
    rt = runtime
    outcome = capture(rt, {"page.html": b"x"})
    data = rt.store.read_bytes(outcome.manifest_key)
    other = signing.create_key(tmp_path / "other.pem")
    sig_path = writable(store_path(rt, outcome.manifest_key.replace(".json", ".sig")))
    sig_path.write_bytes(other.sign(data))
    problems = signing.check_manifest_signature(
        rt.store, outcome.manifest_key, json.loads(data), data
    )
    assert [p.kind for p in problems] == ["bad-signature"]


def test_a_configured_key_that_is_missing_is_an_error_not_a_new_key(runtime, tmp_path):
    rt = runtime
    rt.settings.signing_key = str(tmp_path / "mounted-secret" / "signing.pem")
    with pytest.raises(ConfigError, match="does not exist"):
        capture(rt, {"page.html": b"x"})
    assert not (tmp_path / "mounted-secret").exists()
    assert [k for k in rt.store.list("captures/") if k.endswith("manifest.json")] == []


def test_a_crash_between_signature_and_manifest_is_completed_with_the_same_bytes(runtime):
    """manifest.sig is written first; the retry must reuse the exact signed bytes."""
    rt = runtime
    real_put = rt.store.put_bytes

    def crash_on_manifest(key, data, content_type="application/json"):
        if key.endswith("/manifest.json"):
            raise KeyboardInterrupt("power cut")
        return real_put(key, data, content_type)

    rt.store.put_bytes = crash_on_manifest
    with pytest.raises(KeyboardInterrupt):
        capture(rt, {"page.html": b"x", "b.bin": 70_000})
    rt.store.put_bytes = real_put
    sigs = [k for k in rt.store.list("captures/") if k.endswith("manifest.sig")]
    assert len(sigs) == 1 and not [k for k in rt.store.list("captures/") if k.endswith(".json")]
    # meanwhile another capture of the same source: a rebuilt manifest would now name it as
    # the previous capture, so only the staged signed bytes can match the stored signature
    later = capture(rt, {"page.html": b"y"})
    (outcome,) = resume_pending(rt)
    assert outcome.capture_id != later.capture_id
    data = rt.store.read_bytes(outcome.manifest_key)
    signing.verify_manifest_signature(rt.store, outcome.manifest_key, data)
    assert sigs[0] == outcome.manifest_key.replace(".json", ".sig")


def test_a_key_given_as_a_secret_signs_and_is_never_written(wb_env, settings, capsys, monkeypatch):
    """Production: the key comes from the Airflow connection or the environment, not a file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    monkeypatch.setenv("WITNESSBOX_SIGNING_KEY_PEM", pem)
    code, out, err = cli(capsys, "init", "--json")
    assert code == 0, err
    facts = json.loads(out)
    assert facts["key_fingerprint"] == signing.fingerprint(key.public_key())
    assert facts["signing_key"] == "given as a secret"
    assert not (settings.home / "keys" / "signing.pem").exists()
    assert "PRIVATE KEY" not in out + err
    # a garbled secret is a one-line configuration error, not a traceback or a new key
    monkeypatch.setenv("WITNESSBOX_SIGNING_KEY_PEM", "-----BEGIN PRIVATE KEY-----\nnope\n")
    signing._cache.clear()
    code, out, err = cli(capsys, "init")
    assert code != 0 and "signing_key_pem" in err and "Traceback" not in err
    assert "nope" not in err
