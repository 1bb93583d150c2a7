"""``witnessbox staging list|commit ID|set-aside ID``: captures a killed run left behind."""

from __future__ import annotations

import argparse
from typing import Any

from kernel.errors import InputError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    staging = sub.add_parser(
        "staging", parents=[common], help="interrupted captures left in staging"
    )
    ssub = staging.add_subparsers(
        dest="staging_command", metavar="ACTION", parser_class=type(staging)
    )
    p = ssub.add_parser("list", parents=[common], help="staged files no run will commit")
    p.set_defaults(handler=cmd_list)
    p = ssub.add_parser(
        "commit", parents=[common], help="commit one as a partial capture (collection interrupted)"
    )
    p.add_argument("capture_id")
    p.add_argument("--source", help="the source it belongs to, when staging does not say")
    p.set_defaults(handler=cmd_commit)
    p = ssub.add_parser("set-aside", parents=[common], help="move one out of the way (kept)")
    p.add_argument("capture_id")
    p.set_defaults(handler=cmd_set_aside)
    staging.set_defaults(handler=_need_action)


def _need_action(args: argparse.Namespace, app: Any) -> int:
    raise InputError("witnessbox staging: choose an action (see --help)")


def cmd_list(args: argparse.Namespace, app: Any) -> int:
    from preservation.presentation import table
    from preservation.staging import sweep

    leftovers = sweep(app.runtime)
    app.emit(
        [x.as_dict() for x in leftovers],
        lambda: table(
            [
                [x.capture_id, x.files, x.bytes, x.last_write.isoformat()[:19], x.source_id or "?"]
                for x in leftovers
            ],
            ["CAPTURE", "FILES", "BYTES", "LAST WRITE", "SOURCE"],
        )
        if leftovers
        else print("nothing interrupted in staging"),
    )
    return 0


def _source_snapshot(app: Any, source_id: str | None, leftover: Any) -> dict[str, Any]:
    from preservation.catalogue.views import source_snapshot
    from preservation.catalogue.watchlist import get_source

    if source_id is None:
        if leftover.source_id is None:
            raise InputError(
                f"staging {leftover.capture_id} does not say which source it is for: "
                "give --source SOURCE_ID"
            )
        return {}
    with app.runtime.catalogue.session() as session:
        return source_snapshot(get_source(session, source_id))


def cmd_commit(args: argparse.Namespace, app: Any) -> int:
    from preservation.pipeline import commit_pending
    from preservation.runtime import file_lock
    from preservation.staging import find, prepare_commit

    rt = app.runtime
    leftover = find(rt, args.capture_id)
    if args.source and leftover.source_id and args.source != leftover.source_id:
        raise InputError(
            f"staging {leftover.capture_id} belongs to source {leftover.source_id}, "
            f"not {args.source}"
        )
    source = _source_snapshot(app, args.source if not leftover.source_id else None, leftover)
    with file_lock(leftover.path.with_suffix(".lock"), blocking=False) as locked:
        if not locked:
            raise InputError(f"{leftover.capture_id} is being written by a run right now")
        outcome = commit_pending(rt, prepare_commit(rt, leftover, source))
    leftover.path.with_suffix(".lock").unlink(missing_ok=True)

    def human() -> None:
        print(f"{outcome.capture_id}  {outcome.status}  {outcome.artifacts} artifact(s)")
        for reason in outcome.reasons:
            print(f"  {reason}")

    app.emit(outcome.as_dict(), human)
    return 0


def cmd_set_aside(args: argparse.Namespace, app: Any) -> int:
    from preservation.runtime import file_lock
    from preservation.staging import find, set_aside

    rt = app.runtime
    leftover = find(rt, args.capture_id)
    with file_lock(leftover.path.with_suffix(".lock"), blocking=False) as locked:
        if not locked:
            raise InputError(f"{leftover.capture_id} is being written by a run right now")
        target = set_aside(rt, leftover)
    app.emit(
        {"capture_id": leftover.capture_id, "moved_to": str(target)},
        lambda: print(f"{leftover.capture_id} set aside in {target} (kept, never committed)"),
    )
    return 0
