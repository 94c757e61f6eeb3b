"""Deadlines and cancellation of sync calls, including a connection whose loop is stuck."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sync_support import WAIT, Served

import natsrpc
import natsrpc.sync
from natsrpc import StatusCode


def test_unary_deadline(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    call = echo_client.echo.future(echo_pb2.EchoRequest(sleep_ms=3000), timeout=0.3)
    with pytest.raises(natsrpc.RpcError) as caught:
        call.result()
    assert caught.value.code is StatusCode.DEADLINE_EXCEEDED
    assert call.code() is StatusCode.DEADLINE_EXCEEDED


def test_server_stream_deadline_reaches_the_server(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    responses = stream_client.produce(
        stream_pb2.ProduceRequest(count=100, sleep_ms=200), timeout=0.5
    )
    assert 0 < responses.time_remaining() <= 0.5
    with pytest.raises(natsrpc.RpcError) as caught:
        list(responses)
    assert caught.value.code is StatusCode.DEADLINE_EXCEEDED
    served.wait_for(served.streamer.cancelled_event)


def test_client_stream_deadline_with_a_blocked_request_iterator(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    never = threading.Event()

    def requests() -> Iterator[Any]:
        yield stream_pb2.Item(index=0)
        never.wait(WAIT)

    try:
        with pytest.raises(natsrpc.RpcError) as caught:
            stream_client.collect(requests(), timeout=0.3)
        assert caught.value.code is StatusCode.DEADLINE_EXCEEDED
    finally:
        never.set()


def test_streams_have_no_deadline_unless_asked(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    responses = stream_client.produce(stream_pb2.ProduceRequest(count=2))
    assert responses.time_remaining() is None
    assert len(list(responses)) == 2


def test_a_stuck_loop_cannot_hold_a_call_past_its_deadline(
    served: Served, connection: natsrpc.sync.Connection, echo_client: Any, echo_pb2: Any
) -> None:
    release = threading.Event()
    connection.loop.call_soon_threadsafe(release.wait, WAIT)
    try:
        call = echo_client.echo.future(echo_pb2.EchoRequest(text="stuck"), timeout=0.3)
        with pytest.raises(natsrpc.RpcError) as caught:
            call.result()
        assert caught.value.code is StatusCode.DEADLINE_EXCEEDED
        assert "event loop did not answer" in caught.value.message
        assert call.code() is StatusCode.DEADLINE_EXCEEDED
    finally:
        release.set()
    # The connection works again once its loop does.
    assert echo_client.echo(echo_pb2.EchoRequest(text="free")).text == "free"


def test_a_stuck_loop_cannot_hold_a_stream_past_its_deadline(
    served: Served, connection: natsrpc.sync.Connection, stream_client: Any, stream_pb2: Any
) -> None:
    responses = stream_client.produce(stream_pb2.ProduceRequest(count=10), timeout=0.5)
    assert next(responses).index == 0
    release = threading.Event()
    connection.loop.call_soon_threadsafe(release.wait, WAIT)
    try:
        with pytest.raises(natsrpc.RpcError) as caught:
            list(responses)
        assert caught.value.code is StatusCode.DEADLINE_EXCEEDED
    finally:
        release.set()


def test_server_stream_is_read_lazily_and_cancelled_halfway(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    streamer = served.streamer
    # The handler sleeps between items, so the cancellation finds it in its own code.
    responses = stream_client.produce(
        stream_pb2.ProduceRequest(count=1000, sleep_ms=20, tag="lazy")
    )
    # Nothing goes out before the first read: a later call's round trip proves it.
    stream_client.ping(stream_pb2.Item())
    assert "lazy" not in streamer.contexts
    assert [next(responses).index for _ in range(3)] == [0, 1, 2]
    assert streamer.active == 1
    assert responses.cancel()
    served.wait_for(streamer.cancelled_event)
    assert streamer.cancelled == 1
    with pytest.raises(natsrpc.RpcError) as caught:
        next(responses)
    assert caught.value.code is StatusCode.CANCELLED
    assert responses.cancelled()
    assert not responses.cancel()


def test_leaving_a_with_block_cancels_the_stream(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    with stream_client.produce(stream_pb2.ProduceRequest(count=1000, sleep_ms=20)) as responses:
        for response in responses:
            if response.index == 2:
                break
    served.wait_for(served.streamer.cancelled_event)
    assert responses.code() is StatusCode.CANCELLED


def test_cancelling_a_bidi_stream_from_another_thread(
    served: Served, stream_client: Any, stream_pb2: Any
) -> None:
    never = threading.Event()

    def requests() -> Iterator[Any]:
        yield stream_pb2.Item(index=0)
        never.wait(WAIT)

    responses = stream_client.chat(requests())
    try:
        assert next(responses).index == 0
        threading.Timer(0.1, responses.cancel).start()
        with pytest.raises(natsrpc.RpcError) as caught:
            next(responses)
        assert caught.value.code is StatusCode.CANCELLED
        served.wait_for(served.streamer.cancelled_event)
    finally:
        never.set()


def test_cancelling_a_unary_future(served: Served, echo_client: Any, echo_pb2: Any) -> None:
    call = echo_client.echo.future(echo_pb2.EchoRequest(sleep_ms=2000))
    assert call.cancel()
    assert call.cancelled()
    with pytest.raises(natsrpc.RpcError) as caught:
        call.result()
    assert caught.value.code is StatusCode.CANCELLED
    assert not call.cancel()
