"""Unary calls: one request, one reply, routed by the connection's reply router."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from time import perf_counter_ns
from typing import Any, Generic, cast

from google.protobuf.message import Message
from nats import errors as nats_errors
from nats.aio.msg import Msg

from natsrpc import codec, telemetry
from natsrpc.client.call import CALL_CANCELLED, Call
from natsrpc.client.config import CallConfig
from natsrpc.client.interceptors import CallDetails, unary_invoker
from natsrpc.metadata import (
    MetadataLike,
    MetadataValue,
    checked_metadata,
    metadata_headers,
    user_metadata,
)
from natsrpc.protocol import headers as protocol
from natsrpc.spec import EMPTY_METADATA, MethodSpec, ResponseT
from natsrpc.status import RpcError, StatusCode
from natsrpc.transport import replies
from natsrpc.transport.connection import CONNECTION_ERRORS, connection_unusable
from natsrpc.transport.header_blocks import header_block, header_template

# A member of an Enum class is looked up through its metaclass's __getattr__
# hook, several times a module global's cost: the hot path reads it once.
_OK = StatusCode.OK
_TIMEOUT_BLOCK = header_template({}, protocol.TIMEOUT)
_EMPTY_BLOCK = header_block({})
# A client sends the same few timeouts over and over: each one's block is made once.
_BLOCKS_KEPT = 256
_timeout_blocks: dict[float, bytes] = {}


def _timeout_block(timeout: float) -> bytes:
    """The header block of a call whose only header is its deadline, ``timeout`` from now.

    Callers look in ``_timeout_blocks`` first.
    """
    value = protocol.timeout_header(timeout)
    block = _EMPTY_BLOCK if value is None else _TIMEOUT_BLOCK % value.encode()
    if len(_timeout_blocks) < _BLOCKS_KEPT:
        _timeout_blocks[timeout] = block
    return block


class UnaryCall(Call, Generic[ResponseT]):
    """One unary call: await it for the response.

    ``reply = await client.say_hello(req)`` is the common form; keep the call
    object for what grpc.aio's calls offer::

        call = client.say_hello(req)
        reply = await call
        print(await call.trailing_metadata(), await call.code())

    The request is sent when the call is first awaited (or asked for its status).
    """

    __slots__ = (
        "_cancelled",
        "_config",
        "_failure",
        "_last_trailers",
        "_metadata",
        "_method",
        "_reply",
        "_request",
        "_response",
        "_runner",
        "_started",
        "_timeout",
    )

    def __init__(
        self,
        config: CallConfig,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> None:
        super().__init__()
        self._config = config
        self._method = method
        self._request = request
        self._timeout = config.resolve_timeout(method, timeout)
        self._metadata = metadata
        self._response: ResponseT | None = None
        self._failure: BaseException | None = None
        """What ended the call, when that was not an ``RpcError`` (a wrong request type)."""
        self._reply: asyncio.Future[Msg] | None = None
        """The reply being waited for; failing it is how ``cancel()`` reaches the wait."""
        self._last_trailers: Mapping[str, MetadataValue] | None = None
        self._started = False
        self._cancelled = False
        self._runner: asyncio.Task[None] | None = None

    def __await__(self) -> Generator[Any, None, ResponseT]:
        if self._trailers is None:
            if self._started:
                yield from self._wait_ended().__await__()
            else:
                # The common case runs in the caller's own task: no task of its own to pay for.
                self._started = True
                yield from self._run().__await__()
        if self._failure is not None:
            raise self._failure
        if self._error is not None:
            raise self._error
        # Set whenever no error was; typing.cast would cost every call a function call.
        response: ResponseT = self._response  # type: ignore[assignment]
        return response

    def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        calling = telemetry.unary_calling
        if calling is not None:
            calling(self._method)
            started = perf_counter_ns()
        try:
            if self._config.interceptors:
                response = await self._intercepted()
                trailers = self._last_trailers or EMPTY_METADATA
            else:
                response, trailers = await self._send(
                    self._request, self._method, self._timeout, None
                )
        except RpcError as error:
            self._finish(error, error.metadata)
        except asyncio.CancelledError:
            self._finish(RpcError(StatusCode.CANCELLED, CALL_CANCELLED), EMPTY_METADATA)
            raise
        except Exception as exc:
            self._failure = exc
            self._finish(RpcError(StatusCode.UNKNOWN, f"the call failed: {exc!r}"), EMPTY_METADATA)
        else:
            self._response = response
            self._finish(None, trailers)
        finally:
            called = telemetry.unary_called
            if calling is not None and called is not None:
                failed = self._error
                elapsed = perf_counter_ns() - started
                called(self._method, _OK if failed is None else failed.code, elapsed)

    async def _intercepted(self) -> ResponseT:
        method = self._method
        method.check_request(self._request)
        details = CallDetails(
            method, checked_metadata(self._metadata) if self._metadata else {}, self._timeout
        )
        invoke = unary_invoker(self._config.interceptors, self._send_attempt)
        return cast(ResponseT, await invoke(self._request, details))

    async def _send_attempt(self, request: Message, details: CallDetails) -> Message:
        # One request on the wire with what the interceptors made of the call; its
        # trailers become this call's (the last attempt's, under retries).
        # Without metadata either way, _send's one-header template beats building a dict.
        plain = not details.metadata and not self._metadata
        headers = None if plain else metadata_headers(details.metadata)
        try:
            response, self._last_trailers = await self._send(
                request, details.method, details.timeout, headers
            )
        except RpcError as error:
            self._last_trailers = error.metadata
            raise
        return cast(Message, response)

    async def _send(
        self,
        request: Message,
        method: MethodSpec[Any, Any],
        timeout: float,
        headers: dict[str, str] | None,
    ) -> tuple[Any, Mapping[str, MetadataValue]]:
        if self._cancelled:
            raise RpcError(StatusCode.CANCELLED, CALL_CANCELLED)
        config = self._config
        method.check_request(request)
        nc = config.nc
        payload = codec.encode(request, config.json)
        codec.check_size(len(payload), nc.max_payload, "request")
        if headers is None and not self._metadata and not config.json:
            # The common call: its only header is the deadline, so skip the dict.
            block = _timeout_blocks.get(timeout) or _timeout_block(timeout)
        else:
            if headers is None:
                headers = metadata_headers(self._metadata) if self._metadata else {}
            timeout_value = protocol.timeout_header(timeout)
            if timeout_value is not None:
                headers[protocol.TIMEOUT] = timeout_value
            if config.json:
                headers[protocol.CONTENT_TYPE] = codec.JSON
            block = header_block(headers)
        subject = config.subject_prefix + method.subject
        self._start_deadline(timeout)
        self._reply = future = asyncio.get_running_loop().create_future()
        try:
            reply = await replies.router(nc).request(
                nc, subject, payload, block, timeout, future, announce_cancel=True
            )
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
        except CONNECTION_ERRORS as exc:
            raise connection_unusable(exc) from None
        finally:
            self._reply = None
        reply_headers = reply.headers
        json = False
        trailers: Mapping[str, MetadataValue] = EMPTY_METADATA
        if reply_headers:
            if protocol.is_error(reply_headers):
                raise protocol.error_from_headers(reply_headers, reply.data)
            json = codec.is_json(reply_headers.get(protocol.CONTENT_TYPE))
            trailers = user_metadata(reply_headers)
        try:
            return codec.decode(method.response_type, reply.data, json), trailers
        except RpcError as error:
            # A reply we cannot read is the server's fault, not the caller's argument.
            raise RpcError(StatusCode.INTERNAL, f"{method.path}: {error.message}") from None

    def cancel(self) -> bool:
        if self._trailers is not None:
            return False
        self._cancelled = True
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_exception(RpcError(StatusCode.CANCELLED, CALL_CANCELLED))
        elif not self._started:
            # Never sent: end it here, so awaiting raises CANCELLED without sending.
            self._finish(RpcError(StatusCode.CANCELLED, CALL_CANCELLED), EMPTY_METADATA)
        return True
