"""Background tasks that nobody awaits, kept alive until they finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

# The event loop holds tasks only weakly: a fire-and-forget publish (credit,
# heartbeat, cancel) or unsubscribe could be collected while it runs.
_background: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def finish_within(
    tasks: set[asyncio.Task[Any]], grace: float, on_grace_over: Callable[[], object] = lambda: None
) -> int:
    """Wait up to ``grace`` seconds for ``tasks``, then cancel the late ones and wait for them.

    ``tasks`` is watched, not copied: tasks added while waiting (a finishing
    runner starting the next one) are waited for too, within the same grace
    period. ``on_grace_over`` runs once the grace period has passed, before any
    task is cancelled. Returns how many tasks were cancelled.
    """
    deadline = time.monotonic() + grace
    while tasks and (remaining := deadline - time.monotonic()) > 0:
        await asyncio.wait(set(tasks), timeout=remaining)
    on_grace_over()
    late = set(tasks)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    return len(late)
