"""Unary calls end to end against a real nats-server: replies, metadata, status codes,
deadlines, encodings and payload limits."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc


async def test_call_returns_the_reply(served_echo: Any, echo_client: Any, echo_pb2: Any) -> None:
    reply = await echo_client.echo(echo_pb2.EchoRequest(text="hello"))
    assert reply.text == "hello"
    assert reply.server == "only"


async def test_subject_is_package_service_method(served_echo: Any, nc: NATS, echo_pb2: Any) -> None:
    raw = await nc.request(
        "natsrpc_test.Echo.Echo", echo_pb2.EchoRequest(text="raw").SerializeToString()
    )
    assert echo_pb2.EchoReply.FromString(raw.data).text == "raw"


async def test_metadata_reaches_the_handler(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    reply = await echo_client.echo(
        echo_pb2.EchoRequest(echo_metadata=True), metadata=[("x-user", "ada"), ("Trace-Id", "t1")]
    )
    assert dict(reply.metadata) == {"x-user": "ada", "trace-id": "t1"}


async def test_trailing_metadata_reaches_the_caller(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    call = echo_client.echo(echo_pb2.EchoRequest(text="t", trailers={"x-served-by": "a"}))
    assert not call.done()
    reply = await call
    assert call.done()
    assert await call.code() is natsrpc.StatusCode.OK
    assert reply.text == "t"
    assert await call.trailing_metadata() == {"x-served-by": "a"}
    # Awaiting again gives the same outcome without a second request.
    assert await call is reply


async def test_trailers_travel_with_errors(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    request = echo_pb2.EchoRequest(
        fail_code=5, fail_message="no such user", trailers={"x-why": "gone"}
    )
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_client.echo(request)
    assert info.value.code is natsrpc.StatusCode.NOT_FOUND
    assert info.value.message == "no such user"
    assert info.value.metadata == {"x-why": "gone"}


@pytest.mark.parametrize("code", [c for c in natsrpc.StatusCode if c is not natsrpc.StatusCode.OK])
async def test_every_status_code_round_trips(
    served_echo: Any, echo_client: Any, echo_pb2: Any, code: natsrpc.StatusCode
) -> None:
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_client.echo(
            echo_pb2.EchoRequest(fail_code=int(code), fail_message=f"m{int(code)}")
        )
    assert info.value.code is code
    assert info.value.message == f"m{int(code)}"


async def test_error_headers_follow_adr32(served_echo: Any, nc: NATS, echo_pb2: Any) -> None:
    request = echo_pb2.EchoRequest(fail_code=7, fail_message="go away")
    raw = await nc.request("natsrpc_test.Echo.Echo", request.SerializeToString())
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error"] == "go away"
    assert raw.headers["Nats-Service-Error-Code"] == "7"
    assert raw.data == b""


async def test_unhandled_exception_is_internal_and_hides_details(
    served_echo: Any, echo_client: Any, echo_pb2: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="natsrpc.server"),
        pytest.raises(natsrpc.RpcError) as info,
    ):
        await echo_client.echo(echo_pb2.EchoRequest(crash="password=hunter2"))
    assert info.value.code is natsrpc.StatusCode.INTERNAL
    assert "hunter2" not in str(info.value)
    assert "RuntimeError" not in str(info.value)
    assert any("hunter2" in r.getMessage() or r.exc_info for r in caplog.records)
    # The service goes on serving.
    assert (await echo_client.echo(echo_pb2.EchoRequest(text="after"))).text == "after"


async def test_unimplemented_method(nc: NATS, echo_natsrpc: Any, echo_pb2: Any) -> None:
    class OnlyEcho(echo_natsrpc.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            return echo_pb2.EchoReply(text="x")

    server = natsrpc.Server(nc)
    server.add_service(OnlyEcho())
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await echo_natsrpc.EchoClient(nc).peek(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.UNIMPLEMENTED
    assert "/natsrpc_test.Echo/Peek" in info.value.message


async def test_no_responders_is_unavailable_at_once(echo_client: Any, echo_pb2: Any) -> None:
    started = time.monotonic()
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_client.echo(echo_pb2.EchoRequest(), timeout=30)
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE
    # Far below the 30 s timeout: the server's no-responders status, not a timeout.
    assert time.monotonic() - started < 10


async def test_client_timeout_is_deadline_exceeded(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_client.echo(echo_pb2.EchoRequest(sleep_ms=3000), timeout=0.2)
    assert info.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED


async def test_deadline_propagates_to_the_handler(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    reply = await echo_client.echo(echo_pb2.EchoRequest(), timeout=2.0)
    assert 0 < reply.time_remaining <= 2.0


async def test_server_cancels_the_handler_at_the_deadline(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    with pytest.raises(natsrpc.RpcError):
        await echo_client.echo(echo_pb2.EchoRequest(sleep_ms=5000), timeout=0.2)
    await eventually(lambda: served_echo.cancelled, what="the handler cancelled")
    assert served_echo.cancelled == 1
    assert served_echo.active == 0


async def test_server_answers_deadline_exceeded_to_a_patient_caller(
    served_echo: Any, nc: NATS, echo_pb2: Any
) -> None:
    # A foreign caller that sends a short deadline but waits longer sees the status.
    raw = await nc.request(
        "natsrpc_test.Echo.Echo",
        echo_pb2.EchoRequest(sleep_ms=5000).SerializeToString(),
        timeout=5,
        headers={"Rpc-Timeout-Ms": "100"},
    )
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == str(int(natsrpc.StatusCode.DEADLINE_EXCEEDED))


async def test_plain_json_request(served_echo: Any, nc: NATS) -> None:
    raw = await nc.request(
        "natsrpc_test.Echo.Echo",
        json.dumps({"text": "from json", "trailers": {"k": "v"}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert raw.headers is not None
    assert raw.headers["Content-Type"] == "application/json"
    assert raw.headers["k"] == "v"
    body = json.loads(raw.data)
    assert body["text"] == "from json"
    assert body["server"] == "only"


async def test_bad_json_is_invalid_argument(served_echo: Any, nc: NATS) -> None:
    raw = await nc.request(
        "natsrpc_test.Echo.Echo", b'{"nope": 1}', headers={"Content-Type": "application/json"}
    )
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"


async def test_unknown_content_type_is_invalid_argument(served_echo: Any, nc: NATS) -> None:
    raw = await nc.request("natsrpc_test.Echo.Echo", b"x", headers={"Content-Type": "text/xml"})
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"
    assert "text/xml" in raw.headers["Nats-Service-Error"]


async def test_bad_payload_is_invalid_argument_and_service_goes_on(
    served_echo: Any, nc: NATS, echo_client: Any, echo_pb2: Any
) -> None:
    raw = await nc.request("natsrpc_test.Echo.Echo", b"\xff\xff\xff not protobuf")
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "3"
    assert "natsrpc_test.EchoRequest" in raw.headers["Nats-Service-Error"]
    assert (await echo_client.echo(echo_pb2.EchoRequest(text="still here"))).text == "still here"


async def test_request_over_max_payload_is_a_clear_client_error(
    served_echo: Any, nc: NATS, echo_client: Any, echo_pb2: Any
) -> None:
    too_big = b"x" * (nc.max_payload + 1)
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_client.echo(echo_pb2.EchoRequest(blob=too_big))
    assert info.value.code is natsrpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_payload" in info.value.message


async def test_large_payload_round_trips(
    served_echo: Any, nc: NATS, echo_client: Any, echo_pb2: Any
) -> None:
    blob = bytes(range(256)) * ((nc.max_payload // 2) // 256)
    reply = await echo_client.echo(echo_pb2.EchoRequest(blob=blob))
    assert reply.blob == blob


async def test_wrong_request_type_is_a_type_error(
    served_echo: Any, echo_client: Any, echo_pb2: Any
) -> None:
    with pytest.raises(TypeError, match="EchoRequest"):
        await echo_client.echo(echo_pb2.EchoReply())


@pytest.mark.parametrize("key", ["Nats-Service-Error", "rpc-timeout-ms", "content-type", "bad key"])
async def test_reserved_or_invalid_metadata_keys_are_refused(
    echo_client: Any, echo_pb2: Any, key: str
) -> None:
    with pytest.raises(ValueError):
        await echo_client.echo(echo_pb2.EchoRequest(), metadata={key: "v"})


async def test_a_handler_returning_the_wrong_type_is_internal(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Wrong(echo_natsrpc.Echo):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            return echo_pb2.EchoRequest(text="not a reply")

    server = natsrpc.Server(nc)
    server.add_service(Wrong())
    with caplog.at_level(logging.ERROR, logger="natsrpc"):
        async with server:
            with pytest.raises(natsrpc.RpcError) as info:
                await echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.INTERNAL
    assert info.value.message == "internal error"
    assert any("EchoRequest, not EchoReply" in r.getMessage() for r in caplog.records)
