"""Each connection's paths are checked once; what does not fit uses nats-py's public API.

So does every connection under NATSRPC_FAST_PATH=0.
"""

from __future__ import annotations

import logging
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc.testing import NatsServer
from natsrpc.transport import wire
from natsrpc.transport.natspy import paths as natspy_paths
from natsrpc.transport.natspy.paths import FAST_PATH_ENV, Paths

LOGGER = "natsrpc.transport"
# nats-py before 2.15 parses headers in a way natsrpc's parser does not follow.
TAKES_MESSAGES = hasattr(NATS, "_parse_header_lines")


def _choices(paths: Paths) -> tuple[bool, bool, bool, bool]:
    return (
        paths.publish_directly,
        paths.write_directly,
        paths.deliver_directly,
        paths.take_messages,
    )


def _installed(nc: NATS) -> bool:
    """Whether natsrpc's message handling replaced nats-py's on ``nc``."""
    return getattr(nc._process_msg, "__func__", None) is not NATS._process_msg


async def _round_trips(
    nc: NATS,
    echo_service: Any,
    echo_natsrpc: Any,
    stream_natsrpc: Any,
    stream_pb2: Any,
    streamer_service: Any,
) -> None:
    """A unary call, a server stream and a bidirectional stream, all on ``nc``."""
    server = natsrpc.Server(nc)
    server.add_service(echo_service.EchoService())
    server.add_service(streamer_service)
    async with server:
        reply = await echo_natsrpc.EchoClient(nc).echo(
            echo_service.echo_pb2.EchoRequest(text="hi"), timeout=10
        )
        assert reply.text == "hi"
        streams = stream_natsrpc.StreamerClient(nc, stream_window=4)
        items = [item.index async for item in streams.produce(stream_pb2.ProduceRequest(count=20))]
        assert items == list(range(20))
        chat = streams.chat()
        for index in range(10):
            await chat.write(stream_pb2.Item(index=index))
        await chat.done_writing()
        assert [item.index async for item in chat] == list(range(10))


def test_a_connection_of_this_nats_py_takes_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    nc = NATS()
    assert _choices(wire.prepare(nc)) == (True, True, True, TAKES_MESSAGES)
    assert _installed(nc) is TAKES_MESSAGES
    assert wire.prepare(nc) is wire.prepare(nc)


def test_fast_path_0_leaves_the_connection_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(FAST_PATH_ENV, "0")
    nc = NATS()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert _choices(wire.prepare(nc)) == (False, False, False, False)
        wire.prepare(nc)
    assert not _installed(nc)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1
    assert f"{FAST_PATH_ENV}=0" in lines[0]


@pytest.mark.parametrize(
    "internal, expected, named",
    [
        ("_pending_data_size", (False, False, True, TAKES_MESSAGES), "publishing"),
        ("_flush_queue", (False, False, True, TAKES_MESSAGES), "publishing"),
        ("_subs", (True, True, False, False), "direct delivery"),
    ],
)
def test_a_missing_internal_costs_its_own_path_only(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    internal: str,
    expected: tuple[bool, ...],
    named: str,
) -> None:
    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    nc = NATS()
    del nc.__dict__[internal]
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert _choices(wire.prepare(nc)) == expected
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1
    assert named in lines[0]
    assert _installed(nc) is expected[3]


@pytest.mark.skipif(not TAKES_MESSAGES, reason="this nats-py keeps its message handling anyway")
def test_a_message_of_another_shape_keeps_nats_py_message_handling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    monkeypatch.setattr(natspy_paths, "_EXPECTED_MSG_FIELDS", ["subject", "data"])
    nc = NATS()
    assert _choices(wire.prepare(nc)) == (True, True, True, False)
    assert not _installed(nc)


@pytest.mark.parametrize(
    "choices",
    [
        (False, False, False, False),
        (True, True, False, False),
        (True, False, True, False),
        (False, False, True, True),
        (True, True, True, False),
    ],
    ids=["public", "publish-only", "no-direct-write", "deliver-only", "no-message-handling"],
)
async def test_calls_and_streams_work_on_every_mix_of_paths(
    monkeypatch: pytest.MonkeyPatch,
    nats_server: NatsServer,
    choices: tuple[bool, bool, bool, bool],
    echo_service: Any,
    echo_natsrpc: Any,
    stream_natsrpc: Any,
    stream_pb2: Any,
    streamer_service: Any,
) -> None:
    if choices[3] and not TAKES_MESSAGES:
        pytest.skip("this nats-py's message handling does not fit natsrpc's")
    monkeypatch.setattr(natspy_paths, "_check", lambda nc: (Paths(*choices), []))
    nc = await nats.connect(nats_server.url)
    try:
        assert _choices(wire.prepare(nc)) == choices
        assert _installed(nc) is choices[3]
        await _round_trips(
            nc, echo_service, echo_natsrpc, stream_natsrpc, stream_pb2, streamer_service
        )
    finally:
        await nc.close()
