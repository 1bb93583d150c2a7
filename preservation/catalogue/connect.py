"""Opening a catalogue URL: the driver it means, and one clear line when it cannot work.

A database that is down, a wrong password or a missing driver is bad configuration, not a
bug: the operator sees one line naming the server (never the password) and the first line
of the driver's own reason, and the command exits non-zero without a traceback.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from kernel.errors import ConfigError

#: ``postgresql://`` (and ``postgres://``, as Heroku-style URLs spell it) use psycopg2,
#: the driver witnessbox installs.
DRIVERS = {"postgresql": "postgresql+psycopg2", "postgres": "postgresql+psycopg2"}


def normalise(url: str) -> str:
    """The URL with the installed driver named, if it named none."""
    scheme, sep, rest = url.partition("://")
    return f"{DRIVERS.get(scheme, scheme)}{sep}{rest}" if sep else url


def where(url: str | URL) -> str:
    """The catalogue as safe to print: the SQLite path, or server:port/database."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(unparsable URL)"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def reason(exc: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's wrapping."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(exc, NoSuchModuleError):
        return f"no driver installed for it ({exc})"
    for line in str(inner).splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("FATAL:").strip()
    return type(inner).__name__


def config_error(url: str | URL, exc: BaseException, doing: str = "open") -> ConfigError:
    return ConfigError(f"cannot {doing} catalogue {where(url)}: {reason(exc)}")
