"""Admission, and serving admitted work with a runner task per burst instead of a task per item."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

if sys.version_info >= (3, 12):

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], eager: bool
    ) -> asyncio.Task[None]:
        # Eager: runs the work at once, up to its first wait, so a lone item whose
        # handler never waits costs no trip through the event loop.
        return asyncio.Task(coro, loop=loop, eager_start=eager)

else:

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], eager: bool
    ) -> asyncio.Task[None]:
        return loop.create_task(coro)


EAGER_AFTER = 200e-6
"""Seconds without a new runner after which the next one starts eagerly (Python 3.12+)."""

T = TypeVar("T")


class Occupancy(Protocol):
    """Where a runner mirrors what it holds (an endpoint's ADR-32 statistics)."""

    in_flight: int
    pending: int


class Runner(Generic[T]):
    """Items come in through ``admit`` only: served, queued in the backlog, or refused.

    At most ``max_concurrency`` items are in hand (being served, or ready for a
    runner); up to ``max_pending`` more wait in ``backlog`` and move up as items
    finish. Admitted items wait in ``ready`` for a runner: a task that serves
    them one after another. Before serving one, a runner makes sure another is
    on its way if more are ready, so an item whose handling waits never holds
    up the rest, while items that finish without waiting (the common case under
    load: a burst from one socket read) share one task instead of paying for a
    task each.

    Subclasses say how to serve an item (``_serve``), and may bound the backlog
    further and count what waits there (``_enter_backlog``, ``_leave_backlog``);
    ``bind`` gives the loop and the task set a graceful stop waits on. Given an
    ``occupancy``, the runner keeps its ``in_flight`` (``in_hand``) and
    ``pending`` (the backlog's length) up to date as items come and go.
    """

    __slots__ = (
        "_loop",
        "_tasks",
        "backlog",
        "in_hand",
        "last_start",
        "max_concurrency",
        "max_pending",
        "occupancy",
        "ready",
        "starting",
    )

    def __init__(
        self, max_concurrency: int, max_pending: int, occupancy: Occupancy | None = None
    ) -> None:
        self.max_concurrency = max_concurrency
        self.max_pending = max_pending
        self.in_hand = 0
        """Items being served or ready for a runner; never above ``max_concurrency``."""
        self.ready: deque[T] = deque()
        """Admitted, not yet taken by a runner."""
        self.backlog: deque[T] = deque()
        """Beyond ``max_concurrency``: waiting for room."""
        self.starting = False
        """A runner has been created and has not started yet."""
        self.last_start = 0.0
        """Monotonic time a runner was last started."""
        self.occupancy = occupancy
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, tasks: set[asyncio.Task[None]]) -> None:
        """Run on the running loop; running runners are kept in ``tasks``."""
        self._loop = asyncio.get_running_loop()
        self._tasks = tasks

    def admit(self, item: T) -> bool:
        """Take ``item`` in: ready for a runner, or into the backlog; False if there is no room.

        A refused item is the caller's to shed. An item that finds nothing else
        in hand may have its runner start eagerly (``_lone``).
        """
        occupancy = self.occupancy
        if self.in_hand < self.max_concurrency:
            self.in_hand += 1
            self.ready.append(item)
            if occupancy is not None:
                occupancy.in_flight = self.in_hand
            if not self.starting:
                self._start_runner(self.in_hand == 1 and self._lone())
            return True
        if len(self.backlog) < self.max_pending and self._enter_backlog(item):
            self.backlog.append(item)
            if occupancy is not None:
                occupancy.pending = len(self.backlog)
            return True
        return False

    def _lone(self) -> bool:
        """Whether an item admitted with nothing else in hand is alone, with no burst behind it."""
        return True

    def _enter_backlog(self, item: T) -> bool:
        """Whether ``item`` may join the backlog, which has room for it by count."""
        return True

    def _leave_backlog(self, item: T) -> None:
        """``item`` leaves the backlog: to be served, or dropped."""

    def drop_waiting(self) -> list[T]:
        """Take every admitted item no runner has started, ready or in the backlog, out."""
        dropped = [*self.ready, *self.backlog]
        self.in_hand -= len(self.ready)
        for item in self.backlog:
            self._leave_backlog(item)
        self.ready.clear()
        self.backlog.clear()
        if self.occupancy is not None:
            self.occupancy.in_flight = self.in_hand
            self.occupancy.pending = 0
        return dropped

    def _start_runner(self, lone: bool) -> None:
        self.starting = True
        # Only an item after a quiet spell starts its runner eagerly: within a
        # burst an eager runner would serve one item and end (a task each),
        # while a scheduled one serves the rest of the burst.
        now = time.monotonic()
        eager = lone and now - self.last_start > EAGER_AFTER
        self.last_start = now
        assert self._loop is not None, "Runner.bind() first"
        task = _start_task(self._loop, self._run(), eager)
        if not task.done():
            self._tasks.add(task)

    async def _run(self) -> None:
        self.starting = False
        ready = self.ready
        occupancy = self.occupancy
        try:
            while ready:
                item = ready.popleft()
                if ready and not self.starting:
                    # Should this item's handling wait, the next runner takes the rest.
                    self._start_runner(False)
                try:
                    rest = self._serve(item)
                    if rest is not None:
                        await rest
                finally:
                    if self.backlog:
                        # Its place in hand goes to the longest waiting item.
                        moved = self.backlog.popleft()
                        self._leave_backlog(moved)
                        self.ready.append(moved)
                    else:
                        self.in_hand -= 1
                    if occupancy is not None:
                        occupancy.in_flight = self.in_hand
                        occupancy.pending = len(self.backlog)
        finally:
            # Cheaper than a done callback, which costs the loop one more round.
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    def _serve(self, item: T) -> Awaitable[None] | None:
        """Serve one item: at once (None), or up to what is left to await."""
        raise NotImplementedError
