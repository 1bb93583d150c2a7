"""exiftool metadata: signed GPS, devices, dates, one process, hostile files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from hashing.metadata import MetadataReader, iso_date, normalise
from tests.support.hashing_media import make_clip, save_jpeg, scene

EXIFTOOL = shutil.which("exiftool")


@pytest.fixture(scope="module")
def reader():
    assert EXIFTOOL, "exiftool is required for these tests: apt-get install libimage-exiftool-perl"
    with MetadataReader() as r:
        yield r


def _exiftool_write(path: Path, *args: str) -> None:
    subprocess.run(
        [EXIFTOOL, "-q", "-overwrite_original", *args, str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_gps_south_west_written_by_exiftool(reader: MetadataReader, tmp_path: Path) -> None:
    path = save_jpeg(scene(1, (320, 240)), tmp_path / "photo.jpg")
    _exiftool_write(
        path,
        "-GPSLatitude=33.8688",
        "-GPSLatitudeRef=S",
        "-GPSLongitude=151.2093",
        "-GPSLongitudeRef=W",
        "-GPSAltitude=12.5",
        "-GPSAltitudeRef#=1",
        "-Make=Canon",
        "-Model=EOS 5D",
        "-Software=Firmware 1.1",
        "-DateTimeOriginal=2023:05:06 07:08:09",
        "-OffsetTimeOriginal=-03:00",
    )
    result = reader.read(path)
    assert result.notes == []
    gps = result.fields["gps"]
    assert gps["latitude"] == pytest.approx(-33.8688)
    assert gps["longitude"] == pytest.approx(-151.2093)
    assert gps["altitude"] == pytest.approx(-12.5)
    assert result.fields["device"] == {"make": "Canon", "model": "EOS 5D", "software": "Firmware 1.1"}
    assert result.fields["created"] == "2023-05-06T07:08:09-03:00"
    assert result.fields["exiftool"] == reader.version
    assert result.tags["GPS:GPSLatitudeRef"] == "S"  # the full tag set, grouped, numeric


def test_gps_south_west_written_by_pillow(reader: MetadataReader, tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 48), (10, 200, 30))
    exif = img.getexif()
    exif[ExifTags.Base.Make] = "TestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(33), IFDRational(52), IFDRational(768, 100))
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(70), IFDRational(30), IFDRational(0))
    path = tmp_path / "pillow.jpg"
    img.save(path, exif=exif)
    fields = reader.read(path).fields
    assert fields["gps"]["latitude"] == pytest.approx(-(33 + 52 / 60 + 7.68 / 3600))
    assert fields["gps"]["longitude"] == pytest.approx(-70.5)
    assert fields["device"] == {"make": "TestCam"}


def test_exif_refs_applied_without_composite_tags() -> None:
    tags = {
        "GPS:GPSLatitude": 10.5,
        "GPS:GPSLatitudeRef": "S",
        "GPS:GPSLongitude": 20.25,
        "GPS:GPSLongitudeRef": "W",
        "GPS:GPSAltitude": 3,
        "GPS:GPSAltitudeRef": 1,
    }
    assert normalise(tags)["gps"] == {
        "latitude": -10.5,
        "longitude": -20.25,
        "altitude": -3.0,
        "source": "GPS",
    }
    tags.update({"GPS:GPSLatitudeRef": "N", "GPS:GPSLongitudeRef": "E", "GPS:GPSAltitudeRef": 0})
    assert normalise(tags)["gps"]["latitude"] == 10.5
    assert normalise({"GPS:GPSLatitude": 95, "GPS:GPSLongitude": 1}) == {}  # out of range
    xmp = normalise({"XMP-exif:GPSLatitude": -1.5, "XMP-exif:GPSLongitude": -2.5})
    assert xmp["gps"] == {"latitude": -1.5, "longitude": -2.5, "source": "XMP-exif"}


def test_video_metadata(reader: MetadataReader, tmp_path: Path) -> None:
    path = make_clip(tmp_path / "phone.mp4", seconds=1, size="320x240")
    _exiftool_write(
        path,
        "-Keys:GPSCoordinates=-22.9068, -43.1729, 8",
        "-Keys:CreationDate=2024:01:02 03:04:05+01:00",
        "-Keys:Make=Apple",
        "-Keys:Model=iPhone 12",
        "-QuickTime:CreateDate=2024:01:02 02:04:05",
    )
    fields = reader.read(path).fields
    assert fields["gps"]["latitude"] == pytest.approx(-22.9068)
    assert fields["gps"]["longitude"] == pytest.approx(-43.1729)
    assert fields["device"]["make"] == "Apple" and fields["device"]["model"] == "iPhone 12"
    assert fields["created"] == "2024-01-02T03:04:05+01:00"
    assert fields["created_source"] == "Keys:CreationDate"
    assert fields["dates"]["QuickTime:CreateDate"] == "2024-01-02T02:04:05+00:00"  # UTC by spec


@pytest.mark.parametrize(
    ("raw", "offset", "utc", "iso"),
    [
        ("2023:05:06 07:08:09", None, False, "2023-05-06T07:08:09"),
        ("2023:05:06 07:08:09", "+02:00", False, "2023-05-06T07:08:09+02:00"),
        ("2023:05:06 07:08:09.25+0530", None, False, "2023-05-06T07:08:09.25+05:30"),
        ("2023:05:06 07:08:09Z", None, False, "2023-05-06T07:08:09+00:00"),
        ("2023:05:06 07:08:09", None, True, "2023-05-06T07:08:09+00:00"),
        ("2023:05:06", None, False, "2023-05-06"),
        ("0000:00:00 00:00:00", None, True, None),
        ("2023:13:45 07:08:09", None, False, None),
        ("yesterday", None, False, None),
    ],
)
def test_iso_dates(raw: str, offset: str | None, utc: bool, iso: str | None) -> None:
    assert iso_date(raw, offset, utc) == iso


def test_one_process_for_many_files(reader: MetadataReader, tmp_path: Path) -> None:
    paths = [save_jpeg(scene(i, (64, 48)), tmp_path / f"{i}.jpg") for i in range(5)]
    pids = set()
    for path in paths:
        assert reader.read(path).tags["File:FileType"] == "JPEG"
        pids.add(reader._tool._process.pid)
    assert len(pids) == 1


def test_staging_paths_and_times_are_not_kept(reader: MetadataReader, tmp_path: Path) -> None:
    path = save_jpeg(scene(2, (64, 48)), tmp_path / "secret-staging-name.jpg")
    tags = reader.read(path).tags
    text = json.dumps(tags)
    assert str(tmp_path) not in text and "secret-staging-name" not in text
    assert "System:FileModifyDate" not in tags and tags["System:FileSize"] == path.stat().st_size


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*" + b"\xff" * 200, b"\x00" * 4096],
    ids=["empty", "broken-exif", "zeros"],
)
def test_hostile_files_never_raise(reader: MetadataReader, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hostile.jpg"
    path.write_bytes(content)
    result = reader.read(path)
    assert "gps" not in result.fields
    assert result.notes, "a file exiftool cannot parse must leave a note"
    assert all(str(tmp_path) not in n for n in result.notes)
    # the process survives for the next file
    good = save_jpeg(scene(3, (64, 48)), tmp_path / "good.jpg")
    assert reader.read(good).tags["File:FileType"] == "JPEG"


def test_missing_file(reader: MetadataReader, tmp_path: Path) -> None:
    result = reader.read(tmp_path / "gone.jpg")
    assert result.tags is None and result.notes[0].startswith("metadata not read: exiftool:")
    assert str(tmp_path) not in result.notes[0]


def test_timeout_kills_and_restarts(tmp_path: Path) -> None:
    path = save_jpeg(scene(4, (64, 48)), tmp_path / "a.jpg")
    with MetadataReader() as reader:
        assert reader.version
        first_pid = reader._tool._process.pid
        reader._tool.timeout = 1e-9  # every read now misses its deadline
        result = reader.read(path)
        assert result.tags is None and "took longer" in result.notes[0]
        assert not reader._tool.running
        reader._tool.timeout = 30
        assert reader.read(path).tags["File:FileType"] == "JPEG"
        assert reader._tool._process.pid != first_pid


def test_output_cap(tmp_path: Path) -> None:
    path = save_jpeg(scene(5, (64, 48)), tmp_path / "a.jpg")
    with MetadataReader(max_output=100) as reader:
        reader.version  # start with a normal cap... the -ver answer is tiny
        result = reader.read(path)
        assert result.tags is None and "output over" in result.notes[0]


def test_exiftool_missing(tmp_path: Path) -> None:
    path = save_jpeg(scene(6, (64, 48)), tmp_path / "a.jpg")
    with MetadataReader(executable=str(tmp_path / "no-exiftool")) as reader:
        assert reader.version is None
        result = reader.read(path)
    assert result.tags is None and "not found" in result.notes[0]
