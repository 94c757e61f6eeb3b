"""How a served call ends: one place that turns a handler's outcome into a status.

Unary and streaming calls alike run their handler through ``Supervisor.run``:
it enforces the caller's deadline (``server.deadlines``), lets a unary caller's
cancel notice stop it (``server.cancellation``), and maps success,
``RpcError``, cancellation (deadline, caller gone, or a forced stop) and
unexpected exceptions to what the caller is told. A unary handler's first step
runs before any of that (``server.first_step``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from natsrpc.server.cancellation import CANCELLED_BY_CALLER, Cancellation
from natsrpc.server.deadlines import Deadlines
from natsrpc.spec import MethodSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc.server")

T = TypeVar("T")

SHUTTING_DOWN = "server is shutting down"
__all__ = ["CANCELLED_BY_CALLER", "SHUTTING_DOWN", "Outcome", "Supervisor"]


class Outcome(Generic[T]):
    """What a handler produced: its result, or the error the caller gets."""

    __slots__ = ("error", "forced_stop", "result")

    def __init__(self, result: T | None, error: RpcError | None, forced_stop: bool = False) -> None:
        self.result = result
        self.error = error
        self.forced_stop = forced_stop
        """The server cancelled the handler while stopping: reply, then let the cancel go on."""


class Supervisor:
    """Runs one server's handler calls to their outcome, under deadlines and cancel notices."""

    __slots__ = ("cancellation", "deadlines")

    def __init__(self) -> None:
        self.deadlines = Deadlines()
        self.cancellation = Cancellation()

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
        can be cancelled by its caller's notice (``cancellation.cancel``).
        """
        task = asyncio.current_task()
        assert task is not None
        deadlines = self.deadlines
        cancellation = self.cancellation
        if deadline is not None:
            deadlines.watch(task, deadline)
        if call_id:
            cancellation.track(call_id, task)
        try:
            return Outcome(await handler_call, None)
        except RpcError as exc:
            return Outcome(None, _local(local_failure) or exc)
        except asyncio.CancelledError:
            if deadlines.expired(task):
                error: RpcError | None = RpcError(
                    StatusCode.DEADLINE_EXCEEDED, "deadline exceeded on the server"
                )
            elif call_id and cancellation.gave_up(task):
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
                deadlines.forget(task)
            if call_id:
                cancellation.untrack(call_id, task)

    def close(self) -> None:
        self.deadlines.close()


def _local(local_failure: Callable[[], RpcError | None] | None) -> RpcError | None:
    return local_failure() if local_failure is not None else None
