"""JetStream gauges and `natsrpc events`: backlogs as JetStream itself counts them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from scrape import scrape, value

import natsrpc
from natsrpc.events import EventContext, Reject
from natsrpc.metrics import JetStreamGauges, Probes
from natsrpc.testing import NatsServer

PENDING = "natsrpc_jetstream_consumer_pending"


async def cli(server: NatsServer, *args: str) -> tuple[int, str, str]:
    """``natsrpc ARGS`` in a process of its own, while this loop keeps serving."""
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "XDG_CONFIG_HOME": str(Path(__file__).parent / "no-config"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natsrpc.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def orders_handlers(events: Any, handled: list[str]) -> Any:
    from evtest.events_pb2 import OrderPlaced

    class Orders(events.ORDERS.Handlers):  # type: ignore[misc, name-defined]
        async def on_placed(self, event: OrderPlaced, context: EventContext) -> None:
            if event.order_id == "poison":
                raise Reject("not ours")
            handled.append(event.order_id)

    return Orders()


async def _served_once(jnc: NATS, handlers: Any) -> None:
    """Provision the stream and the billing group's durable consumer, then stop consuming."""
    server = natsrpc.Server(jnc)
    server.add_service(handlers, consumer="billing")
    async with server:
        pass


async def _publish(jnc: NATS, events: Any, orders: list[str]) -> None:
    from evtest.events_pb2 import OrderPlaced

    publisher = events.ORDERS.Publisher(jnc)
    for order in orders:
        await publisher.placed(OrderPlaced(event_id=order, order_id=order))


async def test_pending_gauge_is_jetstreams_num_pending(
    jnc: NATS, probes: Probes, events: Any
) -> None:
    handled: list[str] = []
    handlers = orders_handlers(events, handled)
    await _served_once(jnc, handlers)
    await _publish(jnc, events, [f"o{i}" for i in range(7)])
    gauges = JetStreamGauges(jnc, probes.meter_provider, streams=["ORDERS"])
    await gauges.refresh()
    text = await scrape(probes.port)
    info = await jnc.jetstream().consumer_info("ORDERS", "billing")
    assert info.num_pending == 7
    labels = {"natsrpc_stream": "ORDERS", "messaging_consumer_group_name": "billing"}
    assert value(text, PENDING, **labels) == 7
    assert value(text, "natsrpc_jetstream_consumer_ack_pending", **labels) == 0
    assert value(text, "natsrpc_jetstream_consumer_oldest_age_seconds", **labels) >= 0

    server = natsrpc.Server(jnc)
    server.add_service(handlers, consumer="billing")
    async with server:
        await eventually(lambda: len(handled) == 7)

        async def drained() -> bool:
            await gauges.refresh()
            return value(await scrape(probes.port), PENDING, **labels) == 0

        await eventually(drained)
    text = await scrape(probes.port)
    assert value(text, "natsrpc_jetstream_consumer_ack_pending", **labels) == 0
    assert value(text, "natsrpc_jetstream_consumer_oldest_age_seconds", **labels) == 0


async def test_gauges_stop_reporting_a_deleted_stream_and_warn_once(
    jnc: NATS, probes: Probes, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _served_once(jnc, orders_handlers(events, []))
    await _publish(jnc, events, ["a"])
    gauges = JetStreamGauges(jnc, probes.meter_provider, streams=["ORDERS"])
    await gauges.refresh()
    assert value(await scrape(probes.port), PENDING, natsrpc_stream="ORDERS") == 1
    await jnc.jetstream().delete_stream("ORDERS")
    with caplog.at_level(logging.WARNING, logger="natsrpc.metrics"):
        await gauges.refresh()
        await gauges.refresh()
    assert PENDING + "{" not in await scrape(probes.port)
    warnings = [r.getMessage() for r in caplog.records if r.name == "natsrpc.metrics"]
    assert len(warnings) == 1
    assert warnings[0].startswith("JetStream gauges: cannot read ORDERS")


async def test_events_lists_and_checks_each_group(
    jnc: NATS, js_server: NatsServer, events: Any
) -> None:
    handled: list[str] = []
    handlers = orders_handlers(events, handled)
    await _served_once(jnc, handlers)
    await _publish(jnc, events, ["a", "b", "c"])

    code, out, err = await cli(js_server, "events", "--json")
    assert (code, err) == (0, "")
    (billing,) = [r for r in json.loads(out) if r["group"] == "billing"]
    assert (billing["stream"], billing["stored"], billing["pending"]) == ("ORDERS", 3, 3)
    assert billing["dead_letters"] == 0

    code, out, err = await cli(js_server, "events")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["STREAM", "GROUP", "STORED", "PENDING"]
    assert row.split()[:4] == ["ORDERS", "billing", "3", "3"]

    assert (await cli(js_server, "events", "--check", "--max-pending", "3"))[0] == 0
    code, _, err = await cli(js_server, "events", "--check", "--max-pending", "2")
    assert (code, err) == (3, "over: ORDERS/billing: 3 pending > --max-pending 2\n")

    # One event dead-lettered: the dead-letter threshold trips, the backlog is gone.
    await _publish(jnc, events, ["poison"])
    server = natsrpc.Server(jnc)
    server.add_service(handlers, consumer="billing")
    async with server:
        await eventually(lambda: len(handled) == 3)

        async def dead_lettered() -> bool:
            try:
                info = await jnc.jetstream().stream_info("ORDERS_DLQ")
            except NotFoundError:
                return False
            return info.state.messages == 1

        await eventually(dead_lettered)
    code, _, err = await cli(
        js_server, "events", "--check", "--max-dead-letters", "0", "--max-pending", "0"
    )
    assert (code, err) == (3, "over: ORDERS/billing: 1 dead letters > --max-dead-letters 0\n")

    code, _, err = await cli(js_server, "events", "--stream", "NOPE")
    assert (code, err) == (1, "error: no stream named NOPE\n")
    code, _, err = await cli(js_server, "events", "--check")
    assert code == 2
    assert "--check needs --max-pending, --max-age or --max-dead-letters" in err


async def test_events_watch_refreshes_until_interrupted(jnc: NATS, js_server: NatsServer) -> None:
    await jnc.jetstream().add_stream(name="AUDIT", subjects=["audit.>"])
    env = {**os.environ, "NATS_URL": js_server.url, "XDG_CONFIG_HOME": "/nonexistent"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natsrpc.cli", "events", "--watch", "--interval", "0.2", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    seen = b""
    # Two refreshes (redrawn in place on a terminal; click drops the escapes in a pipe).
    while seen.count(b"STREAM  GROUP") < 2:
        seen += await asyncio.wait_for(process.stdout.read(4096), 30)
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert (process.returncode, err) == (0, b"")
    assert b"AUDIT" in seen
