"""natsrpc: gRPC-style RPC over NATS, with clients and services generated from .proto files."""

from natsrpc import discovery
from natsrpc._version import __version__
from natsrpc.client import Client, ClientStreamCall, UnaryCall
from natsrpc.compat import require_runtime
from natsrpc.context import Context
from natsrpc.interceptors import CallDetails, ClientInterceptor, ServerInterceptor
from natsrpc.lifecycle import run, serve_until_signal
from natsrpc.retry import RetryPolicy
from natsrpc.server import Server, Service
from natsrpc.service_api import MicroService
from natsrpc.spec import Idempotency, MethodKind, MethodSpec, ServiceSpec
from natsrpc.status import RpcError, StatusCode, unimplemented
from natsrpc.streams import BidiStreamCall, ServerStreamCall, StreamContext
from natsrpc.wire import MetadataLike

__all__ = [
    "BidiStreamCall",
    "CallDetails",
    "Client",
    "ClientInterceptor",
    "ClientStreamCall",
    "Context",
    "Idempotency",
    "MetadataLike",
    "MethodKind",
    "MethodSpec",
    "MicroService",
    "RetryPolicy",
    "RpcError",
    "Server",
    "ServerInterceptor",
    "ServerStreamCall",
    "Service",
    "ServiceSpec",
    "StatusCode",
    "StreamContext",
    "UnaryCall",
    "__version__",
    "discovery",
    "require_runtime",
    "run",
    "serve_until_signal",
    "unimplemented",
]
