"""Core subcommands: init, watch, capture, run, captures, show, reindex."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from collectors.registry import KINDS, tick_warning
from collectors.registry import parse_pairs as parse_options
from kernel.errors import InputError
from preservation.presentation import CAPTURE_FACTS, STATUSES

#: ``captures`` lists the newest 50 unless told (--limit N, --all; --before ID: the next page)
DEFAULT_CAPTURES_LIMIT = 50


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create the home, catalogue and store")
    p.set_defaults(handler=cmd_init)

    watch = sub.add_parser("watch", parents=[common], help="manage the watchlist")
    wsub = watch.add_subparsers(dest="watch_command", metavar="ACTION", parser_class=type(watch))
    p = wsub.add_parser("add", parents=[common], help="watch a new source")
    p.add_argument("url")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--every", help="schedule: 30m, 6h, 1d, 1h30m (default depends on kind)")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.add_argument("--case", help="investigation id")
    p.add_argument("--note")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="collector option, e.g. pdf=true, mode=preview (list: witnessbox watch options)",
    )
    p.set_defaults(handler=cmd_watch_add)
    p = wsub.add_parser("list", parents=[common], help="list watched sources")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--case")
    p.add_argument("--all", action="store_true", help="include removed sources")
    p.set_defaults(handler=cmd_watch_list)
    for action, helptext in (
        ("show", "show one source"),
        ("pause", "stop collecting for now"),
        ("resume", "collect again"),
        ("remove", "stop collecting for good (captures stay)"),
    ):
        p = wsub.add_parser(action, parents=[common], help=helptext)
        p.add_argument("id")
        p.set_defaults(handler=cmd_watch_state, action=action)
    p = wsub.add_parser("import", parents=[common], help="add sources from JSON, CSV or a URL list")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_watch_import)
    p = wsub.add_parser("export", parents=[common], help="write the watchlist as JSON")
    p.add_argument("file", help="path, or - for standard output")
    p.set_defaults(handler=cmd_watch_export)
    p = wsub.add_parser("options", parents=[common], help="the --option keys each kind takes")
    p.add_argument("--kind", choices=KINDS)
    p.set_defaults(handler=cmd_watch_options)
    watch.set_defaults(handler=lambda args, app: _need_action(watch))

    p = sub.add_parser("capture", parents=[common], help="capture one URL now")
    p.add_argument("url")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("--case")
    p.add_argument("--note")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(handler=cmd_capture)

    p = sub.add_parser("run", parents=[common], help="collect every due source once")
    p.add_argument("--source", help="only this source (even if not due)")
    p.add_argument("--kind", choices=KINDS)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("captures", parents=[common], help="list captures")
    p.add_argument("--source")
    p.add_argument("--case")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=positive_int, default=DEFAULT_CAPTURES_LIMIT,
                   help=f"at most N, newest first (default {DEFAULT_CAPTURES_LIMIT})")
    p.add_argument("--all", action="store_true", help="every capture, however many")
    p.add_argument("--before", metavar="CAPTURE_ID",
                   help="only captures older than this one (the next page)")
    p.set_defaults(handler=cmd_captures)

    p = sub.add_parser("show", parents=[common], help="show one capture and its artifacts")
    p.add_argument("capture_id")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("reindex", parents=[common], help="rebuild the catalogue from the store")
    p.add_argument("--wipe", action="store_true", help="drop the capture index first")
    p.set_defaults(handler=cmd_reindex)


def bounded_int(low: int, high: int | None = None) -> Any:
    """An argparse type: a whole number from ``low`` to ``high``, refused otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            allowed = f"{low} or more" if high is None else f"{low} to {high}"
            raise argparse.ArgumentTypeError(f"{text} is not allowed: give {allowed}")
        return value

    return parse


positive_int = bounded_int(1)


def _need_action(parser: argparse.ArgumentParser) -> int:
    raise InputError(f"{parser.prog}: choose an action (see --help)")


def _entry(args: argparse.Namespace, rt: Any, every: str | None = None) -> Any:
    """The watchlist entry ``watch add`` and ``capture`` describe (checked, not stored)."""
    from preservation.catalogue import watchlist

    return watchlist.validate_entry(
        args.url,
        rt.policy,
        kind=args.kind,
        every=every,
        tags=args.tag,
        case=args.case,
        note=args.note,
        options=parse_options(args.option),
    )


# -- init -----------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace, app: Any) -> int:
    from preservation.setup import initialise

    facts = initialise(app.settings)
    app.emit(facts, lambda: [print(f"{k}: {v}") for k, v in facts.items()])
    if str(facts.get("retention", "")).startswith("NONE"):
        app.warn(f"retention: {facts['retention']}")
    return 0


# -- watch ----------------------------------------------------------------------------------
def cmd_watch_add(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist

    rt = app.runtime
    spec = _entry(args, rt, every=args.every)
    source = watchlist.add_source(rt.catalogue, spec, app.settings.operator, rt.clock())
    warning = tick_warning(spec.kind, spec.schedule_seconds)
    if warning:
        app.warn(warning)
    data = watchlist.source_dict(source)
    app.emit(
        data, lambda: print(f"{source.id}  {source.kind}  {source.url}  every {data['every']}")
    )
    return 0


def _source_rows(sources: list[Any]) -> list[list[Any]]:
    from preservation.catalogue import watchlist

    rows = []
    for s in sources:
        d = watchlist.source_dict(s)
        state = "removed" if d["removed_at"] else ("active" if d["active"] else "paused")
        rows.append(
            [
                d["id"],
                d["kind"],
                state,
                d["every"],
                d["case"] or "",
                ",".join(d["tags"]),
                d["last_status"] or "-",
                d["url"],
            ]
        )
    return rows


def cmd_watch_list(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist
    from preservation.presentation import table

    sources = watchlist.list_sources(app.runtime.catalogue, args.kind, args.case, args.all)
    app.emit(
        [watchlist.source_dict(s) for s in sources],
        lambda: (
            table(
                _source_rows(sources),
                ["ID", "KIND", "STATE", "EVERY", "CASE", "TAGS", "LAST", "URL"],
            )
            if sources
            else print("the watchlist is empty: witnessbox watch add URL")
        ),
    )
    return 0


def cmd_watch_state(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist

    rt = app.runtime
    if args.action == "show":
        with rt.catalogue.session() as session:
            source = watchlist.get_source(session, args.id)
        data = watchlist.source_dict(source)
        data["captures"] = watchlist.capture_count(rt.catalogue, source.id)
        app.emit(data, lambda: [print(f"{k}: {v}") for k, v in data.items()])
        return 0
    if args.action == "remove":
        source = watchlist.set_state(rt.catalogue, args.id, active=False, removed_at=rt.clock())
    else:
        source = watchlist.set_state(rt.catalogue, args.id, active=args.action == "resume")
    data = watchlist.source_dict(source)
    word = {"pause": "paused", "resume": "resumed", "remove": "removed (its captures are kept)"}[
        args.action
    ]
    app.emit(data, lambda: print(f"{source.id} {word}"))
    return 0


def cmd_watch_import(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist
    from preservation.catalogue.importing import import_sources

    rt = app.runtime
    report = import_sources(
        rt.catalogue, args.file, rt.policy, app.settings.operator, rt.clock()
    )
    data = {
        "added": [watchlist.source_dict(s) for s in report.added],
        "skipped": [{"url": u, "existing_id": i} for u, i in report.skipped],
    }

    def human() -> None:
        print(f"added {len(report.added)} source(s), skipped {len(report.skipped)} already watched")
        for url, existing in report.skipped:
            print(f"  skipped {url} (already {existing})")

    app.emit(data, human)
    return 0


def cmd_watch_options(args: argparse.Namespace, app: Any) -> int:
    """The declared options (no home, catalogue or store needed)."""
    from collectors.registry import describe_options

    kinds = [args.kind] if args.kind else list(KINDS)
    data = {kind: describe_options(kind) for kind in kinds}

    def human() -> None:
        for kind, options in data.items():
            print(f"{kind}:")
            for o in options:
                print(f"  {o['name']}  {o['allowed']} (default {o['default']}): {o['help']}")

    app.emit(data, human)
    return 0


def cmd_watch_export(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist

    data = (
        json.dumps(watchlist.export_sources(app.runtime.catalogue), indent=2, ensure_ascii=False)
        + "\n"
    )
    if args.file == "-":
        sys.stdout.write(data)
        return 0
    out = Path(args.file).expanduser()
    if out.exists():
        raise InputError(f"{out} exists: choose a new file name")
    try:
        out.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    if not app.json:
        print(f"wrote {out}")
    return 0


# -- capture / run --------------------------------------------------------------------------
def _print_outcome(outcome: Any) -> None:
    o = outcome
    print(f"{o.capture_id}  {o.status}  {o.artifacts} artifact(s)  {o.source_id}")
    for reason in outcome.reasons:
        print(f"  {reason}", file=sys.stderr)


def cmd_capture(args: argparse.Namespace, app: Any) -> int:
    from preservation.catalogue import watchlist
    from preservation.catalogue.models import Source
    from preservation.pipeline import resume_pending
    from preservation.runner import capture_source

    rt = app.runtime
    spec = _entry(args, rt)
    resume_pending(rt)
    with rt.catalogue.session.begin() as session:
        source = watchlist.find_source(session, spec.kind, spec.url)
        if source is None:  # a one-off capture: recorded as a paused watchlist entry
            source = watchlist.insert_source(
                session, spec, app.settings.operator, rt.clock(), active=False
            )
        elif spec.options:
            source.options = {**(source.options or {}), **dict(spec.options)}
    with rt.catalogue.session() as session:
        source = session.get(Source, source.id)
    outcome = capture_source(rt, source)
    app.emit(outcome.as_dict(), lambda: _print_outcome(outcome))
    return 1 if outcome.status == "failed" else 0


def cmd_run(args: argparse.Namespace, app: Any) -> int:
    from preservation.runner import run_due

    outcomes, errors = run_due(app.runtime, kind=args.kind, source_id=args.source)

    def human() -> None:
        if not outcomes and not errors:
            print("nothing due")
        for outcome in outcomes:
            _print_outcome(outcome)
        for source_id, message in errors:
            print(f"{source_id}: {message}", file=sys.stderr)

    app.emit(
        {
            "captures": [o.as_dict() for o in outcomes],
            "errors": [{"source_id": s, "error": m} for s, m in errors],
        },
        human,
    )
    failed = errors or any(o.status == "failed" for o in outcomes)
    return 1 if failed else 0


# -- captures / show ------------------------------------------------------------------------
def cmd_captures(args: argparse.Namespace, app: Any) -> int:
    from preservation.presentation import table
    from preservation.queries import list_captures

    limit = None if args.all else args.limit
    rows = list_captures(
        app.runtime.catalogue,
        source=args.source,
        case=args.case,
        status=args.status,
        limit=limit,
        before=args.before,
    )

    def human() -> None:
        if not rows:
            print("no captures" if args.before else "no captures yet")
            return
        table(
            [
                [r["id"], r["finished_at"][:19], r["status"], len(r["artifacts"]),
                 r["source_id"], r["url"]]
                for r in rows
            ],
            ["CAPTURE", "FINISHED", "STATUS", "FILES", "SOURCE", "URL"],
        )
        if limit and len(rows) == limit:  # there may be more: say how to page on
            print(f"(the {limit} newest shown; older ones: --before {rows[-1]['id']}, or --all)",
                  file=sys.stderr)

    app.emit(rows, human)
    return 0


def cmd_show(args: argparse.Namespace, app: Any) -> int:
    from preservation.formats import manifest as manifests
    from preservation.queries import custody_trail, get_capture

    rt = app.runtime
    data = get_capture(rt.catalogue, args.capture_id)
    data["manifest"] = manifests.parse(rt.store.read_bytes(data["manifest_key"]))
    data["custody"] = custody_trail(rt, data)

    def human() -> None:
        for key in CAPTURE_FACTS:
            print(f"{key}: {data[key]}")
        for reason in data["reasons"]:
            print(f"reason: {reason}")
        print("artifacts:")
        for a in data["artifacts"]:
            print(f"  {a['role']:<12} {a['size']:>12}  {a['sha256']}  {a['name']}")
        print("custody:")
        for e in data["custody"]:
            why = e["data"].get("reason") or e["data"].get("result") or ""
            print(f"  {e['seq']:>6}  {e['at']}  {e['event']:<12} {e['actor']}  {why}".rstrip())

    app.emit(data, human)
    return 0


def cmd_reindex(args: argparse.Namespace, app: Any) -> int:
    from preservation.reindex import reindex

    rt = app.runtime
    report = reindex(rt.store, rt.catalogue, rt.clock(), wipe=args.wipe)
    data = {
        "manifests": report.manifests,
        "indexed": report.indexed,
        "already_indexed": report.already,
        "near_duplicate_links": report.links,
        "problems": [str(p) for p in report.problems],
    }

    def human() -> None:
        print(
            f"{report.manifests} manifest(s): {report.indexed} indexed, "
            f"{report.already} already indexed, {report.links} near-duplicate link(s)"
        )
        for problem in report.problems:
            print(f"problem: {problem}", file=sys.stderr)

    app.emit(data, human)
    return 0 if report.ok else 1
