"""Nothing is lost when a consumer process is killed or stopped, or the NATS server restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

import natsrpc
from natsrpc.events import EventContext
from natsrpc.testing import NatsServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class Consumers:
    """Consumer processes (tests/events/consumer_process.py) and what they report."""

    def __init__(self, url: str, evtest: Path) -> None:
        self.url = url
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(evtest), str(HERE), str(ROOT)]),
        }
        self.done: Counter[str] = Counter()
        self.redelivered: set[str] = set()
        self.processes: list[asyncio.subprocess.Process] = []

    async def listen(self, nc: NATS) -> None:
        async def record(msg: Msg) -> None:
            event_id, delivery_count = msg.data.decode().split()
            self.done[event_id] += 1
            if delivery_count != "1":
                self.redelivered.add(event_id)

        await nc.subscribe("test.done", cb=record)
        await nc.flush()

    async def start(self, seconds: float, ack_wait: float) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "consumer_process.py"), self.url, "points",
            str(seconds), str(ack_wait), env=self.env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.processes.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line == b"ready\n"
        return process

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


@pytest.fixture
async def consumers(js_server: NatsServer, evtest: Path) -> AsyncIterator[Consumers]:
    running = Consumers(js_server.url, evtest)
    try:
        yield running
    finally:
        await running.close()


async def publish_orders(nc: NATS, event_sets: Any, count: int) -> set[str]:
    publisher = event_sets.ORDERS.Publisher(nc)
    for n in range(count):
        await publisher.placed(event_sets.OrderPlaced(event_id=f"e{n}", order_id=f"o{n}"))
    return {f"e{n}" for n in range(count)}


async def test_sigkill_mid_handler_loses_nothing(
    jnc: NATS, event_sets: Any, consumers: Consumers
) -> None:
    await natsrpc.ensure_streams(jnc, event_sets.ORDERS.spec)
    await consumers.listen(jnc)
    first = await consumers.start(seconds=0.3, ack_wait=1.0)
    published = await publish_orders(jnc, event_sets, 20)
    await eventually(lambda: len(consumers.done) >= 4)
    first.send_signal(signal.SIGKILL)  # with handlers running and events in hand
    await first.wait()
    assert len(consumers.done) < 20
    await consumers.start(seconds=0.05, ack_wait=1.0)
    await eventually(lambda: set(consumers.done) == published, within=30)
    # The events the killed process held came back once their ack wait ran out.
    assert consumers.redelivered


async def test_sigterm_under_load_loses_nothing_and_repeats_nothing(
    jnc: NATS, event_sets: Any, consumers: Consumers
) -> None:
    await natsrpc.ensure_streams(jnc, event_sets.ORDERS.spec)
    await consumers.listen(jnc)
    first = await consumers.start(seconds=0.3, ack_wait=2.0)
    published = await publish_orders(jnc, event_sets, 30)
    await eventually(lambda: len(consumers.done) >= 4)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 20) == 0
    finished_by_first = set(consumers.done)
    assert len(finished_by_first) < 30
    second = await consumers.start(seconds=0.01, ack_wait=2.0)
    await eventually(lambda: set(consumers.done) == published, within=30)
    await asyncio.sleep(0.5)  # a redelivery of a finished event would show up now
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    assert all(count == 1 for count in consumers.done.values()), consumers.done


async def test_nats_server_restart_under_load_loses_nothing(
    event_sets: Any, store_dir: str
) -> None:
    args = ("-js", "-sd", store_dir)
    server = NatsServer(args=args).start()
    handled: Counter[str] = Counter()

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            await asyncio.sleep(0.02)
            handled[event.event_id] += 1

    options: dict[str, Any] = {"reconnect_time_wait": 0.2, "max_reconnect_attempts": -1}
    consumer_nc = await nats.connect(server.url, **options)
    publisher_nc = await nats.connect(server.url, **options)
    rpc = natsrpc.Server(consumer_nc)
    rpc.add_service(Points(), consumer="points", ack_wait=2.0, max_concurrency=8)
    try:
        await rpc.start()
        publisher = event_sets.ORDERS.Publisher(publisher_nc, timeout=30)
        published = {f"e{n}" for n in range(60)}

        async def publish_all() -> None:
            for n in range(60):
                await publisher.placed(event_sets.OrderPlaced(event_id=f"e{n}", order_id=f"o{n}"))
                await asyncio.sleep(0.01)

        publishing = asyncio.get_running_loop().create_task(publish_all())
        await eventually(lambda: len(handled) >= 15)
        server.stop()
        server = NatsServer(port=server.port, args=args).start()
        await asyncio.wait_for(publishing, 60)
        await eventually(lambda: set(handled) == published, within=30)
        await rpc.stop()
        assert consumer_nc.stats["reconnects"] >= 1
    finally:
        await consumer_nc.close()
        await publisher_nc.close()
        server.stop()
