"""A nats-py connection looped back on itself, for microbenchmarks without a network.

``loopback()`` returns a real ``nats.aio.client.Client`` marked connected, whose
flusher is replaced by a task that takes the commands nats-py queued for the
socket, finds the PUB/HPUB commands among them and hands each to the
connection's own ``_process_msg``, as nats-py's protocol parser does with what
the server sends. Everything nats-py and natsrpc do per message runs for real
(serialising, queueing, header parsing, subscription tasks and callbacks);
only the socket and nats-server are missing, so what is timed is Python work.
The loop-back does the broker's share (subject matching) in a few lines, which
every contender pays alike.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import nats.aio.client
from nats.aio.client import Client as NATS

# nats-py writes an empty reply as an empty token: "PUB subject  5".
_COMMAND = re.compile(rb"(H?PUB) (\S+) (\S*) ?(\d+)(?: (\d+))?\r\n")


class Loopback:
    """The flusher stand-in of one connection; ``published`` counts messages it routed."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.published = 0
        self.task: asyncio.Task[None] | None = None
        self._routes: dict[str, int] = {}
        self._exact: dict[str, int] = {}
        self._wildcards: dict[str, int] = {}
        self._version: tuple[int, int] | None = None
        self.answers: dict[bytes, bytes] = {}
        """Subject -> reply payload: a responder that costs nothing, to time a client alone."""

    def _sid(self, subject: str) -> int | None:
        sid = self._routes.get(subject)
        if sid is not None and sid in self.nc._subs:
            return sid
        sid = self._match(subject)
        if sid is not None and len(self._routes) < 1024:
            self._routes[subject] = sid
        return sid

    def _match(self, subject: str) -> int | None:
        # Indexed, as nats-server's subject tree is: a scan of every subscription
        # would charge natsrpc (more subscriptions: $SRV, cancel notices) more of
        # the broker's share than raw nats-py for the same message.
        version = (self.nc._sid, len(self.nc._subs))
        if version != self._version:
            self._exact.clear()
            self._wildcards.clear()
            for sid, sub in self.nc._subs.items():
                pattern = sub._subject
                if pattern.endswith(".*"):
                    self._wildcards.setdefault(pattern[:-2], sid)
                else:
                    self._exact.setdefault(pattern, sid)
            self._version = version
        sid = self._exact.get(subject)
        if sid is None:
            sid = self._wildcards.get(subject.rpartition(".")[0])
        return sid

    async def run(self) -> None:
        nc = self.nc
        queue = nc._flush_queue
        assert queue is not None
        while True:
            future = await queue.get()
            pending, nc._pending = nc._pending, []
            nc._pending_data_size = 0
            if not future.done():
                future.set_result(None)
            for command in pending:
                await self._route(bytes(command))

    async def _route(self, data: bytes) -> None:
        position = 0
        while position < len(data):
            match = _COMMAND.match(data, position)
            if match is None:
                # SUB, UNSUB, PING: the broker's business, not ours.
                end = data.find(b"\r\n", position)
                position = len(data) if end < 0 else end + 2
                continue
            kind, subject, reply, first_size, second_size = match.groups()
            if kind == b"HPUB":
                header_size, total = int(first_size), int(second_size)
            else:
                header_size, total = 0, int(first_size)
            start = match.end()
            body = data[start : start + total]
            position = start + total + 2
            self.published += 1
            answer = self.answers.get(subject)
            if answer is not None and reply:
                subject, reply, body, header_size = reply, b"", answer, 0
            sid = self._sid(subject.decode())
            if sid is None:
                continue
            headers = body[:header_size] if header_size else None
            await self.nc._process_msg(sid, subject, reply, body[header_size:], headers)


async def loopback() -> tuple[NATS, Loopback]:
    """A connected-looking client whose publishes come back to its own subscriptions."""
    nc = nats.aio.client.Client()
    nc._status = NATS.CONNECTED
    nc._max_payload = 1 << 20
    nc._flush_timeout = None
    nc._flush_queue = asyncio.Queue(maxsize=1024)
    nc._server_info = {"headers": True}
    back = Loopback(nc)
    back.task = asyncio.get_running_loop().create_task(back.run())
    nc._flusher_task = back.task

    async def flush(timeout: float = 0) -> None:
        await nc._flush_pending(force_flush=True)
        await asyncio.sleep(0)

    nc.flush = flush  # type: ignore[method-assign]
    return nc, back


async def settle(back: Loopback, until: Any) -> None:
    """Let the loop run until ``until()`` is true (bounded: a bug must not hang the bench)."""
    for _ in range(1_000_000):
        if until():
            return
        await asyncio.sleep(0)
    raise RuntimeError("the loop-back did not settle")
