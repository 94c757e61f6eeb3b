"""A replicated JetStream event set on a three-node cluster loses nothing when the node the
consumer and the publisher are connected to dies under load."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.js import errors as js_errors

import natsrpc
from natsrpc.events import EventContext
from natsrpc.testing import NatsServer, free_port


@pytest.fixture
def js_cluster() -> Iterator[list[NatsServer]]:
    routes = [free_port() for _ in range(3)]
    route_urls = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
    with tempfile.TemporaryDirectory(prefix="natsrpc-jsc-") as tmp:
        nodes = [
            NatsServer(
                config=(
                    f"server_name: js-{index}\n"
                    f'jetstream {{ store_dir: "{Path(tmp) / str(index)}" }}\n'
                    f"cluster {{ name: events, listen: 127.0.0.1:{port}, "
                    f"routes: [{route_urls}] }}\n"
                ),
                startup_timeout=20,
            )
            for index, port in enumerate(routes)
        ]
        try:
            for node in nodes:
                node.start()
            yield nodes
        finally:
            for node in nodes:
                node.stop()


async def test_a_node_loss_under_load_loses_nothing(
    js_cluster: list[NatsServer], event_sets: Any
) -> None:
    urls = [node.url for node in js_cluster]
    options: dict[str, Any] = {
        "servers": urls,  # node 0 first: the node that dies
        "dont_randomize": True,
        "reconnect_time_wait": 0.2,
        "max_reconnect_attempts": -1,
    }
    consumer_nc = await nats.connect(**options)
    publisher_nc = await nats.connect(**options)
    events = event_sets.REPLICATED
    handled: Counter[str] = Counter()

    class Points(events.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: EventContext) -> None:
            await asyncio.sleep(0.01)
            handled[event.event_id] += 1

    async def provisioned() -> bool:
        try:
            await natsrpc.ensure_streams(publisher_nc, events.spec)
        except (js_errors.Error, natsrpc.RpcError, nats.errors.TimeoutError):
            return False  # the cluster has no JetStream leader yet
        return True

    server = natsrpc.Server(consumer_nc)
    server.add_service(Points(), consumer="points", ack_wait=2.0, max_concurrency=8)
    try:
        await eventually(provisioned, within=30)
        await server.start()
        publisher = events.Publisher(publisher_nc, timeout=30)
        published = {f"e{n}" for n in range(60)}

        async def publish_all() -> None:
            for n in range(60):
                await publisher.placed(event_sets.OrderPlaced(event_id=f"e{n}", order_id=f"o{n}"))
                await asyncio.sleep(0.01)

        publishing = asyncio.get_running_loop().create_task(publish_all())
        await eventually(lambda: len(handled) >= 15)
        js_cluster[0].kill()
        await asyncio.wait_for(publishing, 60)
        await eventually(lambda: set(handled) == published, within=60)
        await server.stop()
        assert consumer_nc.stats["reconnects"] >= 1
    finally:
        await consumer_nc.close()
        await publisher_nc.close()
