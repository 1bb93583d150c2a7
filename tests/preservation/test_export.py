"""BagIt export: a valid bag with evidence, proofs and custody; never overwriting; safe names."""

from __future__ import annotations

import hashlib
import json
import os

import bagit
import pytest

from preservation.custody.export import safe_relpath
from preservation.custody.ledger import ledger_for
from tests.support import custody_tsa
from tests.support.custody_helpers import capture, cli, flip_byte, store_path

local_tsa, tsa = custody_tsa.local_tsa, custody_tsa.tsa


def read_tags(path):
    tags = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(": ")
        tags.setdefault(key, []).append(value)
    return tags


def test_export_of_a_case_is_a_valid_bag_with_everything_needed(runtime, capsys, tsa, tmp_path):
    rt = runtime
    a = capture(rt, {"page.html": b"<p>a</p>", "shot.png": 200_000}, case="CASE-7")
    b = capture(rt, {"page.html": b"<p>b</p>"}, case="CASE-7")
    other = capture(rt, {"page.html": b"<p>other</p>"}, url="https://example.org/z", case="CASE-8")
    assert cli(capsys, "seal", "--tsa", tsa.url, "--trust", str(tsa.ca_pem))[0] == 0
    out_dir = tmp_path / "handover" / "bag"
    code, out, err = cli(capsys, "export", "--case", "CASE-7", str(out_dir), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert sorted(result["captures"]) == sorted([a.capture_id, b.capture_id])

    bag = bagit.Bag(str(out_dir))
    bag.validate()  # full: every payload file rehashed by bagit-python itself
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = read_tags(out_dir / "bag-info.txt")
    assert info["Witnessbox-Case"] == ["CASE-7"] and info["Witnessbox-Exporter"] == ["test-operator"]
    assert info["Bagging-Date"][0] == rt.clock().date().isoformat()
    files = set(bag.payload_files())
    for o in (a, b):
        base = f"data/captures/{o.capture_id}"
        assert {f"{base}/manifest.json", f"{base}/manifest.sig"} <= files
        assert any(f.startswith(f"{base}/seals/") for f in files)
        manifest = json.loads((out_dir / base / "manifest.json").read_bytes())
        for art in manifest["artifacts"]:
            exported = out_dir / base / "artifacts" / art["name"]
            assert hashlib.sha256(exported.read_bytes()).hexdigest() == art["sha256"]
        assert f"data/keys/{manifest['signing']['key_fingerprint']}.pub" in files
    assert any(f.endswith(".tsr") for f in files) and any(f.endswith(".chain.pem") for f in files)
    assert not any(other.capture_id in f for f in files)
    # the ledger slice is about these captures (and their seal), not the other case
    entries = [json.loads(line) for line in (out_dir / "data/ledger/entries.jsonl").read_text().splitlines()]
    subjects = {e["subject"] for e in entries}
    assert {a.capture_id, b.capture_id, a.manifest_key, b.manifest_key} <= subjects
    assert other.capture_id not in subjects and other.manifest_key not in subjects
    assert "sealed" in {e["event"] for e in entries}
    index = json.loads((out_dir / "data/index.json").read_text())
    assert {c["capture_id"] for c in index["captures"]} == {a.capture_id, b.capture_id}
    # the export itself is a custody event
    last = ledger_for(rt).entries()[-1]
    assert last["event"] == "exported" and last["data"]["cases"] == ["CASE-7"]
    expected = hashlib.sha256((out_dir / "manifest-sha256.txt").read_bytes()).hexdigest()
    assert last["data"]["manifest_sha256_txt"] == expected


def test_an_existing_directory_is_never_written_into(runtime, capsys, tmp_path):
    rt = runtime
    a = capture(rt, {"page.html": b"x"})
    out_dir = tmp_path / "exists"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "export", "--capture", a.capture_id, str(out_dir))
    assert code == 2 and "new directory" in err
    assert os.listdir(out_dir) == ["keep.txt"] and (out_dir / "keep.txt").read_text() == "mine"


def test_a_damaged_capture_is_refused_and_nothing_is_left_behind(runtime, capsys, tmp_path):
    rt = runtime
    a = capture(rt, {"page.html": b"x", "b.bin": 5000})
    manifest = json.loads(rt.store.read_bytes(a.manifest_key))
    key = next(x["key"] for x in manifest["artifacts"] if x["name"] == "b.bin")
    flip_byte(store_path(rt, key), 10)
    out_dir = tmp_path / "bag"
    code, _, err = cli(capsys, "export", "--capture", a.capture_id, str(out_dir))
    assert code == 1 and key in err and "refusing to export" in err
    assert not out_dir.exists()
    assert ledger_for(rt).entries()[-1]["event"] != "exported"


def test_unknown_captures_and_empty_cases_are_bad_input(runtime, capsys, tmp_path):
    capture(runtime, {"page.html": b"x"})
    assert cli(capsys, "export", "--case", "NOPE", str(tmp_path / "a"))[0] == 2
    assert cli(capsys, "export", "--capture", "nope", str(tmp_path / "b"))[0] == 2
    assert cli(capsys, "export", str(tmp_path / "c"))[0] == 2
    assert not any((tmp_path / n).exists() for n in "abc")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/abs/path.txt", "abs/path.txt"),
        ("..", "artifact"),
        (".hidden", "hidden"),
        ("a b/ü?.mp4", "a_b/_.mp4"),
        ("C:\\Windows\\x.dll", "C_/Windows/x.dll"),
        ("-rf", "rf"),
    ],
)
def test_artifact_names_become_safe_paths(name, expected):
    assert safe_relpath(name) == expected


def test_nested_artifact_names_export_inside_the_bag(runtime, capsys, tmp_path):
    rt = runtime
    a = capture(rt, {"page.html": b"1", "media/v1.mp4": b"2", "media/v1.mp4.exif.json": b"3"})
    out_dir = tmp_path / "bag"
    code, _, err = cli(capsys, "export", "--capture", a.capture_id, str(out_dir))
    assert code == 0, err
    bagit.Bag(str(out_dir)).validate()
    index = json.loads((out_dir / "data/index.json").read_text())
    paths = {x["name"]: x["path"] for x in index["captures"][0]["artifacts"]}
    assert paths["media/v1.mp4"] == f"data/captures/{a.capture_id}/artifacts/media/v1.mp4"
    for name, path in paths.items():
        resolved = (out_dir / path).resolve()
        assert resolved.is_relative_to(out_dir / "data") and resolved.is_file(), name


def test_names_that_collide_once_made_safe_get_distinct_paths(tmp_path):
    from preservation.custody.export import _BagWriter

    bag = _BagWriter(tmp_path)
    first = bag.claim(safe_relpath("a b.txt"), "aa" * 32)
    second = bag.claim(safe_relpath("a?b.txt"), "bb" * 32)
    assert first == "data/a_b.txt" and second == "data/a_b-bbbbbbbbbbbb.txt"
