"""Calling services: the base of every generated client class."""

from __future__ import annotations

from collections.abc import AsyncIterable, Generator, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Generic, cast

from google.protobuf.message import Message
from nats import errors as nats_errors
from nats.aio.client import Client as NATS

from natsrpc import codec, replies, streams, wire
from natsrpc.interceptors import CallDetails, ClientInterceptor, unary_invoker
from natsrpc.retry import RetryInterceptor, RetryPolicy
from natsrpc.spec import EMPTY_METADATA, MethodSpec, RequestT, ResponseT, ServiceSpec
from natsrpc.status import RpcError, StatusCode, status_from_wire

DEFAULT_TIMEOUT = 10.0
"""Seconds a call waits when neither the call, the method options nor the client set one."""


class Client:
    """Base of every generated client class.

    ``subject_prefix`` must match the prefix the server was given, so both sides
    compute the same subject from the generated method data.

    ``interceptors`` wrap every call, the first outermost (see
    ``natsrpc.ClientInterceptor``); ``retry`` retries failed unary calls of
    methods safe to repeat (see ``natsrpc.RetryPolicy``).
    """

    __natsrpc_service__: ClassVar[ServiceSpec]

    def __init__(
        self,
        nc: NATS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        subject_prefix: str | None = None,
        stream_window: int = streams.DEFAULT_WINDOW,
        heartbeat: float = streams.DEFAULT_HEARTBEAT,
        interceptors: Sequence[ClientInterceptor] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if stream_window < 1:
            raise ValueError("stream_window must be at least 1")
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        self._nc = nc
        self._timeout = timeout
        self._subject_prefix = subject_prefix or ""
        self._stream_window = stream_window
        self._heartbeat = heartbeat
        chain = tuple(interceptors)
        if retry is not None:
            chain += (RetryInterceptor(retry),)
        self._interceptors: tuple[ClientInterceptor, ...] = chain
        # Streams are never retried: the retry interceptor has nothing to do there.
        self._stream_interceptors = tuple(interceptors)
        # A client without interceptors keeps the plain call path untouched.
        self._unary_call: type[UnaryCall[Any]] = _InterceptedUnaryCall if chain else UnaryCall

    def _unary_unary(
        self,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> UnaryCall[ResponseT]:
        return self._unary_call(self, method, request, timeout, metadata)

    def _unary_stream(
        self,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> streams.ServerStreamCall[ResponseT]:
        return streams.ServerStreamCall(self, method, request, timeout, metadata)

    def _stream_unary(
        self,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT],
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> UnaryCall[ResponseT]:
        return ClientStreamCall(self, method, requests, timeout, metadata)

    def _stream_stream(
        self,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT] | None,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> streams.BidiStreamCall[RequestT, ResponseT]:
        return streams.BidiStreamCall(self, method, requests, timeout, metadata)


class UnaryCall(Generic[ResponseT]):
    """One unary call: await it for the response, then read its trailers.

    ``reply = await client.say_hello(req)`` is the common form; keep the call
    object to see the server's trailing metadata::

        call = client.say_hello(req)
        reply = await call
        print(call.trailing_metadata())

    The request is sent when the call is first awaited.
    """

    __slots__ = ("_client", "_metadata", "_method", "_outcome", "_request", "_timeout", "_trailers")

    def __init__(
        self,
        client: Client,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        self._client = client
        self._method = method
        self._request = request
        self._timeout = timeout
        self._metadata = metadata
        self._outcome: ResponseT | BaseException | None = None
        self._trailers: Mapping[str, str] | None = None

    def __await__(self) -> Generator[Any, None, ResponseT]:
        if self._outcome is None:
            try:
                self._outcome = yield from self._invoke().__await__()
            except RpcError as error:
                self._outcome = error
                self._trailers = error.metadata
                raise
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome

    def trailing_metadata(self) -> Mapping[str, str]:
        """Metadata the server sent with its reply (on errors: ``RpcError.metadata``)."""
        if self._trailers is None:
            raise RuntimeError("the call has not finished; await it first")
        return self._trailers

    async def _invoke(self) -> ResponseT:
        client = self._client
        method = self._method
        request = self._request
        method.check_request(request)
        timeout = self._timeout or method.timeout or client._timeout
        nc = client._nc
        payload = request.SerializeToString()
        wire.check_payload_size(len(payload), nc.max_payload, "request")
        headers = wire.metadata_headers(self._metadata) if self._metadata else {}
        headers[wire.TIMEOUT] = str(int(timeout * 1000))
        subject = client._subject_prefix + method.subject
        try:
            reply = await replies.router(nc).request(nc, subject, payload, headers, timeout)
        except nats_errors.NoRespondersError:
            raise RpcError(StatusCode.UNAVAILABLE, f"no service is serving {subject}") from None
        except nats_errors.TimeoutError:
            raise RpcError(
                StatusCode.DEADLINE_EXCEEDED, f"no reply from {subject} within {timeout:g}s"
            ) from None
        except nats_errors.MaxPayloadError:
            raise RpcError(
                StatusCode.RESOURCE_EXHAUSTED, "request exceeds the NATS server's max_payload"
            ) from None
        except wire.CONNECTION_ERRORS as exc:
            raise wire.connection_unusable(exc) from None
        reply_headers = reply.headers
        if not reply_headers:
            self._trailers = EMPTY_METADATA
            return _decode_response(method, reply.data, json=False)
        trailers = wire.user_metadata(reply_headers)
        if wire.SERVICE_ERROR_CODE in reply_headers or wire.SERVICE_ERROR in reply_headers:
            raise RpcError(
                status_from_wire(reply_headers.get(wire.SERVICE_ERROR_CODE)),
                reply_headers.get(wire.SERVICE_ERROR, ""),
                trailers,
            )
        self._trailers = MappingProxyType(trailers)
        json = codec.is_json(reply_headers.get(wire.CONTENT_TYPE))
        return _decode_response(method, reply.data, json)


class _InterceptedUnaryCall(UnaryCall[ResponseT]):
    """A unary call made through the client's interceptors."""

    __slots__ = ()

    async def _invoke(self) -> ResponseT:
        client = self._client
        method = self._method
        method.check_request(self._request)
        details = CallDetails(
            method,
            wire.metadata_headers(self._metadata) if self._metadata else {},
            self._timeout or method.timeout or client._timeout,
        )
        invoke = unary_invoker(client._interceptors, self._send)
        response = await invoke(self._request, details)
        if self._trailers is None:
            # An interceptor answered without sending a request.
            self._trailers = EMPTY_METADATA
        return cast(ResponseT, response)

    async def _send(self, request: Message, details: CallDetails) -> Message:
        # One request on the wire: the plain call path with what the interceptors
        # made of the call; its trailers become this call's (the last attempt's).
        attempt: UnaryCall[Message] = UnaryCall(
            self._client, details.method, request, details.timeout, details.metadata
        )
        try:
            response = await attempt._invoke()
        except RpcError as error:
            self._trailers = error.metadata
            raise
        self._trailers = attempt._trailers
        return response


def _decode_response(method: MethodSpec[Any, ResponseT], data: bytes, json: bool) -> ResponseT:
    try:
        return codec.decode(method.response_type, data, json)
    except RpcError as error:
        # A reply we cannot read is the server's fault, not the caller's argument.
        raise RpcError(StatusCode.INTERNAL, f"{method.path}: {error.message}") from None


class ClientStreamCall(UnaryCall[ResponseT]):
    """A client-streaming call: awaited like a unary call, it sends all requests first.

    The requests are written as the server makes room for them; a server that
    answers before reading them all ends the call.
    """

    __slots__ = ("_call",)

    def __init__(
        self,
        client: Client,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT],
        timeout: float | None,
        metadata: wire.MetadataLike | None,
    ) -> None:
        self._client = client
        self._method = method
        self._timeout = timeout
        self._metadata = metadata
        self._outcome = None
        self._trailers = None
        self._call: streams.BidiStreamCall[RequestT, ResponseT] = streams.BidiStreamCall(
            client, method, requests, timeout, metadata
        )

    async def initial_metadata(self) -> Mapping[str, str]:
        """The server's initial metadata; waits until the server has accepted the call."""
        return await self._call.initial_metadata()

    def cancel(self) -> bool:
        """End the call now; awaiting it raises CANCELLED. False if already finished."""
        return self._call.cancel()

    async def _invoke(self) -> ResponseT:
        call = self._call
        try:
            response = await call.read()
            if response is None:
                raise RpcError(StatusCode.INTERNAL, "the server ended the call without a response")
            if await call.read() is not None:
                raise RpcError(StatusCode.INTERNAL, "the server sent more than one response")
        except BaseException:
            # Also on asyncio cancellation of the awaiting task: the server must not
            # go on serving a call nobody waits for.
            call.cancel()
            raise
        self._trailers = call.trailing_metadata()
        return response
