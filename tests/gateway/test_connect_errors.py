"""Bad input and exhausted limits on the Connect front end: a Connect error each, never a 500."""

from __future__ import annotations

import asyncio
import json
import struct
from types import ModuleType

import httpx
import nats
import pytest
from gateway_support import Running
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.gateway import Gateway, Limits, ServiceDirectory, ServiceFilter
from natsrpc.testing import NatsServer

ECHO = "/natsrpc_test.Echo/Echo"


@pytest.fixture
def limits() -> Limits:
    return Limits(max_request_bytes=1024, max_concurrent_calls=1, default_timeout=5.0)


@pytest.fixture
async def http(running: Running) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=running.http_url, timeout=10.0) as client:
        yield client  # type: ignore[misc]


async def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()["code"]


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b"\xff\xff\xff", "application/proto", (400, "invalid_argument")),
        (b"{not json", "application/json", (400, "invalid_argument")),
        (b'{"noSuchField": 1}', "application/json", (400, "invalid_argument")),
        (b"hello", "text/plain", (415, "invalid_argument")),
        (b"", "application/connect+proto", (415, "invalid_argument")),
        (b"x" * 2000, "application/proto", (429, "resource_exhausted")),
    ],
)
async def test_a_bad_unary_request_gets_a_connect_error(
    http: httpx.AsyncClient, content: bytes, content_type: str, expected: tuple[int, str]
) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo", content=content, headers={"content-type": content_type}
    )
    assert await error_of(response) == expected


@pytest.mark.parametrize(
    ("path", "method", "headers", "expected"),
    [
        ("/natsrpc_test.Echo/Missing", "POST", {}, (404, "unimplemented")),
        ("/not-a-route", "POST", {}, (404, "unimplemented")),
        (ECHO, "PUT", {}, (405, "unimplemented")),
        (ECHO, "POST", {"connect-timeout-ms": "soon"}, (400, "invalid_argument")),
        (ECHO, "POST", {"connect-timeout-ms": "12345678901"}, (400, "invalid_argument")),
        (ECHO, "POST", {"connect-protocol-version": "2"}, (400, "invalid_argument")),
        (ECHO, "POST", {"content-encoding": "br"}, (501, "unimplemented")),
        (ECHO, "POST", {"x-bad": "ünï".encode("latin-1")}, (400, "invalid_argument")),
    ],
)  # fmt: skip
async def test_bad_routes_and_headers_get_a_connect_error(
    http: httpx.AsyncClient,
    path: str,
    method: str,
    headers: dict[str, str | bytes],
    expected: tuple[int, str],
) -> None:
    response = await http.request(
        method, path, content=b"{}", headers={"content-type": "application/json", **headers}
    )
    assert await error_of(response) == expected


async def test_bad_get_queries(http: httpx.AsyncClient) -> None:
    no_encoding = await http.get("/natsrpc_test.Echo/Peek", params={"message": "{}"})
    assert await error_of(no_encoding) == (400, "invalid_argument")
    bad_base64 = await http.get(
        "/natsrpc_test.Echo/Peek", params={"encoding": "proto", "base64": "1", "message": "!!"}
    )
    assert await error_of(bad_base64) == (400, "invalid_argument")


async def test_a_bad_stream_request_ends_in_an_end_of_stream_error(
    http: httpx.AsyncClient,
) -> None:
    for body in (b"\x00\x00", struct.pack(">BI", 0, 99) + b"short", b"\x01\x00\x00\x00\x00"):
        response = await http.post(
            "/natsrpc_test.Streamer/Produce",
            content=body,
            headers={"content-type": "application/connect+proto"},
        )
        assert response.status_code == 200
        flags, size = struct.unpack_from(">BI", response.content)
        assert flags == 2
        code = json.loads(response.content[5 : 5 + size])["error"]["code"]
        assert code in ("invalid_argument", "unimplemented")


async def test_streaming_requests_need_the_grpc_port(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/natsrpc_test.Streamer/Collect",
        content=b"",
        headers={"content-type": "application/connect+proto"},
    )
    end = json.loads(response.content[5:])
    assert end["error"]["code"] == "unimplemented"
    assert "gRPC port" in end["error"]["message"]


async def test_one_call_over_the_concurrency_limit_is_refused(
    http: httpx.AsyncClient, running: Running
) -> None:
    slow = asyncio.ensure_future(http.post("/natsrpc_test.Echo/Echo", json={"sleepMs": 1000}))
    await eventually(lambda: running.served.echo.active == 1)
    refused = await http.post("/natsrpc_test.Echo/Echo", json={})
    assert await error_of(refused) == (429, "resource_exhausted")
    assert (await slow).status_code == 200


async def test_nats_down_is_unavailable(server: NatsServer, served: object) -> None:
    nc = await nats.connect(server.url)
    gateway = Gateway(nc)
    async with gateway:
        port = await gateway.start_http()
        await nc.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post("/natsrpc_test.Echo/Echo", json={})
        assert await error_of(response) == (503, "unavailable")


async def test_services_that_start_later_are_picked_up(
    nc: NATS, echo_service: ModuleType, streamer_service: object
) -> None:
    gateway = Gateway(nc, refresh_interval=60.0)
    async with gateway:
        port = await gateway.start_http()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            before = await client.post("/natsrpc_test.Echo/Echo", json={})
            assert await error_of(before) == (404, "unimplemented")
            server = natsrpc.Server(nc)
            server.add_service(echo_service.EchoService())
            async with server:

                async def answered() -> bool:
                    # The gateway looks again on a miss, at most once a second.
                    after = await client.post("/natsrpc_test.Echo/Echo", json={"text": "late"})
                    return after.status_code == 200 and after.json()["text"] == "late"

                await eventually(answered)


async def test_deny_and_allow_lists(nc: NATS, served: object) -> None:
    only_echo = Gateway(nc, service_filter=ServiceFilter(allow=("natsrpc_test.E*",)))
    no_echo = Gateway(nc, service_filter=ServiceFilter(deny=("natsrpc_test.Echo",)))
    async with only_echo, no_echo:
        assert only_echo.directory.services() == ["natsrpc_test.Echo"]
        assert no_echo.directory.services() == ["natsrpc_test.Streamer"]
        port = await no_echo.start_http()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            denied = await client.post("/natsrpc_test.Echo/Echo", json={})
        assert await error_of(denied) == (404, "unimplemented")


async def test_unknown_routes_arriving_together_share_one_refresh(nc: NATS, served: object) -> None:
    directory = ServiceDirectory(nc, refresh_interval=60.0)
    refreshes = 0
    refresh = directory.refresh

    async def counted() -> None:
        nonlocal refreshes
        refreshes += 1
        await refresh()

    directory.refresh = counted  # type: ignore[method-assign]
    found = await asyncio.gather(*(directory.lookup(f"/made.Up/M{i}") for i in range(20)))
    assert found == [None] * 20
    assert refreshes == 1
    # Within MIN_REFRESH_GAP of the last look, a miss asks nobody.
    assert await directory.lookup("/made.Up/Again") is None
    assert refreshes == 1
    assert await directory.lookup("/natsrpc_test.Echo/Echo") is not None
    await directory.stop()
