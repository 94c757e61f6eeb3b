"""Error details kept in dead letters; -bin metadata on events, through interceptors too."""

from __future__ import annotations

from typing import Any

from google.rpc import error_details_pb2
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.events import DeadLetters, EventContext, Reason

BAD_REQUEST = error_details_pb2.BadRequest(
    field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field="amount", description="negative")
    ]
)


async def test_reject_details_are_kept_in_the_dead_letter(jnc: NATS, event_sets: Any) -> None:
    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            if event.note == "huge":
                # Larger than max_payload with the event: stored without its details.
                huge = event_sets.OrderPlaced(note="x" * jnc.max_payload)
                raise natsrpc.Reject("too big", details=[huge])
            raise natsrpc.Reject(
                "amount is negative", natsrpc.StatusCode.INVALID_ARGUMENT, details=[BAD_REQUEST]
            )

    server = natsrpc.Server(jnc, grace_period=5)
    server.add_service(Points(), consumer="points", ack_wait=5)
    await server.start()
    publisher = event_sets.ORDERS.Publisher(jnc)
    await publisher.placed(event_sets.OrderPlaced(event_id="e1", order_id="o1"))
    await publisher.placed(event_sets.OrderPlaced(event_id="e2", order_id="o2", note="huge"))
    dead = DeadLetters(jnc, "ORDERS")

    async def stored() -> bool:
        return len(await dead.list()) == 2

    await eventually(stored)
    await server.stop()
    rejected, too_big = await dead.list()
    assert rejected.reason == Reason.REJECTED
    assert (rejected.code, rejected.message) == (
        natsrpc.StatusCode.INVALID_ARGUMENT,
        "amount is negative",
    )
    assert len(rejected.details) == 1
    unpacked = error_details_pb2.BadRequest()
    assert rejected.details[0].Unpack(unpacked) and unpacked == BAD_REQUEST
    assert "Rpc-Dead-Details" not in rejected.headers  # the event's own headers only
    assert (too_big.message, too_big.details) == ("too big", ())


class _PassOn(natsrpc.ClientInterceptor):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def intercept_unary(self, request: Any, details: Any, call_next: Any) -> Any:
        self.seen.append(dict(details.metadata))
        return await call_next(request, details)


async def test_binary_metadata_reaches_event_handlers(jnc: NATS, event_sets: Any) -> None:
    seen: list[Any] = []

    class Points(event_sets.ORDERS.Handlers):
        async def on_placed(self, event: Any, context: EventContext) -> None:
            seen.append(dict(context.metadata))

    server = natsrpc.Server(jnc, grace_period=5)
    server.add_service(Points(), consumer="points", ack_wait=5)
    await server.start()
    watching = _PassOn()
    publisher = event_sets.ORDERS.Publisher(jnc, interceptors=[watching])
    blob = bytes(range(256))
    await publisher.placed(
        event_sets.OrderPlaced(event_id="e1", order_id="o1"), metadata={"x-b-bin": blob}
    )
    await eventually(lambda: seen)
    await server.stop()
    assert seen == [{"x-b-bin": blob}]
    assert watching.seen == [{"x-b-bin": blob}]
