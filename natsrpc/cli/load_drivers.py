"""One load process of ``natsrpc bench``: calls sent open-loop by the clock or closed-loop.

Open loop: call ``i`` is due at ``first + i / rate`` whatever the calls before it
did, and its latency counts from that due time, so time spent queued (in the
generator, the network, the server) shows in the latency instead of silently
lowering the rate (coordinated omission). Closed loop: ``concurrency`` workers
call back to back. Either way only calls due (or started) in the measured window
count, and each of them is waited for to its end.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from natsrpc.cli.histogram import Histogram
from natsrpc.client.base import Client
from natsrpc.spec import MethodKind, MethodSpec
from natsrpc.status import RpcError

clock = time.perf_counter_ns
CATCH_UP_BURST = 16
"""Calls an open loop behind schedule starts before it lets the event loop run them."""
NO_REPLY = "NO_REPLY"
"""A bidi stream the server ended without answering a message written to it."""


@dataclass(frozen=True)
class Plan:
    """What one load process does; rates and counts are this process's share."""

    rate: float | None
    """Calls (bidi: messages) per second, open loop; None runs closed loop."""
    concurrency: int
    """Closed loop: calls in flight. Bidi: the streams the messages go over."""
    warmup: float | None
    """None: the window is opened and closed from outside (``begin_window``, ``end_window``)."""
    duration: float | None
    calls: int | None
    timeout: float | None
    offset: float = 0.0
    """Open loop: seconds from the start to this process's first call (processes interleave)."""


@dataclass
class Tally:
    """What one process measured: latencies of good calls, errors by code, issue lag."""

    latency: Histogram = field(default_factory=Histogram)
    lag: Histogram = field(default_factory=Histogram)
    """Open loop: how late each call started after its due time."""
    errors: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    window_start: int | None = None
    window_end: int | None = None
    last_end: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    """The window was ended early (Ctrl-C)."""

    def ok(self, due: int, messages: int = 1) -> None:
        now = clock()
        self.latency.record(now - due)
        self.messages += messages
        self.last_end = max(self.last_end, now)

    def failed(self, code: str, count: int = 1) -> None:
        self.errors[code] = self.errors.get(code, 0) + count
        self.last_end = max(self.last_end, clock())

    @property
    def calls(self) -> int:
        return self.latency.total + sum(self.errors.values())

    @property
    def seconds(self) -> float:
        """From the window's start to the end of its last call."""
        return max(0, self.last_end - (self.window_start or self.last_end)) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency.to_dict(),
            "lag": self.lag.to_dict(),
            "errors": self.errors,
            "messages": self.messages,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "interrupted": self.interrupted,
        }


def code_of(error: BaseException) -> str:
    return error.code.name if isinstance(error, RpcError) else "UNKNOWN"


Submit = Callable[[int, bool], None]
"""Start the call due at this time; the flag says whether it is measured."""
Call = Callable[[], Awaitable[int]]
"""One whole call, raising on failure; returns how many messages it received."""
OpenStream = Callable[[], Any]
"""Opens a bidi call (a ``BidiStreamCall``) without requests, to write and read."""


def method_calls(
    client: Client, spec: MethodSpec[Any, Any], requests: Sequence[Message], timeout: float | None
) -> tuple[Call | None, OpenStream | None]:
    """Calls of one method through natsrpc's client with the requests given by ``-d``."""
    kind = spec.kind
    if kind is MethodKind.BIDI_STREAMING:
        # No deadline: a stream lives as long as the run; --timeout is per call.
        return None, lambda: client._stream_stream(spec, None, None, None)

    async def call() -> int:
        if kind is MethodKind.UNARY:
            await client._unary_unary(spec, requests[0], timeout, None)
            return 1
        if kind is MethodKind.SERVER_STREAMING:
            messages = 0
            async for _ in client._unary_stream(spec, requests[0], timeout, None):
                messages += 1
            return messages
        await client._stream_unary(spec, requests, timeout, None)
        return len(requests)

    return call, None


class Load:
    """Whole calls (``call``), or round trips on bidi streams (``open_stream``, ``messages``)."""

    def __init__(
        self,
        plan: Plan,
        call: Call | None = None,
        open_stream: OpenStream | None = None,
        messages: Sequence[Message] = (),
    ) -> None:
        self.plan = plan
        self.call = call
        self.open_stream = open_stream
        self.messages = list(messages)
        self.tally = Tally()

    def begin_window(self) -> None:
        self.tally.window_start = clock()

    def end_window(self) -> None:
        self.tally.window_end = clock()

    def interrupt(self) -> bool:
        """End the measured window now, if it has begun; False during warm-up."""
        start = self.tally.window_start
        if start is None or clock() < start:
            return False
        self.end_window()
        self.tally.interrupted = True
        return True

    async def run(self, start: int) -> Tally:
        """Load from ``start`` (a ``clock()`` value) to the end of the plan."""
        plan, tally = self.plan, self.tally
        if plan.warmup is not None:
            tally.window_start = start + int(plan.warmup * 1e9)
            if plan.duration is not None:
                tally.window_end = tally.window_start + int(plan.duration * 1e9)
        cpu, wall = time.process_time(), clock()
        if self.open_stream is not None:
            streams = [_BidiStream(self) for _ in range(plan.concurrency)]
            if plan.rate is None:
                await self._closed_loop(start, streams)
            else:
                await self._open_loop(start, streams)
        elif plan.rate is None:
            await self._closed_loop(start, None)
        else:
            await self._open_loop(start, None)
        tally.cpu_seconds = time.process_time() - cpu
        tally.wall_seconds = (clock() - wall) / 1e9
        return tally

    def _measured(self, due: int, claimed: int) -> bool | None:
        """Whether a call due at ``due`` is measured; None when the run is over."""
        plan, tally = self.plan, self.tally
        start, end = tally.window_start, tally.window_end
        if end is not None and due >= end:
            return None  # checked first: a window ended early (Ctrl-C) ends warm-up too
        if start is None or due < start:
            return False
        if plan.calls is not None:
            return True if claimed < plan.calls else None
        return True

    async def _open_loop(self, start: int, streams: list[_BidiStream] | None) -> None:
        assert self.plan.rate is not None
        interval = 1e9 / self.plan.rate
        first = start + int(self.plan.offset * 1e9)
        tasks: set[asyncio.Task[None]] = set()
        if streams is None:
            loop = asyncio.get_running_loop()

            def submit(due: int, measured: bool) -> None:
                task = loop.create_task(self._one(due, measured, open_loop=True))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            submits = [submit]
        else:
            tasks.update(asyncio.ensure_future(s.serve_queue()) for s in streams)
            submits = [s.submit for s in streams]
        index = claimed = behind = 0
        while True:
            due = first + round(index * interval)
            measured = self._measured(due, claimed)
            if measured is None:
                break
            if (now := clock()) < due:
                # uvloop's millisecond timers may wake early: never send before the due time.
                while now < due:
                    await asyncio.sleep((due - now) / 1e9)
                    now = clock()
            else:
                behind += 1
                if behind % CATCH_UP_BURST == 0:
                    # Behind schedule: let the calls already due start (and answers in)
                    # rather than queue them all unsent; their lag counts either way.
                    await asyncio.sleep(0)
            claimed += measured
            submits[index % len(submits)](due, measured)
            index += 1
        for stream in streams or ():
            stream.submit_end()
        # No call starts after the loop: waiting for those in flight now is waiting for all.
        await asyncio.gather(*list(tasks))

    async def _closed_loop(self, start: int, streams: list[_BidiStream] | None) -> None:
        while (now := clock()) < start:
            await asyncio.sleep((start - now) / 1e9)
        claimed = 0

        async def worker(call: Callable[[int, bool], Awaitable[None]]) -> None:
            nonlocal claimed
            while True:
                started = clock()
                measured = self._measured(started, claimed)
                if measured is None:
                    return
                claimed += measured
                await call(started, measured)

        if streams is None:
            await asyncio.gather(*(worker(self._one) for _ in range(self.plan.concurrency)))
            return
        await asyncio.gather(*(worker(s.ping_pong) for s in streams))
        await asyncio.gather(*(s.close() for s in streams))

    async def _one(self, due: int, measured: bool, open_loop: bool = False) -> None:
        assert self.call is not None
        if measured and open_loop:
            self.tally.lag.record(clock() - due)
        try:
            messages = await self.call()
        except Exception as error:
            if measured:
                self.tally.failed(code_of(error))
            return
        if measured:
            self.tally.ok(due, messages)


class _BidiStream:
    """One long bidi call: a message written, its answer read, as a round trip each.

    The server must answer every message with one message, in order (an echo).
    A stream that fails is counted (each unanswered message under its code) and
    opened again.
    """

    def __init__(self, load: Load) -> None:
        self.load = load
        self.tally = load.tally
        self.sent = 0
        self.pending: collections.deque[tuple[int, bool]] = collections.deque()
        self.queue: asyncio.Queue[tuple[int, bool] | None] = asyncio.Queue()
        self.call: Any = None

    def _open(self) -> Any:
        assert self.load.open_stream is not None
        return self.load.open_stream()

    def _next_message(self) -> Message:
        requests = self.load.messages
        message = requests[self.sent % len(requests)]
        self.sent += 1
        return message

    def _fail_pending(self, code: str) -> None:
        lost = sum(1 for _, measured in self.pending if measured)
        if lost:
            self.tally.failed(code, lost)
        self.pending.clear()

    async def ping_pong(self, started: int, measured: bool) -> None:
        """Closed loop: one round trip (a failed stream is opened again for the next)."""
        if self.call is None:
            self.call = self._open()
        try:
            await self.call.write(self._next_message())
            answer = await self.call.read()
        except Exception as error:
            self.call = None
            if measured:
                self.tally.failed(code_of(error))
            return
        if answer is None:
            self.call = None
            if measured:
                self.tally.failed(NO_REPLY)
        elif measured:
            self.tally.ok(started)

    async def close(self) -> None:
        call, self.call = self.call, None
        if call is None:
            return
        try:
            await call.done_writing()
            while await call.read() is not None:
                pass
        except Exception:
            return  # the measured round trips are all in; how the stream ends is not one

    def submit(self, due: int, measured: bool) -> None:
        self.queue.put_nowait((due, measured))

    def submit_end(self) -> None:
        self.queue.put_nowait(None)

    async def serve_queue(self) -> None:
        """Open loop: write each message as it falls due; a reader task matches answers."""
        while True:
            call = self._open()
            reader = asyncio.ensure_future(self._read_answers(call))
            try:
                while (item := await self.queue.get()) is not None:
                    self.pending.append(item)
                    if item[1]:
                        self.tally.lag.record(clock() - item[0])
                    await call.write(self._next_message())
                await call.done_writing()
                await reader
                self._fail_pending(NO_REPLY)
                return
            except Exception as error:
                await asyncio.gather(reader, return_exceptions=True)
                self._fail_pending(code_of(error))

    async def _read_answers(self, call: Any) -> None:
        try:
            while await call.read() is not None:
                if not self.pending:
                    continue  # more answers than messages: not an echo; nothing to time
                due, measured = self.pending.popleft()
                if measured:
                    self.tally.ok(due)
        except Exception as error:
            self._fail_pending(code_of(error))
