"""Synchronous call objects: each drives one call of the async client on the connection's loop.

They offer what grpcio's synchronous call objects do: ``UnaryCall`` is what
``with_call`` and ``future`` return, ``StreamCall`` is the iterator a streaming
method returns. Code, details and trailers are grpc's ``code()``, ``details()``
and ``trailing_metadata()``; every failure raises ``natsrpc.RpcError``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.any_pb2 import Any as AnyMessage

from natsrpc.client.call import CALL_CANCELLED
from natsrpc.metadata import MetadataValue
from natsrpc.spec import EMPTY_METADATA, ResponseT
from natsrpc.status import RpcError, StatusCode
from natsrpc.sync.connection import Connection

logger = logging.getLogger("natsrpc.sync")

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Status:
    code: StatusCode
    details: str
    trailers: Mapping[str, MetadataValue]
    error_details: tuple[AnyMessage, ...] = ()


_CANCELLED = _Status(StatusCode.CANCELLED, CALL_CANCELLED, EMPTY_METADATA)


class _SyncCall:
    """What both call objects share: the deadline and the status, set once."""

    def __init__(
        self,
        connection: Connection,
        deadline: float | None,
        what: str,
        clients: tuple[str, str] | None = None,
    ) -> None:
        self._connection = connection
        self._clients = clients
        """The async and the sync client class the call was made with, for error messages."""
        self._deadline = deadline
        self._what = what
        self._lock = threading.Lock()
        self._status: _Status | None = None
        self._callbacks: list[Callable[[Any], object]] = []

    def _finish(self, status: _Status) -> bool:
        """Record how the call ended; False if it had already ended."""
        with self._lock:
            if self._status is not None:
                return False
            self._status = status
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("a done callback of a natsrpc.sync call failed")
        return True

    def _finish_with(self, error: RpcError) -> None:
        self._finish(_Status(error.code, error.message, error.metadata, tuple(error.details)))

    def _error(self) -> RpcError:
        """The error the call ended with, as recorded."""
        status = self._finished()
        return RpcError(status.code, status.details, status.trailers, status.error_details)

    def _finished(self) -> _Status:
        status = self._status
        if status is None:
            raise RuntimeError("the call has not finished; read it to the end first")
        return status

    def time_remaining(self) -> float | None:
        """Seconds until the call's deadline; None once it has ended, or with no deadline."""
        if self._status is not None or self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def is_active(self) -> bool:
        """True until the call has ended."""
        return self._status is None

    def done(self) -> bool:
        return self._status is not None

    def cancelled(self) -> bool:
        status = self._status
        return status is not None and status.code is StatusCode.CANCELLED

    def add_done_callback(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(call)`` when the call ends; at once if it has ended.

        It may run in the connection's loop thread, so it must not block or make calls.
        """
        with self._lock:
            if self._status is None:
                self._callbacks.append(callback)
                return
        callback(self)


class UnaryCall(_SyncCall, Generic[ResponseT]):
    """A unary or client-streaming call: ``result()`` waits for the response.

    ``GreeterSyncClient.say_hello.with_call(...)`` returns one beside the
    response, ``.future(...)`` returns one at once. Its ``code()``,
    ``details()``, ``initial_metadata()`` and ``trailing_metadata()`` wait for
    the call to end.
    """

    def __init__(
        self,
        connection: Connection,
        deadline: float | None,
        what: str,
        start: Callable[[], Any],
        clients: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(connection, deadline, what, clients)
        self._call: Any = None
        self._initial: Mapping[str, MetadataValue] = EMPTY_METADATA
        try:
            self._future: concurrent.futures.Future[ResponseT] = connection.submit(self._run(start))
        except RpcError:
            raise
        except BaseException:
            # Ctrl-C while the call was handed to the loop: it may already run there.
            connection.cancel_and_flush(self._cancel_on_loop, wait=True)
            raise

    async def _run(self, start: Callable[[], Any]) -> ResponseT:
        call = start()
        self._call = call
        try:
            response: ResponseT = await call
        except RpcError as error:
            self._finish_with(error)
            raise
        except Exception:
            # A request the async client refused to send: its status says UNKNOWN too.
            self._finish(_Status(await call.code(), await call.details(), EMPTY_METADATA))
            raise
        self._initial = await call.initial_metadata()
        self._finish(_Status(StatusCode.OK, "", await call.trailing_metadata()))
        return response

    def result(self, timeout: float | None = None) -> ResponseT:
        """The response; raises ``RpcError`` if the call failed.

        Waits at most until the call's deadline; with ``timeout``, at most that
        many seconds, then ``TimeoutError`` while the call goes on.
        """
        future = self._future
        if not future.done():
            # Waiting would stall a running event loop, or last for ever in a forked child.
            self._connection.check_usable(self._clients)
        if timeout is not None and (
            self._deadline is None or time.monotonic() + timeout < self._deadline
        ):
            try:
                concurrent.futures.wait((future,), timeout)
            except BaseException:
                self._abandon(True)
                raise
            if not future.done():
                raise TimeoutError(f"{self._what} has not finished within {timeout:g}s")
        try:
            return self._connection.wait(future, self._deadline, self._abandon, self._what)
        except RpcError as error:
            # Ended here (cancelled, closed, out of time) rather than on the loop.
            self._finish_with(error)
            if future.cancelled():
                # Abandoned earlier: report the reason recorded then, every time.
                raise self._error() from None
            raise

    def exception(self, timeout: float | None = None) -> RpcError | None:
        """The error the call failed with, or None if it succeeded; waits like ``result``."""
        try:
            self.result(timeout)
        except RpcError as error:
            return error
        return None

    def cancel(self) -> bool:
        """End the call now; False if it has already ended."""
        if not self._finish(_CANCELLED):
            return False
        self._future.cancel()
        self._connection.cancel_and_flush(self._cancel_on_loop, wait=False)
        return True

    def _cancel_on_loop(self) -> None:
        if self._call is not None:
            self._call.cancel()

    def _abandon(self, interrupted: bool) -> None:
        # Out of time, the caller records the DEADLINE_EXCEEDED it raises next.
        if interrupted:
            self._finish(_CANCELLED)
        self._future.cancel()
        self._connection.cancel_and_flush(self._cancel_on_loop, wait=interrupted)

    def _settled(self) -> _Status:
        if self._status is None:
            # Recorded before the outcome is: a done callback never waits here.
            self.exception()
        return self._finished()

    def code(self) -> StatusCode:
        """The call's status code; waits for the call to end."""
        return self._settled().code

    def details(self) -> str:
        """The status message; empty on success. Waits for the call to end."""
        return self._settled().details

    def initial_metadata(self) -> Mapping[str, MetadataValue]:
        """Metadata the server sent before its response; waits for the call to end."""
        self._settled()
        return self._initial

    def trailing_metadata(self) -> Mapping[str, MetadataValue]:
        """Metadata the server ended the call with; waits for the call to end."""
        return self._settled().trailers


class StreamCall(_SyncCall, Generic[ResponseT]):
    """A server-streaming or bidirectional call: iterate it for the responses.

    The call starts when iteration (or ``initial_metadata()``) does. ``cancel()``
    ends it from any thread, as does leaving a ``with`` block around it; the
    server's handler is cancelled. ``code()``, ``details()`` and
    ``trailing_metadata()`` are there once the last response has been read.
    """

    def __init__(
        self,
        connection: Connection,
        deadline: float | None,
        what: str,
        start: Callable[[], Any],
        clients: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(connection, deadline, what, clients)
        self._start = start
        self._call: Any = None
        self._pid = os.getpid()

    def _opened(self) -> Any:
        # Runs on the loop, as do cancellations, so a cancel never misses the call.
        if self._call is None:
            if self._status is not None:
                raise self._error()
            self._call = self._start()
        return self._call

    async def _read(self) -> ResponseT | None:
        call = self._opened()
        try:
            response: ResponseT | None = await call.read()
        except RpcError as error:
            self._finish_with(error)
            raise
        if response is None:
            self._finish(_Status(StatusCode.OK, "", await call.trailing_metadata()))
        return response

    async def _initial_metadata(self) -> Mapping[str, MetadataValue]:
        initial: Mapping[str, MetadataValue] = await self._opened().initial_metadata()
        return initial

    def __iter__(self) -> StreamCall[ResponseT]:
        return self

    def __next__(self) -> ResponseT:
        status = self._status
        if status is not None:
            if status.code is StatusCode.OK:
                raise StopIteration
            raise self._error()
        response = self._on_loop(self._read)
        if response is None:
            raise StopIteration
        return response

    def _on_loop(self, step: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run one step of the call on the loop and wait for it, within the call's deadline."""
        connection = self._connection
        connection.check_usable(self._clients)
        try:
            future = connection.submit(step())
        except RpcError:
            raise
        except BaseException:
            # Ctrl-C while the step was handed to the loop: it may already run there.
            self._abandon(True)
            raise
        try:
            return connection.wait(future, self._deadline, self._abandon, self._what)
        except RpcError as error:
            self._finish_with(error)
            raise

    def initial_metadata(self) -> Mapping[str, MetadataValue]:
        """The server's initial metadata; starts the call and waits until the server accepts it."""
        if self._status is not None and self._call is None:
            raise self._error()
        return self._on_loop(self._initial_metadata)

    def code(self) -> StatusCode:
        """The call's status code, once it has ended."""
        return self._finished().code

    def details(self) -> str:
        """The status message, once the call has ended; empty on success."""
        return self._finished().details

    def trailing_metadata(self) -> Mapping[str, MetadataValue]:
        """Metadata the server ended the call with, once it has ended."""
        return self._finished().trailers

    def cancel(self) -> bool:
        """End the call now, from any thread; False if it has already ended."""
        if not self._finish(_CANCELLED):
            return False
        self._connection.cancel_and_flush(self._cancel_on_loop, wait=False)
        return True

    def _cancel_on_loop(self) -> None:
        if self._call is not None:
            self._call.cancel()

    def _abandon(self, interrupted: bool) -> None:
        if interrupted:
            self._finish(_CANCELLED)
        self._connection.cancel_and_flush(self._cancel_on_loop, wait=interrupted)

    def __enter__(self) -> StreamCall[ResponseT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        # An abandoned iterator must not leave the server streaming to nobody.
        started = getattr(self, "_call", None) is not None
        if started and self._status is None and os.getpid() == self._pid:
            self.cancel()
