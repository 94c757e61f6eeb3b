"""natsrpc's reactions to a connection's errors and disconnects, chained onto the application's.

nats-py takes its callbacks once, in ``connect()``, and has no public way to
add one. The reply router must hear of permission violations and disconnects
to fail the calls they affect at once, so ``chain`` wraps the callbacks the
application gave ``connect()``: natsrpc's reaction runs first, then the
application's callback, unchanged, with the same arguments. Where nats-py keeps
them elsewhere, nothing is chained and calls wait for their timeout instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from nats.aio.client import Client as NATS


def chain(
    nc: NATS, on_error: Callable[[Exception], None], on_disconnected: Callable[[], None]
) -> object | None:
    """Chain ``on_error`` and ``on_disconnected``; a token for ``still_chained``, None if not.

    The connection holds the reactions weakly through their owner: chaining
    keeps nothing of natsrpc alive.
    """
    if not (hasattr(nc, "_error_cb") and hasattr(nc, "_disconnected_cb")):
        return None
    nc._error_cb = _chain_error(nc._error_cb, weakref.WeakMethod(on_error))
    nc._disconnected_cb = _chain_disconnected(
        nc._disconnected_cb, weakref.WeakMethod(on_disconnected)
    )
    return nc._error_cb


class Chaining(Protocol):
    chained: object | None
    """What ``chain`` returned for the connection."""


C = TypeVar("C", bound=Chaining)


def per_connection(make: Callable[[NATS], C]) -> Callable[[NATS], C]:
    """A function that gives each connection one ``make(nc)``, made anew when chaining lapses.

    What ``make`` builds chains callbacks on its connection; should ``connect()``
    install the application's callbacks again over them, the next call makes a
    new one. This runs on every unary call, so it is one dict lookup and one
    identity check, with no weak reference made per call.
    """
    made: dict[int, C] = {}

    def of(nc: NATS) -> C:
        current = made.get(id(nc))
        if current is None or (current.chained is not None and nc._error_cb is not current.chained):
            if current is None:
                weakref.finalize(nc, made.pop, id(nc), None)
            current = made[id(nc)] = make(nc)
        return current

    return of


def _chain_error(
    original: Callable[[Exception], Awaitable[None]],
    reaction: weakref.WeakMethod[Callable[[Exception], None]],
) -> Callable[[Exception], Awaitable[None]]:
    async def error_callback(error: Exception) -> None:
        react = reaction()
        if react is not None:
            react(error)
        await original(error)

    return error_callback


def _chain_disconnected(
    original: Callable[[], Awaitable[None]] | None,
    reaction: weakref.WeakMethod[Callable[[], None]],
) -> Callable[[], Awaitable[Any]]:
    async def disconnected_callback() -> None:
        react = reaction()
        if react is not None:
            react()
        if original is not None:
            await original()

    return disconnected_callback
