"""natsrpc: gRPC-style RPC over NATS, with clients and services generated from .proto files.

This namespace is the user API. What only generated code needs lives in
``natsrpc.stubs``; docs/architecture.md maps the package.
"""

from natsrpc import (
    health,  # noqa: F401 - importing it makes Server answer health checks
    probes,  # noqa: F401 - importing it lets natsrpc.run serve metrics
    reflection,  # noqa: F401 - importing it makes Server serve reflection
    stubs,
)
from natsrpc._version import __version__
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

__all__ = [
    "NO_TIMEOUT",
    "BidiStreamCall",
    "CallDetails",
    "ClientInterceptor",
    "ClientStreamCall",
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
    "discovery",
    "ensure_streams",
    "run",
    "serve_until_signal",
    "status_of",
    "stubs",
]
