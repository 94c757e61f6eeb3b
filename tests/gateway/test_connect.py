"""The Connect front end, called over real HTTP with httpx: unary, GET, server streaming."""

from __future__ import annotations

import asyncio
import base64
import json
from types import ModuleType

import httpx
import pytest
from gateway_support import TEST_ORIGIN, Running, connect_headers, envelope, envelopes
from helpers import eventually

STREAM_JSON = {"content-type": "application/connect+json"}


@pytest.fixture
async def http(running: Running) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=running.http_url, timeout=10.0) as client:
        yield client  # type: ignore[misc]


async def test_unary_json_round_trip_with_metadata_and_trailers(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"text": "hello", "echoMetadata": True, "trailers": {"x-done": "yes"}},
        headers=connect_headers(x_tenant="acme", authorization="Bearer secret"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["text"] == "hello"
    # x-* headers are forwarded; authorization and transport headers are not.
    assert body["metadata"] == {"x-tenant": "acme"}
    assert response.headers["trailer-x-done"] == "yes"


async def test_unary_binary_passes_the_bytes_through(
    http: httpx.AsyncClient, echo_pb2: ModuleType
) -> None:
    request = echo_pb2.EchoRequest(text="bytes", blob=bytes(range(256)))
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        content=request.SerializeToString(),
        headers={"content-type": "application/proto"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/proto"
    reply = echo_pb2.EchoReply.FromString(response.content)
    assert (reply.text, reply.blob) == ("bytes", bytes(range(256)))


@pytest.mark.parametrize(
    ("code", "name", "status"),
    [(3, "invalid_argument", 400), (5, "not_found", 404), (7, "permission_denied", 403),
     (14, "unavailable", 503), (16, "unauthenticated", 401)],
)  # fmt: skip
async def test_a_service_error_keeps_its_code_and_message(
    http: httpx.AsyncClient, code: int, name: str, status: int
) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"failCode": code, "failMessage": "why: ünïcode", "trailers": {"x-why": "test"}},
    )
    assert response.status_code == status
    assert response.json() == {"code": name, "message": "why: ünïcode"}
    assert response.headers["trailer-x-why"] == "test"


async def test_get_calls_a_side_effect_free_method(
    http: httpx.AsyncClient, echo_pb2: ModuleType
) -> None:
    as_json = await http.get(
        "/natsrpc_test.Echo/Peek",
        params={"connect": "v1", "encoding": "json", "message": '{"text": "peek"}'},
    )
    assert as_json.status_code == 200
    assert as_json.json()["text"] == "peek"
    message = base64.urlsafe_b64encode(echo_pb2.EchoRequest(text="b64").SerializeToString())
    as_proto = await http.get(
        "/natsrpc_test.Echo/Peek",
        params={"encoding": "proto", "base64": "1", "message": message.decode().rstrip("=")},
    )
    assert as_proto.status_code == 200
    assert echo_pb2.EchoReply.FromString(as_proto.content).text == "b64"


async def test_get_is_refused_for_a_method_with_side_effects(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/natsrpc_test.Echo/Echo", params={"encoding": "json", "message": "{}"}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "unimplemented"


async def test_server_streaming_in_envelopes_with_end_of_stream(http: httpx.AsyncClient) -> None:
    request = {"count": 3, "initial": {"x-first": "1"}, "trailers": {"x-last": "2"}}
    response = await http.post(
        "/natsrpc_test.Streamer/Produce",
        content=envelope(json.dumps(request).encode()),
        headers=STREAM_JSON,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/connect+json"
    assert response.headers["x-first"] == "1"
    frames = envelopes(response.content)
    assert [flags for flags, _ in frames] == [0, 0, 0, 2]
    assert [json.loads(data).get("index", 0) for _, data in frames[:3]] == [0, 1, 2]
    assert json.loads(frames[3][1]) == {"metadata": {"x-last": ["2"]}}


async def test_server_streaming_binary_and_a_failure_mid_stream(
    http: httpx.AsyncClient, stream_pb2: ModuleType
) -> None:
    request = stream_pb2.ProduceRequest(
        count=5, fail_after=2, fail_code=10, fail_message="stop here"
    )
    response = await http.post(
        "/natsrpc_test.Streamer/Produce",
        content=envelope(request.SerializeToString()),
        headers={"content-type": "application/connect+proto"},
    )
    assert response.status_code == 200
    frames = envelopes(response.content)
    assert [stream_pb2.Item.FromString(data).index for _, data in frames[:-1]] == [0, 1]
    flags, end = frames[-1]
    assert flags == 2
    assert json.loads(end) == {"error": {"code": "aborted", "message": "stop here"}}


async def test_connect_timeout_becomes_the_deadline(http: httpx.AsyncClient) -> None:
    seen = await http.post(
        "/natsrpc_test.Echo/Echo", json={"text": "t"}, headers={"connect-timeout-ms": "3000"}
    )
    assert 0 < seen.json()["timeRemaining"] <= 3.0
    late = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"sleepMs": 3000},
        headers={"connect-timeout-ms": "100"},
    )
    assert late.status_code == 504
    assert late.json()["code"] == "deadline_exceeded"


async def test_a_client_that_goes_away_cancels_the_call(running: Running) -> None:
    echo = running.served.echo
    async with httpx.AsyncClient(base_url=running.http_url) as client:
        request = asyncio.ensure_future(
            client.post("/natsrpc_test.Echo/Echo", json={"sleepMs": 10000})
        )
        await eventually(lambda: echo.active == 1)
        request.cancel()  # closes the connection mid-call
        with pytest.raises(asyncio.CancelledError):
            await request
    await eventually(lambda: echo.cancelled == 1)


async def test_cors_preflight_and_response_headers(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/natsrpc_test.Echo/Echo",
        headers={
            "origin": TEST_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,connect-protocol-version,x-tenant",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert preflight.headers["access-control-allow-methods"] == "GET, POST"
    assert "x-tenant" in preflight.headers["access-control-allow-headers"]
    assert "Origin" in preflight.headers["vary"]
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"trailers": {"x-t": "1"}},
        headers={"origin": TEST_ORIGIN},
    )
    assert response.headers["access-control-allow-origin"] == TEST_ORIGIN
    assert "trailer-x-t" in response.headers["access-control-expose-headers"]


async def test_cors_refuses_an_origin_not_allowed(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/natsrpc_test.Echo/Echo",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    response = await http.post(
        "/natsrpc_test.Echo/Echo", json={}, headers={"origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers
