"""The Enricher the pipeline calls for every artifact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hashing.enrich import Description, Enricher, sniff, visual_kind
from tests.support.hashing_media import make_clip, save_jpeg, scene


@pytest.fixture(scope="module")
def enricher():
    with Enricher() as e:
        yield e


def test_photo_with_gps(enricher: Enricher, tmp_path: Path) -> None:
    path = save_jpeg(scene(3, (400, 300)), tmp_path / "artifact-0001")
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-GPSLatitude=12.5", "-GPSLatitudeRef=S",
         "-GPSLongitude=45.25", "-GPSLongitudeRef=W", "-Model=Pixel 7", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    d = enricher.describe(path, "application/octet-stream", "media")  # sniffed as JPEG
    assert isinstance(d, Description) and d.notes == []
    assert [h["algorithm"] for h in d.perceptual] == ["phash", "dhash", "whash", "colorhash", "pdq"]
    assert d.metadata["gps"]["latitude"] == -12.5 and d.metadata["gps"]["longitude"] == -45.25
    assert d.metadata["device"]["model"] == "Pixel 7"
    assert d.full_tags["IFD0:Model"] == "Pixel 7"


def test_video(enricher: Enricher, tmp_path: Path) -> None:
    path = make_clip(tmp_path / "v.mp4", seconds=2, size="320x240", gop=25)
    d = enricher.describe(path, "video/mp4", "media")
    assert {h["frame"] for h in d.perceptual} == {"0.000s", "1.000s", "median"}
    assert d.full_tags["File:MIMEType"] == "video/mp4" and d.metadata["exiftool"]


@pytest.mark.parametrize(
    ("media_type", "role", "content"),
    [
        ("application/json", "info-json", b'{"title": "x"}'),
        ("text/html", "dom", b"<html></html>"),
        ("application/warc", "warc", b"WARC/1.1\r\n"),
        ("application/octet-stream", "text", b"plain words"),
    ],
)
def test_non_visual_artifacts_get_nothing(enricher, tmp_path, media_type, role, content) -> None:
    path = tmp_path / "a"
    path.write_bytes(content)
    assert enricher.describe(path, media_type, role) == Description()


def test_hostile_visual_artifacts_give_notes(enricher: Enricher, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    d = enricher.describe(bad, "image/jpeg", "media")
    assert d.perceptual == [] and any(n.startswith("not hashable:") for n in d.notes)
    svg = tmp_path / "x.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert "not hashable: vector image (image/svg+xml)" in enricher.describe(
        svg, "image/svg+xml", "media"
    ).notes
    missing = enricher.describe(tmp_path / "gone", "video/mp4", "media")
    assert missing.perceptual == [] and missing.notes


def test_tools_report_versions(enricher: Enricher) -> None:
    tools = enricher.tools()
    assert {"imagehash", "pdqhash", "pyav", "libavcodec", "exiftool"} <= set(tools)
    assert tools["exiftool"][0].isdigit()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0", "image"),
        (b"\x89PNG\r\n\x1a\n", "image"),
        (b"GIF89a", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image"),
        (b"\x00\x00\x00\x18ftypheic", "image"),
        (b"\x00\x00\x00\x18ftypisom", "video"),
        (b"\x1a\x45\xdf\xa3", "video"),
        (b"%PDF-1.7", None),
    ],
)
def test_sniff(tmp_path: Path, head: bytes, kind: str | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(head + b"\x00" * 32)
    assert sniff(path) == kind
    assert visual_kind(path, "application/octet-stream") == kind
    assert visual_kind(path, "image/png; charset=binary") == "image"


class _SlowReader:
    """A metadata reader that records when it ran, slowly: to see what overlaps it."""

    def __init__(self) -> None:
        import threading

        self.threads: list[str] = []
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.version = "test"

    def read(self, path):
        import threading
        import time

        from hashing.metadata import MetadataResult

        with self.lock:
            self.threads.append(threading.current_thread().name)
        start = time.perf_counter()
        time.sleep(0.3)
        self.spans.append((start, time.perf_counter()))
        result = MetadataResult()
        result.fields = {"read": Path(path).name}
        return result

    def close(self) -> None:
        pass


def test_submitted_descriptions_match_and_exiftool_runs_beside_the_hashes(tmp_path: Path, monkeypatch) -> None:
    import time

    import hashing.video

    hashing_spans = []
    real = hashing.video.hash_video

    def timed(path, *args, **kwargs):
        start = time.perf_counter()
        try:
            return real(path, *args, **kwargs)
        finally:
            hashing_spans.append((start, time.perf_counter()))

    monkeypatch.setattr(hashing.video, "hash_video", timed)

    clips = [make_clip(tmp_path / f"v{n}.mp4", seconds=2, size="320x240", gop=25) for n in range(3)]
    reader = _SlowReader()
    with Enricher(metadata=reader) as enricher:
        started = time.perf_counter()
        futures = [enricher.submit(path, "video/mp4", "media") for path in clips]
        described = [f.result() for f in futures]
        elapsed = time.perf_counter() - started
        again = enricher.describe(clips[0], "video/mp4", "media")
    assert [d.metadata["read"] for d in described] == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert described[0].perceptual == again.perceptual and described[0].perceptual
    assert set(reader.threads) == {next(iter(reader.threads))}  # one exiftool thread: one request at a time
    assert reader.threads[0].startswith("exiftool")
    assert elapsed >= 0.9  # three reads one after another, never two at once
    assert any(a < d and c < b for a, b in reader.spans for c, d in hashing_spans)  # overlapped
