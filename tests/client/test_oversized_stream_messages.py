"""A request message over max_payload fails its client-streaming or bidi call at once.

Whether it is the first message or a later one, the call ends with
RESOURCE_EXHAUSTED instead of waiting forever, and the server's handler, which
was waiting for the message, is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc

BOUND = 10.0
"""Seconds that only guard against the hang this module is about."""


@pytest.fixture
def pb(generated: Any) -> Any:
    from natsrpc_test import stream_pb2

    return stream_pb2


@pytest.fixture
def impl(generated: Any) -> Any:
    import stream_service

    return stream_service.StreamerService()


@pytest.fixture
async def client(nc: NATS, impl: Any, generated: Any) -> AsyncIterator[Any]:
    from natsrpc_test import stream_natsrpc

    server = natsrpc.Server(nc)
    server.add_service(impl)
    async with server:
        yield stream_natsrpc.StreamerClient(nc, timeout=30)


def _requests(pb: Any, nc: NATS, big_at: int) -> list[Any]:
    items = [pb.Item(index=i, text="small") for i in range(big_at)]
    return [*items, pb.Item(index=big_at, blob=b"x" * (nc.max_payload + 1))]


def _subscriptions(nc: NATS) -> int:
    # nats-py keeps every live subscription of the connection here.
    return len(nc._subs)


async def _released(impl: Any, nc: NATS, baseline: int) -> None:
    """The server's handler was cancelled, and the call's reply subscription is gone."""
    await eventually(lambda: impl.active == 0 and impl.cancelled == 1, BOUND)
    await eventually(lambda: _subscriptions(nc) == baseline, BOUND)


@pytest.mark.parametrize("big_at", [0, 1, 3])
async def test_client_streaming(client: Any, impl: Any, pb: Any, nc: NATS, big_at: int) -> None:
    baseline = _subscriptions(nc)
    with pytest.raises(natsrpc.RpcError) as info:
        await asyncio.wait_for(client.collect(_requests(pb, nc, big_at)), BOUND)
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    assert "request message of" in info.value.message
    await _released(impl, nc, baseline)
    # The smaller messages went out first; the cancel may overtake their handling.
    assert impl.received == list(range(len(impl.received)))
    assert len(impl.received) <= big_at


@pytest.mark.parametrize("big_at", [0, 1, 3])
async def test_bidi_with_a_request_iterable(
    client: Any, impl: Any, pb: Any, nc: NATS, big_at: int
) -> None:
    baseline = _subscriptions(nc)
    replies: list[int] = []

    async def read_all() -> None:
        async for reply in client.chat(_requests(pb, nc, big_at)):
            replies.append(reply.index)

    with pytest.raises(natsrpc.RpcError) as info:
        await asyncio.wait_for(read_all(), BOUND)
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    await _released(impl, nc, baseline)
    assert set(replies) <= set(range(big_at))


@pytest.mark.parametrize("big_at", [0, 2])
async def test_bidi_written_by_hand(client: Any, impl: Any, pb: Any, nc: NATS, big_at: int) -> None:
    baseline = _subscriptions(nc)
    call = client.chat()
    *small, big = _requests(pb, nc, big_at)
    for item in small:
        await call.write(item)
        assert (await asyncio.wait_for(call.read(), BOUND)).index == item.index
    with pytest.raises(natsrpc.RpcError) as written:
        await call.write(big)
    assert written.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    # The call is over, for the reader too, and nothing more can be written.
    with pytest.raises(natsrpc.RpcError) as read:
        await asyncio.wait_for(call.read(), BOUND)
    assert read.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(natsrpc.RpcError):
        await call.write(pb.Item(index=99))
    assert await call.code() is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    await _released(impl, nc, baseline)
