"""Error details (google.rpc.Status with Any details, protocol.md §6.2) end to end."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import nats
import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from helpers import eventually, wiretap
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

import natsrpc
from natsrpc.status import from_status, serialized_status, to_status
from natsrpc.testing import NatsServer

S = natsrpc.StatusCode
BAD_REQUEST = error_details_pb2.BadRequest(
    field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="email", description="not an address")
    ]
)
ERROR_INFO = error_details_pb2.ErrorInfo(
    reason="QUOTA", domain="example.com", metadata={"limit": "10"}
)
RETRY_INFO = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=3, nanos=500))
ENCODINGS = ["protobuf", "json"]


def _user_detail(echo_pb2: ModuleType) -> Any:
    # A message of the user's own schema, not a google.rpc one.
    return echo_pb2.EchoReply(text="détail", blob=b"\x00\xff", metadata={"k": "v"})


@pytest.fixture
async def detailed(
    nc: NATS, echo_service: ModuleType, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> Any:
    """An Echo service whose every call fails with the four kinds of detail."""

    class Failing(echo_natsrpc.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            if request.text == "plain":
                context.abort(S.NOT_FOUND, "no such thing")
            details = [BAD_REQUEST, ERROR_INFO, RETRY_INFO, _user_detail(echo_pb2)]
            if request.text == "huge":
                details.append(echo_pb2.EchoReply(blob=b"x" * (nc.max_payload + 10)))
            context.abort(S.INVALID_ARGUMENT, "email is not valid ✉", details=details)

    server = natsrpc.Server(nc)
    server.add_service(Failing())
    async with server:
        yield


def _assert_four_details(error: natsrpc.RpcError, echo_pb2: ModuleType) -> None:
    assert (error.code, error.message) == (S.INVALID_ARGUMENT, "email is not valid ✉")
    assert [d.type_url.rsplit("/", 1)[1] for d in error.details] == [
        "google.rpc.BadRequest",
        "google.rpc.ErrorInfo",
        "google.rpc.RetryInfo",
        "natsrpc_test.EchoReply",
    ]
    assert all(isinstance(d, AnyMessage) for d in error.details)
    assert error.detail(error_details_pb2.BadRequest) == BAD_REQUEST
    assert error.detail(error_details_pb2.ErrorInfo) == ERROR_INFO
    assert error.detail(error_details_pb2.RetryInfo) == RETRY_INFO
    assert error.detail(echo_pb2.EchoReply) == _user_detail(echo_pb2)
    assert error.detail(error_details_pb2.QuotaFailure) is None
    # grpc.aio's name for the message keeps working.
    assert error.details() == "email is not valid ✉"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_unary_details_round_trip(
    detailed: None, nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType, encoding: str
) -> None:
    client = echo_natsrpc.EchoClient(nc, encoding=encoding)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest(text="x"))
    _assert_four_details(info.value, echo_pb2)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_stream_end_details_round_trip(
    nc: NATS, generated: Any, echo_pb2: ModuleType, encoding: str
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    class Producer(stream_natsrpc.Streamer):
        async def produce(
            self, request: Any, context: natsrpc.Context
        ) -> AsyncIterator[stream_pb2.Item]:
            yield stream_pb2.Item(index=1)
            raise natsrpc.RpcError(
                S.INVALID_ARGUMENT,
                "email is not valid ✉",
                details=[BAD_REQUEST, ERROR_INFO, RETRY_INFO, _user_detail(echo_pb2)],
            )

    server = natsrpc.Server(nc)
    server.add_service(Producer())
    async with server:
        client = stream_natsrpc.StreamerClient(nc, encoding=encoding)
        call = client.produce(stream_pb2.ProduceRequest())
        seen = []
        with pytest.raises(natsrpc.RpcError) as info:
            async for item in call:
                seen.append(item.index)
    assert seen == [1]
    _assert_four_details(info.value, echo_pb2)


async def test_json_details_are_protobuf_json_anys(
    nats_server: NatsServer, detailed: None, nc: NATS
) -> None:
    raw = await nats.connect(nats_server.url)
    try:
        reply = await raw.request(
            "natsrpc_test.Echo.Echo", b"{}", timeout=5, headers={"Content-Type": "application/json"}
        )
    finally:
        await raw.close()
    assert reply.headers is not None
    assert reply.headers["Rpc-Status-Details"] == "application/json"
    import json

    status = json.loads(reply.data)
    assert status["code"] == 3 and status["message"] == "email is not valid ✉"
    assert status["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "email", "description": "not an address"}],
    }
    assert status["details"][2]["retryDelay"] == "3.000000500s"


@pytest.fixture
async def replies(nats_server: NatsServer) -> AsyncIterator[list[Msg]]:
    async with wiretap(nats_server.url, "_INBOX.>") as seen:
        yield seen


async def test_error_without_details_is_unchanged_on_the_wire(
    replies: list[Msg], nats_server: NatsServer, detailed: None, nc: NATS, generated: Any
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    raw = await nats.connect(nats_server.url)
    try:
        reply = await raw.request("natsrpc_test.Echo.Echo", b"\x0a\x05plain", timeout=5)
    finally:
        await raw.close()
    # Exactly what a natsrpc server sent before details existed.
    assert reply.data == b""
    assert reply.headers == {
        "Nats-Service-Error": "no such thing",
        "Nats-Service-Error-Code": "5",
    }

    class Producer(stream_natsrpc.Streamer):
        async def produce(self, request: Any, context: natsrpc.Context) -> AsyncIterator[Any]:
            yield stream_pb2.Item(index=1)
            raise natsrpc.RpcError(S.ABORTED, "stop")

    server = natsrpc.Server(nc)
    server.add_service(Producer())
    async with server:
        call = stream_natsrpc.StreamerClient(nc).produce(stream_pb2.ProduceRequest())
        with pytest.raises(natsrpc.RpcError):
            async for _ in call:
                pass

    def ends() -> list[Msg]:
        return [m for m in replies if m.headers and m.headers.get("Rpc-Frame") == "end"]

    await eventually(ends)
    (end,) = ends()
    assert end.data == b""
    assert end.headers == {
        "Nats-Service-Error": "stop",
        "Nats-Service-Error-Code": "10",
        "Rpc-Frame": "end",
        "Rpc-Seq": "1",
    }


async def test_foreign_client_reads_code_and_message_of_an_error_with_details(
    nats_server: NatsServer, detailed: None
) -> None:
    raw = await nats.connect(nats_server.url)
    try:
        reply = await raw.request("natsrpc_test.Echo.Echo", b"", timeout=5)
    finally:
        await raw.close()
    assert reply.headers is not None
    # An ADR-32 client reads only these two; the exact message is in Rpc-Status-Message.
    assert reply.headers["Nats-Service-Error-Code"] == "3"
    assert reply.headers["Nats-Service-Error"] == "email is not valid \\u2709"
    assert reply.headers["Rpc-Status-Details"] == "application/protobuf"
    status = status_pb2.Status.FromString(reply.data)
    assert (status.code, status.message, len(status.details)) == (3, "email is not valid ✉", 4)


async def test_details_too_large_are_dropped_and_logged_once(
    detailed: None,
    nc: NATS,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = echo_natsrpc.EchoClient(nc)
    with caplog.at_level(logging.WARNING, logger="natsrpc"):
        for _ in range(2):
            with pytest.raises(natsrpc.RpcError) as info:
                await client.echo(echo_pb2.EchoRequest(text="huge"))
            assert (info.value.code, info.value.message) == (
                S.INVALID_ARGUMENT,
                "email is not valid ✉",
            )
            assert info.value.details == ()
    dropped = [r for r in caplog.records if "error details dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert "/natsrpc_test.Echo/Echo" in dropped[0].getMessage()


@pytest.fixture
async def foreign(nats_server: NatsServer) -> AsyncIterator[list[tuple[dict[str, str], bytes]]]:
    """A hand-written ADR-32 peer on natsrpc_test.Echo.Echo: each call pops its next answer."""
    answers: list[tuple[dict[str, str], bytes]] = []
    peer = await nats.connect(nats_server.url)

    async def answer(msg: Msg) -> None:
        headers, payload = answers.pop(0)
        await peer.publish(msg.reply, payload, headers=headers)

    await peer.subscribe("natsrpc_test.Echo.Echo", cb=answer)
    await peer.flush()
    try:
        yield answers
    finally:
        await peer.close()


MALFORMED = [
    ("application/protobuf", b"\xff\xff\xff"),
    ("application/json", b"{not json"),
    ("application/json", b'{"details": [{"@type": "type.googleapis.com/no.Such", "a": 1}]}'),
    ("application/json", b'{"details": 7}'),
    ("text/plain", b"whatever"),
]


@pytest.mark.parametrize(("media_type", "payload"), MALFORMED)
async def test_malformed_details_leave_code_and_message_intact(
    foreign: list[tuple[dict[str, str], bytes]],
    nc: NATS,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
    media_type: str,
    payload: bytes,
) -> None:
    headers = {
        "Nats-Service-Error": "broken",
        "Nats-Service-Error-Code": "9",
        "Rpc-Status-Details": media_type,
    }
    foreign.append((headers, payload))
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
    assert (info.value.code, info.value.message) == (S.FAILED_PRECONDITION, "broken")
    assert info.value.details == ()


async def test_error_data_of_other_adr32_services_is_not_read_as_details(
    foreign: list[tuple[dict[str, str], bytes]],
    nc: NATS,
    echo_natsrpc: ModuleType,
    echo_pb2: ModuleType,
) -> None:
    # A valid Status, but without Rpc-Status-Details it is the service's own error data.
    body = serialized_status(natsrpc.RpcError(S.INTERNAL, "x", details=[BAD_REQUEST]))
    foreign.append(({"Nats-Service-Error": "oops", "Nats-Service-Error-Code": "500"}, body))
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
    assert (info.value.code, info.value.message, info.value.details) == (S.UNKNOWN, "oops", ())


def test_status_conversions_round_trip() -> None:
    error = natsrpc.RpcError(S.NOT_FOUND, "gone", {"a": "b"}, details=[ERROR_INFO])
    status = to_status(error)
    assert isinstance(status, status_pb2.Status)
    assert (status.code, status.message) == (5, "gone")
    assert serialized_status(error) == status.SerializeToString()
    back = from_status(status)
    assert (back.code, back.message, back.details) == (S.NOT_FOUND, "gone", error.details)
    assert back.detail(error_details_pb2.ErrorInfo) == ERROR_INFO
    with pytest.raises(ValueError, match="OK status"):
        from_status(status_pb2.Status(code=0))


def test_any_details_are_kept_as_given_and_other_values_refused() -> None:
    packed = AnyMessage(type_url="type.googleapis.com/unknown.Type", value=b"\x01\x02")
    error = natsrpc.RpcError(S.ABORTED, "x", details=[packed])
    assert error.details == (packed,)
    assert error.detail(error_details_pb2.BadRequest) is None
    with pytest.raises(TypeError, match="protobuf messages"):
        natsrpc.RpcError(S.ABORTED, "x", details=["not a message"])  # type: ignore[list-item]


async def test_json_leaves_out_details_it_cannot_write(
    nc: NATS, echo_natsrpc: ModuleType, echo_pb2: ModuleType
) -> None:
    unknown = AnyMessage(type_url="type.googleapis.com/no.Such", value=b"\x01")

    class Failing(echo_natsrpc.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            details = [unknown] if request.text == "only" else [unknown, RETRY_INFO]
            context.abort(S.UNAVAILABLE, "later", details=details)

    server = natsrpc.Server(nc)
    server.add_service(Failing())
    async with server:
        json_client = echo_natsrpc.EchoClient(nc, encoding="json")
        with pytest.raises(natsrpc.RpcError) as info:
            await json_client.echo(echo_pb2.EchoRequest())
        assert [d.type_url for d in info.value.details] == [
            "type.googleapis.com/google.rpc.RetryInfo"
        ]
        with pytest.raises(natsrpc.RpcError) as only:
            await json_client.echo(echo_pb2.EchoRequest(text="only"))
        assert (only.value.code, only.value.message, only.value.details) == (
            S.UNAVAILABLE,
            "later",
            (),
        )
        # The binary encoding carries what it does not know as it is.
        with pytest.raises(natsrpc.RpcError) as binary:
            await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
        assert binary.value.details[0] == unknown
        assert binary.value.detail(error_details_pb2.RetryInfo) == RETRY_INFO


async def test_stream_end_with_details_too_large_still_ends_the_call(
    nc: NATS, generated: Any, echo_pb2: ModuleType
) -> None:
    from natsrpc_test import stream_natsrpc, stream_pb2

    class Producer(stream_natsrpc.Streamer):
        async def produce(
            self, request: Any, context: natsrpc.Context
        ) -> AsyncIterator[stream_pb2.Item]:
            yield stream_pb2.Item(index=1)
            huge = echo_pb2.EchoReply(blob=b"x" * nc.max_payload)
            raise natsrpc.RpcError(S.ABORTED, "too much", details=[huge, BAD_REQUEST])

    server = natsrpc.Server(nc)
    server.add_service(Producer())
    async with server:
        call = stream_natsrpc.StreamerClient(nc).produce(stream_pb2.ProduceRequest())
        with pytest.raises(natsrpc.RpcError) as info:
            async for _ in call:
                pass
    assert (info.value.code, info.value.message, info.value.details) == (S.ABORTED, "too much", ())
