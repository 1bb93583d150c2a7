"""One error tree for witnessbox.

Every failure a user can meet is a ``WitnessboxError`` carrying its exit code, so the CLI
prints one line and exits; backends translate their own exceptions at the boundary::

    WitnessboxError (exit 1)
    ├── InputError (exit 2)          bad URL, unknown id, refused address, bad option
    │   └── PolicyError              the network policy refused an address
    ├── ConfigError (exit 2)         settings that cannot work
    ├── CollectionError (exit 1)     a collector could not capture
    ├── StorageError (exit 1)        the store is down, refused or returned something wrong
    │   ├── MissingObjectError       the store answered: nothing at this key
    │   └── ObjectExistsError        put-if-absent found a different object at the key
    └── IntegrityError (exit 1)      fixity, signature or chain failures, with ``details``
"""

from __future__ import annotations

from dataclasses import dataclass


class WitnessboxError(Exception):
    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class InputError(WitnessboxError):
    exit_code = 2


class PolicyError(InputError):
    """An address the network policy refuses (private, loopback, link-local, metadata)."""


class ConfigError(WitnessboxError):
    exit_code = 2


class CollectionError(WitnessboxError):
    exit_code = 1


class StorageError(WitnessboxError):
    exit_code = 1


class MissingObjectError(StorageError):
    """The store answered that no object has this key (not: the store could not be asked).

    Only this is evidence that something is gone; any other ``StorageError`` on a read is an
    outage or a refusal, to be retried, never reported as damage.
    """


class ObjectExistsError(StorageError):
    """A write-once key already holds different bytes: evidence is never overwritten."""


@dataclass(frozen=True)
class Problem:
    """One finding of a verification: what failed, on which object, and why."""

    kind: str  # e.g. "digest-mismatch", "missing-object", "bad-signature"
    subject: str  # the object key, capture id or ledger sequence
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail}


class Findings:
    """The base of every check's report (audit, ledger, seal, reindex): ``ok`` means no
    problem was found, and problems print the same way in every report's JSON."""

    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem_dicts(self) -> list[dict[str, str]]:
        return [p.as_dict() for p in self.problems]


class IntegrityError(WitnessboxError):
    exit_code = 1

    def __init__(self, message: str, details: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.details = list(details or [])


def read_problem(key: str, exc: StorageError, what: str | None = None) -> Problem:
    """A failed read as a finding: ``missing-object`` only when the store said so.

    Any other storage error (network down, timeout, access denied) is ``unreadable``:
    the object may be intact, so the check must be retried, not taken as damage.
    """
    if isinstance(exc, MissingObjectError):
        return Problem("missing-object", key, str(exc) if what is None else what)
    return Problem("unreadable", key, str(exc) if what is None else f"{what}: {exc}")

