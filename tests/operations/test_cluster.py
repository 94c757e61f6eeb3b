"""natsrpc on a three-node NATS cluster when one node dies under load."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from helpers import eventually
from nats.aio.client import Client as NATS

import natsrpc
from natsrpc import discovery
from natsrpc.testing import NatsCluster

# Waits that only guard against hangs: generous, the machine may be busy.
PATIENCE = 30.0
CALL_TIMEOUT = 2.0
# A call may take its timeout plus this much before it counts as hanging.
SLACK = 5.0


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(3) as running:
        yield running


@pytest.fixture
async def connect(cluster: NatsCluster) -> AsyncIterator[Any]:
    opened: list[NATS] = []

    async def to(first: int) -> NATS:
        """A connection to node ``first`` that knows every node, reconnecting quickly."""
        urls = cluster.urls
        nc = await nats.connect(
            servers=[urls[first], *(u for i, u in enumerate(urls) if i != first)],
            dont_randomize=True,
            reconnect_time_wait=0.1,
            max_reconnect_attempts=-1,
            connect_timeout=5,
        )
        opened.append(nc)
        return nc

    yield to
    for nc in opened:
        await nc.close()


@dataclass
class Outcome:
    text: str
    caller: str
    idempotent: bool
    started: float
    finished: float
    server: str = ""
    error: natsrpc.StatusCode | None = None


async def test_node_failure_under_load(
    cluster: NatsCluster, connect: Any, echo_service: Any, echo_natsrpc: Any, echo_pb2: Any
) -> None:
    handled: collections.Counter[str] = collections.Counter()

    class Recording(echo_service.EchoService):  # type: ignore[misc, name-defined]
        async def echo(self, request: Any, context: natsrpc.Context) -> Any:
            handled[request.text] += 1
            return await super().echo(request, context)

    # Service "a" and one client on node 0 (the node that dies), service "b" on
    # node 1, and another client on node 2.
    server_a = natsrpc.Server(await connect(0))
    server_a.add_service(Recording("a"))
    server_b = natsrpc.Server(await connect(1))
    server_b.add_service(Recording("b"))
    await server_a.start()
    await server_b.start()
    client_nc_0, client_nc_2 = await connect(0), await connect(2)
    # An attempt that waits longer than this has lost its instance: retry it elsewhere.
    retry = natsrpc.RetryPolicy(max_attempts=10, attempt_timeout=0.5, initial_backoff=0.05)
    clients = {
        "client@0": echo_natsrpc.EchoClient(client_nc_0, timeout=CALL_TIMEOUT, retry=retry),
        "client@2": echo_natsrpc.EchoClient(client_nc_2, timeout=CALL_TIMEOUT, retry=retry),
    }
    # Interest travels over the routes: wait until node 2 sees both instances
    # (the method subscriptions were made before the discovery ones).
    found = await discovery.ping(client_nc_2, "natsrpc_test-Echo", expected=2, timeout=PATIENCE)
    assert len(found) == 2

    outcomes: list[Outcome] = []
    stop_load = asyncio.Event()
    sequence = iter(range(1_000_000))
    pending: set[str] = set()
    """The calls a worker has made and not yet seen end."""

    async def load(caller: str, idempotent: bool) -> None:
        client = clients[caller]
        # Echo is not safe to repeat and is never retried; Peek (NO_SIDE_EFFECTS) is.
        method = client.peek if idempotent else client.echo
        while not stop_load.is_set():
            text = f"{caller}-{next(sequence)}"
            outcome = Outcome(text, caller, idempotent, time.monotonic(), 0.0)
            pending.add(text)
            try:
                reply = await method(echo_pb2.EchoRequest(text=outcome.text, sleep_ms=20))
                assert reply.text == outcome.text
                outcome.server = reply.server
            except natsrpc.RpcError as error:
                outcome.error = error.code
            outcome.finished = time.monotonic()
            pending.discard(text)
            outcomes.append(outcome)

    def answered_by(server: str, since: float = 0.0) -> int:
        return sum(1 for o in outcomes if o.server == server and o.started >= since)

    workers = [
        asyncio.ensure_future(load(caller, idempotent))
        for caller in clients
        for idempotent in (False, True)
        for _ in range(4)
    ]
    await eventually(
        lambda: answered_by("a") >= 20 and answered_by("b") >= 20,
        within=PATIENCE,
        what="both serve",
    )
    killed_at = time.monotonic()
    cluster.nodes[0].kill()
    # Every call in flight when node 0 died has ended, by its answer or its timeout.
    lost = set(pending)
    await eventually(lambda: not lost & pending, within=PATIENCE, what="the calls in flight end")
    # Service "a" reconnected to another node and takes its share again; so does
    # the client that was on node 0.
    recovered_at = time.monotonic()
    await eventually(
        lambda: (
            answered_by("a", recovered_at) >= 10
            and sum(1 for o in outcomes if o.caller == "client@0" and o.started >= recovered_at)
            >= 10
        ),
        within=PATIENCE,
        what="service a and client@0 recover",
    )
    stop_load.set()
    await asyncio.wait_for(asyncio.gather(*workers), PATIENCE)
    await server_a.stop()
    await server_b.stop()

    before = [o for o in outcomes if o.finished < killed_at]
    around = [o for o in outcomes if o.finished >= killed_at and o.started < recovered_at]
    after = [o for o in outcomes if o.started >= recovered_at]
    failed = [o for o in outcomes if o.error is not None]
    report = collections.Counter(
        (o.caller, "peek" if o.idempotent else "echo", o.error.name if o.error else "ok")
        for o in around
    )
    print(
        f"\n{len(outcomes)} calls: {len(before)} before the kill (all ok), "
        f"{len(around)} around it {dict(sorted(report.items()))}, {len(after)} after recovery"
    )

    # Nothing hangs: every call ended within its timeout, plus slack for a busy machine.
    assert max(o.finished - o.started for o in outcomes) < CALL_TIMEOUT + SLACK
    # NATS delivers a request at most once: no call that is not safe to repeat ran
    # twice; a retried idempotent call may have run once per attempt.
    assert all(handled[o.text] <= 1 for o in outcomes if not o.idempotent)
    assert all(handled[o.text] == 1 for o in outcomes if o.error is None and not o.idempotent)
    # Idempotent calls got through the node failure by retrying.
    assert all(o.error is None for o in outcomes if o.idempotent)
    # Calls in flight from the node that died failed at once, not at their timeout.
    assert {o.error for o in failed if o.caller == "client@0"} <= {natsrpc.StatusCode.UNAVAILABLE}
    # Before the kill, and once everything reconnected, every call succeeds.
    assert all(o.error is None for o in before)
    assert all(o.error is None for o in after)
    # Calls caught by the kill fail with a transport status, nothing else.
    assert {o.error for o in failed} <= {
        natsrpc.StatusCode.DEADLINE_EXCEEDED,
        natsrpc.StatusCode.UNAVAILABLE,
    }
    # While node 0 was down, calls from node 2 kept succeeding on the other instance.
    assert any(o.caller == "client@2" and o.server == "b" for o in around)
    assert cluster.nodes[0].running is False
    assert client_nc_0.connected_url is not None
    assert client_nc_0.connected_url.port != cluster.nodes[0].port
