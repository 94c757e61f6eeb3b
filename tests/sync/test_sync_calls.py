"""Every method kind through a generated sync client, against a real nats-server.

The call sites are written as grpcio's synchronous stubs are used: the method
called directly, ``.with_call`` for trailers, ``.future`` for a call in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sync_support import WAIT, Served

import natsrpc
import natsrpc.sync
from natsrpc import StatusCode


def test_unary_returns_the_response(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    reply = echo_client.echo(echo_pb2.EchoRequest(text="hello"))
    assert isinstance(reply, echo_pb2.EchoReply)
    assert (reply.text, reply.server) == ("hello", "sync")


def test_grpc_style_name_and_call_site(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    # A grpcio call site, unchanged: CamelCase method, timeout, metadata as pairs.
    reply = echo_client.Peek(
        echo_pb2.EchoRequest(text="hi", echo_metadata=True),
        timeout=2,
        metadata=[("x-user", "ada")],
    )
    assert reply.text == "hi"
    assert dict(reply.metadata) == {"x-user": "ada"}
    # The deadline the server saw is the call's own.
    assert 0 < reply.time_remaining <= 2


def test_with_call_gives_status_and_trailers(
    served: Served, echo_client: Any, echo_pb2: Any
) -> None:
    reply, call = echo_client.Echo.with_call(
        echo_pb2.EchoRequest(text="x", trailers={"x-trailer": "t"})
    )
    assert reply.text == "x"
    assert isinstance(call, natsrpc.sync.UnaryCall)
    assert call.code() is StatusCode.OK
    assert call.details() == ""
    assert dict(call.trailing_metadata()) == {"x-trailer": "t"}
    assert call.done() and not call.is_active() and not call.cancelled()
    assert call.time_remaining() is None


def test_future_and_done_callback(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    ended = threading.Event()
    call = echo_client.echo.future(echo_pb2.EchoRequest(text="later", sleep_ms=50))
    call.add_done_callback(lambda done: ended.set())
    assert call.result().text == "later"
    assert ended.wait(WAIT)
    assert call.exception() is None


def test_result_with_a_short_timeout_leaves_the_call_running(
    served: Served, echo_client: Any, echo_pb2: Any
) -> None:
    call = echo_client.echo.future(echo_pb2.EchoRequest(text="slow", sleep_ms=500))
    with pytest.raises(TimeoutError):
        call.result(timeout=0.01)
    assert call.result().text == "slow"


def test_server_stream_yields_every_response(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    responses = stream_client.Produce(
        stream_pb2.ProduceRequest(count=5, initial={"x-i": "1"}, trailers={"x-t": "2"})
    )
    assert isinstance(responses, natsrpc.sync.StreamCall)
    assert dict(responses.initial_metadata()) == {"x-i": "1"}
    assert [item.index for item in responses] == [0, 1, 2, 3, 4]
    assert responses.code() is StatusCode.OK
    assert dict(responses.trailing_metadata()) == {"x-t": "2"}
    # An exhausted stream stays exhausted.
    assert list(responses) == []


def test_client_stream_takes_any_iterable(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    listed = stream_client.collect([stream_pb2.Item(index=i) for i in range(3)])
    assert list(listed.indexes) == [0, 1, 2]

    def generated() -> Iterator[Any]:
        for index in range(40):
            yield stream_pb2.Item(index=index, blob=b"x")

    summary, call = stream_client.Collect.with_call(
        generated(), metadata={"x-trailer": "done", "x-initial": "hi"}
    )
    assert (summary.count, summary.bytes) == (40, 40)
    assert list(summary.indexes) == list(range(40))
    assert dict(call.initial_metadata()) == {"x-initial": "hi"}
    assert dict(call.trailing_metadata()) == {"x-trailer": "done"}


def test_bidi_stream_with_a_generator_that_waits_for_responses(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    # Ping-pong: the request generator blocks until the previous answer is in,
    # which works only because it is not read on the connection's loop.
    answers: queue.Queue[int] = queue.Queue()

    def requests() -> Iterator[Any]:
        for index in range(5):
            yield stream_pb2.Item(index=index, text=f"n{index}")
            assert answers.get(timeout=WAIT) == index

    seen = []
    for response in stream_client.chat(requests()):
        seen.append(response.text)
        answers.put(response.index)
    assert seen == ["n0", "n1", "n2", "n3", "n4"]


def test_unary_error_carries_code_details_and_trailers(
    served: Served, echo_client: Any, echo_pb2: Any
) -> None:
    request = echo_pb2.EchoRequest(
        fail_code=StatusCode.NOT_FOUND, fail_message="no such thing", trailers={"x-why": "gone"}
    )
    with pytest.raises(natsrpc.RpcError) as caught:
        echo_client.Echo(request)
    error = caught.value
    # grpcio's accessors read the same.
    assert error.code() is StatusCode.NOT_FOUND
    assert error.details() == "no such thing"
    assert dict(error.trailing_metadata()) == {"x-why": "gone"}

    call = echo_client.echo.future(request)
    assert call.exception() is not None
    assert call.code() is StatusCode.NOT_FOUND
    assert call.details() == "no such thing"
    assert dict(call.trailing_metadata()) == {"x-why": "gone"}


def test_unary_error_details_reach_the_sync_caller(
    served: Served, echo_client: Any, echo_pb2: Any
) -> None:
    request = echo_pb2.EchoRequest(text="details", fail_code=StatusCode.ABORTED, fail_message="x")
    with pytest.raises(natsrpc.RpcError) as caught:
        echo_client.echo(request)
    assert caught.value.detail(echo_pb2.EchoReply) == echo_pb2.EchoReply(text="detail")
    # A failed future's recorded status keeps them too.
    failed = echo_client.echo.future(request).exception()
    assert isinstance(failed, natsrpc.RpcError)
    assert [d.type_url for d in failed.details] == ["type.googleapis.com/natsrpc_test.EchoReply"]


def test_handler_crash_is_internal(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    with pytest.raises(natsrpc.RpcError) as caught:
        echo_client.echo(echo_pb2.EchoRequest(crash="boom"))
    assert caught.value.code is StatusCode.INTERNAL
    assert "boom" not in caught.value.message


def test_no_server_is_unavailable(generated: Any, connection: Any, echo_pb2: Any) -> None:
    from natsrpc_test import echo_natsrpc

    client = echo_natsrpc.EchoSyncClient(connection, subject_prefix="nobody.")
    with pytest.raises(natsrpc.RpcError) as caught:
        client.echo(echo_pb2.EchoRequest())
    assert caught.value.code is StatusCode.UNAVAILABLE


def test_stream_error_after_some_responses(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    responses = stream_client.produce(
        stream_pb2.ProduceRequest(
            count=5, fail_after=2, fail_code=StatusCode.ABORTED, fail_message="stop"
        )
    )
    assert next(responses).index == 0
    assert next(responses).index == 1
    with pytest.raises(natsrpc.RpcError) as caught:
        next(responses)
    assert (caught.value.code, caught.value.message) == (StatusCode.ABORTED, "stop")
    assert responses.code() is StatusCode.ABORTED
    assert responses.details() == "stop"
    # The failure is kept: reading on raises it again.
    with pytest.raises(natsrpc.RpcError) as again:
        next(responses)
    assert again.value.code is StatusCode.ABORTED


def test_failing_request_iterator_cancels_the_call(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    def requests() -> Iterator[Any]:
        yield stream_pb2.Item(index=0)
        raise ValueError("no more input")

    with pytest.raises(natsrpc.RpcError) as caught:
        stream_client.collect(requests())
    assert caught.value.code is StatusCode.CANCELLED
    assert "no more input" in caught.value.message


def test_bad_arguments_fail_in_the_callers_thread(
    served: Served, echo_client: Any, stream_client: Any, echo_pb2: Any, stream_pb2: Any
) -> None:
    with pytest.raises(TypeError, match="takes EchoRequest, not Item"):
        echo_client.echo(stream_pb2.Item())
    with pytest.raises(ValueError, match="reserved"):
        echo_client.echo(echo_pb2.EchoRequest(), metadata={"rpc-frame": "x"})
    with pytest.raises(ValueError, match="timeout"):
        echo_client.echo(echo_pb2.EchoRequest(), timeout=0)
    with pytest.raises(TypeError, match="on a client instance"):
        type(echo_client).echo(echo_pb2.EchoRequest())


def test_client_takes_only_a_sync_connection(generated: Any) -> None:
    from natsrpc_test import echo_natsrpc

    with pytest.raises(TypeError, match="use the async EchoClient"):
        echo_natsrpc.EchoSyncClient(object())


class AddHeader(natsrpc.ClientInterceptor):
    async def intercept_unary(self, request: Any, details: Any, call_next: Any) -> Any:
        details.metadata["x-added"] = "yes"
        return await call_next(request, details)


def test_async_client_options_apply(
    served: Served, generated: Any, connection: Any, echo_pb2: Any
) -> None:
    from natsrpc_test import echo_natsrpc

    client = echo_natsrpc.EchoSyncClient(
        connection,
        subject_prefix="alt.",
        encoding="json",
        interceptors=[AddHeader()],
        retry=natsrpc.RetryPolicy(max_attempts=2),
    )
    reply = client.peek(echo_pb2.EchoRequest(text="via alt", echo_metadata=True))
    assert reply.text == "via alt"
    assert reply.metadata["x-added"] == "yes"
    with pytest.raises(ValueError, match="encoding"):
        echo_natsrpc.EchoSyncClient(connection, encoding="xml")


def test_sync_client_takes_the_async_clients_options() -> None:
    import inspect

    def options(function: Any) -> dict[str, Any]:
        parameters = inspect.signature(function).parameters.values()
        return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}

    assert options(natsrpc.sync.SyncClient.__init__) == options(natsrpc.stubs.Client.__init__)
