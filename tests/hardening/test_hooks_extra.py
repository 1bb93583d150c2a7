"""A connection's extra that is not a JSON object is no extra, never a crash later."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from witnessbox_airflow.hooks import _extra


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"region": "eu"}', {"region": "eu"}), ("[1, 2]", {}), ("5", {}), ("not json", {}),
    ("", {}), (None, {}), ({"a": 1}, {"a": 1}),
])
def test_extra_shapes(raw, expected):
    assert _extra(SimpleNamespace(extra=raw)) == expected
