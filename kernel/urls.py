"""URL normalisation for the watchlist (which kind a URL is: ``collectors.registry``).

Normalising makes duplicates visible (``HTTP://Example.com:443/a#x`` and
``https://example.com/a`` are one source when the scheme matches). It never changes what
would be fetched: only case of scheme and host, default ports, empty paths and fragments.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from kernel.errors import ConfigError, InputError

MAX_URL_LENGTH = 4096

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _normalise_host(host: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InputError(f"invalid host name: {host!r}") from None
    if ascii_host.startswith("[") or ":" in ascii_host:
        return ascii_host
    labels = ascii_host.rstrip(".").split(".")
    if not all(_HOST_LABEL.match(label) or label == "_" for label in labels):
        raise InputError(f"invalid host name: {host!r}")
    return ".".join(labels)


def normalise_url(value: str) -> str:
    """A web URL in canonical spelling; ``InputError`` with one line when it cannot be one."""
    text = value.strip()
    if not text:
        raise InputError("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InputError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise InputError("URL contains spaces or control characters")
    if "://" not in text:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", text) and not re.match(r"^[^:/]+:\d+", text):
            raise InputError(
                f"unsupported URL scheme: {text.split(':', 1)[0]!r} (http or https only)"
            )
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"unsupported URL scheme: {scheme!r} (http or https only)")
    if parts.username is not None or parts.password is not None:
        raise InputError("URLs with credentials are refused: they would end up in manifests")
    if not parts.hostname:
        raise InputError(f"URL has no host: {value!r}")
    host = _normalise_host(parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    # non-ASCII in path and query is percent-encoded as browsers send it; existing escapes stay
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return urlunsplit(SplitResult(scheme, netloc, path, query, ""))


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def normal_origin(url: str) -> str:
    """``scheme://host[:port]`` of a replay origin setting; ``ConfigError`` if it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"replay_origin must be http(s)://host[:port], not {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"replay_origin must be an origin without a path: {url!r}")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise ConfigError(f"replay_origin has a bad port: {url!r}") from None
    host = parts.hostname.lower()
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"
