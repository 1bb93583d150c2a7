"""Describe an artifact for its manifest entry: perceptual hashes and embedded metadata.

The pipeline opens one ``Enricher`` per capture (so exiftool runs as one persistent
process for all its media) and asks it to ``describe`` every artifact. Whatever cannot be
hashed or read is recorded with the reason, never raised.

What is visual is decided by the declared media type, and by the file's first bytes when
the type says nothing (``application/octet-stream``): images get every image hash
(animations also per-frame hashes), videos keyframe hashes, and images, videos, audio and
PDFs their exiftool metadata. Archives, pages and JSON get neither. The imaging libraries
(numpy, scipy, PyAV) load on first use, not when the pipeline imports this module.

Descriptions run concurrently where they can: ``submit`` describes in a background thread
(PyAV decodes and exiftool runs outside the GIL), so the pipeline stores one artifact while
the next is hashed; and a video's exiftool read runs while its keyframes are decoded. The
one exiftool process serves one request at a time (its own single-thread executor).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashing.metadata import MetadataReader, ReaderPool
from kernel.closing import Closing

log = logging.getLogger(__name__)

UNTYPED = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
#: Image types Pillow cannot rasterise: recorded as not hashable rather than attempted.
NOT_RASTER = {"image/svg+xml"}
#: ISO-BMFF brands of still images (HEIF, AVIF): not videos.
STILL_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


@dataclass
class Description:
    perceptual: list[dict[str, Any]] = field(default_factory=list)  # algorithm, bits, value, ...
    metadata: dict[str, Any] = field(default_factory=dict)  # normalised: gps, device, dates
    full_tags: dict[str, Any] | None = None  # exiftool's whole tag set, kept as its own artifact
    notes: list[str] = field(default_factory=list)  # e.g. "not hashable: corrupt JPEG"


def sniff(path: Path) -> str | None:
    """"image", "video" or None from a file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return None
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")):
        return "image"
    if head.startswith((b"II*\x00", b"MM\x00*")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in STILL_BRANDS else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3") or (head[:4] == b"RIFF" and head[8:12] == b"AVI "):
        return "video"
    return None


def visual_kind(path: Path, media_type: str) -> str | None:
    mt = media_type.split(";")[0].strip().lower()
    if mt.startswith("image/"):
        return "image"
    if mt.startswith("video/"):
        return "video"
    if mt in UNTYPED:
        return sniff(path)
    return None


def wants_metadata(kind: str | None, media_type: str) -> bool:
    mt = media_type.split(";")[0].strip().lower()
    return kind is not None or mt.startswith("audio/") or mt == "application/pdf"


class Enricher(Closing):
    """Describes artifacts. Use as a context manager around one capture's artifacts."""

    def __init__(
        self,
        metadata: MetadataReader | None = None,
        workers: int = 2,
        readers: ReaderPool | None = None,
    ) -> None:
        """``readers``: borrow a warm exiftool from this pool (given back on ``close``)
        instead of starting one's own."""
        self._readers = readers if metadata is None else None
        if metadata is not None:
            self._reader = metadata
        elif readers is not None:
            self._reader = readers.borrow()
        else:
            self._reader = MetadataReader()
        # threads start on first use: descriptions (``submit``), and the exiftool process,
        # which takes one request at a time
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="describe")
        self._exif = ThreadPoolExecutor(1, thread_name_prefix="exiftool")

    def close(self) -> None:
        """Finish what was submitted, then stop helper threads and processes."""
        self._pool.shutdown(wait=True)
        self._exif.shutdown(wait=True)
        if self._readers is not None:
            self._readers.give_back(self._reader)
        else:
            self._reader.close()

    def submit(self, path: Path, media_type: str, role: str) -> Future[Description]:
        """``describe`` in a background thread; the result (never an exception) later."""
        return self._pool.submit(self.describe, path, media_type, role)

    def _read_metadata(self, path: Path) -> Future[Any]:
        return self._exif.submit(self._reader.read, path)

    def tools(self) -> dict[str, str]:
        """Versions of the tools used, for the manifest."""
        import av
        import imagehash
        import pdqhash

        versions = {
            "imagehash": imagehash.__version__,
            "pdqhash": pdqhash.__version__,
            "pyav": av.__version__,
            "libavcodec": _libav_version(),
        }
        exiftool = self._exif.submit(lambda: self._reader.version).result()  # its thread
        if exiftool:
            versions["exiftool"] = exiftool
        return versions

    def describe(self, path: Path, media_type: str, role: str) -> Description:
        description = Description()
        try:
            self._describe(Path(path), media_type, description)
        except Exception as exc:  # a bug here must not cost the capture
            log.exception("describing %s failed", path)
            description.notes.append(f"not described: {type(exc).__name__}: {exc}")
        return description

    def _describe(self, path: Path, media_type: str, out: Description) -> None:
        kind = visual_kind(path, media_type)
        mt = media_type.split(";")[0].strip().lower()
        # exiftool reads while the hashes are computed (it is another process)
        metadata = self._read_metadata(path) if wants_metadata(kind, media_type) else None
        if kind == "image" and mt in NOT_RASTER:
            out.notes.append(f"not hashable: vector image ({mt})")
        elif kind == "image":
            from hashing.perceptual import hash_image_file

            result = hash_image_file(path)
            out.perceptual.extend(result.hashes)
            out.notes.extend(result.notes)
        elif kind == "video":
            from hashing.video import hash_video

            result = hash_video(path)
            out.perceptual.extend(result.hashes)
            out.notes.extend(result.notes)
        if metadata is not None:
            meta = metadata.result()
            out.metadata.update(meta.fields)
            out.full_tags = meta.tags
            out.notes.extend(meta.notes)


def _libav_version() -> str:
    import av

    try:
        version = av.library_versions["libavcodec"]
        return ".".join(str(v) for v in version)
    except Exception:
        return "unknown"
