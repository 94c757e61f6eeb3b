"""Core NATS events in the metrics: each event's handling, by outcome, counted exactly."""

from __future__ import annotations

from typing import Any

from helpers import eventually
from nats.aio.client import Client as NATS
from scrape import scrape, value

import natsrpc
from natsrpc.events import EventContext
from natsrpc.metrics import Probes

PINGED = "evtest.PingEvents/Pinged"


async def test_core_event_handling_is_counted_by_outcome(
    nc: NATS, probes: Probes, events: Any
) -> None:
    from evtest.events_pb2 import Ping

    handled: list[str] = []

    class Pings(events.PingEvents):  # type: ignore[misc, name-defined]
        async def on_pinged(self, event: Ping, context: EventContext) -> None:
            if event.id == "boom":
                raise ValueError("not this one")
            handled.append(event.id)

    server = natsrpc.Server(nc)
    server.add_service(Pings(), consumer="pingers")
    async with server:
        probes.watch(server)
        publisher = events.PingEventsPublisher(nc)
        for name in ("a", "boom", "b"):
            await publisher.pinged(Ping(id=name))
        # Field 1 says five bytes follow, and two do: no message at all.
        await nc.publish("evtest.ping", b"\x0a\x05ab")

        async def all_four() -> bool:
            text = await scrape(probes.port)
            return value(text, "messaging_process_duration_seconds_count") == 4

        await eventually(all_four)
        text = await scrape(probes.port)
    assert sorted(handled) == ["a", "b"]

    def process(outcome: str) -> float:
        return value(
            text,
            "messaging_process_duration_seconds_count",
            natsrpc_event=PINGED,
            messaging_consumer_group_name="pingers",
            natsrpc_outcome=outcome,
        )

    assert process("handled") == 2
    assert process("failed") == 1
    assert process("undecodable") == 1
    # A core NATS event belongs to no stream.
    assert value(text, "messaging_process_duration_seconds_count", natsrpc_stream="ORDERS") == 0
    assert value(text, "rpc_server_call_duration_seconds_count") == 0
