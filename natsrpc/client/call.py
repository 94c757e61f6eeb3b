"""What every call object offers, as grpc.aio's calls do: status, metadata, cancel, callbacks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from natsrpc.metadata import MetadataValue
from natsrpc.spec import EMPTY_METADATA
from natsrpc.status import RpcError, StatusCode

logger = logging.getLogger("natsrpc.client")

CALL_CANCELLED = "the call was cancelled"
"""The status message of a call its caller cancelled, on every kind of call and client."""

DoneCallback = Callable[[Any], object]
"""Called with the call object once the call has ended."""


class Call:
    """The state every call object shares once it has ended, and the ways to wait for it.

    Subclasses say how the call starts (``_ensure_started``) and report its end
    through ``_finish``.
    """

    __slots__ = ("_callbacks", "_deadline", "_ended", "_error", "_initial", "_trailers")

    def __init__(self) -> None:
        self._deadline: float | None = None
        """Monotonic time the call's deadline passes; None until sent, or with no deadline."""
        self._error: RpcError | None = None
        self._trailers: Mapping[str, MetadataValue] | None = None
        """Set when the call ends: the call is done exactly when this is not None."""
        self._initial: Mapping[str, MetadataValue] | None = None
        self._ended: asyncio.Event | None = None
        self._callbacks: list[DoneCallback] | None = None

    def _ensure_started(self) -> None:
        raise NotImplementedError

    async def _initial_metadata_ready(self) -> None:
        await self._wait_ended()

    def _finish(self, error: RpcError | None, trailers: Mapping[str, MetadataValue]) -> None:
        if self._trailers is not None:
            return
        self._error = error
        self._trailers = trailers
        if self._initial is None:
            self._initial = trailers if error is None else EMPTY_METADATA
        if self._ended is not None:
            self._ended.set()
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:
                logger.exception("a done callback of a call failed")

    def _start_deadline(self, timeout: float) -> None:
        self._deadline = None if timeout == float("inf") else time.monotonic() + timeout

    async def _wait_ended(self) -> None:
        if self._trailers is not None:
            return
        if self._ended is None:
            self._ended = asyncio.Event()
        self._ensure_started()
        await self._ended.wait()

    async def initial_metadata(self) -> Mapping[str, MetadataValue]:
        """The server's initial metadata; waits until the server has sent it.

        A unary reply carries all its metadata at once, so for unary calls this
        waits for the reply and returns the same metadata as the trailers.
        """
        if self._initial is None:
            await self._initial_metadata_ready()
        return self._initial if self._initial is not None else EMPTY_METADATA

    async def trailing_metadata(self) -> Mapping[str, MetadataValue]:
        """Metadata the server ended the call with (on errors: ``RpcError.metadata`` too)."""
        await self._wait_ended()
        assert self._trailers is not None
        return self._trailers

    async def code(self) -> StatusCode:
        """The call's status once it has ended: OK, or the code it failed with."""
        await self._wait_ended()
        return StatusCode.OK if self._error is None else self._error.code

    async def details(self) -> str:
        """The status message once the call has ended; empty on success."""
        await self._wait_ended()
        return "" if self._error is None else self._error.message

    def done(self) -> bool:
        """Whether the call has ended, successfully or not."""
        return self._trailers is not None

    def cancelled(self) -> bool:
        """Whether the call ended as CANCELLED."""
        return self._error is not None and self._error.code is StatusCode.CANCELLED

    def time_remaining(self) -> float | None:
        """Seconds until the call's deadline; None when it has none or has not been sent."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def add_done_callback(self, callback: DoneCallback) -> None:
        """Call ``callback(call)`` when the call ends; at once if it already has."""
        if self._trailers is not None:
            callback(self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    def cancel(self) -> bool:
        """End the call now with CANCELLED; False if it had already ended."""
        raise NotImplementedError
