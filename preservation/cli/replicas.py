"""Replica and access subcommands: ``replicas status|sync`` and ``get``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kernel.errors import InputError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    replicas = sub.add_parser("replicas", parents=[common], help="copies beside the primary")
    rsub = replicas.add_subparsers(
        dest="replicas_command", metavar="ACTION", parser_class=type(replicas)
    )
    p = rsub.add_parser("status", parents=[common], help="objects behind, oldest missing, checks")
    p.set_defaults(handler=cmd_status)
    p = rsub.add_parser("sync", parents=[common], help="copy what the replicas still lack")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these replicas")
    p.add_argument(
        "--full", action="store_true", help="first compare listings and queue anything missing"
    )
    p.set_defaults(handler=cmd_sync)
    p = rsub.add_parser(
        "rotate-kek", parents=[common],
        help="an encrypted replica takes the new WITNESSBOX_KEK (the old one in "
             "WITNESSBOX_KEK_PREVIOUS)",
    )  # fmt: skip
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_rotate_kek)
    replicas.set_defaults(handler=_need_action(replicas))

    p = sub.add_parser(
        "get", parents=[common], help="write a working copy of one original (logged access)"
    )
    p.add_argument("capture_id")
    p.add_argument("artifact", help="artifact name, key or sha256")
    p.add_argument("out", type=Path, help="a new file (never overwritten)")
    p.add_argument("--reason", default="", help="why you read it (required; in the ledger)")
    p.add_argument("--replica", metavar="NAME", help="read from this replica instead")
    p.set_defaults(handler=cmd_get)


def _need_action(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace, app: Any) -> int:
        raise InputError(f"{parser.prog}: choose an action (see --help)")

    return handler


def _when(value: Any) -> str:
    return str(value)[:19] if value else "-"


def cmd_status(args: argparse.Namespace, app: Any) -> int:
    from preservation.presentation import table
    from preservation.replication import status

    rows = status(app.runtime)

    def human() -> None:
        if not rows:
            print("no replicas configured ([[replicas]] in witnessbox.toml)")
            return
        table(
            [
                [
                    r["name"],
                    r["url"],
                    r["encryption"] or r["server_side_encryption"] or "-",
                    r["behind"],
                    r["oldest_missing"] or "-",
                    _when(r["last_sync_at"]),
                    _when(r["last_check_at"])
                    + (
                        ""
                        if r["last_check_ok"] is None
                        else (" ok" if r["last_check_ok"] else " FAILED")
                    ),
                ]
                for r in rows
            ],
            ["REPLICA", "URL", "ENCRYPTION", "BEHIND", "OLDEST MISSING", "LAST SYNC", "LAST CHECK"],
        )
        for r in rows:
            if r["last_error"]:
                print(f"{r['name']}: {r['last_error']}")

    app.emit(rows, human)
    return 0


def cmd_sync(args: argparse.Namespace, app: Any) -> int:
    from preservation.replication import reconcile, status

    rt = app.runtime
    for name in args.names:
        rt.replica(name)
    if not rt.replicas:
        raise InputError("no replicas configured ([[replicas]] in witnessbox.toml)")
    queued = reconcile(rt, args.names or None) if args.full else {}
    result = rt.replicator.drain(args.names or None, force=True)
    rows = {r["name"]: r for r in status(rt)}
    out = [
        {
            "name": name,
            "queued": queued.get(name, 0),
            "copied": outcome["copied"],
            "behind": rows[name]["behind"],
            "error": outcome["error"],
        }
        for name, outcome in result.items()
    ]

    def human() -> None:
        for r in out:
            line = f"{r['name']}: copied {r['copied']}, {r['behind']} behind"
            print(line + (f": {r['error']}" if r["error"] else ""))

    app.emit(out, human)
    return 1 if any(r["behind"] for r in out) else 0


def cmd_rotate_kek(args: argparse.Namespace, app: Any) -> int:
    """Record, write-once on the replica and in the ledger, that a new key writes there."""
    from kernel.ids import isoformat
    from preservation.custody.ledger import actor_of, ledger_for

    rt = app.runtime
    replica = rt.replica(args.name)
    if not getattr(replica.store, "encrypted", False):
        raise InputError(f"replica {args.name} is not encrypted by witnessbox (encrypt = true)")
    now = rt.clock()
    done = replica.store.rotate(isoformat(now), actor_of(rt))
    if done["changed"]:
        ledger_for(rt).append("kek-rotated", f"replica:{args.name}", actor_of(rt),
                              {"replica": args.name, "kek_id": done["kek_id"],
                               "previous": done["previous"]}, now)  # fmt: skip

    def human() -> None:
        new = str(done["kek_id"])[:16]
        if not done["changed"]:
            print(f"{args.name}: already takes key {new}; nothing to do")
            return
        print(f"{args.name}: new objects are encrypted under key {new} (was "
              f"{str(done['previous'])[:16]}); keep the old key in WITNESSBOX_KEK_PREVIOUS "
              "to read what it encrypted")  # fmt: skip

    app.emit({"replica": args.name, **done}, human)
    return 0


def cmd_get(args: argparse.Namespace, app: Any) -> int:
    from preservation.custody.access import get_original
    from preservation.custody.ledger import actor_of

    if not args.reason.strip():
        raise InputError("get: --reason is required: say why you read this original")
    rt = app.runtime
    result = get_original(
        rt,
        args.capture_id,
        args.artifact,
        args.out,
        args.reason,
        actor=actor_of(rt),
        copy=args.replica,
    )
    app.emit(
        result,
        lambda: print(
            f"wrote {result['out']} ({result['size']} bytes, sha256 {result['sha256'][:16]}… "
            f"verified, from {result['copy']}); access logged as ledger entry "
            f"{result['ledger_seq']}"
        ),
    )
    return 0
