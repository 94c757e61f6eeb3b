"""Which HTTP headers and gRPC metadata become natsrpc metadata, and back; timeouts.

Only headers the policy's allow-list names reach a service, and never one that
belongs to a transport (HTTP/1.1 hop-by-hop headers, HTTP/2 pseudo-headers,
content negotiation) or to a protocol (``connect-*``, ``grpc-*``, natsrpc's own
``nats-*``/``rpc-*``): those describe one hop, not the call. The default list
is ``x-*`` and the W3C trace context, so a caller's trace continues into the
service. Everything a service sends back as metadata goes out, less the same
transport and protocol names.

Binary metadata (keys ending in ``-bin``) is bytes to natsrpc and to grpcio; on
HTTP (Connect) its value is base64, padded or not, and the gateway sends it
unpadded, as the gRPC and Connect protocols ask.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from natsrpc.metadata import (
    BINARY_SUFFIX,
    MetadataValue,
    checked_metadata,
    decode_binary,
    is_protocol_header,
)
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

    def request_metadata(
        self, pairs: Iterable[tuple[str, MetadataValue]]
    ) -> dict[str, MetadataValue]:
        """The forwarded headers of a request as natsrpc metadata; repeated names are joined.

        A ``-bin`` value is bytes (grpcio) or base64 text (an HTTP header). A value
        natsrpc cannot carry (not printable ASCII, not base64, a repeated ``-bin``
        key) is the caller's INVALID_ARGUMENT, not a failure of the gateway.
        """
        joined: dict[str, MetadataValue] = {}
        for raw_name, value in pairs:
            name = raw_name.lower()
            if not self.allows(name):
                continue
            if name.endswith(BINARY_SUFFIX):
                if name in joined:
                    raise _bad_metadata(f"{name} is repeated; natsrpc carries one value a key")
                joined[name] = _binary_value(name, value)
            elif name in joined:
                joined[name] = f"{joined[name]!s}, {value!s}"
            else:
                joined[name] = value
        try:
            return checked_metadata(joined)
        except (ValueError, TypeError) as error:
            raise _bad_metadata(str(error)) from None


def _binary_value(name: str, value: MetadataValue) -> bytes:
    if isinstance(value, bytes):
        return value
    decoded = decode_binary(value)
    if decoded is None:
        raise _bad_metadata(f"{name} is not base64")
    return decoded


def _bad_metadata(reason: str) -> RpcError:
    return RpcError(StatusCode.INVALID_ARGUMENT, f"bad metadata header: {reason}")


def response_metadata(metadata: Mapping[str, MetadataValue]) -> list[tuple[str, MetadataValue]]:
    """A service's metadata as gRPC metadata (``-bin`` values bytes), transport names left out."""
    return [(k, v) for k, v in metadata.items() if not is_transport_header(k.lower())]


def response_headers(metadata: Mapping[str, MetadataValue]) -> list[tuple[str, str]]:
    """A service's metadata as HTTP header values: ``-bin`` values unpadded base64."""
    return [
        (k, v if isinstance(v, str) else base64.b64encode(v).decode("ascii").rstrip("="))
        for k, v in response_metadata(metadata)
    ]


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
