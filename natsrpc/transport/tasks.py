"""Background tasks that nobody awaits, kept alive until they finish."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
