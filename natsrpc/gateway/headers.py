"""Which HTTP headers and gRPC metadata become natsrpc metadata, and back; timeouts.

Only headers the policy's allow-list names reach a service, and never one that
belongs to a transport (HTTP/1.1 hop-by-hop headers, HTTP/2 pseudo-headers,
content negotiation) or to a protocol (``connect-*``, ``grpc-*``, natsrpc's own
``nats-*``/``rpc-*``): those describe one hop, not the call. The default list
is ``x-*`` and the W3C trace context, so a caller's trace continues into the
service. Everything a service sends back as metadata goes out, less the same
transport and protocol names.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from natsrpc.metadata import is_protocol_header, metadata_headers
from natsrpc.status import RpcError, StatusCode

DEFAULT_FORWARDED = ("x-*", "traceparent", "tracestate", "baggage")
"""Header name patterns (fnmatch, lower case) forwarded as metadata unless told otherwise."""

_TRANSPORT = frozenset(
    {
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "host",
        "keep-alive",
        "origin",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-grpc-web",
        "x-user-agent",
    }
)
_TRANSPORT_PREFIXES = (":", "access-control-", "connect-", "grpc-", "sec-", "trailer-")
_CONNECT_TIMEOUT = re.compile(r"[0-9]{1,10}")


def is_transport_header(name: str) -> bool:
    """Whether ``name`` (lower case) belongs to one hop or one protocol, never to a call."""
    return name in _TRANSPORT or name.startswith(_TRANSPORT_PREFIXES) or is_protocol_header(name)


@dataclass(frozen=True)
class HeaderPolicy:
    """The allow-list of request headers that become metadata (fnmatch patterns).

    ``authorization`` and ``cookie`` are never forwarded as they stand: map a
    credential to metadata in a middleware or interceptor (docs/gateway.md).
    """

    forward: tuple[str, ...] = DEFAULT_FORWARDED

    def allows(self, name: str) -> bool:
        return not is_transport_header(name) and any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.forward
        )

    def request_metadata(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The forwarded headers of a request as natsrpc metadata; repeated names are joined.

        A value natsrpc cannot carry (not printable ASCII) is the caller's
        INVALID_ARGUMENT, not a failure of the gateway.
        """
        joined: dict[str, str] = {}
        for raw_name, value in pairs:
            name = raw_name.lower()
            # Binary metadata (``-bin``) waits for natsrpc to carry it (issue 23).
            if name.endswith("-bin") or not self.allows(name):
                continue
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        try:
            return metadata_headers(joined)
        except ValueError as error:
            raise RpcError(StatusCode.INVALID_ARGUMENT, f"bad metadata header: {error}") from None


def response_metadata(metadata: Mapping[str, str]) -> list[tuple[str, str]]:
    """A service's metadata as response headers or trailers, transport names left out."""
    return [(k, v) for k, v in metadata.items() if not is_transport_header(k.lower())]


def connect_timeout(value: str | None) -> float | None:
    """Seconds from a ``Connect-Timeout-Ms`` header; None when absent.

    The protocol allows a positive integer of at most ten digits.
    """
    if value is None:
        return None
    if not _CONNECT_TIMEOUT.fullmatch(value) or int(value) == 0:
        raise RpcError(
            StatusCode.INVALID_ARGUMENT,
            f"Connect-Timeout-Ms must be a positive integer of at most 10 digits, not {value!r}",
        )
    return int(value) / 1000


def effective_timeout(requested: float | None, default: float) -> float:
    """The natsrpc call's timeout: the caller's deadline, else the gateway's default."""
    return default if requested is None else requested
