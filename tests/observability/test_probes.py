"""/healthz and /readyz over HTTP: readiness follows start, graceful stop and the connection."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from helpers import eventually
from scrape import get, get_sync, scrape, value

import natsrpc
from natsrpc.metrics import Probes, ProbesError, open_probes
from natsrpc.testing import NatsServer, free_port

TESTS = Path(__file__).resolve().parents[1]


async def test_readyz_is_503_from_the_start_of_a_graceful_stop(
    nc: Any, probes: Probes, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    base = f"http://127.0.0.1:{probes.port}"
    assert await get(base + "/readyz") == (503, "no server yet\n")
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    probes.watch(server)
    assert await get(base + "/readyz") == (503, "not serving: starting or stopping\n")
    await server.start()
    assert await get(base + "/readyz") == (200, "ready\n")
    assert value(await scrape(probes.port), "natsrpc_server_ready") == 1
    call = asyncio.ensure_future(
        echo_natsrpc.EchoClient(nc).echo(echo_pb2.EchoRequest(sleep_ms=60_000))
    )
    await eventually(lambda: impl.active == 1)
    stopping = asyncio.ensure_future(server.stop(grace_period=60))
    await eventually(lambda: not server.started)  # the stop has begun
    # The call in hand keeps the stop going; the process is no longer ready meanwhile.
    assert await get(base + "/readyz") == (503, "not serving: starting or stopping\n")
    assert await get(base + "/healthz") == (200, "ok\n")
    assert value(await scrape(probes.port), "natsrpc_server_ready") == 0
    assert not stopping.done()
    call.cancel()
    await stopping


async def test_readyz_is_503_while_nats_is_down_and_healthz_stays_200(echo_service: Any) -> None:
    nats_server = NatsServer().start()
    opened = open_probes("127.0.0.1", 0)
    base = f"http://127.0.0.1:{opened.port}"
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        server = natsrpc.Server(nc)
        server.add_service(echo_service.EchoService())
        async with server:
            opened.watch(server)
            assert await get(base + "/readyz") == (200, "ready\n")
            nats_server.stop()
            await eventually(lambda: not nc.is_connected)
            assert await get(base + "/readyz") == (503, "not connected to NATS\n")
            assert await get(base + "/healthz") == (200, "ok\n")
            nats_server.start()
            await eventually(lambda: nc.is_connected)
            assert await get(base + "/readyz") == (200, "ready\n")
    finally:
        opened.close()
        await nc.close()
        nats_server.stop()


async def test_healthz_is_503_when_the_event_loop_is_stuck(probes: Probes, nc: Any) -> None:
    server = natsrpc.Server(nc)
    probes.watch(server)
    base = f"http://127.0.0.1:{probes.port}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answer = pool.submit(get_sync, base + "/healthz")
        scraped = pool.submit(get_sync, base + "/metrics")
        # The loop runs nothing while this waits, as with a handler that never awaits.
        assert answer.result(timeout=10) == (503, "event loop did not answer within 2 s\n")
        # A scrape needs nothing from the loop.
        assert scraped.result(timeout=10)[0] == 200
    assert await get(base + "/healthz") == (200, "ok\n")


def test_a_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProbesError) as error:
            open_probes("127.0.0.1", port)
    assert str(error.value) == f"cannot serve metrics on 127.0.0.1:{port}: the port is in use"
    # Nothing stays enabled after the failure: metrics can be turned on again.
    open_probes("127.0.0.1", 0).close()


async def test_run_with_a_metrics_port_serves_the_probes_until_it_stops(
    generated: Path, nats_server: NatsServer, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(generated), str(TESTS)])}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(TESTS / "signal_server.py"), nats_server.url, "probed", "60",
        str(port), env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    nc = await nats.connect(nats_server.url)
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"
        assert await get(base + "/readyz") == (200, "ready\n")
        client = echo_natsrpc.EchoClient(nc)
        await client.echo(echo_pb2.EchoRequest(text="counted"))
        assert value(await scrape(port), "rpc_server_call_duration_seconds_count") == 1
        slow = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(sleep_ms=8_000), timeout=30))

        async def in_hand() -> bool:
            return value(await scrape(port), "natsrpc_server_active_calls") == 1

        await eventually(in_hand)
        process.send_signal(signal.SIGTERM)

        async def stopping() -> bool:
            return (await get(base + "/readyz"))[0] == 503

        await eventually(stopping)
        assert await get(base + "/healthz") == (200, "ok\n")
        assert (await slow).text == ""
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await nc.close()
