"""Publishing and provisioning: message ids and deduplication, subject tokens, stream and
consumer settings that drift."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from helpers import eventually
from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.js import api

import natsrpc
from natsrpc.events import ProvisioningError
from natsrpc.testing import NatsServer


async def test_a_publish_retried_after_a_lost_ack_is_stored_once(
    jnc: NATS, event_sets: Any
) -> None:
    events = event_sets.DEDUPLICATED
    sent: list[dict[str, str]] = []

    class LosesFirstAck(events.Publisher):  # type: ignore[name-defined,misc]
        async def _request(
            self, subject: str, payload: bytes, headers: bytes, timeout: float
        ) -> bytes:
            lines = headers.decode().split("\r\n")[1:]
            sent.append(dict(line.split(": ", 1) for line in lines if line))
            if len(sent) == 1:
                # The stream stores the event, but its acknowledgement never arrives.
                await jnc.publish(subject, payload, headers=sent[0])
                await jnc.flush()
                raise nats_errors.TimeoutError
            return await super()._request(subject, payload, headers, timeout)

    await natsrpc.ensure_streams(jnc, events.spec)
    publisher = LosesFirstAck(jnc, attempt_timeout=0.5)
    # No event id: the publisher's own id, the same on both attempts.
    ack = await publisher.placed(event_sets.OrderPlaced(order_id="o1"))
    assert len(sent) == 2
    assert sent[0]["Nats-Msg-Id"] == sent[1]["Nats-Msg-Id"]
    assert (ack.sequence, ack.duplicate) == (1, True)
    again = await events.Publisher(jnc).placed(event_sets.OrderPlaced(event_id="e7", order_id="o1"))
    same = await events.Publisher(jnc).placed(event_sets.OrderPlaced(event_id="e7", order_id="o1"))
    assert (again.sequence, again.duplicate) == (2, False)
    assert (same.sequence, same.duplicate) == (2, True)
    info = await jnc.jetstream().stream_info("ORDERS")
    assert info.state.messages == 2


@pytest.mark.parametrize("order_id", ["", "a.b", "a*", ">", "a b"])
async def test_subject_tokens_are_checked_before_sending(
    jnc: NATS, event_sets: Any, order_id: str
) -> None:
    await natsrpc.ensure_streams(jnc, event_sets.ORDERS.spec)
    with pytest.raises(natsrpc.RpcError) as raised:
        await event_sets.ORDERS.Publisher(jnc).placed(event_sets.OrderPlaced(order_id=order_id))
    assert raised.value.code is natsrpc.StatusCode.INVALID_ARGUMENT
    assert "order_id" in raised.value.message
    assert (await jnc.jetstream().stream_info("ORDERS")).state.messages == 0


async def test_publishing_without_a_stream_is_unavailable_in_time(
    jnc: NATS, event_sets: Any
) -> None:
    with pytest.raises(natsrpc.RpcError) as raised:
        await event_sets.ORDERS.Publisher(jnc, timeout=0.5).placed(
            event_sets.OrderPlaced(order_id="o1")
        )
    assert raised.value.code is natsrpc.StatusCode.DEADLINE_EXCEEDED
    assert "no stream captures the subject" in raised.value.message


async def test_stream_drift_is_an_error_and_compatible_changes_apply(
    jnc: NATS, event_sets: Any
) -> None:
    await natsrpc.ensure_streams(jnc, event_sets.ORDERS.spec)
    js = jnc.jetstream()
    work_queue = event_sets.WORK_QUEUE
    with pytest.raises(ProvisioningError) as raised:
        await natsrpc.ensure_streams(jnc, work_queue.spec)
    assert raised.value.code is natsrpc.StatusCode.FAILED_PRECONDITION
    assert "retention is limits, declared workqueue" in raised.value.message
    assert (await js.stream_info("ORDERS")).config.retention == api.RetentionPolicy.LIMITS

    longer = event_sets.LONGER
    await natsrpc.ensure_streams(jnc, longer.spec)
    config = (await js.stream_info("ORDERS")).config
    assert (config.max_age, config.duplicate_window) == (3600.0, 60.0)
    assert (await js.stream_info("ORDERS_DLQ")).config.subjects == ["$DLQ.ORDERS.*"]


async def test_consumer_drift_is_an_error(jnc: NATS, event_sets: Any) -> None:
    await natsrpc.ensure_streams(jnc, event_sets.ORDERS.spec)
    js = jnc.jetstream()
    await js.add_consumer(
        "ORDERS",
        api.ConsumerConfig(
            durable_name="points",
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW,
        ),
    )

    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: Any) -> None:
            return None

    server = natsrpc.Server(jnc)
    server.add_service(Points(), consumer="points")
    with pytest.raises(ProvisioningError) as raised:
        await server.start()
    assert "deliver_policy is new, declared all" in raised.value.message
    assert (await js.consumer_info("ORDERS", "points")).config.deliver_policy == (
        api.DeliverPolicy.NEW
    )
    # A compatible change (the ack wait) is applied.
    compatible = natsrpc.Server(jnc)
    compatible.add_service(Points(), consumer="points", deliver_new=True, ack_wait=7.0)
    await compatible.start()
    await compatible.stop(1.0)
    info = await js.consumer_info("ORDERS", "points")
    assert (info.config.ack_wait, info.config.filter_subject) == (7.0, "evtest.orders.*.placed")


async def test_a_handler_class_must_override_a_handler(jnc: NATS, event_sets: Any) -> None:
    server = natsrpc.Server(jnc)
    with pytest.raises(TypeError, match="overrides no event handler"):
        server.add_service(event_sets.ORDERS.Handlers())
    with pytest.raises(ValueError, match="consumer group"):
        server.add_service(_points(event_sets)(), consumer="a.b")
    with pytest.raises(ValueError, match="OrderPlaced has no such field"):
        server.add_service(_points(event_sets)(), ordered_by="customer")
    with pytest.raises(ValueError, match="must not be negative"):
        natsrpc.Retry(delay=-1)


def _points(event_sets: Any) -> Any:
    class Points(event_sets.ORDERS.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: Any) -> None:
            return None

    return Points


async def test_a_subject_prefix_keeps_deployments_apart(jnc: NATS, event_sets: Any) -> None:
    events = event_sets.PROD
    handled: list[tuple[str, str]] = []

    class Points(events.Handlers):  # type: ignore[name-defined,misc]
        async def on_placed(self, event: Any, context: Any) -> None:
            handled.append((context.subject, event.order_id))

    server = natsrpc.Server(jnc)
    server.add_service(Points(), consumer="points", subject_prefix="prod.")
    await server.start()
    ack = await events.Publisher(jnc, subject_prefix="prod.").placed(
        event_sets.OrderPlaced(order_id="o1")
    )
    # Any NATS client may publish JSON events.
    await jnc.jetstream().publish(
        "prod.evtest.orders.o2.placed",
        b'{"orderId": "o2", "amount": "5"}',
        headers={"Content-Type": "application/json"},
    )
    await eventually(lambda: len(handled) == 2)
    await server.stop()
    assert ack.stream == "PROD_ORDERS"
    assert (await jnc.jetstream().stream_info("PROD_ORDERS")).config.subjects == [
        "prod.evtest.orders.*.placed",
        "prod.evtest.orders.*.shipped",
    ]
    assert handled == [
        ("prod.evtest.orders.o1.placed", "o1"),
        ("prod.evtest.orders.o2.placed", "o2"),
    ]


async def test_a_publish_its_user_may_not_send_fails_with_permission_denied(
    store_dir: str, event_sets: Any
) -> None:
    config = """
    authorization { users: [
      {user: admin, password: admin}
      {user: limited, password: limited, permissions: {
        publish: {deny: "evtest.>"}
        subscribe: "_INBOX.>"
      }}
    ]}
    """
    with NatsServer(config=config, args=("-js", "-sd", store_dir)) as server:
        admin = await nats.connect(server.url, user="admin", password="admin")
        limited = await nats.connect(server.url, user="limited", password="limited")
        try:
            await natsrpc.ensure_streams(admin, event_sets.ORDERS.spec)
            publisher = event_sets.ORDERS.Publisher(limited, timeout=30.0)
            with pytest.raises(natsrpc.RpcError) as raised:
                await publisher.placed(event_sets.OrderPlaced(order_id="o1"))
            assert raised.value.code is natsrpc.StatusCode.PERMISSION_DENIED
            assert "evtest.orders.o1.placed" in raised.value.message
        finally:
            await limited.close()
            await admin.close()
