"""Streaming call objects: server streaming, client streaming and bidirectional."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable
from typing import Any, Generic

from google.protobuf.message import Message

from natsrpc import codec
from natsrpc.client.call import CALL_CANCELLED, Call
from natsrpc.client.config import CallConfig
from natsrpc.client.interceptors import (
    CallDetails,
    ClientInterceptor,
    message_interceptors,
    stream_invoker,
)
from natsrpc.client.stream import ClientStream
from natsrpc.metadata import MetadataLike, metadata_headers, user_metadata
from natsrpc.spec import EMPTY_METADATA, MethodSpec, RequestT, ResponseT
from natsrpc.status import RpcError, StatusCode

logger = logging.getLogger("natsrpc.streams")


class _StreamCall(Call, Generic[ResponseT]):
    """What the three streaming call objects share: start, reading, metadata, cancel."""

    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[Any, ResponseT],
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        super().__init__()
        self._config = config
        self._stream = stream = ClientStream(config, method, timeout, metadata)
        stream.close_callbacks.append(self._stream_closed)
        self._request_interceptors: tuple[ClientInterceptor, ...] = ()
        self._response_interceptors: tuple[ClientInterceptor, ...] = ()
        self._details: CallDetails | None = None
        self._response_type: type[ResponseT] = method.response_type
        self._start_task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._chain_task: asyncio.Task[None] | None = None
        self._requests: Iterable[Any] | AsyncIterable[Any] | None = None
        """Requests to write in the background once the call is open, then half-close."""

    def _open_payload(self) -> bytes:
        return b""

    def _stream_closed(self) -> None:
        stream = self._stream
        failure = stream.error or stream.end_error
        if self._initial is None:
            self._initial = stream.initial
        self._finish(failure, stream.trailers if stream.trailers is not None else EMPTY_METADATA)

    def _ensure_started(self) -> None:
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._start())

    async def _initial_metadata_ready(self) -> None:
        stream = await self._started()
        await stream.accepted.wait()
        self._initial = stream.initial

    async def _started(self) -> ClientStream:
        self._ensure_started()
        assert self._start_task is not None
        # Shielded: one reader giving up must not abort the start for everyone.
        await asyncio.shield(self._start_task)
        return self._stream

    async def _start(self) -> None:
        if self._stream.finished:
            return
        interceptors = self._config.stream_interceptors
        if interceptors:
            self._request_interceptors, self._response_interceptors = message_interceptors(
                interceptors
            )
            await self._start_intercepted(interceptors)
        else:
            self._start_deadline(self._stream.timeout)
            await self._stream.start(self._open_payload())
        if not self._stream.finished:
            self._start_pump(self._requests)

    async def _start_intercepted(self, interceptors: tuple[ClientInterceptor, ...]) -> None:
        """Open the call from inside the interceptors; they run until the call ends."""
        stream = self._stream
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ended = asyncio.Event()
        stream.close_callbacks.append(ended.set)

        async def open_and_wait(details: CallDetails) -> None:
            if opened.done():
                raise RuntimeError("call_next may open a streaming call only once")
            if stream.error is not None:
                # Cancelled while the interceptors ran: send nothing.
                raise stream.error
            stream.method = details.method
            stream.subject = self._config.subject(details.method)
            stream.timeout = details.timeout
            stream.metadata_headers = metadata_headers(details.metadata)
            self._details = details
            self._start_deadline(details.timeout)
            # A failure to open (a bad metadata key, a closed connection) ends the
            # chain before ``opened``; _start_intercepted then fails the call.
            await stream.start(self._open_payload())
            opened.set_result(None)
            await ended.wait()
            failure = stream.error or stream.end_error
            if failure is not None:
                raise failure

        async def run_chain() -> None:
            details = CallDetails(
                stream.method, user_metadata(stream.metadata_headers), stream.timeout
            )
            await stream_invoker(interceptors, open_and_wait)(details)

        # A task of its own, because the interceptors wait for the end of the call
        # while the caller goes on reading and writing.
        chain = asyncio.get_running_loop().create_task(run_chain())
        self._chain_task = chain
        chain.add_done_callback(_chain_done)
        await asyncio.wait((opened, chain), return_when=asyncio.FIRST_COMPLETED)
        if opened.done():
            return
        # The interceptors ended before opening the call: nothing went out.
        error = None if chain.cancelled() else chain.exception()
        if isinstance(error, RpcError):
            self._end_unopened(error)
            return
        self._end_unopened(
            RpcError(StatusCode.CANCELLED, "a client interceptor did not open the call")
        )
        if error is not None:
            raise error

    def _end_unopened(self, error: RpcError) -> None:
        stream = self._stream
        if stream.finished:
            # Already failed while opening, with the better reason.
            return
        stream.error = error
        stream.trailers = error.metadata
        stream.finished = True
        stream.accepted.set()
        stream.changed.set()
        self._stream_closed()

    async def read(self) -> ResponseT | None:
        """The next response, or None when the server has ended the call successfully."""
        stream = await self._started()
        response = await stream.read(self._response_type)
        if response is not None and self._response_interceptors:
            response = await self._intercept_response(response)
        return response

    async def _intercept_response(self, response: ResponseT) -> ResponseT:
        details = self._details
        assert details is not None
        for interceptor in self._response_interceptors:
            response = await interceptor.intercept_stream_response(response, details)  # type: ignore[assignment]
        return response

    async def _responses(self) -> AsyncIterator[ResponseT]:
        # read() in a loop, with what it does once per call hoisted out of the loop.
        try:
            stream = await self._started()
            response_type = self._response_type
            while True:
                response = await stream.read(response_type)
                if response is None:
                    return
                if self._response_interceptors:
                    response = await self._intercept_response(response)
                yield response
        finally:
            # A caller that stops iterating early has abandoned the call.
            self.cancel()

    def cancel(self) -> bool:
        """End the call now; the server's handler is cancelled. False if already finished."""
        if self._pump_task is not None:
            self._pump_task.cancel()
        if self._start_task is None:
            # Never started: nothing went out, so nothing needs cancelling remotely.
            if self._stream.finished:
                return False
            self._end_unopened(RpcError(StatusCode.CANCELLED, CALL_CANCELLED))
            return True
        return self._stream.cancel()

    async def _pump(self, requests: Iterable[Any] | AsyncIterable[Any]) -> None:
        stream = self._stream
        try:
            if isinstance(requests, AsyncIterable):
                async for request in requests:
                    await self._write(request)
            else:
                for request in requests:
                    await self._write(request)
            await stream.done_writing()
        except RpcError:
            # The call has ended; its outcome reaches the reader.
            pass
        except Exception as exc:
            logger.debug("request iterator of %s failed", stream.method.path, exc_info=True)
            stream._fail(RpcError(StatusCode.CANCELLED, f"the request iterator raised {exc!r}"))

    async def _write(self, request: Message) -> None:
        stream = self._stream
        stream.method.check_request(request)
        if self._request_interceptors:
            details = self._details
            assert details is not None
            for interceptor in self._request_interceptors:
                request = await interceptor.intercept_stream_request(request, details)
            stream.method.check_request(request)
        await stream.write(codec.encode(request, stream.json))

    def _start_pump(self, requests: Iterable[Any] | AsyncIterable[Any] | None) -> None:
        if requests is not None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump(requests))


def _chain_done(chain: asyncio.Task[None]) -> None:
    # The call's outcome reaches the caller through the call object; only an
    # interceptor's own bug is worth a log line.
    if chain.cancelled():
        return
    error = chain.exception()
    if error is not None and not isinstance(error, RpcError):
        logger.error("a client interceptor failed", exc_info=error)


class _ResponseStream(_StreamCall[ResponseT]):
    """A call whose responses are read with ``async for``."""

    def __aiter__(self) -> AsyncIterator[ResponseT]:
        return self._responses()


class ServerStreamCall(_ResponseStream[ResponseT]):
    """A server-streaming call: ``async for response in call``.

    The request goes out when iteration (or ``read()``/``initial_metadata()``)
    starts. Leaving the loop early cancels the call.
    """

    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        method.check_request(request)
        super().__init__(config, method, timeout, metadata)
        self._request = request

    def _open_payload(self) -> bytes:
        return codec.encode(self._request, self._stream.json)


class BidiStreamCall(_ResponseStream[ResponseT], Generic[RequestT, ResponseT]):
    """A bidirectional call: ``write()``/``done_writing()`` and ``read()``/``async for``.

    With a ``requests`` iterable the call writes it in the background and then
    half-closes; without one, write and call ``done_writing()`` yourself.
    """

    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT] | None,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        super().__init__(config, method, timeout, metadata)
        self._requests = requests

    async def write(self, request: RequestT) -> None:
        """Send one request; waits while the server has no room for it."""
        if self._requests is not None:
            raise RuntimeError("this call writes the requests it was given; do not write()")
        self._stream.method.check_request(request)
        await self._started()
        await self._write(request)

    async def done_writing(self) -> None:
        """Tell the server no more requests will come (half-close)."""
        stream = await self._started()
        await stream.done_writing()


class ClientStreamCall(_StreamCall[ResponseT], Generic[RequestT, ResponseT]):
    """A client-streaming call: await it for the one response, after all requests are sent.

    The requests are written as the server makes room for them; a server that
    answers before reading them all ends the call.
    """

    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT],
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        super().__init__(config, method, timeout, metadata)
        self._requests = requests

    def __await__(self) -> Generator[Any, None, ResponseT]:
        return self._response().__await__()

    async def _response(self) -> ResponseT:
        try:
            response = await self.read()
            if response is None:
                raise RpcError(StatusCode.INTERNAL, "the server ended the call without a response")
            if await self.read() is not None:
                raise RpcError(StatusCode.INTERNAL, "the server sent more than one response")
        except BaseException:
            # Also on asyncio cancellation of the awaiting task: the server must not
            # go on serving a call nobody waits for.
            self.cancel()
            raise
        return response
