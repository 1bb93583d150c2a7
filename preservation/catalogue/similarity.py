"""Near-duplicate search over every perceptual hash in the catalogue, and linking.

``find_similar`` answers "where else in the archive is this picture or video?": the query
is a file (hashed here with the same algorithms as at capture time) or a hash
(``algorithm:hex``, or bare hex: 16 digits read as pHash, 64 as PDQ). Each hash is looked up
by exact Hamming distance in an in-memory ``HammingIndex`` of that algorithm's rows, and
hits are joined to their artifacts, captures and sources. Distances only compare within
one algorithm: ``max_distance`` bounds the 64-bit hashes and ``pdq_max_distance`` (Meta's
31 by default) PDQ's 256 bits.

``link_near_duplicates`` records what it finds as ``SimilarLink`` rows: linked, never
merged, each artifact stays its own evidence. Low-quality PDQ hashes (and the pHash of the
same frame) are not linked on: featureless images would link to each other.

A ``SimilarityIndex`` is a snapshot of the table, loaded per algorithm on first use; pass
one to several calls (e.g. every artifact of a capture, after its hash rows are flushed)
to load the table once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from hashing.index import HammingIndex, hex_to_words
from kernel.errors import InputError
from preservation.catalogue.models import Artifact, Capture, Catalogue, PerceptualHash, SimilarLink

DEFAULT_MAX_DISTANCE = 8
PDQ_MAX_DISTANCE = 31
QUERY_ALGORITHMS: tuple[str, ...] = ("phash", "pdq")
LINK_ALGORITHMS: tuple[str, ...] = ("phash", "pdq")
KNOWN_BITS = {"phash": 64, "dhash": 64, "whash": 64, "colorhash": 42, "pdq": 256}
_HASH = re.compile(r"^(?:(?P<algorithm>[a-z0-9_-]+):)?(?P<value>[0-9a-fA-F]+)$")


@dataclass(frozen=True)
class QueryHash:
    algorithm: str
    bits: int
    value: str
    frame: str | None = None
    quality: int | None = None
    low_quality: bool = False

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> QueryHash:
        return cls(
            entry["algorithm"],
            int(entry["bits"]),
            entry["value"],
            entry.get("frame"),
            entry.get("quality"),
            bool(entry.get("low_quality")),
        )


@dataclass(frozen=True)
class Match:
    """One archived artifact near the query, by one algorithm (its best frame)."""

    algorithm: str
    distance: int
    bits: int
    sha256: str
    artifact_id: int
    artifact: str
    role: str
    media_type: str
    capture_id: str
    source_id: str
    source_url: str
    captured_at: datetime
    frame: str | None  # the archived hash's frame (video keyframe, animation frame)
    query_frame: str | None  # the query hash's frame, when the query is a video

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["captured_at"] = self.captured_at.isoformat()
        return data


def parse_hash(text: str) -> QueryHash:
    """``algorithm:hex`` or bare hex (16 digits: phash, 64 digits: pdq)."""
    m = _HASH.match(text.strip())
    if not m:
        raise InputError(f"not a file or a hash: {text!r}")
    value = m["value"].lower()
    algorithm = m["algorithm"]
    if algorithm is None:
        algorithm = {16: "phash", 64: "pdq"}.get(len(value), "")
        if not algorithm:
            raise InputError(
                f"cannot tell the algorithm of a {len(value)}-digit hash: write ALGORITHM:HEX"
            )
    bits = KNOWN_BITS.get(algorithm)
    if bits is None:
        raise InputError(f"unknown hash algorithm {algorithm!r} (known: {', '.join(KNOWN_BITS)})")
    if len(value) != -(-bits // 4):
        raise InputError(f"a {algorithm} hash has {-(-bits // 4)} hex digits, not {len(value)}")
    return QueryHash(algorithm, bits, value)


def hash_query_file(path: Path, algorithms: Sequence[str]) -> list[QueryHash]:
    """The same hashes as capture time gives this file (images, animations, videos)."""
    from hashing.enrich import sniff

    kind = sniff(path)
    if kind == "video":
        from hashing.video import hash_video

        result = hash_video(path)
    else:
        from hashing.perceptual import IMAGE_ALGORITHMS, hash_image_file

        result = hash_image_file(path, [a for a in IMAGE_ALGORITHMS if a in algorithms])
    hashes = [QueryHash.from_entry(h) for h in result.hashes if h["algorithm"] in algorithms]
    if not hashes:
        reason = "; ".join(result.notes) or "no hash for the requested algorithms"
        raise InputError(f"{path.name}: {reason}")
    return hashes


def query_hashes(
    query: Path | str, algorithms: Sequence[str] | None = None
) -> tuple[list[QueryHash], bool]:
    """(hashes, is_file) for a query file or hash string."""
    if isinstance(query, Path) or os.path.exists(query):
        path = Path(query)
        if not path.is_file():
            raise InputError(f"not a file: {path}")
        return hash_query_file(path, algorithms or QUERY_ALGORITHMS), True
    parsed = parse_hash(str(query))
    if algorithms and parsed.algorithm not in algorithms:
        raise InputError(f"the hash is {parsed.algorithm}, not one of {', '.join(algorithms)}")
    return [parsed], False


#: The columns a table holds of each hash row, in this order.
HASH_COLUMNS = (
    PerceptualHash.sha256,
    PerceptualHash.value,
    PerceptualHash.frame,
    PerceptualHash.quality,
)
#: What a search yields per stored hash: (sha256, frame, distance, quality or -1).
Hit = tuple[str, str | None, int, int]


@dataclass
class HashTable:
    """The hashes of one algorithm as arrays: a ``HammingIndex`` and what each row names."""

    index: HammingIndex
    sha256: np.ndarray  # object array, one per row
    frame: np.ndarray
    quality: np.ndarray

    @classmethod
    def build(cls, rows: Sequence[Sequence[Any]], bits: int) -> HashTable | None:
        """A table of ``HASH_COLUMNS`` rows; None when there are none."""
        if not rows:
            return None
        shas, values, frames, qualities = zip(*rows, strict=True)
        return cls(
            HammingIndex(hex_to_words(values, bits), bits),
            np.array(shas, dtype=object),
            np.array(frames, dtype=object),
            np.array([-1 if q is None else q for q in qualities], dtype=np.int64),
        )

    def hits(self, rows: Iterable[int], distances: Iterable[int]) -> list[Hit]:
        return [
            (self.sha256[r], self.frame[r], int(d), int(self.quality[r]))
            for r, d in zip(rows, distances, strict=True)
        ]


class SimilarityIndex:
    """Per-algorithm ``HammingIndex`` over the catalogue's perceptual hashes (a snapshot)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._tables: dict[tuple[str, int], HashTable | None] = {}

    def table(self, algorithm: str, bits: int) -> HashTable | None:
        key = (algorithm, bits)
        if key not in self._tables:
            rows = self.session.execute(
                select(*HASH_COLUMNS).where(
                    PerceptualHash.algorithm == algorithm, PerceptualHash.bits == bits
                )
            ).all()
            self._tables[key] = HashTable.build(rows, bits)
        return self._tables[key]

    def search(self, q: QueryHash, max_distance: int) -> list[Hit]:
        """Every stored hash of ``q``'s algorithm within ``max_distance`` of it."""
        table = self.table(q.algorithm, q.bits)
        if table is None:
            return []
        return table.hits(*table.index.search(q.value, max_distance))


def _limit_for(
    q: QueryHash, is_file: bool, max_distance: int | None, pdq_max_distance: int | None
) -> int:
    if q.bits > 64:
        if pdq_max_distance is not None:
            return pdq_max_distance
        if not is_file and max_distance is not None:
            return max_distance
        return PDQ_MAX_DISTANCE
    return DEFAULT_MAX_DISTANCE if max_distance is None else max_distance


def _session_of(session_or_catalogue: Session | Catalogue) -> tuple[Session, bool]:
    if isinstance(session_or_catalogue, Catalogue):
        return session_or_catalogue.session(), True
    return session_or_catalogue, False


def find_similar(
    session_or_catalogue: Session | Catalogue,
    query: Path | str,
    max_distance: int | None = None,
    *,
    pdq_max_distance: int | None = None,
    algorithms: Sequence[str] | None = None,
    limit: int | None = None,
    index: SimilarityIndex | None = None,
) -> list[Match]:
    """Archived artifacts near ``query`` (a file, or a hash string), nearest first.

    One ``Match`` per artifact, capture and algorithm, with the best distance over the
    query's hashes and the stored frames. Raises ``InputError`` for a query that is neither
    a hashable file nor a well-formed hash.
    """
    if max_distance is not None and max_distance < 0:
        raise InputError("--max-distance must be 0 or more")
    hashes, is_file = query_hashes(query, algorithms)
    session, owned = _session_of(session_or_catalogue)
    try:
        index = index or SimilarityIndex(session)
        best: dict[tuple[str, str], tuple[int, int, str | None, str | None]] = {}
        for q in hashes:
            reach = _limit_for(q, is_file, max_distance, pdq_max_distance)
            for sha, frame, distance, _quality in index.search(q, reach):
                key = (sha, q.algorithm)
                if key not in best or distance < best[key][0]:
                    best[key] = (distance, q.bits, frame, q.frame)
        matches = _join(session, best)
    finally:
        if owned:
            session.close()
    matches.sort(key=lambda m: (m.distance / m.bits, m.algorithm, m.captured_at, m.artifact_id))
    return matches[:limit] if limit else matches


def _join(
    session: Session, best: dict[tuple[str, str], tuple[int, int, str | None, str | None]]
) -> list[Match]:
    shas = sorted({sha for sha, _ in best})
    by_sha: dict[str, list[tuple[Artifact, Capture]]] = {}
    for start in range(0, len(shas), 500):
        rows = session.execute(
            select(Artifact, Capture)
            .join(Capture, Artifact.capture_id == Capture.id)
            .where(Artifact.sha256.in_(shas[start : start + 500]))
        ).all()
        for artifact, capture in rows:
            by_sha.setdefault(artifact.sha256, []).append((artifact, capture))
    matches = []
    for (sha, algorithm), (distance, bits, frame, query_frame) in best.items():
        for artifact, capture in by_sha.get(sha, []):
            matches.append(
                Match(
                    algorithm=algorithm,
                    distance=distance,
                    bits=bits,
                    sha256=sha,
                    artifact_id=artifact.id,
                    artifact=artifact.name,
                    role=artifact.role,
                    media_type=artifact.media_type,
                    capture_id=capture.id,
                    source_id=capture.source_id,
                    source_url=capture.source_url,
                    captured_at=capture.started_at,
                    frame=frame,
                    query_frame=query_frame,
                )
            )
    return matches


def _linkable(hashes: Iterable[dict[str, Any]], algorithms: Sequence[str]) -> list[QueryHash]:
    entries = [QueryHash.from_entry(h) for h in hashes]
    flat_frames = {h.frame for h in entries if h.algorithm == "pdq" and h.low_quality}
    return [
        h
        for h in entries
        if h.algorithm in algorithms and not h.low_quality and h.frame not in flat_frames
    ]


def link_near_duplicates(
    session: Session,
    sha256: str,
    hashes: Iterable[dict[str, Any]],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    *,
    pdq_max_distance: int = PDQ_MAX_DISTANCE,
    algorithms: Sequence[str] = LINK_ALGORITHMS,
    index: SimilarityIndex | None = None,
    now: datetime | None = None,
) -> int:
    """Write a ``SimilarLink`` from ``sha256`` to each other artifact within reach.

    ``hashes`` are the artifact's manifest entries. Links are stored once per pair and
    algorithm (``a_sha256 < b_sha256``) with the smallest distance seen. Returns the number
    of new links; the caller commits.
    """
    index = index or SimilarityIndex(session)
    now = now or datetime.now(UTC)
    found: dict[tuple[str, str], int] = {}
    for q in _linkable(hashes, algorithms):
        reach = pdq_max_distance if q.bits > 64 else max_distance
        for other, _frame, distance, quality in index.search(q, reach):
            if other == sha256 or (q.algorithm == "pdq" and 0 <= quality < 50):
                continue
            key = (other, q.algorithm)
            found[key] = min(distance, found.get(key, distance))
    created = 0
    for (other, algorithm), distance in sorted(found.items()):
        a, b = sorted((sha256, other))
        link = session.get(SimilarLink, (a, b, algorithm))
        if link is None:
            session.add(
                SimilarLink(
                    a_sha256=a, b_sha256=b, algorithm=algorithm, distance=distance, found_at=now
                )
            )
            created += 1
        elif distance < link.distance:
            link.distance = distance
    session.flush()
    return created


def links_of(session: Session, sha256: str) -> list[dict[str, Any]]:
    """The near-duplicate links of one artifact, nearest first."""
    rows = session.scalars(
        select(SimilarLink).where(
            (SimilarLink.a_sha256 == sha256) | (SimilarLink.b_sha256 == sha256)
        )
    ).all()
    out = [
        {
            "sha256": r.b_sha256 if r.a_sha256 == sha256 else r.a_sha256,
            "algorithm": r.algorithm,
            "distance": r.distance,
            "found_at": r.found_at.isoformat(),
        }
        for r in rows
    ]
    return sorted(out, key=lambda d: (d["distance"], d["algorithm"], d["sha256"]))


def link_artifacts(
    session: Session,
    artifacts: Iterable[dict[str, Any]],
    now: datetime | None = None,
    index: SimilarityIndex | None = None,
    **options: Any,
) -> int:
    """``link_near_duplicates`` for every manifest artifact entry with perceptual hashes.

    Call after the capture's ``PerceptualHash`` rows are added (the session autoflushes
    them), so near-duplicates within the capture link too. One index serves them all.
    """
    entries = [a for a in artifacts if a.get("perceptual")]
    if not entries:
        return 0
    session.flush()
    index = index or SimilarityIndex(session)
    return sum(
        link_near_duplicates(session, a["sha256"], a["perceptual"], index=index, now=now, **options)
        for a in entries
    )
