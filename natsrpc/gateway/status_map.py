"""The one status table of the gateway: natsrpc's codes as Connect names and HTTP statuses.

gRPC carries the numbers themselves (natsrpc's ``StatusCode`` is gRPC's), so the
gRPC side needs only this table's code column; the Connect side reads all three.
"""

from __future__ import annotations

from natsrpc.status import StatusCode

# (code, Connect's name for it, the HTTP status a Connect unary error answers with),
# as the Connect protocol specifies them.
STATUS_TABLE: tuple[tuple[StatusCode, str, int], ...] = (
    (StatusCode.CANCELLED, "canceled", 499),
    (StatusCode.UNKNOWN, "unknown", 500),
    (StatusCode.INVALID_ARGUMENT, "invalid_argument", 400),
    (StatusCode.DEADLINE_EXCEEDED, "deadline_exceeded", 504),
    (StatusCode.NOT_FOUND, "not_found", 404),
    (StatusCode.ALREADY_EXISTS, "already_exists", 409),
    (StatusCode.PERMISSION_DENIED, "permission_denied", 403),
    (StatusCode.RESOURCE_EXHAUSTED, "resource_exhausted", 429),
    (StatusCode.FAILED_PRECONDITION, "failed_precondition", 400),
    (StatusCode.ABORTED, "aborted", 409),
    (StatusCode.OUT_OF_RANGE, "out_of_range", 400),
    (StatusCode.UNIMPLEMENTED, "unimplemented", 501),
    (StatusCode.INTERNAL, "internal", 500),
    (StatusCode.UNAVAILABLE, "unavailable", 503),
    (StatusCode.DATA_LOSS, "data_loss", 500),
    (StatusCode.UNAUTHENTICATED, "unauthenticated", 401),
)

_CONNECT_NAME = {code: name for code, name, _ in STATUS_TABLE}
_HTTP_STATUS = {code: status for code, _, status in STATUS_TABLE}
_FROM_CONNECT_NAME = {name: code for code, name, _ in STATUS_TABLE}


def connect_name(code: StatusCode) -> str:
    """Connect's name for ``code``: ``canceled``, ``invalid_argument``, ..."""
    return _CONNECT_NAME.get(code, "unknown")


def http_status(code: StatusCode) -> int:
    """The HTTP status of a Connect unary response that failed with ``code``."""
    return _HTTP_STATUS.get(code, 500)


def from_connect_name(name: str) -> StatusCode:
    """The code a Connect error names; UNKNOWN for a name the protocol does not have."""
    return _FROM_CONNECT_NAME.get(name, StatusCode.UNKNOWN)
