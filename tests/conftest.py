"""Fixtures: stubs generated from tests/protos by the real plugin, and a real nats-server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from natsrpc.testing import NatsServer

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "tests" / "protos"


def protoc(out: Path, proto_root: Path, *protos: Path, parameter: str = "") -> None:
    """Run grpc_tools' protoc with our plugin, exactly as a user would."""
    # The console script pip installed beside this interpreter: what users run.
    plugin = Path(sys.executable).parent / "protoc-gen-natsrpc"
    out.mkdir(parents=True, exist_ok=True)
    natsrpc_out = f"{parameter}:{out}" if parameter else str(out)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"--plugin=protoc-gen-natsrpc={plugin}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--natsrpc_out={natsrpc_out}",
        *(str(p.relative_to(proto_root)) for p in protos),
    ]
    subprocess.run(command, check=True, cwd=proto_root)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/protos/natsrpc_test generated into a temporary directory on sys.path."""
    out = tmp_path_factory.mktemp("generated")
    protoc(out, PROTOS, *sorted((PROTOS / "natsrpc_test").glob("*.proto")))
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def echo(generated: Path) -> Any:
    """The module tests/echo_service.py, which needs the generated stubs to import."""
    import echo_service

    return echo_service


@pytest.fixture
def pb(generated: Path) -> Any:
    from natsrpc_test import echo_pb2

    return echo_pb2


@pytest.fixture
def stubs(generated: Path) -> Any:
    from natsrpc_test import echo_natsrpc

    return echo_natsrpc


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    try:
        yield connection
    finally:
        await connection.close()
