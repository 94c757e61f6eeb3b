"""What the sync client tests share besides fixtures: a loop thread for the services."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

HEARTBEAT = 0.2
"""Short heartbeats, so a vanished peer is noticed quickly."""
WAIT = 10.0
"""Seconds any test waits at most for something to happen."""


class LoopThread:
    """An event loop in a daemon thread, for the server side of the tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@dataclass
class Served:
    """The services under test, and the loop they run on."""

    echo: Any
    streamer: Any
    loop: LoopThread

    def wait_for(self, event: asyncio.Event) -> None:
        """Wait, from a test's thread, for an event the services set on their loop."""
        self.loop.run(asyncio.wait_for(event.wait(), WAIT), WAIT + 1)
