"""``natsrpc gateway``: both listeners, TLS, schemas from --proto, and its usage errors."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path
from types import ModuleType

import grpc
import httpx
import pytest
from gateway_support import COMMAND, start_gateway
from grpc import aio
from helpers import Served

from natsrpc.testing import NatsServer, make_tls_files

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(server: NatsServer, generated: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": server.url,
        "PYTHONPATH": os.pathsep.join([str(generated), str(TESTS)]),
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
    }


async def test_both_listeners_with_a_deny_list_then_sigterm(
    env: dict[str, str], served: Served, echo_pb2: ModuleType
) -> None:
    gateway = await start_gateway(
        env, "--http-port", "0", "--grpc-port", "0", "--deny", "natsrpc_test.Streamer"
    )
    try:
        assert gateway.ready_line.rstrip().endswith("services: natsrpc_test.Echo")
        async with httpx.AsyncClient(base_url=gateway.address("Connect")) as client:
            response = await client.post("/natsrpc_test.Echo/Echo", json={"text": "cli"})
        assert response.json()["text"] == "cli"
        async with aio.insecure_channel(gateway.address("gRPC")) as channel:
            echo = channel.unary_unary(
                "/natsrpc_test.Echo/Echo",
                request_serializer=echo_pb2.EchoRequest.SerializeToString,
                response_deserializer=echo_pb2.EchoReply.FromString,
            )
            assert (await echo(echo_pb2.EchoRequest(text="grpc"))).text == "grpc"
    finally:
        assert await gateway.stop() == 0


async def test_tls_on_both_listeners(
    env: dict[str, str], served: Served, echo_pb2: ModuleType, tmp_path: Path
) -> None:
    try:
        files = make_tls_files(tmp_path / "tls")
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    gateway = await start_gateway(
        env, "--http-port", "0", "--grpc-port", "0",
        "--tls-cert", str(files.server_cert), "--tls-key", str(files.server_key),
    )  # fmt: skip
    try:
        trust = ssl.create_default_context(cafile=str(files.ca_cert))
        url = gateway.address("Connect")
        assert url.startswith("https://")
        async with httpx.AsyncClient(base_url=url, verify=trust) as client:
            response = await client.post("/natsrpc_test.Echo/Echo", json={"text": "tls"})
        assert response.json()["text"] == "tls"
        credentials = grpc.ssl_channel_credentials(files.ca_cert.read_bytes())
        async with aio.secure_channel(gateway.address("gRPC"), credentials) as channel:
            echo = channel.unary_unary(
                "/natsrpc_test.Echo/Echo",
                request_serializer=echo_pb2.EchoRequest.SerializeToString,
                response_deserializer=echo_pb2.EchoReply.FromString,
            )
            assert (await echo(echo_pb2.EchoRequest(text="grpcs"))).text == "grpcs"
    finally:
        assert await gateway.stop() == 0


async def test_services_from_a_proto_file_without_reflection(
    env: dict[str, str], served: Served
) -> None:
    protos = TESTS / "protos"
    gateway = await start_gateway(
        env, "--http-port", "0",
        "--proto", str(protos / "natsrpc_test" / "stream.proto"), "-I", str(protos),
    )  # fmt: skip
    try:
        assert gateway.ready_line.rstrip().endswith("services: natsrpc_test.Streamer")
        async with httpx.AsyncClient(base_url=gateway.address("Connect")) as client:
            response = await client.post("/natsrpc_test.Streamer/Ping", json={"index": 7})
        assert response.json()["index"] == 7
    finally:
        assert await gateway.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --http-port, --grpc-port or both"),
        (("--http-port", "0", "--tls-key", __file__), "--tls-cert and --tls-key go together"),
    ],
)
def test_usage_errors(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = subprocess.run(
        [*COMMAND, "gateway", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_nats_unreachable_is_one_line(env: dict[str, str]) -> None:
    result = subprocess.run(
        [*COMMAND, "gateway", "--http-port", "0", "-s", "nats://127.0.0.1:1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "could not connect to nats://127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
