"""Bundled sample sources for the demo, each served locally so the demo needs no internet.

A sample module defines ``start(workdir: Path) -> Sample``; list it in ``SAMPLES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SAMPLES: tuple[str, ...] = ("demo.samples.web", "demo.samples.video", "demo.samples.telegram")


@dataclass
class Sample:
    name: str
    kind: str
    url: str
    stop: Callable[[], None]
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # settings the sample needs (local endpoints)
