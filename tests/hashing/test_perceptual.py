"""Image hashes: format, robustness table, animations, hostile input, the fast path."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from hashing.perceptual import (
    IMAGE_ALGORITHMS,
    MAX_ANIMATION_FRAMES,
    bits_to_hex,
    hamming,
    hash_image_file,
    phash_fast,
    phash_many,
)
from tests.support.hashing_media import brightened, cropped, resized, save_jpeg, scene

SEEDS = (0, 1, 2, 3)

# Expected Hamming distance ranges [low, high] from the original, per algorithm and variant.
# Measured on generated scenes (12 seeds) and widened by a margin; the bands say what each
# algorithm tolerates: pHash and friends shrug off scaling, recompression and brightness,
# 10 % cropping moves them a lot, and PDQ loses a cropped copy entirely at Meta's 31.
ROBUSTNESS = {
    "resized 50%": {"phash": (0, 2), "dhash": (0, 5), "whash": (0, 2), "colorhash": (0, 2), "pdq": (0, 10)},
    "recompressed q30": {"phash": (0, 4), "dhash": (0, 4), "whash": (0, 4), "colorhash": (0, 3), "pdq": (0, 12)},
    "brightness x1.2": {"phash": (0, 8), "dhash": (0, 6), "whash": (0, 6), "colorhash": (0, 3), "pdq": (0, 26)},
    "brightness x0.8": {"phash": (0, 4), "dhash": (0, 5), "whash": (0, 4), "colorhash": (0, 3), "pdq": (0, 8)},
    "cropped 10%": {"phash": (1, 16), "dhash": (1, 20), "whash": (1, 18), "colorhash": (0, 5), "pdq": (40, 128)},
    "unrelated": {"phash": (20, 64), "dhash": (18, 64), "whash": (18, 64), "colorhash": (2, 42), "pdq": (90, 256)},
}  # fmt: skip


def _variant(name: str, base: Image.Image, seed: int, path: Path) -> Path:
    if name == "recompressed q30":
        return save_jpeg(base, path, quality=30)
    img = {
        "resized 50%": lambda: resized(base, 0.5),
        "brightness x1.2": lambda: brightened(base, 1.2),
        "brightness x0.8": lambda: brightened(base, 0.8),
        "cropped 10%": lambda: cropped(base, 0.10),
        "unrelated": lambda: scene(seed + 1000),
    }[name]()
    return save_jpeg(img, path)


def _by_algorithm(path: Path) -> dict[str, str]:
    result = hash_image_file(path)
    assert not [n for n in result.notes if n.startswith("not hashable")], result.notes
    return {h["algorithm"]: h["value"] for h in result.hashes}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Image.Image, dict]]:
    d = tmp_path_factory.mktemp("orig")
    out = {}
    for seed in SEEDS:
        img = scene(seed)
        out[seed] = (img, _by_algorithm(save_jpeg(img, d / f"{seed}.jpg")))
    return out


@pytest.mark.parametrize("variant", list(ROBUSTNESS))
def test_robustness_table(variant: str, originals: dict, tmp_path: Path) -> None:
    for seed in SEEDS:
        base, hashes = originals[seed]
        other = _by_algorithm(_variant(variant, base, seed, tmp_path / f"{seed}.jpg"))
        for algorithm, (low, high) in ROBUSTNESS[variant].items():
            d = hamming(hashes[algorithm], other[algorithm])
            assert low <= d <= high, f"{variant}, seed {seed}: {algorithm} distance {d}"


def test_entries_are_self_describing(tmp_path: Path) -> None:
    path = save_jpeg(scene(7), tmp_path / "a.jpg")
    result = hash_image_file(path)
    assert [h["algorithm"] for h in result.hashes] == list(IMAGE_ALGORITHMS)
    bits = {h["algorithm"]: h["bits"] for h in result.hashes}
    assert bits == {"phash": 64, "dhash": 64, "whash": 64, "colorhash": 42, "pdq": 256}
    for h in result.hashes:
        assert len(h["value"]) == -(-h["bits"] // 4)
        assert h["value"] == h["value"].lower()
    libraries = {h["algorithm"]: h["library"] for h in result.hashes}
    assert libraries["phash"] == f"imagehash {imagehash.__version__}"
    assert libraries["pdq"].startswith("pdqhash 0.")
    pdq = result.hashes[-1]
    assert 50 <= pdq["quality"] <= 100 and pdq["low_quality"] is False


def test_hex_is_msb_first_and_matches_imagehash() -> None:
    assert bits_to_hex([1] + [0] * 63) == "8000000000000000"
    assert bits_to_hex([0] * 63 + [1]) == "0000000000000001"
    assert bits_to_hex([1, 0, 1]) == "5"  # 3 bits -> one digit, left-padded
    img = scene(3, (320, 240))
    for fn in (imagehash.phash, imagehash.dhash, imagehash.whash, imagehash.colorhash):
        h = fn(img)
        assert bits_to_hex(h.hash) == str(h)
        assert hamming(bits_to_hex(h.hash), str(fn(scene(4, (320, 240))))) == h - fn(
            scene(4, (320, 240))
        )


def test_pdq_hex_is_metas_canonical_order() -> None:
    # pdqhash returns bit 255 first; Meta's hex prints word 15 (bits 255..240) first.
    import pdqhash

    arr = np.asarray(scene(5, (256, 256)))
    vector, _ = pdqhash.compute(arr)
    words = [0] * 16
    for k in range(256):  # rebuild Meta's 16 words from the vector (vector[0] is bit 255)
        if vector[255 - k]:
            words[k >> 4] |= 1 << (k & 15)
    canonical = "".join(f"{w:04x}" for w in reversed(words))
    assert bits_to_hex(vector) == canonical


def test_animated_gif_frames_hashed_and_bounded(tmp_path: Path) -> None:
    frames = [scene(i, (160, 120)).convert("P") for i in range(40)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    result = hash_image_file(path)
    framed = [h for h in result.hashes if "frame" in h]
    labels = sorted({h["frame"] for h in framed}, key=lambda s: int(s[1:]))
    assert len(labels) == MAX_ANIMATION_FRAMES
    assert labels[0] == "#0" and labels[-1] == "#39"
    assert {h["algorithm"] for h in framed} == {"phash", "pdq"}
    unframed = [h["algorithm"] for h in result.hashes if "frame" not in h]
    assert unframed == list(IMAGE_ALGORITHMS)
    # different frames really are different pictures
    phashes = {h["frame"]: h["value"] for h in framed if h["algorithm"] == "phash"}
    assert hamming(phashes["#0"], phashes["#39"]) > 10


def test_animated_webp(tmp_path: Path) -> None:
    frames = [scene(i, (128, 96)) for i in range(5)]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    result = hash_image_file(path)
    assert {h["frame"] for h in result.hashes if "frame" in h} == {f"#{i}" for i in range(5)}


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    ("maker", "reason"),
    [
        (lambda p: p.write_bytes(b""), "not a recognised image"),
        (lambda p: p.write_bytes(b"plain text, not a picture\n" * 10), "not a recognised image"),
        (lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)), "not a recognised image"),
        (lambda p: _png_header_only(p, 60000, 60000), "too large"),
        (lambda p: _png_header_only(p, 640, 480), "corrupt image"),
    ],
    ids=["empty", "text", "noise", "decompression-bomb", "no-pixel-data"],
)
def test_unhashable_files_give_notes(tmp_path: Path, maker, reason: str) -> None:
    path = tmp_path / "bad.bin"
    maker(path)
    result = hash_image_file(path)
    assert result.hashes == []
    assert len(result.notes) == 1 and result.notes[0].startswith("not hashable: ")
    assert reason in result.notes[0]


def test_truncated_jpeg(tmp_path: Path) -> None:
    good = save_jpeg(scene(9), tmp_path / "good.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good.read_bytes()[:3000])
    result = hash_image_file(bad)
    assert result.hashes == [] and "corrupt image" in result.notes[0]
    assert phash_fast(bad) is None


def test_featureless_image_flags_low_quality_pdq(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("RGB", (300, 200), (120, 120, 120)).save(path)
    result = hash_image_file(path)
    pdq = next(h for h in result.hashes if h["algorithm"] == "pdq")
    assert pdq["quality"] < 50 and pdq["low_quality"] is True
    assert any("low_quality" in n for n in result.notes)


def test_large_png_reduced_but_close(tmp_path: Path) -> None:
    img = scene(11, (2400, 1800))
    path = tmp_path / "big.png"
    img.save(path)
    ours = {h["algorithm"]: h["value"] for h in hash_image_file(path).hashes}
    assert hamming(ours["phash"], str(imagehash.phash(img))) <= 2
    assert hamming(ours["dhash"], str(imagehash.dhash(img))) <= 4


def test_fast_path_within_two_bits(tmp_path: Path) -> None:
    paths = [save_jpeg(scene(100 + i), tmp_path / f"{i}.jpg") for i in range(12)]
    png = tmp_path / "x.png"
    scene(200, (400, 300)).save(png)
    paths.append(png)
    fast = [phash_fast(p) for p in paths]
    for path, value in zip(paths, fast, strict=True):
        reference = str(imagehash.phash(Image.open(path)))
        assert value is not None and hamming(value, reference) <= 2, path.name
    assert fast[-1] == str(imagehash.phash(Image.open(png)))  # no draft for PNG: identical
    pooled = phash_many([*paths, tmp_path / "missing.jpg"], workers=2, chunksize=2)
    assert pooled == [*fast, None]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    upright_img = scene(12, (400, 300))
    stored = upright_img.transpose(Image.Transpose.ROTATE_90)  # how a phone stores it ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with "rotate 90 CW to display"
    sideways = tmp_path / "sideways.jpg"
    stored.save(sideways, "JPEG", quality=92, exif=exif)
    repost = save_jpeg(upright_img, tmp_path / "repost.jpg", quality=80)
    a, b = _by_algorithm(sideways), _by_algorithm(repost)
    assert hamming(a["phash"], b["phash"]) <= 4 and hamming(a["pdq"], b["pdq"]) <= 16
    assert hamming(phash_fast(sideways), phash_fast(repost)) <= 4
    raw = str(imagehash.phash(Image.open(sideways)))  # ignoring orientation: far apart
    assert hamming(raw, b["phash"]) > 16
