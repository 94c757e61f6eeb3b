"""Client retries of unary calls (natsrpc.RetryPolicy) against a real nats-server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

import natsrpc

S = natsrpc.StatusCode
# No jitter, so the number of attempts a deadline leaves room for is known.
FAST = natsrpc.RetryPolicy(initial_backoff=0.01, max_backoff=0.05, jitter=0)


class Foreign:
    """A hand-written ADR-32 responder: fails ``failures`` times, then echoes."""

    def __init__(
        self, nc: NATS, echo_pb2: Any, failures: int, code: str = "14", silent: bool = False
    ) -> None:
        self.nc = nc
        self.pb = echo_pb2
        self.failures = failures
        self.code = code
        self.silent = silent
        """Fail by never answering, as an instance that died with the request would."""
        self.attempts = 0
        self.timeouts: list[int] = []

    async def respond(self, msg: Any) -> None:
        self.attempts += 1
        self.timeouts.append(int(msg.headers["Rpc-Timeout-Ms"]))
        if self.attempts <= self.failures and self.silent:
            return
        if self.attempts <= self.failures:
            headers = {"Nats-Service-Error": "try again", "Nats-Service-Error-Code": self.code}
            await self.nc.publish(msg.reply, b"", headers=headers)
        else:
            reply = self.pb.EchoReply(text=f"attempt {self.attempts}")
            await self.nc.publish(msg.reply, reply.SerializeToString())


@pytest.fixture
async def serve_foreign(nc: NATS) -> AsyncIterator[Any]:
    subs: list[Subscription] = []

    async def serve(method: str, responder: Foreign) -> Foreign:
        subs.append(await nc.subscribe(f"natsrpc_test.Echo.{method}", cb=responder.respond))
        await nc.flush()
        return responder

    yield serve
    for sub in subs:
        await sub.unsubscribe()


async def test_idempotent_method_is_retried_until_it_succeeds(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=2))
    client = echo_natsrpc.EchoClient(nc, retry=FAST)
    call = client.peek(echo_pb2.EchoRequest())
    assert (await call).text == "attempt 3"
    assert foreign.attempts == 3
    assert await call.trailing_metadata() == {}


async def test_attempts_are_capped_and_the_last_status_is_raised(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=100))
    client = echo_natsrpc.EchoClient(
        nc, retry=natsrpc.RetryPolicy(max_attempts=3, initial_backoff=0)
    )
    with pytest.raises(natsrpc.RpcError) as info:
        await client.peek(echo_pb2.EchoRequest())
    assert info.value.code is S.UNAVAILABLE
    assert info.value.message == "try again"
    assert foreign.attempts == 3


async def test_non_idempotent_method_is_not_retried(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Echo", Foreign(nc, echo_pb2, failures=1))
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_natsrpc.EchoClient(nc, retry=FAST).echo(echo_pb2.EchoRequest())
    assert info.value.code is S.UNAVAILABLE
    assert foreign.attempts == 1


async def test_methods_option_chooses_the_methods_to_retry(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    echo = await serve_foreign("Echo", Foreign(nc, echo_pb2, failures=1))
    peek = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=1))
    policy = natsrpc.RetryPolicy(initial_backoff=0, methods=frozenset({"/natsrpc_test.Echo/Echo"}))
    client = echo_natsrpc.EchoClient(nc, retry=policy)
    assert (await client.echo(echo_pb2.EchoRequest())).text == "attempt 2"
    with pytest.raises(natsrpc.RpcError):
        await client.peek(echo_pb2.EchoRequest())
    assert (echo.attempts, peek.attempts) == (2, 1)


async def test_only_retryable_statuses_are_retried(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=2, code="8"))
    client = echo_natsrpc.EchoClient(nc, retry=FAST)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.peek(echo_pb2.EchoRequest())
    assert info.value.code is S.RESOURCE_EXHAUSTED
    assert foreign.attempts == 1

    shedding = echo_natsrpc.EchoClient(
        nc,
        retry=natsrpc.RetryPolicy(initial_backoff=0, retryable=frozenset({S.RESOURCE_EXHAUSTED})),
    )
    assert (await shedding.peek(echo_pb2.EchoRequest())).text == "attempt 3"


async def test_retries_stay_inside_the_deadline(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=10_000))
    policy = natsrpc.RetryPolicy(max_attempts=1000, initial_backoff=0.02, max_backoff=0.05)
    client = echo_natsrpc.EchoClient(nc, retry=policy)
    with pytest.raises(natsrpc.RpcError) as info:
        await client.peek(echo_pb2.EchoRequest(), timeout=0.5)
    assert info.value.code in (S.UNAVAILABLE, S.DEADLINE_EXCEEDED)
    # At least 16 ms between attempts (the smallest jittered backoff) bounds them.
    assert 2 <= foreign.attempts <= 0.5 / 0.016 + 1
    # Each attempt tells the server what remains of the one deadline (how long the
    # call took is not asserted: timing belongs in bench/).
    assert foreign.timeouts[0] == 500
    assert all(a > b for a, b in itertools.pairwise(foreign.timeouts))


async def test_a_service_that_starts_late_is_reached_by_retries(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    server = natsrpc.Server(nc)
    server.add_service(echo_service.EchoService("late"))
    policy = natsrpc.RetryPolicy(max_attempts=20, initial_backoff=0.02, max_backoff=0.1)

    async def start_later() -> None:
        await asyncio.sleep(0.2)
        await server.start()

    starter = asyncio.ensure_future(start_later())
    try:
        # No responders is UNAVAILABLE at once, so the call retries until the service is up.
        reply = await echo_natsrpc.EchoClient(nc, retry=policy).peek(
            echo_pb2.EchoRequest(), timeout=5
        )
        assert reply.server == "late"
    finally:
        await starter
        await server.stop()


async def test_deadline_exceeded_attempt_is_not_retried(
    nc: NATS, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    impl = echo_service.EchoService()
    server = natsrpc.Server(nc)
    server.add_service(impl)
    client = echo_natsrpc.EchoClient(nc, retry=FAST)
    async with server:
        with pytest.raises(natsrpc.RpcError) as info:
            await client.peek(echo_pb2.EchoRequest(sleep_ms=1000), timeout=0.2)
    assert info.value.code is S.DEADLINE_EXCEEDED
    assert impl.cancelled == 1


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        natsrpc.RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        natsrpc.RetryPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        natsrpc.RetryPolicy(retryable=frozenset({S.OK}))


def test_backoff_grows_to_its_cap_with_jitter_below_it() -> None:
    policy = natsrpc.RetryPolicy(initial_backoff=0.1, multiplier=2, max_backoff=0.5, jitter=0.5)
    assert [policy.backoff(n, rand=lambda: 0.0) for n in range(1, 6)] == [
        0.1,
        0.2,
        0.4,
        0.5,
        0.5,
    ]
    assert policy.backoff(2, rand=lambda: 1.0) == pytest.approx(0.1)


async def test_attempt_timeout_retries_a_request_that_was_lost(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Peek", Foreign(nc, echo_pb2, failures=1, silent=True))
    policy = natsrpc.RetryPolicy(attempt_timeout=0.2, initial_backoff=0.01)
    client = echo_natsrpc.EchoClient(nc, retry=policy)
    assert (await client.peek(echo_pb2.EchoRequest(), timeout=5)).text == "attempt 2"
    # The first attempt was told its own, shorter deadline.
    assert foreign.timeouts[0] == 200


async def test_attempt_timeout_does_not_retry_a_non_idempotent_call(
    nc: NATS, echo_natsrpc: Any, echo_pb2: Any, serve_foreign: Any
) -> None:
    foreign = await serve_foreign("Echo", Foreign(nc, echo_pb2, failures=1, silent=True))
    policy = natsrpc.RetryPolicy(attempt_timeout=0.2, initial_backoff=0.01)
    with pytest.raises(natsrpc.RpcError) as info:
        await echo_natsrpc.EchoClient(nc, retry=policy).echo(echo_pb2.EchoRequest(), timeout=0.5)
    assert info.value.code is S.DEADLINE_EXCEEDED
    assert foreign.attempts == 1


async def test_calls_waiting_when_the_connection_drops_fail_at_once(
    nats_server: Any, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    import nats

    server_nc = await nats.connect(nats_server.url)
    client_nc = await nats.connect(nats_server.url)
    server = natsrpc.Server(server_nc)
    server.add_service(echo_service.EchoService())
    async with server:
        call = asyncio.ensure_future(
            echo_natsrpc.EchoClient(client_nc).echo(echo_pb2.EchoRequest(sleep_ms=1000), timeout=30)
        )
        await asyncio.sleep(0.2)
        await client_nc.close()
        with pytest.raises(natsrpc.RpcError) as info:
            await asyncio.wait_for(call, 10)
    await server_nc.close()
    assert info.value.code is S.UNAVAILABLE
    assert "connection was lost" in info.value.message
