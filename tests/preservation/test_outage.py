"""An S3 server that is down is an outage to retry, never evidence that objects are gone.

Each test runs its own SeaweedFS (the session's server stays up for the others), captures
into it, stops it, and checks what the audit, the signature and seal checks and the seal
step report: ``unreadable`` (retry later), never ``missing-object``.
"""

from __future__ import annotations

import json

import pytest

from kernel.errors import MissingObjectError, StorageError
from kernel.settings import load_settings
from tests.support import seaweedfs as weed
from tests.support.custody_helpers import capture

pytestmark = pytest.mark.s3


@pytest.fixture
def stoppable(tmp_path, wb_env, monkeypatch):
    """A runtime on a SeaweedFS of its own, and a function that stops that server."""
    from preservation.runtime import open_runtime

    (tmp_path / "weed").mkdir()
    server = weed.start(tmp_path / "weed")
    try:
        for name, value in server.witnessbox_env(server.make_bucket(), retention_days=0).items():
            monkeypatch.setenv(name, value)
        rt = open_runtime(load_settings())
        yield rt, lambda: weed.stop(server.process)
        rt.close()
    finally:
        weed.stop(server.process)


def test_an_audit_while_the_store_is_down_says_unreadable(stoppable):
    from preservation.custody.audit import run_audit

    rt, stop = stoppable
    a = capture(rt, {"page.html": b"<p>evidence</p>"})
    assert run_audit(rt, capture_id=a.capture_id, record=False).ok
    stop()
    report = run_audit(rt, capture_id=a.capture_id, record=False)
    kinds = {p.kind for p in report.problems}
    assert kinds == {"unreadable"}, report.problems
    manifest = next(p for p in report.problems if p.subject == a.manifest_key)
    assert "cannot reach the S3 endpoint" in manifest.detail


def test_blob_checks_while_the_store_is_down_say_unreadable(stoppable):
    from preservation.custody.stages import CaptureCheck, _check_blob_presence

    rt, stop = stoppable
    a = capture(rt, {"page.html": b"<p>evidence</p>", "photo.jpg": b"\xff\xd8 bytes"})
    manifest = json.loads(rt.store.read_bytes(a.manifest_key))
    stop()
    check = CaptureCheck(a.capture_id, a.manifest_key)
    _check_blob_presence(rt, check, manifest, {})
    assert [p.kind for p in check.problems] == ["unreadable", "unreadable"]
    assert all("cannot reach" in p.detail for p in check.problems)


def test_signature_seal_and_sealing_checks_while_the_store_is_down(stoppable):
    from preservation.catalogue.models import Capture
    from preservation.custody.seal_check import SealChecker
    from preservation.custody.signing import check_manifest_signature
    from preservation.custody.timestamps import _check_before_sealing

    rt, stop = stoppable
    a = capture(rt, {"page.html": b"<p>evidence</p>"})
    data = rt.store.read_bytes(a.manifest_key)
    with rt.catalogue.session() as session:
        row = session.get(Capture, a.capture_id)
    stop()
    (problem,) = check_manifest_signature(rt.store, a.manifest_key, json.loads(data), data)
    assert problem.kind == "unreadable"  # the public key could not be read: not "missing-key"
    digest, skipped = _check_before_sealing(rt.store, row)
    assert digest is None and skipped.kind == "unreadable"
    (batch_problem,) = SealChecker(rt.store).batch("0190c7e0-0000-7000-8000-000000000000")[1]
    assert batch_problem.kind == "unreadable"
    found, problems = SealChecker(rt.store).check_capture(a.manifest_key, "00" * 32)
    assert found == [] and [p.kind for p in problems] == ["unreadable"]


def test_only_the_store_saying_so_makes_an_object_missing(stoppable):
    rt, stop = stoppable
    with pytest.raises(MissingObjectError, match="missing object"):
        rt.store.read_bytes("captures/none/none/manifest.json")
    stop()
    with pytest.raises(StorageError) as info:
        rt.store.read_bytes("captures/none/none/manifest.json")
    assert not isinstance(info.value, MissingObjectError)
