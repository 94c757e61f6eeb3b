"""Deadlines: unary calls have a default, streams have none unless asked, bad values are refused."""

from __future__ import annotations

import math
from types import ModuleType

import pytest
from helpers import Served
from nats.aio.client import Client as NATS

import natsrpc

S = natsrpc.StatusCode


async def test_server_stream_outlives_the_unary_default(served: Served, nc: NATS) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    # A unary call would fail after 0.3 s; a stream watching something for longer must not.
    client = stream_natsrpc.StreamerClient(nc, timeout=0.3)
    call = client.produce(stream_pb2.ProduceRequest(count=6, sleep_ms=200, tag="long"))
    assert [item.index async for item in call] == [0, 1, 2, 3, 4, 5]
    # The server saw no deadline at all.
    assert served.streamer.contexts["long"].time_remaining() is None


async def test_stream_timeout_bounds_streams_when_set(served: Served, nc: NATS) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    client = stream_natsrpc.StreamerClient(nc, stream_timeout=0.3)
    with pytest.raises(natsrpc.RpcError) as info:
        async for _ in client.produce(stream_pb2.ProduceRequest(count=50, sleep_ms=100)):
            pass
    assert info.value.code is S.DEADLINE_EXCEEDED


async def test_unary_default_and_no_timeout(
    served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    client = echo_natsrpc.EchoClient(nc, timeout=0.2)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest(sleep_ms=500))
    assert info.value.code is S.DEADLINE_EXCEEDED
    reply = await client.echo(echo_pb2.EchoRequest(sleep_ms=500), timeout=natsrpc.NO_TIMEOUT)
    assert reply.time_remaining == -1.0  # no deadline reached the server
    unbounded = echo_natsrpc.EchoClient(nc, timeout=natsrpc.NO_TIMEOUT)
    assert (await unbounded.echo(echo_pb2.EchoRequest())).time_remaining == -1.0


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.nan])
async def test_zero_negative_or_nan_timeouts_are_refused(
    nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType, bad: float
) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(), timeout=bad)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        echo_natsrpc.EchoClient(nc, timeout=bad)
    with pytest.raises(ValueError, match="stream_timeout must be a positive number of seconds"):
        echo_natsrpc.EchoClient(nc, stream_timeout=bad)
