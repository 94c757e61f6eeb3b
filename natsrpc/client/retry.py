"""Retrying failed unary calls of methods that are safe to repeat."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from natsrpc.client.interceptors import CallDetails, ClientInterceptor, UnaryInvoker
from natsrpc.spec import MethodSpec
from natsrpc.status import RpcError, StatusCode


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often a ``Client`` repeats a failed unary call.

    A call is retried only when its method is safe to repeat, only after a
    status in ``retryable``, and only inside the call's own timeout: the whole
    call, backoff included, never takes longer than its timeout, and each
    attempt sends the server the time that remains as its deadline. Streaming
    calls are never retried.
    """

    max_attempts: int = 4
    """Attempts in all, the first included."""
    initial_backoff: float = 0.05
    """Seconds before the second attempt, before jitter."""
    max_backoff: float = 1.0
    """The backoff grows by ``multiplier`` after each attempt up to this many seconds."""
    multiplier: float = 2.0
    jitter: float = 0.2
    """Each backoff is drawn from ``[backoff * (1 - jitter), backoff]``: 1.0 is gRPC's
    full jitter, 0 waits exactly the backoff. Jitter keeps callers that failed together
    from retrying together."""
    retryable: frozenset[StatusCode] = field(default=frozenset({StatusCode.UNAVAILABLE}))
    """Statuses worth another attempt. UNAVAILABLE means no instance took the request
    (none running, or one shutting down), so another attempt may well succeed."""
    methods: frozenset[str] | None = None
    """Full method paths (``/package.Service/Method``) to retry. None: the methods whose
    proto ``idempotency_level`` is ``NO_SIDE_EFFECTS`` or ``IDEMPOTENT``."""
    attempt_timeout: float | None = None
    """Seconds one attempt waits for its reply; None: the whole call's time. An attempt
    that runs out while the call still has time failed like UNAVAILABLE: the instance
    that took it may have vanished (a crashed process, a lost NATS node), and a unary
    call has no other way to notice. Like gRPC's per-attempt receive timeout."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoffs must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.attempt_timeout is not None and self.attempt_timeout <= 0:
            raise ValueError("attempt_timeout must be positive")
        if StatusCode.OK in self.retryable:
            raise ValueError("OK is not a failure to retry")
        # Accept any iterable of paths or codes; frozen sets keep the policy immutable.
        object.__setattr__(self, "retryable", frozenset(self.retryable))
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(self.methods))

    def applies_to(self, method: MethodSpec[Any, Any]) -> bool:
        """Whether calls of ``method`` may be retried under this policy."""
        if self.methods is not None:
            return method.path in self.methods
        return method.idempotency.retry_safe

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the second attempt)."""
        base = min(self.initial_backoff * self.multiplier ** (retry - 1), self.max_backoff)
        return base * (1.0 - self.jitter * rand())


class RetryInterceptor(ClientInterceptor):
    """Applies a ``RetryPolicy``; ``Client(retry=...)`` places it innermost.

    Innermost, so other interceptors (tracing, metrics, auth) see one logical
    call however many attempts it takes.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    async def intercept_unary(
        self, request: Message, details: CallDetails, call_next: UnaryInvoker
    ) -> Message:
        policy = self.policy
        if policy.max_attempts == 1 or not policy.applies_to(details.method):
            return await call_next(request, details)
        deadline = time.monotonic() + details.timeout
        attempt = 1
        remaining = details.timeout
        while True:
            # Only an attempt cut short by attempt_timeout, not by the call's own
            # deadline, leaves time for another.
            cut_short = policy.attempt_timeout is not None and policy.attempt_timeout < remaining
            if cut_short:
                assert policy.attempt_timeout is not None
                remaining = policy.attempt_timeout
            try:
                # The server learns what is left, so it gives up when the caller does.
                return await call_next(request, details.replace(timeout=remaining))
            except RpcError as error:
                timed_out = cut_short and error.code is StatusCode.DEADLINE_EXCEEDED
                if (
                    not (timed_out or error.code in policy.retryable)
                    or attempt >= policy.max_attempts
                ):
                    raise
                delay = policy.backoff(attempt)
                # An attempt needs time to succeed: one that could only start at or
                # after the deadline is not made, and the caller gets the real failure.
                if time.monotonic() + delay >= deadline:
                    raise
                failure = error
            await asyncio.sleep(delay)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise failure
            attempt += 1
