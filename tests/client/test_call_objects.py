"""Call objects offer what grpc.aio's do, for every method kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.message import Message
from helpers import Served, eventually
from nats.aio.client import Client as NATS

import natsrpc

S = natsrpc.StatusCode


async def test_unary_call_reports_status_metadata_and_callbacks(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    client = echo_natsrpc.EchoClient(nc, timeout=5)
    call = client.echo(echo_pb2.EchoRequest(text="a", trailers={"x-t": "1"}))
    ended: list[natsrpc.UnaryCall[Any]] = []
    call.add_done_callback(ended.append)
    assert not call.done()
    assert call.time_remaining() is None  # not sent yet
    reply = await call
    assert reply.text == "a"
    assert ended == [call]
    assert call.done() and not call.cancelled()
    assert await call.code() is S.OK
    assert await call.details() == ""
    assert await call.trailing_metadata() == {"x-t": "1"}
    assert await call.initial_metadata() == {"x-t": "1"}
    remaining = call.time_remaining()
    assert remaining is not None and 0 < remaining <= 5
    late: list[object] = []
    call.add_done_callback(late.append)
    assert late == [call]  # an ended call runs a new callback at once


async def test_unary_status_without_awaiting_the_call(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    call = echo_natsrpc.EchoClient(nc).echo(
        echo_pb2.EchoRequest(fail_code=int(S.NOT_FOUND), fail_message="gone")
    )
    # Asking for the status sends the call, as grpc.aio's calls are already under way.
    assert await call.code() is S.NOT_FOUND
    assert await call.details() == "gone"
    with pytest.raises(natsrpc.RpcError) as info:
        await call
    assert info.value.code is S.NOT_FOUND
    assert info.value.code() is S.NOT_FOUND  # grpc.aio spells it as a method
    assert info.value.details() == "gone"


async def test_unary_cancel_while_waiting(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    call = echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(sleep_ms=2_000))
    waiter = asyncio.ensure_future(call)
    await eventually(lambda: served.echo.active == 1)
    assert call.cancel() is True
    with pytest.raises(natsrpc.RpcError) as info:
        await waiter
    assert info.value.code is S.CANCELLED
    assert call.cancelled() and call.done()
    assert call.cancel() is False


async def test_unary_cancel_before_sending_sends_nothing(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    call = echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(text="never"))
    assert call.cancel() is True
    with pytest.raises(natsrpc.RpcError) as info:
        await call
    assert info.value.code is S.CANCELLED
    assert served.echo.peak_active == 0
    assert await call.code() is S.CANCELLED


async def test_server_stream_call_surface(
    served: Served, nc: NATS, stream_natsrpc: ModuleType, stream_pb2: ModuleType
) -> None:
    client = stream_natsrpc.StreamerClient(nc)
    call = client.produce(
        stream_pb2.ProduceRequest(count=3, initial={"x-i": "1"}, trailers={"x-t": "2"})
    )
    ended: list[object] = []
    call.add_done_callback(ended.append)
    assert await call.initial_metadata() == {"x-i": "1"}
    assert [item.index async for item in call] == [0, 1, 2]
    assert ended == [call]
    assert await call.code() is S.OK
    assert await call.details() == ""
    assert await call.trailing_metadata() == {"x-t": "2"}
    assert call.done() and not call.cancelled()
    assert call.time_remaining() is None  # streams have no deadline unless one is set


async def test_server_stream_failure_and_cancel(
    served: Served, nc: NATS, stream_natsrpc: ModuleType, stream_pb2: ModuleType
) -> None:
    client = stream_natsrpc.StreamerClient(nc)
    failing = client.produce(
        stream_pb2.ProduceRequest(
            count=5, fail_after=1, fail_code=int(S.ABORTED), fail_message="stop"
        )
    )
    assert await failing.code() is S.ABORTED
    assert await failing.details() == "stop"

    endless = client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=50))
    assert (await endless.read()) is not None
    assert endless.cancel() is True
    assert endless.cancelled()
    assert await endless.code() is S.CANCELLED
    await eventually(lambda: served.streamer.cancelled == 1)


async def test_client_stream_call_is_typed_and_cancellable(
    served: Served, nc: NATS, stream_natsrpc: ModuleType, stream_pb2: ModuleType
) -> None:
    client = stream_natsrpc.StreamerClient(nc)
    summary_call = client.collect([stream_pb2.Item(index=i) for i in range(4)])
    assert isinstance(summary_call, natsrpc.ClientStreamCall)
    assert (await summary_call).count == 4
    assert await summary_call.code() is S.OK

    async def slow() -> AsyncIterator[Message]:
        yield stream_pb2.Item(index=0)
        await asyncio.sleep(30)
        yield stream_pb2.Item(index=1)

    waiting = client.collect(slow())
    waiter = asyncio.ensure_future(waiting)
    await eventually(lambda: served.streamer.received == [0, 1, 2, 3, 0])
    assert waiting.cancel() is True
    with pytest.raises(natsrpc.RpcError) as info:
        await waiter
    assert info.value.code is S.CANCELLED
    await eventually(lambda: served.streamer.cancelled == 1)


async def test_bidi_call_surface(
    served: Served, nc: NATS, stream_natsrpc: ModuleType, stream_pb2: ModuleType
) -> None:
    chat = stream_natsrpc.StreamerClient(nc).chat()
    await chat.write(stream_pb2.Item(index=7, text="x"))
    reply = await chat.read()
    assert reply is not None and reply.index == 7
    await chat.write(
        stream_pb2.Item(index=8, fail_code=int(S.OUT_OF_RANGE), fail_message="too far")
    )
    assert await chat.code() is S.OUT_OF_RANGE
    assert await chat.details() == "too far"
    assert chat.done()


async def test_stream_interceptors_see_and_replace_messages_both_ways(
    served: Served, nc: NATS, stream_natsrpc: ModuleType, stream_pb2: ModuleType
) -> None:
    seen: list[str] = []

    class Rewrite(natsrpc.ClientInterceptor):
        async def intercept_stream_request(
            self, request: Message, details: natsrpc.CallDetails
        ) -> Message:
            assert isinstance(request, stream_pb2.Item)
            seen.append(f"out:{request.text}")
            return stream_pb2.Item(index=request.index, text=request.text.upper())

        async def intercept_stream_response(
            self, response: Message, details: natsrpc.CallDetails
        ) -> Message:
            assert isinstance(response, stream_pb2.Item)
            seen.append(f"in:{response.text}")
            return stream_pb2.Item(index=response.index, text=response.text + "!")

    client = stream_natsrpc.StreamerClient(nc, interceptors=[Rewrite()])
    replies = [item.text async for item in client.chat([stream_pb2.Item(index=1, text="hi")])]
    assert replies == ["HI!"]
    assert seen == ["out:hi", "in:HI"]


async def test_grpc_method_names_call_the_same_method(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    client = echo_natsrpc.EchoClient(nc)
    # grpc.aio call sites use the proto name; it is the snake-case method itself.
    assert echo_natsrpc.EchoClient.Echo is echo_natsrpc.EchoClient.echo
    call = client.Echo(echo_pb2.EchoRequest(text="grpc"), timeout=2, metadata=(("x-id", "7"),))
    assert (await call).text == "grpc"
    assert await call.code() is S.OK
