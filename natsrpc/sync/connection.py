"""A NATS connection for synchronous code: nats-py runs on an event loop in a thread of its own.

Every call a synchronous client makes is a coroutine submitted to that loop; the
calling thread blocks on its result, never longer than the call's deadline, so a
stuck loop cannot hold a caller hostage and any number of threads share the
connection safely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client as NATS

from natsrpc.client.call import CALL_CANCELLED
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport import dial

logger = logging.getLogger("natsrpc.sync")

T = TypeVar("T")

LOOP_MARGIN = 0.1
"""Seconds a caller waits past a call's deadline for the loop to report the call's own
outcome (DEADLINE_EXCEEDED with the server's trailers) before it gives up on the loop."""
CANCEL_FLUSH_TIMEOUT = 1
"""Seconds an interrupted caller waits for the call's cancellation to reach the server."""
CLOSE_TIMEOUT = 5.0
"""Seconds ``Connection.close`` lets in-flight messages drain before it closes outright."""

_CLOSED = "the natsrpc.sync connection is closed"


def refuse_running_loop(what: str, clients: tuple[str, str] | None = None) -> None:
    """Fail, rather than deadlock or stall, when a blocking call is made on an event loop.

    ``clients`` names the async and the sync client class the call was made with.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    async_client, sync_client = clients or ("<Service>Client", "<Service>SyncClient")
    raise RuntimeError(
        f"{what} blocks the calling thread, but this thread is running an asyncio event loop; "
        f"use the async client ({async_client} rather than {sync_client}) and await its calls"
    )


class Connection:
    """A nats-py connection owned by a background event-loop thread; make one with ``connect``.

    Share one connection (and the sync clients built on it) among all the threads
    of a process. Close it when done, or use it as a context manager: ``close``
    drains what is in flight, then stops the loop and its thread.

    A connection belongs to the process that opened it: after ``os.fork()`` the
    child has no loop thread, so using the parent's connection there fails with
    ``RuntimeError``; open a new one in the child.
    """

    def __init__(self, nc: NATS, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._nc = nc
        self._loop = loop
        self._thread = thread
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def nc(self) -> NATS:
        """The nats-py client; use it only from coroutines running on ``loop``."""
        return self._nc

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that runs the connection, in a daemon thread of its own."""
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    def check_usable(self, clients: tuple[str, str] | None = None) -> None:
        """Refuse a call that cannot work: another process, a running event loop, closed.

        ``clients``: the async and the sync client class, for the running-loop error.
        """
        if os.getpid() != self._pid:
            raise RuntimeError(
                f"this natsrpc.sync connection was opened in process {self._pid} and cannot be "
                f"used in process {os.getpid()} after os.fork(); open a connection in each process "
                "with natsrpc.sync.connect() (under gunicorn: in the post_fork hook, or lazily on "
                "first use)"
            )
        refuse_running_loop("a natsrpc.sync call", clients)
        if self._closed:
            raise RpcError(StatusCode.UNAVAILABLE, _CLOSED)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; thread-safe."""
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:
            # The loop closed after check_usable: the connection was closed meanwhile.
            coroutine.close()
            raise RpcError(StatusCode.UNAVAILABLE, _CLOSED) from None

    def wait(
        self,
        future: concurrent.futures.Future[T],
        deadline: float | None,
        abandon: Callable[[bool], None],
        what: str,
    ) -> T:
        """The outcome of ``future``, waiting at most until ``deadline`` (``time.monotonic()``).

        When the wait ends while the call still runs, ``abandon(interrupted)``
        cancels it: ``interrupted`` is True when the wait was interrupted (Ctrl-C)
        rather than out of time. Past the deadline the call fails with
        DEADLINE_EXCEEDED even if the loop never answers. A call without a
        deadline (``natsrpc.NO_TIMEOUT``) is waited for as long as it takes.
        """
        patience = None if deadline is None else max(0.0, deadline - time.monotonic()) + LOOP_MARGIN
        try:
            return future.result(timeout=patience)
        except concurrent.futures.TimeoutError:
            if not future.done():
                abandon(False)
                raise RpcError(
                    StatusCode.DEADLINE_EXCEEDED,
                    f"{what} did not finish by its deadline (the connection's event loop "
                    "did not answer in time)",
                ) from None
            # It finished just as the wait gave up: report its own outcome below.
        except concurrent.futures.CancelledError:
            raise self.cancelled_error() from None
        except BaseException:
            if not future.done():
                # KeyboardInterrupt (or SystemExit) while waiting: the caller has gone.
                abandon(True)
            raise
        try:
            return future.result(timeout=0)
        except concurrent.futures.CancelledError:
            raise self.cancelled_error() from None

    def cancelled_error(self) -> RpcError:
        """The error of a call whose coroutine was cancelled: by close(), or by its caller."""
        if self._closed:
            return RpcError(StatusCode.UNAVAILABLE, "the natsrpc.sync connection was closed")
        return RpcError(StatusCode.CANCELLED, CALL_CANCELLED)

    def cancel_and_flush(self, cancel: Callable[[], object], wait: bool) -> None:
        """Run ``cancel`` on the loop, then flush so the cancellation leaves before we return.

        ``wait`` is False when the loop may be stuck: then nothing is waited for.
        """
        if os.getpid() != self._pid or self._closed:
            return

        async def cancel_then_flush() -> None:
            cancel()
            # A cancel frame goes out from a task of its own; let it run first.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            await self._nc.flush(timeout=CANCEL_FLUSH_TIMEOUT)

        coroutine = cancel_then_flush()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:
            # The loop has closed, and every call on it has ended.
            coroutine.close()
            return
        if not wait:
            return
        try:
            future.result(timeout=CANCEL_FLUSH_TIMEOUT)
        except Exception as exc:
            # The call is abandoned either way; the server's deadline ends it.
            logger.debug("could not flush a cancellation: %r", exc)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Drain the connection, stop its loop and join its thread; safe to call again."""
        if os.getpid() != self._pid:
            # The loop thread exists only in the parent, which still owns the socket.
            self._closed = True
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("a natsrpc.sync connection cannot be closed from its own loop")
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            drained = asyncio.run_coroutine_threadsafe(_drain(self._nc, timeout), self._loop)
            try:
                drained.result(timeout=timeout + LOOP_MARGIN)
            except concurrent.futures.TimeoutError:
                drained.cancel()
                logger.warning("the NATS connection did not close within %gs", timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<natsrpc.sync.Connection {state} servers={self._nc.servers!r}>"


async def _drain(nc: NATS, timeout: float) -> None:
    if nc.is_closed:
        return
    try:
        await asyncio.wait_for(nc.drain(), timeout)
    except Exception as exc:
        logger.debug("draining the NATS connection failed (%r); closing it", exc)
        await nc.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            # As asyncio.run ends: whatever still runs is cancelled and waited for,
            # so threads blocked on a call learn that the connection has closed.
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def connect(servers: str | list[str] | None = None, **options: Any) -> Connection:
    """Connect to NATS for synchronous code, as ``natsrpc.connect`` connects.

    ``servers`` defaults to ``$NATS_URL``, else ``nats://127.0.0.1:4222``;
    ``options`` are ``nats.connect``'s. It returns once connected, or raises
    ``natsrpc.ConnectError`` (one line: the servers and the cause) within
    ``connect_timeout`` (5 s) when no server accepts the first connection.

    The connection runs on an event loop in a daemon thread of its own. Use it
    as a context manager, or call ``close()``, to end it cleanly::

        with natsrpc.sync.connect("nats://127.0.0.1:4222") as connection:
            greeter = greeter_natsrpc.GreeterSyncClient(connection)
            reply = greeter.say_hello(HelloRequest(name="Ada"))
    """
    refuse_running_loop("natsrpc.sync.connect()")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=_run_loop, args=(loop,), name="natsrpc-sync-loop", daemon=True)
    thread.start()
    opened = asyncio.run_coroutine_threadsafe(dial.connect(servers, **options), loop)
    try:
        nc = opened.result()
    except BaseException:
        opened.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT)
        raise
    return Connection(nc, loop, thread)
