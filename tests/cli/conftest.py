"""Fixtures for the `natsrpc` command's tests: a private nats-server and CLI subprocesses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import TESTS, Served

from natsrpc.testing import NatsServer


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    """A nats-server of this module's own, so discovery sees only this module's services."""
    with NatsServer() as nats_server:
        yield nats_server


@pytest.fixture
def cli_env(generated: Path, server: NatsServer) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": server.url,
        "PYTHONPATH": os.pathsep.join([str(generated), str(TESTS)]),
        # No nats CLI context of the machine's user may leak into the tests.
        "XDG_CONFIG_HOME": str(generated / "no-config"),
    }


@pytest.fixture
def serve(cli_env: dict[str, str]) -> Iterator[list[Served]]:
    """Started `natsrpc serve` processes, stopped (SIGTERM) after the test."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.stop()
