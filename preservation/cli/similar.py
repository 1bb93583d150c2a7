"""``witnessbox similar FILE|HASH``: near-duplicates of a picture, video or hash."""

from __future__ import annotations

import argparse
from typing import Any

from preservation.cli.core import bounded_int, positive_int


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "similar",
        parents=[common],
        help="find archived artifacts near a file or a perceptual hash",
        description=(
            "QUERY is a file (image, animation or video: hashed like at capture time) or a "
            "hash: ALGORITHM:HEX (phash, dhash, whash, colorhash, pdq), or bare hex (16 "
            "digits: phash, 64: pdq)."
        ),
    )
    p.add_argument("query", metavar="FILE|HASH")
    p.add_argument(
        "--max-distance",
        type=bounded_int(0, 256),
        help="Hamming distance for 64-bit hashes (default 8); for a PDQ hash query, PDQ's",
    )
    p.add_argument(
        "--pdq-max-distance",
        type=bounded_int(0, 256),
        help="Hamming distance for PDQ's 256 bits (default 31)",
    )
    p.add_argument(
        "--algorithm",
        action="append",
        choices=("phash", "dhash", "whash", "colorhash", "pdq"),
        help="hash a query file with these (repeatable; default phash and pdq)",
    )
    p.add_argument("--limit", type=positive_int, help="at most this many matches")
    p.set_defaults(handler=cmd_similar)


def cmd_similar(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue.live_index import LiveSimilarityIndex
    from preservation.catalogue.similarity import find_similar
    from preservation.presentation import table

    with app.runtime.catalogue.session() as session:
        matches = find_similar(
            session,
            args.query,
            args.max_distance,
            pdq_max_distance=args.pdq_max_distance,
            algorithms=args.algorithm,
            limit=args.limit or None,
            index=LiveSimilarityIndex(session),  # from the packed snapshot, not every row
        )
    rows = [m.as_dict() for m in matches]
    app.emit(
        rows,
        lambda: (
            table(
                [
                    [
                        f"{m.distance}/{m.bits}",
                        m.algorithm,
                        m.frame or "",
                        m.capture_id,
                        m.source_id,
                        m.artifact,
                        m.source_url,
                    ]
                    for m in matches
                ],
                ["DISTANCE", "ALGORITHM", "FRAME", "CAPTURE", "SOURCE", "ARTIFACT", "URL"],
            )
            if matches
            else print("no similar artifacts")
        ),
    )
    return 0
