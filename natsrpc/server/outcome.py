"""How a served call ends: one place that turns a handler's outcome into a status.

Unary and streaming calls alike run their handler through ``Outcomes.run``: it
enforces the caller's deadline, and maps success, ``RpcError``, cancellation
(deadline, caller gone, or a forced stop) and unexpected exceptions to what the
caller is told.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType, coroutine
from typing import Any, Generic, TypeVar

from natsrpc.spec import MethodSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc.server")

T = TypeVar("T")

DEADLINE_RESOLUTION = 0.01
"""Seconds between deadline checks: a handler is cancelled at most this late."""

SHUTTING_DOWN = "server is shutting down"
CANCELLED_BY_CALLER = "the caller cancelled the call"


class Outcome(Generic[T]):
    """What a handler produced: its result, or the error the caller gets."""

    __slots__ = ("error", "forced_stop", "result")

    def __init__(self, result: T | None, error: RpcError | None, forced_stop: bool = False) -> None:
        self.result = result
        self.error = error
        self.forced_stop = forced_stop
        """The server cancelled the handler while stopping: reply, then let the cancel go on."""


class Outcomes:
    """Runs handlers under their callers' deadlines; one per server.

    One periodic check replaces a timer per request: a TimerHandle costs every
    call a heap push and pop, while most calls finish long before their
    deadline. The check runs only while some handler has a deadline.
    """

    def __init__(self) -> None:
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._running: dict[str, asyncio.Task[Any]] = {}
        """Unary calls being handled, by their reply subject, for the caller's cancel notice."""
        self._given_up: set[asyncio.Task[Any]] = set()

    async def run(
        self,
        method: MethodSpec[Any, Any],
        handler_call: Awaitable[T],
        deadline: float | None,
        local_failure: Callable[[], RpcError | None] | None = None,
        call_id: str = "",
    ) -> Outcome[T]:
        """Await ``handler_call`` in the current task, cancelled when ``deadline`` passes.

        ``local_failure`` reports a failure the call itself detected (the caller
        cancelled, a broken stream): it wins over whatever the handler raised
        because of it. A call with a ``call_id`` (a unary call's reply subject)
        can be cancelled by it: ``cancel(call_id)``.
        """
        task = asyncio.current_task()
        assert task is not None
        if deadline is not None:
            self._watch(task, deadline)
        if call_id:
            self._running[call_id] = task
        try:
            return Outcome(await handler_call, None)
        except RpcError as exc:
            return Outcome(None, _local(local_failure) or exc)
        except asyncio.CancelledError:
            if self._was_expired(task):
                error: RpcError | None = RpcError(
                    StatusCode.DEADLINE_EXCEEDED, "deadline exceeded on the server"
                )
            elif task in self._given_up:
                error = RpcError(StatusCode.CANCELLED, CANCELLED_BY_CALLER)
            else:
                error = _local(local_failure)
            if error is None:
                return Outcome(None, RpcError(StatusCode.CANCELLED, SHUTTING_DOWN), True)
            if hasattr(task, "uncancel"):
                # This task goes on serving queued requests; clear our own cancel.
                task.uncancel()
            return Outcome(None, error)
        except Exception:
            error = _local(local_failure)
            if error is None:
                logger.exception("unhandled error in %s", method.path)
                error = RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
            return Outcome(None, error)
        finally:
            if deadline is not None:
                self._forget(task)
            if call_id:
                # A foreign client may send several requests with one reply subject.
                if self._running.get(call_id) is task:
                    del self._running[call_id]
                if self._given_up:
                    self._given_up.discard(task)

    def begin(self, handler_call: Awaitable[T]) -> Outcome[T] | Awaitable[T]:
        """Run a handler call up to its first wait, in the current task.

        A call that finishes without waiting (most unary handlers) has its
        outcome at once: nothing could have interrupted it, so there was no
        deadline to watch and no cancel notice to route, which ``run`` pays
        for. Otherwise, or if it raised, the rest goes to ``run`` as any
        handler call would.
        """
        if type(handler_call) is not CoroutineType:
            return handler_call
        try:
            suspended = handler_call.send(None)
        except StopIteration as done:
            return Outcome(done.value, None)
        except BaseException as exc:
            return _raise(exc)
        return _resume(handler_call, suspended)

    def cancel(self, call_id: str) -> bool:
        """Cancel the running call ``call_id``, as its caller asked; False if none is running."""
        task = self._running.get(call_id)
        if task is None:
            return False
        self._given_up.add(task)
        task.cancel()
        return True

    def _watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._deadlines[task] = deadline
        if self._sweeper is None:
            # A timer, not a task: nothing to run until it is due, and no task per
            # quiet spell (a sweeper task used to start and end around every call
            # at concurrency 1).
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(DEADLINE_RESOLUTION, self._sweep)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._deadlines.pop(task, None)
        # A handler that swallowed our cancellation must not look expired later.
        self._expired.discard(task)

    def _was_expired(self, task: asyncio.Task[Any]) -> bool:
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    async def close(self) -> None:
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


async def _raise(exc: BaseException) -> Any:
    raise exc


@coroutine
def _resume(call: Coroutine[Any, Any, T], suspended: Any) -> Generator[Any, Any, T]:
    """The rest of ``call``, which yielded ``suspended`` to the task that ran its first step."""
    while True:
        try:
            yield suspended
        except GeneratorExit:
            call.close()
            raise
        except BaseException as exc:
            # A cancellation (deadline, cancel notice, stop) thrown in by the task.
            try:
                suspended = call.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            continue
        # Resumed with the awaited result ready: the call takes it from here.
        result: T = yield from call
        return result


def _local(local_failure: Callable[[], RpcError | None] | None) -> RpcError | None:
    return local_failure() if local_failure is not None else None
