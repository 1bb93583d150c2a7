"""Pick the Store implementation from a store URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kernel.errors import ConfigError
from preservation.store.base import Store


def open_store(url: str, **s3_options: object) -> Store:
    """``file:///abs/path`` or a bare path → FileStore; ``s3://bucket[/prefix]`` → S3Store."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        from preservation.store.filesystem import FileStore

        path = parts.path if parts.scheme == "file" else url
        if parts.scheme == "file" and parts.netloc:
            raise ConfigError(f"file store URLs take an absolute path (file:///...): {url}")
        return FileStore(Path(path).expanduser())
    if parts.scheme == "s3":
        from preservation.store.s3 import S3Store

        if not parts.netloc:
            raise ConfigError(f"s3 store URL names no bucket: {url}")
        return S3Store(parts.netloc, prefix=parts.path.strip("/"), **s3_options)  # type: ignore[arg-type]
    raise ConfigError(f"unknown store URL scheme {parts.scheme!r}: use file:// or s3://")
