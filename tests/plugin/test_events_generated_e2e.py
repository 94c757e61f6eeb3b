"""The generated publisher and handler classes of shop_events.proto on a real nats-server.

The runtime's own tests (tests/events) drive hand-declared specs; these prove that
what the plugin writes is what the runtime expects: stream settings, subjects
filled from fields, the id field as ``Nats-Msg-Id``, and only overridden handlers
consumed.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from types import ModuleType

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS
from nats.js import api
from plugin_helpers import OPTIONS_INCLUDE, PROTOS, run_protoc

import natsrpc
from natsrpc.events import EventContext
from natsrpc.testing import NatsServer


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, ModuleType]]:
    out = tmp_path_factory.mktemp("events_e2e")
    result = run_protoc(PROTOS / "events", ["shop_events.proto"], out, includes=[OPTIONS_INCLUDE])
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(out))
    try:
        yield (
            importlib.import_module("shop_events_pb2"),
            importlib.import_module("shop_events_natsrpc"),
        )
    finally:
        sys.path.remove(str(out))


@pytest.fixture
async def nc() -> AsyncIterator[NATS]:
    with (
        tempfile.TemporaryDirectory(prefix="natsrpc-js-") as store,
        NatsServer(args=("-js", "-sd", store)) as server,
    ):
        connection = await nats.connect(server.url)
        try:
            yield connection
        finally:
            await connection.close()


async def test_stored_events_round_trip_through_generated_classes(
    nc: NATS, generated: tuple[ModuleType, ModuleType]
) -> None:
    pb, gen = generated
    await natsrpc.ensure_streams(nc, gen.ORDER_EVENTS_SERVICE)
    config = (await nc.jetstream().stream_info("SHOP_ORDERS")).config
    assert config.retention == api.RetentionPolicy.INTEREST
    assert (config.max_age, config.duplicate_window) == (604800.0, 120.0)

    received: list[tuple[str, str]] = []

    class Points(gen.OrderEvents):  # type: ignore[misc]
        async def on_placed(self, event: object, context: EventContext) -> None:
            assert isinstance(event, pb.OrderPlaced)
            received.append((event.order_id, context.subject))

    server = natsrpc.Server(nc, grace_period=5)
    server.add_service(Points(), consumer="points")
    async with server:
        publisher = gen.OrderEventsPublisher(nc)
        first = await publisher.placed(pb.OrderPlaced(event_id="e1", order_id="o1"))
        again = await publisher.placed(pb.OrderPlaced(event_id="e1", order_id="o1"))
        assert (first.stream, first.duplicate, again.duplicate) == ("SHOP_ORDERS", False, True)
        assert again.sequence == first.sequence
        await publisher.shipped(pb.OrderShipped(shipment_id=7, order_id="o1", carrier="dhl"))
        await eventually(lambda: len(received) == 1)
        consumer = await nc.jetstream().consumer_info("SHOP_ORDERS", "points")
    assert received == [("o1", "shop.orders.o1.placed")]
    # Only the overridden handler is consumed: the consumer filters on its subject alone.
    assert consumer.config.filter_subject == "shop.orders.*.placed"
    assert not consumer.config.filter_subjects


async def test_core_nats_events_are_fire_and_forget(
    nc: NATS, generated: tuple[ModuleType, ModuleType]
) -> None:
    pb, gen = generated
    seen: list[str] = []

    class Recommendations(gen.StorefrontEvents):  # type: ignore[misc]
        async def on_viewed(self, event: object, context: EventContext) -> None:
            seen.append(context.subject)

    server = natsrpc.Server(nc)
    server.add_service(Recommendations())
    async with server:
        result = await gen.StorefrontEventsPublisher(nc).viewed(
            pb.ProductViewed(sku="A-1", channel=pb.STORE)
        )
        assert result is None
        await eventually(lambda: seen == ["shop.products.A-1.viewed.2"])
