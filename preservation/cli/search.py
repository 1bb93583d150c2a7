"""``witnessbox search QUERY`` and ``witnessbox changes``: find text, see what changed."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.registry import KINDS
from kernel.errors import InputError
from kernel.ids import parse_time

_AGO = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str, now: datetime) -> datetime:
    """``1d``/``6h``/``2w`` ago, or an ISO date or time (UTC unless it says otherwise)."""
    spec = text.strip()
    match = _AGO.match(spec.lower())
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = parse_time(spec)
    except ValueError:
        raise InputError(f"bad date {text!r}: use 2026-05-01, 2026-05-01T12:00 or 1d, 6h") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search",
        parents=[common],
        help="full-text search over captured pages, messages, videos and subtitles",
        description=(
            'QUERY: words (all must match), "a phrase", prefix*, AND, OR, NOT (or -word), '
            "parentheses. Case and ё/е do not matter. Newest captures first."  # noqa: RUF001
        ),
    )
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--case")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--source", help="a source id")
    p.add_argument("--status", choices=("complete", "partial", "failed"))
    p.add_argument("--since", help="captured at or after (2026-05-01, or 7d ago)")
    p.add_argument("--until", help="captured before")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_search)

    c = sub.add_parser("changes", parents=[common], help="what changed or vanished, newest first")
    c.add_argument("--since", help="observed at or after (1d, 6h, or a date)")
    c.add_argument("--case")
    c.add_argument("--source", help="a source id")
    c.add_argument("--limit", type=int, default=200)
    c.set_defaults(handler=cmd_changes)

    r = sub.add_parser(
        "replay", parents=[common], help="replay a capture's WACZ in your browser (127.0.0.1)",
        description="Serves ReplayWeb.page and the capture's WACZ on 127.0.0.1 until Ctrl-C.",
    )  # fmt: skip
    r.add_argument("capture_id", metavar="CAPTURE")
    r.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    r.add_argument("--reason", default="replayed with witnessbox replay",
                   help="why you view this original (recorded in the custody ledger)")  # fmt: skip
    r.set_defaults(handler=cmd_replay)


def _mark(snippet: str, marks: list[tuple[int, int]]) -> str:
    tty = sys.stdout.isatty()
    before, after = ("\033[1;7m", "\033[0m") if tty else ("[", "]")
    out, pos = [], 0
    for start, end in marks:
        out += [snippet[pos:start], before, snippet[start:end], after]
        pos = end
    return "".join([*out, snippet[pos:]])


def cmd_search(args: argparse.Namespace, app: Any) -> int:
    from preservation.search.index import Filters, search

    now = app.runtime.clock()
    filters = Filters(
        case=args.case, kind=args.kind, source=args.source, status=args.status,
        since=parse_moment(args.since, now) if args.since else None,
        until=parse_moment(args.until, now) if args.until else None,
    )  # fmt: skip
    with app.runtime.catalogue.session() as session:
        hits = search(session, args.query, filters, limit=args.limit)

    def human() -> None:
        if not hits:
            print("no matches")
        for hit in hits:
            where = f"{hit.field} {hit.item}" if hit.item and hit.field != "page" else hit.field
            version = f" v{hit.version}" if hit.version and hit.version > 1 else ""
            date = (hit.posted_at or hit.captured_at)[:19]
            print(f"{hit.capture_id}  {hit.captured_at[:19]}  {hit.kind}  {hit.source_id}  "
                  f"{where}{version}  posted {date}  {hit.status}")  # fmt: skip
            print(f"    {hit.source_url}")
            print(f"    {_mark(hit.snippet, hit.marks)}")

    app.emit([h.as_dict() for h in hits], human)
    return 0


def cmd_changes(args: argparse.Namespace, app: Any) -> int:
    from preservation.presentation import table
    from preservation.search.changes import list_changes

    if not 1 <= args.limit <= 10000:
        raise InputError("--limit must be between 1 and 10000")
    since = parse_moment(args.since, app.runtime.clock()) if args.since else None
    with app.runtime.catalogue.session() as session:
        rows = list_changes(session, since=since, case=args.case, source=args.source,
                            limit=args.limit)  # fmt: skip
    app.emit(
        rows,
        lambda: table(
            [[r["at"][:19], r["kind"] + (" !" if r["alert"] else ""), r["source_id"],
              r["item"] or "", r["capture_id"], r["summary"][:100]] for r in rows],
            ["AT", "KIND", "SOURCE", "ITEM", "CAPTURE", "WHAT"],
        ) if rows else print("no changes"),
    )  # fmt: skip
    return 0


def cmd_replay(args: argparse.Namespace, app: Any) -> int:
    from preservation.replay.core import find_wacz
    from preservation.replay.server import ReplayServer

    if not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    rt = app.runtime
    target = find_wacz(rt.catalogue, rt.store, args.capture_id)
    try:
        server = ReplayServer(rt.store, target, port=args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    from preservation.custody.access import record_access
    from preservation.custody.ledger import actor_of

    # a replay reads an original for a person: one `accessed` entry, before anything is shown
    try:
        record_access(rt, actor_of(rt), target.capture_id, target.artifact, args.reason,
                      extra={"replay": server.url})  # fmt: skip
    except BaseException:
        server.httpd.server_close()  # never served: nothing to shut down
        raise
    app.emit({"url": server.url, "capture_id": target.capture_id, "page": target.url},
             lambda: print(f"replaying {target.url} ({target.capture_id}) at {server.url}\n"
                           "open it in a browser; Ctrl-C stops", flush=True))  # fmt: skip
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
