"""Perceptual hashes of images: pHash, dHash, wHash, colour hash (imagehash) and PDQ.

Every hash is a plain dict, the form stored in manifests and the catalogue::

    {"algorithm": "phash", "bits": 64, "value": "c3d1...", "library": "imagehash 4.3.2"}

``value`` is unambiguous on purpose (imagehash changed its hex format once): the hash's
bit string read as one big-endian integer, the first bit of the hash being the most
significant, written as lowercase hex left-padded to ``ceil(bits / 4)`` digits. For
imagehash 4.x that equals ``str(hash)``; for PDQ it equals Meta's canonical hex. PDQ
entries add ``quality`` (0-100) and ``low_quality`` (quality < 50: too featureless to
match on, per Meta's guidance). Frames of animations and videos add ``frame``.

Images are hashed as displayed (EXIF orientation applied), from one *working image*:
JPEGs are decoded with DCT scaling (``Image.draft``) and other formats box-reduced by an
integer factor, as long as the shorter side stays at least ``WORKING_MIN`` pixels; PDQ is
fed that image box-scaled to fit ``PDQ_MAX_SIDE`` (its cost grows steeply with size; the
hash barely moves). Within those bounds the values are what the libraries give on the
full image, give or take a bit or two.

Nothing here raises on bad input: corrupt, truncated, oversized or non-visual files give a
note ``"not hashable: <reason>"`` and no hashes.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGEHASH_LIBRARY = f"imagehash {imagehash.__version__}"
PDQ_LIBRARY = f"pdqhash {pdqhash.__version__}"
IMAGE_ALGORITHMS: tuple[str, ...] = ("phash", "dhash", "whash", "colorhash", "pdq")
FRAME_ALGORITHMS: tuple[str, ...] = ("phash", "pdq")
PDQ_LOW_QUALITY = 50
#: The shorter side of the working image never drops below this (unless the image is smaller).
WORKING_MIN = 512
PDQ_MAX_SIDE = 256
#: Animated images: frames hashed at most, and pixels decoded at most while seeking to them.
MAX_ANIMATION_FRAMES = 16
MAX_ANIMATION_PIXELS = 1_000_000_000
#: The fast pHash path decodes JPEGs at 1/2, 1/4 or 1/8 scale, keeping both sides >= this
#: (1024x768 -> 128x96). pHash looks at 32x32 pixels; on 1,000 generated 1024x768 JPEGs
#: every hash was within 2 bits of a full decode's (93 % identical) at 3-5x the speed.
FAST_DRAFT_MIN = 64
ORIENTATION = 0x0112  # EXIF tag


@dataclass
class HashResult:
    hashes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class NotHashable(Exception):
    """Internal: the reason a file yields no hash (becomes a note, never escapes)."""


# -- hex ------------------------------------------------------------------------------------
def bits_to_hex(bits: np.ndarray | Sequence[bool]) -> str:
    """Big-endian hex of a bit string (first bit most significant), ``ceil(n/4)`` digits."""
    flat = np.asarray(bits, dtype=bool).ravel()
    if flat.size == 0:
        raise ValueError("empty hash")
    value = int("".join("1" if b else "0" for b in flat), 2)
    return f"{value:0{math.ceil(flat.size / 4)}x}"


def hamming(a: str, b: str) -> int:
    """Hamming distance between two hex values of the same algorithm and length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def entry(algorithm: str, bits: np.ndarray, library: str, **extra: Any) -> dict[str, Any]:
    flat = np.asarray(bits, dtype=bool).ravel()
    out: dict[str, Any] = {
        "algorithm": algorithm,
        "bits": int(flat.size),
        "value": bits_to_hex(flat),
        "library": library,
    }
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


# -- decoding ------------------------------------------------------------------------------
def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, NotHashable):
        return str(exc)
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return "image too large (decompression bomb guard)"
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image"
    if isinstance(exc, OSError | SyntaxError | ValueError | EOFError):
        return f"corrupt image ({str(exc) or type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def open_image(path: str | Path, draft_min: int = WORKING_MIN, mode: str = "RGB") -> Image.Image:
    """Open with the bomb guard on; JPEGs get DCT-scaled decoding down to ``draft_min``.

    Pillow only warns between ``MAX_IMAGE_PIXELS`` and twice that; here the warning is an
    error too, so an oversized image is refused before any pixel is decoded.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(path)
        try:
            if img.format == "JPEG" and draft_min:
                img.draft(mode, (draft_min, draft_min))
        except Exception:
            img.close()
            raise
    return img


def upright(img: Image.Image) -> Image.Image:
    """The image as viewers show it: EXIF orientation applied (a phone photo stored
    sideways and its re-posted, physically rotated copy must hash alike)."""
    orientation = img.getexif().get(ORIENTATION, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(img)
    return img


def _working(img: Image.Image) -> Image.Image:
    """Load ``img`` (current frame) upright as RGB, box-reduced while its shorter side stays
    at least ``WORKING_MIN``."""
    factor = min(img.size) // WORKING_MIN
    img.load()
    if factor >= 2 and img.format != "JPEG":
        img = img.reduce(factor)
    img = upright(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def _pdq_input(img: Image.Image) -> np.ndarray:
    """RGB pixels for pdqhash; a greyscale (luma) image is repeated over three channels,
    which pdqhash's luma weights (summing to 1) turn back into the same luma."""
    w, h = img.size
    scale = PDQ_MAX_SIDE / max(w, h)
    if scale < 1:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX)
    if img.mode == "L":
        return np.repeat(np.asarray(img, dtype=np.uint8)[:, :, None], 3, axis=2)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def pdq_entry(img: Image.Image, frame: str | None = None) -> dict[str, Any]:
    vector, quality = pdqhash.compute(_pdq_input(img))
    return entry(
        "pdq",
        vector,
        PDQ_LIBRARY,
        quality=int(quality),
        low_quality=bool(quality < PDQ_LOW_QUALITY),
        frame=frame,
    )


def hash_pil(
    rgb: Image.Image, algorithms: Iterable[str] = IMAGE_ALGORITHMS, frame: str | None = None
) -> list[dict[str, Any]]:
    """Hashes of a loaded image, in the order of ``algorithms``.

    RGB for every algorithm; a greyscale (L) image suffices for pHash, dHash, wHash and PDQ,
    which only look at luma.
    """
    out: list[dict[str, Any]] = []
    for algorithm in algorithms:
        if algorithm == "pdq":
            out.append(pdq_entry(rgb, frame))
            continue
        fn = {
            "phash": imagehash.phash,
            "dhash": imagehash.dhash,
            "whash": imagehash.whash,
            "colorhash": imagehash.colorhash,
        }[algorithm]
        out.append(entry(algorithm, fn(rgb).hash, IMAGEHASH_LIBRARY, frame=frame))
    return out


def _frame_indices(n_frames: int, limit: int, frame_pixels: int) -> tuple[list[int], bool]:
    """Evenly spread frame indices; truncated where seeking would decode too many pixels."""
    reachable = max(1, min(n_frames, MAX_ANIMATION_PIXELS // max(frame_pixels, 1)))
    count = min(limit, reachable)
    indices = sorted({round(i * (reachable - 1) / max(count - 1, 1)) for i in range(count)})
    return indices, reachable < n_frames


def hash_image_file(
    path: str | Path,
    algorithms: Sequence[str] = IMAGE_ALGORITHMS,
    max_frames: int = MAX_ANIMATION_FRAMES,
) -> HashResult:
    """All image hashes of a file; animations also get pHash and PDQ per sampled frame."""
    result = HashResult()
    try:
        with open_image(path) as img:
            n_frames = int(getattr(img, "n_frames", 1) or 1)
            result.hashes.extend(hash_pil(_working(img), algorithms))
            if n_frames > 1:
                frame_algorithms = [a for a in FRAME_ALGORITHMS if a in algorithms]
                indices, truncated = _frame_indices(n_frames, max_frames, img.size[0] * img.size[1])
                if truncated:
                    result.notes.append(
                        f"animation: frames after #{indices[-1]} of {n_frames} not hashed "
                        "(decoding budget)"
                    )
                for index in indices:
                    img.seek(index)
                    rgb = img.convert("RGB")
                    result.hashes.extend(hash_pil(rgb, frame_algorithms, frame=f"#{index}"))
    except Exception as exc:  # evidence files are hostile input: a note, never a crash
        result.hashes.clear()
        result.notes.append(f"not hashable: {_describe_error(exc)}")
        return result
    for h in result.hashes:
        if h.get("low_quality") and h.get("frame") is None:
            result.notes.append(f"pdq quality {h['quality']} < {PDQ_LOW_QUALITY}: low_quality")
    return result


# -- the fast pHash path -------------------------------------------------------------------
def phash_fast(path: str | Path) -> str | None:
    """pHash hex of one image, decoding JPEGs at reduced scale in greyscale; None if unhashable.

    Within a bit or two of ``imagehash.phash(Image.open(path))`` (pHash resizes to 32x32
    anyway; DCT-domain scaling only skips work the resize would throw away).
    """
    try:
        with open_image(path, draft_min=FAST_DRAFT_MIN, mode="L") as img:
            return bits_to_hex(imagehash.phash(upright(img)).hash)
    except Exception:
        return None


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver: forking a threaded parent (Airflow workers, Playwright) can deadlock
    return multiprocessing.get_context("forkserver")


def phash_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool for ``phash_many``, for callers hashing batch after batch."""
    workers = workers or os.cpu_count() or 1
    return ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())


def phash_many(
    paths: Sequence[str | Path],
    workers: int | None = None,
    chunksize: int = 32,
    pool: ProcessPoolExecutor | None = None,
) -> list[str | None]:
    """``phash_fast`` over many files on a process pool (one process per core by default).

    Small batches run in this process: starting workers would cost more than it saves.
    """
    names = [str(p) for p in paths]
    if pool is not None:
        return list(pool.map(phash_fast, names, chunksize=chunksize))
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(paths) < 2 * chunksize:
        return [phash_fast(p) for p in names]
    with phash_pool(workers) as new_pool:
        return list(new_pool.map(phash_fast, names, chunksize=chunksize))
