"""natsrpc: gRPC-style RPC over NATS, with clients and services generated from .proto files.

This namespace is the user API. What only generated code needs lives in
``natsrpc.stubs``; docs/architecture.md maps the package.

The names load on first use (PEP 562), so that ``natsrpc.contract``,
``natsrpc._version`` and ``natsrpc.options_pb2``, which the protoc plugin reads,
can be imported without the runtime and nats-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from natsrpc._version import __version__

if TYPE_CHECKING:
    from natsrpc import stubs
    from natsrpc.client import (
        NO_TIMEOUT,
        BidiStreamCall,
        CallDetails,
        ClientInterceptor,
        ClientStreamCall,
        RetryPolicy,
        ServerStreamCall,
        UnaryCall,
    )
    from natsrpc.events import Reject, Retry, ensure_streams
    from natsrpc.metadata import MetadataLike
    from natsrpc.server import (
        Context,
        Server,
        ServerInterceptor,
        StreamContext,
        run,
        serve_until_signal,
    )
    from natsrpc.service_api import MicroService, discovery
    from natsrpc.status import RpcError, StatusCode, status_of
    from natsrpc.transport.dial import ConnectError, connect

_HOMES = {
    "NO_TIMEOUT": "natsrpc.client",
    "BidiStreamCall": "natsrpc.client",
    "CallDetails": "natsrpc.client",
    "ClientInterceptor": "natsrpc.client",
    "ClientStreamCall": "natsrpc.client",
    "RetryPolicy": "natsrpc.client",
    "ServerStreamCall": "natsrpc.client",
    "UnaryCall": "natsrpc.client",
    "Reject": "natsrpc.events",
    "Retry": "natsrpc.events",
    "ensure_streams": "natsrpc.events",
    "MetadataLike": "natsrpc.metadata",
    "Context": "natsrpc.server",
    "Server": "natsrpc.server",
    "ServerInterceptor": "natsrpc.server",
    "StreamContext": "natsrpc.server",
    "run": "natsrpc.server",
    "serve_until_signal": "natsrpc.server",
    "MicroService": "natsrpc.service_api",
    "discovery": "natsrpc.service_api",
    "RpcError": "natsrpc.status",
    "StatusCode": "natsrpc.status",
    "status_of": "natsrpc.status",
    "ConnectError": "natsrpc.transport.dial",
    "connect": "natsrpc.transport.dial",
}

__all__ = [
    "NO_TIMEOUT",
    "BidiStreamCall",
    "CallDetails",
    "ClientInterceptor",
    "ClientStreamCall",
    "ConnectError",
    "Context",
    "MetadataLike",
    "MicroService",
    "Reject",
    "Retry",
    "RetryPolicy",
    "RpcError",
    "Server",
    "ServerInterceptor",
    "ServerStreamCall",
    "StatusCode",
    "StreamContext",
    "UnaryCall",
    "__version__",
    "connect",
    "discovery",
    "ensure_streams",
    "run",
    "serve_until_signal",
    "status_of",
    "stubs",
]

if not TYPE_CHECKING:
    # Hidden from type checkers, which read the imports above instead: a visible
    # module __getattr__ would let them accept any misspelt ``natsrpc.X``.

    def __getattr__(name: str) -> object:
        if name == "stubs":
            value: object = importlib.import_module("natsrpc.stubs")
        elif name in _HOMES:
            # Any runtime name may be the Server or run: a Server serves reflection and
            # health, and run serves metrics, once these modules have plugged them in.
            for feature in ("natsrpc.reflection", "natsrpc.health", "natsrpc.probes"):
                importlib.import_module(feature)
            value = getattr(importlib.import_module(_HOMES[name]), name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
