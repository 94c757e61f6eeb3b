"""Metadata keys ending in ``-bin`` carry bytes, base64 on the wire (protocol.md §3.1)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

import natsrpc
from natsrpc.metadata import metadata_headers, user_metadata
from natsrpc.testing import NatsServer

S = natsrpc.StatusCode
EVERY_BYTE = bytes(range(256))
REVERSED = EVERY_BYTE[::-1]


def test_binary_values_travel_as_padded_base64_and_come_back() -> None:
    headers = metadata_headers({"X-Trace-Bin": b"\x00\x01\x02\xff", "plain": "text"})
    assert headers == {"x-trace-bin": "AAEC/w==", "plain": "text"}
    assert user_metadata(headers) == {"x-trace-bin": b"\x00\x01\x02\xff", "plain": "text"}
    # Unpadded, as gRPC peers send it, reads the same.
    assert user_metadata({"x-trace-bin": "AAEC/w"}) == {"x-trace-bin": b"\x00\x01\x02\xff"}
    assert user_metadata({"x-empty-bin": ""}) == {"x-empty-bin": b""}


def test_wrong_value_types_are_refused_before_sending() -> None:
    with pytest.raises(TypeError, match="ends in '-bin' and takes bytes"):
        metadata_headers({"x-bin": "text"})
    with pytest.raises(TypeError, match="must be str"):
        metadata_headers({"plain": b"bytes"})
    with pytest.raises(ValueError, match="printable ASCII"):
        metadata_headers({"plain": "é"})


def test_invalid_base64_is_dropped_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="natsrpc"):
        kept = user_metadata({"a-bin": "not base64!", "b-bin": "AA=E", "c-bin": "A", "d": "x"})
    assert kept == {"d": "x"}
    dropped = [r.getMessage() for r in caplog.records if "not valid base64" in r.getMessage()]
    assert len(dropped) == 3


@pytest.fixture
async def binary_echo(nc: NATS, generated: Any) -> AsyncIterator[list[Any]]:
    """Echo and Streamer services that send back every ``-bin`` value they receive, reversed."""
    from natsrpc_test import echo_natsrpc, echo_pb2, stream_natsrpc, stream_pb2

    seen: list[Any] = []

    class Echo(echo_natsrpc.Echo):
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            seen.append(dict(context.metadata))
            back = context.metadata["x-blob-bin"]
            assert isinstance(back, bytes)
            context.set_trailing_metadata({"x-back-bin": back[::-1], "x-plain": "p"})
            if request.fail_code:
                raise natsrpc.RpcError(S(request.fail_code), "failed", {"x-err-bin": back})
            return echo_pb2.EchoReply()

    class Streamer(stream_natsrpc.Streamer):
        async def produce(self, request: Any, context: natsrpc.Context) -> AsyncIterator[Any]:
            back = context.metadata["x-blob-bin"]
            assert isinstance(back, bytes)
            await context.send_initial_metadata({"x-init-bin": back})
            context.set_trailing_metadata({"x-back-bin": back[::-1]})
            yield stream_pb2.Item(index=1)
            if request.fail_code:
                raise natsrpc.RpcError(S(request.fail_code), "failed", {"x-err-bin": back})

    server = natsrpc.Server(nc)
    server.add_service(Echo())
    server.add_service(Streamer())
    async with server:
        yield seen


async def test_unary_binary_metadata_both_ways(
    binary_echo: list[Any], nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    call = echo_natsrpc.EchoClient(nc).echo(
        echo_pb2.EchoRequest(), metadata={"x-blob-bin": EVERY_BYTE}
    )
    await call
    assert binary_echo == [{"x-blob-bin": EVERY_BYTE}]
    assert await call.trailing_metadata() == {"x-back-bin": REVERSED, "x-plain": "p"}
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_natsrpc.EchoClient(nc).echo(
            echo_pb2.EchoRequest(fail_code=int(S.ABORTED)), metadata=[("x-blob-bin", EVERY_BYTE)]
        )
    assert info.value.code is S.ABORTED
    assert info.value.metadata == {"x-back-bin": REVERSED, "x-plain": "p", "x-err-bin": EVERY_BYTE}


async def test_stream_binary_metadata_initial_and_trailing(
    binary_echo: list[Any], nc: NATS
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    client = stream_natsrpc.StreamerClient(nc)
    call = client.produce(stream_pb2.ProduceRequest(), metadata={"x-blob-bin": EVERY_BYTE})
    assert await call.initial_metadata() == {"x-init-bin": EVERY_BYTE}
    assert [item.index async for item in call] == [1]
    assert await call.trailing_metadata() == {"x-back-bin": REVERSED}
    failing = client.produce(
        stream_pb2.ProduceRequest(fail_code=int(S.DATA_LOSS)), metadata={"x-blob-bin": REVERSED}
    )
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in failing:
            pass
    assert info.value.metadata == {"x-back-bin": EVERY_BYTE, "x-err-bin": REVERSED}


async def test_invalid_base64_from_a_foreign_peer_is_dropped(
    nats_server: NatsServer, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    peer = await nats.connect(nats_server.url)

    async def answer(msg: Msg) -> None:
        await peer.publish(msg.reply, b"", headers={"x-bad-bin": "%%%", "x-good-bin": "AP8="})

    await peer.subscribe("natsrpc_test.Echo.Echo", cb=answer)
    await peer.flush()
    try:
        call = echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
        await call
        assert await call.trailing_metadata() == {"x-good-bin": b"\x00\xff"}
    finally:
        await peer.close()


class _Watching(natsrpc.ClientInterceptor):
    """Records the metadata each call's interceptor chain sees."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def intercept_unary(self, request: Any, details: Any, call_next: Any) -> Any:
        self.seen.append(dict(details.metadata))
        return await call_next(request, details)

    async def intercept_stream(self, details: Any, call_next: Any) -> None:
        self.seen.append(dict(details.metadata))
        await call_next(details)


async def test_interceptors_see_and_pass_on_bytes(
    binary_echo: list[Any], nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    watching = _Watching()
    metadata = {"X-Blob-Bin": EVERY_BYTE}
    await echo_natsrpc.EchoClient(nc, interceptors=[watching]).echo(
        echo_pb2.EchoRequest(), metadata=metadata
    )
    client = stream_natsrpc.StreamerClient(nc, interceptors=[watching])
    call = client.produce(stream_pb2.ProduceRequest(), metadata=metadata)
    assert [item.index async for item in call] == [1]
    assert await call.initial_metadata() == {"x-init-bin": EVERY_BYTE}
    assert watching.seen == [{"x-blob-bin": EVERY_BYTE}, {"x-blob-bin": EVERY_BYTE}]
    assert binary_echo == [{"x-blob-bin": EVERY_BYTE}]
