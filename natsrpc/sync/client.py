"""The base of every generated synchronous client class."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, cast

from google.protobuf.message import Message

from natsrpc.client.base import Client, Encoding
from natsrpc.client.config import DEFAULT_TIMEOUT, NO_TIMEOUT
from natsrpc.client.interceptors import ClientInterceptor
from natsrpc.client.retry import RetryPolicy
from natsrpc.metadata import MetadataLike
from natsrpc.protocol.frames import DEFAULT_HEARTBEAT, DEFAULT_WINDOW
from natsrpc.spec import MethodSpec, RequestT, ResponseT, ServiceSpec
from natsrpc.sync.calls import StreamCall, UnaryCall
from natsrpc.sync.connection import Connection
from natsrpc.sync.feeder import requests_for_loop


class SyncClient:
    """Base of every generated ``<Service>SyncClient``: calls that block the calling thread.

    It takes a ``natsrpc.sync.connect()`` connection and the options of the async
    ``<Service>Client``; it builds that async client and runs each call through it
    on the connection's loop, so the protocol, interceptors and retries have one
    implementation. One client may be shared by any number of threads.
    """

    _natsrpc_service: ClassVar[ServiceSpec]
    _natsrpc_client: ClassVar[type[Client]]
    """The generated async client this class runs its calls on."""

    def __init__(
        self,
        connection: Connection,
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
        if not isinstance(connection, Connection):
            raise TypeError(
                f"{type(self).__name__} takes a natsrpc.sync.connect() connection, not "
                f"{type(connection).__name__}; with a nats-py connection use the async "
                f"{type(self)._natsrpc_client.__name__}"
            )
        self._connection = connection
        self._client = type(self)._natsrpc_client(
            connection.nc,
            timeout=timeout,
            stream_timeout=stream_timeout,
            subject_prefix=subject_prefix,
            encoding=encoding,
            stream_window=stream_window,
            heartbeat=heartbeat,
            interceptors=interceptors,
            retry=retry,
        )

    def _prepare(
        self,
        method: MethodSpec[Any, Any],
        messages: object,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> tuple[float | None, Callable[[], Any]]:
        """The call's deadline, and how to make the call on the loop with the async client."""
        if method.kind.client_streams:
            messages = requests_for_loop(cast(Iterable[Message], messages))
        else:
            # Fail early, in the caller's thread.
            method.check_request(messages)
        self._connection.check_usable(_client_names(type(self)))
        # Settled here, as the async client would, so that both sides keep one deadline.
        seconds = self._client._config.resolve_timeout(method, timeout)
        invoke = getattr(self._client, method.attribute)
        start = functools.partial(invoke, messages, timeout=seconds, metadata=metadata)
        deadline = None if math.isinf(seconds) else time.monotonic() + seconds
        return deadline, start

    def _start_unary(
        self,
        method: MethodSpec[RequestT, ResponseT],
        messages: object,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> UnaryCall[ResponseT]:
        """A unary or client-streaming call, started."""
        deadline, start = self._prepare(method, messages, timeout, metadata)
        return UnaryCall(self._connection, deadline, method.path, start, _client_names(type(self)))

    def _start_stream(
        self,
        method: MethodSpec[RequestT, ResponseT],
        messages: object,
        timeout: float | None,
        metadata: MetadataLike | None,
    ) -> StreamCall[ResponseT]:
        """A server-streaming or bidirectional call, to start when it is first read."""
        deadline, start = self._prepare(method, messages, timeout, metadata)
        return StreamCall(self._connection, deadline, method.path, start, _client_names(type(self)))


def _client_names(cls: type[SyncClient]) -> tuple[str, str]:
    """The async and the sync client class, as error messages name them."""
    return cls._natsrpc_client.__name__, cls.__name__
