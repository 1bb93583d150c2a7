"""The ``witnessbox`` command line: the same pipeline the DAGs run, without Airflow.

Errors print one line (``error: ...``) and exit 2 for bad input, 1 for failed captures
or verification; tracebacks only with ``--debug``. ``--json`` output is stable for scripts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from sqlalchemy.exc import DBAPIError

from kernel import __version__
from kernel.errors import InputError, WitnessboxError
from preservation.catalogue import connect

Handler = Callable[[argparse.Namespace, "App"], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message}")


class App:
    """Per-invocation state: settings, a lazily opened runtime, and output helpers."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kernel.settings import load_settings

        self.args = args
        self.settings = load_settings(home_override(args))
        self._runtime: Any = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from preservation.runtime import open_runtime

            self._runtime = open_runtime(
                self.settings,
                run_context={
                    "via": "cli",
                    "user": self.settings.operator,
                    "command": getattr(self.args, "command", ""),
                },
                progress=self.progress,
            )
        return self._runtime

    def progress(self, message: str) -> None:
        if not self.json and sys.stderr.isatty():
            print(f"… {message}", file=sys.stderr, flush=True)

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        if self.json or human is None:
            print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        else:
            human()

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def home_override(args: argparse.Namespace) -> dict[str, str] | None:
    if getattr(args, "home", None):
        env = dict(os.environ)
        env["WITNESSBOX_HOME"] = args.home
        return env
    return None


def build_parser() -> ArgumentParser:
    from preservation.cli import core
    from preservation.cli.modules import MODULES

    common = ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's copy of these options must not reset what came before it
    quiet = argparse.SUPPRESS
    common.add_argument("--json", action="store_true", default=quiet, help="JSON output")
    common.add_argument("--debug", action="store_true", default=quiet, help="show tracebacks")
    common.add_argument("--home", default=quiet, help="WITNESSBOX_HOME for this command")
    parser = ArgumentParser(
        prog="witnessbox",
        description="Collect and preserve open-source evidence with its provenance.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"witnessbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    core.register(sub, common)
    for name in MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    app: App | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        app = App(args)
        return int(args.handler(args, app) or 0)
    except WitnessboxError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except DBAPIError as exc:  # the catalogue's server went away mid-command
        if debug:
            raise
        print(f"error: catalogue failed: {connect.reason(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        print(
            f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1
    finally:
        if app is not None:
            app.close()


if __name__ == "__main__":
    sys.exit(main())
