"""Status messages arrive exactly as the server raised them, and can never inject headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType

import pytest
from helpers import Served, eventually, wiretap
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

import natsrpc
from natsrpc.protocol.headers import error_from_headers, error_headers
from natsrpc.testing import NatsServer

S = natsrpc.StatusCode

MESSAGES = [
    "plain ASCII, with 100% of its punctuation: ;,=",
    "tab\there",
    "two\r\nlines\nand a bare\rreturn",
    "  leading and trailing spaces  ",
    "emoji 🚀 and non-BMP 𝄞 and accents é",
    "\x00 control \x7f bytes",
    "%41 looks encoded but is not",
    "NOT_FOUND",
    "x\r\nNats-Service-Error-Code: 0\r\nX-Injected: yes",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_headers_round_trip_every_message(message: str) -> None:
    headers = error_headers(natsrpc.RpcError(S.NOT_FOUND, message), None)
    # Whatever the message, each header value is one line of printable ASCII.
    for value in headers.values():
        assert value.isascii() and value.isprintable() and "\r" not in value
    error = error_from_headers(headers)
    assert (error.code, error.message) == (S.NOT_FOUND, message)


def test_plain_messages_read_as_themselves_for_other_adr32_clients() -> None:
    headers = error_headers(natsrpc.RpcError(S.ABORTED, "order 42 was already shipped"), None)
    assert headers == {
        "Nats-Service-Error": "order 42 was already shipped",
        "Nats-Service-Error-Code": "10",
    }
    folded = error_headers(natsrpc.RpcError(S.ABORTED, "two\nlines"), None)
    assert folded["Nats-Service-Error"] == "two lines"  # readable for the nats CLI
    assert folded["Rpc-Status-Message"] == "two%0Alines"


def test_empty_message_reads_as_empty() -> None:
    headers = error_headers(natsrpc.RpcError(S.UNAVAILABLE), None)
    assert headers["Nats-Service-Error"] == "UNAVAILABLE"
    assert error_from_headers(headers).message == ""


@pytest.fixture
async def replies(nats_server: NatsServer) -> AsyncIterator[list[Msg]]:
    """Every reply and stream frame sent to an inbox; requested before ``served`` (see
    tests/client/test_json_client.py's ``wiretapped``)."""
    async with wiretap(nats_server.url, "_INBOX.>") as seen:
        yield seen


@pytest.mark.parametrize("message", MESSAGES)
async def test_unary_and_stream_errors_carry_the_exact_message(
    replies: list[Msg],
    served: Served,
    nc: NATS,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
    message: str,
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    with pytest.raises(natsrpc.RpcError) as unary:
        await echo_natsrpc.EchoClient(nc).echo(
            echo_pb2.EchoRequest(fail_code=5, fail_message=message)
        )
    assert (unary.value.code, unary.value.message) == (S.NOT_FOUND, message)

    stream = stream_natsrpc.StreamerClient(nc).produce(
        stream_pb2.ProduceRequest(count=2, fail_after=1, fail_code=5, fail_message=message)
    )
    with pytest.raises(natsrpc.RpcError) as streamed:
        async for _ in stream:
            pass
    assert (streamed.value.code, streamed.value.message) == (S.NOT_FOUND, message)

    await eventually(
        lambda: sum(1 for m in replies if m.headers and "Nats-Service-Error" in m.headers) == 2
    )
    for reply in replies:
        assert reply.headers is not None
        assert "X-Injected" not in reply.headers
        if "Nats-Service-Error-Code" in reply.headers:
            assert reply.headers["Nats-Service-Error-Code"] == "5"
