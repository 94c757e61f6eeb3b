"""The gRPC front end, called with grpcio's own client: all four kinds, metadata, deadlines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from gateway_support import Running
from grpc import aio
from helpers import eventually


@pytest.fixture
async def channel(running: Running) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(running.grpc_target) as opened:
        yield opened


def unary(channel: aio.Channel, path: str, reply: type[Any]) -> Any:
    return channel.unary_unary(
        path, request_serializer=_serialize, response_deserializer=reply.FromString
    )


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


async def test_unary_with_metadata_and_trailers(channel: aio.Channel, echo_pb2: ModuleType) -> None:
    call = unary(channel, "/natsrpc_test.Echo/Echo", echo_pb2.EchoReply)(
        echo_pb2.EchoRequest(text="hi", echo_metadata=True, trailers={"x-done": "yes"}),
        metadata=(("x-tenant", "acme"), ("authorization", "Bearer secret")),
    )
    reply = await call
    assert reply.text == "hi"
    assert dict(reply.metadata) == {"x-tenant": "acme"}
    assert ("x-done", "yes") in tuple(await call.trailing_metadata())


async def test_an_error_keeps_its_code_message_and_trailers(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await unary(channel, "/natsrpc_test.Echo/Echo", echo_pb2.EchoReply)(
            echo_pb2.EchoRequest(fail_code=9, fail_message="not yet: ünï", trailers={"x-why": "t"})
        )
    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == "not yet: ünï"
    assert ("x-why", "t") in tuple(raised.value.trailing_metadata())


async def test_grpc_timeout_becomes_the_deadline(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    echo = unary(channel, "/natsrpc_test.Echo/Echo", echo_pb2.EchoReply)
    reply = await echo(echo_pb2.EchoRequest(), timeout=3.0)
    # grpc-timeout travels in coarse units that gRPC rounds up, so the deadline the gateway
    # hears may lie a few milliseconds past the caller's; without it there would be none.
    assert 2.0 < reply.time_remaining < 3.1
    with pytest.raises(aio.AioRpcError) as raised:
        await echo(echo_pb2.EchoRequest(sleep_ms=3000), timeout=0.2)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_server_streaming_with_initial_and_trailing_metadata(
    channel: aio.Channel, stream_pb2: ModuleType
) -> None:
    produce = channel.unary_stream(
        "/natsrpc_test.Streamer/Produce",
        request_serializer=_serialize,
        response_deserializer=stream_pb2.Item.FromString,
    )
    call = produce(stream_pb2.ProduceRequest(count=4, initial={"x-a": "1"}, trailers={"x-z": "2"}))
    items = [item.index async for item in call]
    assert items == [0, 1, 2, 3]
    assert ("x-a", "1") in tuple(await call.initial_metadata())
    assert ("x-z", "2") in tuple(await call.trailing_metadata())
    assert await call.code() is grpc.StatusCode.OK


async def test_client_streaming(channel: aio.Channel, stream_pb2: ModuleType) -> None:
    collect = channel.stream_unary(
        "/natsrpc_test.Streamer/Collect",
        request_serializer=_serialize,
        response_deserializer=stream_pb2.Summary.FromString,
    )

    async def items() -> AsyncIterator[Any]:
        for index in range(5):
            yield stream_pb2.Item(index=index, blob=b"ab")

    call = collect(items(), metadata=(("x-trailer", "t"),))
    summary = await call
    assert (summary.count, summary.bytes, list(summary.indexes)) == (5, 10, [0, 1, 2, 3, 4])
    assert ("x-trailer", "t") in tuple(await call.trailing_metadata())


async def test_bidi_streaming(channel: aio.Channel, stream_pb2: ModuleType) -> None:
    chat = channel.stream_stream(
        "/natsrpc_test.Streamer/Chat",
        request_serializer=_serialize,
        response_deserializer=stream_pb2.Item.FromString,
    )
    call = chat()
    for index in range(3):
        await call.write(stream_pb2.Item(index=index, text=f"m{index}"))
        answer = await call.read()
        assert (answer.index, answer.text) == (index, f"m{index}")
    await call.done_writing()
    assert await call.read() is aio.EOF
    assert await call.code() is grpc.StatusCode.OK


async def test_a_bidi_failure_reaches_the_caller(
    channel: aio.Channel, stream_pb2: ModuleType
) -> None:
    chat = channel.stream_stream(
        "/natsrpc_test.Streamer/Chat",
        request_serializer=_serialize,
        response_deserializer=stream_pb2.Item.FromString,
    )
    call = chat()
    await call.write(stream_pb2.Item(index=0, fail_code=8, fail_message="full"))
    with pytest.raises(aio.AioRpcError) as raised:
        await call.read()
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "full",
    )


async def test_cancelling_a_grpc_call_cancels_the_natsrpc_call(
    channel: aio.Channel, running: Running, stream_pb2: ModuleType, echo_pb2: ModuleType
) -> None:
    produce = channel.unary_stream(
        "/natsrpc_test.Streamer/Produce",
        request_serializer=_serialize,
        response_deserializer=stream_pb2.Item.FromString,
    )
    call = produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=50))
    await call.read()
    call.cancel()
    streamer = running.served.streamer
    await eventually(lambda: streamer.cancelled == 1)

    echo = running.served.echo
    unary_call = unary(channel, "/natsrpc_test.Echo/Echo", echo_pb2.EchoReply)(
        echo_pb2.EchoRequest(sleep_ms=10000)
    )
    await eventually(lambda: echo.active == 1)
    unary_call.cancel()
    await eventually(lambda: echo.cancelled == 1)


async def test_an_unknown_method_is_unimplemented(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await unary(channel, "/natsrpc_test.Echo/Missing", echo_pb2.EchoReply)(
            echo_pb2.EchoRequest()
        )
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_a_message_over_the_limit_is_resource_exhausted(
    channel: aio.Channel, echo_pb2: ModuleType
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await unary(channel, "/natsrpc_test.Echo/Echo", echo_pb2.EchoReply)(
            echo_pb2.EchoRequest(blob=b"x" * (128 * 1024))
        )
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_reflection_lists_only_exposed_services_and_their_files(
    channel: aio.Channel,
) -> None:
    from google.protobuf import descriptor_pb2

    from natsrpc.reflection.v1.reflection_pb2 import (
        ServerReflectionRequest,
        ServerReflectionResponse,
    )

    info = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=_serialize,
        response_deserializer=ServerReflectionResponse.FromString,
    )
    call = info()
    await call.write(ServerReflectionRequest(list_services=""))
    listed = await call.read()
    names = {service.name for service in listed.list_services_response.service}
    assert names == {
        "natsrpc_test.Echo",
        "natsrpc_test.Streamer",
        "grpc.reflection.v1.ServerReflection",
    }
    await call.write(ServerReflectionRequest(file_containing_symbol="natsrpc_test.EchoRequest"))
    found = await call.read()
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(blob)
        for blob in found.file_descriptor_response.file_descriptor_proto
    ]
    assert [file.name for file in files] == ["natsrpc_test/echo.proto"]
    await call.write(ServerReflectionRequest(file_containing_symbol="secret.Hidden"))
    missing = await call.read()
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    await call.done_writing()
