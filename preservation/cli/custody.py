"""Custody subcommands: verify, seal, ledger verify|list, export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kernel.errors import InputError
from kernel.replicas import PRIMARY
from preservation.cli.core import positive_int


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "verify",
        parents=[common],
        help="fixity audit: manifests, signatures, seals, every blob re-read",
    )
    p.add_argument("capture_id", nargs="?", help="one capture (default: needs --all)")
    p.add_argument("--all", action="store_true", help="every capture in the store")
    p.add_argument("--sample", type=positive_int, metavar="N", help="N captures chosen at random")
    p.add_argument(
        "--workers", type=positive_int, default=2, help="blob re-read threads (default 2)"
    )
    p.add_argument(
        "--no-retention", action="store_true", help="skip the S3 retention check of every object"
    )
    p.add_argument("--no-ledger", action="store_true", help="skip the custody ledger check")
    p.add_argument(
        "--replica",
        action="append",
        metavar="NAME",
        help="check only this replica besides the primary (default: every replica)",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="rewrite missing or damaged copies from a copy whose sha256 verifies",
    )
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("seal", parents=[common], help="RFC 3161 timestamps for unsealed captures")
    p.add_argument("--tsa", action="append", default=[], metavar="URL", help="instead of settings")
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        type=Path,
        metavar="PEM",
        help="add this TSA CA certificate to the installation's trusted roots first",
    )
    p.add_argument("--limit", type=positive_int, default=50_000, help="captures per batch")
    p.set_defaults(handler=cmd_seal)

    ledger = sub.add_parser("ledger", parents=[common], help="the custody ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", parser_class=type(ledger))
    p = lsub.add_parser("verify", parents=[common], help="check the hash chain and its mirror")
    p.set_defaults(handler=cmd_ledger_verify)
    p = lsub.add_parser("list", parents=[common], help="show ledger entries")
    p.add_argument("--subject", action="append", help="only entries about this id or key")
    p.add_argument("--limit", type=positive_int, help="only the last N")
    p.set_defaults(handler=cmd_ledger_list)
    ledger.set_defaults(handler=lambda args, app: _need_action(ledger))

    p = sub.add_parser("export", parents=[common], help="write a BagIt bag for handover")
    p.add_argument("out_dir", type=Path, help="a new directory")
    p.add_argument("--case", action="append", default=[], help="every capture of this case")
    p.add_argument("--capture", action="append", default=[], metavar="ID")
    p.add_argument("--replica", metavar="NAME", help="read the evidence from this replica")
    p.add_argument("--reason", default="", help="why the evidence is exported (in the ledger)")
    p.set_defaults(handler=cmd_export)


def _need_action(parser: argparse.ArgumentParser) -> int:
    raise InputError(f"{parser.prog}: choose an action (see --help)")


def _short(value: str | None, n: int = 16) -> str:
    return (value or "-")[:n]


# -- verify ---------------------------------------------------------------------------------
def cmd_verify(args: argparse.Namespace, app: Any) -> int:
    from preservation.custody.audit import run_audit
    from preservation.presentation import table

    chosen = sum(bool(x) for x in (args.capture_id, args.all, args.sample is not None))
    if chosen != 1:
        raise InputError("verify: give one CAPTURE_ID, or --all, or --sample N")
    rt = app.runtime
    for name in args.replica or []:
        rt.replica(name)  # an unknown name is bad input
    report = run_audit(
        rt,
        capture_id=args.capture_id,
        sample=args.sample,
        workers=args.workers,
        replicas=args.replica,
        retention=not args.no_retention,
        ledger=not args.no_ledger,
    )
    repairs: list[Any] = []
    left: list[str] = []
    if args.repair and not report.ok:
        from preservation.custody.repair import repair, unrepaired

        repairs = repair(rt, report)
        left = unrepaired(report, repairs)

    def human() -> None:
        rows = []
        for c in report.captures:
            sealed = c.seals[0]["times"][0][:19] if c.seals else "-"
            rows.append(
                [
                    c.capture_id,
                    _short(c.manifest_sha256),
                    len(c.artifacts),
                    "yes" if c.signed_by else "NO",
                    sealed,
                    "ok" if c.ok else "FAILED",
                ]
            )
        if rows:
            table(rows, ["CAPTURE", "MANIFEST SHA256", "FILES", "SIGNED", "SEALED", "STATUS"])
        for problem in report.problems:
            print(f"FAIL {problem}")
        for fix in repairs:
            where = f"{fix.key} on {fix.copy}"
            if fix.ok:
                print(
                    f"REPAIRED {where} from {fix.source}: {fix.note} "
                    f"(ledger entry {fix.ledger_seq})"
                )
            else:
                print(f"NOT REPAIRED {where}: {fix.error}")
        for name, copy in report.copies.items():
            if copy.pending:
                print(f"{name}: {copy.pending} object(s) still queued (not checked)")
        if report.retention is not None:
            copies = {PRIMARY: report.retention, **report.retention.get("replicas", {})}
            for name, found in copies.items():
                where = "" if name == PRIMARY else f" on {name}"
                print(
                    f"retention{where}: not checked: {found['skipped']}"
                    if found["skipped"]
                    else f"retention{where}: {found['checked']} object(s) checked"
                )
        if report.ledger is not None:
            state = "chain intact" if report.ledger["ok"] else "PROBLEMS (above)"
            print(f"ledger: {report.ledger['entries']} entries, {state}")
        verdict = "all verified" if report.ok else f"{len(report.problems)} problem(s)"
        if repairs:
            verdict += f", {sum(f.ok for f in repairs)} repaired, {len(left)} left"
        print(
            f"{report.scope}: {len(report.captures)} capture(s), {report.blobs} blob(s), "
            f"{report.bytes} bytes re-read: {verdict} (audit {report.audit_id}, "
            f"ledger entry {report.ledger_seq})"
        )

    data = report.as_dict()
    if args.repair:
        data["repairs"] = [fix.as_dict() for fix in repairs]
        data["unrepaired"] = left
    app.emit(data, human)
    if args.repair and not report.ok:
        return 0 if not left else 1
    return 0 if report.ok else 1


# -- seal -----------------------------------------------------------------------------------
def cmd_seal(args: argparse.Namespace, app: Any) -> int:
    from preservation.custody import tsa
    from preservation.custody.timestamps import seal

    for pem in args.trust:
        for fp in tsa.trust_root(app.settings, pem):
            app.warn(f"now trusting TSA root {fp[:16]}… from {pem}")
    urls = tsa.tsa_urls(app.settings, args.tsa)
    roots = tsa.trusted_roots(app.settings)
    outcome = seal(app.runtime, urls, roots, limit=args.limit)

    def human() -> None:
        for problem in outcome.skipped:
            print(f"not sealed: {problem}", file=sys.stderr)
        for failure in outcome.failures:
            print(f"warning: {failure}", file=sys.stderr)
        if not outcome.sealed:
            print("nothing to seal: every intact capture is sealed")
            return
        print(
            f"sealed {len(outcome.sealed)} capture(s) in batch {outcome.batch_id} "
            f"(root {_short(outcome.root)}…) by {', '.join(outcome.tsas)}"
        )

    app.emit(outcome.as_dict(), human)
    return 0 if outcome.ok else 1


# -- ledger ---------------------------------------------------------------------------------
def cmd_ledger_verify(args: argparse.Namespace, app: Any) -> int:
    from preservation.custody.ledger import verify_ledger
    from preservation.custody.timestamps import ledger_anchors

    rt = app.runtime
    report = verify_ledger(rt.store, rt.catalogue, ledger_anchors(rt.store))

    def human() -> None:
        for problem in report.problems:
            print(f"FAIL {problem}")
        if report.indexed:
            print(f"indexed {report.indexed} entry(ies) found only in the store")
        state = "chain intact" if report.ok else f"{len(report.problems)} problem(s)"
        print(
            f"ledger: {report.entries} entries, head {report.head_seq} "
            f"{_short(report.head_hash)}…: {state}"
        )

    app.emit(report.as_dict(), human)
    return 0 if report.ok else 1


def cmd_ledger_list(args: argparse.Namespace, app: Any) -> int:
    from preservation.presentation import table
    from preservation.queries import ledger_entries

    entries = ledger_entries(app.runtime, args.subject, args.limit)
    app.emit(
        entries,
        lambda: (
            table(
                [[e["seq"], e["at"][:19], e["event"], e["actor"], e["subject"]] for e in entries],
                ["SEQ", "AT", "EVENT", "ACTOR", "SUBJECT"],
            )
            if entries
            else print("the ledger is empty")
        ),
    )
    return 0


# -- export ---------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace, app: Any) -> int:
    from preservation.custody.export import export_bag

    rt = app.runtime
    source = rt.replica(args.replica).store if args.replica else None
    report = export_bag(
        rt, args.out_dir, args.case, args.capture, source=source, reason=args.reason
    )
    app.emit(
        report.as_dict(),
        lambda: print(
            f"wrote BagIt bag {report.bag}: {len(report.captures)} capture(s), "
            f"{report.files} file(s), {report.bytes} bytes (ledger entry {report.ledger_seq})"
        ),
    )
    return 0
