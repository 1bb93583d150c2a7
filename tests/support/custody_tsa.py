"""A local RFC 3161 TSA (openssl ts) on 127.0.0.1 for the custody tests."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from demo.tsa_local import LocalTSA


def _need_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the local TSA: apt-get install openssl")


@pytest.fixture(scope="session")
def local_tsa(tmp_path_factory) -> Iterator[LocalTSA]:
    """A TSA whose CA the tests trust (``--trust tsa.ca_pem``)."""
    _need_openssl()
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as tsa:
        yield tsa


@pytest.fixture
def tsa(local_tsa) -> Iterator[LocalTSA]:
    """The session TSA, answering normally again after the test."""
    yield local_tsa
    local_tsa.fail(0)


@pytest.fixture(scope="session")
def rogue_tsa(tmp_path_factory) -> Iterator[LocalTSA]:
    """A working TSA with its own CA, which nobody trusts."""
    _need_openssl()
    with LocalTSA(tmp_path_factory.mktemp("rogue-tsa")) as tsa:
        yield tsa


def dead_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsr"
