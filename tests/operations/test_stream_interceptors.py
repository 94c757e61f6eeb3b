"""Client and server interceptors for streaming calls of every kind, against a real nats-server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import eventually
from interceptor_support import (
    ClientAuth,
    ClientMetrics,
    S,
    ServerAuth,
    ServerMetrics,
)
from nats.aio.client import Client as NATS

import natsrpc
import natsrpc.spec
from natsrpc.client.interceptors import StreamInvoker
from natsrpc.server.interceptors import StreamHandler

# -- streams ----------------------------------------------------------------------------


async def items(stream_pb2: Any, count: int) -> AsyncIterator[Any]:
    for index in range(count):
        yield stream_pb2.Item(index=index, text=str(index))


async def test_stream_auth_and_metrics_for_every_kind(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    served, made = ServerMetrics(), ClientMetrics()
    server = natsrpc.Server(nc, interceptors=[served, ServerAuth("x")])
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc, interceptors=[made, ClientAuth("x")])
    stranger = stream_natsrpc.StreamerClient(nc)
    async with server:
        produced = [item.index async for item in client.produce(stream_pb2.ProduceRequest(count=3))]
        summary = await client.collect(items(stream_pb2, 4))
        chatted = [item.index async for item in client.chat(items(stream_pb2, 2))]
        with pytest.raises(natsrpc.RpcError) as info:
            [item async for item in stranger.produce(stream_pb2.ProduceRequest(count=3))]
        assert info.value.code is S.UNAUTHENTICATED
        with pytest.raises(natsrpc.RpcError) as info:
            await stranger.collect(items(stream_pb2, 1))
        assert info.value.code is S.UNAUTHENTICATED
        with pytest.raises(natsrpc.RpcError) as info:
            [
                item
                async for item in client.produce(
                    stream_pb2.ProduceRequest(count=5, fail_after=2, fail_code=int(S.ABORTED))
                )
            ]
        assert info.value.code is S.ABORTED
        await eventually(lambda: sum(made.calls.values()) == 4)
    assert produced == [0, 1, 2]
    assert summary.count == 4
    assert summary.metadata["authorization"] == "Bearer x"
    assert chatted == [0, 1]
    assert streamer_service.active == 0
    assert served.calls == {
        ("Produce", S.OK): 1,
        ("Collect", S.OK): 1,
        ("Chat", S.OK): 1,
        ("Produce", S.UNAUTHENTICATED): 1,
        ("Collect", S.UNAUTHENTICATED): 1,
        ("Produce", S.ABORTED): 1,
    }
    assert made.calls == {
        ("Produce", S.OK): 1,
        ("Collect", S.OK): 1,
        ("Chat", S.OK): 1,
        ("Produce", S.ABORTED): 1,
    }


async def test_stream_interceptors_wrap_requests_and_responses(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    class Rewrite(natsrpc.ServerInterceptor):
        def intercept_stream(
            self,
            requests: AsyncIterator[Any],
            context: natsrpc.Context,
            method: natsrpc.spec.MethodSpec[Any, Any],
            call_next: StreamHandler,
        ) -> AsyncIterator[Any]:
            async def doubled() -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, stream_pb2.Item):
                        request.index *= 2
                    yield request

            async def tagged() -> AsyncIterator[Any]:
                async for response in call_next(doubled(), context):
                    if isinstance(response, stream_pb2.Item):
                        response.text = f"<{response.text}>"
                    yield response

            return tagged()

    server = natsrpc.Server(nc, interceptors=[Rewrite()])
    server.add_service(streamer_service)
    client = stream_natsrpc.StreamerClient(nc)
    async with server:
        chatted = [(i.index, i.text) async for i in client.chat(items(stream_pb2, 3))]
        summary = await client.collect(items(stream_pb2, 3))
        produced = [i.index async for i in client.produce(stream_pb2.ProduceRequest(count=2))]
        pong = await client.ping(stream_pb2.Item(index=1))
    assert chatted == [(0, "<0>"), (2, "<1>"), (4, "<2>")]
    assert list(summary.indexes) == [0, 2, 4]
    assert produced == [0, 1]  # a ProduceRequest is not an Item: it passes unchanged
    assert pong.text == "pong"  # unary methods are not streams


async def test_client_streaming_needs_exactly_one_response(
    nc: NATS,
    streamer_service: Any,
    stream_natsrpc: Any,
    stream_pb2: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Twice(natsrpc.ServerInterceptor):
        async def intercept_stream(
            self, requests: Any, context: Any, method: Any, call_next: StreamHandler
        ) -> AsyncIterator[Any]:
            async for response in call_next(requests, context):
                yield response
                yield response

    server = natsrpc.Server(nc, interceptors=[Twice()])
    server.add_service(streamer_service)
    async with server:
        with caplog.at_level(logging.ERROR), pytest.raises(natsrpc.RpcError) as info:
            await stream_natsrpc.StreamerClient(nc).collect(items(stream_pb2, 1))
    assert info.value.code is S.INTERNAL
    assert "2 responses" in caplog.text


async def test_stream_handler_is_cleaned_up_when_the_caller_leaves(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    served = ServerMetrics()
    server = natsrpc.Server(nc, interceptors=[served])
    server.add_service(streamer_service)
    async with server:
        call = stream_natsrpc.StreamerClient(nc).produce(
            stream_pb2.ProduceRequest(count=1000, sleep_ms=5)
        )
        async for _ in call:
            break  # leaving the loop cancels the call
        await eventually(lambda: streamer_service.cancelled == 1 and streamer_service.active == 0)
        await eventually(lambda: sum(served.calls.values()) == 1)
    assert served.calls == {("Produce", S.CANCELLED): 1}


async def test_client_stream_interceptor_failing_before_open_sends_nothing(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    class Deny(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            raise natsrpc.RpcError(S.PERMISSION_DENIED, "not from here")

    class Broken(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            raise KeyError("bug")

    class BadKey(natsrpc.ClientInterceptor):
        async def intercept_stream(self, details: Any, call_next: StreamInvoker) -> None:
            details.metadata["rpc-frame"] = "end"
            await call_next(details)

    server = natsrpc.Server(nc)
    server.add_service(streamer_service)
    async with server:
        call = stream_natsrpc.StreamerClient(nc, interceptors=[Deny()]).chat(items(stream_pb2, 1))
        with pytest.raises(natsrpc.RpcError) as info:
            await call.read()
        assert info.value.code is S.PERMISSION_DENIED
        assert call.done()
        with pytest.raises(KeyError):
            await stream_natsrpc.StreamerClient(nc, interceptors=[Broken()]).collect(
                items(stream_pb2, 1)
            )
        call = stream_natsrpc.StreamerClient(nc, interceptors=[BadKey()]).produce(
            stream_pb2.ProduceRequest()
        )
        with pytest.raises(ValueError, match="reserved"):
            await call.read()
        assert call.done()
    assert streamer_service.active == 0 and streamer_service.started_event.is_set() is False


async def test_client_stream_interceptor_sees_cancel_and_metadata(
    nc: NATS, streamer_service: Any, stream_natsrpc: Any, stream_pb2: Any
) -> None:
    made = ClientMetrics()

    class Tag(natsrpc.ClientInterceptor):
        async def intercept_stream(
            self, details: natsrpc.CallDetails, call_next: StreamInvoker
        ) -> None:
            details.metadata["x-initial"] = "hello"
            await call_next(details)

    server = natsrpc.Server(nc)
    server.add_service(streamer_service)
    async with server:
        call = stream_natsrpc.StreamerClient(nc, interceptors=[made, Tag()]).chat()
        assert await call.initial_metadata() == {"x-initial": "hello"}
        await call.write(stream_pb2.Item(index=1))
        assert (await call.read()).index == 1
        assert call.cancel()
        await eventually(lambda: sum(made.calls.values()) == 1)
    assert made.calls == {("Chat", S.CANCELLED): 1}
