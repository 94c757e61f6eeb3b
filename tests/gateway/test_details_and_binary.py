"""Error details and ``-bin`` metadata through both front ends (issue 23 in the gateway).

gRPC: details arrive as the ``grpc-status-details-bin`` trailer (a serialized
``google.rpc.Status``), ``-bin`` metadata as bytes. Connect: details in the error
JSON, ``-bin`` headers and end-of-stream metadata as base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import httpx
import pytest
from gateway_support import Running, connect_headers, envelope, envelopes
from google.rpc import status_pb2
from grpc import aio

EVERY_BYTE = bytes(range(256))
SIGNATURE = "sig ü✓"
"""A trailer the echo service turns into this text's UTF-8 bytes (its key ends in -bin)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@pytest.fixture
async def channel(running: Running) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(running.grpc_target) as opened:
        yield opened


@pytest.fixture
async def http(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.http_url, timeout=10) as client:
        yield client


def grpc_echo(channel: aio.Channel, echo_pb2: ModuleType) -> Any:
    return channel.unary_unary(
        "/natsrpc_test.Echo/Echo",
        request_serializer=echo_pb2.EchoRequest.SerializeToString,
        response_deserializer=echo_pb2.EchoReply.FromString,
    )


async def test_grpc_error_details_arrive_as_grpc_status_details_bin(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await grpc_echo(channel, echo_pb2)(
            echo_pb2.EchoRequest(text="details", fail_code=9, fail_message="not yet")
        )
    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    trailers = dict(raised.value.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert (status.code, status.message) == (9, "not yet")
    [detail] = status.details
    reply = echo_pb2.EchoReply()
    assert detail.Unpack(reply) and reply.text == "detail"


async def test_grpc_error_without_details_has_no_status_trailer(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await grpc_echo(channel, echo_pb2)(echo_pb2.EchoRequest(fail_code=9))
    assert "grpc-status-details-bin" not in dict(raised.value.trailing_metadata())


async def test_grpc_binary_metadata_both_ways(channel: aio.Channel, echo_pb2: ModuleType) -> None:
    call = grpc_echo(channel, echo_pb2)(
        echo_pb2.EchoRequest(echo_metadata=True, trailers={"x-sig-bin": SIGNATURE}),
        metadata=(("x-token-bin", EVERY_BYTE), ("x-tenant", "acme")),
    )
    reply = await call
    # The echo service reports -bin values it received in base64.
    assert dict(reply.metadata) == {"x-token-bin": b64(EVERY_BYTE), "x-tenant": "acme"}
    assert ("x-sig-bin", SIGNATURE.encode()) in tuple(await call.trailing_metadata())


async def test_grpc_binary_trailers_of_an_error(channel: aio.Channel, echo_pb2: ModuleType) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await grpc_echo(channel, echo_pb2)(
            echo_pb2.EchoRequest(fail_code=5, trailers={"x-why-bin": SIGNATURE})
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert ("x-why-bin", SIGNATURE.encode()) in tuple(raised.value.trailing_metadata())


async def test_grpc_binary_initial_and_trailing_metadata_of_a_stream(
    channel: aio.Channel, stream_pb2: ModuleType
) -> None:
    produce = channel.unary_stream(
        "/natsrpc_test.Streamer/Produce",
        request_serializer=stream_pb2.ProduceRequest.SerializeToString,
        response_deserializer=stream_pb2.Item.FromString,
    )
    call = produce(
        stream_pb2.ProduceRequest(
            count=2, initial={"x-a-bin": SIGNATURE}, trailers={"x-z-bin": "end"}
        )
    )
    assert [item.index async for item in call] == [0, 1]
    assert ("x-a-bin", SIGNATURE.encode()) in tuple(await call.initial_metadata())
    assert ("x-z-bin", b"end") in tuple(await call.trailing_metadata())


async def test_connect_error_json_carries_details(
    http: httpx.AsyncClient, echo_pb2: ModuleType
) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"text": "details", "failCode": 9, "failMessage": "not yet"},
        headers=connect_headers(),
    )
    assert response.status_code == 400
    error = response.json()
    assert (error["code"], error["message"]) == ("failed_precondition", "not yet")
    [detail] = error["details"]
    assert detail["type"] == "natsrpc_test.EchoReply"
    assert echo_pb2.EchoReply.FromString(unb64(detail["value"])).text == "detail"
    assert detail["debug"] == {"text": "detail"}


async def test_connect_binary_headers_both_ways(http: httpx.AsyncClient) -> None:
    # Unpadded, as the gRPC and Connect protocols recommend sending it.
    unpadded = b64(EVERY_BYTE[:-1]).rstrip("=")
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"echoMetadata": True, "trailers": {"x-sig-bin": SIGNATURE}},
        headers=connect_headers(x_token_bin=unpadded, x_padded_bin=b64(b"ab")),
    )
    assert response.status_code == 200, response.text
    metadata = response.json()["metadata"]
    assert metadata == {"x-token-bin": b64(EVERY_BYTE[:-1]), "x-padded-bin": b64(b"ab")}
    assert unb64(response.headers["trailer-x-sig-bin"]) == SIGNATURE.encode()


async def test_connect_error_keeps_binary_trailers(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo",
        json={"failCode": 5, "trailers": {"x-why-bin": SIGNATURE}},
        headers=connect_headers(),
    )
    assert response.json()["code"] == "not_found"
    assert unb64(response.headers["trailer-x-why-bin"]) == SIGNATURE.encode()


async def test_connect_binary_header_that_is_not_base64_is_invalid_argument(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/natsrpc_test.Echo/Echo", json={}, headers=connect_headers(x_token_bin="not base64!")
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_argument",
        "message": "bad metadata header: x-token-bin is not base64",
    }


async def test_connect_stream_binary_metadata_in_headers_and_end_of_stream(
    http: httpx.AsyncClient, stream_pb2: ModuleType
) -> None:
    request = stream_pb2.ProduceRequest(
        count=1, initial={"x-a-bin": SIGNATURE}, trailers={"x-z-bin": "end"}
    )
    response = await http.post(
        "/natsrpc_test.Streamer/Produce",
        content=envelope(request.SerializeToString()),
        headers=connect_headers(content_type="application/connect+proto"),
    )
    assert response.status_code == 200
    assert unb64(response.headers["x-a-bin"]) == SIGNATURE.encode()
    *items, (flags, last) = envelopes(response.content)
    assert len(items) == 1 and flags == 0x02
    [value] = json.loads(last)["metadata"]["x-z-bin"]
    assert unb64(value) == b"end"


async def test_grpc_repeated_binary_key_is_invalid_argument(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await grpc_echo(channel, echo_pb2)(
            echo_pb2.EchoRequest(), metadata=(("x-token-bin", b"a"), ("x-token-bin", b"b"))
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "bad metadata header: x-token-bin is repeated; natsrpc carries one value a key"
    )
