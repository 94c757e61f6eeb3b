"""One connection and one sync client shared by many threads, and the connection's life."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sync_support import WAIT, Served

import natsrpc
import natsrpc.sync
from natsrpc import StatusCode
from natsrpc.testing import NatsServer


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """``work(i)`` in ``count`` threads released together; their results, or their errors."""
    start = threading.Barrier(count, timeout=WAIT)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_64_threads_share_one_client_and_run_concurrently(
    served: Served, echo_client: Any, echo_pb2: Any
) -> None:
    def call(index: int) -> str:
        reply = echo_client.echo(echo_pb2.EchoRequest(text=str(index), sleep_ms=200), timeout=WAIT)
        return str(reply.text)

    assert run_in_threads(64, call) == [str(i) for i in range(64)]
    # Served one at a time, the server would never have seen two calls at once.
    assert served.echo.peak_active > 1


def test_streams_from_many_threads(served: Served, stream_client: Any, stream_pb2: Any) -> None:
    def stream(index: int) -> list[int]:
        responses = stream_client.produce(stream_pb2.ProduceRequest(count=index % 5 + 20))
        return [item.index for item in responses]

    results = run_in_threads(16, stream)
    assert results == [list(range(i % 5 + 20)) for i in range(16)]


def test_close_ends_calls_in_flight_and_refuses_new_ones(
    served: Served, generated: Any, nats_server: NatsServer, echo_pb2: Any
) -> None:
    from natsrpc_test import echo_natsrpc

    connection = natsrpc.sync.connect(nats_server.url)
    client = echo_natsrpc.EchoSyncClient(connection)
    call = client.echo.future(echo_pb2.EchoRequest(sleep_ms=3000))
    connection.close()
    assert connection.closed
    with pytest.raises(natsrpc.RpcError) as in_flight:
        call.result()
    assert in_flight.value.code is StatusCode.UNAVAILABLE
    with pytest.raises(natsrpc.RpcError) as refused:
        client.echo(echo_pb2.EchoRequest())
    assert refused.value.code is StatusCode.UNAVAILABLE
    # Closing again is harmless.
    connection.close()


def test_connection_as_context_manager(nats_server: NatsServer) -> None:
    with natsrpc.sync.connect(nats_server.url) as connection:
        assert not connection.closed
        assert connection.nc.is_connected
        thread = next(t for t in threading.enumerate() if t.name == "natsrpc-sync-loop")
    assert connection.closed
    assert connection.nc.is_closed
    thread.join(WAIT)
    assert not thread.is_alive()


async def quiet(error: Exception) -> None:
    pass


def test_connect_failure_raises_and_leaves_no_thread() -> None:
    before = {t for t in threading.enumerate() if t.name == "natsrpc-sync-loop"}
    # natsrpc.connect's error, as the async side raises it.
    with pytest.raises(natsrpc.ConnectError):
        natsrpc.sync.connect(
            "nats://127.0.0.1:1", connect_timeout=0.5, max_reconnect_attempts=1, error_cb=quiet
        )
    after = {t for t in threading.enumerate() if t.name == "natsrpc-sync-loop"}
    assert after <= before
