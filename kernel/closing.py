"""``Closing``: the one ``with`` protocol for objects that hold a process or a browser."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """Use as ``with obj:``; ``close()`` runs on the way out, error or not."""

    def close(self) -> None:
        """Release what the object holds (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
