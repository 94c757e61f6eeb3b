"""Cancelling handlers whose caller's deadline has passed, with one periodic check per server.

One check replaces a timer per request: a TimerHandle costs every call a heap
push and pop, while most calls finish long before their deadline. The check
runs only while some handler has a deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

DEADLINE_RESOLUTION = 0.01
"""Seconds between deadline checks: a handler is cancelled at most this late."""


class Deadlines:
    """The handler tasks under a deadline, and the ones cancelled for passing it."""

    __slots__ = ("_deadlines", "_expired", "_sweeper")

    def __init__(self) -> None:
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        """Cancel ``task`` once the monotonic time ``deadline`` has passed."""
        self._deadlines[task] = deadline
        if self._sweeper is None:
            # A timer, not a task: nothing to run until it is due, and no task per
            # quiet spell (a sweeper task used to start and end around every call
            # at concurrency 1).
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(DEADLINE_RESOLUTION, self._sweep)

    def forget(self, task: asyncio.Task[Any]) -> None:
        """``task`` is done with its handler; it must not be cancelled, nor look expired, later."""
        self._deadlines.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether the cancellation ``task`` got came from its deadline (answered once)."""
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def close(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()

    def _sweep(self) -> None:
        """Cancel the handlers whose deadline has passed; again in a while if any are left."""
        self._sweeper = None
        if not self._deadlines:
            return
        now = time.monotonic()
        late = [task for task, deadline in self._deadlines.items() if deadline <= now]
        for task in late:
            del self._deadlines[task]
            self._expired.add(task)
            task.cancel()
        if self._deadlines:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(DEADLINE_RESOLUTION, self._sweep)
