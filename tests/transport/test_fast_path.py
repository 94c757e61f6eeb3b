"""natsrpc.transport.wire's fast path does exactly what nats-py would, only cheaper."""

from __future__ import annotations

import asyncio
import logging

import pytest
from helpers import eventually
from hypothesis import given, settings
from hypothesis import strategies as st
from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from natsrpc.transport import connection, header_blocks, wire

WAIT = 5.0

# nats-py before 2.16 checks no header names and writes line breaks in values as
# they are, breaking the block; natsrpc follows 2.16's rules on every version.
NATS_PY_CHECKS_HEADERS = hasattr(nats_errors, "BadHeaderError")
header_text = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=["Cs"],
        exclude_characters="" if NATS_PY_CHECKS_HEADERS else "\r\n",
    ),
    max_size=12,
)
token = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=8)


def _unconnected() -> NATS:
    """A client that queues commands as if connected, for comparing what it would send."""
    nc = NATS()
    nc._status = NATS.CONNECTED
    nc._max_payload = 1 << 20
    nc._flush_queue = asyncio.Queue()
    nc._flusher_task = None
    return nc


@settings(max_examples=150, deadline=None)
@given(
    subject=token,
    reply=st.one_of(st.just(""), token),
    payload=st.binary(max_size=5000),
    headers=st.one_of(st.none(), st.dictionaries(token, header_text, max_size=4)),
)
def test_publish_queues_the_bytes_nats_py_would(
    subject: str, reply: str, payload: bytes, headers: dict[str, str] | None
) -> None:
    async def queued(fast: bool) -> bytes:
        nc = _unconnected()
        nc._flush_pending = _no_flush  # type: ignore[method-assign]
        if fast:
            block = None if headers is None else header_blocks.header_block(headers)
            await wire.publish(nc, subject, payload, reply, block)
        else:
            await nc.publish(subject, payload, reply=reply, headers=headers)
        return b"".join(nc._pending)

    assert asyncio.run(queued(True)) == asyncio.run(queued(False))


async def _no_flush(force_flush: bool = False) -> None:
    return None


@pytest.mark.skipif(not NATS_PY_CHECKS_HEADERS, reason="this nats-py refuses no header name")
def test_header_block_refuses_what_nats_py_refuses() -> None:
    with pytest.raises(nats_errors.BadHeaderError):
        header_blocks.header_block({"bad key": "x"})


@pytest.mark.parametrize(
    "error, state",
    [
        (nats_errors.ConnectionClosedError, NATS.CLOSED),
        (nats_errors.ConnectionDrainingError, NATS.DRAINING_PUBS),
    ],
)
async def test_publish_raises_what_nats_py_raises(error: type[Exception], state: int) -> None:
    nc = _unconnected()
    nc._status = state
    with pytest.raises(error):
        await wire.publish(nc, "a.b", b"x")
    with pytest.raises(error):
        await nc.publish("a.b", b"x")


async def test_publish_refuses_a_payload_over_max_payload() -> None:
    nc = _unconnected()
    nc._max_payload = 4
    with pytest.raises(nats_errors.MaxPayloadError):
        await wire.publish(nc, "a.b", b"12345")


blocks = st.lists(
    st.tuples(
        st.binary(max_size=10).filter(lambda b: b"\r" not in b and b"\n" not in b),
        st.sampled_from([b":", b": ", b"", b" :"]),
        st.binary(max_size=10).filter(lambda b: b"\r" not in b and b"\n" not in b),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(lines=blocks, status=st.sampled_from([b"", b" 503", b" 100 Idle Heartbeat", b" 404"]))
def test_header_parsing_matches_nats_py(
    lines: list[tuple[bytes, bytes, bytes]], status: bytes
) -> None:
    raw = b"NATS/1.0" + status + b"\r\n"
    raw += b"".join(name + sep + value + b"\r\n" for name, sep, value in lines) + b"\r\n"

    async def parse(fast: bool) -> object:
        nc = NATS()
        if fast:
            wire.prepare(nc)
        try:
            parsed: dict[str, str] | None = await nc._process_headers(raw)
        except Exception as exc:  # nats-py's own failures must stay the same too
            return type(exc)
        return parsed

    assert asyncio.run(parse(True)) == asyncio.run(parse(False))


def test_prepare_is_idempotent() -> None:
    nc = NATS()
    wire.prepare(nc)
    installed = nc.__dict__.get("_process_headers")
    wire.prepare(nc)
    assert nc.__dict__.get("_process_headers") is installed


async def test_a_direct_subscription_delivers_in_order_and_drains(nc: NATS) -> None:
    received: list[bytes] = []
    done = asyncio.Event()

    def deliver(msg: Msg) -> None:
        received.append(msg.data)
        if len(received) == 100:
            done.set()

    subscription = await wire.subscribe(nc, "fast.path", deliver)
    for i in range(100):
        await wire.publish(nc, "fast.path", str(i).encode())
    await asyncio.wait_for(done.wait(), WAIT)
    assert received == [str(i).encode() for i in range(100)]
    await asyncio.wait_for(connection.drain(nc, [subscription]), WAIT)
    assert subscription.pending_msgs == 0


async def test_a_failing_subscriber_does_not_break_the_connection(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[bytes] = []

    def deliver(msg: Msg) -> None:
        if msg.data == b"boom":
            raise ValueError("boom")
        received.append(msg.data)

    await wire.subscribe(nc, "fast.fail", deliver)
    with caplog.at_level(logging.ERROR, logger="natsrpc.transport"):
        await wire.publish(nc, "fast.fail", b"boom")
        await wire.publish(nc, "fast.fail", b"after")
        await asyncio.wait_for(nc.flush(), WAIT)
        await eventually(lambda: received)
    assert received == [b"after"]
    assert nc.is_connected
    assert "a natsrpc subscriber failed on fast.fail" in caplog.text


async def test_queue_publish_goes_out_with_the_next_write(nc: NATS) -> None:
    received: list[bytes] = []
    arrived = asyncio.Event()

    def deliver(msg: Msg) -> None:
        received.append(msg.data)
        if len(received) == 2:
            arrived.set()

    await wire.subscribe(nc, "fast.post", deliver)
    wire.queue_publish(nc, "fast.post", b"control")
    await wire.publish(nc, "fast.post", b"message")
    await asyncio.wait_for(arrived.wait(), WAIT)
    assert received == [b"control", b"message"]
