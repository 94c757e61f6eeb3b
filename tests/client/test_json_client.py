"""``encoding="json"``: a Python client that speaks protobuf JSON, for every method kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType

import pytest
from helpers import Served, eventually, wiretap
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

import natsrpc
from natsrpc.testing import NatsServer

S = natsrpc.StatusCode


@pytest.fixture
async def wiretapped(nats_server: NatsServer) -> AsyncIterator[list[Msg]]:
    # Requested before ``served`` so the spy subscribes first: with JetStream on,
    # nats-server 2.15 now and then skips a plain subscription made after a queue
    # subscription to the same subject (about 1 run in 20, also with raw nats-py).
    async with wiretap(nats_server.url, "natsrpc_test.>") as seen:
        yield seen


async def test_unary_json_round_trip(
    wiretapped: list[Msg], served: Served, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    client = echo_natsrpc.EchoClient(nc, encoding="json")
    reply = await client.echo(echo_pb2.EchoRequest(text="héllo", blob=b"\x00\x01"))
    assert reply.text == "héllo" and reply.blob == b"\x00\x01"
    # The spy is another connection: the reply can reach us before the request reaches it.
    await eventually(lambda: wiretapped)
    request = wiretapped[0]
    assert request.headers is not None
    assert request.headers["Content-Type"] == "application/json"
    assert request.data == b'{"text": "h\\u00e9llo", "blob": "AAE="}'
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest(fail_code=int(S.NOT_FOUND), fail_message="no"))
    assert (info.value.code, info.value.message) == (S.NOT_FOUND, "no")


async def test_streaming_kinds_in_json(wiretapped: list[Msg], served: Served, nc: NATS) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    client = stream_natsrpc.StreamerClient(nc, encoding="json")
    produced = [i.index async for i in client.produce(stream_pb2.ProduceRequest(count=3))]
    assert produced == [0, 1, 2]
    summary = await client.collect([stream_pb2.Item(index=i) for i in (4, 5)])
    assert list(summary.indexes) == [4, 5]
    chat = [i.text async for i in client.chat([stream_pb2.Item(index=1, text="j")])]
    assert chat == ["j"]

    def opens_seen() -> list[Msg]:
        return [m for m in wiretapped if m.headers and m.headers.get("Rpc-Frame") == "open"]

    await eventually(lambda: len(opens_seen()) >= 3)
    opens = opens_seen()
    assert len(opens) == 3
    assert all(m.headers and m.headers["Content-Type"] == "application/json" for m in opens)
    assert opens[0].data == b'{"count": 3}'


async def test_unknown_encoding_is_refused(nc: NATS, echo_natsrpc: ModuleType) -> None:
    with pytest.raises(ValueError, match="encoding must be 'protobuf' or 'json', not 'xml'"):
        echo_natsrpc.EchoClient(nc, encoding="xml")
