"""What an event handler raises to steer redelivery, and what provisioning reports."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from natsrpc.details import pack_details
from natsrpc.status import RpcError, StatusCode


class Retry(Exception):
    """Raised by an event handler: handle this event again later.

    ``delay`` is the seconds to wait before the redelivery; None lets the consumer's
    backoff pick a delay that grows with the delivery count. Once the consumer's
    ``max_deliver`` attempts are used up, the event goes to the dead-letter stream.
    """

    def __init__(self, delay: float | None = None, message: str = "") -> None:
        if delay is not None and delay < 0:
            raise ValueError("a retry delay must not be negative")
        super().__init__(message or "retry requested")
        self.delay = delay
        self.message = message or "retry requested"


class Reject(Exception):
    """Raised by an event handler: this event can never be handled; dead-letter it now.

    The event is not redelivered; the dead letter records ``message`` with
    FAILED_PRECONDITION unless another ``code`` is given, and keeps ``details``
    (protobuf messages, or ``Any``s, as for ``RpcError``).
    """

    def __init__(
        self,
        message: str,
        code: StatusCode = StatusCode.FAILED_PRECONDITION,
        details: Iterable[Message] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = pack_details(details)


class ProvisioningError(RpcError):
    """A stream or consumer exists with settings that differ incompatibly from the declared ones.

    natsrpc never replaces or deletes what exists; change or remove it by hand
    (``nats stream edit``, ``nats consumer rm``) or change the declaration.
    """

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.FAILED_PRECONDITION, message)
