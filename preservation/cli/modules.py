"""Optional subcommand modules; each defines ``register(subparsers, common)``.

A module adds its parser(s) with ``set_defaults(handler=fn)``; a handler takes
``(args, app)`` and returns an exit code. ``app`` is the CLI's ``App`` (settings, lazy
runtime, output helpers).
"""

MODULES: tuple[str, ...] = (
    "collectors.telegram.login",
    "preservation.cli.similar",
    "preservation.cli.custody",
    "preservation.cli.replicas",
    "preservation.cli.search",
    "preservation.cli.staging",
)
