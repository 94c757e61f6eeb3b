"""The base of every generated client class."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any, ClassVar, Literal

from google.protobuf.message import Message
from nats.aio.client import Client as NATS

from natsrpc.client.config import DEFAULT_TIMEOUT, NO_TIMEOUT, CallConfig, check_timeout
from natsrpc.client.interceptors import PROCESS_INTERCEPTORS, ClientInterceptor
from natsrpc.client.retry import RetryInterceptor, RetryPolicy
from natsrpc.client.stream_calls import BidiStreamCall, ClientStreamCall, ServerStreamCall
from natsrpc.client.unary import UnaryCall
from natsrpc.metadata import MetadataLike
from natsrpc.protocol.frames import DEFAULT_HEARTBEAT, DEFAULT_WINDOW
from natsrpc.spec import MethodSpec, RequestT, ResponseT, ServiceSpec

Encoding = Literal["protobuf", "json"]


class Client:
    """Base of every generated client class.

    ``timeout`` is unary calls' default in seconds; streaming calls have no
    deadline unless the call, the method's options or ``stream_timeout`` set
    one (heartbeats still notice a vanished server). ``natsrpc.NO_TIMEOUT``
    asks for no deadline.

    ``subject_prefix`` must match the prefix the server was given, so both sides
    compute the same subject from the generated method data. ``encoding="json"``
    sends and reads protobuf JSON, for paths that only pass JSON.

    ``interceptors`` wrap every call, the first outermost (see
    ``natsrpc.ClientInterceptor``); ``retry`` retries failed unary calls of
    methods safe to repeat (see ``natsrpc.RetryPolicy``).
    """

    _natsrpc_service: ClassVar[ServiceSpec]

    __slots__ = ("_config",)

    def __init__(
        self,
        nc: NATS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stream_timeout: float = NO_TIMEOUT,
        subject_prefix: str | None = None,
        encoding: Encoding = "protobuf",
        stream_window: int = DEFAULT_WINDOW,
        heartbeat: float = DEFAULT_HEARTBEAT,
        interceptors: Sequence[ClientInterceptor] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        check_timeout(timeout)
        check_timeout(stream_timeout, "stream_timeout")
        if stream_window < 1:
            raise ValueError("stream_window must be at least 1")
        if not heartbeat > 0:
            raise ValueError("heartbeat must be positive")
        if encoding not in ("protobuf", "json"):
            raise ValueError(f"encoding must be 'protobuf' or 'json', not {encoding!r}")
        chain = (*PROCESS_INTERCEPTORS, *interceptors)
        unary_chain = tuple(i for i in chain if i.unary_calls)
        self._config = CallConfig(
            nc=nc,
            subject_prefix=subject_prefix or "",
            timeout=timeout,
            stream_timeout=stream_timeout,
            window=stream_window,
            heartbeat=heartbeat,
            json=encoding == "json",
            interceptors=(
                (*unary_chain, RetryInterceptor(retry)) if retry is not None else unary_chain
            ),
            # Streams are never retried: the retry interceptor has nothing to do there.
            stream_interceptors=chain,
        )

    def _unary_unary(
        self,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> UnaryCall[ResponseT]:
        return UnaryCall(self._config, method, request, timeout, metadata)

    def _unary_stream(
        self,
        method: MethodSpec[Any, ResponseT],
        request: Message,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> ServerStreamCall[ResponseT]:
        return ServerStreamCall(self._config, method, request, timeout, metadata)

    def _stream_unary(
        self,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT],
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> ClientStreamCall[RequestT, ResponseT]:
        return ClientStreamCall(self._config, method, requests, timeout, metadata)

    def _stream_stream(
        self,
        method: MethodSpec[RequestT, ResponseT],
        requests: Iterable[RequestT] | AsyncIterable[RequestT] | None,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> BidiStreamCall[RequestT, ResponseT]:
        return BidiStreamCall(self._config, method, requests, timeout, metadata)
