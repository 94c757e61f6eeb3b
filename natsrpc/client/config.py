"""What every call of one client shares, fixed when the client is made."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS

from natsrpc.client.interceptors import ClientInterceptor
from natsrpc.spec import MethodKind, MethodSpec

DEFAULT_TIMEOUT = 10.0
"""Seconds a unary call waits when neither the call, the method options nor the client set one."""
NO_TIMEOUT = math.inf
"""A timeout that never passes: ``timeout=natsrpc.NO_TIMEOUT`` asks for no deadline at all."""


def check_timeout(timeout: float | None, what: str = "timeout") -> None:
    """Refuse a zero, negative or NaN timeout; None (the default) and ``NO_TIMEOUT`` are fine."""
    if timeout is not None and not timeout > 0:
        raise ValueError(
            f"{what} must be a positive number of seconds (or natsrpc.NO_TIMEOUT for none), "
            f"not {timeout!r}"
        )


@dataclass(frozen=True)
class CallConfig:
    """A client's settings, handed to each call object instead of the client itself."""

    nc: NATS
    subject_prefix: str
    timeout: float
    """Unary calls' default timeout."""
    stream_timeout: float
    """Streaming calls' default timeout; ``NO_TIMEOUT`` unless the client sets one."""
    window: int
    heartbeat: float
    json: bool
    """Send protobuf JSON instead of binary protobuf."""
    interceptors: tuple[ClientInterceptor, ...]
    """Around unary calls, the retry interceptor innermost when there is one."""
    stream_interceptors: tuple[ClientInterceptor, ...]

    def resolve_timeout(self, method: MethodSpec[Any, Any], timeout: float | None) -> float:
        """The call's own timeout, else the method option's, else the client's for its kind."""
        if timeout is not None:
            check_timeout(timeout)
            return timeout
        if method.timeout is not None:
            return method.timeout
        return self.timeout if method.kind is MethodKind.UNARY else self.stream_timeout

    def subject(self, method: MethodSpec[Any, Any]) -> str:
        return self.subject_prefix + method.subject
