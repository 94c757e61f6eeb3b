"""Graceful stop on SIGTERM/SIGINT of a real server process (natsrpc.run)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc import discovery
from natsrpc.testing import NatsServer

TESTS = Path(__file__).resolve().parents[1]
# Waits that only guard against hangs: generous, the machine may be busy.
PATIENCE = 30.0


@pytest.fixture
def spawn(generated: Path, nats_server: NatsServer) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(name: str, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(generated), str(TESTS), *filter(None, [env.get("PYTHONPATH")])]
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(TESTS / "signal_server.py"),
            nats_server.url,
            name,
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
            assert line.strip() == b"ready", f"server process said {line!r}"
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    return start


async def _finish(process: asyncio.subprocess.Process) -> str:
    """Wait for the process to exit on its own; return its last line of output."""
    assert process.stdout is not None
    out = await asyncio.wait_for(process.stdout.read(), PATIENCE)
    code = await asyncio.wait_for(process.wait(), PATIENCE)
    assert code == 0
    return out.decode().strip().splitlines()[-1]


async def test_sigterm_under_load_with_a_peer_loses_nothing(
    spawn: Any, nats_server: NatsServer, echo_impl: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    peer_nc = await nats.connect(nats_server.url)
    client_nc = await nats.connect(nats_server.url)
    peer = natsrpc.Server(peer_nc)
    peer.add_service(echo_impl("b"))
    client = echo_natsrpc.EchoClient(client_nc, timeout=10)
    answered_by: list[str] = []
    failures: list[BaseException] = []
    stop_load = asyncio.Event()
    sequence = iter(range(1_000_000))

    async def load() -> None:
        while not stop_load.is_set():
            text = str(next(sequence))
            try:
                reply = await client.echo(echo_pb2.EchoRequest(text=text, sleep_ms=20))
                assert reply.text == text
                answered_by.append(reply.server)
            except natsrpc.RpcError as error:
                failures.append(error)

    async with peer, spawn("a") as process:
        workers = [asyncio.ensure_future(load()) for _ in range(16)]
        await eventually(
            lambda: answered_by.count("a") >= 20 and answered_by.count("b") >= 20,
            within=PATIENCE,
            what="load on both instances",
        )
        process.send_signal(signal.SIGTERM)
        last_line = await _finish(process)
        exited_at = len(answered_by)
        # The load goes on until the remaining instance has answered calls of its own.
        await eventually(lambda: len(answered_by) >= exited_at + 20, within=PATIENCE)
        stop_load.set()
        await asyncio.wait_for(asyncio.gather(*workers), PATIENCE)
    await peer_nc.close()
    await client_nc.close()

    assert failures == []
    # Every request the stopping process took was answered, and it took no more.
    assert last_line == f"stopped SIGTERM handled={answered_by.count('a')} cancelled=0"
    assert len(answered_by) > exited_at
    assert set(answered_by[exited_at:]) == {"b"}
    print(f"\n{len(answered_by)} calls, {answered_by.count('a')} by the stopped instance")


async def test_sigterm_finishes_calls_in_flight(
    spawn: Any, nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(nc, timeout=PATIENCE)
    async with spawn("only") as process:
        calls = [
            asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(text=str(i), sleep_ms=1000)))
            for i in range(10)
        ]
        # Signal only once the process is running all ten handlers.
        await eventually(lambda: _in_flight(nc, 10), within=PATIENCE, what="ten calls in flight")
        process.send_signal(signal.SIGTERM)
        replies = await asyncio.wait_for(asyncio.gather(*calls), PATIENCE)
        last_line = await _finish(process)
    assert [r.text for r in replies] == [str(i) for i in range(10)]
    assert last_line == "stopped SIGTERM handled=10 cancelled=0"
    with pytest.raises(natsrpc.RpcError) as info:
        await client.echo(echo_pb2.EchoRequest())
    assert info.value.code is natsrpc.StatusCode.UNAVAILABLE


async def test_sigint_past_the_grace_period_cancels(
    spawn: Any, nc: NATS, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    client = echo_natsrpc.EchoClient(nc, timeout=PATIENCE)
    async with spawn("slow", "0.2") as process:
        call = asyncio.ensure_future(client.echo(echo_pb2.EchoRequest(sleep_ms=60_000)))
        await eventually(lambda: _in_flight(nc, 1), within=PATIENCE, what="the call in flight")
        process.send_signal(signal.SIGINT)
        with pytest.raises(natsrpc.RpcError) as info:
            await asyncio.wait_for(call, PATIENCE)
        last_line = await _finish(process)
    assert info.value.code is natsrpc.StatusCode.CANCELLED
    # (handled= is not checked: a call cancelled at stop is not counted in num_requests.)
    assert last_line.startswith("stopped SIGINT ")
    assert last_line.endswith(" cancelled=1")


@pytest.fixture
def echo_impl(generated: Any) -> Any:
    import echo_service

    return echo_service.EchoService


async def test_serve_until_signal_in_process(nc: NATS, echo_impl: Any) -> None:
    """The async helper on its own: it starts the server and returns the signal."""
    server = natsrpc.Server(nc)
    server.add_service(echo_impl())
    ready = asyncio.Event()
    serving = asyncio.ensure_future(
        natsrpc.serve_until_signal(server, signals=[signal.SIGUSR1], drain=False, ready=ready.set)
    )
    await asyncio.wait_for(ready.wait(), PATIENCE)
    assert await discovery.ping(nc, "natsrpc_test-Echo", expected=1, timeout=5)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert await asyncio.wait_for(serving, PATIENCE) is signal.SIGUSR1
    assert nc.is_connected
    assert await discovery.ping(nc, "natsrpc_test-Echo", timeout=5) == []
    # The handler is gone: SIGUSR1 has its default action again.
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


async def _in_flight(nc: NATS, calls: int) -> bool:
    found = await discovery.stats(nc, "natsrpc_test-Echo", expected=1, timeout=5)
    return bool(found) and found[0].endpoint("Echo").in_flight == calls
