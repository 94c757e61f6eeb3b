"""A handler call's first step, run in the serving task before anything supervises it.

Most unary handlers finish without waiting. ``begin`` runs a handler call up to
its first wait, so that such a call has its outcome at once: nothing could have
interrupted it, so there was no deadline to watch and no cancel notice to
route, which the supervised path (``outcome.Supervisor.run``) pays for.

Invariants (tests/server/test_first_step.py checks each):

1. ``begin`` steps the coroutine exactly once, with ``None``, in the calling
   task; nothing else steps it before ``begin`` returns.
2. A call that returns at that step gives its ``Outcome`` (the value, no
   error), and nothing is left to await.
3. A call that raises at that step (any exception, ``CancelledError``
   included) gives an awaitable that raises that same exception object, so the
   supervised path maps it as it would any handler's failure.
4. A call that suspends gives ``_Rest``: awaited in the same task, its first
   step yields the very object the call yielded (the future it waits on) to
   the task, so the task's wake-up lands where the call left off; from then on
   it is the call itself (``yield from``). asyncio's tasks always resume a
   coroutine with ``send(None)``, which is what ``yield from`` does first.
5. An exception thrown in while the call waits on that first object (a
   cancellation from the deadline, a cancel notice or the server's stop) is
   thrown into the call: if the call returns, that is its result; if it
   raises, the exception propagates; if it catches it and waits again, the
   new object is yielded and (4) goes on.
6. Closing the awaitable closes the call, so its ``finally`` blocks run, whether
   or not it was awaited before.
7. Anything but a plain coroutine (an interceptor's future) is returned as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Generic, TypeVar

from natsrpc.server.outcome import Outcome

T = TypeVar("T")


def begin(handler_call: Awaitable[T]) -> Outcome[T] | Awaitable[T]:
    """Run ``handler_call`` up to its first wait: its ``Outcome``, or what is left to await."""
    if type(handler_call) is not CoroutineType:
        return handler_call
    try:
        suspended = handler_call.send(None)
    except StopIteration as done:
        return Outcome(done.value, None)
    except BaseException as exc:
        return _raise(exc)
    return _Rest(handler_call, suspended)


async def _raise(exc: BaseException) -> Any:
    raise exc


class _Rest(Generic[T]):
    """What is left of a call that suspended at its first step: awaitable once, closable.

    ``close`` closes the call at once, awaited or not, on every Python, rather
    than whenever the garbage collector gets to an abandoned generator.
    """

    __slots__ = ("_call", "_suspended")

    def __init__(self, call: Coroutine[Any, Any, T], suspended: Any) -> None:
        self._call = call
        self._suspended = suspended

    def __await__(self) -> Generator[Any, Any, T]:
        """The rest of the call, which yielded ``suspended`` to the task that ran its first step."""
        call, suspended = self._call, self._suspended
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
            return (yield from call.__await__())

    def close(self) -> None:
        self._call.close()
