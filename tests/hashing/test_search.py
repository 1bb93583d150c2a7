"""Near-duplicate search through the real pipeline, catalogue and CLI; linking."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hashing.perceptual import hash_image_file
from kernel.errors import InputError
from kernel.netpolicy import NetworkPolicy
from kernel.settings import load_settings
from preservation.catalogue import watchlist
from preservation.catalogue.models import SimilarLink
from preservation.catalogue.similarity import (
    SimilarityIndex,
    find_similar,
    link_artifacts,
    link_near_duplicates,
    links_of,
    parse_hash,
)
from preservation.cli.main import main
from preservation.formats import manifest as manifests
from preservation.runner import capture_source
from preservation.runtime import open_runtime
from tests.support.fake_collector import StaticCollector
from tests.support.hashing_media import brightened, make_clip, resized, save_jpeg, scene


def _add(rt, url: str):
    spec = watchlist.validate_entry(url, NetworkPolicy(), kind="web", tags=[], case="C-7")
    return watchlist.add_source(rt.catalogue, spec, "analyst", rt.clock())


def _jpeg_bytes(img, tmp: Path, name: str, quality: int = 90) -> bytes:
    return save_jpeg(img, tmp / name, quality=quality).read_bytes()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    """One source posted a photo and a video, another a re-compressed, resized copy of the
    photo, a third an unrelated photo. Built once: the tests only read it (links aside)."""
    tmp_path = tmp_path_factory.mktemp("archive")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WITNESSBOX_HOME", str(tmp_path / "home"))
        rt = open_runtime(load_settings())
    try:
        yield _fill(rt, tmp_path)
    finally:
        rt.close()


@pytest.fixture
def archive_home(archive, monkeypatch: pytest.MonkeyPatch):
    """The archive as the CLI's WITNESSBOX_HOME."""
    monkeypatch.setenv("WITNESSBOX_HOME", str(archive[0].settings.home))
    return archive


def _fill(rt, tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=3, size="320x240", gop=25)
    first = _add(rt, "https://example.org/original")
    rt.collectors["web"] = StaticCollector(
        {
            "photo.jpg": _jpeg_bytes(scene(21), tmp_path, "a.jpg"),
            "clip.mp4": clip.read_bytes(),
            "page.html": b"<html>not visual</html>",
        }
    )
    out1 = capture_source(rt, first)
    second = _add(rt, "https://example.net/repost")
    rt.collectors["web"] = StaticCollector(
        {"copy.jpg": _jpeg_bytes(resized(scene(21), 0.6), tmp_path, "b.jpg", quality=40)}
    )
    out2 = capture_source(rt, second)
    third = _add(rt, "https://example.com/other")
    rt.collectors["web"] = StaticCollector({"other.jpg": _jpeg_bytes(scene(99), tmp_path, "c.jpg")})
    out3 = capture_source(rt, third)
    return rt, (first, out1), (second, out2), (third, out3), clip


def _manifest(rt, outcome) -> dict:
    return manifests.parse(rt.store.read_bytes(outcome.manifest_key))


def test_pipeline_records_hashes_and_metadata(archive) -> None:
    rt, (_, out1), *_ = archive
    by_name = {a["name"]: a for a in _manifest(rt, out1)["artifacts"]}
    photo = by_name["photo.jpg"]
    assert {h["algorithm"] for h in photo["perceptual"]} == {
        "phash",
        "dhash",
        "whash",
        "colorhash",
        "pdq",
    }
    assert photo["metadata"]["exiftool"]
    assert by_name["photo.jpg.exif.json"]["derived_from"] == photo["sha256"]
    frames = [h["frame"] for h in by_name["clip.mp4"]["perceptual"] if h["algorithm"] == "phash"]
    assert frames == ["0.000s", "1.000s", "2.000s", "median"]
    assert by_name["page.html"]["perceptual"] == [] and by_name["page.html"]["metadata"] == {}


def test_find_similar_by_file(archive, tmp_path: Path) -> None:
    rt, (first, out1), (second, out2), (third, _), _ = archive
    query = save_jpeg(brightened(scene(21), 1.1), tmp_path / "query.jpg", quality=70)
    matches = find_similar(rt.catalogue, query, 8)
    found = {(m.artifact, m.algorithm) for m in matches}
    assert {("photo.jpg", "phash"), ("copy.jpg", "phash")} <= found
    assert {("photo.jpg", "pdq"), ("copy.jpg", "pdq")} <= found
    assert not any(m.artifact == "other.jpg" for m in matches)
    photo = next(m for m in matches if m.artifact == "photo.jpg" and m.algorithm == "phash")
    assert photo.capture_id == out1.capture_id and photo.source_id == first.id
    assert photo.source_url == "https://example.org/original"
    assert 0 <= photo.distance <= 8 and photo.bits == 64
    assert [m.distance / m.bits for m in matches] == sorted(m.distance / m.bits for m in matches)


def test_find_similar_by_hash_and_distance_bound(archive) -> None:
    rt, (_, out1), *_ = archive
    photo = next(a for a in _manifest(rt, out1)["artifacts"] if a["name"] == "photo.jpg")
    phash = next(h["value"] for h in photo["perceptual"] if h["algorithm"] == "phash")
    exact = find_similar(rt.catalogue, phash, 0)
    assert [(m.artifact, m.distance) for m in exact] == [("photo.jpg", 0)]
    flipped = f"{int(phash, 16) ^ 0b111:016x}"  # three bits away
    assert find_similar(rt.catalogue, f"phash:{flipped}", 2) == []
    assert [m.artifact for m in find_similar(rt.catalogue, f"phash:{flipped}", 3)] == ["photo.jpg"]
    dhash = next(h["value"] for h in photo["perceptual"] if h["algorithm"] == "dhash")
    assert find_similar(rt.catalogue, f"dhash:{dhash}", 0)[0].algorithm == "dhash"


def test_video_frame_found_from_a_still(archive, tmp_path: Path) -> None:
    rt, _, _, _, clip = archive
    still = tmp_path / "still.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip), "-frames:v", "1", str(still)],
        check=True,
        timeout=60,
    )
    matches = [m for m in find_similar(rt.catalogue, still, 6) if m.artifact == "clip.mp4"]
    assert matches and matches[0].frame == "1.000s"


def test_query_video_file_finds_the_video(archive) -> None:
    rt, *_, clip = archive
    matches = find_similar(rt.catalogue, clip, 0, pdq_max_distance=0)
    assert {m.artifact for m in matches} == {"clip.mp4"}
    assert {m.query_frame for m in matches} <= {"0.000s", "1.000s", "2.000s", "median"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not-a-hash", "not a file or a hash"),
        ("abc", "cannot tell the algorithm"),
        ("md5:" + "0" * 16, "unknown hash algorithm"),
        ("phash:" + "0" * 15, "16 hex digits"),
    ],
)
def test_bad_queries_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_hash(text)


def test_parse_hash_defaults() -> None:
    assert parse_hash("F" * 16).algorithm == "phash" and parse_hash("F" * 16).value == "f" * 16
    assert parse_hash("0" * 64).algorithm == "pdq" and parse_hash("0" * 64).bits == 256
    assert parse_hash("colorhash:" + "0" * 11).bits == 42


def test_unhashable_query_file(runtime, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(InputError, match="not hashable"):
        find_similar(runtime.catalogue, bad, 8)


def test_pipeline_links_near_duplicates_never_merges(archive) -> None:
    rt, (_, out1), (_, out2), (_, out3), _ = archive
    m1, m2, m3 = (_manifest(rt, o) for o in (out1, out2, out3))
    photo = next(a for a in m1["artifacts"] if a["name"] == "photo.jpg")
    copy = next(a for a in m2["artifacts"] if a["name"] == "copy.jpg")
    other = next(a for a in m3["artifacts"] if a["name"] == "other.jpg")
    with rt.catalogue.session() as session:
        # the commit of the second capture linked its copy to the first capture's photo
        links = links_of(session, copy["sha256"])
        assert {(lk["sha256"], lk["algorithm"]) for lk in links} == {
            (photo["sha256"], "phash"),
            (photo["sha256"], "pdq"),
        }
        assert links_of(session, other["sha256"]) == []
        # idempotent: a second pass adds nothing
        assert link_near_duplicates(session, copy["sha256"], copy["perceptual"]) == 0
        assert link_artifacts(session, m1["artifacts"] + m3["artifacts"]) == 0
        session.commit()
        assert session.scalar(select(func.count()).select_from(SimilarLink)) == 2
    # both artifacts are still their own evidence in their own captures
    with rt.catalogue.session() as session:
        index = SimilarityIndex(session)
        assert index.table("phash", 64) is not None
    assert find_similar(rt.catalogue, f"phash:{photo['perceptual'][0]['value']}", 0)[0].artifact == (
        "photo.jpg"
    )


def test_reindex_restores_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from preservation.reindex import reindex

    monkeypatch.setenv("WITNESSBOX_HOME", str(tmp_path / "home"))
    rt = open_runtime(load_settings())
    try:
        rt.collectors["web"] = StaticCollector({"a.jpg": _jpeg_bytes(scene(5), tmp_path, "a.jpg")})
        capture_source(rt, _add(rt, "https://example.org/a"))
        rt.collectors["web"] = StaticCollector(
            {"b.jpg": _jpeg_bytes(brightened(scene(5), 1.1), tmp_path, "b.jpg", quality=50)}
        )
        capture_source(rt, _add(rt, "https://example.org/b"))
        with rt.catalogue.session() as session:
            live = session.scalars(select(SimilarLink)).all()
            before = {(lk.a_sha256, lk.b_sha256, lk.algorithm, lk.distance) for lk in live}
        assert before
        report = reindex(rt.store, rt.catalogue, rt.clock(), wipe=True)
        assert report.indexed == 2 and report.links == len(before)
        with rt.catalogue.session() as session:
            rebuilt = session.scalars(select(SimilarLink)).all()
            assert {(lk.a_sha256, lk.b_sha256, lk.algorithm, lk.distance) for lk in rebuilt} == (
                before
            )
    finally:
        rt.close()


def test_featureless_images_are_not_linked(runtime, tmp_path: Path) -> None:
    from PIL import Image

    rt = runtime
    paths = []
    for shade in (118, 122):
        p = tmp_path / f"grey{shade}.png"
        Image.new("RGB", (200, 150), (shade, shade, shade)).save(p)
        paths.append(p)
    rt.collectors["web"] = StaticCollector({p.name: p.read_bytes() for p in paths})
    outcome = capture_source(rt, _add(rt, "https://example.org/blank"))
    artifacts = _manifest(rt, outcome)["artifacts"]
    with rt.catalogue.session() as session:
        assert link_artifacts(session, artifacts) == 0
    # but an explicit search still finds them
    hashes = hash_image_file(paths[0]).hashes
    phash = next(h["value"] for h in hashes if h["algorithm"] == "phash")
    assert len(find_similar(rt.catalogue, phash, 0)) == 2


def test_cli_similar_json_and_table(archive_home, tmp_path: Path, capsys) -> None:
    rt, (_, out1), *_ = archive_home
    query = save_jpeg(scene(21), tmp_path / "q.jpg")
    assert main(["similar", str(query), "--max-distance", "6", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["artifact"] for r in rows} == {"photo.jpg", "copy.jpg"}
    assert {"distance", "bits", "algorithm", "capture_id", "source_id", "source_url"} <= set(rows[0])
    assert main(["similar", str(query), "--algorithm", "phash", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "DISTANCE" in out and out1.capture_id in out and len(out.strip().splitlines()) == 2
    assert main(["similar", "ffff"]) == 2
    assert "cannot tell the algorithm" in capsys.readouterr().err
    assert main(["similar", "phash:" + "0" * 16, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

