"""One Telegram account, one run at a time.

Two clients on one session corrupt each other ("database is locked", or Telegram revokes the
key as AUTH_KEY_DUPLICATED when they come from two addresses). An advisory ``flock`` in
``WITNESSBOX_HOME/locks`` serialises api-mode runs on one machine; it dies with its process,
so a killed run never leaves it held. Across Airflow workers, a pool of one slot does the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kernel.errors import CollectionError

LOCK_NAME = "telegram-account.lock"


class AccountBusy(CollectionError):
    pass


@contextlib.contextmanager
def account_lock(
    home: Path,
    wait: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    path = Path(home) / "locks" / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = clock() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise AccountBusy(
                        "the Telegram account is in use by another run (waited "
                        f"{wait:.0f} s): the source will be retried"
                    ) from None
                sleep(min(1.0, max(wait, 0.05)))
        yield
    finally:
        os.close(fd)
