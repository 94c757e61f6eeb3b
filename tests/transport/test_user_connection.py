"""The application's connection stays its own: its subscriptions and callbacks are untouched.

natsrpc serves and calls on the application's connection, replaces its
message processing for natsrpc's own subscriptions (docs/operations.md) and
chains onto its error and disconnected callbacks. Each test runs with the
fast path and with ``NATSRPC_FAST_PATH=0``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.msg import Msg

import natsrpc
from natsrpc.testing import NatsServer
from natsrpc.transport.natspy.paths import FAST_PATH_ENV

WAIT = 10.0


@pytest.fixture(params=["fast", "public"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "public":
        monkeypatch.setenv(FAST_PATH_ENV, "0")
    else:
        monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    return str(request.param)


def _seen(msg: Msg) -> tuple[str, str, bytes, dict[str, str] | None]:
    return (msg.subject, msg.reply, msg.data, msg.headers)


async def test_the_applications_subscriptions_get_messages_as_nats_py_gives_them(
    path: str, nats_server: NatsServer, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    nc = await nats.connect(nats_server.url)
    untouched = await nats.connect(nats_server.url)
    publisher = await nats.connect(nats_server.url)
    try:
        server = natsrpc.Server(nc)
        server.add_service(echo_service.EchoService())
        async with server:
            # natsrpc has served and called on nc, so its handling is in place.
            reply = await echo_natsrpc.EchoClient(nc).echo(
                echo_pb2.EchoRequest(text="hi"), timeout=WAIT
            )
            assert reply.text == "hi"

            by_callback: list[Msg] = []
            untouched_seen: list[Msg] = []

            async def keep(msg: Msg) -> None:
                by_callback.append(msg)

            async def keep_untouched(msg: Msg) -> None:
                untouched_seen.append(msg)

            await nc.subscribe("app.>", cb=keep)
            pulled = await nc.subscribe("app.>")
            await untouched.subscribe("app.>", cb=keep_untouched)
            await nc.flush()
            await untouched.flush()

            sent = [
                ("app.plain", b"one", None, ""),
                ("app.headers", b"two", {"A": "1", "Nats-Msg-Id": "x y", "b": " spaced "}, ""),
                ("app.reply", b"", {"Only": "header"}, "app.inbox.1"),
                ("app.big", b"z" * 70_000, {"Seq": "9"}, ""),
            ]
            for subject, data, headers, reply_to in sent:
                await publisher.publish(subject, data, reply=reply_to, headers=headers)
            await publisher.flush()

            await eventually(lambda: len(by_callback) == len(untouched_seen) == len(sent), WAIT)
            pulled_msgs = [await pulled.next_msg(timeout=WAIT) for _ in sent]
            expected = [_seen(m) for m in untouched_seen]
            assert [_seen(m) for m in by_callback] == expected
            assert [_seen(m) for m in pulled_msgs] == expected
            assert [m.subject for m in by_callback] == [s[0] for s in sent]
            assert all(type(m) is Msg and m._client is nc for m in by_callback)
    finally:
        for connection in (nc, untouched, publisher):
            await connection.close()


async def test_the_applications_callbacks_still_fire(
    path: str, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    errors: list[Exception] = []
    disconnects = 0
    reconnects = 0

    async def on_error(error: Exception) -> None:
        errors.append(error)

    async def on_disconnected() -> None:
        nonlocal disconnects
        disconnects += 1

    async def on_reconnected() -> None:
        nonlocal reconnects
        reconnects += 1

    with NatsServer() as nats_server:
        nc = await nats.connect(
            nats_server.url,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            reconnect_time_wait=0.1,
            max_reconnect_attempts=-1,
        )
        try:
            impl = echo_service.EchoService()
            # The slow call's handler is still running at the end: no need to wait long for it.
            server = natsrpc.Server(nc, grace_period=0.5)
            server.add_service(impl)
            async with server:
                client = echo_natsrpc.EchoClient(nc)
                assert (await client.echo(echo_pb2.EchoRequest(text="a"), timeout=WAIT)).text == "a"
                # A call in flight when the connection drops fails at once: natsrpc's own
                # reaction to the disconnect, chained before the application's.
                waiting = asyncio.ensure_future(
                    client.echo(echo_pb2.EchoRequest(text="slow", sleep_ms=60_000), timeout=60)
                )
                await eventually(lambda: impl.active == 1, WAIT)
                nats_server.stop()
                with pytest.raises(natsrpc.RpcError) as lost:
                    await asyncio.wait_for(waiting, WAIT)
                assert lost.value.code is natsrpc.StatusCode.UNAVAILABLE
                await eventually(lambda: disconnects == 1, WAIT)
                # Reconnecting to a stopped server fails: nats-py reports it to error_cb.
                await eventually(lambda: errors, WAIT)
                nats_server.start()
                await eventually(lambda: reconnects == 1, WAIT)
                await eventually(lambda: _answers(client, echo_pb2), WAIT)
        finally:
            await nc.close()
    assert disconnects >= 1
    assert all(isinstance(error, Exception) for error in errors)


async def _answers(client: Any, echo_pb2: Any) -> bool:
    try:
        return bool((await client.echo(echo_pb2.EchoRequest(text="b"), timeout=1)).text == "b")
    except natsrpc.RpcError:
        return False


async def test_a_connection_connected_again_gets_natsrpcs_reactions_chained_again(
    path: str, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    disconnects = 0

    async def on_disconnected() -> None:
        nonlocal disconnects
        disconnects += 1

    with NatsServer() as nats_server:
        serving = await nats.connect(
            nats_server.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1
        )
        nc = nats.NATS()
        await nc.connect(nats_server.url)
        try:
            impl = echo_service.EchoService()
            server = natsrpc.Server(serving, grace_period=0.5)
            server.add_service(impl)
            async with server:
                client = echo_natsrpc.EchoClient(nc)
                assert (await client.echo(echo_pb2.EchoRequest(text="a"), timeout=WAIT)).text == "a"
                await nc.close()
                # connect() puts the application's new callbacks in place of natsrpc's chain.
                await nc.connect(
                    nats_server.url,
                    disconnected_cb=on_disconnected,
                    reconnect_time_wait=0.1,
                    max_reconnect_attempts=-1,
                )
                assert (await client.echo(echo_pb2.EchoRequest(text="b"), timeout=WAIT)).text == "b"
                waiting = asyncio.ensure_future(
                    client.echo(echo_pb2.EchoRequest(text="slow", sleep_ms=60_000), timeout=60)
                )
                await eventually(lambda: impl.active == 1, WAIT)
                nats_server.stop()
                # Chained again: the call in flight fails at once, not at its timeout,
                # and the application's callback still fires.
                with pytest.raises(natsrpc.RpcError) as lost:
                    await asyncio.wait_for(waiting, WAIT)
                assert lost.value.code is natsrpc.StatusCode.UNAVAILABLE
                await eventually(lambda: disconnects == 1, WAIT)
                nats_server.start()
                await eventually(lambda: serving.is_connected and nc.is_connected, WAIT)
        finally:
            await nc.close()
            await serving.close()
