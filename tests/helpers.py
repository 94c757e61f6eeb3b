"""Small helpers the test modules share."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.msg import Msg


async def eventually(
    condition: Callable[[], object | Awaitable[object]], within: float = 10.0, what: str = ""
) -> None:
    """Wait until ``condition()`` holds (it may be async); a bound against hanging, not a timing
    target. ``what`` names the condition in the failure message."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"{what or 'condition'} not reached within {within} s"
        await asyncio.sleep(0.01)


def eventually_sync(condition: Callable[[], object], within: float = 10.0, what: str = "") -> None:
    """``eventually`` for code without an event loop: polls ``condition()`` from this thread."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what or 'condition'} not reached within {within} s"
        time.sleep(0.01)


@contextlib.asynccontextmanager
async def wiretap(url: str, subject: str) -> AsyncIterator[list[Msg]]:
    """Every message on ``subject`` while the block runs, as another NATS client sees it."""
    seen: list[Msg] = []
    spy = await nats.connect(url)

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    await spy.subscribe(subject, cb=keep)
    await spy.flush()
    try:
        yield seen
    finally:
        await spy.close()


@dataclass
class Served:
    """The test services the ``served`` fixture runs (tests/echo_service.py, stream_service.py)."""

    echo: Any
    streamer: Any
