"""Making the natsrpc calls both front ends need, within the gateway's limits.

Every call goes through one natsrpc ``Client``, so client interceptors (metrics,
tracing, a credential mapper) see the gateway's calls like any others.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from nats.aio.client import Client as NATS

from natsrpc.client.base import Client
from natsrpc.client.config import NO_TIMEOUT
from natsrpc.client.interceptors import ClientInterceptor
from natsrpc.client.stream_calls import BidiStreamCall, ClientStreamCall, ServerStreamCall
from natsrpc.client.unary import UnaryCall
from natsrpc.metadata import MetadataValue
from natsrpc.spec import MethodSpec
from natsrpc.status import INTERNAL_ERROR_MESSAGE, RpcError, StatusCode

logger = logging.getLogger("natsrpc.gateway")

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_CALLS = 1024
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Limits:
    """What one gateway accepts. A limit passed is an error for the caller, never a queue."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """The largest request body (Connect) or message (gRPC) read; larger is RESOURCE_EXHAUSTED."""
    max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS
    """Calls in flight at once over both front ends; one more is RESOURCE_EXHAUSTED."""
    default_timeout: float = DEFAULT_TIMEOUT
    """Seconds a unary call may take when its caller sets no deadline."""
    stream_timeout: float = NO_TIMEOUT
    """The same for streaming calls of every kind: none by default (heartbeats still notice
    a vanished service)."""

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1 or self.max_concurrent_calls < 1:
            raise ValueError("max_request_bytes and max_concurrent_calls must be at least 1")
        if not (self.default_timeout > 0 and self.stream_timeout > 0):
            raise ValueError("timeouts must be positive (natsrpc.NO_TIMEOUT for none)")


class Caller:
    """The gateway's side of natsrpc: admission, the NATS check, and the call objects."""

    def __init__(
        self,
        nc: NATS,
        *,
        prefix: str = "",
        limits: Limits,
        interceptors: Sequence[ClientInterceptor] = (),
    ) -> None:
        self.nc = nc
        self.limits = limits
        self.active = 0
        self._client = Client(
            nc,
            timeout=limits.default_timeout,
            stream_timeout=limits.stream_timeout,
            subject_prefix=prefix,
            interceptors=interceptors,
        )

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Count one call in flight for as long as the block runs, or refuse it."""
        if self.active >= self.limits.max_concurrent_calls:
            raise RpcError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"the gateway is at its limit of {self.limits.max_concurrent_calls} calls",
            )
        if not self.nc.is_connected:
            # Not a wait until the deadline while nats-py reconnects: fail now, retry later.
            raise RpcError(StatusCode.UNAVAILABLE, "the gateway is not connected to NATS")
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def unary(
        self,
        method: MethodSpec[Any, Any],
        request: Message,
        timeout: float | None,
        metadata: dict[str, MetadataValue],
    ) -> UnaryCall[Any]:
        return self._client._unary_unary(method, request, timeout, metadata)

    def server_stream(
        self,
        method: MethodSpec[Any, Any],
        request: Message,
        timeout: float | None,
        metadata: dict[str, MetadataValue],
    ) -> ServerStreamCall[Any]:
        return self._client._unary_stream(method, request, timeout, metadata)

    def client_stream(
        self,
        method: MethodSpec[Any, Any],
        requests: AsyncIterable[Any],
        timeout: float | None,
        metadata: dict[str, MetadataValue],
    ) -> ClientStreamCall[Any, Any]:
        return self._client._stream_unary(method, requests, timeout, metadata)

    def bidi_stream(
        self,
        method: MethodSpec[Any, Any],
        requests: AsyncIterable[Any],
        timeout: float | None,
        metadata: dict[str, MetadataValue],
    ) -> BidiStreamCall[Any, Any]:
        return self._client._stream_stream(method, requests, timeout, metadata)


def as_rpc_error(error: Exception, path: str) -> RpcError:
    """What a caller is told of a failure: its own status, or INTERNAL with the cause logged."""
    if isinstance(error, RpcError):
        return error
    logger.error("gateway call to %s failed unexpectedly", path, exc_info=error)
    return RpcError(StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE)
